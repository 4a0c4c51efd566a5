"""Lattices: values whose merge is associative, commutative and idempotent.

A lattice value is mutable: ``x.merge(y)`` joins ``y`` into ``x`` in place and
returns True iff ``x`` changed. ``reveal()`` gives the plain Python value a user
sees. Equality and hashing go by state, so do not mutate a value while it sits
in a set or is a dict key.

User lattices subclass :class:`Lattice`; :func:`check_laws` checks the laws
with Hypothesis (a dev-only dependency, imported lazily).
"""
from __future__ import annotations

import copy as _copy
import operator

from hydropy.errors import HydropyError

__all__ = [
    "Lattice", "Max", "Min", "SetUnion", "MapUnion", "LWW", "DomPair",
    "GCounter", "RecordCount", "PNCounter", "Bool", "Pair", "TwoPSet", "SequenceLattice", "SealedSet", "BoundedPrefix",
    "reveal", "reveal_joined", "LatticeLawError", "check_laws", "lattice_strategy", "shorten",
]


class LatticeLawError(HydropyError):
    """A merge violates a lattice law; the message names class, law and counterexample."""


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


class _Extremum(Lattice):
    """Shared body of Max and Min: keep the value that ``_better`` prefers; None is bottom."""

    _better = None  # (new, old) -> bool: does ``new`` replace ``old``?

    def __init__(self, v=None):
        self.v = v

    def merge(self, other) -> bool:
        if other.v is None or (self.v is not None and not self._better(other.v, self.v)):
            return False
        self.v = other.v
        return True

    def reveal(self):
        return self.v

    def copy(self):
        return type(self)(self.v)


class Max(_Extremum):
    """Order: the usual ``<`` on values; bottom ``Max(None)`` is -infinity."""

    _better = staticmethod(operator.gt)


class Min(_Extremum):
    """Order: reversed ``<`` (smaller is higher); bottom ``Min(None)`` is +infinity."""

    _better = staticmethod(operator.lt)


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


class LWW(Lattice):
    """Order: by timestamp (a later write wins); on a timestamp tie, unequal values
    are ordered by ``repr`` so merge stays commutative. Bottom: ``LWW(None, None)``.
    """

    def __init__(self, timestamp=None, value=None):
        if timestamp is None and value is not None:
            raise HydropyError(f"LWW: a value ({value!r}) needs a timestamp")
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
            if other.timestamp < self.timestamp or other.value == self.value:
                return False
            if not repr(other.value) > repr(self.value):
                return False
        self.timestamp, self.value = other.timestamp, other.value
        return True

    def reveal(self):
        return self.value

    def _state(self):
        return (self.timestamp, self.value)

    def copy(self):
        return type(self)(self.timestamp, self.value)

    def __repr__(self):
        return f"{type(self).__name__}({self.timestamp!r}, {self.value!r})"


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


def reveal(value):
    """A lattice value as the user sees it (``value.reveal()``): what a sink after a lattice
    transformation shows in place of the original fold's value."""
    return value.reveal()


def reveal_joined(state_and_value):
    """``state.reveal_joined(y)`` of a ``(state, y)`` pair: a replayed fold whose records meet
    their table value only now (after push_fold)."""
    state, y = state_and_value
    return state.reveal_joined(y)


# --------------------------------------------------------------------------
# Law checking (Hypothesis is imported lazily: it is a dev-only dependency)


def shorten(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(value) -> str:
    return shorten(repr(value))


def _check_triple(name, cls, a, b, c):
    """Check every law on one drawn triple; raise LatticeLawError on the first violation."""

    def fail(law, detail):
        raise LatticeLawError(f"{name} violates {law}: {detail}")

    def join(x, y):
        """``x ⊔ y`` as a new value, checking the changed flag and no mutation of x, y."""
        x_snap, y_snap = _copy.deepcopy(x), _copy.deepcopy(y)
        result = x.copy()
        if result != x:
            fail("copy equality", f"{_one_line(x)}.copy() == {_one_line(result)}")
        try:
            changed = result.merge(y)
        except Exception as exc:
            fail("merge totality", f"{_one_line(x)}.merge({_one_line(y)}) raised "
                                   f"{type(exc).__name__}: {exc}")
        if x != x_snap:
            fail("copy independence", f"merging {_one_line(y)} into a copy of "
                                      f"{_one_line(x_snap)} changed the original")
        if y != y_snap:
            fail("argument immutability", f"{_one_line(x_snap)}.merge({_one_line(y_snap)}) "
                                          f"mutated its argument to {_one_line(y)}")
        if changed is not (result != x):
            fail("changed flag", f"{_one_line(x)}.merge({_one_line(y)}) returned {changed!r} "
                                 f"but the result is {_one_line(result)}")
        return result

    for v in (a, b, c):
        if not isinstance(v, cls):
            raise LatticeLawError(f"{name}: the strategy produced {_one_line(v)}, "
                                  f"not a {name}")
    ab, ba = join(a, b), join(b, a)
    if ab != ba:
        fail("commutativity", f"a={_one_line(a)}, b={_one_line(b)}: a ⊔ b = {_one_line(ab)} "
                              f"but b ⊔ a = {_one_line(ba)}")
    aa = join(a, a)
    if aa != a:
        fail("idempotence", f"a={_one_line(a)}: a ⊔ a = {_one_line(aa)}")
    left, right = join(ab, c), join(a, join(b, c))
    if left != right:
        fail("associativity", f"a={_one_line(a)}, b={_one_line(b)}, c={_one_line(c)}: "
                              f"(a ⊔ b) ⊔ c = {_one_line(left)} but a ⊔ (b ⊔ c) = "
                              f"{_one_line(right)}")
    bottom = cls.bottom()
    for x, y in ((bottom, a), (a, bottom)):
        if join(x, y) != a:
            fail("bottom identity", f"a={_one_line(a)}, bottom={_one_line(bottom)}: "
                                    f"{_one_line(x)} ⊔ {_one_line(y)} = {_one_line(join(x, y))}")
    if a == b and hash(a) != hash(b):
        fail("hash consistency", f"{_one_line(a)} == {_one_line(b)} but their hashes differ")


def check_laws(lattice_cls, values_strategy, max_examples=200, derandomize=False, shrink=True):
    """Check with Hypothesis that ``lattice_cls`` is a lattice on the values drawn.

    Checks associativity, commutativity and idempotence of merge, that bottom
    is an identity, that merge's result is exactly "changed", and that merge
    mutates neither its argument nor the value it was copied from. Raises
    :class:`LatticeLawError` naming the class, law and counterexample (reprs shortened).
    ``derandomize``: the same examples every run (what rewrites use, for stable verdicts);
    ``shrink=False`` reports the first counterexample found, unshrunk (bounded time).
    """
    from hypothesis import HealthCheck, Phase, given, settings

    name = getattr(lattice_cls, "__name__", repr(lattice_cls))

    @settings(max_examples=max_examples, deadline=None, database=None,
              report_multiple_bugs=False, derandomize=derandomize,
              phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else []),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(values_strategy, values_strategy, values_strategy)
    def laws(a, b, c):
        _check_triple(name, lattice_cls, a, b, c)

    laws()


def lattice_strategy(lattice_cls):
    """A Hypothesis strategy of values of a built-in lattice (bound parametric ones too).

    Values are drawn from small domains so that merges often collide.
    """
    from hypothesis import strategies as st

    cls = lattice_cls
    small = st.integers(-3, 3)
    if issubclass(cls, (Max, Min)):
        return st.builds(cls, st.none() | small)
    if issubclass(cls, Bool):
        return st.builds(cls, st.booleans())
    if issubclass(cls, SetUnion):
        return st.builds(cls, st.sets(small, max_size=4))
    if issubclass(cls, TwoPSet):
        return st.builds(cls, st.sets(small, max_size=4), st.sets(small, max_size=4))
    if issubclass(cls, LWW):
        writes = st.builds(cls, st.integers(0, 3), st.integers(0, 2) | st.text("ab", max_size=2))
        return st.just(cls.bottom()) | writes
    if issubclass(cls, GCounter):
        return st.builds(cls, st.dictionaries(st.sampled_from("abc"), st.integers(0, 4)))
    if issubclass(cls, PNCounter):
        g = lattice_strategy(GCounter)
        return st.builds(cls, g, g)
    if issubclass(cls, MapUnion) and cls.value_type is not None:
        return st.builds(cls, st.dictionaries(st.sampled_from("abc"),
                                              lattice_strategy(cls.value_type), max_size=3))
    if issubclass(cls, Pair) and cls.A is not None:
        return st.builds(cls, lattice_strategy(cls.A), lattice_strategy(cls.B))
    raise HydropyError(f"no built-in strategy for {getattr(cls, '__name__', cls)!r}; "
                       "pass a Hypothesis strategy of its values to check_laws")
