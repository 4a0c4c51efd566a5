"""Partitioned and replicated design points on Ray give the single-node program's sinks.

Each stage member is its own actor; records reach members by hash (partition), broadcast
(writes to replicas) or any one member (reads of replicas). Inputs larger than a tick
travel in several rounds, one per tick (``split_ticks``); a program with a point-in-time
read (the key-value store's get) is compared with the single-node run of the same tick
size. One Ray per test session.
"""
from __future__ import annotations

import pytest

from hydropy.loader import load_flow, load_inputs
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import canonical, run
from hydropy.targets.ray import run_compiled

DESIGN_POINTS = [("wordcount", "partitioned", {"main": 2, "agg": 2}),
                 ("kvstore", "partitioned", {"kv": 2}),
                 ("kvstore", "replicated", {"kv": 3}),
                 ("voting", "partitioned", {"voters": 2, "collector": 3})]


def compiled(repo_root, tmp_path, example, plan):
    flow = load_flow(str(repo_root / "examples" / f"{example}.py"))
    graph = compile_flow(flow, str(tmp_path / "out"),
                         plan=str(repo_root / "examples" / "plans" / f"{example}_{plan}.yaml"))
    return flow, graph


@pytest.mark.parametrize("example, plan, members", DESIGN_POINTS)
def test_members_on_ray_match_single_node(ray_session, repo_root, tmp_path, example, plan, members):
    flow, graph = compiled(repo_root, tmp_path, example, plan)
    assert graph.members == members
    inputs = load_inputs(str(repo_root / "examples" / f"{example}.yaml"))
    got = run_compiled(str(tmp_path / "out"), inputs)
    expected = flow.run(inputs)
    assert canonical(graph, got) == canonical(graph, expected)
    assert any(expected.values())


@pytest.mark.parametrize("plan", ["partitioned", "replicated"])
def test_kvstore_members_answer_gets_as_the_single_node_store_over_many_rounds(
        ray_session, repo_root, tmp_path, plan):
    """Every get is answered from the registers as they stand after the puts of its round:
    on a shard holding its key, or on any replica (each replica got every put by then)."""
    flow, graph = compiled(repo_root, tmp_path, "kvstore", plan)
    assert not graph.by_name("format_answer").coll.ordered  # members interleave their answers
    keys = [f"k{i % 23}" for i in range(600)]
    inputs = {"puts": [(k, (i % 37, f"v{i}")) for i, k in enumerate(keys)],
              "gets": [(f"k{i % 29}", 1000 + i) for i in range(450)]}
    got = run_compiled(str(tmp_path / "out"), inputs, tick_size=100, max_inflight=2)
    expected = run(flow.graph(), inputs, tick_size=100)
    assert canonical(graph, got) == canonical(graph, expected)
    answered = [a for a in expected["get_results"] if a[2] is not None]
    assert len(answered) > 300 and len({a[1] for a in answered}) == 23


def test_partitioned_voting_and_wordcount_over_many_rounds(ray_session, repo_root, tmp_path):
    flow, _ = compiled(repo_root, tmp_path / "v", "voting", "partitioned")
    requests = [(f"c{i % 7}", i, "op") for i in range(500)]
    got = run_compiled(str(tmp_path / "v" / "out"), {"requests": requests}, tick_size=64)
    assert sorted(got["replies"]) == sorted((c, i) for c, i, _ in requests)

    flow, _ = compiled(repo_root, tmp_path / "w", "wordcount", "partitioned")
    lines = [f"w{i % 31} w{i % 5} shared" for i in range(900)]
    got = run_compiled(str(tmp_path / "w" / "out"), {"lines": lines}, tick_size=128)
    assert got == flow.run({"lines": lines})
    assert got["total"] == [2700]


def test_a_snapshot_sent_across_stages_ticks_as_often_as_locally(ray_session, tmp_path):
    """A snapshot emits every tick: Ray runs a round without input only while a cycle holds
    records, as the local target does (so it settles, and shows no extra snapshot)."""
    import textwrap
    program = tmp_path / "peek.py"
    program.write_text(textwrap.dedent('''
        import hydropy as hp

        def seen(n):
            return n

        flow = hp.Flow("peek")
        flow.source("xs").count(name="n").snapshot(name="peek").map(seen, name="seen").sink("seen")
    '''))
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [seen], to: reader}\n")
    flow = load_flow(str(program))
    compile_flow(flow, str(tmp_path / "out"), plan=str(plan))
    got = run_compiled(str(tmp_path / "out"), {"xs": [1, 2, 3, 4, 5]}, tick_size=2)
    assert got == run(flow.graph(), {"xs": [1, 2, 3, 4, 5]}, tick_size=2) == {"seen": [2, 4, 5]}
