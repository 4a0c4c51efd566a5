"""Confluence on the local target: a monotone program's sinks do not depend on the order of
its inputs or on how they are split into ticks (DESIGN.md section 2, ``targets/local.py``).

Each property draws inputs, a permutation of all input records and a split of that sequence
into ticks (empty ticks included), runs the program tick by tick, and compares every sink as
a multiset with the single-tick run. A negative control shows a non-monotone program
(``anti_join``) for which the property does not hold.
"""
from __future__ import annotations

from typing import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.lattices import LWW, Max, SetUnion
from hydropy.targets.local import run
from strategies import cut_into_ticks

SETTINGS = settings(max_examples=100, deadline=None, database=None)

small_ints = st.integers(min_value=-5, max_value=5)
keys = st.sampled_from(["a", "b", "c", "d"])
words = st.sampled_from(["x", "y", "z"])
pairs = st.tuples(keys, small_ints)


def multisets(results: dict[str, list]) -> dict[str, list]:
    """Every sink as a sorted multiset of its records (repr gives a total order)."""
    return {name: sorted(rows, key=repr) for name, rows in results.items()}


@st.composite
def schedules(draw, inputs: dict[str, st.SearchStrategy]):
    """(all inputs as one batch, the same records permuted and cut into ticks)."""
    batch = {name: draw(st.lists(records, max_size=8)) for name, records in inputs.items()}
    return batch, draw(cut_into_ticks(batch, max_cuts=6))


def check_confluent(build: Callable[[], hp.Flow], schedule) -> None:
    batch, ticks = schedule
    graph = build().graph()
    assert sum(len(v) for t in ticks for v in t.values()) == sum(len(v) for v in batch.values())
    assert multisets(run(graph, ticks=ticks)) == multisets(run(graph, batch))


# -- monotone programs -----------------------------------------------------------------------------

def stateless_program() -> hp.Flow:
    flow = hp.Flow("stateless")
    a, b = flow.source("a"), flow.source("b")
    left = a.map(lambda x: x * 2).filter(lambda x: x % 3 != 0)
    right = b.flat_map(lambda x: [x, x + 1] if x > 0 else []).filter_map(
        lambda x: None if x == 3 else x - 1)
    left.union(right, a).sink("out")
    return flow


def join_program() -> hp.Flow:
    flow = hp.Flow("join")
    left, right = flow.source("left"), flow.source("right")
    joined = left.join(right)
    joined.sink("pairs")
    joined.map(lambda kv: (kv[0], kv[1][0] + kv[1][1])).unique().sink("distinct_sums")
    return flow


def cross_program() -> hp.Flow:
    flow = hp.Flow("cross")
    a, b = flow.source("a"), flow.source("b")
    product = a.cross(b)
    product.sink("product")
    product.filter(lambda xy: xy[0] <= xy[1]).map(lambda xy: xy[1] - xy[0]).unique().sink("gaps")
    return flow


def unique_program() -> hp.Flow:
    flow = hp.Flow("unique")
    a, b = flow.source("a"), flow.source("b")
    a.union(b).map(lambda x: x % 3).unique().sink("residues")
    a.unique().sink("distinct_a")
    return flow


def lattice_program() -> hp.Flow:
    flow = hp.Flow("lattices")
    xs, kv = flow.source("xs"), flow.source("kv")
    xs.lattice_fold(Max).sink("max")
    xs.lattice_fold(SetUnion).sink("seen")
    kv.lattice_fold_keyed(Max).sink("max_per_key")
    kv.map(lambda p: (p[0], (abs(p[1]), str(p[1] % 2)))).lattice_fold_keyed(LWW).sink("lww")
    return flow


def commutative_folds_program() -> hp.Flow:
    flow = hp.Flow("folds")
    xs, kv = flow.source("xs"), flow.source("kv")
    xs.fold(int, lambda acc, x: acc + x).sink("sum")
    xs.count().sink("count")
    xs.reduce(max).sink("max")
    kv.fold_keyed(int, lambda acc, v: acc + v).sink("sum_per_key")
    kv.fold_keyed(int, lambda acc, v: acc + 1).sink("count_per_key")
    kv.reduce_keyed(min).sink("min_per_key")
    return flow


def join_then_aggregate_program() -> hp.Flow:
    """The shopping-cart shape: join with a table, then fold per key with a commutative fn."""
    flow = hp.Flow("join_agg")
    orders, prices = flow.source("orders"), flow.source("prices")
    priced = orders.join(prices).map(lambda kv: (kv[0], kv[1][0] * kv[1][1]))
    priced.fold_keyed(int, lambda acc, v: acc + v).sink("revenue")
    priced.map(lambda kv: kv[0]).lattice_fold(SetUnion).sink("sold")
    return flow


def transitive_closure_program() -> hp.Flow:
    """Monotone recursion: paths through a cycle, deduplicated so it reaches a fixpoint."""
    flow = hp.Flow("tc")
    edges = flow.source("edges")
    handle, derived = flow.cycle()
    paths = edges.union(derived).unique()
    paths.sink("paths")
    handle.complete(paths.map(lambda p: (p[1], p[0])).join(edges)
                    .map(lambda kv: (kv[1][0], kv[1][1])))
    return flow


@SETTINGS
@given(schedules({"a": small_ints, "b": small_ints}))
def test_stateless_operators_are_confluent(schedule):
    check_confluent(stateless_program, schedule)


@SETTINGS
@given(schedules({"left": pairs, "right": pairs}))
def test_join_is_confluent(schedule):
    check_confluent(join_program, schedule)


@SETTINGS
@given(schedules({"a": small_ints, "b": small_ints}))
def test_cross_is_confluent(schedule):
    check_confluent(cross_program, schedule)


@SETTINGS
@given(schedules({"a": small_ints, "b": small_ints}))
def test_unique_is_confluent(schedule):
    check_confluent(unique_program, schedule)


@SETTINGS
@given(schedules({"xs": small_ints, "kv": pairs}))
def test_lattice_folds_are_confluent(schedule):
    check_confluent(lattice_program, schedule)


@SETTINGS
@given(schedules({"xs": small_ints, "kv": pairs}))
def test_commutative_folds_read_only_by_sinks_are_confluent(schedule):
    check_confluent(commutative_folds_program, schedule)


@SETTINGS
@given(schedules({"orders": pairs, "prices": st.tuples(keys, st.integers(1, 9))}))
def test_join_then_keyed_fold_is_confluent(schedule):
    check_confluent(join_then_aggregate_program, schedule)


@SETTINGS
@given(schedules({"edges": st.tuples(st.integers(0, 4), st.integers(0, 4))}))
def test_recursive_monotone_program_is_confluent(schedule):
    check_confluent(transitive_closure_program, schedule)


def test_schedules_really_split_and_permute():
    """The generator is not vacuous: it produces multi-tick, reordered schedules."""
    seen_multi_tick, seen_reordered = False, False

    @settings(max_examples=200, deadline=None, database=None)
    @given(schedules({"a": small_ints}))
    def probe(schedule):
        nonlocal seen_multi_tick, seen_reordered
        batch, ticks = schedule
        flat = [x for t in ticks for x in t.get("a", [])]
        assert sorted(flat) == sorted(batch["a"])
        seen_multi_tick |= sum(1 for t in ticks if t) > 1
        seen_reordered |= flat != batch["a"]

    probe()
    assert seen_multi_tick and seen_reordered


# -- negative control: a non-monotone program -------------------------------------------------------

def anti_join_program() -> hp.Flow:
    flow = hp.Flow("anti")
    flow.source("xs").anti_join(flow.source("banned")).sink("allowed")
    return flow


def test_anti_join_is_not_confluent():
    graph = anti_join_program().graph()
    batch = {"xs": [("a", 1), ("b", 2)], "banned": ["a"]}
    together = run(graph, batch)
    record_first = run(graph, ticks=[{"xs": [("a", 1), ("b", 2)]}, {"banned": ["a"]}])
    ban_first = run(graph, ticks=[{"banned": ["a"]}, {"xs": [("a", 1), ("b", 2)]}])
    assert multisets(together) == {"allowed": [("b", 2)]}
    assert multisets(ban_first) == {"allowed": [("b", 2)]}
    assert multisets(record_first) == {"allowed": [("a", 1), ("b", 2)]}
    assert multisets(record_first) != multisets(together)


def test_snapshot_is_not_confluent():
    flow = hp.Flow("snap")
    flow.source("xs").count().snapshot().sink("counts")
    graph = flow.graph()
    assert run(graph, {"xs": [1, 2]}) == {"counts": [2]}
    assert run(graph, ticks=[{"xs": [1]}, {"xs": [2]}]) == {"counts": [1, 2]}

