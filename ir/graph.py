"""The IR: one node type with uniform metadata, held in a networkx MultiDiGraph.

Invariants (checked by :func:`hydropy.ir.verify.verify`): every node's ``inputs`` are
exactly its in-edges, keyed by input position; node ids and operator names are unique;
every cycle passes through a ``cycle`` node (the only edge that crosses a tick).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import networkx as nx

from hydropy.errors import ProgramError

from .ops import SPECS, Collection
from .source import SourceLoc, UserFn

MAIN = "main"


@dataclass(frozen=True, eq=False)
class Node:
    """One operator. ``params`` holds non-function arguments (read-only by convention);
    ``fns`` the user functions in the order of the kind's spec; ``coll`` the output
    collection (None for a sink); ``location`` the stage that runs it."""

    id: int
    kind: str
    name: str
    inputs: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    fns: tuple[UserFn, ...] = ()
    loc: SourceLoc | None = None
    coll: Collection | None = None
    location: str = MAIN

    def __post_init__(self):
        """Check the node against its kind's spec as it is built: a typo in a kind, a missing
        parameter or a wrong number of functions fails here, not later inside a target."""
        spec = SPECS.get(self.kind)
        if spec is None:
            raise ProgramError(f"unknown operator kind '{self.kind}' for '{self.name}'", self.loc)
        if not isinstance(self.name, str) or not self.name:
            raise ProgramError(f"a {self.kind} needs a non-empty name, got {self.name!r}", self.loc)
        if not isinstance(self.inputs, tuple) or not all(isinstance(i, int) for i in self.inputs):
            raise ProgramError(f"{self.where()}: inputs must be a tuple of node ids, got {self.inputs!r}",
                               self.loc)
        missing = [p for p in spec.params if p not in self.params]
        if missing:
            raise ProgramError(f"{self.where()} lacks parameter(s) {', '.join(missing)}", self.loc)
        wanted = len(self.params["steps"]) if spec.fns is None else len(spec.fns)
        if len(self.fns) != wanted:
            raise ProgramError(f"{self.where()} needs {wanted} function(s), has {len(self.fns)}",
                               self.loc)

    @property
    def spec(self):
        return SPECS[self.kind]

    def fn(self, role: str = "fn") -> UserFn:
        """The user function playing ``role`` (``fn`` or ``init``) in this operator; of a chain
        (``fused``), its first function."""
        if self.spec.fns is None and self.fns and role == "fn":
            return self.fns[0]
        for (r, _), f in zip(self.spec.fns, self.fns):
            if r == role:
                return f
        raise KeyError(f"{self.kind} has no function {role!r}")

    def copy(self, **changes) -> "Node":
        return replace(self, **changes)

    def where(self, short: bool = False) -> str:
        """``kind 'name' (file:line)``: how messages refer to this operator."""
        loc = "" if self.loc is None else f" ({self.loc.short if short else self.loc})"
        return f"{self.kind} '{self.name}'{loc}"

    def same_as(self, other: "Node") -> bool:
        return (self.id, self.kind, self.name, self.inputs, self.params, self.fns, self.loc,
                self.coll, self.location) == (other.id, other.kind, other.name, other.inputs,
                                              other.params, other.fns, other.loc, other.coll,
                                              other.location)


class Graph:
    """A dataflow program. Passes never mutate a Graph they are given: they ``copy()`` it."""

    def __init__(self, name: str, nodes=(), members: dict[str, int] | None = None):
        self.name = name
        #: stage -> number of members (partitions or replicas); absent means 1
        self.members: dict[str, int] = dict(members or {})
        self.nx = nx.MultiDiGraph()
        for n in nodes:
            self.add(n)

    # -- building ---------------------------------------------------------
    def add(self, node: Node) -> Node:
        """Add ``node`` and its in-edges. An input may be added later (a loop's back edge);
        :func:`verify` rejects one that never is."""
        self.nx.add_node(node.id, node=node)
        for port, src in enumerate(node.inputs):
            self.nx.add_edge(src, node.id, key=port)
        return node

    def replace(self, node: Node) -> Node:
        """Put ``node`` in place of the node with its id, rewiring its in-edges."""
        for src, _, port in list(self.nx.in_edges(node.id, keys=True)):
            self.nx.remove_edge(src, node.id, key=port)
        return self.add(node)

    def remove(self, node_id: int) -> None:
        self.nx.remove_node(node_id)

    def fresh_id(self) -> int:
        return max(self.nx.nodes, default=-1) + 1

    def fresh_name(self, base: str) -> str:
        """``base``, or ``base_2``, ``base_3``...: the first operator name not yet taken."""
        name, k = base, 1
        while self.by_name(name) is not None:
            k += 1
            name = f"{base}_{k}"
        return name

    def copy(self, name: str | None = None) -> "Graph":
        return Graph(name or self.name, self.nodes(), self.members)

    def members_of(self, stage: str) -> int:
        return self.members.get(stage, 1)

    # -- reading ----------------------------------------------------------
    def node(self, node_id: int) -> Node:
        return self.nx.nodes[node_id]["node"]

    def __contains__(self, node_id: int) -> bool:
        return "node" in self.nx.nodes.get(node_id, {})

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def nodes(self) -> list[Node]:
        """All nodes in id order (the order they were traced)."""
        return [self.nx.nodes[i]["node"] for i in sorted(self.nx.nodes) if i in self]

    def by_name(self, name: str) -> Node | None:
        for n in self.nodes():
            if n.name == name:
                return n
        return None

    def consumers(self, node_id: int) -> list[Node]:
        return [self.node(i) for i in sorted(set(self.nx.successors(node_id)))]

    def sinks(self) -> list[Node]:
        return [n for n in self.nodes() if n.kind == "sink"]

    def locations(self) -> list[str]:
        """Stage names, ``main`` first, then in order of first appearance."""
        seen: dict[str, None] = {}
        for n in sorted(self.nodes(), key=lambda n: (n.location != MAIN, n.id)):
            seen.setdefault(n.location, None)
        return list(seen)

    def tick_dag(self) -> nx.MultiDiGraph:
        """The graph without its feedback edges (those into ``cycle`` nodes): what one tick runs."""
        dag = self.nx.copy()
        for n in self.nodes():
            if n.kind == "cycle":
                dag.remove_edges_from(list(dag.in_edges(n.id, keys=True)))
        return dag

    def topo_order(self) -> list[Node]:
        """Nodes in the order one tick evaluates them (ties broken by id, so deterministic)."""
        return [self.node(i) for i in nx.lexicographical_topological_sort(self.tick_dag())]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def same_as(self, other: "Graph") -> bool:
        a, b = self.nodes(), other.nodes()
        return (self.name == other.name and self.members == other.members and len(a) == len(b)
                and all(x.same_as(y) for x, y in zip(a, b)))
