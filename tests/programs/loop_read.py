"""A lookup of a table that grows tick by tick through a loop, queried by an external input:
the answer depends on the tick a query arrives in, with no channel and no asynchronous
input feeding the table (issue 16)."""
import hydropy as hp
from hydropy.lattices import Max

def below_five(x):
    return x < 5

def inc(x):
    return x + 1

flow = hp.Flow("loop_read")
handle, again = flow.cycle(name="again")
counter = flow.source_iter([0], name="start").union(again.map(inc, name="step").filter(below_five, name="bounded"), name="counter")
handle.complete(counter)
table = counter.map(lambda n: ("n", n), name="as_pair").lattice_fold_keyed(Max, name="highest")
flow.source("q").map(lambda q: (q, q), name="query").lookup(table, name="read").sink("answers")
