"""The semantics of every operator on the local target (the oracle of every other target).

Single-tick cases go through ``flow.run(inputs)``; multi-tick cases through
``hydropy.targets.local.run(graph, ticks=[...])``, one input batch per tick.
"""
from __future__ import annotations

import os
import sys
from collections import Counter

import pytest

import hydropy as hp
from hydropy import ir
from hydropy.lattices import LWW, Max, SetUnion
from hydropy.targets.local import run as run_local

HERE = os.path.basename(__file__)


def ticks(flow: hp.Flow, *batches):
    return run_local(flow.graph(), ticks=list(batches))


def multiset(records):
    return Counter(records)


def next_line() -> int:
    """The line number just after the caller's line."""
    return sys._getframe(1).f_lineno + 1


# -- stateless operators ------------------------------------------------------------------

def test_map_applies_fn_to_every_record_in_order():
    flow = hp.Flow("m")
    flow.source("xs").map(lambda x: x * 10).sink("out")
    assert flow.run({"xs": [3, 1, 2]}) == {"out": [30, 10, 20]}


def test_map_over_several_ticks_keeps_every_record():
    flow = hp.Flow("m")
    flow.source("xs").map(lambda x: -x).sink("out")
    assert ticks(flow, {"xs": [1]}, {}, {"xs": [2, 3]}) == {"out": [-1, -2, -3]}


def test_filter_keeps_records_where_fn_is_true():
    flow = hp.Flow("f")
    flow.source("xs").filter(lambda x: x % 2 == 0).sink("even")
    assert flow.run({"xs": [1, 2, 3, 4, 6, 7]}) == {"even": [2, 4, 6]}


def test_filter_uses_truthiness_of_fn_result():
    flow = hp.Flow("f")
    flow.source("xs").filter(lambda x: x).sink("out")
    assert flow.run({"xs": [0, "", None, 5, "a", [], [1]]}) == {"out": [5, "a", [1]]}


def test_flat_map_emits_every_element_of_each_iterable():
    flow = hp.Flow("fm")
    flow.source("lines").flat_map(str.split).sink("words")
    assert flow.run({"lines": ["a b", "", "c d e"]}) == {"words": ["a", "b", "c", "d", "e"]}


def test_flat_map_accepts_generators_and_ranges():
    flow = hp.Flow("fm")
    flow.source("ns").flat_map(lambda n: range(n)).sink("out")
    flow.source("ms").flat_map(lambda n: (n for _ in range(2))).sink("dup")
    assert flow.run({"ns": [0, 3, 1], "ms": [7]}) == {"out": [0, 1, 2, 0], "dup": [7, 7]}


def test_flat_map_non_iterable_result_is_a_user_code_error():
    flow = hp.Flow("fm")
    flow.source("ns").flat_map(lambda n: n, name="not_iterable").sink("out")
    with pytest.raises(hp.UserCodeError, match="not_iterable"):
        flow.run({"ns": [1]})


def test_filter_map_drops_only_none():
    flow = hp.Flow("fmap")
    flow.source("xs").filter_map(lambda x: None if x < 0 else x).sink("out")
    assert flow.run({"xs": [-1, 0, 2, -5, 3]}) == {"out": [0, 2, 3]}


def test_filter_map_keeps_falsy_non_none_results():
    flow = hp.Flow("fmap")
    flow.source("xs").filter_map(lambda x: x).sink("out")
    assert flow.run({"xs": [0, False, "", None, 1]}) == {"out": [0, False, "", 1]}


def test_inspect_calls_fn_for_its_effect_and_passes_records_on():
    seen = []
    flow = hp.Flow("i")
    flow.source("xs").inspect(seen.append).map(lambda x: x + 1).sink("out")
    result = flow.run({"xs": [5, 6, 5]})
    assert result == {"out": [6, 7, 6]}
    assert seen == [5, 6, 5]


def test_inspect_return_value_is_ignored():
    flow = hp.Flow("i")
    flow.source("xs").inspect(lambda x: "ignored").sink("out")
    assert flow.run({"xs": [1, 2]}) == {"out": [1, 2]}


def test_union_of_two_streams_is_the_multiset_sum():
    flow = hp.Flow("u")
    a, b = flow.source("a"), flow.source("b")
    a.union(b).sink("out")
    out = flow.run({"a": [1, 2, 2], "b": [2, 3]})["out"]
    assert multiset(out) == multiset([1, 2, 2, 2, 3])


def test_union_of_three_streams():
    flow = hp.Flow("u")
    a, b, c = flow.source("a"), flow.source("b"), flow.source("c")
    a.union(b, c).sink("out")
    out = flow.run({"a": ["x"], "b": ["y", "y"], "c": ["z", "x"]})["out"]
    assert multiset(out) == multiset(["x", "y", "y", "z", "x"])


def test_union_with_itself_duplicates_records():
    flow = hp.Flow("u")
    a = flow.source("a")
    a.union(a).sink("out")
    assert multiset(flow.run({"a": [1, 2]})["out"]) == multiset([1, 1, 2, 2])


def test_union_over_ticks():
    flow = hp.Flow("u")
    a, b = flow.source("a"), flow.source("b")
    a.union(b).sink("out")
    out = ticks(flow, {"a": [1]}, {"b": [2]}, {"a": [3], "b": [4]})["out"]
    assert multiset(out) == multiset([1, 2, 3, 4])


# -- join -----------------------------------------------------------------------------------

def test_join_pairs_matching_keys():
    flow = hp.Flow("j")
    left, right = flow.source("l"), flow.source("r")
    left.join(right).sink("out")
    out = flow.run({"l": [("a", 1), ("b", 2), ("c", 3)], "r": [("a", "x"), ("c", "z"), ("d", "w")]})
    assert multiset(out["out"]) == multiset([("a", (1, "x")), ("c", (3, "z"))])


def test_join_is_a_multiset_join_duplicates_multiply():
    flow = hp.Flow("j")
    left, right = flow.source("l"), flow.source("r")
    left.join(right).sink("out")
    out = flow.run({"l": [("k", 1), ("k", 1), ("k", 2)], "r": [("k", "x"), ("k", "x")]})["out"]
    assert multiset(out) == multiset([("k", (1, "x"))] * 4 + [("k", (2, "x"))] * 2)


def test_join_remembers_both_sides_and_emits_each_pair_once_across_ticks():
    flow = hp.Flow("j")
    left, right = flow.source("l"), flow.source("r")
    left.join(right).sink("out")
    out = ticks(flow,
                {"l": [("k", 1)]},
                {"r": [("k", "a")]},
                {"l": [("k", 2)]},
                {},
                {"r": [("k", "b")], "l": [("other", 0)]})["out"]
    expected = [("k", (1, "a")), ("k", (2, "a")), ("k", (1, "b")), ("k", (2, "b"))]
    assert multiset(out) == multiset(expected)
    assert len(out) == 4


def test_join_pair_is_emitted_in_the_tick_its_second_member_arrives():
    flow = hp.Flow("j")
    left, right = flow.source("l"), flow.source("r")
    joined = left.join(right)
    joined.sink("out")
    # count() snapshot per tick shows how many pairs exist after each tick
    joined.count().snapshot().sink("per_tick")
    res = ticks(flow, {"l": [("k", 1)]}, {"r": [("k", "a")]}, {"r": [("k", "b")]}, {})
    assert res["per_tick"] == [0, 1, 2, 2]


def test_join_accepts_list_pairs():
    flow = hp.Flow("j")
    flow.source("l").join(flow.source("r")).sink("out")
    assert flow.run({"l": [["k", 1]], "r": [["k", 2]]}) == {"out": [("k", (1, 2))]}


def test_join_rejects_records_that_are_not_pairs():
    flow = hp.Flow("j")
    flow.source("l").join(flow.source("r"), name="pairs_only").sink("out")
    with pytest.raises(hp.InputError, match="pairs_only"):
        flow.run({"l": [("k", 1, 2)], "r": []})


# -- anti_join ------------------------------------------------------------------------------

def test_anti_join_keeps_records_whose_key_is_absent():
    flow = hp.Flow("aj")
    flow.source("xs").anti_join(flow.source("neg")).sink("out")
    out = flow.run({"xs": [("a", 1), ("b", 2), ("a", 3), ("c", 4)], "neg": ["a"]})["out"]
    assert multiset(out) == multiset([("b", 2), ("c", 4)])


def test_anti_join_key_in_same_tick_blocks():
    flow = hp.Flow("aj")
    flow.source("xs").anti_join(flow.source("neg")).sink("out")
    res = ticks(flow, {"xs": [("a", 1), ("b", 2)], "neg": ["a"]})
    assert res == {"out": [("b", 2)]}


def test_anti_join_later_key_does_not_retract_earlier_record():
    flow = hp.Flow("aj")
    flow.source("xs").anti_join(flow.source("neg")).sink("out")
    res = ticks(flow, {"xs": [("a", 1)]}, {"neg": ["a"]}, {"xs": [("a", 2), ("b", 3)]})
    # ("a", 1) was emitted in tick 0 and stays; ("a", 2) arrives after "a" was seen
    assert multiset(res["out"]) == multiset([("a", 1), ("b", 3)])


def test_anti_join_remembers_keys_from_earlier_ticks():
    flow = hp.Flow("aj")
    flow.source("xs").anti_join(flow.source("neg")).sink("out")
    res = ticks(flow, {"neg": ["a"]}, {}, {"xs": [("a", 1)]})
    assert res == {"out": []}


# -- cross ----------------------------------------------------------------------------------

def test_cross_is_the_cartesian_product():
    flow = hp.Flow("x")
    flow.source("a").cross(flow.source("b")).sink("out")
    out = flow.run({"a": [1, 2], "b": ["x", "y", "z"]})["out"]
    assert multiset(out) == multiset([(a, b) for a in (1, 2) for b in "xyz"])


def test_cross_with_an_empty_side_is_empty():
    flow = hp.Flow("x")
    flow.source("a").cross(flow.source("b")).sink("out")
    assert flow.run({"a": [1, 2]}) == {"out": []}


def test_cross_remembers_both_sides_and_emits_each_pair_once_across_ticks():
    flow = hp.Flow("x")
    flow.source("a").cross(flow.source("b")).sink("out")
    out = ticks(flow, {"a": [1]}, {"b": ["x"]}, {"a": [2], "b": ["y"]}, {"a": [1]})["out"]
    expected = [(1, "x"), (2, "x"), (1, "y"), (2, "y"), (1, "x"), (1, "y")]  # second 1 is a new record
    assert multiset(out) == multiset(expected)


# -- unique ---------------------------------------------------------------------------------

def test_unique_emits_each_distinct_record_once_in_first_seen_order():
    flow = hp.Flow("u")
    flow.source("xs").unique().sink("out")
    assert flow.run({"xs": [3, 1, 3, 2, 1]}) == {"out": [3, 1, 2]}


def test_unique_remembers_across_ticks():
    flow = hp.Flow("u")
    flow.source("xs").unique().sink("out")
    assert ticks(flow, {"xs": ["a", "b"]}, {"xs": ["b", "c"]}, {"xs": ["a"]}) == {"out": ["a", "b", "c"]}


def test_unique_rejects_unhashable_records():
    flow = hp.Flow("u")
    flow.source("xs").unique(name="dedup").sink("out")
    with pytest.raises(hp.InputError, match="dedup"):
        flow.run({"xs": [[1, 2]]})


# -- folds ----------------------------------------------------------------------------------

def test_fold_accumulates_from_init():
    flow = hp.Flow("f")
    flow.source("xs").fold(lambda: 100, lambda acc, x: acc + x).sink("total")
    assert flow.run({"xs": [1, 2, 3]}) == {"total": [106]}


def test_fold_of_empty_input_shows_init():
    flow = hp.Flow("f")
    flow.source("xs").fold(lambda: "init", lambda acc, x: acc + x).sink("total")
    assert flow.run({}) == {"total": ["init"]}
    assert flow.run({"xs": []}) == {"total": ["init"]}


def test_fold_is_order_sensitive_and_applies_records_in_arrival_order():
    flow = hp.Flow("f")
    flow.source("xs").fold(str, lambda acc, x: acc + x).sink("s")
    assert ticks(flow, {"xs": ["a", "b"]}, {"xs": ["c"]}) == {"s": ["abc"]}


def test_fold_init_can_be_a_type():
    flow = hp.Flow("f")
    flow.source("xs").fold(list, lambda acc, x: acc + [x]).sink("all")
    assert flow.run({"xs": [2, 1]}) == {"all": [[2, 1]]}


def test_reduce_starts_from_first_record():
    flow = hp.Flow("r")
    flow.source("xs").reduce(lambda a, b: a * 10 + b).sink("out")
    assert flow.run({"xs": [1, 2, 3]}) == {"out": [123]}


def test_reduce_of_nothing_shows_empty():
    flow = hp.Flow("r")
    flow.source("xs").reduce(lambda a, b: a + b).sink("out")
    assert flow.run({}) == {"out": []}
    assert ticks(flow, {}, {"xs": []}) == {"out": []}


def test_reduce_of_single_record_is_that_record_without_calling_fn():
    calls = []
    flow = hp.Flow("r")
    flow.source("xs").reduce(lambda a, b: calls.append((a, b)) or a).sink("out")
    assert flow.run({"xs": ["only"]}) == {"out": ["only"]}
    assert calls == []


def test_reduce_accumulates_across_ticks():
    flow = hp.Flow("r")
    flow.source("xs").reduce(max).sink("out")
    assert ticks(flow, {"xs": [3]}, {"xs": [9, 1]}, {"xs": [4]}) == {"out": [9]}


def test_count_counts_records_including_duplicates_across_ticks():
    flow = hp.Flow("c")
    flow.source("xs").count().sink("n")
    assert flow.run({}) == {"n": [0]}
    assert ticks(flow, {"xs": ["a", "a"]}, {}, {"xs": ["b"]}) == {"n": [3]}


def test_fold_keyed_folds_per_key_from_fresh_init():
    flow = hp.Flow("fk")
    flow.source("kv").fold_keyed(list, lambda acc, v: acc + [v]).sink("out")
    res = flow.run({"kv": [("b", 1), ("a", 2), ("b", 3)]})
    assert res == {"out": [("a", [2]), ("b", [1, 3])]}  # sorted by key


def test_fold_keyed_init_is_called_once_per_key_not_shared():
    flow = hp.Flow("fk")

    def append(acc, v):
        acc.append(v)  # mutates: would leak between keys if init() were shared
        return acc

    flow.source("kv").fold_keyed(list, append).sink("out")
    assert flow.run({"kv": [("a", 1), ("b", 2)]}) == {"out": [("a", [1]), ("b", [2])]}


def test_fold_keyed_accumulates_across_ticks():
    flow = hp.Flow("fk")
    flow.source("kv").fold_keyed(int, lambda acc, v: acc + v).sink("sums")
    res = ticks(flow, {"kv": [("x", 1)]}, {"kv": [("y", 5), ("x", 2)]}, {"kv": [("x", 3)]})
    assert res == {"sums": [("x", 6), ("y", 5)]}


def test_fold_keyed_of_nothing_is_empty():
    flow = hp.Flow("fk")
    flow.source("kv").fold_keyed(int, lambda acc, v: acc + v).sink("sums")
    assert flow.run({}) == {"sums": []}


def test_fold_keyed_rejects_non_pairs():
    flow = hp.Flow("fk")
    flow.source("kv").fold_keyed(int, lambda acc, v: acc + v, name="per_key").sink("sums")
    with pytest.raises(hp.InputError, match="per_key"):
        flow.run({"kv": [7]})


def test_reduce_keyed_starts_each_key_from_its_first_value():
    flow = hp.Flow("rk")
    flow.source("kv").reduce_keyed(lambda a, b: a + b).sink("out")
    res = ticks(flow, {"kv": [("a", "x"), ("b", "p")]}, {"kv": [("a", "y"), ("a", "z")]})
    assert res == {"out": [("a", "xyz"), ("b", "p")]}


def test_lattice_fold_max():
    flow = hp.Flow("lf")
    flow.source("xs").lattice_fold(Max).sink("m")
    res = flow.run({"xs": [3, 9, 2]})
    assert res == {"m": [Max(9)]}
    assert res["m"][0].reveal() == 9


def test_lattice_fold_of_nothing_shows_bottom():
    flow = hp.Flow("lf")
    flow.source("xs").lattice_fold(SetUnion).sink("s")
    assert flow.run({}) == {"s": [SetUnion()]}


def test_lattice_fold_set_union_across_ticks():
    flow = hp.Flow("lf")
    flow.source("xs").lattice_fold(SetUnion).sink("s")
    res = ticks(flow, {"xs": ["a", "b"]}, {"xs": ["b", "c"]})
    assert res["s"][0].reveal() == frozenset({"a", "b", "c"})


def test_lattice_fold_keyed_lww():
    flow = hp.Flow("lfk")
    flow.source("puts").lattice_fold_keyed(LWW).sink("store")
    res = ticks(flow,
                {"puts": [("x", (1, "apple")), ("y", (1, "pear"))]},
                {"puts": [("x", (3, "cherry")), ("x", (2, "banana"))]})
    assert [(k, v.reveal()) for k, v in res["store"]] == [("x", "cherry"), ("y", "pear")]
    assert res["store"] == [("x", LWW(3, "cherry")), ("y", LWW(1, "pear"))]


def test_lattice_fold_keyed_set_union():
    flow = hp.Flow("lfk")
    flow.source("kv").lattice_fold_keyed(SetUnion).sink("sets")
    res = flow.run({"kv": [("a", 1), ("b", 2), ("a", 3), ("a", 1)]})
    assert [(k, v.reveal()) for k, v in res["sets"]] == [("a", frozenset({1, 3})), ("b", frozenset({2}))]


def test_lattice_fold_rejects_values_the_lattice_cannot_lift():
    flow = hp.Flow("lfk")
    flow.source("kv").lattice_fold_keyed(LWW, name="registers").sink("store")
    with pytest.raises(hp.HydropyError, match="registers"):
        flow.run({"kv": [("x", "no timestamp")]})


def test_lattice_fold_requires_a_lattice_class():
    flow = hp.Flow("lf")
    with pytest.raises(hp.ProgramError, match="lattice"):
        flow.source("xs").lattice_fold(int)


# -- singletons, snapshot, lookup ------------------------------------------------------------

def test_singleton_map_applies_fn_to_the_final_value():
    flow = hp.Flow("sm")
    flow.source("xs").count().map(lambda n: f"{n} records").sink("msg")
    assert ticks(flow, {"xs": [1, 2]}, {"xs": [3]}) == {"msg": ["3 records"]}


def test_singleton_map_of_empty_fold_maps_init_and_of_empty_reduce_is_empty():
    flow = hp.Flow("sm")
    xs = flow.source("xs")
    xs.fold(lambda: 1, lambda a, b: a + b).map(lambda v: v * 2).sink("doubled")
    xs.reduce(lambda a, b: a + b).map(lambda v: v * 2).sink("reduced")
    assert flow.run({}) == {"doubled": [2], "reduced": []}


def test_snapshot_of_a_fold_emits_the_current_value_once_per_tick():
    flow = hp.Flow("snap")
    total = flow.source("xs").fold(int, lambda acc, x: acc + x)
    total.snapshot().sink("history")
    total.sink("final")
    res = ticks(flow, {"xs": [1, 2]}, {}, {"xs": [10]})
    assert res == {"history": [3, 3, 13], "final": [13]}


def test_snapshot_of_a_keyed_fold_emits_every_pair_each_tick():
    flow = hp.Flow("snap")
    flow.source("kv").fold_keyed(int, lambda a, v: a + v).snapshot().sink("history")
    res = ticks(flow, {"kv": [("b", 1)]}, {"kv": [("a", 2)]})
    assert res == {"history": [("b", 1), ("a", 2), ("b", 1)]}


def test_snapshot_of_reduce_before_any_record_emits_nothing():
    flow = hp.Flow("snap")
    flow.source("xs").reduce(lambda a, b: a + b).snapshot().sink("history")
    assert ticks(flow, {}, {"xs": [4]}, {}) == {"history": [4, 4]}


def test_snapshot_of_lattice_fold_shows_each_ticks_value():
    # A stream sink shows the records it received; a later merge must not rewrite them.
    flow = hp.Flow("snap")
    flow.source("xs").lattice_fold(Max).snapshot().sink("history")
    res = ticks(flow, {"xs": [1]}, {"xs": [5]})
    assert [m.reveal() for m in res["history"]] == [1, 5]


def test_snapshot_of_lattice_fold_keyed_shows_each_ticks_value():
    flow = hp.Flow("snap")
    flow.source("kv").lattice_fold_keyed(SetUnion).snapshot().sink("history")
    res = ticks(flow, {"kv": [("a", 1)]}, {"kv": [("a", 2)]})
    assert [(k, v.reveal()) for k, v in res["history"]] == [("a", frozenset({1})),
                                                            ("a", frozenset({1, 2}))]


def test_lookup_reads_the_table_after_this_ticks_updates():
    flow = hp.Flow("kv")
    table = flow.source("puts").fold_keyed(lambda: None, lambda old, v: v)
    flow.source("gets").lookup(table).sink("answers")
    res = flow.run({"puts": [("x", 1)], "gets": [("x", "q1"), ("y", "q2")]})
    assert res == {"answers": [("x", ("q1", 1)), ("y", ("q2", None))]}


def test_lookup_is_a_point_in_time_read():
    flow = hp.Flow("kv")
    table = flow.source("puts").fold_keyed(lambda: None, lambda old, v: v)
    flow.source("gets").lookup(table).sink("answers")
    res = ticks(flow,
                {"gets": [("x", 1)]},
                {"puts": [("x", "a")]},
                {"gets": [("x", 2)]},
                {"puts": [("x", "b")], "gets": [("x", 3)]})
    assert res == {"answers": [("x", (1, None)), ("x", (2, "a")), ("x", (3, "b"))]}


def test_lookup_on_a_lattice_table_shows_the_value_at_read_time():
    flow = hp.Flow("kv")
    table = flow.source("puts").lattice_fold_keyed(LWW)
    flow.source("gets").lookup(table).sink("answers")
    res = ticks(flow,
                {"puts": [("x", (1, "old"))], "gets": [("x", "g1")]},
                {"puts": [("x", (2, "new"))], "gets": [("x", "g2")]})
    assert [(k, q, v.reveal()) for k, (q, v) in res["answers"]] == [("x", "g1", "old"),
                                                                     ("x", "g2", "new")]


def test_lookup_needs_a_keyed_table():
    flow = hp.Flow("kv")
    total = flow.source("xs").count()
    with pytest.raises(hp.ProgramError, match="lookup"):
        flow.source("gets").lookup(total)


# -- sources, cycles, forward references ------------------------------------------------------

def test_source_iter_delivers_its_values_in_the_first_tick_only():
    flow = hp.Flow("si")
    flow.source_iter([1, 2]).sink("lit")
    flow.source_iter([1, 2]).count().snapshot().sink("counts")
    res = ticks(flow, {}, {}, {})
    assert res == {"lit": [1, 2], "counts": [2, 2, 2]}


def test_source_iter_is_bounded_and_takes_any_iterable():
    flow = hp.Flow("si")
    lit = flow.source_iter(x * x for x in range(4))
    lit.sink("squares")
    assert lit.node.coll.bounded
    assert flow.run() == {"squares": [0, 1, 4, 9]}


def test_source_iter_joins_with_later_stream_records():
    flow = hp.Flow("si")
    table = flow.source_iter([("a", 1), ("b", 2)])
    flow.source("q").join(table).sink("out")
    res = ticks(flow, {}, {"q": [("b", "x")]})
    assert res == {"out": [("b", ("x", 2))]}


def test_unknown_input_name_is_an_input_error():
    flow = hp.Flow("in")
    flow.source("xs").sink("out")
    with pytest.raises(hp.InputError, match="nope"):
        flow.run({"nope": [1]})


def _countdown_flow():
    flow = hp.Flow("countdown")
    handle, fed_back = flow.cycle(name="loop")
    current = flow.source_iter([3], name="start").union(fed_back, name="current")
    current.sink("seen")
    current.count().snapshot().sink("count_per_tick")
    handle.complete(current.filter(lambda n: n > 0).map(lambda n: n - 1, name="decrement"))
    return flow


def test_cycle_countdown_runs_to_quiescence():
    assert _countdown_flow().run()["seen"] == [3, 2, 1, 0]


def test_cycle_records_cross_exactly_one_tick():
    # one record per tick: the running count seen at the end of each tick grows by one
    assert _countdown_flow().run()["count_per_tick"] == [1, 2, 3, 4]


def test_cycle_transitive_closure():
    flow = hp.Flow("tc")
    edges = flow.source("edges")
    handle, derived = flow.cycle()
    paths = edges.union(derived).unique(name="paths")
    paths.sink("paths")
    # (a, b) + (b, c) -> (a, c)
    handle.complete(paths.map(lambda p: (p[1], p[0])).join(edges)
                    .map(lambda kv: (kv[1][0], kv[1][1])))
    out = flow.run({"edges": [(1, 2), (2, 3), (3, 4), (4, 2)]})["paths"]
    expected = {(1, 2), (2, 3), (3, 4), (4, 2), (1, 3), (2, 4), (3, 2), (4, 3), (1, 4),
                (2, 2), (3, 3), (4, 4)}
    assert sorted(out) == sorted(expected)


def test_cycle_edge_is_the_only_one_crossing_a_tick_in_the_ir():
    graph = _countdown_flow().graph()
    loop = graph.by_name("loop")
    assert loop.kind == "cycle"
    assert loop.inputs == (graph.by_name("decrement").id,)


def test_cycle_never_completed_is_a_program_error():
    flow = hp.Flow("open")
    _, fed_back = flow.cycle()
    fed_back.sink("out")
    with pytest.raises(hp.ProgramError, match="never completed"):
        flow.graph()
    with pytest.raises(hp.ProgramError):
        flow.run()


def test_placeholder_completed_twice_is_a_program_error():
    flow = hp.Flow("twice")
    handle, fed_back = flow.cycle()
    handle.complete(flow.source("a"))
    with pytest.raises(hp.ProgramError, match="already completed"):
        handle.complete(flow.source("b"))


def test_forward_ref_used_before_it_is_defined():
    flow = hp.Flow("fwd")
    handle, later = flow.forward_ref(name="later")
    flow.source("a").union(later).sink("both")
    handle.complete(flow.source("b").map(lambda x: x * 10))
    out = flow.run({"a": [1], "b": [2, 3]})["both"]
    assert multiset(out) == multiset([1, 20, 30])


def test_forward_ref_within_the_same_tick():
    flow = hp.Flow("fwd")
    handle, later = flow.forward_ref()
    counts = later.count()
    counts.snapshot().sink("per_tick")
    handle.complete(flow.source("b"))
    # the records reach the count in their own tick, not the next one
    assert ticks(flow, {"b": [1, 2]}, {"b": [3]}) == {"per_tick": [2, 3]}


def test_forward_ref_feeding_itself_is_a_program_error():
    flow = hp.Flow("fwd")
    handle, later = flow.forward_ref()
    handle.complete(later.map(lambda x: x))
    with pytest.raises(hp.ProgramError, match="never crosses a tick"):
        flow.graph()


# -- names and user errors ----------------------------------------------------------------

def test_operator_names_appear_in_the_graph_and_its_text():
    flow = hp.Flow("names")
    xs = flow.source("xs")
    doubled = xs.map(lambda x: 2 * x, name="double")
    doubled.filter(bool, name="nonzero").count(name="how_many").sink("n")
    graph = flow.graph()
    assert graph.by_name("double").kind == "map"
    assert graph.by_name("nonzero").kind == "filter"
    assert graph.by_name("how_many").kind == "count"
    text = ir.to_text(graph)
    for name in ("double", "nonzero", "how_many"):
        assert f"{name} = " in text


def test_unnamed_operators_get_distinct_default_names():
    flow = hp.Flow("names")
    xs = flow.source("xs")
    xs.map(abs).map(abs).sink("out")
    names = [n.name for n in flow.graph()]
    assert len(names) == len(set(names))


def test_user_function_raising_is_a_user_code_error_naming_the_operator():
    flow = hp.Flow("boom")
    line = next_line()
    flow.source("xs").map(lambda x: 1 // x, name="invert").sink("out")
    with pytest.raises(hp.UserCodeError) as err:
        flow.run({"xs": [1, 0]})
    message = str(err.value)
    assert "invert" in message
    assert "ZeroDivisionError" in message
    assert f"{HERE}:{line}" in message
    assert isinstance(err.value, hp.HydropyError)
    assert isinstance(err.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("build", [
    lambda s: s.filter(lambda x: x.missing, name="op_under_test"),
    lambda s: s.fold(int, lambda a, x: a + "str", name="op_under_test"),
    lambda s: s.fold(lambda: 1 / 0, lambda a, x: a, name="op_under_test"),
    lambda s: s.map(lambda x: (x, x)).fold_keyed(int, lambda a, v: a[0], name="op_under_test"),
    lambda s: s.inspect(lambda x: [][x], name="op_under_test"),
])
def test_every_user_function_failure_names_its_operator(build):
    flow = hp.Flow("boom")
    build(flow.source("xs")).sink("out")
    with pytest.raises(hp.UserCodeError, match="op_under_test"):
        flow.run({"xs": [1]})
