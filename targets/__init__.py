"""hydropy.targets: where a program runs: ``local`` (the in-process oracle) and ``ray``."""
from __future__ import annotations

from hydropy.errors import HydropyError

TARGETS = ("local", "ray")


def run_flow(flow, inputs=None, target: str = "local", *, plan: str | None = None,
             **options) -> dict[str, list]:
    """Run ``flow`` (after ``plan``, a plan file's path) on ``target``; return each sink's contents."""
    if target == "local":
        from hydropy.passes.pipeline import design_point
        from .local import run
        graph = design_point(flow.graph(), plan) if plan else flow.graph()
        return run(graph, inputs, **options)
    if target == "ray":
        from .ray import run_flow_on_ray
        return run_flow_on_ray(flow, inputs, plan=plan, **options)
    raise HydropyError(f"unknown target '{target}'; available: {', '.join(TARGETS)}")
