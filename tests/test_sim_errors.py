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


# -- a design point that fails at another operator than the program (issue: two errors) -------

def fails_on_3(x):
    if x == 3:
        raise ValueError("three")
    return x


def fails_on_2(x):
    if x == 2:
        raise ValueError("two")
    return x


def two_failing_maps(one_input: bool):
    """``first`` fails on 3 and runs first in one process; ``second`` fails on 2. Decoupling
    ``first`` lets ``second`` fail before ``first`` sees its 3."""
    import hydropy as hp
    flow = hp.Flow("two_failing_maps")
    xs = flow.source("xs")
    xs.map(fails_on_3, name="first").sink("first_out")
    (xs if one_input else flow.source("ys")).map(fails_on_2, name="second").sink("second_out")
    graph = flow.graph()
    return graph, design_point(graph, [{"decouple": {"operators": ["first"], "to": "s2"}}])


def _failures(graph, design, inputs, seeds=range(40)):
    """(seeds whose run raised at 'second', the mismatches of all seeds)."""
    raised = [s for s in seeds if "second" in str(simulate(design, inputs, s).error)]
    return raised, [m for m in (criterion.check_run(graph, design, inputs, s) for s in seeds) if m]


def test_a_failure_at_another_operator_whose_records_came_first_is_explained():
    """The stage of ``second`` took ys's 2 in the tick it took xs's 3 (or after it): in one
    process ys's 2 may come first, and ``second`` fails, as in the design."""
    graph, design = two_failing_maps(one_input=False)
    raised, mismatches = _failures(graph, design, {"xs": [1, 3], "ys": [1, 2]})
    assert raised and mismatches == []


def test_a_failure_at_another_operator_within_one_event_is_explained():
    """One input feeds both maps, its 2 before its 3: in one process 2 alone fails ``second``."""
    graph, design = two_failing_maps(one_input=True)
    raised, mismatches = _failures(graph, design, {"xs": [1, 2, 3]})
    assert raised and mismatches == []


def test_a_failure_no_order_of_the_inputs_reaches_in_one_process_is_a_difference():
    """Its 3 before its 2: one process always fails ``first`` first; the design failing at
    ``second`` is a mismatch naming that error."""
    graph, design = two_failing_maps(one_input=True)
    raised, mismatches = _failures(graph, design, {"xs": [1, 3, 2]})
    assert raised and mismatches and all(m.error and "map 'second'" in m.error for m in mismatches)
