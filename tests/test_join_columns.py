"""Joins that stay columnar: a typed join's ``(k, (x, y))`` pairs are nested Columns, and the
kernels after it (map, filter, a keyed fold behind a map, a count) give what the Python
operators give on the same records, tick by tick, over duplicate keys, empty sides and NaN;
nested Columns keep their shape through slicing, concatenation, the wire and routing."""
from __future__ import annotations

import functools
import gc
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.passes import kernel_plan
from hydropy.runtime import batch as wire
from hydropy.runtime.columns import Columns, collector_paused, heap_frozen, leaf_paths, leaves, shape_of
from hydropy.targets.local import run as run_local

SETTINGS = settings(max_examples=60, deadline=None, database=None)
TYPES = ("(int64, float64)", "(int64, int64)")


def add(acc, v):
    return acc + v


@functools.cache  # one per type pair: its functions are typed by Numba once
def join_program(left: str, right: str, typed: bool) -> hp.Flow:
    """A join and everything that reads its pairs: a map to (k, x * y) summed per key, a
    filter, a count and the pairs themselves; sources typed (kernels) or not (Python)."""
    flow = hp.Flow("join_columns")
    a = flow.source("a", dtype=left if typed else None)
    pairs = a.join(flow.source("b", dtype=right if typed else None), name="jn")
    pairs.sink("pairs")
    pairs.map(lambda r: (r[0], r[1][0] * r[1][1]), name="prod").fold_keyed(
        float, add, name="per_key").sink("per_key")
    pairs.filter(lambda r: r[1][0] > r[1][1], name="bigger").sink("bigger")
    pairs.map(lambda r: r[1][1], name="right_value").sink("right_values")
    pairs.count(name="n").sink("n")
    return flow


def shown(results: dict) -> dict:
    """Sinks as text: NaN equals NaN, -0.0 differs from 0.0, 1 from 1.0 (as a reader sees)."""
    return {name: repr(list(records)) for name, records in results.items()}


keys = st.integers(-3, 3)  # few keys: many duplicates on both sides
values = {"(int64, float64)": st.floats(allow_infinity=False) | st.just(math.nan),
          "(int64, int64)": st.integers(-2**20, 2**20)}  # products and their sums fit int64


@st.composite
def join_ticks(draw):
    left, right = draw(st.sampled_from(TYPES)), draw(st.sampled_from(TYPES))
    rows = {side: draw(st.lists(st.tuples(keys, values[dtype]), max_size=30))
            for side, dtype in (("a", left), ("b", right))}
    ticks = []
    for _ in range(draw(st.integers(1, 4))):
        tick = {}
        for side in ("a", "b"):
            take = draw(st.integers(0, len(rows[side])))
            tick[side], rows[side] = rows[side][:take], rows[side][take:]
        ticks.append(tick)
    ticks.append(rows)  # what is left, in a last tick (either side may be empty throughout)
    return left, right, ticks


@SETTINGS
@given(join_ticks())
def test_kernels_after_a_join_give_what_the_python_operators_give(case):
    left, right, ticks = case
    typed = join_program(left, right, typed=True)
    modes = {typed.graph().node(i).name: m.mode for i, m in kernel_plan.plan(typed.graph()).modes.items()}
    assert modes["jn"] == modes["prod"] == modes["right_value"] == modes["per_key"] == "kernel"
    assert modes["bigger"] == ("kernel" if left == right else "python")  # int64 vs float64: Python's
    columns = [{side: Columns.from_records(rows, left if side == "a" else right)
                for side, rows in tick.items()} for tick in ticks]
    want = shown(run_local(join_program(left, right, typed=False).graph(), ticks=ticks))
    assert shown(run_local(typed.graph(), ticks=columns)) == want
    assert shown(run_local(typed.graph(), ticks=ticks)) == want  # lists into the kernels
    got = run_local(typed.graph(), ticks=columns, columns=True)  # the pairs as nested Columns
    assert repr(list(got["pairs"])) == want["pairs"]
    assert isinstance(got["pairs"], Columns) and got["pairs"].dtype == f"(int64, ({left[8:-1]}, {right[8:-1]}))"


def test_a_keyed_fold_reading_the_pairs_themselves_runs_as_python_and_agrees():
    """Its values are (x, y) tuples: keyed kernels take numbers (the plan refuses the nested
    value; without that check the plan would build a kernel it cannot type)."""
    flow = hp.Flow("fold_pairs")
    pairs = flow.source("a", dtype=TYPES[0]).join(flow.source("b", dtype=TYPES[1]), name="jn")
    pairs.fold_keyed(tuple, lambda acc, xy: acc + xy, name="all").sink("all")
    mode = {flow.graph().node(i).name: m for i, m in kernel_plan.plan(flow.graph()).modes.items()}["all"]
    assert mode.mode == "python" and "not (key, value) pairs of numbers" in mode.reason
    got = flow.run({"a": [(1, 0.5), (2, 1.5)], "b": [(1, 3), (1, 4)]})
    assert got == {"all": [(1, (0.5, 3, 0.5, 4))]}


def test_mutant_without_the_nested_value_check_breaks_the_fold_over_pairs(monkeypatch):
    original = kernel_plan._pair

    def no_nested_check(dtype):  # the check removed: only the arity and the key type left
        names = kernel_plan.fields(dtype) if kernel_plan.is_tuple(dtype) else ()
        if len(names) != 2:
            return original(dtype)
        return original(f"({names[0]}, int64)") and names
    monkeypatch.setattr(kernel_plan, "_pair", no_nested_check)
    with pytest.raises(Exception):
        test_a_keyed_fold_reading_the_pairs_themselves_runs_as_python_and_agrees()


def test_nested_columns_keep_their_shape():
    dtype = "(int64, (float64, int64))"
    assert leaves(dtype) == ("int64", "float64", "int64") and shape_of(dtype) == (0, (1, 2))
    assert leaf_paths(dtype) == [(0,), (1, 0), (1, 1)] and shape_of("(int64, float64)") is None
    records = [(1, (0.5, 7)), (2, (math.inf, -1)), (1, (-0.0, 3))]
    cols = Columns.from_records(records, dtype)
    assert cols.dtype == dtype and cols.tolist() == records and list(cols[1:]) == records[1:]
    assert Columns.concat([cols, cols.take(np.array([2]))]).tolist() == records + records[2:]
    assert Columns.empty(dtype).dtype == dtype and Columns.empty(dtype).tolist() == []
    again = wire.unpack(wire.pack(cols))
    assert again.dtype == dtype and again.tolist() == records
    for bad in ([(1, 0.5)], [(1, (0.5,))], [(1, (0.5, 7.5))], [((1, 2), (0.5, 7))]):
        with pytest.raises(ValueError):
            Columns.from_records(bad, dtype)
    for shape in ((0, (1,)), (1, 0), ((0, 1), 2, 3)):
        with pytest.raises(ValueError, match="shape"):
            Columns(np.zeros(2), np.zeros(2), np.zeros(2), shape=shape)


@pytest.mark.parametrize("key", [(0,), (1, 1), (1,)])
def test_routing_nested_columns_sends_each_record_where_its_list_form_goes(key):
    rng = np.random.default_rng(1)
    cols = Columns(rng.integers(-50, 50, 300), rng.random(300), rng.integers(-9, 9, 300), shape=(0, (1, 2)))
    parts = wire.route(cols, "hash", 3, key)
    want = wire.route(cols.tolist(), "hash", 3, key)
    assert [p.tolist() for p in parts] == want and all(p.dtype == cols.dtype for p in parts)


def test_collector_paused_restores_the_collector_and_keeps_a_programs_frozen_objects():
    held = [[] for _ in range(10)]  # tracked objects the program froze itself
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        gc.disable()
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
    with collector_paused():
        built = [(i, (float(i), i)) for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0 and len(built) == len(held) * 100


def test_collector_paused_leaves_a_heap_frozen_on_purpose_without_counting_it(monkeypatch):
    """A stage member freezes its heap once started (its imports: ~150,000 objects), and
    ``gc.get_freeze_count`` walks every frozen object: counting them per batch built took a
    quarter of a second of a one-second B2 member. Where hydropy froze the heap, the bulk
    build neither counts nor unfreezes it."""
    with heap_frozen():
        frozen = gc.get_freeze_count()
        assert frozen > 0

        def walks(*_):
            raise AssertionError("counted the frozen heap")
        monkeypatch.setattr(gc, "get_freeze_count", walks)
        with collector_paused():
            built = [(i, float(i)) for i in range(1000)]
        monkeypatch.undo()
        assert gc.get_freeze_count() == frozen and gc.isenabled() and len(built) == 1000
    assert gc.get_freeze_count() == 0
