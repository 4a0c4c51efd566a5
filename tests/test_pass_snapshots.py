"""Golden IR after every plan step (one table, one directory per step under
tests/snapshots/passes/): a change in what a rewrite produces (stages, channels, routing,
collections, lattices) shows up as a reviewed diff (`pytest --snapshot-update`)."""
from __future__ import annotations

import pytest

from hydropy import ir
from hydropy.loader import load_flow
from hydropy.passes.plan import STEP_KINDS, apply_plan, load_plan, parse_plan

SESSIONS = "tests/programs/sessions.py"
CART = "examples/shopping_cart_indexed.py"

#: (program, plan: an examples/plans name or the steps' YAML, the step shown, golden file name)
CASES = [
    ("examples/wordcount.py", "wordcount_2stage", "decouple", "wordcount_2stage"),
    ("examples/paxos_lite.py", "paxos_lite_decoupled", "decouple", "paxos_lite_decoupled"),
    ("examples/kvstore.py", "kvstore_replicated", "replicate", "kvstore_replicated"),
    ("examples/crdts.py:flow", "crdts_replicated", "replicate", "crdts_replicated"),
    ("examples/wordcount.py", "wordcount_partitioned", "split_fold", "wordcount_partitioned"),
    ("examples/wordcount.py", "wordcount_partitioned", "partition", "wordcount_partitioned"),
    ("examples/wordcount.py", "wordcount_combined", "combine", "wordcount_combined"),
    (SESSIONS, "  - fuse: {operators: [strip, well_formed, split]}\n", "fuse", "sessions"),
    ("examples/voting.py", "  - fuse: {operators: [all_voted, reply]}\n", "fuse", "voting"),
    (SESSIONS, "  - lattice: {operator: log, as: sealed_set, index: [0, 0]}\n"
               "  - push_fold: {operator: log}\n", "push_fold", "sessions"),
    (CART, "  - lattice: {operator: cart, as: sealed_set, index: [0, 0]}\n"
           "  - push_fold: {operator: cart}\n", "push_fold", "shopping_cart_indexed"),
    (CART, "  - decouple: {operators: [tag_with_class, cart], to: server}\n"
           "  - reorder: {channel: requests_to_server}\n", "reorder", "shopping_cart_indexed"),
    (SESSIONS, "  - lattice: {operator: tags_per_user, as: set_union}\n"
               "  - decouple: {operators: [tags_per_user], to: agg}\n"
               "  - reorder: {channel: split_to_agg, duplicates: true}\n", "reorder", "sessions"),
    (CART, "  - lattice: {operator: cart, as: sealed_set, index: [0, 0]}\n", "lattice",
     "shopping_cart_indexed"),
    (SESSIONS, "  - lattice: {operator: tags_per_user, as: set_union}\n"
               "  - lattice: {operator: log, as: bounded_prefix, index: [0, 0]}\n", "lattice", "sessions"),
]


@pytest.mark.parametrize("program, plan, step, name", CASES,
                         ids=[f"{step}-{name}" for _, _, step, name in CASES])
def test_ir_after_the_pass_snapshot(repo_root, snapshot, program, plan, step, name):
    flow = load_flow(str(repo_root / program))
    steps = parse_plan("steps:\n" + plan) if "\n" in plan else \
        load_plan(str(repo_root / "examples" / "plans" / f"{plan}.yaml"))
    history = apply_plan(flow.graph(), steps)
    after = [graph for done, graph in history if done.kind == step][-1]
    snapshot.assert_match(ir.to_text(after), f"passes/{step}/{name}.txt")


def test_every_plan_step_has_a_golden_file():
    """A new rewrite registered as a plan step gets its golden IR here."""
    assert {step for _, _, step, _ in CASES} == set(STEP_KINDS)


#: the kernel plan (passes/kernel_plan.py), the pass the targets apply themselves: which
#: operators fuse into which kernel (chains, keyed folds, joins), or why one stays Python
KERNEL_CASES = [("examples/sensor_stats.py", "sensor_stats"),
                ("benchmarks/programs/keyed_join.py", "keyed_join"),
                ("tests/programs/sessions.py", "sessions")]


@pytest.mark.parametrize("program, name", KERNEL_CASES, ids=[name for _, name in KERNEL_CASES])
def test_kernel_plan_snapshot(repo_root, snapshot, program, name):
    from hydropy.passes.kernel_plan import report
    snapshot.assert_match(report(load_flow(str(repo_root / program)).graph()),
                          f"passes/kernel_plan/{name}.txt")
