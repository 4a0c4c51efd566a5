"""Columnar batches: records of a numeric stream stored as numpy columns.

An element type (dtype) is a string: a scalar ``int64``, ``float64`` or ``bool``, or a flat
tuple of scalars ``(int64, float64)``. A :class:`Columns` batch holds one column per tuple
field (one column for scalars). Iterating it yields the same Python records a list batch
would hold (ints, floats, bools, tuples of them), so every per-record operator accepts it.

A join's output ``(k, (x, y))`` is a *nested* element type, ``(int64, (float64, float64))``:
its Columns hold one column per scalar leaf (``k``, ``x``, ``y``) and a ``shape`` saying how
the leaves nest. Users declare flat types only; nested ones come from kernels.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import numpy as np

SCALARS = {"int64": np.int64, "float64": np.float64, "bool": np.bool_}
_NAMES = {np.dtype(t): name for name, t in SCALARS.items()}  # dtype.name is slow: per batch
_ACCEPTS = {"int64": (int,), "float64": (float, int), "bool": (bool,)}


def fields(dtype: str) -> tuple[str, ...]:
    """The fields of ``dtype`` (one level): ``"(int64, float64)"`` -> ``("int64", "float64")``,
    ``"(int64, (float64, bool))"`` -> ``("int64", "(float64, bool)")``; a scalar is its one field."""
    if not is_tuple(dtype):
        return (dtype,)
    out, depth, start = [], 0, 1
    for i, ch in enumerate(dtype[1:-1], 1):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(dtype[start:i].strip())
            start = i + 1
    out.append(dtype[start:-1].strip())
    return tuple(out)


def leaves(dtype: str) -> tuple[str, ...]:
    """The scalar leaves of ``dtype`` in order, one per column: ``"(int64, (float64, bool))"``
    -> ``("int64", "float64", "bool")``."""
    return tuple(leaf for f in fields(dtype) for leaf in (leaves(f) if is_tuple(f) else (f,)))


def is_tuple(dtype: str) -> bool:
    return dtype.startswith("(")


def is_nested(dtype: str) -> bool:
    """Whether some field of ``dtype`` is itself a tuple."""
    return is_tuple(dtype) and any(is_tuple(f) for f in fields(dtype))


def shape_of(dtype: str):
    """The nesting of ``dtype``'s columns: None when flat, else a tuple of column indices and
    tuples of them (``"(int64, (float64, bool))"`` -> ``(0, (1, 2))``)."""
    if not is_nested(dtype):
        return None
    counter = iter(range(len(leaves(dtype))))

    def walk(d):
        return tuple(walk(f) if is_tuple(f) else next(counter) for f in fields(d))
    return walk(dtype)


def leaf_paths(dtype: str) -> list[tuple[int, ...]]:
    """The index path of each leaf in a record of ``dtype`` (``[(0,), (1, 0), (1, 1)]`` for
    ``(int64, (float64, float64))``; ``[()]`` for a scalar)."""
    if not is_tuple(dtype):
        return [()]
    return [(i,) + p for i, f in enumerate(fields(dtype)) for p in leaf_paths(f)]


#: True while this process keeps its heap frozen on purpose (:func:`freeze_heap`)
_heap_frozen = False


def freeze_heap() -> None:
    """Freeze every object the collector tracks now: its passes no longer walk them (they are
    still freed when nothing refers to them). For a process's long-lived objects, e.g. a stage
    member's imports once it started; :func:`collector_paused` then leaves them frozen."""
    global _heap_frozen
    gc.freeze()
    _heap_frozen = True


@contextmanager
def heap_frozen():
    """The objects that exist now frozen (:func:`freeze_heap`) while the block runs, unfrozen
    after; where the process had frozen objects already, they stay as they are."""
    global _heap_frozen
    if _heap_frozen or gc.get_freeze_count():
        yield
        return
    freeze_heap()
    try:
        yield
    finally:
        gc.unfreeze()
        _heap_frozen = False


@contextmanager
def collector_paused():
    """The cyclic garbage collector off while records are built in bulk, and what was built
    moved to its oldest generation after: tuples of numbers hold no cycles, yet a collector
    run every 700 new tuples scans them again and again, and even one run of the young
    generation over millions of them costs as much as building them. (``freeze`` then
    ``unfreeze`` moves every tracked object to the oldest generation without scanning it;
    not done where objects are frozen, which ``unfreeze`` would undo: by the program, or on
    purpose by hydropy, which this knows without counting them, a walk over all of them.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _heap_frozen and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def normalize(dtype: Any) -> str | None:
    """A declared element type in canonical form; raises ValueError for anything else.

    Accepts ``"int64"``, ``int``, ``np.float64``, ``("int64", float)`` and ``"(int64, float64)"``.
    """
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype.strip().startswith("("):
        return normalize(tuple(dtype.strip()[1:-1].split(",")))
    if isinstance(dtype, (tuple, list)):
        if len(dtype) < 2:
            raise ValueError(f"a tuple element type needs at least 2 fields, got {dtype!r}")
        return "(" + ", ".join(_scalar(d) for d in dtype) + ")"
    return _scalar(dtype)


def _scalar(d: Any) -> str:
    name = {int: "int64", float: "float64", bool: "bool"}.get(d) if isinstance(d, type) else None
    if name is None:
        try:
            name = np.dtype(d.strip() if isinstance(d, str) else d).name
        except TypeError:
            name = None
    if name not in SCALARS:
        raise ValueError(f"unsupported element type {d!r}; use int64, float64, bool or a tuple of them")
    return name


class Columns:
    """A batch of records as numpy columns of equal length (one column: scalar records).

    ``shape`` (keyword) nests the columns: None for flat records, else a tuple of the column
    indices 0..n-1 in order, some grouped in inner tuples (``(0, (1, 2))``: ``(k, (x, y))``
    records), as :func:`shape_of` gives for a nested dtype."""

    __slots__ = ("cols", "shape")

    def __init__(self, *cols: np.ndarray, shape: tuple | None = None):
        if not cols:
            raise ValueError("Columns needs at least one column")
        arrays = tuple(_column(c) for c in cols)
        n = len(arrays[0])
        for a in arrays:
            if a.ndim != 1 or len(a) != n:
                raise ValueError("Columns needs 1-D columns of equal length")
        if shape is not None and (_shape_leaves(shape) != list(range(len(arrays)))
                                  or not _groups_ok(shape)):
            raise ValueError(f"shape {shape!r} does not nest columns 0..{len(arrays) - 1} in order")
        self.cols, self.shape = arrays, shape

    @property
    def dtype(self) -> str:
        names = [_NAMES[c.dtype] for c in self.cols]
        if self.shape is not None:
            return _shape_text(self.shape, names)
        return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"

    def __len__(self) -> int:
        return len(self.cols[0])

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tolist())

    def __getitem__(self, index: slice) -> "Columns":
        if not isinstance(index, slice):
            raise TypeError("Columns take slices; iterate for records")
        return self.take(index)

    def tolist(self) -> list:
        """The records as Python objects (tuples built with the collector paused)."""
        if len(self.cols) == 1:
            return self.cols[0].tolist()
        with collector_paused():
            values = [c.tolist() for c in self.cols]
            if self.shape is None:
                return list(zip(*values))

            def build(s):
                return values[s] if isinstance(s, int) else zip(*(build(x) for x in s))
            return list(build(self.shape))

    def take(self, index) -> "Columns":
        """The records at ``index`` (a slice, an index array or a boolean mask)."""
        return Columns(*(c[index] for c in self.cols), shape=self.shape)

    def __repr__(self) -> str:
        return f"Columns[{self.dtype}]({len(self)} records)"

    @staticmethod
    def empty(dtype: str) -> "Columns":
        return Columns(*(np.empty(0, SCALARS[f]) for f in leaves(dtype)), shape=shape_of(dtype))

    @staticmethod
    def concat(parts: list["Columns"]) -> "Columns":
        if len(parts) == 1:
            return parts[0]
        return Columns(*(np.concatenate(cs) for cs in zip(*(p.cols for p in parts))),
                       shape=parts[0].shape)

    @staticmethod
    def from_records(records: Iterable[Any], dtype: str) -> "Columns":
        """``records`` (a list, or a Columns of the same dtype) as columns of ``dtype``;
        raises ValueError naming the first record that does not fit."""
        if isinstance(records, Columns):
            if records.dtype != dtype:
                raise ValueError(f"got columns of {records.dtype}, expected {dtype}")
            return records
        records = list(records)
        names = leaves(dtype)
        if is_nested(dtype):
            for r in records:
                _check_nesting(r, dtype)
            values = [[_at(r, path) for r in records] for path in leaf_paths(dtype)]
        elif is_tuple(dtype):
            for r in records:
                if type(r) is not tuple or len(r) != len(names):
                    raise ValueError(f"record {r!r} is not a {dtype} tuple")
            values = [[r[i] for r in records] for i in range(len(names))]
        else:
            values = [records]
        cols = []
        for name, vals in zip(names, values):
            ok = _ACCEPTS[name]
            for v in vals:
                if type(v) not in ok:
                    raise ValueError(f"value {v!r} in a record does not fit {dtype}")
            try:
                cols.append(np.asarray(vals, dtype=SCALARS[name]))
            except OverflowError:
                raise ValueError(f"a value in the records does not fit {dtype}") from None
        return Columns(*cols, shape=shape_of(dtype))


def _check_nesting(record: Any, dtype: str) -> None:
    def fits(r, d):
        if not is_tuple(d):
            return True
        fs = fields(d)
        return type(r) is tuple and len(r) == len(fs) and all(fits(x, f) for x, f in zip(r, fs))
    if not fits(record, dtype):
        raise ValueError(f"record {record!r} is not a {dtype} tuple")


def _at(record: Any, path: tuple[int, ...]) -> Any:
    for i in path:
        record = record[i]
    return record


def _shape_leaves(shape) -> list:
    return [shape] if isinstance(shape, int) else [i for s in shape for i in _shape_leaves(s)]


def _groups_ok(shape) -> bool:
    return isinstance(shape, int) or (isinstance(shape, tuple) and len(shape) >= 2
                                      and all(_groups_ok(s) for s in shape))


def _shape_text(shape, names: list[str]) -> str:
    if isinstance(shape, int):
        return names[shape]
    return "(" + ", ".join(_shape_text(s, names) for s in shape) + ")"


def _column(c) -> np.ndarray:
    """``c`` as an array of one of :data:`SCALARS` in native byte order; raises ValueError."""
    a = np.asarray(c)
    if a.dtype not in _NAMES:
        if a.dtype.name not in SCALARS:
            raise ValueError(f"unsupported column type {a.dtype.name}; use int64, float64 or bool")
        a = a.astype(SCALARS[a.dtype.name])
    return a


def concat_batches(parts: list) -> Any:
    """Batches that arrived on one input this tick as one batch: Columns when every part is
    Columns of one dtype, else a list of records."""
    nonempty = [p for p in parts if len(p)]
    if nonempty and all(isinstance(p, Columns) for p in nonempty) \
            and len({p.dtype for p in nonempty}) == 1:
        return Columns.concat(nonempty)
    return [r for p in nonempty for r in p]
