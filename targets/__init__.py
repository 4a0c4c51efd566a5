"""hydropy.targets: where a program runs (the local interpreter; later simulator and Ray)."""
from __future__ import annotations

from hydropy.errors import HydropyError


def run_target(graph, inputs, target: str = "local", **options) -> dict[str, list]:
    """Run ``graph`` on ``target`` and return each sink's contents."""
    if target == "local":
        from .local import run
        return run(graph, inputs, **options)
    raise HydropyError(f"unknown target '{target}'; available: local")
