"""Keys compare by value: every NaN in a key is one object (see :func:`canonical_key`).

Every operator that keeps state by key, every generated keyed-fold loop and routing pass
their keys through here (docs/rewrites.md, "Keys compare by value")."""
from __future__ import annotations

from typing import Any

import numpy as np

#: the one NaN every float NaN in a key becomes (see :func:`canonical_key`)
NAN = float("nan")
#: key types that hold no NaN: returned at once
_PLAIN = frozenset({str, int, bytes, bool, type(None)})
#: NaN of other number types (complex, numpy's float32...), one object per (type, repr)
_OTHER_NANS: dict[tuple, Any] = {}


def canonical_key(x: Any) -> Any:
    """``x`` with every NaN in it replaced by one object, so that keys compare by value with
    every NaN equal to every NaN (one group, as numpy/pandas groupby). Dicts and sets match a
    key by ``is`` before ``==``, and NaN equals nothing, so without this two NaN keys match
    only when they are one object: always in one process, never after pickling (a channel,
    a checkpoint). Float NaN (and a float subclass's) becomes :data:`NAN`; tuples and
    frozensets are rebuilt only when they hold a NaN; anything else is returned as it is
    (the same object; user ``__eq__`` is never called)."""
    t = type(x)
    if t in _PLAIN:
        return x
    if t is float:
        return NAN if x != x else x
    if t is tuple or t is frozenset:
        for item in x:
            if type(item) not in _PLAIN and canonical_key(item) is not item:
                return t(canonical_key(i) for i in x)
        return x
    if isinstance(x, float):
        return NAN if x != x else x
    if isinstance(x, tuple) and hasattr(x, "_make"):  # a namedtuple
        items = [canonical_key(item) for item in x]
        return x if all(a is b for a, b in zip(items, x)) else x._make(items)
    if isinstance(x, (complex, np.inexact)) and x != x:
        return _OTHER_NANS.setdefault((t, repr(x)), x)
    return x


def canonical_dict(d: dict) -> dict:
    """``d`` with its keys canonical (:func:`canonical_key`), in place, its order kept."""
    if any(canonical_key(k) is not k for k in d):
        items = [(canonical_key(k), v) for k, v in d.items()]
        d.clear()
        d.update(items)
    return d
