"""B7: B2's pipeline on Ray checkpointing at several cadences, and with a member killed
halfway and recovered from its checkpoint (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

import numpy as np

from harness import case, digest, program, timed
from ray_harness import compiled, on_ray, ray_up


@case
def b7_ray(n: int, repeats: int, batch: int = 10_000, every: int = -1, **_) -> dict:
    """B2 with its members checkpointing every ``every`` rounds (0: never, -1: the default
    cadence)."""
    import hydropy as hp
    flow, plan = program("pipeline", "pipeline.yaml")
    out = on_ray(flow, plan, {"numbers": hp.Columns(np.arange(n, dtype=np.int64))}, repeats, batch,
                 checkpoint_every=None if every < 0 else every)
    result = out.pop("result")
    return {**out, "check": digest(result)}


@case
def b7_recover(n: int, repeats: int, batch: int = 10_000, every: int = 10, **_) -> dict:
    """B2 with the process of the summing member killed (SIGKILL) once half the rounds have
    been checkpointed; ``lost``: the seconds the driver reports for each recovery."""
    import contextlib
    import io
    import re
    import signal

    import hydropy as hp
    import hydropy.targets.recovery as recovery
    from hydropy.targets.ray import run_compiled
    flow, plan = program("pipeline", "pipeline.yaml")
    inputs = {"numbers": hp.Columns(np.arange(n, dtype=np.int64))}
    ray, init_s = ray_up()
    out_dir = compiled(flow, plan)
    batch = min(batch, max(n // 20, 1))  # at least 20 rounds (--quick)
    rounds = -(-n // batch)
    runs, lost = [], []
    original = recovery.Rounds.run

    def run_and_share(self):
        runs.append(self)
        return original(self)

    recovery.Rounds.run = run_and_share

    def kill_halfway(checkpoints: str, done: threading.Event):
        agg = None
        while not done.is_set():
            files = [f for _, _, fs in os.walk(checkpoints) for f in fs if f.endswith(".pkl")]
            if runs and agg is None:
                agg = ray.get(runs[-1].d.hosts["agg"][0].pid.remote())
            if agg and max([int(f[6:-4]) for f in files], default=0) >= rounds // 2:
                os.kill(agg, signal.SIGKILL)
                return
            time.sleep(0.005)

    def run():
        stats, done = {}, threading.Event()
        runs.clear()
        checkpoints = tempfile.mkdtemp(prefix="hydropy-bench-checkpoints-")
        killer = threading.Thread(target=kill_halfway, args=(checkpoints, done))
        err = io.StringIO()
        killer.start()
        try:
            with contextlib.redirect_stderr(err):
                result = run_compiled(out_dir, inputs, tick_size=batch, stats=stats,
                                      checkpoint_every=every, checkpoint_dir=checkpoints)
        finally:
            done.set()
            killer.join()
            shutil.rmtree(checkpoints, ignore_errors=True)
        lost.extend(float(s) for s in re.findall(r", (\d+\.\d+) s lost", err.getvalue()))
        return stats["run_seconds"], result

    try:
        out = timed(run, repeats, inner=True)
    finally:
        recovery.Rounds.run = original
        ray.shutdown()
        shutil.rmtree(os.path.dirname(out_dir), ignore_errors=True)
    if len(lost) != repeats + 1:
        raise SystemExit(f"b7_recover: {len(lost)} recoveries in {repeats + 1} runs")
    result = out.pop("result")
    return {**out, "lost": lost[1:], "ray_init": init_s, "check": digest(result)}
