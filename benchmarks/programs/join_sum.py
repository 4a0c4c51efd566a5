"""B9: a join of two streams of (int64 key, float64) pairs, then the sum of x * y per key:
kernels after the join (its pairs stay columns)."""
import hydropy as hp


def product(pair):
    k, (x, y) = pair
    return k, x * y


def add(total, v):
    return total + v


flow = hp.Flow("join_sum")
left = flow.source("left", dtype=("int64", "float64"))
pairs = left.join(flow.source("right", dtype=("int64", "float64")), name="pairs")
pairs.map(product, name="product").fold_keyed(float, add, name="per_key").sink("sums")
