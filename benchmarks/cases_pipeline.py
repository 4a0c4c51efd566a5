"""B2, a 2-stage pipeline: hydropy on Ray (kernels and Python operators), the local target,
and hand-written Ray with one actor call per record (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import time

import numpy as np

from harness import case, digest, program, timed
from ray_harness import TreeRSS, on_ray, ray_up, tree_rss_mb


@case
def b2_ray(n: int, repeats: int, batch: int = 10_000, **_) -> dict:
    import hydropy as hp
    flow, plan = program("pipeline", "pipeline.yaml")
    out = on_ray(flow, plan, {"numbers": hp.Columns(np.arange(n, dtype=np.int64))}, repeats, batch)
    result = out.pop("result")
    return {**out, "check": digest(result)}


@case
def b2_ray_python(n: int, repeats: int, batch: int = 10_000, **_) -> dict:
    """B2 with per-record Python operators (no element types): where the kernels are not."""
    flow, plan = program("pipeline_python", "pipeline.yaml")
    out = on_ray(flow, plan, {"numbers": list(range(n))}, repeats, batch)
    result = out.pop("result")
    return {**out, "check": digest(result)}


@case
def b2_local_python(n: int, repeats: int, **_) -> dict:
    flow, _ = program("pipeline_python")
    numbers = list(range(n))
    out = timed(lambda: flow.run({"numbers": numbers}), repeats)
    result = out.pop("result")
    return {**out, "check": digest(result)}


@case
def b2_local(n: int, repeats: int, **_) -> dict:
    import hydropy as hp
    flow, _ = program("pipeline")
    out = timed(lambda: flow.run({"numbers": hp.Columns(np.arange(n, dtype=np.int64))}), repeats)
    result = out.pop("result")
    return {**out, "check": digest(result)}


@case
def b2_per_record(n: int, repeats: int, **_) -> dict:
    """Hand-written Ray: one actor call per record into the first stage, one per surviving
    record into the second."""
    flow, _ = program("pipeline")
    from pipeline import add, odd, parse  # the program's own functions (on sys.path via the loader)
    ray, _ = ray_up()

    @ray.remote
    class Parse:
        def __init__(self, sink):
            self.sink = sink

        def process(self, x):
            kv = parse(x)
            if odd(kv):
                self.sink.add.remote(kv)

        def flush(self):
            """The sums, asked after this actor's own adds (calls from one caller keep order)."""
            return ray.get(self.sink.result.remote())

    @ray.remote
    class Sum:
        def __init__(self):
            self.sums = {}

        def add(self, kv):
            self.sums[kv[0]] = add(self.sums.get(kv[0], 0), kv[1])

        def result(self):
            return sorted(self.sums.items())

    def run():
        agg = Sum.remote()
        first = Parse.remote(agg)
        ray.get([first.__ray_ready__.remote(), agg.__ray_ready__.remote()])
        start = time.perf_counter()
        ray.get([first.process.remote(x) for x in range(n)])
        result = ray.get(first.flush.remote())
        seconds = time.perf_counter() - start
        ray.kill(first)
        ray.kill(agg)
        return seconds, result

    try:
        idle = tree_rss_mb()
        with TreeRSS() as rss:
            out = timed(run, repeats, inner=True)
    finally:
        ray.shutdown()
    expected = flow.run({"numbers": list(range(n))})["sums"]
    if out.pop("result") != expected:
        raise SystemExit("the per-record baseline disagrees with the single-node program")
    return {**out, "check": "same as single-node", "peak_mb": rss.peak - idle}
