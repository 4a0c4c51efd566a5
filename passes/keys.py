"""Lineage of records through the graph: every node's output records as a tree over
*origins* (positions of source records, or the operator where lineage stops), and from it
the key each keyed operator's state is kept by (``key_lineage``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydropy.ir import KEYED, SINGLETON, Graph, Node, SourceLoc
from hydropy.ir.ops import FOLDS, SOURCES, TRANSFORMS

from . import lineage as L
from .lineage import Const, Path, Record


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


class RecordLineage:
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
        found = walk(value, path)
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
        if kind in TRANSFORMS:
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
            parts = [walk(inp, path) for path in value.deps]
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
            return Record(tuple(self.union(node, [walk(v, (i,)) for v in values], here + (i,))
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


def walk(value: GValue, path: Path) -> GValue | None:
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
    return dict(RecordLineage(graph).values)


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


def _key_info(graph: Graph, rec: RecordLineage, node_id: int, value: GValue) -> KeyInfo:
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
    rec = RecordLineage(graph)
    out = {}
    for node in graph.nodes():
        if node.coll is None or node.coll.kind == SINGLETON:
            continue
        key = rec.at(node, rec.values[node.id], (0,), (0,), "not a (key, value) record")
        out[node.id] = _key_info(graph, rec, node.id, key)
    return out


def state_key_of(graph: Graph, rec: RecordLineage, node: Node) -> KeyInfo | None:
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
