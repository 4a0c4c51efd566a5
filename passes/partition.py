"""Partitioning a stage into N members by co-hashing (Chu et al., SIGMOD 2024).

Mechanism: every channel into the stage routes each record to member
``stable_hash(record at P) % N``; the stage's external sources are routed the same way by
the driver. Invariant: every stateful operator of the stage sees, on one member, all the
records with a given state key, and only those, in the order each sender sent them.

Precondition, checked first: the stage has no global state (fold, reduce, count,
lattice_fold, cross: split a fold with ``split_fold`` first), no loop and no literal
source. Every input of every keyed state (both sides of a join, a lookup's query and its
table, both sides of a ``join_table``, an anti_join's records and keys, a keyed fold,
``unique``'s whole record: :data:`KEYED_STATE`) is traced back through the stage's
operators, by reading their functions (:mod:`.lineage`), to what enters the stage: the key
becomes an abstract value over an entry's record (``(x[0][0], 'user')``). Routing is sound
when, for each stateful operator O, one path ``q_O`` into O's key gives, on every side and
from every entry e, exactly the entry's field routed by (``key[q_O] == record_e[P_e]``): then
each record of O sits on member ``stable_hash(key[q_O]) % N``, one function of the key for
all of O's inputs. :func:`_solve` finds such paths (one ``P_e`` per entry serves every
operator it feeds: routing every input by ``a`` serves a join keyed by ``(a, b)`` and a fold
keyed by ``a``) or there is none.

Where a key is computed from an entry's record by deterministic stateless operators (a
function, a helper, a method, a module constant; never ``random``, ``time``, ``id``...: those
are Unknown to lineage), those operators move to the sending stage, so the channel carries
the key as a field. A source has no sending stage: it moves, with them, to a new
single-member stage ``<stage>_router`` in front of the partitioned one, whose channel then
routes by the computed key; every target runs it as any other stage. An explicit ``key``
routes every input by that field, stateless ones included, and is checked the same way.

Partial partitioning (when co-hashing alone is refused): a lattice fold whose writers do
nothing else with their records, read only by lookups and sinks, is kept whole on every
member: its writers are broadcast (as to replicas), and lookups of it need no routing.

Since the members' outputs interleave, what enters the stage becomes unordered, and every
plain fold downstream in other stages must be provably order-insensitive
(``check_order_downstream``).
"""
from __future__ import annotations

from dataclasses import dataclass

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir import ops
from hydropy.ir.ops import ENTRIES, PER_RECORD

from .lineage import (Const, Derived, Field, Lineage, Record, Unknown, at, deps, first_unknown,
                      node_lineage, substitute, PASS_THROUGH)
from .laws import check_state_laws
from .delays import check_no_divergent_delays
from .route_keys import check_key_fits
from .stages import (LATTICE_STATE, check_order_downstream,
                     insert_channels, reach_in_stage)

Path = tuple[int, ...]

#: stateful kinds that can be partitioned, with the key each input port's state is keyed by
KEYED_STATE = ops.KEYED_STATE
GLOBAL_STATE = ops.GLOBAL_STATE
@dataclass(frozen=True)
class _Need:
    """Operator ``op`` keeps state keyed by ``key``, a value over the records entering at
    ``entry``; ``chain``: the stateless operators from the entry to where the key is computed."""

    op: Node
    entry: int
    key: object
    chain: tuple[int, ...]


class _KeyLost(Exception):
    def __init__(self, node: Node, why: str):
        self.node, self.why = node, why


def partition(graph: Graph, stage: str, n: int, key: list[int] | str = "auto") -> Graph:
    """A copy of ``graph`` with ``stage`` split into ``n`` members routed by a co-hashing key."""
    if not isinstance(n, int) or n < 2:
        raise RewriteRefused(f"partition needs n >= 2 members, got {n!r}")
    fixed = tuple(key) if isinstance(key, (list, tuple)) else None
    g = graph.copy()
    for x in g.nodes() if fixed is not None else ():  # a key no input has: say so, before co-location
        if _is_entry(g, stage, x):
            check_key_fits(g, x, fixed)
    for _ in range(len(g) + 1):  # each round moves at least one operator upstream
        members = [x for x in g.nodes() if x.location == stage and x.kind != "sink"]
        if not members:
            raise RewriteRefused(f"no stage named '{stage}'; stages are: {', '.join(graph.locations())}")
        if g.members_of(stage) > 1:
            raise RewriteRefused(f"stage '{stage}' already has {g.members_of(stage)} members")
        shared, broadcast = _shared_lattices(g, stage, members)
        try:
            _check_state(g, members, set())
            needs = _requirements(g, stage, members, set())
            routes = _choose_routes(g, stage, needs, fixed)
            broadcast = set()
        except RewriteRefused as plain:
            if not shared:
                raise
            try:  # partial partitioning: every member keeps the shared lattices whole
                _check_state(g, members, shared)
                needs = _requirements(g, stage, members, shared)
                routes = _choose_routes(g, stage, needs, fixed)
            except RewriteRefused:
                raise plain from None
        if routes is None:  # computed keys: move what computes them before the channel, retry
            g = _move_key_computations(g, stage, needs)
            continue
        check_state_laws(g, shared if broadcast else (), "every member merges all its writes")
        if fixed is not None:  # an explicit key routes the stateless inputs too
            routes.update({x.id: fixed for x in members
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


def _requirements(g: Graph, stage: str, members: list[Node], shared: set[int]) -> list[_Need]:
    """Every keyed state's key, per input port and entry, as a value over the entry's records;
    ``shared`` lattices (and lookups of them) need none: every member holds them whole."""
    needs: list[_Need] = []
    for node in members:
        if node.id in shared or (node.kind == "lookup" and node.inputs[1] in shared):
            continue
        for port, path in KEYED_STATE.get(node.kind, {}).items():
            try:
                found = _trace(g, stage, node.inputs[port], Field(path), ())
            except _KeyLost as lost:
                raise RewriteRefused(
                    f"{node.kind} '{node.name}' keeps state keyed by its input's "
                    f"{_describe(path)}, which cannot be traced to a field of what enters stage "
                    f"'{stage}': {lost.node.kind} '{lost.node.name}' ({_where(lost.node)}) "
                    f"{lost.why}", node.loc) from None
            needs += [_Need(node, entry, value, chain) for entry, value, chain in found]
    return needs


def _describe(path: Path) -> str:
    return "whole record" if path == () else "field " + "".join(f"[{i}]" for i in path)


def _where(node: Node) -> str:
    return node.loc.short if node.loc else "?"


def _trace(g: Graph, stage: str, nid: int, value, chain: tuple[int, ...]) -> list[tuple[int, object, tuple]]:
    """``(entry, value over its records, chain)`` for each entry where ``value`` (a key, in terms
    of node ``nid``'s output) comes from.

    ``chain`` holds the stateless operators passed since the key was last a plain field, so
    that a key computed by a function can be moved upstream with what it reads."""
    node = g.node(nid)
    if isinstance(value, Unknown):
        raise _KeyLost(node, f"computes the key in a way hydropy cannot read ({value.reason})")
    if isinstance(value, Const) or deps(value) == frozenset():
        raise _KeyLost(node, "makes the key a constant, so all records would meet on one member")
    if _is_entry(g, stage, node):
        return [(nid, value, chain)]
    if node.location != stage:
        raise _KeyLost(node, "is outside the stage")
    lineage = node_lineage(node)
    if lineage is not None:  # map, filter_map, flat_map, fused: read the function
        composed = substitute(value, lineage.value)
        unknown = first_unknown([composed])
        if unknown is not None and not _fields(composed):  # nothing left to route by, nothing to move
            raise _KeyLost(node, f"computes the key in a way hydropy cannot read ({unknown.reason})")
        keeps = isinstance(value, Field) and isinstance(composed, Field)
        return _trace(g, stage, node.inputs[0], composed, () if keeps else chain + (nid,))
    if node.kind in PASS_THROUGH or node.kind == "union":
        ports = [0] if node.kind in PASS_THROUGH else range(len(node.inputs))
        return [hit for p in ports for hit in _trace(g, stage, node.inputs[p], value, chain + (nid,))]
    table = dict(node.spec.fields_from)
    if table is None and node.kind == "map":  # a map of a keyed collection's values keeps its keys
        table = {(0,): [(0, (0,))]}
    if table is None:
        raise _KeyLost(node, f"is a {node.kind}, through which keys are not traced")
    hits = []
    for port in sorted({p for targets in table.values() for p, _ in targets}):
        moved = _rebase(value, table, port)
        if not isinstance(moved, Unknown) and (deps(moved) is not None or _fields(moved)):
            hits += _trace(g, stage, node.inputs[port], moved, chain + (node.id,))
    if not hits:
        raise _KeyLost(node, "combines key parts from both of its inputs")
    return hits


def _rebase(value, table: dict[Path, list[tuple[int, Path]]], port: int):
    """``value`` (over an operator's output) over its input ``port``, per the spec's ``fields_from``;
    a part that does not come from that port becomes Unknown."""
    def path(p: Path) -> Path | None:
        for prefix, targets in table.items():
            if p[:len(prefix)] == prefix:
                return next((base + p[len(prefix):] for q, base in targets if q == port), None)
        return None
    if isinstance(value, Record):
        return Record(tuple(_rebase(v, table, port) for v in value.items))
    if isinstance(value, (Field, Derived)):
        paths = [path(p) for p in deps(value)]
        if any(p is None for p in paths):
            return Unknown(f"comes from another input than input {port}")
        return Field(paths[0]) if isinstance(value, Field) else Derived(frozenset(paths))
    return value


def _fields(value, where: Path = ()) -> list[tuple[Path, Path]]:
    """``(path in the key, entry path)`` of every part of the key that is exactly an entry's field."""
    if isinstance(value, Field):
        return [(where, value.path)]
    if isinstance(value, Record):
        return [hit for i, v in enumerate(value.items) for hit in _fields(v, where + (i,))]
    return []


# -- choosing the routes ----------------------------------------------------------------------

def _route_for(key, q: Path) -> Path | None:
    """The entry path that part ``q`` of ``key`` is exactly, if it is one."""
    v = at(key, q)
    return v.path if isinstance(v, Field) else None


def _parts_for(key, route: Path) -> list[Path]:
    """Every path ``q`` into ``key`` whose part is exactly the entry's field at ``route``."""
    return [q + route[len(f):] for q, f in _fields(key) if route[:len(f)] == f]


def _solve(needs: list[_Need], routes: dict[int, Path]) -> dict[int, Path] | None:
    """Routes (entry -> path) extending ``routes`` under which every operator O has one part
    ``q_O`` of its key that is exactly the routed field on every input (see the module
    docstring), or None when there are none.

    Search: an operator's part is propagated to the entries it reads (each entry's route is
    then fixed) and from those to the other operators they feed, trying each choice where
    there are several. A component is started from each operator in turn with a part that is
    a whole field of its key: if any routes exist, so do some in which one operator's part is
    such a field (cut the last index off every route and part of a solution until one is)."""
    ops = list(dict.fromkeys(n.op.id for n in needs))
    budget = [10_000]

    def extend(parts: dict[int, Path], routes: dict[int, Path]) -> dict[int, Path] | None:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        for n in needs:  # an operator's part fixes the routes of its entries
            if n.op.id in parts:
                route = _route_for(n.key, parts[n.op.id])
                if route is None or routes.get(n.entry, route) != route:
                    return None
                if n.entry not in routes:
                    return extend(parts, {**routes, n.entry: route})
        for n in needs:  # an entry's route leaves each operator it feeds a few parts
            if n.op.id not in parts and n.entry in routes:
                for q in _parts_for(n.key, routes[n.entry]):
                    found = extend({**parts, n.op.id: q}, routes)
                    if found is not None:
                        return found
                return None
        free = [o for o in ops if o not in parts]
        if not free:
            return routes
        for o in free:  # a new component: start from each operator with a whole field
            for q in _whole_fields([n.key for n in needs if n.op.id == o]):
                found = extend({**parts, o: q}, routes)
                if found is not None:
                    return found
        return None

    return extend({}, dict(routes))


def _whole_fields(keys: list) -> list[Path]:
    """The parts of an operator's key that are an entry's field on every input, shortest first."""
    candidates = {q for k in keys for q, _ in _fields(k)}
    return sorted((q for q in candidates if all(_route_for(k, q) is not None for k in keys)),
                  key=lambda q: (len(q), q))


def _choose_routes(g: Graph, stage: str, needs: list[_Need], fixed: Path | None) -> dict[int, Path] | None:
    """Routes that co-locate every keyed state; None when keys computed by movable operators
    must first move to the sending side; RewriteRefused when no routing can."""
    start = {n.entry: fixed for n in needs} if fixed is not None else {}
    routes = _solve(needs, start)
    if routes is not None:
        return routes
    if any(_movable(g, stage, n) for n in needs):
        return None
    computed = next((n for n in needs if not _fields(n.key)), None)
    if computed is not None and fixed is None:
        entry = g.node(computed.entry)
        reason = first_unknown([computed.key])
        why = (f": {g.node(computed.chain[-1]).where()} {reason.reason}" if reason and computed.chain
               else ": it is computed by a stateful operator or one fed by several inputs" if computed.chain
               else "")
        raise RewriteRefused(
            f"{computed.op.kind} '{computed.op.name}' keeps state keyed by "
            f"{_format(g, computed)}, computed from the records of '{entry.name}' by operators "
            f"that cannot move before the entry of stage '{stage}'{why}", computed.op.loc)
    # name the first operator that makes the routes impossible
    seen: list[_Need] = []
    for op in dict.fromkeys(n.op.id for n in needs):
        mine = [n for n in needs if n.op.id == op]
        if _solve(seen + mine, start) is None:
            node = mine[0].op
            keys = "; ".join(sorted({f"{_format(g, n)} from '{g.node(n.entry).name}'" for n in mine}))
            routing = (f" with the routing key {_describe(fixed)}" if fixed is not None else "")
            raise RewriteRefused(
                f"no single routing key co-locates the state of {node.kind} '{node.name}' (keyed by "
                f"{keys}) with the rest of the stage{routing}: records with one key of its state "
                f"would reach several members, so that state would be shared between them", node.loc)
        seen += mine
    raise RewriteRefused(f"no routing co-locates the state of stage '{stage}'")


def _format(g: Graph, need: _Need) -> str:
    return Lineage(need.key, 1, (g.node(need.entry).name,)).format()


# -- moving key computations before the channel ----------------------------------------------

def _movable(g: Graph, stage: str, need: _Need) -> bool:
    """The key is computed (not an entry's field), by a deterministic function (no Unknown part),
    by stateless operators of the stage fed only by the entry and each other."""
    if isinstance(need.key, Field) or not need.chain or first_unknown([need.key]) is not None:
        return False
    inside = set(need.chain) | {need.entry}
    return all(g.node(i).kind in PER_RECORD and g.node(i).location == stage
               and set(g.node(i).inputs) <= inside for i in need.chain)


def _move_key_computations(g: Graph, stage: str, needs: list[_Need]) -> Graph:
    """Move each movable key computation to the stage sending its entry's records; a source's
    (it has no sender) goes, with the source, to a new single-member stage ``<stage>_router``."""
    g = g.copy()
    router = None
    for need in needs:
        if not _movable(g, stage, need):
            continue
        entry = g.node(need.entry)
        if entry.kind == "network":
            to = g.node(entry.inputs[0]).location
        else:
            router = router or _fresh_stage(g, f"{stage}_router")
            to = router
            params = {k: v for k, v in entry.params.items() if k not in ("routing", "key")}
            g.replace(entry.copy(location=to, params=params))
        for nid in need.chain:
            g.replace(g.node(nid).copy(location=to))
    return insert_channels(g)


def _fresh_stage(g: Graph, base: str) -> str:
    taken = set(g.locations())
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _is_entry(g: Graph, stage: str, node: Node) -> bool:
    return node.location == stage and node.kind in ENTRIES


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
