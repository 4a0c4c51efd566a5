"""B2 without element types: the same pipeline run by the per-record Python operators."""
import hydropy as hp


def parse(x):
    return (x % 1000, x * 2 + 1)


def odd(kv):
    return kv[1] % 4 == 1


def add(total, v):
    return total + v


flow = hp.Flow("pipeline_python")
pairs = flow.source("numbers").map(parse, name="parse").filter(odd, name="odd")
pairs.fold_keyed(int, add, name="sum_per_key").sink("sums")
