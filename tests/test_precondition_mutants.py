"""Preconditions not covered by tests/test_mutants.py have teeth too: with a check removed
(monkeypatched), the design point the pass then accepts either computes something the
single-node program cannot, which the simulator (``hydropy check``'s machinery) finds, or is
not a valid graph, which ``apply_plan``'s verification reports as hydropy's own bug
(``PassFailed``). Each program is first refused by the real pass, so a failure can only come
from the mutant."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy.errors import HydropyError, PassFailed
from hydropy.lattices import Max
from hydropy.passes import fuse as fuse_module
from hydropy.passes import replicate as replicate_module
from hydropy.passes.pipeline import design_point
from hydropy.passes.plan import parse_plan
from hydropy.targets.sim import check_run

PLAN = parse_plan("steps:\n  - replicate: {stage: main, n: 2}\n")
SEEDS = range(6)


def written_and_asked() -> hp.Flow:
    """Each put raises its key's maximum and asks for the maximum so far."""
    flow = hp.Flow("written_and_asked")
    puts = flow.source("puts")
    best = puts.lattice_fold_keyed(Max, name="best")
    puts.lookup(best, name="answer").sink("answers")
    return flow


PUTS = {"puts": [("a", 1), ("b", 4), ("a", 3), ("c", 2), ("b", 5)]}


def first_mismatch(flow: hp.Flow):
    graph = flow.graph()
    design = design_point(graph, PLAN)
    return next((m for seed in SEEDS if (m := check_run(graph, design, PUTS, seed)) is not None), None)


def test_the_real_pass_refuses():
    with pytest.raises(HydropyError, match="both writes the state and asks"):
        design_point(written_and_asked().graph(), PLAN)


def test_a_write_that_also_asks_a_lookup_is_caught_without_its_check(monkeypatch):
    monkeypatch.setattr(replicate_module, "check_writes_only_write", lambda *args: None)
    mismatch = first_mismatch(written_and_asked())
    assert mismatch is not None and mismatch.sink == "answers"  # every replica answers each put


# -- fuse: a chain whose links are not each other's only reader ----------------------------

def inc(x):
    return x + 1


def even(x):
    return x % 2 == 0


def also_read() -> hp.Flow:
    """'a' feeds 'b' and a sink of its own."""
    flow = hp.Flow("also_read")
    a = flow.source("xs").map(inc, name="a")
    a.sink("a_out")
    a.filter(even, name="b").sink("b_out")
    return flow


def not_adjacent() -> hp.Flow:
    """'c' reads 'b', which reads 'a': [a, c] is not a chain."""
    flow = hp.Flow("not_adjacent")
    flow.source("xs").map(inc, name="a").filter(even, name="b").map(inc, name="c").sink("out")
    return flow


@pytest.mark.parametrize("build, why", [(also_read, "also feeds"), (not_adjacent, "does not read 'a' alone")])
def test_fuse_without_its_link_check_is_caught_by_verification(monkeypatch, build, why):
    plan = parse_plan(f"steps:\n  - fuse: {{operators: [a, {'b' if build is also_read else 'c'}]}}\n")
    with pytest.raises(HydropyError, match=why):
        design_point(build().graph(), plan)
    monkeypatch.setattr(fuse_module, "check_link", lambda graph, prev, node: None)
    with pytest.raises(PassFailed, match="produced an invalid graph"):
        design_point(build().graph(), plan)
