"""Measuring on Ray: a local Ray on 2 CPUs, a compiled design point run there, and the peak
memory of the whole process tree (Ray's raylet, workers and actors)."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

from harness import PROGRAMS, timed


class TreeRSS:
    """Samples the resident memory of this process and all its descendants (Ray's raylet,
    workers and actors) every 50 ms; ``peak`` is the largest total seen, in MB (Linux /proc)."""

    def __init__(self):
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb())
            self._stop.wait(0.05)


def tree_rss_mb(root: int | None = None) -> float:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root or os.getpid()]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 2**20


def ray_up():
    """Ray on 2 CPUs; its workers can import the programs (for the hand-written baseline)."""
    import ray
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PROGRAMS, os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    from hydropy.targets.ray import start_local_ray
    start_local_ray(num_cpus=2)
    return ray, time.perf_counter() - start


def compiled(flow, plan: str | None) -> str:
    from hydropy.targets.compile import compile_flow
    out = os.path.join(tempfile.mkdtemp(prefix="hydropy-bench-"), flow.name)
    compile_flow(flow, out, plan=plan)
    return out


def on_ray(flow, plan, inputs, repeats, batch_size, **options) -> dict:
    """Compile ``flow`` under ``plan`` and run it on a Ray started here (``options`` for
    ``run_compiled``). Times run from the actors being ready (kernels warmed up) to the
    results; ``setup`` is starting the actors. Memory is the peak of the whole process tree
    above what it was with Ray idle."""
    from hydropy.targets.ray import run_compiled
    ray, init_s = ray_up()
    out_dir = compiled(flow, plan)

    warmups = []

    def run():
        stats = {}
        result = run_compiled(out_dir, inputs, tick_size=batch_size, stats=stats, **options)
        warmups.append(stats["compile_seconds"])
        return stats["run_seconds"], result

    try:
        idle = tree_rss_mb()
        with TreeRSS() as rss:
            out = timed(run, repeats, inner=True)
        out["peak_mb"] = rss.peak - idle
        out["warmup"] = warmups[1:]
    finally:
        ray.shutdown()
        shutil.rmtree(os.path.dirname(out_dir), ignore_errors=True)
    out["ray_init"] = init_s
    return out
