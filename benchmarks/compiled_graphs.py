"""Ray Compiled Graphs (``ray.dag`` ``experimental_compile``) against ordinary actor calls, for
the shape of a hydropy round: a batch through two actors in a row (a stage, then the stage it
feeds), the second returning a small status, as hydropy's driver does per round.

    python benchmarks/compiled_graphs.py [--rounds 200] [--records 10000] [--repeats 5]

Prints, per way and payload (an int64 column of ``--records`` records, and one int), the
median over ``--repeats`` runs of ``--rounds`` rounds: seconds per round. Ordinary calls are
measured one round at a time (call, wait) and with 4 rounds in flight, as hydropy's driver
keeps them (``max_inflight``); the compiled graph one round at a time and with 4 in flight
(``execute`` before the previous results are read). Interleaved: each repeat runs every way.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

INFLIGHT = 4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import ray
    from ray.dag import InputNode

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from hydropy.targets.ray_session import start_local_ray
    start_local_ray(num_cpus=2)

    @ray.remote(num_cpus=0)
    class Stage:
        """Doubles a column (a map), or sums it into a status (the receiving stage)."""

        def forward(self, batch):
            return batch * 2 + 1 if isinstance(batch, np.ndarray) else batch

        def status(self, batch):
            return int(batch.sum()) if isinstance(batch, np.ndarray) else batch

    first, second = Stage.remote(), Stage.remote()
    ray.get([first.forward.remote(0), second.status.remote(0)])
    with InputNode() as inp:
        dag = second.status.bind(first.forward.bind(inp))
    compiled = dag.experimental_compile()

    def ordinary(payloads, inflight):
        pending = []
        for p in payloads:
            pending.append(second.status.remote(first.forward.remote(p)))
            if len(pending) >= inflight:
                ray.get(pending.pop(0))
        return ray.get(pending)

    def graph(payloads, inflight):
        pending = []
        for p in payloads:
            pending.append(compiled.execute(p))
            if len(pending) >= inflight:
                pending.pop(0).get()
        return [ref.get() for ref in pending]

    payloads = {"column": [np.arange(args.records, dtype=np.int64) + r for r in range(args.rounds)],
                "one int": list(range(args.rounds))}
    ways = {(kind, name, inflight): fn for kind, fn in (("ordinary actor calls", ordinary),
                                                        ("compiled graph", graph))
            for name in payloads for inflight in (1, INFLIGHT)}
    times: dict = {way: [] for way in ways}
    try:
        for way, fn in ways.items():  # one run each first (warm-up)
            fn(payloads[way[1]][:10], way[2])
        for _ in range(args.repeats):
            for way, fn in ways.items():
                start = time.perf_counter()
                fn(payloads[way[1]], way[2])
                times[way].append(time.perf_counter() - start)
    finally:
        compiled.teardown()
        ray.shutdown()
    print(f"{args.rounds} rounds through 2 actors, median of {args.repeats} (interleaved); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| way | payload | rounds in flight | ms per round |")
    print("|---|---|---|---|")
    for (kind, name, inflight), ts in times.items():
        label = f"{args.records:,} int64" if name == "column" else name
        print(f"| {kind} | {label} | {inflight} | {1000 * statistics.median(ts) / args.rounds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
