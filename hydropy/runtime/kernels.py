"""Numba kernels at run time: one jitted helper per kernel kind, and the kernel operators
that hold state as numpy arrays and call them.

* :func:`keyed_fold` folds (key, value) columns into a hash table with the user's function,
  passed as a jitted function (a Numba dispatcher): a stage binds its function in a one-line
  kernel (``kernels.keyed_fold(total_fn, ...)``), which Numba caches on disk beside the stage
  code (a call from Python with a dispatcher argument would be compiled anew in every process).
* :func:`unique_insert` and :func:`join_pairs` take no user function: they run as they are.
* A fused chain of map/filter is one loop generated per chain
  (:mod:`hydropy.targets.kernel_source`): the fusion is the point of it.

Which operators run as kernels is decided by the kernel plan
(:mod:`hydropy.passes.kernel_plan`). Semantics are the Python operators' except that numbers
are int64/float64 (integer arithmetic wraps instead of growing).
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit

from hydropy.errors import InputError, UserCodeError

from .columns import SCALARS, Columns, collector_paused, fields, shape_of

_MASK63 = np.int64(0x7FFFFFFFFFFFFFFF)


# -- jitted helpers used by the generated kernels ---------------------------------------

@njit(cache=True, inline="always")
def probe(tkeys, used, mask, k):
    """The slot of key ``k``: where it is, or the free slot where it belongs (linear probing).

    The high bits are folded into the low ones by xor-shifts, then multiplied by an odd
    constant: both are bijections on [0, capacity), so dense non-negative keys never collide,
    while keys that differ only in high bits still spread."""
    x = k ^ (k >> 32)
    x ^= x >> 16
    s = (x * 0x5851F42D4C957F2D) & mask
    while used[s] and tkeys[s] != k:
        s = (s + 1) & mask
    return s


@njit(cache=True)
def _rehash(tkeys, tvals, used, nkeys, nvals, nused):
    mask = nkeys.shape[0] - 1
    for s in range(tkeys.shape[0]):
        if used[s]:
            d = probe(nkeys, nused, mask, tkeys[s])
            nused[d] = True
            nkeys[d] = tkeys[s]
            nvals[d] = tvals[s]


@njit(inline="always")  # inlined into the kernel that binds ``fn``: one compilation, cached with it
def keyed_fold(fn, init, reduce, tkeys, tvals, used, count, keys, vals, start):
    """Folds records from ``start`` into a :class:`KeyedTable`'s arrays: ``tvals[s] =
    fn(tvals[s], v)``; a new key starts from ``fn(init, v)`` (from ``v`` when ``reduce``).
    Stops before a new key that would make the table more than half full; returns the next
    record's index and the table's key count. ``fn`` is a jitted function; a kernel that
    binds it is compiled (and cached) with it inlined."""
    mask = tkeys.shape[0] - 1
    limit = tkeys.shape[0] // 2
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if used[s]:
            tvals[s] = fn(tvals[s], vals[i])
        else:
            if count >= limit:
                return i, count
            tkeys[s] = k
            if reduce:
                tvals[s] = vals[i]
            else:
                tvals[s] = fn(init, vals[i])
            used[s] = True
            count += 1
    return keys.shape[0], count


@njit(cache=True)
def unique_insert(tkeys, used, count, out, m, keys, start):
    """Adds int64 records from ``start`` to a hash set held in a :class:`KeyedTable`'s arrays,
    collecting in ``out[m:]`` those not seen before, in order; stops before a new record that
    would make the set more than half full. Returns the next record's index, the number
    collected and the set's size."""
    mask = tkeys.shape[0] - 1
    limit = tkeys.shape[0] // 2
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if not used[s]:
            if count >= limit:
                return i, m, count
            used[s] = True
            tkeys[s] = k
            count += 1
            out[m] = k
            m += 1
    return keys.shape[0], m, count


@njit(cache=True)
def _join_heads(tkeys, used, head, cnt, keys):
    """For each batch key, the first stored row of its key (-1: none), and how many stored
    rows match the batch in all: one probe per batch record."""
    mask, n = tkeys.shape[0] - 1, 0
    heads = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        s = probe(tkeys, used, mask, keys[i])
        if used[s]:
            heads[i] = head[s]
            n += cnt[s]
        else:
            heads[i] = -1
    return heads, n


@njit(cache=True)
def _join_fill(heads, nxt, stored, keys, vals, ok, obatch, ostored):
    """For each batch record ``(keys[i], vals[i])`` in order, each stored row of its key in
    arrival order (from ``heads[i]`` along ``nxt``): writes the key, the batch value and the
    stored value; returns how many."""
    m = 0
    for i in range(keys.shape[0]):
        r = heads[i]
        k, v = keys[i], vals[i]
        while r >= 0:
            ok[m], obatch[m], ostored[m] = k, v, stored[r]
            m += 1
            r = nxt[r]
    return m


@njit(cache=True)
def join_pairs(ltkeys, lused, lhead, lcnt, lvals, lnxt, rtkeys, rused, rhead, rcnt, rvals, rnxt,
               lk, lv, rk, rv):
    """The pairs this tick completes as (k, x, y) columns, in the Python ``Join``'s order:
    each left record of the batch (already stored, see :class:`JoinSide`) with the stored
    right rows of its key, then each right record (stored after) with every left row of its
    key."""
    lheads, nl = _join_heads(rtkeys, rused, rhead, rcnt, lk)
    rheads, nr = _join_heads(ltkeys, lused, lhead, lcnt, rk)
    ok, ox, oy = np.empty(nl + nr, np.int64), np.empty(nl + nr, lvals.dtype), np.empty(nl + nr, rvals.dtype)
    m = _join_fill(lheads, rnxt, rvals, lk, lv, ok, ox, oy)
    _join_fill(rheads, lnxt, lvals, rk, rv, ok[m:], oy[m:], ox[m:])
    return ok, ox, oy


@njit(cache=True)
def _join_insert(tkeys, used, head, tail, cnt, vals, nxt, rows, nkeys, keys, values, start):
    """Appends rows from ``start`` to a :class:`JoinSide` (room for them made beforehand) until
    the batch ends or the index is full; returns the next record's index, rows and key count."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if used[s]:
            nxt[tail[s]] = rows
        else:
            if nkeys >= tkeys.shape[0] // 2:
                return i, rows, nkeys
            used[s] = True
            tkeys[s] = k
            head[s] = rows
            cnt[s] = 0
            nkeys += 1
        tail[s] = rows
        cnt[s] += 1
        vals[rows] = values[i]
        nxt[rows] = -1
        rows += 1
    return keys.shape[0], rows, nkeys


@njit(cache=True)
def _rehash_index(tkeys, used, head, tail, cnt, ntkeys, nused, nhead, ntail, ncnt):
    mask = ntkeys.shape[0] - 1
    for s in range(tkeys.shape[0]):
        if used[s]:
            d = probe(ntkeys, nused, mask, tkeys[s])
            nused[d] = True
            ntkeys[d], nhead[d], ntail[d], ncnt[d] = tkeys[s], head[s], tail[s], cnt[s]


@njit(cache=True)
def _gather(tkeys, tvals, used, keys, out):
    """``out[i]``: the value of ``keys[i]``, each in the table. ``out`` comes from numpy, so a
    first run with empty caches compiles no ``np.empty`` here."""
    mask = tkeys.shape[0] - 1
    for i in range(keys.shape[0]):
        out[i] = tvals[probe(tkeys, used, mask, keys[i])]


@njit(cache=True)
def _hash_members(keys, members):
    out = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        out[i] = (keys[i] & 0x7FFFFFFFFFFFFFFF) % members
    return out


@njit(cache=True)
def _split_order(member, members):
    """A stable counting sort of record indices by member; returns (order, offsets)."""
    counts = np.zeros(members + 1, np.int64)
    for i in range(member.shape[0]):
        counts[member[i] + 1] += 1
    for j in range(members):
        counts[j + 1] += counts[j]
    pos = counts[:-1].copy()
    order = np.empty(member.shape[0], np.int64)
    for i in range(member.shape[0]):
        order[pos[member[i]]] = i
        pos[member[i]] += 1
    return order, counts


def hash_members(keys: np.ndarray, members: int) -> np.ndarray:
    """The member of each int64 key: ``stable_hash(k) % members``, as in batch.route."""
    return _hash_members(np.asarray(keys, np.int64), members)


def split_by_hash(batch: Columns, column: int, members: int) -> list[Columns]:
    """``batch`` split by the hash of one int64 column, each part in arrival order."""
    order, offsets = _split_order(hash_members(batch.cols[column], members), members)
    return [batch.take(order[offsets[j]:offsets[j + 1]]) for j in range(members)]


def warm_split_by_hash() -> float:
    """Compile (or load from the disk cache) :func:`split_by_hash` for the key columns it
    meets, writeable and read-only (batches from Ray's object store arrive read-only), so
    that no tick pays for it; returns the seconds that took."""
    start = time.perf_counter()
    for readonly in (False, True):
        keys = np.zeros(1, np.int64)
        keys.flags.writeable = not readonly
        _split_order(hash_members(keys, 2), 2)
    return time.perf_counter() - start


# -- runtime operators -------------------------------------------------------------------

def empty_inputs(dtype: str, readonly: bool) -> tuple[np.ndarray, ...]:
    """Empty input columns of ``dtype``, read-only if asked (to prime a kernel's signature)."""
    cols = Columns.empty(dtype).cols
    for c in cols:
        c.flags.writeable = not readonly
    return cols


class KernelOp:
    """Base of kernel operators: ``step`` takes a list or Columns batch, returns Columns."""

    def __init__(self, kernel, unit_in: str, unit_out: str, where: str = "", loc=None):
        self.kernel, self.in_dtype, self.out_dtype = kernel, unit_in, unit_out
        self.where, self.loc = where, loc
        self.compile_seconds = 0.0

    def columns(self, batch, dtype: str | None = None) -> Columns:
        try:
            return Columns.from_records(batch, dtype or self.in_dtype)
        except ValueError as exc:
            raise InputError(f"{self.where}: {exc}", self.loc) from None

    def run(self, *args):
        try:
            return self.kernel(*args)
        except Exception as exc:
            raise UserCodeError(f"{self.where}: kernel raised {type(exc).__name__}: {exc}",
                                self.loc) from exc

    def warm_up(self) -> float:
        """Compile (or load from the disk cache) now, for writable input columns and for
        read-only ones (what a batch that crossed Ray's object store arrives as: Numba types
        them apart, so the first tick of a member would compile again); returns the seconds
        it took."""
        start = time.perf_counter()
        self.prime(False)
        self.prime(True)
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds


class ChainKernel(KernelOp):
    """A fused chain of map/filter: stateless."""

    def step(self, batch) -> Columns:
        cols = self.columns(batch)
        return Columns(*self.run(*cols.cols), shape=shape_of(self.out_dtype))

    def prime(self, readonly: bool):
        self.kernel(*empty_inputs(self.in_dtype, readonly))


class KeyedTable:
    """The state of a keyed fold: an open-addressing hash table in numpy arrays (picklable).

    ``used`` marks the occupied slots (a small array the probes read).
    Invariant: at most half the slots are used (``count <= limit``).
    """

    def __init__(self, acc_dtype: str, capacity: int = 1024):
        self.keys = np.zeros(capacity, np.int64)
        self.vals = np.zeros(capacity, SCALARS[acc_dtype])
        self.used = np.zeros(capacity, np.bool_)
        self.count = 0

    @property
    def limit(self) -> int:
        return len(self.keys) // 2

    def grow(self) -> None:
        cap = 2 * len(self.keys)
        keys, vals, used = np.zeros(cap, np.int64), np.zeros(cap, self.vals.dtype), np.zeros(cap, np.bool_)
        _rehash(self.keys, self.vals, self.used, keys, vals, used)
        self.keys, self.vals, self.used = keys, vals, used

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, values) sorted by key."""
        keys = np.sort(self.keys[self.used])  # distinct: any sort is stable; faster than argsort
        return keys, self.lookup(keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), self.vals.dtype)
        _gather(self.keys, self.vals, self.used, keys, out)
        return out


def first_occurrences(keys: np.ndarray) -> np.ndarray:
    """The distinct ``keys``, in order of first occurrence."""
    _, first = np.unique(keys, return_index=True)
    return keys[np.sort(first)]


class KeyedKernel(KernelOp):
    """``fold_keyed``/``reduce_keyed``: ``kernel(init, tkeys, tvals, used, count, keys, vals,
    start)`` is :func:`keyed_fold` with the user's function bound. ``step`` returns the (key,
    value) pairs changed this tick, in order of first change, as the Python operator does
    (every record changes its key's value); nothing unless ``emits`` (no operator reads
    them). ``value`` is the table as a dict."""

    def __init__(self, kernel, in_dtype: str, out_dtype: str, init=None, emits: bool = True, **kw):
        super().__init__(kernel, in_dtype, out_dtype, **kw)
        self.emits = emits
        self.acc = fields(out_dtype)[1]
        self.init = SCALARS[self.acc](0 if init is None else init)
        self.table = KeyedTable(self.acc)
        self.nothing = Columns.empty(out_dtype)
        self._dict = None

    def step(self, batch) -> Columns:
        keys, vals = self.columns(batch).cols
        tab, start = self.table, 0
        while True:
            start, tab.count = self.run(self.init, tab.keys, tab.vals, tab.used, tab.count, keys,
                                        vals, start)
            if start == len(keys):
                break
            tab.grow()
        self._dict = None
        if not self.emits:  # no operator reads the changed pairs
            return self.nothing
        changed = first_occurrences(keys)
        return Columns(changed, tab.lookup(changed))

    def prime(self, readonly: bool):
        keys, vals = empty_inputs(self.in_dtype, readonly)
        tab = KeyedTable(self.acc, 2)
        self.kernel(self.init, tab.keys, tab.vals, tab.used, 0, keys, vals, 0)
        tab.lookup(keys)

    @property
    def value(self) -> dict:
        if self._dict is None:
            keys, vals = self.table.items()
            self._dict = dict(zip(keys.tolist(), vals.tolist()))
        return self._dict

    def sorted_items(self) -> list[tuple]:
        return Columns(*self.table.items()).tolist()

    def columns_items(self) -> Columns:
        """The table as (key, value) columns sorted by key."""
        return Columns(*self.table.items())


class UniqueKernel(KernelOp):
    """``unique`` of int64 records (:func:`unique_insert`): the set of records seen is a
    :class:`KeyedTable` (its one-byte values unused); ``step`` returns the records not seen
    before, in order."""

    def __init__(self, dtype: str, **kw):
        super().__init__(unique_insert, dtype, dtype, **kw)
        self.table = KeyedTable("bool")

    def step(self, batch) -> Columns:
        (keys,) = self.columns(batch).cols
        tab, start, m = self.table, 0, 0
        out = np.empty(len(keys), np.int64)
        while True:
            start, m, tab.count = self.run(tab.keys, tab.used, tab.count, out, m, keys, start)
            if start == len(keys):
                return Columns(out[:m])
            tab.grow()

    def prime(self, readonly: bool):
        tab = KeyedTable("bool", 2)
        (empty,) = empty_inputs("int64", readonly)
        self.kernel(tab.keys, tab.used, 0, np.empty(0, np.int64), 0, empty, 0)


class JoinSide:
    """One side of a join in numpy arrays (picklable): rows ``vals[:rows]``, append-only, and
    an open-addressing index over their keys, at most half full (``nkeys <= limit``).

    The rows of one key form a chain in arrival order: from ``head`` of the key's slot through
    ``nxt`` (-1 ends it) to ``tail``; ``cnt`` is its length. Keys are kept in the index only."""

    def __init__(self, dtype: str, capacity: int = 1024):
        self.tkeys, self.head, self.tail, self.cnt = (np.zeros(capacity, np.int64) for _ in range(4))
        self.used = np.zeros(capacity, np.bool_)
        self.vals, self.nxt = np.zeros(capacity, SCALARS[dtype]), np.zeros(capacity, np.int64)
        self.rows = self.nkeys = 0

    @property
    def limit(self) -> int:
        return len(self.tkeys) // 2

    def index(self) -> tuple:
        """The arrays the join kernel reads."""
        return self.tkeys, self.used, self.head, self.cnt, self.vals, self.nxt

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        if self.rows + len(keys) > len(self.vals):
            cap = max(2 * len(self.vals), self.rows + len(keys))
            self.vals = np.concatenate([self.vals[:self.rows], np.zeros(cap - self.rows, self.vals.dtype)])
            self.nxt = np.concatenate([self.nxt[:self.rows], np.zeros(cap - self.rows, np.int64)])
        start = 0
        while True:
            start, self.rows, self.nkeys = _join_insert(
                self.tkeys, self.used, self.head, self.tail, self.cnt, self.vals, self.nxt,
                self.rows, self.nkeys, keys, values, start)
            if start == len(keys):
                return
            self.grow()

    def grow(self) -> None:
        cap = 2 * len(self.tkeys)
        tkeys, head, tail, cnt = (np.zeros(cap, np.int64) for _ in range(4))
        used = np.zeros(cap, np.bool_)
        _rehash_index(self.tkeys, self.used, self.head, self.tail, self.cnt, tkeys, used, head, tail, cnt)
        self.tkeys, self.used, self.head, self.tail, self.cnt = tkeys, used, head, tail, cnt


class JoinKernel(KernelOp):
    """``join`` of two ``(int64 key, number)`` streams (:func:`join_pairs`): both sides are
    :class:`JoinSide` arrays; ``step`` returns the Python ``Join``'s records ``(k, (x, y))``,
    in its order, as nested Columns (``(int64, (x, y))``: three columns), so a kernel after
    it reads them as they are and a Python operator gets the tuples when it iterates."""

    SHAPE = (0, (1, 2))

    def __init__(self, left_dtype: str, right_dtype: str, **kw):
        out = f"(int64, ({fields(left_dtype)[1]}, {fields(right_dtype)[1]}))"
        super().__init__(join_pairs, left_dtype, out, **kw)
        self.right_dtype = right_dtype
        self.left, self.right = JoinSide(fields(left_dtype)[1]), JoinSide(fields(right_dtype)[1])

    def step(self, left, right) -> Columns:
        lk, lv = self.columns(left).cols
        rk, rv = self.columns(right, self.right_dtype).cols
        self.left.insert(lk, lv)
        k, x, y = self.run(*self.left.index(), *self.right.index(), lk, lv, rk, rv)
        self.right.insert(rk, rv)
        return Columns(k, x, y, shape=self.SHAPE)

    def prime(self, readonly: bool):
        left, right = JoinSide(fields(self.in_dtype)[1], 2), JoinSide(fields(self.right_dtype)[1], 2)
        lk, lv = empty_inputs(self.in_dtype, readonly)
        rk, rv = empty_inputs(self.right_dtype, readonly)
        left.insert(lk, lv)
        right.insert(rk, rv)
        self.kernel(*left.index(), *right.index(), lk, lv, rk, rv)
