"""Cases of ``benchmarks/run.py`` interleaved: round after round, every chosen case once (each
in its own process, as run.py runs them), so a change of the machine's load hits every case
alike; then each case's median and the targets table, as run.py prints them.

    python benchmarks/interleaved.py --only B9 [--rounds 5] [--cases LABEL_PART,...]

Ratios between cases of one such run are what to compare when other work shares the machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

from run import SUITE, check_agreement, measure, targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", required=True, help="comma-separated benchmarks, e.g. B2,B8")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each case (median)")
    parser.add_argument("--cases", default="", help="comma-separated parts of case labels to keep")
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke test")
    args = parser.parse_args(argv)
    keep = [c.strip() for c in args.cases.split(",") if c.strip()]
    chosen = [(bench, row) for bench in args.only.upper().split(",") for row in SUITE[bench]
              if not keep or any(k in row[0] for k in keep)]
    results: dict[str, dict] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for bench, (label, case, full, quick, params) in chosen:
            n = quick if args.quick else full
            res = measure(case, n, 1, params)
            row = results.setdefault(bench, {}).setdefault(label, {"n": n, "times": [], "cpu": []})
            if "skipped" in res:
                row["skipped"] = res["skipped"]
                continue
            for key, value in res.items():  # times, cpu, and what a case adds (B7: lost)
                if isinstance(value, list):
                    row.setdefault(key, []).extend(value)
            row["check"] = res["check"]
        loads.append(os.getloadavg()[0])
    print(f"{args.rounds} interleaved rounds; 1-minute load average after each: "
          f"{', '.join(f'{x:.1f}' for x in loads)} (on {os.cpu_count()} cores)\n")
    print("| case | median s | min s | max s | median CPU s |")
    print("|---|---|---|---|---|")
    for bench, rows in results.items():
        for label, row in rows.items():
            if "skipped" in row:
                print(f"| {bench} {label} | skipped: {row['skipped']} | | | |")
                continue
            t = row["times"]
            cpu = f"{statistics.median(row['cpu']):.4f}" if row["cpu"] else "-"
            print(f"| {bench} {label} | {statistics.median(t):.4f} | {min(t):.4f} | {max(t):.4f} | {cpu} |")
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for bench, rows in results.items():
        try:  # a benchmark's targets need all its cases (--cases may leave some out)
            found = targets({bench: {k: v for k, v in rows.items() if "skipped" not in v}})
        except KeyError:
            found = []
        for target, figure, met in found:
            print(f"| {target} | {figure} | {'yes' if met else 'NO'} |")
    disagree = check_agreement(results)
    for line in disagree:
        print(line)
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
