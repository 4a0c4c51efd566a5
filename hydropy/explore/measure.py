"""Measuring design points on Ray: the run's throughput and whether its sinks are the program's.

Each design point is compiled into a temporary directory and run by
:func:`hydropy.targets.ray.run_compiled` (a Ray already connected is used as it is; else a
fresh local Ray, or the cluster at ``address``, for the whole measurement). Throughput is the
input records over the run's seconds from the actors being ready to the results (actor start
and kernel compilation are not part of it). Sinks are compared with the single-node run's
as ``hydropy run --check`` compares them (multisets where members interleave).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any, Mapping, Sequence

from hydropy.targets.local import DEFAULT_TICK_SIZE, canonical

from .explorer import DesignPoint


def measure(flow, points: Sequence[DesignPoint], inputs: Mapping[str, Any], *,
            address: str | None = None, tick_size: int = DEFAULT_TICK_SIZE,
            progress: bool = True) -> None:
    """Sets ``measured`` and ``same_sinks`` of each of ``points``."""
    import ray
    from rich.progress import Progress

    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import connect, run_compiled
    expected_run = flow.run(dict(inputs), tick_size=tick_size)
    records = sum(len(v) for v in inputs.values())
    started = connect(address)
    tmp = tempfile.mkdtemp(prefix="hydropy-explore-")
    try:
        with Progress(disable=not (progress and sys.stderr.isatty()), transient=True) as bar:
            task = bar.add_task("measuring on Ray", total=len(points))
            for p in points:
                out = os.path.join(tmp, f"dp{p.id}")
                steps = [{s.kind: dict(s.args)} for s in p.steps]
                compile_flow(flow, out, plan=steps or None)
                stats: dict = {}
                got = run_compiled(out, dict(inputs), tick_size=tick_size, stats=stats,
                                   program=sys.modules.get(flow.module or ""),
                                   allow_oversubscribe=True)
                seconds = stats.get("run_seconds") or 0.0
                p.measured = records / seconds if seconds > 0 else None
                p.same_sinks = canonical(p.design, got) == canonical(p.design, expected_run)
                bar.advance(task)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if started:
            ray.shutdown()
