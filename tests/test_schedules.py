"""The merged schedule (targets/schedules.py): what a stratified reader (lookup, anti_join)
took in one tick is ordered, its table side before its probe side, rather than merged into
one single-node tick that another observer saw apart."""
from __future__ import annotations

import hydropy as hp
from hydropy.passes.decouple import decouple
from hydropy.targets.sim import check_run


def key_of(r):
    return r[0]


def add(n, v):
    return n + v


def gate_then_lookup(sources=("reqs",)):
    """Requests (of one or more inputs) pass an anti_join against their own keys fed back (the
    first tick of each key passes), then look up a per-key sum of another input."""
    flow = hp.Flow("gate_then_lookup")
    reqs = flow.source(sources[0])
    if len(sources) > 1:
        reqs = reqs.union(*(flow.source(s) for s in sources[1:]), name="reqs_in")
    handle, back = flow.cycle(name="back")
    fresh = reqs.anti_join(back, name="fresh")
    handle.complete(fresh.map(key_of, name="fresh_keys"))
    table = flow.source("dep").fold_keyed(int, add, name="deps")
    fresh.lookup(table, name="read").sink("answers")
    return flow


INPUTS = {"reqs": [("a", 1), ("b", 2), ("a", 3), ("c", 4)], "dep": [("a", 10), ("b", 20), ("c", 30)]}


def test_a_lookup_behind_a_channel_that_took_its_table_and_probes_in_one_tick_is_explained():
    """The lookup's stage takes dep's records and the gate's passes of several gate ticks in one
    tick: the run is the single-node one with dep's records first, then the gate's ticks
    apart (seed 5 was a false alarm: the merged schedule fed every request in one tick)."""
    flow = gate_then_lookup()
    design = decouple(flow.graph(), ["read", "deps"], "lk")
    assert [s for s in range(40) if check_run(flow.graph(), design, INPUTS, s)] == []


def test_the_gate_still_keeps_one_ticks_requests_together():
    """A reader whose output comes back around a loop of its stage keeps one tick's probes in
    one single-node tick: two requests for one key taken from two inputs in one tick both pass,
    as in the design (ordered apart, the second would not)."""
    flow = gate_then_lookup(("web", "app"))
    design = decouple(flow.graph(), ["read", "deps"], "lk")
    inputs = {"web": [("a", 1), ("b", 3)], "app": [("a", 2), ("b", 4)], "dep": [("a", 10), ("b", 20)]}
    assert [s for s in range(40) if check_run(flow.graph(), design, inputs, s)] == []
