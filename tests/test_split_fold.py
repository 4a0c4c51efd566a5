"""split_fold: a global fold becomes per-tick partials plus a final merge, only when its merge
is provably associative and commutative; then the fold's stage can be partitioned."""
from __future__ import annotations

import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import Max, RecordCount, SetUnion
from hydropy.loader import load_flow
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.split_fold import split_fold
from hydropy.targets.local import run


def add(total, x):
    return total + x


def zero():
    return 0


def weird(acc, x):
    return acc * 2 + x


def numbers_flow(kind):
    flow = hp.Flow(f"numbers_{kind}")
    xs = flow.source("xs", dtype="int64")
    folds = {
        "count": lambda: xs.count(name="agg"),
        "fold_operator_add": lambda: xs.fold(int, operator.add, name="agg"),
        "fold_def_add": lambda: xs.fold(zero, add, name="agg"),
        "fold_lambda_add": lambda: xs.fold(int, lambda a, b: b + a, name="agg"),
        "fold_max": lambda: xs.fold(lambda: -100, max, name="agg"),
        "reduce_min": lambda: xs.reduce(lambda a, b: min(a, b), name="agg"),
        "lattice_max": lambda: xs.lattice_fold(Max, name="agg"),
        "lattice_set": lambda: xs.lattice_fold(SetUnion, name="agg"),
    }
    agg = folds[kind]()
    agg.sink("out")
    return flow


ACCEPTED = ["count", "fold_operator_add", "fold_def_add", "fold_lambda_add", "fold_max",
            "reduce_min", "lattice_max", "lattice_set"]
TICKS = [{"xs": [3, 1, 4]}, {}, {"xs": [1, 5]}, {"xs": [9, 2, 6, 5]}]


@pytest.mark.parametrize("kind", ACCEPTED)
def test_split_then_partition_gives_the_single_node_value(kind):
    graph = numbers_flow(kind).graph()
    if kind.startswith("lattice"):  # a lattice can instead be held whole by every member
        whole = partition(graph, "main", 2)
        assert whole.by_name("xs").params["routing"] == "broadcast"
        assert run(whole, ticks=TICKS) == run(graph, ticks=TICKS)
    else:
        with pytest.raises(RewriteRefused, match="'agg'.*one global value.*split_fold"):
            partition(graph, "main", 2)
    split = split_fold(graph, "agg", to="total")
    rewritten = partition(split, "main", 3)
    assert rewritten.members == {"main": 3}
    assert rewritten.by_name("agg").location == "total"
    assert rewritten.by_name("agg_partial").kind.startswith("partial_")
    assert run(rewritten, ticks=TICKS) == run(graph, ticks=TICKS)
    assert run(rewritten, {}) == run(graph, {})  # no records: the fold's initial value (or none)


@given(st.lists(st.lists(st.integers(-50, 50), max_size=6), max_size=6))
@settings(max_examples=40, deadline=None)
def test_partials_sum_to_the_fold_for_any_tick_split(batches):
    graph = numbers_flow("fold_def_add").graph()
    ticks = [{"xs": b} for b in batches]
    assert run(split_fold(graph, "agg"), ticks=ticks) == run(graph, ticks=ticks)


def test_wordcount_total_refused_for_partition_until_split(repo_root):
    graph = decouple(load_flow(str(repo_root / "examples" / "wordcount.py")).graph(),
                     ["count_per_word"], "agg")
    with pytest.raises(RewriteRefused, match=r"wordcount.py:21: count 'total_words' keeps one "
                                             r"global value.*split_fold"):
        partition(graph, "main", 2)
    before = graph.copy()
    split = split_fold(graph, "total_words", to="total")
    assert graph.same_as(before)  # the argument is never mutated
    g = partition(partition(split, "main", 2), "agg", 2)
    assert g.members == {"main": 2, "agg": 2}
    assert g.by_name("total_words").kind == "fold" and g.by_name("total_words").location == "total"
    lines = {"lines": ["a b a", "c a b", "d"]}
    assert run(g, lines) == run(graph, lines) == {
        "counts": [("a", 3), ("b", 2), ("c", 1), ("d", 1)], "total": [7]}


@pytest.mark.parametrize("build, words", [
    (lambda xs: xs.fold(int, weird, name="agg"), ["weird", "cannot prove", "associative"]),
    (lambda xs: xs.fold(str, add, name="agg"), ["init str returns ''", "not the integer 0"]),
    (lambda xs: xs.fold(lambda: 0.0, add, name="agg"), ["returns 0.0", "floats round"]),
    (lambda xs: xs.reduce(add, name="agg"), ["cannot see the type of its records", 'dtype="int64"']),
    (lambda xs: xs.fold(int, add, name="agg"), ["cannot see the type", "floats round differently"]),
    (lambda xs: xs.map(float).fold(int, add, name="agg"), ["cannot see the type"]),
    (lambda xs: xs.reduce(max, name="agg"), ["max(nan, 1) is nan"]),
    (lambda xs: xs.map(lambda x: (x, 1)).fold_keyed(int, add, name="agg"), ["per key"]),
    (lambda xs: xs.unique(name="agg"), ["not a global fold"]),
    (lambda xs: xs.lattice_fold(RecordCount, name="agg"), ["RecordCount", "its own update"]),
])
def test_split_refused_when_merge_is_not_provably_commutative(build, words):
    flow = hp.Flow("refused")
    build(flow.source("xs")).sink("out")
    with pytest.raises(RewriteRefused) as err:
        split_fold(flow.graph(), "agg")
    message = str(err.value)
    assert "'agg'" in message and "test_split_fold.py:" in message
    for w in words:
        assert w in message


def test_split_refuses_unknown_operator_and_own_stage():
    graph = numbers_flow("count").graph()
    with pytest.raises(RewriteRefused, match="no operator named 'nope'; global folds are: agg"):
        split_fold(graph, "nope")
    with pytest.raises(RewriteRefused, match="stage of its own"):
        split_fold(graph, "agg", to="main")


def test_readers_of_the_fold_move_with_the_final_merge():
    flow = hp.Flow("readers")
    total = flow.source("xs", dtype="int64").fold(int, add, name="total")
    total.map(lambda t: t * 10, name="scaled").sink("scaled")
    graph = flow.graph()
    g = split_fold(graph, "total", to="merge")
    assert g.by_name("scaled").location == "merge"
    assert run(g, ticks=TICKS) == run(graph, ticks=TICKS) == {"scaled": [360]}


def test_plan_refusal_and_acceptance_through_the_cli(repo_root, tmp_path, capsys, monkeypatch):
    from hydropy.cli import main
    monkeypatch.chdir(repo_root)
    refused = tmp_path / "refused.yaml"
    refused.write_text("steps:\n  - decouple: {operators: [count_per_word], to: agg}\n"
                       "  - partition: {stage: main, n: 2}\n")
    assert main(["run", "examples/wordcount.py", "--inputs", "examples/wordcount.yaml",
                 "--plan", str(refused)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "refused.yaml:3: plan step 'partition' refused" in err and "count 'total_words'" in err
    assert main(["run", "examples/wordcount.py", "--inputs", "examples/wordcount.yaml", "--check",
                 "--plan", "examples/plans/wordcount_partitioned.yaml"]) == 0
    assert "check: same sinks as the single-node program" in capsys.readouterr().out


def test_wordcount_partitioned_design_point_snapshot(repo_root, snapshot):
    """Golden IR after the plan: tests/snapshots/ir/wordcount_partitioned.txt."""
    from hydropy.ir import to_text
    from hydropy.targets.compile import design_point
    g = design_point(load_flow(str(repo_root / "examples" / "wordcount.py")).graph(),
                     str(repo_root / "examples" / "plans" / "wordcount_partitioned.yaml"))
    snapshot.assert_match(to_text(g), "ir/wordcount_partitioned.txt")


def test_a_stage_of_partials_can_be_replicated(repo_root):
    """Partials keep nothing across ticks: each batch, served by any one replica, is counted once."""
    from hydropy.passes.replicate import replicate
    graph = decouple(load_flow(str(repo_root / "examples" / "wordcount.py")).graph(),
                     ["count_per_word"], "agg")
    g = replicate(split_fold(graph, "total_words", to="total"), "main", 3)
    assert g.by_name("lines").params["routing"] == "any"
    ticks = [{"lines": ["a b", "c"]}, {"lines": ["a"]}]
    assert run(g, ticks=ticks) == run(graph, ticks=ticks)
