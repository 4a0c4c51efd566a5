"""Each example of examples/plain has a partitioned design point (examples/plain/plans/
NAME_partitioned.yaml) that the checker accepts and that runs on Ray with the function's
result: as it is, except that a list the function appends to in loop order is compared as a
multiset where its records pass a stage of several members (the members interleave them, and
the checker says so in its verdict).

On Ray, CI runs word_count (tests/test_lift.py) and revenue (tests/test_explore.py, measured
by the explorer): actors are slow to start on a small machine, so
``HYDROPY_LONG=1 pytest tests/test_plain_design_points.py`` runs every example on Ray.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

from hydropy.lift import comparable, expected_sinks
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.pipeline import design_point
from hydropy.testing import assert_equivalent

PLAIN = Path(__file__).resolve().parent.parent / "examples" / "plain"
MODULES = ("text", "shop", "sensors")
ON_RAY_IN_CI: set[str] = set()  # revenue runs on Ray in test_explore (measure), word_count in test_lift


def _examples() -> dict[str, str]:
    """Function name -> PROGRAM for every example function that has an inputs file."""
    out = {}
    for module in MODULES:
        for name in re.findall(r"^def (\w+)\(", (PLAIN / f"{module}.py").read_text(), re.M):
            if (PLAIN / f"{name}.yaml").exists():
                out[name] = f"{PLAIN / module}.py:{name}"
    return out


EXAMPLES = _examples()


def _plan(name: str) -> str:
    return str(PLAIN / "plans" / f"{name}_partitioned.yaml")


def _relaxed(flow, design, rows: dict[str, list]) -> dict[str, list]:
    """Sinks as the function returns them, lists whose order passes several members as multisets."""
    out = {}
    for node in design.sinks():
        name = node.params["name"]
        src = design.node(node.inputs[0]).coll
        out[name] = Counter(map(repr, rows[name])) if src.kind == "stream" and not src.ordered else rows[name]
    return out


def test_every_example_has_a_partitioned_design_point():
    assert len(EXAMPLES) >= 12
    for name, program in EXAMPLES.items():
        design = design_point(load_flow(program).graph(), _plan(name))
        assert any(design.members_of(s) > 1 for s in design.locations()), name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_partitioned_design_point_agrees_in_the_simulator(name):
    flow = load_flow(EXAMPLES[name])
    assert assert_equivalent(flow, _plan(name), load_inputs(str(PLAIN / f"{name}.yaml")),
                             seeds=range(2)) == 2


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_partitioned_design_point_on_ray_gives_the_functions_result(name, ray_session, tmp_path):
    if name not in ON_RAY_IN_CI and not os.environ.get("HYDROPY_LONG"):
        pytest.skip("HYDROPY_LONG=1 runs every example on Ray")
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    flow = load_flow(EXAMPLES[name])
    inputs = load_inputs(str(PLAIN / f"{name}.yaml"))
    design = compile_flow(flow, str(tmp_path / "out"), plan=_plan(name))
    got = comparable(flow, run_compiled(str(tmp_path / "out"), inputs))
    expected = expected_sinks(flow, inputs)
    assert _relaxed(flow, design, got) == _relaxed(flow, design, expected)
