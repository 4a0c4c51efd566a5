"""hydropy.targets: where a program runs: ``local`` (the in-process oracle) and ``ray``."""
from __future__ import annotations

import os

from hydropy.errors import HydropyError, ProgramError

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
        check_hash_seed(flow.graph())
        return run_flow_on_ray(flow, inputs, plan=plan, **options)
    raise HydropyError(f"unknown target '{target}'; available: {', '.join(TARGETS)}")


def check_hash_seed(graph) -> None:
    """Refuse a Ray run, asked from Python, of a program that calls ``hash()`` when this process
    hashes str otherwise than the run's actors: ``flow.run(inputs)`` here and the Ray run would
    compute with different hashes (the ``hydropy`` command restarts itself under the run's seed;
    a Python session cannot)."""
    import subprocess
    import sys

    from hydropy.passes.determinism import calls_hash
    from .ray import hash_seed
    callers = [fn for node in graph.nodes() for fn in node.fns if calls_hash(fn.obj)]
    if not callers:
        return
    seed, probe = hash_seed(), "hydropy hash seed probe"
    theirs = subprocess.run([sys.executable, "-S", "-c", f"print(hash({probe!r}))"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
    if theirs != str(hash(probe)):
        fn = callers[0]
        raise ProgramError(f"{fn.label} calls hash(), whose value for a str differs between Python "
                           f"processes unless they share PYTHONHASHSEED; this Python process does not "
                           f"hash as the run's actors (PYTHONHASHSEED={seed}) do, so flow.run() here and "
                           f"on Ray could differ: start Python with PYTHONHASHSEED={seed}, or use the "
                           f"hydropy command (it runs under that seed)", fn.loc)
