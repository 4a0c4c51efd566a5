"""Generated loops (targets/loops.py): a chain of per-record Python operators runs as one
``for`` loop, and gives what the operators' own ``step`` gives, one after the other: the same
sinks on random programs, and the same error (operator, user's file:line) when user code or a
record fails."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings

import hydropy as hp
from hydropy.errors import InputError, UserCodeError
from hydropy.targets import local
from hydropy.targets.loops import find_regions, loop_source
from strategies import programs


def operator_by_operator(monkeypatch):
    """The local target with no loops: every operator's own ``step`` (the runtime ops)."""
    monkeypatch.setattr(local, "find_regions", lambda graph, nodes: [])


def run_both(flow, inputs, monkeypatch):
    looped = flow.run(inputs, tick_size=3)
    with monkeypatch.context() as m:
        operator_by_operator(m)
        stepped = flow.run(inputs, tick_size=3)
    return looped, stepped


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(programs())
def test_loops_give_the_sinks_of_the_operators_one_by_one(monkeypatch, program):
    note(str(program))
    looped, stepped = run_both(program.flow, program.inputs, monkeypatch)
    assert looped == stepped


def split(line):
    return line.split()


def word_pair(w):
    return (w, 1)


def add(total, n):
    return total + n


def word_count() -> hp.Flow:
    flow = hp.Flow("wc")
    words = flow.source("lines").flat_map(split, name="words")
    pairs = words.map(word_pair, name="pairs")
    pairs.fold_keyed(int, add, name="counts").sink("counts")
    words.filter(lambda w: w != "the", name="kept").count(name="n").sink("n")
    pairs.sink("pairs")
    return flow


def test_a_chain_with_branches_is_one_loop_that_collects_what_others_read():
    graph = word_count().graph()
    (region,) = find_regions(graph, graph.topo_order())
    assert sorted(n.name for n in region.nodes) == ["counts", "kept", "n", "pairs", "words"]
    assert [n.name for n in region.collected] == ["pairs"]  # a sink reads it; folds show values
    text, _ = loop_source(graph, region, "words_loop")
    assert text.count("for ") == 2 and ".step(" not in text
    compile(text, "<loop>", "exec")
    assert word_count().run({"lines": ["the cat the", "dog"]}) == {
        "counts": [("cat", 1), ("dog", 1), ("the", 2)], "n": [2],
        "pairs": [("the", 1), ("cat", 1), ("the", 1), ("dog", 1)]}


def fails_on_b(w):
    if w == "b":
        raise ValueError("no b")
    return (w, 1)


def not_iterable(line):
    return 7


def half_pair(w):
    return (w,) if w == "b" else (w, 1)


def list_key(w):
    return ([w], 1)


@pytest.mark.parametrize("fn, error, text", [
    (fails_on_b, UserCodeError, "map 'pairs' (tests/test_loops.py:"),
    (half_pair, InputError, "fold_keyed 'counts' (tests/test_loops.py:"),
    (list_key, InputError, "needs hashable keys, got ['a']"),
])
def test_errors_name_the_operator_and_line_as_its_own_step_does(monkeypatch, fn, error, text):
    flow = hp.Flow("bad")
    flow.source("lines").flat_map(split, name="words").map(fn, name="pairs") \
        .fold_keyed(int, add, name="counts").sink("counts")
    with pytest.raises(error) as looped:
        flow.run({"lines": ["a b"]})
    operator_by_operator(monkeypatch)
    with pytest.raises(error) as stepped:
        flow.run({"lines": ["a b"]})
    assert str(looped.value) == str(stepped.value)
    assert text in str(looped.value)
    assert looped.value.loc == stepped.value.loc


def test_a_flat_map_returning_no_iterable_is_named(monkeypatch):
    flow = hp.Flow("bad")
    flow.source("lines").flat_map(not_iterable, name="words").sink("words")
    with pytest.raises(UserCodeError, match="flat_map 'words'.*must return an iterable, returned 7"):
        flow.run({"lines": ["a"]})


def test_an_operator_nobody_reads_still_runs_in_the_loop(monkeypatch):
    """A filter whose records nothing reads (a lifted ``if ...: continue``) is still called on
    every record, as its own step would be."""
    flow = hp.Flow("dangling")
    words = flow.source("lines").flat_map(split, name="words")
    words.filter(lambda w: w.startswith("a"), name="unread")
    words.map(word_pair, name="pairs").sink("pairs")
    looped, stepped = run_both(flow, {"lines": ["a b", "c"]}, monkeypatch)
    assert looped == stepped == {"pairs": [("a", 1), ("b", 1), ("c", 1)]}
