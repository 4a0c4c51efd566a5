"""hydropy's benchmarks B1-B10: every case in its own process, ratios from one run.

    python benchmarks/run.py [--quick] [--only B1,B3] [--repeats 5]

Prints two Markdown tables: each case's median time over ``--repeats`` runs (after one
first run that pays for compiling kernels), records/s, first-run time, the time to start
a run's actors and, within it, to warm up their kernels from the disk cache (Ray cases:
their times run from the actors being ready to the results) and peak memory (Ray cases:
the whole process tree, above Ray idle); then each target with its measured figure and whether it is met. ``--quick`` runs every
case on small inputs (a smoke test: its figures mean nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

#: benchmark -> cases: (label, case, records full, records quick, params)
SUITE = {
    "B1": [("hydropy, local target", "b1_hydropy", 10_000_000, 20_000, {}),
           ("hand-written pure-Python dict loop", "b1_python", 10_000_000, 20_000, {}),
           ("hand-written Numba kernel", "b1_numba", 10_000_000, 20_000, {}),
           ("hydropy, local target, sparse keys", "b1_hydropy", 10_000_000, 20_000, {"sparse": 1}),
           ("hand-written Numba kernel, sparse keys", "b1_numba", 10_000_000, 20_000, {"sparse": 1}),
           ("hydropy, local target, 2M records", "b1_hydropy", 2_000_000, 20_000, {}),
           ("hydropy, local target, 2M records, Columns sink", "b1_hydropy", 2_000_000, 20_000, {"columns": 1}),
           ("hydropy, local target, 2M records, empty caches", "b1_hydropy", 2_000_000, 20_000, {"cold": 1}),
           ("hand-written Numba kernel, 2M records", "b1_numba", 2_000_000, 20_000, {})],
    "B2": [("hydropy on Ray, batches of 10,000", "b2_ray", 2_000_000, 20_000, {"batch": 10_000}),
           ("hydropy on Ray, batches of 100,000", "b2_ray", 2_000_000, 20_000, {"batch": 100_000}),
           ("hydropy, local target", "b2_local", 2_000_000, 20_000, {}),
           ("hand-written Ray, one call per record", "b2_per_record", 3_000, 200, {}),
           ("hydropy on Ray, batches of 10,000, Python operators", "b2_ray_python", 1_000_000, 20_000, {}),
           ("hydropy, local target, Python operators", "b2_local_python", 1_000_000, 20_000, {})],
    "B3": [("CPU-bound stage, 1 member", "b3_cpu", 30_000, 600, {"members": 1}),
           ("CPU-bound stage, 2 members", "b3_cpu", 30_000, 600, {"members": 2}),
           ("1 ms service time per record, 1 member", "b3_io", 4_000, 40, {"members": 1}),
           ("1 ms service time per record, 4 members", "b3_io", 4_000, 40, {"members": 4})],
    "B4": [("compile the 50-operator program (JIT excluded)", "b4_compile", 0, 0, {}),
           ("time to first result on Ray, warm caches", "b4_first_result", 10, 10, {})],
    "B5": [("join, hydropy, local target", "b5_hydropy", 2_000_000, 20_000, {}),
           ("join, hand-written pure-Python dict of lists", "b5_python", 2_000_000, 20_000, {})],
    "B6": [("two-phase commit, 3 stages of 1 member", "b6_twopc", 2_000, 40, {"members": 1}),
           ("two-phase commit, 3 stages of 3 members", "b6_twopc", 2_000, 40, {"members": 3})],
    "B7": [("B2 on Ray, no checkpoints", "b7_ray", 2_000_000, 20_000, {"every": 0}),
           ("B2 on Ray, checkpoints every round", "b7_ray", 2_000_000, 20_000, {"every": 1}),
           ("B2 on Ray, checkpoints every 10 rounds", "b7_ray", 2_000_000, 20_000, {"every": 10}),
           ("B2 on Ray, checkpoints every 100 rounds", "b7_ray", 2_000_000, 20_000, {"every": 100}),
           ("B2 on Ray, default checkpoints", "b7_ray", 2_000_000, 20_000, {"every": -1}),
           ("B2 on Ray, member killed halfway, checkpoints every 10 rounds", "b7_recover",
            2_000_000, 20_000, {"every": 10})],
    "B8": [("word count, collections.Counter loop", "b8_counter", 200_000, 2_000, {}),
           ("word count, hydropy, local target", "b8_local", 200_000, 2_000, {}),
           ("word count, hydropy on Ray, 2+2 members, combiner", "b8_ray", 200_000, 2_000, {}),
           ("word count, hydropy on Ray, 2+2 members, no combiner", "b8_ray", 200_000, 2_000,
            {"combined": 0})],
    "B9": [("join 2 x 500,000 -> 5M pairs, pandas.merge", "b9_pandas", 1_000_000, 20_000, {}),
           ("join 2 x 500,000 -> 5M pairs, hydropy, Columns sink", "b9_hydropy", 1_000_000, 20_000, {}),
           ("join 2 x 500,000 -> 5M pairs, hydropy, Python tuples", "b9_hydropy", 1_000_000, 20_000,
            {"columns": 0}),
           ("join then sum of x*y per key, pandas", "b9_pandas_sum", 1_000_000, 20_000, {}),
           ("join then sum of x*y per key, hydropy", "b9_hydropy_sum", 1_000_000, 20_000, {})],
    "B10": [("30,000 (word, count) pairs through Ray's object store, as a list", "b10_wire", 30_000, 2_000,
             {"wired": 0}),
            ("30,000 (word, count) pairs through Ray's object store, wire form", "b10_wire", 30_000, 2_000, {}),
            ("30,000 cart requests through Ray's object store, as a list", "b10_wire", 30_000, 2_000,
             {"wired": 0, "nested": 1}),
            ("30,000 cart requests through Ray's object store, wire form", "b10_wire", 30_000, 2_000,
             {"nested": 1})],
}


def measure(case: str, n: int, repeats: int, params: dict) -> dict:
    args = [sys.executable, os.path.join(HERE, "cases.py"), case, str(n), str(repeats)]
    args += [f"{k}={v}" for k, v in params.items()]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def targets(res: dict) -> list[tuple[str, str, bool]]:
    """(target, measured figure, met) for every result present."""
    out = []
    if "B1" in res:
        r = res["B1"]
        py = t_of(r, "hand-written pure-Python dict loop") / t_of(r, "hydropy, local target")
        nb = t_of(r, "hydropy, local target") / t_of(r, "hand-written Numba kernel")
        sparse = (t_of(r, "hydropy, local target, sparse keys")
                  / t_of(r, "hand-written Numba kernel, sparse keys"))
        out += [("B1: >= 20x faster than pure Python", f"{py:.1f}x", py >= 20),
                ("B1: within 1.3x of hand-written Numba", f"{nb:.2f}x", nb <= 1.3),
                ("B1: within 1.3x of hand-written Numba, sparse keys", f"{sparse:.2f}x", sparse <= 1.3)]
        numba_2m = t_of(r, "hand-written Numba kernel, 2M records")
        for sink in ("", ", Columns sink"):
            ratio = t_of(r, f"hydropy, local target, 2M records{sink}") / numba_2m
            out.append((f"B1: within 1.3x of hand-written Numba, 2M records{sink}", f"{ratio:.2f}x",
                        ratio <= 1.3))
    if "B2" in res:
        r = res["B2"]
        for batch in ("10,000", "100,000"):
            ray = f"hydropy on Ray, batches of {batch}"
            vs = rate_of(r, ray) / rate_of(r, "hand-written Ray, one call per record")
            cost = t_of(r, ray) / t_of(r, "hydropy, local target")
            out += [(f"B2: >= 100x one call per record (batches of {batch})", f"{vs:,.0f}x", vs >= 100),
                    (f"B2: Ray costs <= 1.5x local (batches of {batch})", f"{cost:.2f}x", cost <= 1.5)]
        cost = (t_of(r, "hydropy on Ray, batches of 10,000, Python operators")
                / t_of(r, "hydropy, local target, Python operators"))
        out += [("B2: Ray costs <= 1.5x local (batches of 10,000, Python operators)", f"{cost:.2f}x",
                 cost <= 1.5)]
    if "B3" in res:
        r = res["B3"]
        cpu = t_of(r, "CPU-bound stage, 1 member") / t_of(r, "CPU-bound stage, 2 members")
        io = (t_of(r, "1 ms service time per record, 1 member")
              / t_of(r, "1 ms service time per record, 4 members"))
        out += [("B3: CPU-bound, 2 members >= 1.7x 1 member", f"{cpu:.2f}x", cpu >= 1.7),
                ("B3: service time, 4 members >= 3.5x 1 member", f"{io:.2f}x", io >= 3.5)]
    if "B7" in res:
        r = res["B7"]
        none = t_of(r, "B2 on Ray, no checkpoints")
        for label in ("every round", "every 10 rounds", "every 100 rounds"):
            if f"B2 on Ray, checkpoints {label}" in r:
                cost = t_of(r, f"B2 on Ray, checkpoints {label}") / none - 1
                out.append((f"B7: checkpoints {label} (information)", f"{cost:+.1%}", True))
        cost = t_of(r, "B2 on Ray, default checkpoints") / none - 1
        out.append(("B7: default checkpoints cost < 10% of throughput", f"{cost:+.1%}", cost < 0.10))
        kill = "B2 on Ray, member killed halfway, checkpoints every 10 rounds"
        if kill in r:
            lost = statistics.median(r[kill]["lost"])
            out.append(("B7: time lost to one kill (information)", f"{lost:.2f} s", True))
    if "B8" in res:
        r = res["B8"]
        local = t_of(r, "word count, hydropy, local target") / t_of(r, "word count, collections.Counter loop")
        ray = (t_of(r, "word count, hydropy on Ray, 2+2 members, combiner")
               / t_of(r, "word count, hydropy, local target"))
        out += [("B8: local within 1.3x of the Counter loop", f"{local:.2f}x", local <= 1.3),
                ("B8: partitioned on Ray no slower than local", f"{ray:.2f}x", ray <= 1.0)]
    if "B9" in res and "times" in res["B9"].get("join 2 x 500,000 -> 5M pairs, pandas.merge", {}):
        r = res["B9"]
        pandas = t_of(r, "join 2 x 500,000 -> 5M pairs, pandas.merge")
        for sink in ("Columns sink", "Python tuples"):
            ratio = t_of(r, f"join 2 x 500,000 -> 5M pairs, hydropy, {sink}") / pandas
            out.append((f"B9: join within 3x of pandas.merge ({sink})", f"{ratio:.2f}x", ratio <= 3))
        ratio = t_of(r, "join then sum of x*y per key, hydropy") / t_of(r, "join then sum of x*y per key, pandas")
        out.append(("B9: join then sum per key against pandas (information)", f"{ratio:.2f}x", True))
    if "B10" in res:
        r = res["B10"]
        for what in ("(word, count) pairs", "cart requests"):
            ratio = (t_of(r, f"30,000 {what} through Ray's object store, as a list")
                     / t_of(r, f"30,000 {what} through Ray's object store, wire form"))
            out.append((f"B10: {what}, the wire form against a list (information)", f"{ratio:.1f}x faster", True))
    if "B4" in res:
        c = t_of(res["B4"], "compile the 50-operator program (JIT excluded)")
        out += [("B4: compile 50 operators < 1 s (JIT excluded)", f"{c:.3f} s", c < 1.0)]
    return out


def t_of(rows: dict, label: str) -> float:
    return statistics.median(rows[label]["times"])


def rate_of(rows: dict, label: str) -> float:
    return rows[label]["n"] / t_of(rows, label)


def machine() -> str:
    import numba
    import numpy
    import ray
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"Numba {numba.__version__}, Ray {ray.__version__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke test")
    parser.add_argument("--only", default=",".join(SUITE), help="comma-separated, e.g. B1,B3")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    args = parser.parse_args(argv)
    chosen = [b.strip().upper() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in SUITE]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]}; choose from {', '.join(SUITE)}")

    results: dict[str, dict] = {}
    load_at_start = os.getloadavg()[0]
    print(f"machine: {machine()}")
    print(f"median of {args.repeats} runs after one first run{' (QUICK: smoke test)' if args.quick else ''}\n")
    print("| case | records | median s | records/s | first run s | actor start s | of which kernel warm-up s | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for bench in chosen:
        for label, case, full, quick, params in SUITE[bench]:
            n = quick if args.quick else full
            res = measure(case, n, args.repeats, params)
            res["n"] = n
            results.setdefault(bench, {})[label] = res
            if "skipped" in res:
                print(f"| {bench} {label} | {n:,} | skipped: {res['skipped']} | - | - | - | - | - |", flush=True)
                continue
            med = statistics.median(res["times"])
            rate = f"{n / med:,.0f}" if bench != "B4" else "-"
            start = f"{statistics.median(res['setup']):.3f}" if res.get("setup") else "-"
            warm = f"{statistics.median(res['warmup']):.3f}" if res.get("warmup") else "-"
            print(f"| {bench} {label} | {n:,} | {med:.4f} | {rate} | {res['first']:.3f} | {start} | {warm} | "
                  f"{res['peak_mb']:,.0f} |", flush=True)
    for bench, rows in results.items():
        for label, res in rows.items():
            if "ray_init" in res:
                print(f"\n{bench} {label}: ray.init took {res['ray_init']:.2f} s (not counted)")
    print(f"\nload average (1 min) at the start: {load_at_start:.1f}, at the end: {os.getloadavg()[0]:.1f} "
          f"(on {os.cpu_count()} cores; above that, other processes competed for the CPU)")
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for target, figure, met in targets(results):
        print(f"| {target} | {figure} | {'yes' if met else 'NO'} |")
    disagree = check_agreement(results)
    for line in disagree:
        print(line)
    return 1 if disagree else 0


#: cases within one benchmark that must compute the same result
SAME_RESULT = {"B1": ("hydropy, local target", "hand-written pure-Python dict loop",
                      "hand-written Numba kernel"),
               "B1 2M": ("hydropy, local target, 2M records", "hydropy, local target, 2M records, Columns sink",
                         "hydropy, local target, 2M records, empty caches",
                         "hand-written Numba kernel, 2M records"),
               "B1 sparse": ("hydropy, local target, sparse keys", "hand-written Numba kernel, sparse keys"),
               "B2": ("hydropy on Ray, batches of 10,000", "hydropy on Ray, batches of 100,000",
                      "hydropy, local target"),
               "B2 Python operators": ("hydropy on Ray, batches of 10,000, Python operators",
                                       "hydropy, local target, Python operators"),
               "B5": ("join, hydropy, local target", "join, hand-written pure-Python dict of lists"),
               "B6": ("two-phase commit, 3 stages of 1 member", "two-phase commit, 3 stages of 3 members"),
               "B7": tuple(label for label, *_ in SUITE["B7"]),
               "B8": ("word count, collections.Counter loop", "word count, hydropy, local target",
                      "word count, hydropy on Ray, 2+2 members, combiner",
                      "word count, hydropy on Ray, 2+2 members, no combiner"),
               "B9": tuple(label for label, *_ in SUITE["B9"][:3]),
               "B9 sum": tuple(label for label, *_ in SUITE["B9"][3:]),
               "B10": tuple(label for label, *_ in SUITE["B10"][:2]),
               "B10 nested": tuple(label for label, *_ in SUITE["B10"][2:])}


def check_agreement(results: dict) -> list[str]:
    """Lines naming cases whose results differ where they must agree."""
    out = []
    for bench, labels in SAME_RESULT.items():
        rows = results.get(bench.split()[0], {})
        checks = {label: rows.get(label, {}).get("check") for label in labels}
        present = {k: v for k, v in checks.items() if v is not None}
        if len(set(present.values())) > 1:
            out.append(f"{bench}: results DIFFER: {present}")
    return out


if __name__ == "__main__":
    sys.exit(main())
