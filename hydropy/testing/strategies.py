"""How to draw values of each built-in lattice: Hypothesis strategies keyed by lattice class.

``lattice_strategy(cls)`` finds the strategy registered for ``cls`` or its nearest base (so a
user's subclass of a built-in, or a family bound with ``over``, draws instances of itself).
Domains are small so that merges collide often, and hostile: the numbers include NaN (fresh
objects, so identity never hides an unequal NaN), infinities, ``-0.0`` beside ``0`` and
``0.0``, values around 2**53 (where int and float part) and the int64 limits. A new built-in
lattice registers its strategy here (``tests/test_lattices.py`` checks every one has one).
"""
from __future__ import annotations

from typing import Callable

from hypothesis import strategies as st

from hydropy import lattices as L
from hydropy.errors import HydropyError

#: numbers where arithmetic and comparisons misbehave, besides a few small ones
SPECIAL_NUMBERS = [0, 0.0, -0.0, 1, 1.0, -1, float("inf"), float("-inf"),
                   2**53, 2**53 + 1, 2.0**53, -(2**53) - 1, 2**63 - 1, -(2**63), 2.0**63, 5e-324]

_DRAWS: dict[type, Callable] = {}


def numbers():
    """Ints, floats and the special numbers above, NaN included (a new object each time)."""
    nan = st.sampled_from(["nan", "-nan"]).map(float)
    return st.integers(-3, 3) | st.sampled_from(SPECIAL_NUMBERS) | nan | st.floats()


def scalars():
    """Hashable record values: small ints, special numbers (NaN too) and short strings."""
    return st.integers(-3, 3) | st.sampled_from(SPECIAL_NUMBERS) | st.just(float("nan")) | \
        st.text("ab", max_size=2)


def draws(*classes):
    """Register the decorated ``fn(cls) -> strategy`` (None: cannot draw) for ``classes``."""
    def register(fn):
        for cls in classes:
            _DRAWS[cls] = fn
        return fn
    return register


def lattice_strategy(lattice_cls):
    """A Hypothesis strategy of values of a built-in lattice (bound parametric ones too, and
    subclasses); a HydropyError when none is registered for it or its bases."""
    for base in getattr(lattice_cls, "__mro__", ()):
        if base in _DRAWS:
            strategy = _DRAWS[base](lattice_cls)
            if strategy is not None:
                return strategy
            break
    raise HydropyError(f"no built-in strategy for {getattr(lattice_cls, '__name__', lattice_cls)!r}; "
                       "pass a Hypothesis strategy of its values to check_laws")


@draws(L.Max, L.Min)
def _extremum(cls):
    return st.builds(cls, st.none() | numbers())


@draws(L.Bool)
def _bool(cls):
    return st.builds(cls, st.booleans())


@draws(L.SetUnion)
def _set_union(cls):
    return st.builds(cls, st.sets(scalars(), max_size=4))


@draws(L.TwoPSet)
def _two_p_set(cls):
    return st.builds(cls, st.sets(scalars(), max_size=4), st.sets(scalars(), max_size=4))


@draws(L.LWW)
def _lww(cls):
    timestamps = st.integers(0, 3) | st.sampled_from([0.0, -0.0, 2**53, 2**53 + 1, 2.0**53, float("inf")])
    return st.just(cls.bottom()) | st.builds(cls, timestamps, st.integers(0, 2) | scalars())


@draws(L.GCounter)
def _gcounter(cls):
    counts = st.integers(0, 4) | st.sampled_from([2**53, 2**53 + 1, 2**63 - 1, 2**63])
    return st.builds(cls, st.dictionaries(st.sampled_from("abc"), counts))


@draws(L.PNCounter)
def _pncounter(cls):
    g = lattice_strategy(L.GCounter)
    return st.builds(cls, g, g)


@draws(L.MapUnion)
def _map_union(cls):
    if cls.value_type is None:
        return None
    return st.builds(cls, st.dictionaries(st.sampled_from("abc"), lattice_strategy(cls.value_type),
                                          max_size=3))


@draws(L.Pair)
def _pair(cls):
    if cls.A is None:
        return None
    return st.builds(cls, lattice_strategy(cls.A), lattice_strategy(cls.B))
