"""B9, the join of issue 11: 2 x 500,000 (int64 key, float64) records over 50,000 keys (about
5 million pairs), by ``pandas.merge`` and by hydropy's local target (its pairs as nested
``hp.Columns`` and as Python tuples), and the same join followed by a sum of ``x * y`` per key
(kernels after the join) against pandas (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import math
import os

import numpy as np

from harness import PROGRAMS, case, timed

NO_PANDAS = "pandas is not installed: pip install -e '.[bench]'"



def join_data(n: int):
    """(left keys, left values, right keys, right values): n/2 records a side, keys uniform
    over n/20 values, so each key has about 10 rows a side and n*5 pairs in all."""
    rng = np.random.default_rng(0)
    half, keys = max(n // 2, 1), max(n // 20, 1)
    return rng.integers(0, keys, half), rng.random(half), rng.integers(0, keys, half), rng.random(half)


def pairs_check(k, x, y) -> str:
    """Order-free: the number of pairs, the sum of their keys and the exact sum of x * y."""
    k, x, y = (np.asarray(c) for c in (k, x, y))
    return f"{len(k)} pairs, key sum {int(k.sum())}, sum of x*y {math.fsum((x * y).tolist())!r}"


def sums_check(keys, sums) -> str:
    """The number of keys and their total to 9 digits (pandas sums each key's products with
    compensation, hydropy in arrival order: the last bits differ)."""
    return f"{len(keys)} keys, total {math.fsum(np.asarray(sums).tolist()):.9g}"


def pandas_or_none():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def flow_of(name: str):
    from hydropy.loader import load_flow
    return load_flow(os.path.join(PROGRAMS, name + ".py"))


@case
def b9_pandas(n: int, repeats: int, **_) -> dict:
    pd = pandas_or_none()
    if pd is None:
        return {"skipped": NO_PANDAS}
    lk, lv, rk, rv = join_data(n)
    left, right = pd.DataFrame({"k": lk, "x": lv}), pd.DataFrame({"k": rk, "y": rv})
    out = timed(lambda: pd.merge(left, right, on="k"), repeats)
    df = out.pop("result")
    return {**out, "check": pairs_check(df["k"], df["x"], df["y"])}


@case
def b9_hydropy(n: int, repeats: int, columns: int = 1, **_) -> dict:
    """``columns``: the pairs as nested Columns (``flow.run(..., columns=True)``), else as a
    list of ``(k, (x, y))`` tuples. Inputs cut into the default ticks of 10,000 records."""
    import hydropy as hp
    lk, lv, rk, rv = join_data(n)
    flow = flow_of("keyed_join")
    out = timed(lambda: flow.run({"left": hp.Columns(lk, lv), "right": hp.Columns(rk, rv)},
                                 columns=bool(columns)), repeats)
    pairs = out.pop("result")["pairs"]
    if columns:
        return {**out, "check": pairs_check(*pairs.cols)}
    k = [p[0] for p in pairs]
    return {**out, "check": pairs_check(k, [p[1][0] for p in pairs], [p[1][1] for p in pairs])}


@case
def b9_pandas_sum(n: int, repeats: int, **_) -> dict:
    pd = pandas_or_none()
    if pd is None:
        return {"skipped": NO_PANDAS}
    lk, lv, rk, rv = join_data(n)
    left, right = pd.DataFrame({"k": lk, "x": lv}), pd.DataFrame({"k": rk, "y": rv})

    def run():
        df = pd.merge(left, right, on="k")
        return (df["x"] * df["y"]).groupby(df["k"]).sum()

    out = timed(run, repeats)
    sums = out.pop("result")
    return {**out, "check": sums_check(sums.index.to_numpy(), sums.to_numpy())}


@case
def b9_hydropy_sum(n: int, repeats: int, **_) -> dict:
    import hydropy as hp
    lk, lv, rk, rv = join_data(n)
    flow = flow_of("join_sum")
    out = timed(lambda: flow.run({"left": hp.Columns(lk, lv), "right": hp.Columns(rk, rv)},
                                 columns=True), repeats)
    sums = out.pop("result")["sums"]
    return {**out, "check": sums_check(*sums.cols)}
