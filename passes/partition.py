"""Partitioning a stage into N members by co-hashing (Chu et al., SIGMOD 2024).

Mechanism: every channel into the stage routes each record to member
``stable_hash(record at P) % N``; the stage's external sources are routed the same way by
the driver. Invariant: every stateful operator of the stage sees, on one member, all the
records with a given state key, and only those, in the order each sender sent them.

Precondition, checked first: the stage has no global state (fold, reduce, count,
lattice_fold, cross: split a fold with ``split_fold`` first), no loop and no literal
source; every state key (a join's or keyed fold's key, ``unique``'s whole record, an
anti_join's key) traces back through the stage's operators, by reading their functions,
to a field of what enters the stage; and one routing field P per input determines every
such key (each key is P or contains it). Where a key is computed from a field by a
function (partitioning through a functional dependency), the stateless operators that
compute it move to the sending stage, so the channel carries the key as a field. A key
built as a tuple is routed by a field inside it (equal tuples have equal fields). An
explicit ``key`` routes every input by that field, stateless ones included.

Partial partitioning (when co-hashing alone is refused): a lattice fold whose writers do
nothing else with their records, read only by lookups and sinks, is kept whole on every
member: its writers are broadcast (as to replicas), and lookups of it need no routing.

Since the members' outputs interleave, what enters the stage becomes unordered, and every
plain fold downstream in other stages must be provably order-insensitive
(``check_order_downstream``).
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import PER_RECORD

from .lineage import (Const, Derived, Field, Record, Unknown, at, deps, node_lineage, PASS_THROUGH)
from .laws import check_state_laws
from .stages import (LATTICE_STATE, check_no_divergent_delays, check_order_downstream,
                     insert_channels, reach_in_stage)

Path = tuple[int, ...]

#: stateful kinds that can be partitioned, with the key each input port's state is keyed by
KEYED_STATE = {
    "join": {0: (0,), 1: (0,)},
    "anti_join": {0: (0,), 1: ()},
    "fold_keyed": {0: (0,)},
    "reduce_keyed": {0: (0,)},
    "lattice_fold_keyed": {0: (0,)},
    "unique": {0: ()},
    "lookup": {0: (0,)},
}
GLOBAL_STATE = ("fold", "reduce", "count", "lattice_fold", "cross")


class _KeyLost(Exception):
    def __init__(self, node: Node, why: str):
        self.node, self.why = node, why


class _NeedsMove(Exception):
    """The key is computed by stateless operators from a channel's records: move them."""

    def __init__(self, nodes: list[int]):
        self.nodes = nodes


def partition(graph: Graph, stage: str, n: int, key: list[int] | str = "auto") -> Graph:
    """A copy of ``graph`` with ``stage`` split into ``n`` members routed by a co-hashing key."""
    if not isinstance(n, int) or n < 2:
        raise RewriteRefused(f"partition needs n >= 2 members, got {n!r}")
    g = graph.copy()
    for _ in range(len(g) + 1):  # each round moves at least one operator upstream
        members = [x for x in g.nodes() if x.location == stage and x.kind != "sink"]
        if not members:
            raise RewriteRefused(f"no stage named '{stage}'; stages are: {', '.join(graph.locations())}")
        if g.members_of(stage) > 1:
            raise RewriteRefused(f"stage '{stage}' already has {g.members_of(stage)} members")
        shared, broadcast = _shared_lattices(g, stage, members)
        try:
            try:
                _check_state(g, members, set())
                routes = _choose_routes(g, _requirements(g, stage, members, set()), key)
                broadcast = set()
            except RewriteRefused as plain:
                if not shared:
                    raise
                try:  # partial partitioning: every member keeps the shared lattices whole
                    _check_state(g, members, shared)
                    routes = _choose_routes(g, _requirements(g, stage, members, shared), key)
                except RewriteRefused:
                    raise plain from None
        except _NeedsMove as move:
            for nid in move.nodes:
                node = g.node(nid)
                sender = g.node(_entry_of(g, stage, nid)).inputs[0]
                g.replace(node.copy(location=g.node(sender).location))
            g = insert_channels(g)
            continue
        check_state_laws(g, shared if broadcast else (), "every member merges all its writes")
        if isinstance(key, (list, tuple)):  # an explicit key routes the stateless inputs too
            routes.update({x.id: tuple(key) for x in members
                           if _is_entry(g, stage, x) and x.id not in routes and x.id not in broadcast})
        return _apply(g, stage, n, routes, broadcast)
    raise RewriteRefused(f"partitioning '{stage}' did not settle")


def _shared_lattices(g: Graph, stage: str, members: list[Node]) -> tuple[set[int], set[int]]:
    """Lattice folds every member can hold whole, and the entries to broadcast to keep them.

    A fold qualifies when every entry whose records reach it does nothing else with them
    (stateless operators leading only into such folds) and it is read only by lookups (as
    their table) and sinks: each member then merges every write, as a replica does, and
    answers its own lookups from a full copy."""
    entries = [x for x in members if _is_entry(g, stage, x)]
    reach = {e.id: reach_in_stage(g, stage, e.id) for e in entries}
    folds = {x.id for x in members if x.kind in LATTICE_STATE and all(
        c.kind == "sink" or (c.kind == "lookup" and c.inputs[1] == x.id) for c in g.consumers(x.id))}
    writers = {e for e, seen in reach.items()
               if any(g.node(i).kind in LATTICE_STATE for i in seen) and all(
                   i in folds or ((i == e or g.node(i).kind in PER_RECORD) and not _leaves(g, stage, i))
                   for i in seen)}
    while True:
        shared = {f for f in folds if all(e in writers for e, seen in reach.items() if f in seen)}
        keep = {e for e in writers if all(i in shared for i in reach[e] if i in folds)}
        if keep == writers:
            return shared, writers
        writers = keep


def _leaves(g: Graph, stage: str, nid: int) -> bool:
    return any(c.location != stage or c.kind == "sink" for c in g.consumers(nid))


def _check_state(g: Graph, members: list[Node], shared: set[int]) -> None:
    for node in members:
        if node.kind in GLOBAL_STATE and node.id not in shared:
            hint = (" (split it into per-member partial aggregates with split_fold first)"
                    if node.kind != "cross" else " (a cross product pairs every record with every other)")
            raise RewriteRefused(f"{node.kind} '{node.name}' keeps one global value for the whole stage, "
                                 f"which N members cannot share{hint}", node.loc)
        if node.kind == "cycle":
            raise RewriteRefused(f"the loop through cycle '{node.name}' would have to stay on one "
                                 f"member; keep loops out of partitioned stages", node.loc)
        if node.kind == "source_iter":
            raise RewriteRefused(f"the literal source '{node.name}' would be emitted by one member "
                                 f"only; decouple it out of the stage first", node.loc)
        if node.kind == "snapshot" and g.node(node.inputs[0]).coll.kind != "keyed":
            raise RewriteRefused(f"snapshot '{node.name}' reads a global value", node.loc)


def _is_entry(g: Graph, stage: str, node: Node) -> bool:
    return node.location == stage and node.kind in ("network", "source")


def _requirements(g: Graph, stage: str, members: list[Node],
                  shared: set[int]) -> dict[int, list[tuple[Path, Node]]]:
    """entry node id -> the key paths its records must be routed by, with the operator needing
    each; ``shared`` lattices (and lookups of them) need none: every member holds them whole."""
    needs: dict[int, list[tuple[Path, Node]]] = {}
    for node in members:
        if node.id in shared or (node.kind == "lookup" and node.inputs[1] in shared):
            continue
        for port, path in KEYED_STATE.get(node.kind, {}).items():
            try:
                found = _trace(g, stage, node.inputs[port], Field(path), [])
            except _KeyLost as lost:
                raise RewriteRefused(
                    f"{node.kind} '{node.name}' keeps state keyed by its input's "
                    f"{_describe(path)}, which cannot be traced to a field of what enters stage "
                    f"'{stage}': {lost.node.kind} '{lost.node.name}' ({lost.node.loc.short if lost.node.loc else '?'}) "
                    f"{lost.why}", node.loc) from None
            for entry, value in found:
                needs.setdefault(entry, []).append((value.path, node))
    return needs


def _describe(path: Path) -> str:
    return "whole record" if path == () else "field " + "".join(f"[{i}]" for i in path)


def _trace(g: Graph, stage: str, nid: int, value, chain: list[int]) -> list[tuple[int, Field]]:
    """Where ``value`` (a key, in terms of node ``nid``'s output) comes from at the stage's entries.

    ``chain`` holds the stateless operators passed since the last field-preserving step, so
    that a key computed by a function can be moved upstream with what it reads."""
    node = g.node(nid)
    if isinstance(value, Unknown):
        raise _KeyLost(node, f"computes the key in a way hydropy cannot read ({value.reason})")
    if isinstance(value, Const):
        raise _KeyLost(node, "makes the key a constant, so all records would meet on one member")
    if _is_entry(g, stage, node):
        if isinstance(value, Field):
            return [(nid, value)]
        if isinstance(value, Record):
            d = deps(value)
            if d is not None and len(d) == 1:  # a tuple of one field's parts: route by that field
                return [(nid, Field(next(iter(d))))]
        if node.kind == "network" and chain and _stateless_chain(g, stage, chain):
            raise _NeedsMove(chain)
        raise _KeyLost(node, "delivers records whose key must be computed by a function "
                             "(move the operator computing it to the sending stage)")
    if node.location != stage:
        raise _KeyLost(node, "is outside the stage")
    if node.kind in ("map", "filter_map", "flat_map", "fused"):
        lineage = node_lineage(node)
        composed = _compose(value, lineage.value)
        keeps = isinstance(value, Field) and isinstance(composed, Field)
        return _trace(g, stage, node.inputs[0], composed, [] if keeps else chain + [nid])
    if node.kind in PASS_THROUGH or node.kind == "union":
        ports = [0] if node.kind in PASS_THROUGH else range(len(node.inputs))
        return [hit for p in ports for hit in _trace(g, stage, node.inputs[p], value, chain + [nid])]
    if node.kind == "join":
        return _split(g, stage, node, value, {(0,): [(0, (0,)), (1, (0,))], (1, 0): [(0, (1,))],
                                              (1, 1): [(1, (1,))]}, chain)
    if node.kind == "lookup":
        return _split(g, stage, node, value, {(0,): [(0, (0,))], (1, 0): [(0, (1,))]}, chain)
    if node.kind == "snapshot":  # (k, v) of a keyed fold: k is the fold input's key
        fold = g.node(node.inputs[0])
        return _split(g, stage, fold, value, {(0,): [(0, (0,))]}, chain)
    raise _KeyLost(node, f"is a {node.kind}, through which keys are not traced")


def _compose(value, inner):
    """``value`` (in terms of a function's output) in terms of the function's input."""
    if isinstance(value, Field):
        return at(inner, value.path)
    if isinstance(value, Derived):
        parts = [at(inner, p) for p in value.deps]
        d = [deps(p) for p in parts]
        return Unknown("reads an unknown field") if any(x is None for x in d) else \
            Derived(frozenset().union(*d))
    return value


def _field_of(value):
    """A Field inside the tuple ``value`` (the first, depth first), else None. Equal tuples
    have equal fields, so routing by that field co-locates equal keys."""
    if isinstance(value, Field):
        return value
    if isinstance(value, Record):
        return next((f for f in map(_field_of, value.items) if f is not None), None)
    return None


def _split(g, stage, node, value, table: dict[Path, list[tuple[int, Path]]], chain):
    value = _field_of(value)
    if value is None:
        raise _KeyLost(node, "combines key parts from several fields")
    for prefix, targets in table.items():
        if value.path[:len(prefix)] == prefix:
            rest = value.path[len(prefix):]
            return [hit for port, base in targets
                    for hit in _trace(g, stage, node.inputs[port], Field(base + rest), chain + [node.id])]
    raise _KeyLost(node, f"does not carry the key in its {_describe(value.path)}")


def _stateless_chain(g: Graph, stage: str, chain: list[int]) -> bool:
    return all(g.node(i).kind in PER_RECORD and g.node(i).location == stage for i in chain)


def _entry_of(g: Graph, stage: str, nid: int) -> int:
    """The entry (network node) that feeds stateless operator ``nid`` within ``stage``."""
    node = g.node(nid)
    while not _is_entry(g, stage, node):
        node = g.node(node.inputs[0])
    return node.id


def _choose_routes(g: Graph, needs, key) -> dict[int, Path]:
    routes = {}
    for entry, wanted in needs.items():
        paths = sorted({p for p, _ in wanted}, key=len)
        route = tuple(key) if isinstance(key, (list, tuple)) else paths[-1]
        for path, op in wanted:
            if route[:len(path)] != path:
                raise RewriteRefused(
                    f"no single routing key co-locates the state of {op.kind} '{op.name}' (keyed by "
                    f"{_describe(path)} of '{g.node(entry).name}') with the rest of the stage "
                    f"(routing by {_describe(route)}): records with one key of its state would "
                    f"reach several members, so that state would be shared between them", op.loc)
        routes[entry] = route
    return routes


def _apply(g: Graph, stage: str, n: int, routes: dict[int, Path], broadcast: set[int]) -> Graph:
    g.members[stage] = n
    for node in g.nodes():
        if _is_entry(g, stage, node):
            params = dict(node.params)
            if node.id in broadcast:
                params.update(routing="broadcast", key=None)
            elif node.id in routes:
                params.update(routing="hash", key=routes[node.id])
            else:
                params.update(routing="round_robin", key=None)
            g.replace(node.copy(params=params))
    g = insert_channels(g)
    check_no_divergent_delays(g)
    check_order_downstream(g, stage)
    return g
