"""The local target: an in-process interpreter of the IR, the oracle for every other target.

Semantics (what every design point must reproduce):

* **Tick.** A run is a sequence of ticks. In a tick, each source emits the batch of records
  fed to it for that tick (a ``source_iter`` emits its values in the first tick), and every
  operator runs once, in topological order, on the records its inputs produced in this tick.
  After the inputs are exhausted, ticks continue while a ``cycle`` holds records.
* **Persistence.** Stateless operators (map, filter, flat_map, filter_map, inspect, union,
  forward) keep nothing. ``join`` and ``cross`` remember both sides forever and emit each
  matching pair exactly once, in the tick its second member arrives. ``unique`` remembers
  every record. Folds (``fold``, ``reduce``, ``count``, keyed and lattice variants)
  accumulate forever; a fold's new value is visible downstream in the tick it changes.
* **Point-in-time reads.** ``anti_join`` decides each ``(k, x)`` in its arrival tick against
  the keys seen so far, this tick's included. ``snapshot`` emits the current value each tick;
  ``lookup`` reads the table after this tick's updates. These are non-monotone: their output
  can depend on how inputs are split into ticks and ordered.
* **Cycles.** Records entering a ``cycle`` in tick t leave it in tick t+1.
* **Sinks.** A stream sink shows every record it received, in arrival order. A singleton
  sink shows ``[final value]`` (``[]`` if it never had one, e.g. ``reduce`` of nothing). A
  keyed sink shows the final ``(key, value)`` pairs, sorted by key where keys are sortable.

A program built only from monotone operators (see ``hydropy.ir.ops``) and folds read only
by sinks shows the same sinks (as multisets) whatever the order and tick split of its
inputs; the Hypothesis tests check this.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

from hydropy.errors import InputError, ProgramError, UserCodeError
from hydropy.ir import KEYED, SINGLETON, Graph, Node, verify

UNSET = object()
MAX_TICKS = 10_000


class LocalRunner:
    """Holds the state of one running program; ``tick(batch)`` advances it by one tick."""

    def __init__(self, graph: Graph):
        self.graph = verify(graph)
        self.order = graph.topo_order()
        self.sources = {n.params["name"]: n for n in self.order if n.kind == "source"}
        self.state: dict[int, Any] = {n.id: _STATE.get(n.kind, lambda n: None)(n) for n in self.order}
        self.values: dict[int, Any] = {}            # current value of singleton / keyed nodes
        self.pending: dict[int, list] = defaultdict(list)  # cycle id -> records for next tick
        self.streams: dict[str, list] = {n.params["name"]: [] for n in self.order if n.kind == "sink"}
        self.ticks = 0

    def tick(self, batch: Mapping[str, Iterable[Any]] | None = None) -> None:
        batch = dict(batch or {})
        unknown = sorted(set(batch) - set(self.sources))
        if unknown:
            known = ", ".join(sorted(self.sources)) or "none"
            raise InputError(f"unknown input '{unknown[0]}'; the program's inputs are: {known}")
        out: dict[int, list] = {}
        carried, self.pending = self.pending, defaultdict(list)
        for node in self.order:
            ins = [out[i] for i in node.inputs]
            if node.kind == "source":
                out[node.id] = list(batch.get(node.params["name"], ()))
            elif node.kind == "cycle":
                out[node.id] = carried.get(node.id, [])
            else:
                out[node.id] = _RULES[node.kind](self, node, ins)
        for node in self.order:
            if node.kind == "cycle" and out[node.inputs[0]]:
                self.pending[node.id] = out[node.inputs[0]]
        self.ticks += 1

    @property
    def quiescent(self) -> bool:
        return not any(self.pending.values())

    def drain(self, max_ticks: int = MAX_TICKS) -> None:
        """Tick with no new input until no cycle holds records."""
        start = self.ticks
        while not self.quiescent:
            if self.ticks - start >= max_ticks:
                looping = next(self.graph.node(i) for i, r in self.pending.items() if r)
                raise ProgramError(f"the program did not settle after {max_ticks} ticks: "
                                   f"{looping.where()} keeps producing records", looping.loc)
            self.tick()

    def results(self) -> dict[str, list]:
        res = {}
        for node in self.graph.sinks():
            name, src = node.params["name"], self.graph.node(node.inputs[0])
            if src.coll.kind == SINGLETON:
                value = self.values.get(src.id, UNSET)
                res[name] = [] if value is UNSET else [value]
            elif src.coll.kind == KEYED:
                res[name] = sorted_items(self.values.get(src.id, {}))
            else:
                res[name] = list(self.streams[name])
        return res


def run(graph: Graph, inputs: Mapping[str, Iterable[Any]] | None = None, *,
        ticks: Sequence[Mapping[str, Iterable[Any]]] | None = None,
        max_ticks: int = MAX_TICKS) -> dict[str, list]:
    """Run ``graph`` to quiescence: ``inputs`` as one tick, or ``ticks`` as one batch per tick."""
    if inputs is not None and ticks is not None:
        raise InputError("give either inputs (one tick) or ticks (a batch per tick), not both")
    runner = LocalRunner(graph)
    for batch in ticks if ticks is not None else [inputs or {}]:
        runner.tick(batch)
    runner.drain(max_ticks)
    return runner.results()


def sorted_items(d: Mapping) -> list[tuple]:
    items = list(d.items())
    try:
        return sorted(items, key=lambda kv: kv[0])
    except TypeError:
        return sorted(items, key=lambda kv: repr(kv[0]))


def canonical(graph: Graph, results: Mapping[str, list]) -> dict[str, list]:
    """Sinks in a form two correct targets agree on: unordered streams sorted (multiset)."""
    out = {}
    for node in graph.sinks():
        name = node.params["name"]
        src = graph.node(node.inputs[0]).coll
        rows = list(results.get(name, []))
        out[name] = rows if (src.kind != "stream" or src.ordered) else sorted(rows, key=repr)
    return out


# -- operator rules: (runner, node, input batches) -> output batch --------------------------

def _call(node: Node, role: str, *args):
    try:
        return node.fn(role).obj(*args)
    except Exception as exc:  # a user function failed: report it at the operator's line
        raise UserCodeError(f"{node.where()}: {role} {node.fn(role).label} raised "
                            f"{type(exc).__name__}: {exc}", node.loc) from exc


def _pair(node: Node, rec: Any) -> tuple[Any, Any]:
    if isinstance(rec, (tuple, list)) and len(rec) == 2:
        try:
            hash(rec[0])
        except TypeError:
            raise InputError(f"{node.where()} needs hashable keys, got key {rec[0]!r}", node.loc) from None
        return rec[0], rec[1]
    raise InputError(f"{node.where()} expects (key, value) pairs, got {rec!r}", node.loc)


def _hashable(node: Node, rec: Any) -> Any:
    try:
        hash(rec)
    except TypeError:
        raise InputError(f"{node.where()} needs hashable records, got {rec!r}", node.loc) from None
    return rec


def _map(r, node, ins):
    if node.coll.kind == SINGLETON:
        if not ins[0]:
            return []
        value = _call(node, "fn", ins[0][-1])
        r.values[node.id] = value
        return [value]
    return [_call(node, "fn", x) for x in ins[0]]


def _filter(r, node, ins):
    return [x for x in ins[0] if _call(node, "fn", x)]


def _flat_map(r, node, ins):
    out = []
    for x in ins[0]:
        result = _call(node, "fn", x)
        try:
            out.extend(result)
        except TypeError:
            raise UserCodeError(f"{node.where()}: fn must return an iterable, returned {result!r}",
                                node.loc) from None
    return out


def _filter_map(r, node, ins):
    return [y for y in (_call(node, "fn", x) for x in ins[0]) if y is not None]


def _inspect(r, node, ins):
    for x in ins[0]:
        _call(node, "fn", x)
    return list(ins[0])


def _union(r, node, ins):
    return [x for batch in ins for x in batch]


def _join(r, node, ins):
    left, right = r.state[node.id]
    out = []
    for rec in ins[0]:
        k, x = _pair(node, rec)
        out.extend((k, (x, y)) for y in right[k])
        left[k].append(x)
    for rec in ins[1]:
        k, y = _pair(node, rec)
        out.extend((k, (x, y)) for x in left[k])
        right[k].append(y)
    return out


def _cross(r, node, ins):
    left, right = r.state[node.id]
    out = [(x, y) for x in ins[0] for y in right]
    left.extend(ins[0])
    out += [(x, y) for y in ins[1] for x in left]
    right.extend(ins[1])
    return out


def _unique(r, node, ins):
    seen = r.state[node.id]
    out = []
    for x in ins[0]:
        if _hashable(node, x) not in seen:
            seen.add(x)
            out.append(x)
    return out


def _anti_join(r, node, ins):
    neg = r.state[node.id]
    neg.update(_hashable(node, k) for k in ins[1])
    return [rec for rec in ins[0] if _pair(node, rec)[0] not in neg]


def _initial(r, node, make):
    """A fold's value before any record: set once, visible downstream in the first tick."""
    if node.id not in r.values:
        value = make()
        if value is not UNSET:
            r.values[node.id] = value
            return True
    return False


def _fold(r, node, ins):
    fresh = _initial(r, node, lambda: _call(node, "init"))
    acc = r.values[node.id]
    for x in ins[0]:
        acc = _call(node, "fn", acc, x)
    r.values[node.id] = acc
    return [acc] if (fresh or ins[0]) else []


def _reduce(r, node, ins):
    acc = r.values.get(node.id, UNSET)
    for x in ins[0]:
        acc = x if acc is UNSET else _call(node, "fn", acc, x)
    if acc is UNSET:
        return []
    r.values[node.id] = acc
    return [acc] if ins[0] else []


def _count(r, node, ins):
    fresh = _initial(r, node, lambda: 0)
    r.values[node.id] += len(ins[0])
    return [r.values[node.id]] if (fresh or ins[0]) else []


def _lattice_fold(r, node, ins):
    lattice = node.params["lattice"]
    fresh = _initial(r, node, lattice.bottom)
    acc = r.values[node.id]
    changed = False
    for x in ins[0]:
        changed |= acc.merge(_lift(node, lattice, x))
    return [acc] if (fresh or changed) else []


def _lift(node, lattice, x):
    try:
        return lattice.of(x)
    except Exception as exc:
        raise InputError(f"{node.where()}: cannot make a {lattice.__name__} of {x!r}: {exc}",
                         node.loc) from exc


def _keyed(step):
    """A keyed fold from ``step(node, table, key, value) -> changed``: output the changed pairs."""
    def rule(r, node, ins):
        table = r.values.setdefault(node.id, {})
        changed = {}
        for rec in ins[0]:
            k, v = _pair(node, rec)
            if step(node, table, k, v):
                changed[k] = table[k]
        return list(changed.items())
    return rule


def _fold_keyed_step(node, table, k, v):
    table[k] = _call(node, "fn", table[k] if k in table else _call(node, "init"), v)
    return True


def _reduce_keyed_step(node, table, k, v):
    table[k] = _call(node, "fn", table[k], v) if k in table else v
    return True


def _lattice_keyed_step(node, table, k, v):
    lattice = node.params["lattice"]
    if k not in table:
        table[k] = lattice.bottom()
        table[k].merge(_lift(node, lattice, v))
        return True
    return table[k].merge(_lift(node, lattice, v))


def _snapshot(r, node, ins):
    src = r.graph.node(node.inputs[0])
    value = r.values.get(src.id, UNSET)
    if src.coll.kind == KEYED:
        return sorted_items(value) if value is not UNSET else []
    return [] if value is UNSET else [value]


def _lookup(r, node, ins):
    table = r.values.get(node.inputs[1], {})
    out = []
    for rec in ins[0]:
        k, q = _pair(node, rec)
        out.append((k, (q, table.get(k))))
    return out


def _sink(r, node, ins):
    if r.graph.node(node.inputs[0]).coll.kind not in (SINGLETON, KEYED):
        r.streams[node.params["name"]].extend(ins[0])
    return []


_RULES = {
    "source_iter": lambda r, node, ins: list(node.params["values"]) if r.ticks == 0 else [],
    "forward": lambda r, node, ins: list(ins[0]),
    "map": _map, "filter": _filter, "flat_map": _flat_map, "filter_map": _filter_map,
    "inspect": _inspect, "union": _union, "join": _join, "cross": _cross, "unique": _unique,
    "anti_join": _anti_join, "fold": _fold, "reduce": _reduce, "count": _count,
    "lattice_fold": _lattice_fold, "fold_keyed": _keyed(_fold_keyed_step),
    "reduce_keyed": _keyed(_reduce_keyed_step), "lattice_fold_keyed": _keyed(_lattice_keyed_step),
    "snapshot": _snapshot, "lookup": _lookup, "sink": _sink,
}

_STATE = {
    "join": lambda n: (defaultdict(list), defaultdict(list)),
    "cross": lambda n: ([], []),
    "unique": lambda n: set(),
    "anti_join": lambda n: set(),
}
