"""A user function that raises in a simulated run is an outcome the checker compares: explained
when the single-node program raises alike on a delivery that explains the run (the lifted
revenue's lookup answered before its price arrived), a difference otherwise."""
from __future__ import annotations

from pathlib import Path

from hydropy.errors import UserCodeError
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.pipeline import design_point
from hydropy.targets import sim as _sim  # noqa: F401  (criterion imports it first)
from hydropy.targets import criterion
from hydropy.targets.sim import simulate

PLAIN = Path(__file__).resolve().parent.parent / "examples" / "plain"
DECOUPLED = [{"decouple": {"operators": ["prices"], "to": "stage2"}}]


def _revenue():
    flow = load_flow(str(PLAIN / "shop.py") + ":revenue")
    return flow.graph(), load_inputs(str(PLAIN / "revenue.yaml"))


def _failing_seed(graph, design, inputs) -> int:
    return next(s for s in range(50) if simulate(design, inputs, s).error is not None)


def test_lookup_before_its_table_is_explained_by_the_program_failing_alike():
    graph, inputs = _revenue()
    design = design_point(graph, DECOUPLED)
    seed = _failing_seed(graph, design, inputs)
    assert criterion.check_run(graph, design, inputs, seed) is None


def test_mutant_without_comparing_failures_reports_the_design_point(monkeypatch):
    graph, inputs = _revenue()
    design = design_point(graph, DECOUPLED)
    seed = _failing_seed(graph, design, inputs)
    monkeypatch.setattr(criterion, "same_failure", lambda a, b: False)
    mismatch = criterion.check_run(graph, design, inputs, seed)
    assert mismatch is not None and "raises where the single-node program does not" in str(mismatch)


def test_a_failure_in_another_operator_is_a_difference():
    graph, inputs = _revenue()
    design = design_point(graph, DECOUPLED)
    sim = simulate(design, inputs, _failing_seed(graph, design, inputs))
    other = UserCodeError("map 'if_17' (shop.py:17): fn raised KeyError: 'x'")
    other.where = "map 'if_17' (shop.py:17)"
    other.__cause__ = KeyError("x")
    sim.error = other
    mismatch = criterion._check_error(graph, design, sim, inputs, 10_000)
    assert mismatch is not None and mismatch.error


def test_check_all_plans_of_revenue_passes():
    from hydropy.cli import main
    assert main(["check", str(PLAIN / "shop.py") + ":revenue", "--all-plans", "--seeds", "3",
                 "--inputs", str(PLAIN / "revenue.yaml")]) == 0
