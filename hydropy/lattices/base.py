"""The lattice protocol: :class:`Lattice` and the parametric families built over components.

A lattice value is mutable: ``x.merge(y)`` joins ``y`` into ``x`` in place and returns True
iff ``x`` changed. Equality and hashing go by state (``_state()``).
"""
from __future__ import annotations

import copy as _copy

from hydropy.errors import HydropyError

#: where the built-in lattices live for users, pickles, emitted stage code and explain's JSON
PUBLIC_MODULE = "hydropy.lattices"


def public(cls):
    """Class decorator: ``cls`` is named ``hydropy.lattices.<name>`` (its public home, which
    re-exports it) wherever a class is named by module: pickles, stage imports, JSON."""
    cls.__module__ = PUBLIC_MODULE
    return cls


def _freeze(value):
    """A hashable stand-in for ``value`` (dicts, sets and lists frozen recursively)."""
    if isinstance(value, dict):
        return frozenset((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _sorted(items):
    """Items in a deterministic order, for reprs (by value, else by repr)."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _pair(cls, x):
    """Unpack a 2-item record for ``cls.of``, or raise a clear HydropyError."""
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return x
    raise HydropyError(f"{cls.__name__}.of expects a pair, got {x!r}")


@public
class Lattice:
    """Base class. A lattice value: merge is associative, commutative, idempotent."""

    @classmethod
    def bottom(cls) -> "Lattice":
        """The least element: ``bottom().merge(x)`` leaves exactly ``x``."""
        return cls()

    @classmethod
    def of(cls, x) -> "Lattice":
        """Lift a raw record into the lattice (a copy if ``x`` already is one)."""
        return x.copy() if isinstance(x, cls) else cls(x)

    def merge(self, other) -> bool:
        """Join ``other`` into ``self`` in place; True iff ``self`` changed."""
        raise NotImplementedError

    def update(self, x) -> bool:
        """Fold one record into ``self`` (what a lattice fold does per record); True iff it grew.

        By default ``merge(of(x))``. A lattice may define another update, which must only
        inflate ``self`` (never move it down), so that replicas still merge states."""
        return self.merge(type(self).of(x))

    def reveal(self):
        """The plain Python value a user sees."""
        raise NotImplementedError

    def copy(self):
        """An independent copy: merging into it never affects ``self``."""
        return _copy.deepcopy(self)

    def leq(self, other) -> bool:
        """``self <= other`` in lattice order, i.e. ``other ⊔ self == other``."""
        joined = other.copy()
        joined.merge(self)
        return joined == other

    def _state(self):
        """What equality and hashing compare (default: the revealed value)."""
        return self.reveal()

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self._state() == other._state()

    def __hash__(self):
        return hash((type(self).__name__, _freeze(self._state())))

    def __repr__(self):
        return f"{type(self).__name__}({self.reveal()!r})"


class _Parametric(Lattice):
    """A lattice family parameterised by component lattices (``Cls.over(...)``).

    ``over`` is cached, so ``Cls.over(A) is Cls.over(A)``; instances pickle by
    rebuilding the bound class.
    """

    _params: tuple = ()
    _origin = None
    _over_cache: dict = {}

    @classmethod
    def over(cls, *params):
        origin = cls._origin or cls
        key = (origin, params)
        bound = _Parametric._over_cache.get(key)
        if bound is None:
            names = ", ".join(getattr(p, "__name__", repr(p)) for p in params)
            bound = type(f"{origin.__name__}[{names}]", (origin,),
                         {"_origin": origin, "_params": params, "__module__": origin.__module__})
            origin._bind(bound, *params)
            _Parametric._over_cache[key] = bound
        return bound

    @classmethod
    def _bind(cls, bound, *params):
        raise NotImplementedError

    @classmethod
    def _unbound(cls, what):
        return HydropyError(f"{cls.__name__} is not bound to component lattices; "
                            f"use {cls.__name__}.over(...) to {what}")

    def __reduce__(self):
        return (_rebuild, (self._origin or type(self), self._params), self.__dict__)

    def __repr__(self):
        return f"{(self._origin or type(self)).__name__}({self._repr_args()})"


def _rebuild(origin, params):
    cls = origin.over(*params) if params else origin
    return object.__new__(cls)
