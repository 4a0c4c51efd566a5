"""combine: a keyed fold's values pre-aggregated per key and tick before its channel, only when
its merge is provably associative and commutative on its values; the sinks stay the
single-node program's for any tick split, and the channel carries one record per key."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.passes import combine as combine_module
from hydropy.passes.combine import combine
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.targets.local import run
from hydropy.targets.sim import check_run


def add(total, n):
    return total + n


def weird(acc, v):
    return acc * 2 + v


def flow_of(map_fn, fn=add, kind="fold_keyed") -> hp.Flow:
    flow = hp.Flow("words")
    ones = flow.source("words").map(map_fn, name="ones")
    fold = ones.fold_keyed(int, fn, name="per_word") if kind == "fold_keyed" else \
        ones.reduce_keyed(fn, name="per_word")
    fold.sink("counts")
    return flow


def pairs(w):
    return (w, 1)


def float_pairs(w):
    return (w, 0.1)


def design(flow: hp.Flow, members: int = 2):
    graph = decouple(flow.graph(), ["per_word"], "agg")
    return graph, partition(partition(combine(graph, "per_word"), "main", members), "agg", members)


TICKS = [{"words": ["a", "b", "a", "c", "a"]}, {"words": []}, {"words": ["b", "b", "d"]}]


@pytest.mark.parametrize("kind", ["fold_keyed", "reduce_keyed"])
def test_combined_word_count_gives_the_program_sinks(kind):
    graph, combined = design(flow_of(pairs, kind=kind))
    partial = combined.by_name("per_word_combined")
    assert partial.kind == f"partial_{kind}" and partial.location == "main"
    channel = combined.consumers(partial.id)[0]
    assert channel.kind == "network" and channel.params["routing"] == "hash"
    assert run(combined, ticks=TICKS) == run(graph, ticks=TICKS)
    for seed in range(5):
        assert check_run(graph, combined, {"words": TICKS[0]["words"] + TICKS[2]["words"]}, seed) is None


def test_the_channel_carries_one_record_per_key_and_tick():
    from hydropy.runtime.ops import PartialFoldKeyed
    op = PartialFoldKeyed(int, add)
    assert op.step([("a", 1), ("b", 1), ("a", 1)]) == [("a", 2), ("b", 1)]
    assert op.step([("a", 1)]) == [("a", 1)]  # nothing kept across ticks


@given(st.lists(st.lists(st.sampled_from("abcd"), max_size=6), max_size=5))
@settings(max_examples=30, deadline=None)
def test_any_tick_split_gives_the_program_sinks(batches):
    graph, combined = design(flow_of(pairs), members=3)
    ticks = [{"words": b} for b in batches]
    assert run(combined, ticks=ticks) == run(graph, ticks=ticks)


@pytest.mark.parametrize("map_fn, fn, why", [
    (float_pairs, add, "float64"),                 # float + rounds differently when regrouped
    (pairs, weird, "cannot prove fn weird"),       # not associative
    (lambda w: (w, w), add, "cannot see the type"),  # str + concatenates in order
])
def test_refused_where_grouping_changes_the_value(map_fn, fn, why):
    graph = decouple(flow_of(map_fn, fn).graph(), ["per_word"], "agg")
    with pytest.raises(RewriteRefused, match=why):
        combine(graph, "per_word")


def test_refused_without_a_channel_or_on_a_shared_one():
    flow = flow_of(pairs)
    with pytest.raises(RewriteRefused, match="reads no channel"):
        combine(flow.graph(), "per_word")
    flow = hp.Flow("shared")
    ones = flow.source("words").map(pairs, name="ones")
    ones.fold_keyed(int, add, name="per_word").sink("counts")
    ones.filter(lambda kv: kv[0] != "a", name="not_a").sink("others")
    graph = decouple(flow.graph(), ["per_word", "not_a"], "agg")
    with pytest.raises(RewriteRefused, match="also carries records for filter 'not_a'"):
        combine(graph, "per_word")
    with pytest.raises(RewriteRefused, match="not a keyed fold"):
        combine(graph, "ones")


def test_combine_without_its_algebra_check_is_caught(monkeypatch):
    """The mutant: combine's precondition removed. A non-associative fold then gives other
    sinks than the program, and the simulator sees it."""
    flow = flow_of(pairs, weird)
    graph = decouple(flow.graph(), ["per_word"], "agg")
    with pytest.raises(RewriteRefused):
        combine(graph, "per_word")
    monkeypatch.setattr(combine_module, "why_not_commutative", lambda node, element=None: "")
    mutant = combine(graph, "per_word")
    assert run(mutant, ticks=TICKS) != run(graph, ticks=TICKS)
    words = {"words": TICKS[0]["words"] + TICKS[2]["words"]}
    assert any(check_run(graph, mutant, words, seed) is not None for seed in range(5))
