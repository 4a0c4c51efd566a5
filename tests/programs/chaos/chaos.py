"""The program of the chaos tests (tests/test_ray_chaos.py): a keyed fold, a join, a lattice
and a cycle, each keeping state that a member killed mid-run must get back.

events are ``(key, value)`` int pairs, names ``(key, name)``, starts ints to count down.
"""
import time

import hydropy as hp
from hydropy.lattices import Max


def add(total, value):
    return total + value


def paced(event):
    time.sleep(0.0005)  # rounds long enough for a kill to land mid-run
    return event


def positive(n):
    return n > 0


def decrement(n):
    return n - 1


flow = hp.Flow("chaos")
events = flow.source("events").map(paced, name="paced")
names = flow.source("names")
events.fold_keyed(int, add, name="sums").sink("sums")
events.join(names, name="named").sink("named")
events.lattice_fold_keyed(Max, name="maxes").sink("maxes")
again, back = flow.cycle(name="again")
counting = flow.source("starts").union(back, name="counting")
again.complete(counting.filter(positive, name="left").map(decrement, name="down"))
counting.sink("steps")
