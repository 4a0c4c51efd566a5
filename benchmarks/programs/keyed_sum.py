"""B1: the sum of float64 values per int64 key, on the local target."""
import hydropy as hp


def add(total, v):
    return total + v


flow = hp.Flow("keyed_sum")
flow.source("records", dtype=("int64", "float64")).fold_keyed(float, add, name="sums").sink("sums")
