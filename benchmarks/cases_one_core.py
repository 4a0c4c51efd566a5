"""B1 (keyed aggregation) and B5 (a join) on one core: hydropy's local target against
hand-written pure Python and hand-written Numba (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import math
import os
import shutil
import tempfile

import numpy as np
from numba import njit

from harness import case, digest, program, timed


# -- B1: keyed aggregation on one core ----------------------------------------------------

def b1_data(n: int, sparse: int = 0):
    """n records over 100,000 distinct keys: dense (0..99,999) or sparse (random int64s)."""
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 100_000, n, dtype=np.int64)
    if sparse:
        keys = rng.integers(-2**62, 2**62, 100_000, dtype=np.int64)[keys]
    return keys, rng.random(n)


def b1_check(keys, sums) -> str:
    """Count and exact sum of the per-key sums, taken in key order."""
    order = np.argsort(keys)
    return f"{len(keys)} keys, total {math.fsum(np.asarray(sums)[order].tolist())!r}"


@case
def b1_python(n: int, repeats: int, sparse: int = 0, **_) -> dict:
    keys, vals = b1_data(n, sparse)
    ks, vs = keys.tolist(), vals.tolist()

    def run():
        sums = {}
        get = sums.get
        for k, v in zip(ks, vs):
            sums[k] = get(k, 0.0) + v
        return sums

    out = timed(run, repeats)
    sums = out.pop("result")
    return {**out, "check": b1_check(np.array(list(sums)), list(sums.values()))}



@njit(cache=True)
def _hand_insert(tkeys, tsums, used, keys, vals, start, count):
    """Adds records from ``start`` until the table is half full; returns (next record, count)."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = (k * 0x5851F42D4C957F2D) & mask
        while used[s] and tkeys[s] != k:
            s = (s + 1) & mask
        if not used[s]:
            if 2 * count >= tkeys.shape[0]:
                return i, count
            used[s], tkeys[s] = True, k
            count += 1
        tsums[s] += vals[i]
    return keys.shape[0], count


@njit(cache=True)
def _hand_sum(keys, vals):
    """Sums per key in an open-addressing table that doubles when half full."""
    tkeys, tsums, used = np.empty(1024, np.int64), np.zeros(1024), np.zeros(1024, np.bool_)
    i, count = _hand_insert(tkeys, tsums, used, keys, vals, 0, 0)
    while i < keys.shape[0]:
        old_k, old_s = tkeys[used], tsums[used]
        cap = 2 * tkeys.shape[0]
        tkeys, tsums, used = np.empty(cap, np.int64), np.zeros(cap), np.zeros(cap, np.bool_)
        _hand_insert(tkeys, tsums, used, old_k, old_s, 0, 0)
        i, count = _hand_insert(tkeys, tsums, used, keys, vals, i, count)
    return tkeys[used], tsums[used]


@case
def b1_numba(n: int, repeats: int, sparse: int = 0, **_) -> dict:
    keys, vals = b1_data(n, sparse)
    out = timed(lambda: _hand_sum(keys, vals), repeats)
    result = out.pop("result")
    return {**out, "check": b1_check(*result)}


@case
def b1_hydropy(n: int, repeats: int, sparse: int = 0, columns: int = 0, cold: int = 0, **_) -> dict:
    """``columns``: the sink as ``hp.Columns`` (``flow.run(..., columns=True)``), else the
    sorted list of Python tuples. ``cold``: the first run compiles every kernel (empty
    hydropy and Numba caches) instead of loading them from disk."""
    if cold:
        import numba
        work = tempfile.mkdtemp(prefix="hydropy-bench-")
        os.environ["HYDROPY_CACHE_DIR"] = numba.config.CACHE_DIR = work
    import hydropy as hp
    flow, _ = program("keyed_sum")
    keys, vals = b1_data(n, sparse)
    options = {"columns": True} if columns else {}
    out = timed(lambda: flow.run({"records": hp.Columns(keys, vals)}, **options), repeats)
    if cold:
        shutil.rmtree(work, ignore_errors=True)
    sums = out.pop("result")["sums"]
    if columns:
        return {**out, "check": b1_check(*sums.cols)}
    return {**out, "check": b1_check(np.array([k for k, _ in sums]), [v for _, v in sums])}


# -- B5: a join on one core ---------------------------------------------------------------

B5_TICKS = 10


def b5_data(n: int) -> list[tuple]:
    """n records, half per side, keys uniform over n/2 distinct keys (about n/2 pairs), as
    B5_TICKS ticks of (left keys, left values, right keys, right values)."""
    rng = np.random.default_rng(0)
    half = max(n // 2, 1)
    cols = [rng.integers(0, half, half), rng.random(half), rng.integers(0, half, half), rng.random(half)]
    bounds = np.linspace(0, half, B5_TICKS + 1).astype(int)
    return [tuple(c[a:b] for c in cols) for a, b in zip(bounds, bounds[1:])]


@case
def b5_python(n: int, repeats: int, **_) -> dict:
    """A hand-written dict-of-lists join, in the order of the Python Join operator."""
    ticks = [(list(zip(lk.tolist(), lv.tolist())), list(zip(rk.tolist(), rv.tolist())))
             for lk, lv, rk, rv in b5_data(n)]

    def run():
        left, right, out = {}, {}, []
        for ls, rs in ticks:
            for k, x in ls:
                out.extend((k, (x, y)) for y in right.get(k, ()))
                left.setdefault(k, []).append(x)
            for k, y in rs:
                out.extend((k, (x, y)) for x in left.get(k, ()))
                right.setdefault(k, []).append(y)
        return out

    out = timed(run, repeats)
    pairs = out.pop("result")
    return {**out, "check": f"{len(pairs)} pairs, {digest(pairs)}"}


@case
def b5_hydropy(n: int, repeats: int, **_) -> dict:
    import hydropy as hp
    from hydropy.targets.local import run as run_local
    flow, _ = program("keyed_join")
    graph = flow.graph()
    ticks = [{"left": hp.Columns(lk, lv), "right": hp.Columns(rk, rv)} for lk, lv, rk, rv in b5_data(n)]
    out = timed(lambda: run_local(graph, ticks=ticks), repeats)
    pairs = out.pop("result")["pairs"]
    return {**out, "check": f"{len(pairs)} pairs, {digest(pairs)}"}
