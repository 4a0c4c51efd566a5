"""The built-in lattices over plain values (Max, Min, Bool, LWW, sets) and over component
lattices (MapUnion, Pair, DomPair).

NaN: ``Max`` and ``Min`` place NaN just above their bottom (None) and below every number, as
``numpy.fmax`` / ``fmin`` ignore NaN: merging any number into a NaN gives the number, so the
result is the same in any order, and a threshold ``V >= c`` (``V <= c`` for Min), false on
NaN, stays true once true. Values equal under ``==`` but shown differently (``0.0`` and
``-0.0``, ``1`` and ``1.0``) are distinct points ordered by ``repr`` and type name, so what a
fold reveals does not depend on the order of its records either. ``LWW`` refuses a NaN timestamp (it has
no place in time).
"""
from __future__ import annotations

import numbers
import operator

from hydropy.errors import HydropyError

from .base import Lattice, _pair, _Parametric, _sorted, public


def _is_nan(v) -> bool:
    """Whether ``v`` is a NaN number (a float, numpy float or Decimal NaN)."""
    if isinstance(v, float):
        return v != v
    try:
        return isinstance(v, numbers.Number) and bool(v != v)
    except Exception:  # a number whose comparison raises is not a NaN hydropy can order
        return False


def _shown(v) -> tuple:
    """How ``v`` is shown: orders values that are ``==`` but print differently."""
    return (repr(v), type(v).__name__)


class _NaN:
    """The state of a Max / Min holding NaN: equal to itself (NaN is not), one hash."""

    __slots__ = ()

    def __eq__(self, other):
        return isinstance(other, _NaN)

    def __hash__(self):
        return 0x7FF8

    def __repr__(self):
        return "nan"


_NAN_STATE = _NaN()


class _Extremum(Lattice):
    """Shared body of Max and Min: keep the value that ``_better`` prefers; None is bottom,
    NaN is just above it (see the module docstring)."""

    _better = None  # (new, old) -> bool: is ``new`` strictly higher than ``old``?

    def __init__(self, v=None):
        self.v = v

    def _replaces(self, new, old) -> bool:
        """Whether ``new`` is strictly above ``old`` in the lattice order (neither is None)."""
        if new is old:
            return False
        new_nan, old_nan = _is_nan(new), _is_nan(old)
        if new_nan or old_nan:
            return old_nan and not new_nan
        if self._better(new, old):
            return True
        return new == old and self._better(_shown(new), _shown(old))

    def merge(self, other) -> bool:
        if other.v is None or (self.v is not None and not self._replaces(other.v, self.v)):
            return False
        self.v = other.v
        return True

    def reveal(self):
        return self.v

    def _state(self):
        """The value as shown: ``Max(0) != Max(0.0)``, as merge orders them (above)."""
        return _NAN_STATE if _is_nan(self.v) else (self.v, _shown(self.v))

    def copy(self):
        return type(self)(self.v)


@public
class Max(_Extremum):
    """Order: the usual ``<`` on values; bottom ``Max(None)`` is -infinity; NaN is just above
    bottom (below every number)."""

    _better = staticmethod(operator.gt)


@public
class Min(_Extremum):
    """Order: reversed ``<`` (smaller is higher); bottom ``Min(None)`` is +infinity; NaN is
    just above bottom (below every number in Min's order, i.e. a Min of numbers ignores NaN)."""

    _better = staticmethod(operator.lt)


@public
class Bool(Lattice):
    """Order: False < True (merge is ``or``)."""

    def __init__(self, v=False):
        self.v = bool(v)

    def merge(self, other) -> bool:
        if other.v and not self.v:
            self.v = True
            return True
        return False

    def reveal(self):
        return self.v

    def copy(self):
        return type(self)(self.v)


@public
class SetUnion(Lattice):
    """Order: set inclusion (merge is union); ``of(x)`` is the singleton ``{x}``."""

    def __init__(self, iterable=()):
        self.items = set(iterable)

    @classmethod
    def of(cls, x):
        return x.copy() if isinstance(x, cls) else cls((x,))

    def merge(self, other) -> bool:
        before = len(self.items)
        self.items |= other.items
        return len(self.items) != before

    def reveal(self):
        return frozenset(self.items)

    def copy(self):
        return type(self)(self.items)

    def __repr__(self):
        inner = ", ".join(map(repr, _sorted(self.items)))
        return f"{type(self).__name__}({{{inner}}})" if inner else f"{type(self).__name__}()"


@public
class TwoPSet(Lattice):
    """Order: inclusion of (adds, removes) pairs; a removed element stays removed."""

    def __init__(self, adds=(), removes=()):
        self.adds = SetUnion(adds)
        self.removes = SetUnion(removes)

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        op, elem = _pair(cls, x)
        if op == "add":
            return cls(adds=(elem,))
        if op == "remove":
            return cls(removes=(elem,))
        raise HydropyError(f"TwoPSet.of expects ('add', x) or ('remove', x), got {x!r}")

    def merge(self, other) -> bool:
        added = self.adds.merge(other.adds)
        removed = self.removes.merge(other.removes)
        return added or removed

    def reveal(self):
        return frozenset(self.adds.items - self.removes.items)

    def _state(self):
        return (self.adds.reveal(), self.removes.reveal())

    def copy(self):
        return type(self)(self.adds.items, self.removes.items)

    def __repr__(self):
        return f"{type(self).__name__}(adds={self.adds!r}, removes={self.removes!r})"


@public
class MapUnion(_Parametric):
    """Order: pointwise on keys (a missing key is below any present one); merge per key."""

    value_type = None

    def __new__(cls, mapping=None, value_type=None):
        if value_type is not None and value_type is not cls.value_type:
            cls = MapUnion.over(value_type)
        return object.__new__(cls)

    def __init__(self, mapping=None, value_type=None):
        vt = self.value_type
        self.entries = {}
        for k, v in (mapping or {}).items():
            if not isinstance(v, Lattice):
                if vt is None:
                    raise self._unbound("lift raw values")
                v = vt.of(v)
            self.entries[k] = v

    @classmethod
    def _bind(cls, bound, value_type):
        bound.value_type = value_type

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        if cls.value_type is None:
            raise cls._unbound("lift records")
        k, v = _pair(cls, x)
        return cls({k: cls.value_type.of(v)})

    def merge(self, other) -> bool:
        changed = False
        for k, v in other.entries.items():
            mine = self.entries.get(k)
            if mine is None:
                self.entries[k] = v.copy()
                changed = True
            elif mine.merge(v):
                changed = True
        return changed

    def reveal(self):
        return {k: v.reveal() for k, v in self.entries.items()}

    def _state(self):
        return self.entries

    def copy(self):
        return type(self)({k: v.copy() for k, v in self.entries.items()})

    def _repr_args(self):
        items = ", ".join(f"{k!r}: {self.entries[k]!r}" for k in _sorted(self.entries))
        return f"{{{items}}}"


@public
class Pair(_Parametric):
    """Order: componentwise (``(a, b) <= (c, d)`` iff ``a <= c`` and ``b <= d``)."""

    A = None
    B = None

    def __new__(cls, a=None, b=None):
        if cls.A is None and isinstance(a, Lattice) and isinstance(b, Lattice):
            cls = cls.over(type(a), type(b))
        return object.__new__(cls)

    def __init__(self, a=None, b=None):
        self.a = self._component(self.A, a)
        self.b = self._component(self.B, b)

    def _component(self, lat, x):
        if lat is None:
            raise self._unbound("build values")
        if x is None:
            return lat.bottom()
        if isinstance(x, lat):
            return x
        if isinstance(x, Lattice):
            raise HydropyError(f"{type(self).__name__} expects a {lat.__name__}, got {x!r}")
        return lat.of(x)

    @classmethod
    def _bind(cls, bound, a, b):
        bound.A, bound.B = a, b

    @classmethod
    def bottom(cls):
        if cls.A is None:
            raise cls._unbound("get its bottom")
        return cls()

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        a, b = _pair(cls, x)
        if cls.A is None:
            return cls(a, b)
        return cls(cls.A.of(a), cls.B.of(b))

    def merge(self, other) -> bool:
        changed_a = self.a.merge(other.a)
        changed_b = self.b.merge(other.b)
        return changed_a or changed_b

    def reveal(self):
        return (self.a.reveal(), self.b.reveal())

    def _state(self):
        return (self.a, self.b)

    def copy(self):
        return type(self)(self.a.copy(), self.b.copy())

    def _repr_args(self):
        return f"{self.a!r}, {self.b!r}"


@public
class DomPair(Pair):
    """Order: lexicographic; a strictly greater key wins, equal keys merge values.

    Joining incomparable keys gives ``(k1 ⊔ k2, bottom value)``: the least upper
    bound, since the joined key is strictly above both.
    """

    @property
    def key(self):
        return self.a

    @property
    def val(self):
        return self.b

    def merge(self, other) -> bool:
        if self.a == other.a:
            return self.b.merge(other.b)
        if other.a.leq(self.a):
            return False
        if self.a.leq(other.a):
            self.a, self.b = other.a.copy(), other.b.copy()
        else:
            self.a.merge(other.a)
            self.b = type(self.b).bottom()
        return True


@public
class LWW(Lattice):
    """Order: by timestamp (a later write wins); on a timestamp tie, values are ordered by
    ``repr`` (then type name) so merge stays commutative. Bottom: ``LWW(None, None)``; a NaN
    timestamp is refused."""

    def __init__(self, timestamp=None, value=None):
        if timestamp is None and value is not None:
            raise HydropyError(f"LWW: a value ({value!r}) needs a timestamp")
        if _is_nan(timestamp):
            raise HydropyError(f"LWW: the timestamp of {value!r} is NaN, which is not a point in time "
                               f"(NaN is neither before nor after any timestamp)")
        self.timestamp = timestamp
        self.value = value

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        ts, v = _pair(cls, x)
        return cls(ts, v)

    def merge(self, other) -> bool:
        if other.timestamp is None:
            return False
        if self.timestamp is not None and not other.timestamp > self.timestamp:
            if other.timestamp < self.timestamp or not _shown(other.value) > _shown(self.value):
                return False
        self.timestamp, self.value = other.timestamp, other.value
        return True

    def reveal(self):
        return self.value

    def _state(self):
        # values tied on the timestamp are ordered by how they are shown, so two that are ==
        # but shown differently (0 and 0.0) are different points: the state keeps what decides
        return (self.timestamp, _NAN_STATE if _is_nan(self.value) else self.value, _shown(self.value))

    def copy(self):
        return type(self)(self.timestamp, self.value)

    def __repr__(self):
        return f"{type(self).__name__}({self.timestamp!r}, {self.value!r})"
