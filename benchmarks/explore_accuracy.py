"""How well ``hydropy explore`` predicts: on four programs with measurable work, the model's
ranking of its top five design points against the ranking measured on a local Ray
(Spearman's rho), and each measured throughput against its prediction (within 2x?).

    .venv/bin/python benchmarks/explore_accuracy.py [--calibrate] [--only "shopping cart,word count"]

Takes a few minutes (each design point runs once on Ray); prints a Markdown table for
benchmarks/README.md. The model's constants are those cached by ``hydropy explore
--calibrate`` (``--calibrate`` here measures them first).
"""
from __future__ import annotations

import os
import random
import re
import sys
import tempfile
import time

import numpy as np

from hydropy.explore.explorer import TIE, tied_ranks

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOP = 5


def word_count():
    from hydropy.loader import load_flow
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(2000)]
    lines = [" ".join(rng.choice(vocab) for _ in range(12)) for _ in range(20_000)]
    return load_flow(os.path.join(ROOT, "examples", "wordcount.py")), {"lines": lines}


def two_phase_commit():
    """examples/twopc.py with each logged vote standing as 1 ms of sleep (as benchmark B6)."""
    from hydropy.loader import load_flow
    with open(os.path.join(ROOT, "examples", "twopc.py"), encoding="utf-8") as fh:
        text = re.sub(r"^LOG_SECONDS = .*$", "LOG_SECONDS = 0.001", fh.read(), flags=re.M)
    path = os.path.join(tempfile.mkdtemp(prefix="hydropy-accuracy-"), "twopc.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    txns = [(f"t{i}", ("balance", "audit") if i % 10 == 0 else ("balance",)) for i in range(600)]
    return load_flow(path), {"txns": txns}


def sensor_stats():
    from hydropy.loader import load_flow
    rng = random.Random(2)
    readings = [(rng.randrange(1000), rng.uniform(-10, 40)) for _ in range(100_000)]
    return load_flow(os.path.join(ROOT, "examples", "sensor_stats.py")), {"readings": readings}


def shopping_cart():
    from hydropy.loader import load_flow
    rng = random.Random(3)
    clients = [f"c{i}" for i in range(500)]
    requests = []
    for _ in range(30_000):
        who = rng.choice(clients)
        requests.append((who, ("add", rng.choice(["apple", "pear", "fig", "kiwi"]), rng.randint(1, 5))))
    requests += [(c, ("checkout", 1)) for c in clients]
    classes = [(c, rng.choice(["gold", "basic"])) for c in clients]
    return (load_flow(os.path.join(ROOT, "examples", "shopping_cart.py")),
            {"requests": requests, "client_classes": classes})


CASES = {"word count": word_count, "two-phase commit": two_phase_commit,
         "sensor statistics": sensor_stats, "shopping cart": shopping_cart}


#: measured runs of each design point, interleaved over the design points (the median counts)
REPEATS = 3


def spearman(predicted: list[float], measured: list[float]) -> float:
    """Spearman's rho with ties (Pearson's r of the average ranks), predictions within
    :data:`TIE` tied; nan when either side is all one tie."""
    ra, rb = np.array(tied_ranks(predicted, TIE)), np.array(tied_ranks(measured))
    if len(ra) < 2 or np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def distinct_top(points, throughput, k: int = TOP) -> list:
    """The ``k`` fastest predicted design points whose predictions are pairwise more than
    :data:`TIE` apart (of design points predicted alike, the first ranked)."""
    chosen = []
    for p in sorted(points, key=lambda p: -throughput(p)):
        if all(max(throughput(p), throughput(q)) > TIE * min(throughput(p), throughput(q)) for q in chosen):
            chosen.append(p)
        if len(chosen) == k:
            break
    return chosen


def row(name: str, model: str, pick: str, top: list, predicted, measured) -> tuple:
    pred = [predicted(p) for p in top]
    meas = [measured[p.id] for p in top]
    ratios = [m / q for m, q in zip(meas, pred) if q]
    within = sum(1 for r in ratios if 0.5 <= r <= 2)
    return (name, model, pick, spearman(pred, meas), within, len(top), min(ratios), max(ratios))


def main(argv: list[str]) -> int:
    import statistics

    import ray

    from hydropy.explore import model
    from hydropy.explore.explorer import explore, steps_text
    from hydropy.explore.measure import measure
    from hydropy.explore.model import profile_estimate
    from hydropy.targets.ray import start_local_ray
    if "--calibrate" in argv:
        model.calibrate()
    constants = model.load_constants()
    cpus = max(os.cpu_count() or 2, 4)
    start_local_ray()
    rows, sinks, timings = [], {}, {}
    try:
        only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else list(CASES)
        for name, make in [(n, CASES[n]) for n in only]:
            flow, inputs = make()
            t0 = time.perf_counter()
            found = explore(flow.graph(), inputs, program=name, constants=constants, cpus=cpus,
                            members=(2, 3), depth=2, tick_size=2000)
            timings[name] = (time.perf_counter() - t0, len(found.points))
            replayed = lambda p: p.estimate.throughput  # noqa: E731
            profiled = {p.id: profile_estimate(p.design, found.profile, constants, cpus).throughput
                        for p in found.points}
            old = lambda p: profiled[p.id]  # noqa: E731
            picks = {("replay", "top 5"): sorted(found.points, key=lambda p: -replayed(p))[:TOP],
                     ("replay", "top 5 distinct"): distinct_top(found.points, replayed),
                     ("profile", "top 5"): sorted(found.points, key=lambda p: -old(p))[:TOP]}
            todo = list({p.id: p for top in picks.values() for p in top}.values())
            runs: dict[str, list[float]] = {p.id: [] for p in todo}
            for _ in range(REPEATS):   # interleaved: each repeat measures every design point once
                measure(flow, todo, inputs, tick_size=2000, progress=False)
                for p in todo:
                    runs[p.id].append(p.measured or 0.0)
            measured = {i: statistics.median(r) for i, r in runs.items()}
            sinks[name] = all(p.same_sinks for p in todo)
            for p in todo:
                print(f"  {name}: dp {p.id} {steps_text(p.steps)}: replay model {replayed(p):,.0f}/s, "
                      f"profile model {old(p):,.0f}/s, measured {measured[p.id]:,.0f}/s "
                      f"(runs {', '.join(f'{r:,.0f}' for r in runs[p.id])}), "
                      f"sinks {'same' if p.same_sinks else 'DIFFERENT'}", file=sys.stderr)
            for (which, pick), top in picks.items():
                rows.append(row(name, which, pick, top, replayed if which == "replay" else old, measured))
    finally:
        ray.shutdown()
    print(f"model constants: {constants.source}; load average before/after: see uptime\n")
    print("| program | model | design points | Spearman | within 2x | measured/predicted | sinks |")
    print("|---|---|---|---|---|---|---|")
    for name, which, pick, rho, within, n, lo, hi in rows:
        print(f"| {name} | {which} | {pick} | {rho:.2f} | {within}/{n} | {lo:.2f} to {hi:.2f} | "
              f"{'same' if sinks[name] else 'DIFFERENT'} |")
    print("\n| program | explore seconds | design points |\n|---|---|---|")
    for name, (seconds, count) in timings.items():
        print(f"| {name} | {seconds:.1f} | {count} |")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
