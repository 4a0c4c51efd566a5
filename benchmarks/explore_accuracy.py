"""How well ``hydropy explore`` predicts: on four programs with measurable work, the model's
ranking of its top five design points against the ranking measured on a local Ray
(Spearman's rho), and each measured throughput against its prediction (within 2x?).

    .venv/bin/python benchmarks/explore_accuracy.py [--calibrate]

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

import numpy as np

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


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if len(a) < 2 or np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str]) -> int:
    import ray

    from hydropy.explore import model
    from hydropy.explore.explorer import explore
    from hydropy.explore.measure import measure
    from hydropy.explore.report import ranked
    from hydropy.explore.explorer import steps_text
    from hydropy.targets.ray import start_local_ray
    if "--calibrate" in argv:
        model.calibrate()
    constants = model.load_constants()
    cpus = os.cpu_count() or 2
    start_local_ray()
    rows = []
    try:
        for name, make in CASES.items():
            flow, inputs = make()
            found = explore(flow.graph(), inputs, program=name, constants=constants, cpus=max(cpus, 4),
                            members=(2, 3), depth=2, tick_size=2000)
            top = ranked(found)[:TOP]
            measure(flow, top, inputs, tick_size=2000, progress=False)
            predicted = [p.estimate.throughput for p in top]
            measured = [p.measured or 0.0 for p in top]
            ratios = [m / p for m, p in zip(measured, predicted) if p]
            within = sum(1 for r in ratios if 0.5 <= r <= 2)
            rows.append((name, spearman(predicted, measured), within, len(top),
                         min(ratios), max(ratios), all(p.same_sinks for p in top)))
            for p in top:
                print(f"  {name}: dp {p.id} {steps_text(p.steps)}: predicted {p.estimate.throughput:,.0f}/s, "
                      f"measured {p.measured or 0:,.0f}/s, sinks {'same' if p.same_sinks else 'DIFFERENT'}",
                      file=sys.stderr)
    finally:
        ray.shutdown()
    print(f"model constants: {constants.source}\n")
    print("| program | Spearman (top 5) | within 2x | measured/predicted | sinks |")
    print("|---|---|---|---|---|")
    for name, rho, within, n, lo, hi, same in rows:
        print(f"| {name} | {rho:.2f} | {within}/{n} | {lo:.2f} to {hi:.2f} | {'same' if same else 'DIFFERENT'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
