"""Analyses over a Graph: monotonicity, points of order, boundedness, key lineage,
functional dependencies and the state each stage holds.

Every function here is pure: it reads the graph and never changes it. Findings are small
frozen dataclasses whose text names the operator and its ``basename:line``.

Monotonicity follows Bloom (CIDR 2011): an operator is monotone (M) or not (N) as its spec
says; an asynchronous input (A) is an external source (records arrive in an order and
batching the program does not control) or an edge between two stages (a channel). A
non-monotone operator reached by an asynchronous input is a *point of order*: its output
can depend on arrival order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from hydropy.ir import KEYED, SINGLETON, Graph, Node, SourceLoc
from hydropy.ir.ops import FOLDS, LATTICE_FOLDS, PARTIALS, PLAIN_FOLDS, SOURCES

from . import lineage as L
from .lineage import Const, Path, Record
from .thresholds import why_not_threshold



def _op(node: Node) -> str:
    """``kind 'name' (basename:line)``: how findings name an operator."""
    return f"{node.kind} '{node.name}'" + (f" ({node.loc.short})" if node.loc else "")


@dataclass(frozen=True)
class Finding:
    """One observation about an operator, with a hint of what to do (may be empty)."""

    node: int
    kind: str
    name: str
    loc: SourceLoc | None
    reason: str
    hint: str = ""

    @property
    def where(self) -> str:
        return f"{self.kind} '{self.name}'" + (f" ({self.loc.short})" if self.loc else "")


@dataclass(frozen=True)
class PointOfOrder(Finding):
    """A non-monotone operator reached by asynchronous input; ``causes`` names those inputs."""

    causes: tuple[str, ...] = ()


# -- monotonicity ---------------------------------------------------------------------------

def _crosses(graph: Graph, node: Node) -> list[Node]:
    """Inputs of ``node`` that run in another stage (the edge is a channel)."""
    return [graph.node(i) for i in node.inputs if graph.node(i).location != node.location]


def monotonicity(graph: Graph) -> dict[int, str]:
    """Each non-sink node's label: ``N`` if its operator is not monotone, else ``A`` if it is an
    external source or reads an input from another stage, else ``M``."""
    labels = {}
    for node in graph.nodes():
        if node.kind == "sink":
            continue
        if not node.spec.monotone:
            labels[node.id] = "N"
        elif node.kind == "source" or _crosses(graph, node):
            labels[node.id] = "A"
        else:
            labels[node.id] = "M"
    return labels


def _async_causes(graph: Graph, node: Node) -> tuple[str, ...]:
    """The asynchronous inputs upstream of ``node``'s output (through cycles too), in graph
    order: ``'name'`` for an external source, ``the channel from stage 'a' to stage 'b'``."""
    upstream = nx.ancestors(graph.nx, node.id) | {node.id}
    causes: list[str] = []
    for n in graph.nodes():
        if n.id not in upstream:
            continue
        if n.kind == "source":
            causes.append(f"'{n.params['name']}'")
        for src in _crosses(graph, n):
            causes.append(f"the channel from stage '{src.location}' to stage '{n.location}'")
    return tuple(dict.fromkeys(causes))


def _causes_via(graph: Graph, node: Node, port: int) -> tuple[str, ...]:
    """The asynchronous inputs that reach ``node`` through its input ``port``."""
    src = graph.node(node.inputs[port])
    causes = _async_causes(graph, src)
    if src.location != node.location:
        causes += (f"the channel from stage '{src.location}' to stage '{node.location}'",)
    return tuple(dict.fromkeys(causes))


def _phrase(causes: tuple[str, ...]) -> str:
    """``the records of 'puts' and the records on the channel from ...``."""
    return " and ".join(f"the records of {c}" if c.startswith("'") else f"the records on {c}"
                        for c in causes)


def _fold_behind(graph: Graph, node: Node) -> Node:
    """The fold whose value ``node`` carries, looking through maps of its value and forwards."""
    while node.kind in ("map", "forward") and node.coll.kind in (SINGLETON, KEYED):
        node = graph.node(node.inputs[0])
    return node


def _is_lattice(node: Node) -> bool:
    return node.kind in LATTICE_FOLDS


def points_of_order(graph: Graph) -> list[PointOfOrder]:
    """Non-monotone operators reached by an asynchronous input, in graph order.

    For a point-in-time read (lookup, snapshot, anti_join) only the input whose state it
    reads counts: a lookup of a table built from bounded inputs always sees the whole table,
    whenever its queries arrive. A fold is not reported itself: its value is observed either by a sink (its final value,
    which does not depend on batching) or through a point-in-time read (snapshot, lookup),
    and that read is what is reported, naming the fold. A snapshot of a lattice fold counts
    too: a threshold read after it would be safe, but a filter cannot be proven one."""
    out = []
    for node in graph.nodes():
        if node.spec.monotone or node.kind in FOLDS or node.kind in PARTIALS:
            continue
        ports = [node.spec.read_port] if node.spec.read_port is not None else range(len(node.inputs))
        causes = tuple(dict.fromkeys(c for p in ports for c in _causes_via(graph, node, p)))
        if not causes:
            continue
        if node.kind == "lookup":
            fold = _fold_behind(graph, graph.node(node.inputs[1]))
            reason = (f"{_op(node)} reads the current state of {_op(fold)} for each record of "
                      f"'{graph.node(node.inputs[0]).name}': its answer depends on whether "
                      f"{_phrase(causes)} arrived before it")
            hint = ("write the read as a threshold on the lattice (answer once the value passes "
                    "a bound), or accept the point of order" if _is_lattice(fold) else
                    "fold into a lattice and read it with a threshold, or accept the point of order")
        elif node.kind == "snapshot":
            if not _unsafe_reads(graph, node):
                continue  # every read is a threshold on a growing lattice: safe
            reason, hint = _snapshot_reason(graph, node, causes)
        elif node.kind == "anti_join":
            reason = (f"{_op(node)} drops each record whose key has been seen on "
                      f"'{graph.node(node.inputs[1]).name}' so far: a key among {_phrase(causes)} "
                      f"that arrives later would have removed it")
            hint = "negate only a bounded input (complete before the read), or accept the point of order"
        else:
            reason = f"{_op(node)} is not monotone and reads {_phrase(causes)}"
            hint = "accept the point of order, or express the computation monotonically"
        out.append(PointOfOrder(node.id, node.kind, node.name, node.loc, reason, hint, causes))
    return out


def _snapshot_reason(graph: Graph, node: Node, causes: tuple[str, ...]) -> tuple[str, str]:
    fold = _fold_behind(graph, graph.node(node.inputs[0]))
    reason = (f"{_op(node)} emits the current value of {_op(fold)} once per tick: which values "
              f"it shows depends on how {_phrase(causes)} are split into ticks and ordered")
    if not _is_lattice(fold):
        return reason, ("fold into a lattice (e.g. GCounter for a count) and read it with a "
                        "threshold, or accept the point of order")
    unsafe = _unsafe_reads(graph, node)
    safe = [c for c in graph.consumers(node.id) if c.id not in unsafe]
    reason += "; " + "; ".join(unsafe.values())
    if safe:
        reason += "; " + ", ".join(f"{c.kind} '{c.name}'" for c in safe) + " is a threshold read (safe)"
    return reason, ("read the lattice only through thresholds (.filter(lambda kv: kv[1].reveal() "
                    ">= BOUND) then .unique()), or accept the point of order")


def _unsafe_reads(graph: Graph, snapshot: Node) -> dict[int, str]:
    """Readers of ``snapshot`` that are not threshold reads of a lattice fold, with why."""
    fold = graph.node(snapshot.inputs[0])
    if not _is_lattice(fold):
        return {snapshot.id: f"it reads {_op(fold)}, which is not a lattice"}
    why = {c.id: why_not_threshold(graph, c, fold) for c in graph.consumers(snapshot.id)}
    return {i: w for i, w in why.items() if w} if why else {snapshot.id: "nothing reads it"}


# -- boundedness ----------------------------------------------------------------------------

def _readers(graph: Graph, node: Node) -> list[Node]:
    """The operators that observe ``node``'s value, looking through maps of it and forwards."""
    out = []
    for c in graph.consumers(node.id):
        if c.kind in ("map", "forward") and c.coll is not None and c.coll.kind in (SINGLETON, KEYED):
            out += _readers(graph, c)
        else:
            out.append(c)
    return out


def boundedness(graph: Graph) -> list[Finding]:
    """Plain folds of an unbounded input that something other than a sink reads.

    Such a fold has no final value, so every reading of it is an intermediate one; a
    lattice fold is never flagged (its values only grow)."""
    out = []
    for node in graph.nodes():
        if node.kind not in PLAIN_FOLDS:
            continue
        src = graph.node(node.inputs[0])
        if src.coll.bounded:
            continue
        readers = [r for r in _readers(graph, node) if r.kind != "sink"]
        if not readers:
            continue
        reason = (f"{_op(node)} folds the unbounded stream '{src.name}' and is read by "
                  f"{', '.join(_op(r) for r in readers)}: its value is never final")
        hint = ("fold into a lattice (e.g. Max, SetUnion, GCounter) whose values only grow, or "
                "show the fold only through a sink")
        out.append(Finding(node.id, node.kind, node.name, node.loc, reason, hint))
    return out


# -- lineage of records through the graph ---------------------------------------------------

Origin = tuple[int, Path]  # (node id, path in that node's output records)


@dataclass(frozen=True)
class Same:
    """Exactly the value at each origin of the records it came from (equal where several:
    a join key is both inputs' keys; after a union, the origin of the input it came through)."""

    origins: frozenset[Origin]


@dataclass(frozen=True)
class Func:
    """A deterministic function of the values at ``origins``."""

    origins: frozenset[Origin]


GValue = Same | Func | Const | Record


class _Records:
    """The lineage of every node's output records, in terms of *origins*: the source records,
    or, where lineage is lost, the operator that lost it (``why`` says how)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.why: dict[Origin, str] = {}
        self.values: dict[int, GValue] = {}
        for node in graph.topo_order():
            if node.kind != "sink":
                self.values[node.id] = self.trace(node)

    def anchor(self, node: Node, path: Path, reason: str) -> Same:
        self.why[(node.id, path)] = reason
        return Same(frozenset({(node.id, path)}))

    def at(self, node: Node, value: GValue, path: Path, here: Path, reason: str) -> GValue:
        """``value`` at ``path``, or an anchor at ``node``'s output position ``here``."""
        found = _walk(value, path)
        return found if found is not None else self.anchor(node, here, reason)

    def input(self, node: Node, port: int = 0) -> GValue:
        return self.values[node.inputs[port]]

    def trace(self, node: Node) -> GValue:
        kind = node.kind
        if kind in SOURCES:
            return Same(frozenset({(node.id, ())}))
        if kind == "cycle":
            return self.anchor(node, (), "records fed back by a cycle are not traced")
        if kind in L.PASS_THROUGH or kind == "network":
            return self.input(node)
        if kind == "map" and node.coll.kind == KEYED:  # per key, a function of the fold's value
            return Record((self.at(node, self.input(node), (0,), (0,), "the key of a keyed map"),
                           self.anchor(node, (1,), "a function of an accumulated value")))
        if kind in ("map", "filter_map", "flat_map", "fused"):
            lin = L.node_lineage(node)
            return self.subst(node, lin.value, self.input(node), ())
        if kind == "union":
            return self.union(node, [self.values[i] for i in node.inputs], ())
        if kind == "join":
            left, right = self.input(node, 0), self.input(node, 1)
            key = self.same_key(node, [self.at(node, left, (0,), (0,), "the key of a join input"),
                                       self.at(node, right, (0,), (0,), "the key of a join input")])
            return Record((key, Record((self.at(node, left, (1,), (1, 0), "the value of a join input"),
                                        self.at(node, right, (1,), (1, 1), "the value of a join input")))))
        if kind == "cross":
            return Record((self.input(node, 0), self.input(node, 1)))
        if kind == "lookup":
            query = self.input(node, 0)
            return Record((self.at(node, query, (0,), (0,), "the key of a lookup query"),
                           Record((self.at(node, query, (1,), (1, 0), "the value of a lookup query"),
                                   self.anchor(node, (1, 1), "a value read from a table")))))
        if node.coll is not None and node.coll.kind == KEYED:  # keyed folds
            return Record((self.at(node, self.input(node), (0,), (0,), "the key of a fold input"),
                           self.anchor(node, (1,), "an accumulated value")))
        if kind == "snapshot" and self.graph.node(node.inputs[0]).coll.kind == KEYED:
            key = self.at(node, self.input(node), (0,), (0,), "the key of a keyed fold")
            return Record((key, self.anchor(node, (1,), "an accumulated value")))
        if kind in FOLDS or kind == "snapshot":
            return self.anchor(node, (), "an accumulated value")
        return self.anchor(node, (), f"the records of a '{kind}' operator are not traced")

    def subst(self, node: Node, value: L.Value, inp: GValue, here: Path) -> GValue:
        """A function's output lineage ``value`` with its input paths replaced by ``inp``'s origins."""
        if isinstance(value, L.Field):
            return self.at(node, inp, value.path, here, f"{node.fn().label} reads a part of its "
                                                         f"input the analysis cannot locate")
        if isinstance(value, Const):
            return value
        if isinstance(value, Record):
            return Record(tuple(self.subst(node, v, inp, here + (i,))
                                for i, v in enumerate(value.items)))
        if isinstance(value, L.Derived):
            parts = [_walk(inp, path) for path in value.deps]
            if any(p is None for p in parts):
                return self.anchor(node, here, f"{node.fn().label} reads a part of its input "
                                               f"the analysis cannot locate")
            return Func(frozenset().union(*(_origins(p) for p in parts)))
        return self.anchor(node, here, f"{node.fn().label} {value.reason}")

    def union(self, node: Node, values: list[GValue], here: Path) -> GValue:
        """Records of any input: alternatives that agree position by position stay known."""
        if all(v == values[0] for v in values):
            return values[0]
        if all(isinstance(v, Same) for v in values):
            return self.same_key(node, values, here, "union")
        tuples = [v for v in values if isinstance(v, Record)]
        if tuples and all(isinstance(v, (Same, Func)) or
                          (isinstance(v, Record) and len(v.items) == len(tuples[0].items))
                          for v in values):  # an input traced as a whole splits into its fields
            return Record(tuple(self.union(node, [_walk(v, (i,)) for v in values], here + (i,))
                                for i in range(len(tuples[0].items))))
        if all(isinstance(v, (Same, Func)) for v in values):
            return Func(frozenset().union(*(v.origins for v in values)))
        return self.anchor(node, here, "the inputs of the union disagree here")

    def same_key(self, node: Node, values: list[GValue], here: Path = (0,), what: str = "join") -> GValue:
        """Merge values known equal (a join's two keys) or alternatives (a union's inputs):
        Same origins combine unless one origin node would need two different paths."""
        if all(isinstance(v, Same) for v in values):
            origins = frozenset().union(*(v.origins for v in values))
            by_node: dict[int, set[Path]] = {}
            for n, p in origins:
                by_node.setdefault(n, set()).add(p)
            if all(len(ps) == 1 for ps in by_node.values()):
                return Same(origins)
            return self.anchor(node, here, f"the inputs of the {what} take it from different "
                                           f"fields of the same records")
        if all(v == values[0] for v in values):
            return values[0]
        if all(isinstance(v, (Same, Func, Const, Record)) for v in values):
            return Func(frozenset().union(*(_origins(v) for v in values)))
        return self.anchor(node, here, f"the inputs of the {what} disagree here")

    def reason(self, origin: Origin) -> str:
        """Why lineage stops at ``origin`` ("" for a source), from the nearest anchored prefix."""
        node_id, path = origin
        for k in range(len(path), -1, -1):
            if (node_id, path[:k]) in self.why:
                return self.why[(node_id, path[:k])]
        return ""


def _walk(value: GValue, path: Path) -> GValue | None:
    """``value`` at ``path``; None where the tree does not tell (a field of a constant that is
    not a tuple, or past the end of a tuple)."""
    for i in path:
        if isinstance(value, Same):
            value = Same(frozenset((n, p + (i,)) for n, p in value.origins))
        elif isinstance(value, Record) and 0 <= i < len(value.items):
            value = value.items[i]
        elif isinstance(value, Const) and isinstance(value.value, tuple) and 0 <= i < len(value.value):
            value = Const(value.value[i])
        elif isinstance(value, Func):
            return value
        else:
            return None
    return value


def _origins(value: GValue) -> frozenset[Origin]:
    if isinstance(value, (Same, Func)):
        return value.origins
    if isinstance(value, Record):
        return frozenset().union(*(_origins(v) for v in value.items))
    return frozenset()


def record_lineage(graph: Graph) -> dict[int, GValue]:
    """Each non-sink node's output records (a keyed collection's ``(key, value)`` pairs) as
    a tree over origins: positions of source records, or of the operator where lineage stops."""
    return dict(_Records(graph).values)


@dataclass(frozen=True)
class KeyOrigin:
    """A position in some operator's output records that a key comes from."""

    node: int
    name: str
    kind: str
    path: Path
    loc: SourceLoc | None = None
    note: str = ""  # why lineage stops here ("" at a source)

    @property
    def is_source(self) -> bool:
        return self.kind in SOURCES

    def __str__(self) -> str:
        if not self.path:
            return f"{self.name} (whole record)"
        return self.name + "".join(f"[{i}]" for i in self.path)


@dataclass(frozen=True)
class KeyInfo:
    """The lineage of a key: a node's key position ``(0,)`` (of records, or of a keyed
    collection's keys), or the key an operator's state is kept by.

    kind: ``exact`` (the key is the value at every origin of its record's inputs), ``tuple``
    (a tuple built of ``parts``), ``derived`` (a deterministic function of the origins),
    ``const``. Origins are source fields where lineage reaches the sources, else the
    operator where it stops (``note`` says why)."""

    node: int
    kind: str
    origins: tuple[KeyOrigin, ...]
    parts: tuple["KeyInfo", ...] = ()
    value: Any = None

    @property
    def determines(self) -> tuple[KeyOrigin, ...]:
        """Positions whose value the key fixes: hashing any of them co-locates equal keys."""
        if self.kind == "exact":
            return self.origins
        if self.kind == "tuple":
            return tuple(dict.fromkeys(o for p in self.parts for o in p.determines))
        return ()

    @property
    def source_fields(self) -> dict[str, Path] | None:
        """``{source name: path}`` when the key is exactly a field of the source records, else None."""
        if self.kind != "exact" or not all(o.is_source for o in self.origins):
            return None
        return {o.name: o.path for o in self.origins}

    def describe(self) -> str:
        if self.kind == "exact":
            return " = ".join(str(o) for o in self.origins)
        if self.kind == "tuple":
            return "(" + ", ".join(p.describe() for p in self.parts) + ")"
        if self.kind == "derived":
            return f"f({', '.join(str(o) for o in self.origins)})" if self.origins else "f()"
        return repr(self.value)

    def notes(self) -> tuple[str, ...]:
        """Where lineage stops short of the sources, and why."""
        return tuple(dict.fromkeys(
            f"{o.kind} '{o.name}'" + (f" ({o.loc.short})" if o.loc else "") + f": {o.note}"
            for o in self._all() if o.note))

    def _all(self) -> tuple[KeyOrigin, ...]:
        return self.origins + tuple(o for p in self.parts for o in p._all())


def _key_info(graph: Graph, rec: _Records, node_id: int, value: GValue) -> KeyInfo:
    def origin(o: Origin) -> KeyOrigin:
        n = graph.node(o[0])
        return KeyOrigin(n.id, n.name, n.kind, o[1], n.loc, rec.reason(o))

    def sort(origins) -> tuple[KeyOrigin, ...]:
        return tuple(origin(o) for o in sorted(origins))
    if isinstance(value, Same):
        return KeyInfo(node_id, "exact", sort(value.origins))
    if isinstance(value, Func):
        return KeyInfo(node_id, "derived", sort(value.origins))
    if isinstance(value, Record):
        parts = tuple(_key_info(graph, rec, node_id, v) for v in value.items)
        return KeyInfo(node_id, "tuple", sort(_origins(value)), parts)
    return KeyInfo(node_id, "const", (), value=value.value)


def key_lineage(graph: Graph) -> dict[int, KeyInfo]:
    """For each stream and keyed node: the lineage of its key position ``(0,)``, traced back
    through user functions (see :mod:`.lineage`), joins (the key is both inputs' keys) and
    unions (inputs must agree, else the key is anchored at the union)."""
    rec = _Records(graph)
    out = {}
    for node in graph.nodes():
        if node.coll is None or node.coll.kind == SINGLETON:
            continue
        key = rec.at(node, rec.values[node.id], (0,), (0,), "not a (key, value) record")
        out[node.id] = _key_info(graph, rec, node.id, key)
    return out


def _state_key(graph: Graph, rec: _Records, node: Node) -> KeyInfo | None:
    """The key an operator's state (or its read) is partitioned by; None for global state."""
    def key(port: int, path: Path) -> GValue:
        return rec.at(node, rec.input(node, port), path, (0,), "not a (key, value) record")
    if node.kind == "join":
        value = rec.at(node, rec.values[node.id], (0,), (0,), "")
    elif node.kind == "unique":
        value = rec.input(node)
    elif node.kind == "anti_join":
        value = rec.same_key(node, [key(0, (0,)), key(1, ())], what="anti_join")
    elif node.kind == "lookup":
        value = rec.same_key(node, [key(0, (0,)), key(1, (0,))], what="lookup")
    elif node.spec.keyed_inputs:
        value = key(0, (0,))
    else:
        return None
    return _key_info(graph, rec, node.id, value)


# -- functional dependencies ----------------------------------------------------------------

@dataclass(frozen=True)
class Dependency:
    """Output position ``out`` of a function is ``copy`` of the input at ``inputs[0]``, a
    ``function`` of the inputs at ``inputs``, or a ``const``."""

    out: Path
    kind: str
    inputs: tuple[Path, ...]


def functional_dependencies(graph: Graph) -> dict[int, tuple[Dependency, ...]]:
    """Per map / filter_map / flat_map node: its known output positions and what they are a
    function of (paths relative to the function's input). Unknown positions are left out."""
    out = {}
    for node in graph.nodes():
        lin = L.node_lineage(node)
        if lin is None:
            continue
        deps = []
        for path, value in lin.positions():
            if isinstance(value, L.Field):
                deps.append(Dependency(path, "copy", (value.path,)))
            elif isinstance(value, L.Derived):
                deps.append(Dependency(path, "function", tuple(sorted(value.deps))))
            elif isinstance(value, Const):
                deps.append(Dependency(path, "const", ()))
        out[node.id] = tuple(deps)
    return out


# -- state ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StateEntry:
    """One stateful operator: what it holds, which key it is kept by (None: global), and
    whether its state is a lattice (merges in any order)."""

    node: int
    kind: str
    name: str
    loc: SourceLoc | None
    holds: str
    keyed_by: Path | None
    key: KeyInfo | None
    lattice: bool

    @property
    def where(self) -> str:
        return f"{self.kind} '{self.name}'" + (f" ({self.loc.short})" if self.loc else "")



def state_inventory(graph: Graph) -> dict[str, list[StateEntry]]:
    """Per stage (every stage of the graph, in order), its stateful operators in graph order."""
    rec = _Records(graph)
    out: dict[str, list[StateEntry]] = {stage: [] for stage in graph.locations()}
    for node in graph.nodes():
        if not node.spec.stateful:
            continue
        lattice = node.kind in LATTICE_FOLDS
        holds = node.spec.holds
        if lattice:
            holds += f" ({node.params['lattice'].__name__} lattice)"
        out[node.location].append(StateEntry(
            node.id, node.kind, node.name, node.loc, holds, dict(node.spec.state_key).get(0),
            _state_key(graph, rec, node), lattice))
    return out


# -- the report -----------------------------------------------------------------------------

_LABEL_NOTE = {
    "source": "external input: arrival order and batching are not controlled",
    "lookup": "reads a table's state at a point in time",
    "snapshot": "reads a fold's current value each tick",
    "anti_join": "negation: decides on the keys seen so far",
}


def report(graph: Graph) -> str:
    """The analyses as text a person reads: sections Monotonicity, Points of order,
    Boundedness, Keys and State; operators named with ``basename:line``."""
    rec = _Records(graph)
    labels = monotonicity(graph)
    lines = [f"analysis of flow '{graph.name}'", "",
             "Monotonicity (M monotone, N non-monotone, A asynchronous input)"]
    for node in graph.nodes():
        if node.id not in labels:
            continue
        label = labels[node.id]
        note = _LABEL_NOTE.get(node.kind, "")
        if label == "A" and node.kind != "source":
            note = "reads a channel from stage " + ", ".join(
                f"'{s.location}'" for s in _crosses(graph, node))
        elif label == "N" and not note:
            note = ("a plain fold: its intermediate values depend on arrival order"
                    if node.kind in PLAIN_FOLDS else
                    "a partial aggregate of each tick, folded only by its final merge"
                    if node.kind in PARTIALS else "not monotone")
        lines.append(f"  {label}  {_op(node)}" + (f": {note}" if note else ""))

    lines += ["", "Points of order"]
    pos = points_of_order(graph)
    for p in pos:
        lines.append(f"  {p.reason}")
        lines.append(f"    what to do: {p.hint}")
    if not pos:
        lines.append("  none: no non-monotone operator is reached by an asynchronous input")

    lines += ["", "Boundedness"]
    bounded = boundedness(graph)
    for f in bounded:
        lines.append(f"  {f.reason}")
        lines.append(f"    what to do: {f.hint}")
    if not bounded:
        lines.append("  none: no plain fold of an unbounded input is read before its input ends")

    lines += ["", "Keys"]
    start = len(lines)
    keyed = [(n, _state_key(graph, rec, n)) for n in graph.nodes()
             if n.spec.keyed_inputs or n.kind == "unique"]
    for node, info in keyed:
        lines.append(f"  {_op(node)}: keyed by {info.describe()}")
        lines += [f"    lineage stops at {n}" for n in info.notes()]
    for node in graph.nodes():
        lin = L.node_lineage(node)
        if lin is None:
            continue
        what = "each element" if node.kind == "flat_map" else "output"
        lines.append(f"  {_op(node)}: {what} = {lin}")
        for path, why in lin.unknowns():
            lines.append(f"    ?{' at output' + ''.join(f'[{i}]' for i in path) if path else ''}: "
                         f"{node.fn().label} {why}")
    if len(lines) == start:
        lines.append("  none: no keyed operator and no user function on records")

    lines += ["", "State"]
    for stage, entries in state_inventory(graph).items():
        lines.append(f"  stage {stage}:")
        for e in entries:
            key = f"keyed by {e.key.describe()}" if e.key is not None else "global (no key)"
            lines.append(f"    {e.where}: {e.holds}; {key}")
        if not entries:
            lines.append("    stateless")
    return "\n".join(lines) + "\n"
