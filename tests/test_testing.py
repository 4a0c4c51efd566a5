"""``hydropy.testing`` (issue 5, part 5): helpers for users' own test suites."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy.loader import load_flow
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.testing import assert_equivalent, ints, pairs, words

pytest_plugins = ["pytester"]


def test_assert_equivalent_takes_a_plan_file_or_steps(repo_root):
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    lines = words(30, seed=1)
    plan = str(repo_root / "examples" / "plans" / "wordcount_3stage.yaml")
    assert assert_equivalent(flow, plan, {"lines": lines}, seeds=range(15)) == 15
    steps = [{"decouple": {"operators": ["count_per_word"], "to": "agg"}},
             {"partition": {"stage": "agg", "n": 2}}]
    assert assert_equivalent(flow, steps, {"lines": lines}, seeds=range(15)) == 15


def test_assert_equivalent_fails_with_the_difference_and_seed():
    flow = hp.Flow("sums")
    flow.source("kv").fold_keyed(int, lambda a, b: a + b, name="total").sink("totals")
    design = partition(decouple(flow.graph(), ["total"], "agg"), "agg", 2)
    net = next(n for n in design.nodes() if n.kind == "network")
    design.replace(net.copy(params=dict(net.params, routing="round_robin", key=None)))
    with pytest.raises(AssertionError, match=r"(?s)sink 'totals' differs.*replay with seeds=\[\d+\]"):
        assert_equivalent(flow, design, {"kv": pairs(20)}, seeds=range(10))


def test_a_refused_step_is_the_passes_error():
    flow = hp.Flow("c")
    flow.source("xs").count(name="n").sink("n")
    with pytest.raises(hp.RewriteRefused, match="keeps one global value"):
        assert_equivalent(flow, [{"partition": {"stage": "main", "n": 2}}], {"xs": ints(5)})


def test_sample_inputs_are_reproducible_and_shaped():
    assert ints(10, 1, 3, seed=4) == ints(10, 1, 3, seed=4)
    assert all(1 <= x <= 3 for x in ints(50, 1, 3))
    assert all(k in "ab" and v in (1, 2) for k, v in pairs(30, keys="ab", values=(1, 2)))
    assert pairs(5, seed=1) != pairs(5, seed=2)
    assert all(1 <= len(line.split()) <= 2 for line in words(20, per_line=2))


def test_ray_session_fixture_starts_ray_once(ray_session, pytester):
    """Inside this suite's own Ray session the user's fixture reuses it (one Ray per session)."""
    pytester.makepyfile('''
        from hydropy.testing import ray_session  # noqa: F401

        def test_one(ray_session):
            assert ray_session.is_initialized()

        def test_two(ray_session):
            assert ray_session.get(ray_session.put(41)) + 1 == 42
    ''')
    pytester.runpytest_inprocess("-q").assert_outcomes(passed=2)
    assert ray_session.is_initialized()  # the inner session did not stop what it did not start
