"""split_fold (and the order check after partition) judge the data, not only the function's
form: + is exact only on integers, max / min are a semilattice only without NaN. The element
type comes from declared source dtypes, through channels, filters and maps."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.passes import fold_algebra
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.split_fold import split_fold
from hydropy.targets.local import run
from hydropy.testing import assert_equivalent


def add(total, x):
    return total + x


def halve(x):
    return x / 2


def total_of(dtype=None, through=lambda s: s, fold=lambda s: s.fold(int, add, name="agg")):
    flow = hp.Flow("total")
    fold(through(flow.source("xs", dtype=dtype))).sink("out")
    return flow


@pytest.mark.parametrize("flow, words", [
    (total_of("float64"), ["fold 'agg'", "over its records of type float64", "floats round"]),
    (total_of(), ["cannot see the type of its records", 'dtype="int64"']),
    (total_of("int64", lambda s: s.map(halve)), ["of type float64"]),
    (total_of("float64", fold=lambda s: s.reduce(max, name="agg")), ["max(nan, 1) is nan"]),
    (total_of("int64", fold=lambda s: s.fold(lambda: float("nan"), max, name="agg")),
     ["returns nan, not an integer"]),
    (total_of(fold=lambda s: s.reduce(min, name="agg")), ["cannot see the type", "dtype="]),
    (total_of(("int64", "float64"), lambda s: s.map(lambda r: r[1]), ), ["float64"]),
])
def test_split_fold_refuses_where_the_algebra_does_not_hold_on_the_data(flow, words):
    with pytest.raises(RewriteRefused) as info:
        split_fold(flow.graph(), "agg", to="total")
    message = str(info.value)
    assert "test_split_fold_types.py:" in message and "\n" not in message
    for w in words:
        assert w in message


@pytest.mark.parametrize("flow", [
    total_of("int64"),
    total_of("bool"),
    total_of("int64", lambda s: s.filter(lambda x: x > 2).map(lambda x: x * 3)),
    total_of(("int64", "float64"), lambda s: s.map(lambda r: r[0])),
    total_of("int64", fold=lambda s: s.reduce(max, name="agg")),
    total_of("int64", fold=lambda s: s.fold(lambda: -1, min, name="agg")),
    total_of(fold=lambda s: s.count(name="agg")),  # counting is exact whatever the records
])
def test_split_fold_accepts_integer_data_and_agrees(flow):
    graph = flow.graph()
    design = partition(split_fold(graph, "agg", to="total"), "main", 3)
    records = [(x, x / 3) for x in range(12)] if "(" in str(graph.by_name("xs").coll.dtype) else \
        [x % 2 == 0 for x in range(12)] if graph.by_name("xs").coll.dtype == "bool" else list(range(12))
    assert_equivalent(flow, design, {"xs": records}, seeds=range(8))


def test_a_keyed_count_of_literal_ones_is_exact_without_declarations():
    """(word, 1): the value's type is literal in the map, so a sum per key downstream of a
    partitioned stage is accepted without a dtype."""
    flow = hp.Flow("words")
    flow.source("lines").flat_map(str.split, name="words").map(lambda w: (w, 1), name="ones") \
        .fold_keyed(int, add, name="per_word").sink("counts")
    graph = decouple(flow.graph(), ["per_word"], "agg")
    design = partition(graph, "main", 2)
    assert_equivalent(flow, design, {"lines": ["a b a", "c a", "b b"]}, seeds=range(8))


def test_a_keyed_float_sum_behind_a_partitioned_stage_is_refused():
    flow = hp.Flow("prices")
    flow.source("xs", dtype=("int64", "float64")).map(lambda r: (r[0], r[1]), name="kv") \
        .fold_keyed(lambda: 0, add, name="per_key").sink("sums")
    graph = decouple(flow.graph(), ["per_key"], "agg")
    with pytest.raises(RewriteRefused, match="fold_keyed 'per_key'.*its values of type float64"):
        partition(graph, "main", 2)


# -- mutants: the type check removed, a wrong design is accepted and caught ----------------

def without_type_check(monkeypatch):
    monkeypatch.setattr(fold_algebra, "_why_not_exact", lambda node, shape, element: "")


def test_mutant_float_partials_give_a_total_no_order_of_the_original_gives(monkeypatch):
    without_type_check(monkeypatch)
    graph = total_of("float64").graph()
    split = split_fold(graph, "agg", to="total")  # accepted without the check
    records = [1e16, 1.0, 1.0, 1.0]
    got = run(split, ticks=[{"xs": records[:2]}, {"xs": records[2:]}])["out"][0]
    any_order = {_sequential(p) for p in itertools.permutations(records)}
    assert got not in any_order  # 1e16 + 2: sequential sums give 1e16 or 1e16 + 4


def test_mutant_max_partials_with_nan_give_what_no_order_gives(monkeypatch):
    without_type_check(monkeypatch)
    graph = total_of("float64", fold=lambda s: s.reduce(max, name="agg")).graph()
    split = split_fold(graph, "agg", to="total")
    records = [1.0, math.nan, 2.0]
    got = run(split, ticks=[{"xs": records[:1]}, {"xs": records[1:]}])["out"][0]
    any_order = {repr(_sequential(p, max)) for p in itertools.permutations(records)}
    assert repr(got) not in any_order  # 1.0; every order gives 2.0 or nan


def _sequential(records, fn=add):
    acc = records[0] if fn is max else 0
    for x in records[1 if fn is max else 0:]:
        acc = fn(acc, x)
    return acc


@given(st.lists(st.lists(st.integers(-10**18, 10**18), max_size=5), max_size=5))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_integer_partials_equal_the_fold_for_any_tick_split(batches):
    graph = total_of("int64").graph()
    ticks = [{"xs": b} for b in batches]
    assert run(split_fold(graph, "agg", to="total"), ticks=ticks) == run(graph, ticks=ticks)
