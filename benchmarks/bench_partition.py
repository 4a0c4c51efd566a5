"""Partitioning two-phase commit on local Ray: transactions/s with each participant's vote
logged for a fixed service time, before and after partitioning every stage on the
transaction id (REFERENCES.md: 30k -> 129k commands/s with 3 partitions in the paper).

    python benchmarks/bench_partition.py [--txns N] [--service SECONDS] [--members 3]

The service time (a sleep standing for the forced log write) frees the CPU, so on 2 cores
N members can approach N times the throughput. Both design points are checked against the
single-node program first; each figure is the median of ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
DECOUPLE = ("  - decouple: {operators: [yes_vote, yes_voter, yes_votes, read_votes, all_yes, commit, "
            "no_vote, abort, decide, decision, acknowledge], to: decider}\n"
            "  - decouple: {operators: [prepare, vote], to: participants}\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txns", type=int, default=2000)
    parser.add_argument("--service", type=float, default=0.002, help="seconds per logged vote")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import ray

    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.local import canonical
    from hydropy.targets.ray import run_compiled

    work = tempfile.mkdtemp(prefix="hydropy-bench-")
    with open(os.path.join(EXAMPLES, "twopc.py"), encoding="utf-8") as fh:
        program = re.sub(r"^LOG_SECONDS = .*$", f"LOG_SECONDS = {args.service!r}", fh.read(),
                         flags=re.M)
    path = os.path.join(work, "twopc.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(program)
    plans = {"decoupled, 1 member per stage": DECOUPLE,
             f"partitioned, {args.members} members per stage": DECOUPLE + "".join(
                 f"  - partition: {{stage: {s}, n: {args.members}}}\n"
                 for s in ("main", "participants", "decider"))}
    flow = load_flow(path)
    txns = [(f"t{i}", ("balance", "audit") if i % 10 == 0 else ("balance",))
            for i in range(args.txns)]
    expected = flow.run({"txns": txns})

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = []
    try:
        for name, steps in plans.items():
            plan = os.path.join(work, f"plan{len(rows)}.yaml")
            with open(plan, "w", encoding="utf-8") as fh:
                fh.write("steps:\n" + steps)
            out = os.path.join(work, f"out{len(rows)}")
            point = compile_flow(flow, out, plan=plan)
            got = run_compiled(out, {"txns": txns}, batch_size=args.batch_size)
            assert canonical(point, got) == canonical(point, expected), f"{name} disagrees"
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run_compiled(out, {"txns": txns}, batch_size=args.batch_size)
                times.append(time.perf_counter() - start)
            rows.append((name, args.txns / statistics.median(times), statistics.median(times)))
    finally:
        ray.shutdown()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Ray {ray.__version__}")
    print(f"two-phase commit, {args.txns:,} transactions x 3 votes, "
          f"{args.service * 1000:g} ms per logged vote, batches of {args.batch_size}, "
          f"median of {args.repeats}")
    print(f"{'design point':36} {'txns/s':>10} {'median s':>9}")
    for name, rate, t in rows:
        print(f"{name:36} {rate:10,.0f} {t:9.3f}")
    print(f"partitioned / decoupled: {rows[1][1] / rows[0][1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
