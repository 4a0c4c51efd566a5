"""Kernels compute what the Python operators compute, or the planner falls back and says why.

Numba differs from Python on some operations (besides int64 wraparound, the one documented
difference): powers, shifts, int-float comparisons, int division past 2**53, ``int()`` and
``round()`` of floats, math functions that raise in Python, a float accumulator turned into an
int. The planner reads each compiled function's typed IR and runs such an operator as Python
(``explain --kernels`` names the operation). Differential tests draw the values where the two
differ: near 2**53 and the int64 limits, NaN and infinities.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.passes import kernel_plan
from hydropy.targets.local import run as run_local

SETTINGS = settings(max_examples=80, deadline=None, database=None, derandomize=True)
BIG = 2**53

# functions whose kernel would differ from Python on some int64 / float64 input
DIVERGENT = {
    "int_le_float": (lambda x: x <= 2.0 ** 53, "int64", "compares int64 with float64"),
    "neg_power": (lambda x: x ** -1, "int64", "to the power of"),
    "float_power": (lambda x: x ** 0.5, "float64", "to the power of"),
    "wide_shift": (lambda x: x >> 64, "int64", "shifts int64 by 64"),
    "variable_shift": (lambda x: 1 << (x % 70), "int64", "shifts 1 by int64"),
    "sqrt": (lambda x: math.sqrt(x), "float64", "calls math.sqrt"),
    "int_of_float": (lambda x: int(x), "float64", "calls int() on a float"),
    "round_float": (lambda x: round(x), "float64", "calls round() on a float"),
    "int_division": (lambda x: x / 3, "int64", "divides int64"),
}


def _map_flow(fn, dtype):
    flow = hp.Flow("m")
    flow.source("xs", dtype=dtype).map(fn, name="f").sink("out")
    return flow


def _mode(flow):
    graph = flow.graph()
    modes = kernel_plan.plan(graph).modes
    return next(m for i, m in modes.items() if graph.node(i).name == "f")


@pytest.mark.parametrize("name", sorted(DIVERGENT))
def test_an_operation_numba_computes_differently_runs_as_python(name):
    fn, dtype, why = DIVERGENT[name]
    mode = _mode(_map_flow(fn, dtype))
    assert mode.mode == "python" and why in mode.reason and "differs from Python's" in mode.reason


def keep_int(acc, v):
    return int(v > 0)


def test_a_float_accumulator_turned_into_an_int_runs_as_python():
    flow = hp.Flow("acc")
    flow.source("kv", dtype=("int64", "int64")).fold_keyed(float, lambda a, v: v, name="f").sink("s")
    mode = _mode(flow)
    assert mode.mode == "python" and "accumulator changes type" in mode.reason
    # Python's accumulator holds the int exactly; a float64 one could not
    assert run_local(flow.graph(), {"kv": [(1, BIG + 1)]})["s"] == [(1, BIG + 1)]


def test_what_numba_computes_as_python_does_still_runs_as_a_kernel():
    for fn, dtype in [(lambda x: x ** 2, "int64"), (lambda x: x >> 3, "int64"), (lambda x: x / 2, "int64"),
                      (lambda x: x + 0.5, "int64"), (lambda x: math.fabs(x), "float64"),
                      (lambda x: x * 2 < 7, "int64"), (lambda x: x < 0.5, "float64")]:
        assert _mode(_map_flow(fn, dtype)).mode == "kernel", fn


def _same(a, b) -> bool:
    return repr(a) == repr(b)  # NaN equals NaN here, 1 and 1.0 do not


hostile_ints = st.one_of(st.integers(BIG - 4, BIG + 4), st.integers(-BIG - 4, -BIG + 4),
                         st.integers(2**62, 2**63 - 1), st.integers(-2**63, -2**62),
                         st.integers(-1000, 1000))
hostile_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                           st.sampled_from([float(BIG), float(BIG) + 2, -0.0, 0.5, -2.5]))


@SETTINGS
@given(name=st.sampled_from(sorted(DIVERGENT)), ints=st.lists(hostile_ints, max_size=6),
       fls=st.lists(hostile_floats, max_size=6))
def test_kernel_and_python_agree_on_hostile_values(name, ints, fls):
    """The program with its element type declared (kernels where the planner takes them) and
    without (Python operators) shows the same sinks, errors included."""
    fn, dtype, _ = DIVERGENT[name]
    xs = ints if dtype == "int64" else fls
    results = []
    for flow in (_map_flow(fn, dtype), _map_flow(fn, None)):
        try:
            results.append(("ok", run_local(flow.graph(), {"xs": xs})["out"]))
        except hp.HydropyError as exc:
            results.append(("error", type(exc).__name__))
    assert results[0][0] == results[1][0]
    if results[0][0] == "ok":
        assert len(results[0][1]) == len(results[1][1])
        assert all(_same(a, b) for a, b in zip(*(r[1] for r in results))), results


def test_without_the_check_a_kernel_computes_something_python_does_not(monkeypatch):
    """Mutant: the typed-IR check removed, the comparison kernel answers True for 2**53 + 1 <=
    2.0**53 (it rounds the int first); Python answers False."""
    monkeypatch.setattr(kernel_plan, "differs_from_python", lambda annotation: "")
    fn = lambda x: x <= 2.0 ** 53  # noqa: E731 (a fresh function: not cached as refused)
    flow = _map_flow(fn, "int64")
    assert _mode(flow).mode == "kernel"
    assert run_local(flow.graph(), {"xs": [BIG + 1]})["out"] == [True]
    assert run_local(_map_flow(fn, None).graph(), {"xs": [BIG + 1]})["out"] == [False]
