"""B4: compiling the 50-operator program, and the time to a first result on Ray with warm
caches (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import os
import shutil
import tempfile

from harness import case, digest, program, timed
from ray_harness import compiled, ray_up


@case
def b4_compile(n: int, repeats: int, **_) -> dict:
    """Compiling the 50-operator program; after the first run the functions' Numba types are
    known, so the median excludes JIT work."""
    flow, plan = program("fifty_ops", "fifty_ops.yaml")
    operators = len(flow.graph())
    tmp = tempfile.mkdtemp(prefix="hydropy-bench-")
    from hydropy.targets.compile import compile_flow
    try:
        out = timed(lambda: compile_flow(flow, os.path.join(tmp, "out"), plan=plan, force=True), repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.pop("result")
    return {**out, "check": f"{operators} operators"}


@case
def b4_first_result(n: int, repeats: int, **_) -> dict:
    """From run_compiled's call to its results on a tiny input, Ray up and kernels cached on
    disk beside the stage code by an earlier run (actor start, warm-up, one round)."""
    flow, plan = program("pipeline", "pipeline.yaml")
    from hydropy.targets.ray import run_compiled
    ray, init_s = ray_up()
    out_dir = compiled(flow, plan)
    try:
        out = timed(lambda: run_compiled(out_dir, {"numbers": list(range(n))}), repeats)
    finally:
        ray.shutdown()
        shutil.rmtree(os.path.dirname(out_dir), ignore_errors=True)
    result = out.pop("result")
    return {**out, "check": digest(result), "ray_init": init_s}
