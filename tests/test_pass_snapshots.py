"""Golden IR after decouple, replicate, split_fold and combine on example design points: a change in
what a rewrite produces (stages, channels, routing, collections) shows up as a reviewed diff
(`pytest --snapshot-update`)."""
from __future__ import annotations

import pytest

from hydropy import ir
from hydropy.loader import load_flow
from hydropy.passes.plan import apply_plan, load_plan


@pytest.mark.parametrize("example, plan, step", [
    ("wordcount", "wordcount_2stage", "decouple"),
    ("paxos_lite", "paxos_lite_decoupled", "decouple"),
    ("kvstore", "kvstore_replicated", "replicate"),
    ("crdts.py:flow", "crdts_replicated", "replicate"),
    ("wordcount", "wordcount_partitioned", "split_fold"),
    ("wordcount", "wordcount_combined", "combine"),
])
def test_ir_after_the_pass_snapshot(repo_root, snapshot, example, plan, step):
    program = example if ".py" in example else f"{example}.py"
    flow = load_flow(str(repo_root / "examples" / program))
    steps = load_plan(str(repo_root / "examples" / "plans" / f"{plan}.yaml"))
    history = apply_plan(flow.graph(), steps)
    after = [graph for done, graph in history if done.kind == step][-1]
    snapshot.assert_match(ir.to_text(after), f"passes/{step}/{plan}.txt")
