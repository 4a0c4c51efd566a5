"""Monotonicity and points of order (Bloom, CIDR 2011).

An operator is monotone (M) or not (N) as its spec says; an asynchronous input (A) is an
external source (records arrive in an order and batching the program does not control) or
an edge between two stages (a channel). A non-monotone operator reached by an asynchronous
input is a *point of order*: its output can depend on arrival order. Findings are frozen
dataclasses whose text names the operator and its ``basename:line``; nothing here changes
the graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from hydropy.ir import KEYED, SINGLETON, Graph, Node, SourceLoc
from hydropy.ir.ops import FOLDS, FUNCTION_FOLDS, LATTICE_FOLDS, PARTIALS

from .fold_algebra import element_type, why_order_sensitive
from .thresholds import why_not_threshold


def op_label(node: Node) -> str:
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


def channel_inputs(graph: Graph, node: Node) -> list[Node]:
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
        elif node.kind == "source" or channel_inputs(graph, node):
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
        for src in channel_inputs(graph, n):
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


def _loop_feeding(graph: Graph, node: Node) -> Node | None:
    """For a point-in-time read: a ``cycle`` upstream of the state it reads, whose records
    change that state in later ticks than the ones they started in (None: there is none)."""
    if node.spec.read_port is None:
        return None
    state = node.inputs[node.spec.read_port]
    upstream = nx.ancestors(graph.nx, state) | {state}
    return next((graph.node(i) for i in sorted(upstream) if graph.node(i).kind == "cycle"), None)


def _fold_behind(graph: Graph, node: Node) -> Node:
    """The fold whose value ``node`` carries, looking through maps of its value and forwards."""
    while node.spec.family == "per_record" and node.coll.kind in (SINGLETON, KEYED):
        node = graph.node(node.inputs[0])
    return node


def _is_lattice(node: Node) -> bool:
    return node.kind in LATTICE_FOLDS


def points_of_order(graph: Graph) -> list[PointOfOrder]:
    """Non-monotone operators reached by an asynchronous input, in graph order.

    For a point-in-time read (lookup, snapshot, anti_join) only the input whose state it
    reads counts: a lookup of a table built from bounded inputs always sees the whole table,
    whenever its queries arrive. A fold whose function is order-insensitive (proven by
    ``fold_algebra``) is not reported itself: its value is observed either by a sink (its final
    value, which depends neither on batching nor on order) or through a point-in-time read
    (snapshot, lookup), and that read is what is reported, naming the fold. A fold whose value
    may depend on the order of its records (``append``, a float sum) is a point of order when an
    asynchronous input reaches it: the arrival order is not the program's to choose. A snapshot of a lattice fold counts
    too: a threshold read after it would be safe, but a filter cannot be proven one."""
    out = []
    for node in graph.nodes():
        if node.kind in FUNCTION_FOLDS:
            found = _order_sensitive_fold(graph, node)
            if found is not None:
                out.append(found)
            continue
        if node.spec.monotone or node.kind in FOLDS or node.kind in PARTIALS:
            continue
        ports = [node.spec.read_port] if node.spec.read_port is not None else range(len(node.inputs))
        causes = tuple(dict.fromkeys(c for p in ports for c in _causes_via(graph, node, p)))
        loop = _loop_feeding(graph, node)
        if loop is not None:  # the state changes from tick to tick by itself: when the other
            others = [p for p in range(len(node.inputs)) if p not in ports]  # inputs arrive matters
            causes = tuple(dict.fromkeys(causes + tuple(
                c for p in others for c in _causes_via(graph, node, p))))
        if not causes:
            continue
        if node.kind == "lookup":
            fold = _fold_behind(graph, graph.node(node.inputs[1]))
            reason = (f"{op_label(node)} reads the current state of {op_label(fold)} for each record of "
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
            reason = (f"{op_label(node)} drops each record whose key has been seen on "
                      f"'{graph.node(node.inputs[1]).name}' so far: a key among {_phrase(causes)} "
                      f"that arrives later would have removed it")
            hint = "negate only a bounded input (complete before the read), or accept the point of order"
        else:
            reason = f"{op_label(node)} is not monotone and reads {_phrase(causes)}"
            hint = "accept the point of order, or express the computation monotonically"
        if loop is not None:
            reason += (f"; the state it reads grows tick by tick through loop '{loop.name}', so "
                       f"the tick in which a record arrives changes the answer")
            causes += (f"loop '{loop.name}'",)
        out.append(PointOfOrder(node.id, node.kind, node.name, node.loc, reason, hint, causes))
    return out


def _order_sensitive_fold(graph: Graph, fold: Node) -> PointOfOrder | None:
    """The point of order at a plain fold whose value may depend on the order of its records,
    when asynchronous inputs reach it; None when its function is order-insensitive or its
    records come in an order the program fixes."""
    causes = tuple(dict.fromkeys(c for p in range(len(fold.inputs)) for c in _causes_via(graph, fold, p)))
    if not causes:
        return None
    why = why_order_sensitive(fold, element_type(graph, fold))
    if not why:
        return None
    reason = (f"{op_label(fold)} may give a different value for another order of its records "
              f"({why}), and the order of {_phrase(causes)} is not the program's to choose")
    hint = ("fold with an order-insensitive function (a sum of integers, max/min of integers, a "
            "count) or into a lattice, or accept the point of order")
    return PointOfOrder(fold.id, fold.kind, fold.name, fold.loc, reason, hint, causes)


def _snapshot_reason(graph: Graph, node: Node, causes: tuple[str, ...]) -> tuple[str, str]:
    fold = _fold_behind(graph, graph.node(node.inputs[0]))
    reason = (f"{op_label(node)} emits the current value of {op_label(fold)} once per tick: which values "
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
        return {snapshot.id: f"it reads {op_label(fold)}, which is not a lattice"}
    why = {c.id: why_not_threshold(graph, c, fold) for c in graph.consumers(snapshot.id)}
    return {i: w for i, w in why.items() if w} if why else {snapshot.id: "nothing reads it"}
