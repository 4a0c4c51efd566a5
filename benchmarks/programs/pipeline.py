"""B2: parse numbers, keep the odd ones, sum them per key (2 stages: pipeline.yaml)."""
import hydropy as hp


def parse(x):
    return (x % 1000, x * 2 + 1)


def odd(kv):
    return kv[1] % 4 == 1


def add(total, v):
    return total + v


flow = hp.Flow("pipeline")
pairs = flow.source("numbers", dtype="int64").map(parse, name="parse").filter(odd, name="odd")
pairs.fold_keyed(int, add, name="sum_per_key").sink("sums")
