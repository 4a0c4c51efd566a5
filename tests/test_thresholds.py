"""Threshold reads of a lattice are safe; other reads of its snapshot are points of order."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy.lattices import Bool, GCounter, Max, Min, PNCounter, SetUnion
from hydropy.passes.monotonicity import points_of_order
from hydropy.targets.local import run

BOUND = 4


def at_least(kv):
    return kv[1].reveal() >= BOUND


def keyed_reads(lattice, predicate, dedup=True):
    flow = hp.Flow("reads")
    state = flow.source("s").lattice_fold_keyed(lattice, name="state")
    passed = state.snapshot(name="peek").filter(predicate, name="test").map(lambda kv: kv[0],
                                                                             name="key")
    (passed.unique(name="once") if dedup else passed).sink("out")
    return flow.graph()


@pytest.mark.parametrize("lattice, predicate", [
    (GCounter, at_least),
    (Max, lambda kv: kv[1].reveal() > 2),
    (Max, lambda kv: BOUND <= kv[1].reveal()),
    (Min, lambda kv: kv[1].reveal() < 0),
    (SetUnion, lambda kv: len(kv[1].reveal()) >= 2),
])
def test_threshold_reads_are_not_points_of_order(lattice, predicate):
    assert points_of_order(keyed_reads(lattice, predicate)) == []


@pytest.mark.parametrize("lattice, predicate, why", [
    (GCounter, lambda kv: kv[1].reveal() == BOUND, "compares with ==, which can turn false"),
    (Max, lambda kv: kv[1].reveal() <= 3, "from the side it grows towards"),
    (PNCounter, lambda kv: kv[1].reveal() >= 1, "PNCounter, whose revealed value does not only grow"),
    (Max, lambda kv: kv[1].reveal() >= kv[0], "not a bound on the revealed value"),
    (Max, lambda kv: kv[1].reveal() % 2 == 0, "compares with =="),
    (Max, lambda kv: kv[1], "not a single comparison"),
])
def test_other_reads_are_points_of_order_naming_the_filter(lattice, predicate, why):
    [p] = points_of_order(keyed_reads(lattice, predicate))
    assert p.name == "peek" and "filter 'test'" in p.reason and why in p.reason


def test_a_threshold_read_shows_the_same_records_whatever_the_tick_split():
    g = keyed_reads(GCounter, at_least)
    updates = [("a", ("r1", 1)), ("b", ("r1", 5)), ("a", ("r2", 3)), ("a", ("r1", 2)), ("c", ("r1", 3))]
    one_tick = run(g, {"s": updates})
    per_record = run(g, ticks=[{"s": [u]} for u in updates])
    assert sorted(one_tick["out"]) == sorted(per_record["out"]) == ["a", "b"]
    exact = keyed_reads(GCounter, lambda kv: kv[1].reveal() == 4)
    assert run(exact, {"s": updates})["out"] == []  # in one tick, a goes from 0 to 5
    assert run(exact, ticks=[{"s": [u]} for u in updates])["out"] == ["a"]  # 1, 4, then 5


def test_crdt_reads_flag_the_exact_read_only():
    from hydropy.loader import load_flow
    from pathlib import Path
    g = load_flow(str(Path(__file__).resolve().parent.parent / "examples" / "crdts.py:reads")).graph()
    [p] = points_of_order(g)
    assert p.name == "read_counts"
    assert "filter 'exactly' compares with ==" in p.reason
    assert "filter 'reached' is a threshold read (safe)" in p.reason


@pytest.mark.parametrize("project", [lambda kv: kv, lambda kv: (kv[0], kv[1].reveal()), str])
def test_a_threshold_read_whose_unique_still_sees_the_value_is_a_point_of_order(project):
    """unique dedups records, so it only makes a threshold read tick-split independent when the
    value (which grows every tick) is gone from what it sees; unreadable functions count too."""
    flow = hp.Flow("reads")
    state = flow.source("s").lattice_fold_keyed(GCounter, name="state")
    state.snapshot(name="peek").filter(at_least, name="test").map(project, name="keep") \
        .unique(name="once").sink("out")
    [p] = points_of_order(flow.graph())
    assert p.name == "peek" and "passes the value itself on to unique 'once'" in p.reason
    updates = [("a", ("r1", 2)), ("a", ("r2", 2)), ("a", ("r3", 1))]
    assert len(run(flow.graph(), {"s": updates})["out"]) == 1
    assert len(run(flow.graph(), ticks=[{"s": [u]} for u in updates])["out"]) == 2  # 4, then 5


# -- a step after the threshold that reads the value again -------------------------------------

def below_ten(kv):
    return kv[1].reveal() < 10


def keys_of_even_counts(kv):
    if kv[1].reveal() % 2 == 0:
        return [kv[0]]
    return []


def key_if_even_count(kv):
    if kv[1].reveal() % 2 == 0:
        return kv[0]
    return None


def read_again(step: str, fn):
    flow = hp.Flow("again")
    state = flow.source("s").lattice_fold_keyed(GCounter, name="state")
    passed = getattr(state.snapshot(name="peek").filter(lambda kv: kv[1].reveal() >= 5, name="test"),
                     step)(fn, name="again")
    if step == "filter":
        passed = passed.map(lambda kv: kv[0], name="key")
    passed.unique(name="once").sink("out")
    return flow.graph()


@pytest.mark.parametrize("step, fn", [("filter", below_ten), ("flat_map", keys_of_even_counts),
                                      ("filter_map", key_if_even_count)])
def test_a_later_step_deciding_by_the_value_again_is_a_point_of_order(step, fn):
    """``>= 5`` then ``< 10`` (or parity) passes a key or not depending on whether some tick
    happened to show a value in the window: the runs below prove the split matters."""
    g = read_again(step, fn)
    [p] = points_of_order(g)
    assert f"{step} 'again' after filter 'test' reads the value again" in p.reason
    updates = [("a", ("r1", 6)), ("a", ("r1", 11))] if step == "filter" else \
        [("a", ("r1", 6)), ("a", ("r1", 7))]
    assert run(g, {"s": updates})["out"] != run(g, ticks=[{"s": [u]} for u in updates])["out"]


@pytest.mark.parametrize("second", [lambda kv: kv[1].reveal() >= 7, lambda kv: kv[0] != "b"])
def test_a_second_threshold_or_a_test_of_the_key_keeps_the_read_safe(second):
    flow = hp.Flow("again")
    state = flow.source("s").lattice_fold_keyed(GCounter, name="state")
    state.snapshot(name="peek").filter(at_least, name="test").filter(second, name="again") \
        .map(lambda kv: kv[0], name="key").unique(name="once").sink("out")
    assert points_of_order(flow.graph()) == []


def test_a_bool_lattice_read_by_its_truth_is_a_threshold():
    """Bool only goes from False to True: ``kv[1].reveal()`` is its threshold, ``not`` is not."""
    def build(predicate):
        flow = hp.Flow("flags")
        state = flow.source("s").lattice_fold_keyed(Bool, name="state")
        state.snapshot(name="peek").filter(predicate, name="test").map(lambda kv: kv[0], name="key") \
            .unique(name="once").sink("out")
        return flow.graph()
    safe = build(lambda kv: kv[1].reveal())
    assert points_of_order(safe) == []
    updates = [("a", False), ("b", True), ("a", True), ("c", False)]
    assert sorted(run(safe, {"s": updates})["out"]) == \
        sorted(run(safe, ticks=[{"s": [u]} for u in updates])["out"]) == ["a", "b"]
    [p] = points_of_order(build(lambda kv: not kv[1].reveal()))
    assert "filter 'test'" in p.reason
