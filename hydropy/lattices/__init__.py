"""Lattices: values whose merge is associative, commutative and idempotent.

A lattice value is mutable: ``x.merge(y)`` joins ``y`` into ``x`` in place and
returns True iff ``x`` changed. ``reveal()`` gives the plain Python value a user
sees. Equality and hashing go by state, so do not mutate a value while it sits
in a set or is a dict key.

User lattices subclass :class:`Lattice`; :func:`hydropy.testing.check_laws` checks
the laws with Hypothesis. Every built-in satisfies them on every value of its domain
(NaN included: see :mod:`hydropy.lattices.values`).

The modules: ``base`` (the protocol), ``values`` (lattices over plain values and over
component lattices), ``counters`` (CRDT counters), ``sequences`` (ordered folds kept as
lattices, what the ``lattice`` rewrite makes). Each class is named ``hydropy.lattices.X``.
"""
from __future__ import annotations

from hydropy.errors import LatticeLawError

from .base import Lattice
from .counters import GCounter, PNCounter, RecordCount
from .sequences import BoundedPrefix, SealedSet, SequenceLattice, reveal, reveal_joined
from .values import LWW, Bool, DomPair, MapUnion, Max, Min, Pair, SetUnion, TwoPSet

__all__ = [
    "Lattice", "Max", "Min", "SetUnion", "MapUnion", "LWW", "DomPair",
    "GCounter", "RecordCount", "PNCounter", "Bool", "Pair", "TwoPSet", "SequenceLattice", "SealedSet", "BoundedPrefix",
    "reveal", "reveal_joined", "LatticeLawError",
]


def __getattr__(name):
    """``check_laws`` and ``lattice_strategy`` moved to :mod:`hydropy.testing` (test tooling,
    which imports Hypothesis); still importable from here for programs written before."""
    if name in ("check_laws", "lattice_strategy", "shorten"):
        from hydropy.testing import laws  # start-up: imports Hypothesis, only for law checks
        return getattr(laws, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
