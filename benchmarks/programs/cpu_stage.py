"""B3: a CPU-bound stateless stage (a Numba kernel), partitioned by cpu_stage_2.yaml."""
import hydropy as hp

ROUNDS = 20_000


def work(x):
    acc = x
    for _ in range(ROUNDS):
        acc = (acc * 48271 + 11) % 2147483647
    return acc


def rare(y):
    return y % 1000 == 0


flow = hp.Flow("cpu_stage")
flow.source("xs", dtype="int64").map(work, name="work").filter(rare, name="rare").sink("kept")
