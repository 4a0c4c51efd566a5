"""Counters as lattices: per-replica running totals merged by per-replica max (CRDT counters)."""
from __future__ import annotations

from hydropy.errors import HydropyError

from .base import Lattice, _sorted, public


@public
class GCounter(Lattice):
    """Order: pointwise on per-replica counts (merge is per-replica max); reveal is the sum.

    Invariant: counts are non-negative ints and zero counts are not stored, so
    a missing replica and a zero count are the same point.
    """

    def __init__(self, counts=None):
        self.counts = {}
        for replica, n in (counts or {}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise HydropyError(f"GCounter: count for replica {replica!r} must be "
                                   f"a non-negative int, got {n!r}")
            if n:
                self.counts[replica] = n

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        if not (isinstance(x, (tuple, list)) and len(x) == 2):
            raise HydropyError(
                f"GCounter.of expects a (replica, count) pair, got {x!r}: a GCounter "
                "holds each replica's running total so merge can take the max; a bare "
                "number is an increment, which cannot be merged idempotently")
        replica, n = x
        return cls({replica: n})

    def merge(self, other) -> bool:
        changed = False
        for replica, n in other.counts.items():
            if n > self.counts.get(replica, 0):
                self.counts[replica] = n
                changed = True
        return changed

    def reveal(self):
        return sum(self.counts.values())

    def _state(self):
        return self.counts

    def copy(self):
        return type(self)(self.counts)

    def __repr__(self):
        items = ", ".join(f"{k!r}: {self.counts[k]!r}" for k in _sorted(self.counts))
        return f"{type(self).__name__}({{{items}}})"


@public
class RecordCount(GCounter):
    """A GCounter counting records: ``update(x)`` adds one to the slot of the stage counting.

    What ``count`` becomes under the ``lattice`` step (``as: gcounter``): reveal is the
    number of records. Replicas of a stage receive the same records and share the slot, so
    merging their states (per-slot max) gives the count again. Counting needs each record
    exactly once: the passes refuse it behind an at-least-once channel.
    """

    SLOT = "count"
    #: checked by hydropy.passes.stages.check_order_requirements after every rewrite
    needs_exactly_once = True

    def update(self, x) -> bool:
        self.counts[self.SLOT] = self.counts.get(self.SLOT, 0) + 1
        return True


@public
class PNCounter(Lattice):
    """Order: componentwise on (increments, decrements) GCounters; reveal is pos - neg."""

    def __init__(self, pos=None, neg=None):
        self.pos = pos.copy() if isinstance(pos, GCounter) else GCounter(pos)
        self.neg = neg.copy() if isinstance(neg, GCounter) else GCounter(neg)

    @classmethod
    def of(cls, x):
        """Lift ``(replica, (p, n))``: the replica's running totals of increments and decrements."""
        if isinstance(x, cls):
            return x.copy()
        try:
            replica, (p, n) = x
        except (TypeError, ValueError):
            raise HydropyError(
                f"PNCounter.of expects (replica, (increments, decrements)) running "
                f"totals, got {x!r}") from None
        return cls({replica: p}, {replica: n})

    def merge(self, other) -> bool:
        changed_pos = self.pos.merge(other.pos)
        changed_neg = self.neg.merge(other.neg)
        return changed_pos or changed_neg

    def reveal(self):
        return self.pos.reveal() - self.neg.reveal()

    def _state(self):
        return (self.pos.counts, self.neg.counts)

    def copy(self):
        return type(self)(self.pos, self.neg)

    def __repr__(self):
        return f"{type(self).__name__}({self.pos!r}, {self.neg!r})"
