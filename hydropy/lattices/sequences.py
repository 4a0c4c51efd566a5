"""Sequence lattices: an ordered fold kept as the records of its sequence, each at its position.

What the ``lattice`` rewrite turns an indexed fold into (``as: sealed_set`` or
``bounded_prefix``) and ``push_fold`` moves before a join; ``reveal`` / ``reveal_joined``
are the functions the rewritten graph calls to show the original fold's value.
"""
from __future__ import annotations

from hydropy.errors import HydropyError

from .base import _Parametric, _sorted, public


@public
class SequenceLattice(_Parametric):
    """An ordered fold ``init``/``fn`` kept as the records of its sequence, each at its position.

    Bound by ``Cls.over(index, init, fn, joined)``: ``index`` is the path of a record's position
    in the record; ``reveal()`` replays ``fn`` from ``init()`` over the records at positions
    0, 1, 2, ... while there is no gap, which is what the fold shows when its records arrive in
    position order. ``joined``: the records lack a value that is the same for the whole sequence
    (a table's value for the key): ``reveal_joined(y)`` replays ``fn`` over ``(record, y)``.
    Assumes ``fn`` is a pure function of its arguments (hydropy requires this of user functions).
    """

    index: tuple = ()
    init = None
    fn = None
    joined = False

    @classmethod
    def _bind(cls, bound, index, init, fn, joined=False):
        bound.index, bound.joined = tuple(index), joined
        bound.init, bound.fn = staticmethod(init), staticmethod(fn)  # functions, not methods

    @classmethod
    def position(cls, record) -> int:
        """The record's position in its sequence (its value at ``index``)."""
        value = record
        try:
            for i in cls.index:
                value = value[i]
        except (TypeError, IndexError, KeyError):
            value = None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise HydropyError(f"{cls.__name__}: the record {record!r} has no position (a non-negative "
                               f"int) at {list(cls.index)}")
        return value

    def sequence(self) -> list:
        """The records at positions 0, 1, 2, ... up to the first missing position."""
        raise NotImplementedError

    def reveal(self):
        if self.fn is None:
            raise self._unbound("replay its fold")
        if self.joined:
            raise HydropyError(f"{type(self).__name__} holds records without their table value; "
                               f"read it with reveal_joined(table value)")
        return self._replay(self.sequence())

    def reveal_joined(self, y):
        """The fold of ``(record, y)`` over the sequence: the table's value ``y`` beside each record."""
        return self._replay([(x, y) for x in self.sequence()])

    def _replay(self, records):
        acc = self.init()
        for x in records:
            acc = self.fn(acc, x)
        return acc

    def _repr_args(self):
        return ", ".join(map(repr, self.sequence()))


@public
class SealedSet(SequenceLattice):
    """A sealed set of indexed values. Order: set inclusion of ``(position, record)`` pairs
    (merge is union), so any delivery order, and duplicates, give the same value.

    Sealed: the value is final once the positions 0..n are all present, where n is the last
    position of the sequence (the shopping cart's checkout carries it: n line items before it).
    ``sealed(n)`` answers that threshold question monotonically.
    """

    def __init__(self, items=()):
        self.items = frozenset(items)

    @classmethod
    def bottom(cls):
        return cls()

    @classmethod
    def of(cls, x):
        return x.copy() if isinstance(x, cls) else cls({(cls.position(x), x)})

    def merge(self, other) -> bool:
        before = len(self.items)
        self.items = self.items | other.items
        return len(self.items) != before

    def sequence(self) -> list:
        by_position: dict[int, list] = {}
        for i, x in self.items:
            by_position.setdefault(i, []).append(x)
        out = []
        while len(out) in by_position:
            found = by_position[len(out)]
            if len(found) > 1:
                raise HydropyError(f"SealedSet: two different records at position {len(out)}: "
                                   f"{', '.join(map(repr, _sorted(found)))}")
            out.append(found[0])
        return out

    def sealed(self, last: int) -> bool:
        """Whether positions 0..last are all present (monotone: once True, stays True)."""
        return len({i for i, _ in self.items if i <= last}) == last + 1

    def _state(self):
        return self.items

    def copy(self):
        return type(self)(self.items)


@public
class BoundedPrefix(SequenceLattice):
    """A bounded-prefix lattice: the records at positions 0..n-1, with no gap.

    Order: prefix order (merge keeps the longer of two prefixes). It is a lattice only on
    the prefixes of one sequence, i.e. when records arrive in position order: merging a record
    that does not extend the prefix (a later position while one is missing) drops it. Hence it
    needs in-order delivery; the `lattice` pass refuses it behind any reordering channel.
    """

    #: checked by hydropy.passes.stages.check_order_requirements after every rewrite
    needs_order = True

    def __init__(self, records=(), start=0):
        self.records, self.start = tuple(records), start

    @classmethod
    def bottom(cls):
        return cls()

    @classmethod
    def of(cls, x):
        return x.copy() if isinstance(x, cls) else cls((x,), cls.position(x))

    def merge(self, other) -> bool:
        if self.start != 0:
            raise HydropyError("BoundedPrefix: merge into a prefix, not into a lifted record")
        end = other.start + len(other.records)
        if other.start > len(self.records) or end <= len(self.records):
            return False  # a gap before it, or nothing new: only the next positions extend
        self.records += other.records[len(self.records) - other.start:]
        return True

    def sequence(self) -> list:
        return list(self.records)

    def _state(self):
        return (self.start, self.records)

    def copy(self):
        return type(self)(self.records, self.start)


@public
def reveal(value):
    """A lattice value as the user sees it (``value.reveal()``): what a sink after a lattice
    transformation shows in place of the original fold's value."""
    return value.reveal()


@public
def reveal_joined(state_and_value):
    """``state.reveal_joined(y)`` of a ``(state, y)`` pair: a replayed fold whose records meet
    their table value only now (after push_fold)."""
    state, y = state_and_value
    return state.reveal_joined(y)
