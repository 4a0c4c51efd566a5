"""Batches on the wire and routing of records to the members of a stage.

A batch crosses a channel as numpy columns where every record allows it (all ints, all
floats, or tuples of one arity whose fields are all ints or all floats per position; a
:class:`Columns` batch always) and as a plain list otherwise. Numpy arrays travel through
Ray's object store without copying, and arrive as :class:`Columns`; a list travels as one
pickle (:func:`wire`) and arrives as the list.
"""
from __future__ import annotations

import hashlib
import pickle
import struct
import zlib
from typing import Any

import numpy as np

from hydropy.errors import PlanError

from .columns import Columns, leaf_paths


#: the hash of every NaN (keys compare by value, every NaN equal to every NaN)
_NAN_HASH = 0x7FF8000000000000

#: the types a column holds; a batch whose first record (or field) is of another type is sent
#: as a list without looking further
COLUMN_TYPES = (int, float)


def _column(values: list) -> np.ndarray | None:
    if type(values[0]) not in COLUMN_TYPES:
        return None
    kinds = {type(v) for v in values}
    if kinds == {int}:
        try:
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            return None
    if kinds == {float}:
        return np.asarray(values, dtype=np.float64)
    return None


def pack(records: list) -> Any:
    """``records`` in their most compact transport form (see module docstring)."""
    if isinstance(records, Columns):
        if records.shape is not None:
            return ("nested", list(records.cols), records.shape)
        return ("col", records.cols[0]) if len(records.cols) == 1 else ("cols", list(records.cols))
    if not records:
        return records
    col = _column(records)
    if col is not None:
        return ("col", col)
    first = records[0]
    if type(first) is tuple and first and all(type(f) in COLUMN_TYPES for f in first) and \
            all(type(r) is tuple and len(r) == len(first) for r in records):
        cols = [_column([r[i] for r in records]) for i in range(len(first))]
        if all(c is not None for c in cols):
            return ("cols", cols)
    return records


class Pickled:
    """A list batch handed to Ray: serialized as one pickle of the whole list, and a plain
    list again where it is deserialized. Ray's own serializer takes a list element by element,
    each tuple through its Python fallback, which costs 3-7x one ``pickle.dumps`` of the list
    (30,000 (word, count) pairs: 31 ms against 4 ms; benchmarks/README.md, "Lists on the
    wire"). Records the standard pickler refuses (a lambda, a local class) go by cloudpickle,
    as Ray would send them."""

    __slots__ = ("records",)

    def __init__(self, records: list):
        self.records = records

    def __reduce__(self):
        try:
            data = pickle.dumps(self.records, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            from ray import cloudpickle
            data = cloudpickle.dumps(self.records, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads, (data,)


def wire(packed: Any) -> Any:
    """A packed batch as it is handed to Ray: a non-empty list as :class:`Pickled`; columns
    as they are (their arrays cross the object store without copying)."""
    return Pickled(packed) if type(packed) is list and packed else packed


def on_wire(batch: Any) -> Any:
    """The packed batch inside :func:`wire`'s form (to read its records before it is sent)."""
    return batch.records if type(batch) is Pickled else batch


def unpack(batch: Any) -> list | Columns:
    """The records of a packed batch: Columns for columns, else a list of Python objects
    (a :class:`Pickled` one handed over in this process is its list)."""
    if isinstance(batch, tuple) and len(batch) == 2 and batch[0] == "col":
        return Columns(batch[1])
    if isinstance(batch, tuple) and len(batch) == 2 and batch[0] == "cols":
        return Columns(*batch[1])
    if isinstance(batch, tuple) and len(batch) == 3 and batch[0] == "nested":
        return Columns(*batch[1], shape=batch[2])
    return list(on_wire(batch))


def stable_hash(x: Any) -> int:
    """A hash equal in every process, whatever its ``PYTHONHASHSEED``: Python's str hash is
    salted per process, and a driver outside the ``hydropy`` command (``flow.run(target="ray")``
    in a notebook) runs under a seed of its own while it routes the sources, so str and bytes
    hash by CRC-32 of their bytes (cheap, and plenty to pick a member); ints by their value."""
    if isinstance(x, bool) or x is None:
        return int(bool(x))
    if isinstance(x, int):
        return x & 0x7FFFFFFFFFFFFFFF
    if isinstance(x, float):
        if x != x:  # every NaN is one key (hydropy.runtime.keys.canonical_key), whatever its bits
            return _NAN_HASH
        return stable_hash(int(x)) if x.is_integer() else _digest(struct.pack("<d", x))
    if isinstance(x, str):
        return zlib.crc32(x.encode("utf-8", "surrogatepass"))
    if isinstance(x, bytes):
        return zlib.crc32(x)
    if isinstance(x, tuple):
        h = 0x345678
        for item in x:
            h = (h * 1000003 ^ stable_hash(item)) & 0x7FFFFFFFFFFFFFFF
        return h
    if isinstance(x, frozenset):
        return sum(stable_hash(i) for i in x) & 0x7FFFFFFFFFFFFFFF
    raise PlanError(f"cannot route by the key {_brief(x)}: a value of type {type(x).__name__} has no "
                    f"hash that is the same in every process (a routing key is made of numbers, str, bytes, None, "
                    f"tuples and frozensets)")


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & 0x7FFFFFFFFFFFFFFF


def key_at(record: Any, path: tuple[int, ...]) -> Any:
    """The field at ``path`` of ``record``; a record without it is a plan error (its routing key)."""
    value = record
    try:
        for i in path:
            value = value[i]
    except (IndexError, KeyError, TypeError):
        raise PlanError(f"the routing key {list(path)} is beyond the record {_brief(record)}") from None
    return value


def _brief(record: Any, limit: int = 60) -> str:
    text = repr(record)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def route(records: list, routing: str, members: int, key: tuple[int, ...] | None,
          counter: int = 0) -> list[list]:
    """Split ``records`` into one list per receiving member.

    direct: all to member 0 (the stage has one member); hash: by ``stable_hash`` of the field
    at ``key``; broadcast: all to every member; round_robin: dealt in turn from ``counter``;
    any: the whole batch to the member ``counter`` picks (any replica may serve).
    A :class:`Columns` batch is split into Columns, each part in arrival order.
    """
    if isinstance(records, Columns):
        return _route_columns(records, routing, members, key, counter)
    if members == 1 or routing == "direct":
        return [list(records)] + [[] for _ in range(members - 1)]
    if routing == "broadcast":
        return [list(records) for _ in range(members)]
    out: list[list] = [[] for _ in range(members)]
    if routing == "hash":
        path = key or ()
        for r in records:
            try:
                k = r[path[0]] if len(path) == 1 else key_at(r, path)
            except (IndexError, KeyError, TypeError):
                k = key_at(r, path)  # raises the plan error naming the record
            t = type(k)  # the common key types inline, one hash per record
            h = zlib.crc32(k.encode("utf-8", "surrogatepass")) if t is str else \
                k & 0x7FFFFFFFFFFFFFFF if t is int else stable_hash(k)
            out[h % members].append(r)
    elif routing == "round_robin":
        for i, r in enumerate(records):
            out[(counter + i) % members].append(r)
    elif routing == "any":
        out[counter % members] = list(records)
    else:
        raise ValueError(f"unknown routing {routing!r}")
    return out


def _route_columns(batch: Columns, routing: str, members: int, key: tuple[int, ...] | None,
                   counter: int) -> list[Columns]:
    """:func:`route` of a columnar batch, with the same member for every record."""
    empty = batch.take(slice(0, 0))
    if members == 1 or routing == "direct":
        return [batch] + [empty] * (members - 1)
    if routing == "broadcast":
        return [batch] * members
    if routing == "round_robin":
        return [batch.take(slice((j - counter) % members, None, members)) for j in range(members)]
    if routing == "any":
        return [batch if j == counter % members else empty for j in range(members)]
    column = _key_column(batch, tuple(key or ()))
    if routing == "hash" and column is not None and batch.cols[column].dtype.kind in "ib":
        from .kernels import split_by_hash
        return split_by_hash(batch, column, members)
    return [Columns.from_records(part, batch.dtype) if part else empty
            for part in route(batch.tolist(), routing, members, key, counter)]


def _key_column(batch: Columns, key: tuple[int, ...]) -> int | None:
    """The column that holds the routing key, or None when the key is not one whole column
    (a nested batch's leaf columns are found by their paths)."""
    if len(batch.cols) == 1:
        return 0 if not key else None
    if batch.shape is None:
        return key[0] if len(key) == 1 else None
    paths = leaf_paths(batch.dtype)
    return paths.index(key) if key in paths else None
