"""Operator implementations shared by the local interpreter and the emitted stage code.

Each operator is an object built once per run (it holds the operator's state, if any)
whose ``step(*batches)`` takes the records each input produced in this tick and returns
the records it produces in this tick. Singleton and keyed operators also expose
``value``: their current value (``UNSET`` until they have one; a dict for keyed ones).
The semantics are those documented in :mod:`hydropy.targets.local`.

``where`` names the operator and the user's line (``map 'parse' (app.py:12)``) for errors.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from hydropy.errors import InputError, UserCodeError
from hydropy.ir.ops import runtime_class

from .keys import NAN, canonical_dict, canonical_key  # noqa: F401  (generated loops call ops.canonical_key)
from .loop import Loop  # noqa: F401  (stage modules build their generated loops as ops.Loop)

UNSET = type("Unset", (), {"__repr__": lambda self: "UNSET", "__reduce__": lambda self: "UNSET"})()


def detached(value: Any) -> Any:
    """A lattice value as it is now (a copy: the fold goes on merging into its own); other
    values as they are (a fold's function returns a new accumulator)."""
    return value.copy() if hasattr(value, "merge") and hasattr(value, "copy") else value


class Op:
    """Base: ``where`` for messages, ``loc`` (file:line) for the error's location."""

    def __init__(self, where: str = "", loc=None):
        self.where, self.loc = where, loc

    def call(self, fn: Callable, role: str, *args):
        try:
            return fn(*args)
        except Exception as exc:  # a user function failed: report it at the operator
            name = getattr(fn, "__qualname__", repr(fn))
            error = UserCodeError(f"{self.where}: {role} {name} raised {type(exc).__name__}: {exc}",
                                  self.loc)
            error.where = self.where  # the operator, alike in every target (the checker compares)
            raise error from exc

    #: attributes holding dicts or sets keyed by records' keys (re-canonicalised on unpickling)
    keyed_state: tuple[str, ...] = ()

    def pair(self, rec: Any) -> tuple[Any, Any]:
        """``rec``'s key (canonical: :func:`canonical_key`) and value."""
        if isinstance(rec, (tuple, list)) and len(rec) == 2:
            k = self.hashable(rec[0], "keys")
            return (k if type(k) is str or type(k) is int else canonical_key(k)), rec[1]
        raise InputError(f"{self.where} expects (key, value) pairs, got {rec!r}", self.loc)

    def hashable(self, x: Any, what: str = "records") -> Any:
        try:
            hash(x)
        except TypeError:
            raise InputError(f"{self.where} needs hashable {what}, got {x!r}", self.loc) from None
        return x

    def __setstate__(self, state: dict) -> None:
        """Unpickling (a checkpoint restored) makes new NaN objects: canonicalise the keys."""
        self.__dict__.update(state)
        for name in self.keyed_state:
            held = getattr(self, name, None)
            if isinstance(held, dict):
                canonical_dict(held)
            elif isinstance(held, set):
                setattr(self, name, {canonical_key(x) for x in held})


# -- stateless ----------------------------------------------------------------------

class Map(Op):
    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def step(self, batch):
        return [self.call(self.fn, "fn", x) for x in batch]


class MapSingleton(Map):
    """``map`` of a singleton: recomputed when its input changes."""

    value = UNSET

    def step(self, batch):
        if not batch:
            return []
        self.value = self.call(self.fn, "fn", batch[-1])
        return [self.value]


class MapKeyed(Map):
    """``map`` of a keyed collection: ``value[k] = fn(v)`` for each ``(k, v)`` that changed."""

    keyed_state = ("value",)

    def __init__(self, fn, **kw):
        super().__init__(fn, **kw)
        self.value: dict = {}

    def step(self, batch):
        batch = [(canonical_key(k), v) for k, v in batch]
        for k, v in batch:
            self.value[k] = self.call(self.fn, "fn", v)
        return [(k, self.value[k]) for k in dict.fromkeys(k for k, _ in batch)]


class Filter(Map):
    def step(self, batch):
        return [x for x in batch if self.call(self.fn, "fn", x)]


class FlatMap(Map):
    def step(self, batch):
        out = []
        for x in batch:
            result = self.call(self.fn, "fn", x)
            try:
                out.extend(result)
            except TypeError:
                raise UserCodeError(f"{self.where}: fn must return an iterable, returned {result!r}",
                                    self.loc) from None
        return out


class FilterMap(Map):
    def step(self, batch):
        return [y for y in (self.call(self.fn, "fn", x) for x in batch) if y is not None]


class Inspect(Map):
    def step(self, batch):
        for x in batch:
            self.call(self.fn, "fn", x)
        return list(batch)


class Fused(Op):
    """A chain of stateless operators run as one: ``steps`` are ``(kind, fn, where)`` triples,
    applied in order to the tick's batch (each step keeps its own operator's name for errors)."""

    def __init__(self, *steps, **kw):
        super().__init__(**kw)
        self.chain = [globals()[runtime_class(kind, None)](fn, where=where, loc=self.loc)
                      for kind, fn, where in steps]

    def step(self, batch):
        for op in self.chain:
            batch = op.step(batch)
        return batch


class Union(Op):
    def step(self, *batches):
        return [x for batch in batches for x in batch]


# -- stateful, monotone -------------------------------------------------------------

class Join(Op):
    """Remembers both sides; each matching pair is emitted once, when its later member arrives."""

    keyed_state = ("left", "right")

    def __init__(self, **kw):
        super().__init__(**kw)
        self.left, self.right = defaultdict(list), defaultdict(list)

    def step(self, left, right):
        out = []
        for rec in left:
            k, x = self.pair(rec)
            out.extend((k, (x, y)) for y in self.right[k])
            self.left[k].append(x)
        for rec in right:
            k, y = self.pair(rec)
            out.extend((k, (x, y)) for x in self.left[k])
            self.right[k].append(y)
        return out


class Cross(Op):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.left, self.right = [], []

    def step(self, left, right):
        out = [(x, y) for x in left for y in self.right]
        self.left.extend(left)
        out += [(x, y) for y in right for x in self.left]
        self.right.extend(right)
        return out


class Unique(Op):
    """Each record once, compared by value (:func:`canonical_key`: NaN equals NaN)."""

    keyed_state = ("seen",)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen = set()

    def step(self, batch):
        out = []
        for x in batch:
            self.hashable(x)
            if type(x) is not str and type(x) is not int:
                x = canonical_key(x)
            if x not in self.seen:
                self.seen.add(x)
                out.append(x)
        return out


class AntiJoin(Op):
    """Decides each ``(k, x)`` in its arrival tick against the keys seen so far (this tick's too)."""

    keyed_state = ("keys",)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.keys = set()

    def step(self, batch, keys):
        self.keys.update(canonical_key(self.hashable(k, "keys")) for k in keys)
        return [rec for rec in batch if self.pair(rec)[0] not in self.keys]


# -- folds ----------------------------------------------------------------------------

class Fold(Op):
    """``acc = fn(acc, x)`` from ``init()``; the initial value is visible in the first tick."""

    def __init__(self, init, fn, **kw):
        super().__init__(**kw)
        self.init, self.fn, self.value = init, fn, UNSET

    def step(self, batch):
        fresh = self.value is UNSET
        acc = self.call(self.init, "init") if fresh else self.value
        for x in batch:
            acc = self.call(self.fn, "fn", acc, x)
        self.value = acc
        return [acc] if (fresh or batch) else []


class Reduce(Op):
    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn, self.value = fn, UNSET

    def step(self, batch):
        for x in batch:
            self.value = x if self.value is UNSET else self.call(self.fn, "fn", self.value, x)
        return [self.value] if batch else []


class Count(Op):
    value = UNSET

    def step(self, batch):
        fresh = self.value is UNSET
        self.value = (0 if fresh else self.value) + len(batch)
        return [self.value] if (fresh or batch) else []


class _Lifts(Op):
    lattice: type

    def absorb(self, value, x) -> bool:
        """Fold record ``x`` into lattice ``value`` (``value.update(x)``: merge of ``of(x)`` unless
        the lattice defines its own inflationary update); True iff ``value`` grew."""
        try:
            return value.update(x)
        except Exception as exc:
            raise InputError(f"{self.where}: cannot fold {x!r} into a {self.lattice.__name__}: {exc}",
                             self.loc) from exc


class LatticeFold(_Lifts):
    """``update(x)`` (by default a merge of ``lattice.of(x)``) over all records; emits only
    when the value grows."""

    def __init__(self, lattice, **kw):
        super().__init__(**kw)
        self.lattice, self.value = lattice, UNSET

    def step(self, batch):
        fresh = self.value is UNSET
        if fresh:
            self.value = self.lattice.bottom()
        changed = False
        for x in batch:
            changed |= self.absorb(self.value, x)
        return [detached(self.value)] if (fresh or changed) else []


class Keyed(Op):
    """Base of keyed folds: ``value`` is a dict; ``step`` returns the pairs changed this tick.

    Subclasses define ``update(k, v) -> bool``: fold one pair in, say whether ``value[k]`` changed.
    Keys are canonical (:meth:`Op.pair`).
    """

    keyed_state = ("value",)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.value: dict = {}

    def step(self, batch):
        changed = {}
        for rec in batch:
            k, v = self.pair(rec)
            if self.update(k, v):
                changed[k] = self.value[k]
        return [(k, detached(v)) for k, v in changed.items()]


class FoldKeyed(Keyed):
    def __init__(self, init, fn, **kw):
        super().__init__(**kw)
        self.init, self.fn = init, fn

    def update(self, k, v):
        acc = self.value[k] if k in self.value else self.call(self.init, "init")
        self.value[k] = self.call(self.fn, "fn", acc, v)
        return True


class ReduceKeyed(Keyed):
    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def update(self, k, v):
        self.value[k] = self.call(self.fn, "fn", self.value[k], v) if k in self.value else v
        return True


class LatticeFoldKeyed(Keyed, _Lifts):
    def __init__(self, lattice, **kw):
        super().__init__(**kw)
        self.lattice = lattice

    def update(self, k, v):
        if k not in self.value:
            self.value[k] = self.lattice.bottom()
            self.absorb(self.value[k], v)
            return True
        return self.absorb(self.value[k], v)


# -- partial aggregates (split_fold) -----------------------------------------------------

class PartialCount(Op):
    """The number of this tick's records (nothing in a tick without records)."""

    def step(self, batch):
        return [len(batch)] if batch else []


class PartialFold(Fold):
    """``fn`` folded over this tick's records from ``init()``; no state survives the tick."""

    def step(self, batch):
        if not batch:
            return []
        acc = self.call(self.init, "init")
        for x in batch:
            acc = self.call(self.fn, "fn", acc, x)
        return [acc]


class PartialReduce(Reduce):
    def step(self, batch):
        self.value = UNSET
        return super().step(batch)


class PartialLatticeFold(LatticeFold):
    def step(self, batch):
        if not batch:
            return []
        self.value = self.lattice.bottom()
        for x in batch:
            self.absorb(self.value, x)
        return [self.value]


class PartialFoldKeyed(FoldKeyed):
    """Per key, ``fn`` folded over this tick's values from ``init()`` (a combiner); no state
    survives the tick."""

    def step(self, batch):
        self.value = {}
        return super().step(batch)


class PartialReduceKeyed(ReduceKeyed):
    """Per key, ``fn`` reduced over this tick's values (a combiner); no state survives the tick."""

    def step(self, batch):
        self.value = {}
        return super().step(batch)


def add_counts(total, n):
    """The final merge of partial counts: their sum."""
    return total + n


# -- point-in-time reads ----------------------------------------------------------------

def sorted_items(d: dict) -> list[tuple]:
    """A dict's items sorted by key (by repr of the key where keys do not compare)."""
    items = list(d.items())
    try:
        return sorted(items, key=lambda kv: kv[0])
    except TypeError:
        return sorted(items, key=lambda kv: repr(kv[0]))


class JoinTable(Op):
    """Per key, ``(state[k], y)``: the keyed state's latest value beside the table's value.

    ``step(changed, rows)`` takes the ``(k, v)`` the state changed this tick and the table's
    new ``(k, y)`` rows; returns the pairs that changed. The table is a function of the key:
    a second, different value for one key is an InputError (the precondition of push_fold)."""

    keyed_state = ("state", "table", "value")

    def __init__(self, **kw):
        super().__init__(**kw)
        self.state, self.table, self.value = {}, {}, {}

    def step(self, changed, rows):
        touched = []
        for k, v in changed:
            k = canonical_key(k)
            self.state[k] = v
            touched.append(k)
        for rec in rows:
            k, y = self.pair(rec)
            if k in self.table and self.table[k] != y:
                raise InputError(f"{self.where} expects one table value per key, got {self.table[k]!r} "
                                 f"and {y!r} for {k!r}", self.loc)
            self.table[k] = y
            touched.append(k)
        out = []
        for k in dict.fromkeys(touched):
            if k in self.state and k in self.table:
                self.value[k] = (self.state[k], self.table[k])
                out.append((k, self.value[k]))
        return out


class Snapshot(Op):
    """The current value of ``source`` (an op with ``value``) once per tick."""

    def step(self, source):
        value = source.value
        if isinstance(value, dict):
            return [(k, detached(v)) for k, v in sorted_items(value)]
        return [] if value is UNSET else [detached(value)]


class Lookup(Op):
    """``(k, q)`` -> ``(k, (q, table[k]))`` against the table's state in this tick."""

    def step(self, batch, table):
        return [(k, (q, detached(table.value.get(k)))) for k, q in map(self.pair, batch)]


class Identity(Op):
    def step(self, batch):
        return list(batch)
