"""B: records/s of a 2-stage pipeline on local Ray, against a hand-written Ray program that
makes one actor call per record and against the single-node program on the local target.

    python benchmarks/bench_pipeline.py [--records N] [--repeats 5]

All three run in one process against one Ray started here (2 CPUs); each figure is the
median of ``--repeats`` runs; ratios are against baselines measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def median_rate(fn, records: int, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    return records / med, med


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--per-record-records", type=int, default=3_000,
                        help="records for the one-call-per-record baseline (it is slow)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args(argv)

    import ray

    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled

    flow = load_flow(os.path.join(HERE, "pipeline_program.py"))
    numbers = list(range(args.records))
    expected = flow.run({"numbers": numbers})

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        out = os.path.join(tempfile.mkdtemp(prefix="hydropy-bench-"), "pipeline")
        compile_flow(flow, out, plan=os.path.join(HERE, "pipeline.yaml"))
        got = run_compiled(out, {"numbers": numbers}, batch_size=args.batch_size)
        assert got == expected, "the compiled pipeline disagrees with the single-node program"

        local_rate, local_t = median_rate(lambda: flow.run({"numbers": numbers}), args.records,
                                          args.repeats)
        ray_rate, ray_t = median_rate(
            lambda: run_compiled(out, {"numbers": numbers}, batch_size=args.batch_size),
            args.records, args.repeats)

        sys.path.insert(0, HERE)
        from pipeline_program import add, odd, parse

        @ray.remote
        class Parse:
            def __init__(self, sink):
                self.sink = sink

            def process(self, x):
                kv = parse(x)
                if odd(kv):
                    self.sink.add.remote(kv)

        @ray.remote
        class Sum:
            def __init__(self):
                self.sums = {}

            def add(self, kv):
                self.sums[kv[0]] = add(self.sums.get(kv[0], 0), kv[1])

            def result(self):
                return self.sums

        n = args.per_record_records

        def per_record():
            agg = Sum.remote()
            first = Parse.remote(agg)
            ray.get([first.process.remote(x) for x in range(n)])
            ray.get(agg.result.remote())
            ray.kill(first)
            ray.kill(agg)

        naive_rate, naive_t = median_rate(per_record, n, args.repeats)
    finally:
        ray.shutdown()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"Ray {ray.__version__}")
    print(f"2-stage pipeline (parse, filter | sum per key), {args.records:,} records, "
          f"batches of {args.batch_size:,}, median of {args.repeats}")
    print(f"{'variant':42} {'records/s':>12} {'median s':>9}")
    rows = [("hydropy on Ray (compiled stages)", ray_rate, ray_t),
            ("local target (single-node program)", local_rate, local_t),
            (f"hand-written Ray, 1 call/record ({n:,} rec)", naive_rate, naive_t)]
    for name, rate, t in rows:
        print(f"{name:42} {rate:12,.0f} {t:9.3f}")
    print(f"hydropy on Ray / one call per record: {ray_rate / naive_rate:.1f}x faster")
    print(f"local target / hydropy on Ray: Ray costs {local_rate / ray_rate:.2f}x the local time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
