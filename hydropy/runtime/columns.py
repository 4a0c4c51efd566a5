"""Columnar batches: records of a numeric stream stored as numpy columns.

An element type (dtype) is a string: a scalar ``int64``, ``float64`` or ``bool``, or a flat
tuple of scalars ``(int64, float64)``. A :class:`Columns` batch holds one column per tuple
field (one column for scalars). Iterating it yields the same Python records a list batch
would hold (ints, floats, bools, tuples of them), so every per-record operator accepts it.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

SCALARS = {"int64": np.int64, "float64": np.float64, "bool": np.bool_}
_NAMES = {np.dtype(t): name for name, t in SCALARS.items()}  # dtype.name is slow: per batch
_ACCEPTS = {"int64": (int,), "float64": (float, int), "bool": (bool,)}


def fields(dtype: str) -> tuple[str, ...]:
    """The scalar fields of ``dtype``: ``"(int64, float64)"`` -> ``("int64", "float64")``."""
    return tuple(f.strip() for f in dtype[1:-1].split(",")) if is_tuple(dtype) else (dtype,)


def is_tuple(dtype: str) -> bool:
    return dtype.startswith("(")


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
    """A batch of records as numpy columns of equal length (one column: scalar records)."""

    __slots__ = ("cols",)

    def __init__(self, *cols: np.ndarray):
        if not cols:
            raise ValueError("Columns needs at least one column")
        arrays = tuple(_column(c) for c in cols)
        n = len(arrays[0])
        for a in arrays:
            if a.ndim != 1 or len(a) != n:
                raise ValueError("Columns needs 1-D columns of equal length")
        self.cols = arrays

    @property
    def dtype(self) -> str:
        names = [_NAMES[c.dtype] for c in self.cols]
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
        """The records as Python objects."""
        if len(self.cols) == 1:
            return self.cols[0].tolist()
        return list(zip(*(c.tolist() for c in self.cols)))

    def take(self, index) -> "Columns":
        """The records at ``index`` (a slice, an index array or a boolean mask)."""
        return Columns(*(c[index] for c in self.cols))

    def __repr__(self) -> str:
        return f"Columns[{self.dtype}]({len(self)} records)"

    @staticmethod
    def empty(dtype: str) -> "Columns":
        return Columns(*(np.empty(0, SCALARS[f]) for f in fields(dtype)))

    @staticmethod
    def concat(parts: list["Columns"]) -> "Columns":
        if len(parts) == 1:
            return parts[0]
        return Columns(*(np.concatenate(cs) for cs in zip(*(p.cols for p in parts))))

    @staticmethod
    def from_records(records: Iterable[Any], dtype: str) -> "Columns":
        """``records`` (a list, or a Columns of the same dtype) as columns of ``dtype``;
        raises ValueError naming the first record that does not fit."""
        if isinstance(records, Columns):
            if records.dtype != dtype:
                raise ValueError(f"got columns of {records.dtype}, expected {dtype}")
            return records
        records = list(records)
        names = fields(dtype)
        if is_tuple(dtype):
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
        return Columns(*cols)


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
