"""B4: a 50-operator program (24 map/filter pairs, a keyed sum), for timing the compiler."""
import hydropy as hp


def step(x):
    return x * 3 + 1


def keep(x):
    return x % 7 != 0


def pair(x):
    return (x % 100, x)


def add(total, v):
    return total + v


flow = hp.Flow("fifty_ops")
xs = flow.source("xs", dtype="int64")
for i in range(24):
    xs = xs.map(step, name=f"step{i}").filter(keep, name=f"keep{i}")
xs.map(pair, name="pair").fold_keyed(int, add, name="total").sink("totals")
