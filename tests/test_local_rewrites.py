"""Local rewrites: fuse (chains of stateless operators) and push_fold (a keyed fold through a
join), each with its precondition; the rewritten programs show the single-node sinks on the
local target and in emitted stage code (issue 4, local rewrites)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hydropy import InputError, RewriteRefused
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.fuse import fuse
from hydropy.passes.lattice import to_lattice
from hydropy.passes.lineage import node_lineage
from hydropy.passes.plan import apply_plan, parse_plan
from hydropy.passes.push_fold import push_fold
from hydropy.targets.local import run

SESSIONS_INPUTS = load_inputs(str(Path(__file__).resolve().parent / "programs" / "sessions.yaml"))
VOTING_INPUTS = {"requests": [("c1", 1, "x"), ("c2", 7, "y"), ("c1", 2, "z")]}


@pytest.fixture
def sessions(repo_root):
    return load_flow(str(repo_root / "tests" / "programs" / "sessions.py"))


def load(repo_root, example):
    return load_flow(str(repo_root / "examples" / f"{example}.py"))


# -- fuse -------------------------------------------------------------------------------------

def test_fuse_makes_one_node_named_after_the_last_and_keeps_the_sinks(sessions):
    graph = sessions.graph()
    after = fuse(graph, ["strip", "well_formed", "split"])
    fused = after.by_name("split")
    assert fused.kind == "fused" and [k for k, _ in fused.params["steps"]] == ["map", "filter", "map"]
    assert after.by_name("strip") is None and graph.by_name("strip").kind == "map"  # pure
    assert len(after) == len(graph) - 2
    assert run(after, SESSIONS_INPUTS) == sessions.run(SESSIONS_INPUTS)


def test_fusing_a_fused_chain_flattens_it(repo_root):
    flow = load(repo_root, "voting")
    once = fuse(flow.graph(), ["all_voted", "reply"])
    assert [k for k, _ in once.by_name("reply").params["steps"]] == ["filter", "map"]
    assert run(once, VOTING_INPUTS) == flow.run(VOTING_INPUTS)


@pytest.mark.parametrize("example, chain, match", [
    ("wordcount", ["words", "ones"], r"flat_map 'words' also feeds 'total_words'; fusing would hide"),
    ("wordcount", ["ones", "count_per_word"], r"fold_keyed 'count_per_word' keeps state"),
    ("voting", ["reply", "all_voted"], r"filter 'all_voted' does not read 'reply' alone"),
    ("voting", ["vote"], r"at least two operators"),
    ("voting", ["read_tally", "all_voted"], r"snapshot 'read_tally' is not a stateless operator"),
])
def test_fuse_refusals(repo_root, example, chain, match):
    with pytest.raises(RewriteRefused, match=match):
        fuse(load(repo_root, example).graph(), chain)


def test_fuse_refuses_a_chain_across_stages(repo_root):
    flow = load(repo_root, "voting")
    steps = parse_plan("steps:\n  - decouple: {operators: [reply, reply_once], to: out}\n")
    split = apply_plan(flow.graph(), steps)[-1][1]
    with pytest.raises(RewriteRefused, match=r"map 'reply' runs in stage 'out', 'all_voted' in 'main'"):
        fuse(split, ["all_voted", "reply"])


def test_a_fused_chain_keeps_its_keys_readable_for_partitioning(tmp_path):
    path = tmp_path / "kw.py"
    path.write_text(textwrap.dedent('''
        import hydropy as hp

        flow = hp.Flow("kw")
        flow.source("scores").map(lambda r: (r[1], r[0]), name="by_player") \\
            .filter(lambda kv: kv[1] > 0, name="positive").fold_keyed(int, max, name="best").sink("best")
    '''))
    flow = load_flow(str(path))
    plan = ("steps:\n  - fuse: {operators: [by_player, positive]}\n"
            "  - decouple: {operators: [positive, best], to: agg}\n  - partition: {stage: agg, n: 2}\n")
    graph = apply_plan(flow.graph(), parse_plan(plan))[-1][1]
    assert str(node_lineage(graph.by_name("positive"))) == "(x[1], x[0])"
    channel = next(n for n in graph.nodes() if n.kind == "network")
    assert channel.params["routing"] == "hash" and channel.params["key"] == (1,)
    inputs = {"scores": [(3, "a"), (1, "b"), (5, "a"), (-1, "c")]}
    assert run(graph, inputs) == flow.run(inputs)


# -- push_fold --------------------------------------------------------------------------------

def test_push_fold_folds_before_the_join_and_keeps_the_sinks(sessions):
    sealed = to_lattice(sessions.graph(), "log", "sealed_set", [0, 0])
    after = push_fold(sealed, "log")
    log, table = after.by_name("log"), after.by_name("with_owner")
    assert after.node(log.inputs[0]).name == "events"
    assert table.kind == "join_table" and table.inputs == (log.id, after.by_name("owners").id)
    assert sealed.by_name("with_owner").kind == "join"  # pure
    assert run(after, SESSIONS_INPUTS) == sessions.run(SESSIONS_INPUTS)
    late_owner = {"events": SESSIONS_INPUTS["events"], "owners": []}
    ticks = [late_owner, {"owners": SESSIONS_INPUTS["owners"]}]
    assert run(after, ticks=ticks) == run(sessions.graph(), ticks=ticks)


def test_push_fold_checks_at_run_time_that_the_other_side_is_a_table(sessions):
    after = push_fold(to_lattice(sessions.graph(), "log", "sealed_set", [0, 0]), "log")
    two_owners = dict(SESSIONS_INPUTS, owners=[("s1", "ann"), ("s1", "cy")])
    with pytest.raises(InputError, match=r"join_table 'with_owner'.*one table value per key, got "
                                         r"'ann' and 'cy' for 's1'"):
        run(after, two_owners)


def test_push_fold_refusals(sessions, repo_root):
    graph = sessions.graph()
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'log' is a plain fold: its fn needs the "
                                             r"joined value at every step"):
        push_fold(graph, "log")
    with pytest.raises(RewriteRefused, match=r"'tags_per_user' is not a keyed fold of a sequence lattice"):
        push_fold(to_lattice(graph, "tags_per_user", "set_union"), "tags_per_user")
    sealed = to_lattice(graph, "log", "sealed_set", [0, 0])
    with pytest.raises(RewriteRefused, match=r"already pushed"):
        push_fold(push_fold(sealed, "log"), "log")
    voting = load(repo_root, "voting").graph()
    with pytest.raises(RewriteRefused, match=r"no operator named 'nope'"):
        push_fold(voting, "nope")


JOIN_THEN_FOLD = """
import hydropy as hp

def step(acc, r):
    return acc + (r,)

flow = hp.Flow("t")
joined = flow.source("a").join(flow.source("b"), name="j")
joined.fold_keyed(tuple, step, name="f").sink("s")
"""


@pytest.mark.parametrize("extra, index, message", [
    ("", [1], r"the position \[1\] is not in the join's left side"),
    ("joined.sink('pairs')\n", [0], r"t.py:7: join 'j' also feeds sink 'sink_pairs'"),
])
def test_push_fold_refuses_a_table_side_position_or_other_readers_of_the_join(
        tmp_path, extra, index, message):
    path = tmp_path / "t.py"
    path.write_text(JOIN_THEN_FOLD.lstrip("\n") + extra)
    graph = to_lattice(load_flow(str(path)).graph(), "f", "sealed_set", index)
    with pytest.raises(RewriteRefused, match=message):
        push_fold(graph, "f")


REWRITTEN = """steps:
  - fuse: {operators: [strip, well_formed, split]}
  - lattice: {operator: log, as: sealed_set, index: [0, 0]}
  - push_fold: {operator: log}
  - decouple: {operators: [log, tags_per_user], to: agg}
"""


def test_fused_and_pushed_stages_emit_readable_code_and_run_on_ray(ray_session, repo_root, tmp_path,
                                                                   sessions, snapshot):
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    plan = tmp_path / "plan.yaml"
    plan.write_text(REWRITTEN)
    out = tmp_path / "out"
    compile_flow(sessions, str(out), plan=str(plan), program_arg="tests/programs/sessions.py")
    for stage in ("main", "agg"):
        text = (out / "stages" / f"{stage}.py").read_text()
        assert str(tmp_path) not in text and str(repo_root) not in text
        snapshot.assert_match(text, f"emit/sessions_rewritten/stages/{stage}.py")
    assert run_compiled(str(out), SESSIONS_INPUTS, tick_size=2) == sessions.run(SESSIONS_INPUTS)


@pytest.mark.parametrize("moved, channel, match", [
    ("count_per_word", "ones_to_agg", r"fold_keyed 'count_per_word' is not idempotent"),
    ("ones", "words_to_agg", r"fold_keyed 'count_per_word' is not idempotent"),
])
def test_a_duplicating_channel_is_refused_before_state_that_counts_repeats(repo_root, moved, channel, match):
    flow = load(repo_root, "wordcount")
    moved_graph = apply_plan(flow.graph(), parse_plan(
        f"steps:\n  - decouple: {{operators: [{moved}, count_per_word], to: agg}}\n"))[-1][1]
    with pytest.raises(RewriteRefused, match=match + r".*may deliver a record twice"):
        apply_plan(moved_graph, parse_plan(f"steps:\n  - reorder: {{channel: {channel}, duplicates: true}}\n"))
    reordered = apply_plan(moved_graph, parse_plan(f"steps:\n  - reorder: {{channel: {channel}}}\n"))
    assert run(reordered[-1][1], {"lines": ["a b a"]}) == flow.run({"lines": ["a b a"]})


def test_a_step_that_breaks_the_graph_is_reported_as_hydropys_bug(monkeypatch):
    """apply_plan verifies after every step: a pass returning an invalid graph is caught there,
    named with its plan line, instead of failing later inside a target."""
    from hydropy.errors import PassFailed
    from hydropy.passes import plan as plan_mod
    from hydropy.passes.pipeline import design_point

    def broken_decouple(graph, operators, to):
        g = graph.copy()
        node = g.by_name(operators[0])
        g.nx.remove_edge(node.inputs[0], node.id, key=0)  # edges no longer match inputs
        return g

    kind = plan_mod.STEP_KINDS["decouple"]
    monkeypatch.setitem(plan_mod.STEP_KINDS, "decouple", kind.__class__(
        "decouple", broken_decouple, kind.required, kind.optional))
    from hydropy import Flow
    flow = Flow("broken")
    flow.source("xs").map(abs, name="m").sink("out")
    steps = [{"decouple": {"operators": ["m"], "to": "b"}}]
    with pytest.raises(PassFailed, match="plan step 'decouple' produced an invalid graph"):
        design_point(flow.graph(), steps)
    # with verification off (for speed) the same plan goes through unchecked
    design_point(flow.graph(), steps, verify_steps=False)
