"""The measured cases of ``benchmarks/run.py``; each runs in its own process.

A case returns ``{"times": [seconds per repeat], "first": seconds of the first run,
"check": a digest of its result, ...}``. The first run is not among ``times``: it pays
for compiling kernels (or loading them from the disk cache).
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def timed(fn, repeats: int, inner: bool = False) -> dict:
    """Time one first run, then ``repeats`` runs. With ``inner``, ``fn`` returns
    ``(seconds, result)``: the seconds it measured itself (e.g. from actors ready to results),
    and ``setup`` holds the rest of each run (e.g. starting actors). ``cpu``: this process's
    CPU seconds per run (without ``inner``: a local case's work, less moved by load)."""
    times, setup, cpu = [], [], []
    result = None
    for _ in range(repeats + 1):
        result = None  # the previous run's result freed before the next is built
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        total = time.perf_counter() - start
        cpu.append(time.process_time() - start_cpu)
        if inner:
            seconds, result = result
            setup.append(total - seconds)
        times.append(seconds if inner else total)
    out = {"times": times[1:], "first": times[0], "result": result}
    return {**out, "setup": setup[1:]} if inner else {**out, "cpu": cpu[1:]}


def digest(value) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:12]


def program(name: str, plan: str | None = None):
    from hydropy.loader import load_flow
    flow = load_flow(os.path.join(PROGRAMS, name + ".py"))
    return flow, plan and os.path.join(PROGRAMS, plan)


# -- B1: keyed aggregation on one core ----------------------------------------------------

def b1_data(n: int, sparse: int = 0):
    """n records over 100,000 distinct keys: dense (0..99,999) or sparse (random int64s)."""
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 100_000, n, dtype=np.int64)
    if sparse:
        keys = rng.integers(-2**62, 2**62, 100_000, dtype=np.int64)[keys]
    return keys, rng.random(n)


def b1_check(keys, sums) -> str:
    """Count and exact sum of the per-key sums, taken in key order."""
    order = np.argsort(keys)
    return f"{len(keys)} keys, total {math.fsum(np.asarray(sums)[order].tolist())!r}"


@case
def b1_python(n: int, repeats: int, sparse: int = 0, **_) -> dict:
    keys, vals = b1_data(n, sparse)
    ks, vs = keys.tolist(), vals.tolist()

    def run():
        sums = {}
        get = sums.get
        for k, v in zip(ks, vs):
            sums[k] = get(k, 0.0) + v
        return sums

    out = timed(run, repeats)
    sums = out.pop("result")
    return {**out, "check": b1_check(np.array(list(sums)), list(sums.values()))}


from numba import njit  # noqa: E402  (the hand-written kernel below)


@njit(cache=True)
def _hand_insert(tkeys, tsums, used, keys, vals, start, count):
    """Adds records from ``start`` until the table is half full; returns (next record, count)."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = (k * 0x5851F42D4C957F2D) & mask
        while used[s] and tkeys[s] != k:
            s = (s + 1) & mask
        if not used[s]:
            if 2 * count >= tkeys.shape[0]:
                return i, count
            used[s], tkeys[s] = True, k
            count += 1
        tsums[s] += vals[i]
    return keys.shape[0], count


@njit(cache=True)
def _hand_sum(keys, vals):
    """Sums per key in an open-addressing table that doubles when half full."""
    tkeys, tsums, used = np.empty(1024, np.int64), np.zeros(1024), np.zeros(1024, np.bool_)
    i, count = _hand_insert(tkeys, tsums, used, keys, vals, 0, 0)
    while i < keys.shape[0]:
        old_k, old_s = tkeys[used], tsums[used]
        cap = 2 * tkeys.shape[0]
        tkeys, tsums, used = np.empty(cap, np.int64), np.zeros(cap), np.zeros(cap, np.bool_)
        _hand_insert(tkeys, tsums, used, old_k, old_s, 0, 0)
        i, count = _hand_insert(tkeys, tsums, used, keys, vals, i, count)
    return tkeys[used], tsums[used]


@case
def b1_numba(n: int, repeats: int, sparse: int = 0, **_) -> dict:
    keys, vals = b1_data(n, sparse)
    out = timed(lambda: _hand_sum(keys, vals), repeats)
    result = out.pop("result")
    return {**out, "check": b1_check(*result)}


@case
def b1_hydropy(n: int, repeats: int, sparse: int = 0, columns: int = 0, cold: int = 0, **_) -> dict:
    """``columns``: the sink as ``hp.Columns`` (``flow.run(..., columns=True)``), else the
    sorted list of Python tuples. ``cold``: the first run compiles every kernel (empty
    hydropy and Numba caches) instead of loading them from disk."""
    if cold:
        import numba
        work = tempfile.mkdtemp(prefix="hydropy-bench-")
        os.environ["HYDROPY_CACHE_DIR"] = numba.config.CACHE_DIR = work
    import hydropy as hp
    flow, _ = program("keyed_sum")
    keys, vals = b1_data(n, sparse)
    options = {"columns": True} if columns else {}
    out = timed(lambda: flow.run({"records": hp.Columns(keys, vals)}, **options), repeats)
    if cold:
        shutil.rmtree(work, ignore_errors=True)
    sums = out.pop("result")["sums"]
    if columns:
        return {**out, "check": b1_check(*sums.cols)}
    return {**out, "check": b1_check(np.array([k for k, _ in sums]), [v for _, v in sums])}


# -- B2: a 2-stage pipeline on Ray ----------------------------------------------------------

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


# -- B3: scaling by partitioning --------------------------------------------------------------

@case
def b3_cpu(n: int, repeats: int, members: int = 1, **_) -> dict:
    import hydropy as hp
    flow, plan = program("cpu_stage", f"cpu_stage_{members}.yaml")
    out = on_ray(flow, plan, {"xs": hp.Columns(np.arange(n, dtype=np.int64))}, repeats, 2_000)
    result = out.pop("result")
    return {**out, "check": digest(sorted(result["kept"]))}


@case
def b3_io(n: int, repeats: int, members: int = 1, **_) -> dict:
    flow, plan = program("io_stage", f"io_stage_{members}.yaml")
    out = on_ray(flow, plan, {"requests": list(range(n))}, repeats, 200)
    result = out.pop("result")
    return {**out, "check": digest(sorted(result["served"]))}


# -- B4: compile time and time to first result ---------------------------------------------

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


# -- B5: a join on one core ---------------------------------------------------------------

B5_TICKS = 10


def b5_data(n: int) -> list[tuple]:
    """n records, half per side, keys uniform over n/2 distinct keys (about n/2 pairs), as
    B5_TICKS ticks of (left keys, left values, right keys, right values)."""
    rng = np.random.default_rng(0)
    half = max(n // 2, 1)
    cols = [rng.integers(0, half, half), rng.random(half), rng.integers(0, half, half), rng.random(half)]
    bounds = np.linspace(0, half, B5_TICKS + 1).astype(int)
    return [tuple(c[a:b] for c in cols) for a, b in zip(bounds, bounds[1:])]


@case
def b5_python(n: int, repeats: int, **_) -> dict:
    """A hand-written dict-of-lists join, in the order of the Python Join operator."""
    ticks = [(list(zip(lk.tolist(), lv.tolist())), list(zip(rk.tolist(), rv.tolist())))
             for lk, lv, rk, rv in b5_data(n)]

    def run():
        left, right, out = {}, {}, []
        for ls, rs in ticks:
            for k, x in ls:
                out.extend((k, (x, y)) for y in right.get(k, ()))
                left.setdefault(k, []).append(x)
            for k, y in rs:
                out.extend((k, (x, y)) for x in left.get(k, ()))
                right.setdefault(k, []).append(y)
        return out

    out = timed(run, repeats)
    pairs = out.pop("result")
    return {**out, "check": f"{len(pairs)} pairs, {digest(pairs)}"}


@case
def b5_hydropy(n: int, repeats: int, **_) -> dict:
    import hydropy as hp
    from hydropy.targets.local import run as run_local
    flow, _ = program("keyed_join")
    graph = flow.graph()
    ticks = [{"left": hp.Columns(lk, lv), "right": hp.Columns(rk, rv)} for lk, lv, rk, rv in b5_data(n)]
    out = timed(lambda: run_local(graph, ticks=ticks), repeats)
    pairs = out.pop("result")["pairs"]
    return {**out, "check": f"{len(pairs)} pairs, {digest(pairs)}"}


# -- B6: two-phase commit partitioned (a fixed service time per logged vote) -----------------

@case
def b6_twopc(n: int, repeats: int, members: int = 1, **_) -> dict:
    """examples/twopc.py with each vote's log write standing as 2 ms of sleep, in three stages
    of ``members`` members each (partitioned on the transaction id)."""
    import re

    from hydropy.loader import load_flow
    work = tempfile.mkdtemp(prefix="hydropy-bench-")
    with open(os.path.join(os.path.dirname(HERE), "examples", "twopc.py"), encoding="utf-8") as fh:
        text = re.sub(r"^LOG_SECONDS = .*$", "LOG_SECONDS = 0.002", fh.read(), flags=re.M)
    path = os.path.join(work, "twopc.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    txns = [(f"t{i}", ("balance", "audit") if i % 10 == 0 else ("balance",)) for i in range(n)]
    out = on_ray(load_flow(path), os.path.join(PROGRAMS, f"twopc_{members}.yaml"), {"txns": txns},
                 repeats, 200)
    shutil.rmtree(work, ignore_errors=True)
    result = out.pop("result")
    return {**out, "check": digest({sink: sorted(rows) for sink, rows in result.items()})}


# -- B7: checkpoints and recovery on Ray ---------------------------------------------------

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


def main(argv: list[str]) -> None:
    """``cases.py NAME N REPEATS [key=value...]``: run one case, print its JSON result."""
    import json
    import resource
    name, n, repeats, *extra = argv
    params = {k: int(v) for k, v in (kv.split("=") for kv in extra)}
    sys.path.insert(0, PROGRAMS)
    from cases_wordcount import CASES as WORD_COUNT  # B8, in a module of its own
    CASES.update(WORD_COUNT)
    from cases_join import CASES as JOIN  # B9, in a module of its own
    CASES.update(JOIN)
    out = CASES[name](int(n), int(repeats), **params)
    out.setdefault("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
