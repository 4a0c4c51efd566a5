"""From a program and a plan to a design point: the passes' one entry point for targets.

``design_point`` applies the plan's steps in order (each checks its precondition first and
the graph is verified after each, see :func:`hydropy.passes.plan.apply_plan`), then places
channels on every edge between stages. Targets, the CLI and ``hydropy.testing`` all build
design points here, so what ``check`` exercises and what ``compile`` emits come from one place.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from hydropy import yamlio
from hydropy.ir import Graph

from .plan import Step, apply_plan, load_plan, parse_plan
from .stages import insert_channels

#: a plan file's path, steps as in a plan file (``[{"decouple": {...}}]``), parsed Steps, or None
PlanLike = str | Sequence[Mapping] | Sequence[Step] | None


def plan_steps(plan: PlanLike) -> list[Step]:
    """The steps of ``plan``, parsed and argument-checked as a plan file's are."""
    if plan is None:
        return []
    if isinstance(plan, str):
        return load_plan(plan)
    if all(isinstance(s, Step) for s in plan):
        return list(plan)
    return parse_plan(yamlio.dump({"steps": [dict(s) for s in plan]}), "<steps>")


def design_point(graph: Graph, plan: PlanLike = None, *, verify_steps: bool = True) -> Graph:
    """The graph after ``plan``'s steps (none: the single-node program), with channels placed."""
    history = apply_plan(graph, plan_steps(plan), verify_steps=verify_steps)
    return insert_channels(history[-1][1] if history else graph)
