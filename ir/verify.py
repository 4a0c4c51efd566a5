"""Well-formedness of a Graph, recomputed from the nodes (not trusted from the edges)."""
from __future__ import annotations

import networkx as nx

from hydropy.errors import ProgramError

from .graph import Graph, Node
from .ops import SPECS, STREAM


def verify(graph: Graph) -> Graph:
    """Raise ProgramError at the first violation; return the graph unchanged otherwise."""
    names: dict[str, Node] = {}
    sinks: dict[str, Node] = {}
    for node in graph.nodes():
        _verify_node(graph, node)
        if node.name in names:
            raise ProgramError(f"operator name '{node.name}' is used twice "
                               f"(also at {names[node.name].loc})", node.loc)
        names[node.name] = node
        if node.kind == "sink":
            sink = node.params["name"]
            if sink in sinks:
                raise ProgramError(f"sink name '{sink}' is used twice (also at {sinks[sink].loc})",
                                   node.loc)
            sinks[sink] = node
    _verify_tick_cycles(graph)
    return graph


def _verify_node(graph: Graph, node: Node) -> None:
    """The node's place in the graph (its own fields were checked when it was built)."""
    spec = SPECS[node.kind]
    for src in node.inputs:
        if src not in graph:
            raise ProgramError(f"{node.where()} reads node {src}, which is not in the graph", node.loc)
    edges = sorted((port, src) for src, _, port in graph.nx.in_edges(node.id, keys=True))
    if edges != list(enumerate(node.inputs)):
        raise ProgramError(f"{node.where()}: graph edges {edges} do not match its inputs "
                           f"{list(node.inputs)}", node.loc)
    ins = [graph.node(i).coll for i in node.inputs]
    if spec.inputs is None:
        expected = [frozenset({STREAM})] * max(len(ins), 1)
    else:
        expected = list(spec.inputs)
    if len(ins) != len(expected):
        raise ProgramError(f"{node.where()} takes {len(expected)} input(s), got {len(ins)}", node.loc)
    for port, (coll, ok) in enumerate(zip(ins, expected)):
        if coll is None or coll.kind not in ok:
            got = "a sink" if coll is None else f"a {coll.kind}"
            raise ProgramError(f"{node.where()}: input {port} must be a "
                               f"{' or '.join(sorted(ok))}, got {got}", node.loc)


def _verify_tick_cycles(graph: Graph) -> None:
    try:
        cycle = nx.find_cycle(graph.tick_dag())
    except nx.NetworkXNoCycle:
        return
    members = [graph.node(u) for u, *_ in cycle]
    path = " -> ".join(n.name for n in members + members[:1])
    raise ProgramError(f"cycle that never crosses a tick: {path}; close loops with flow.cycle()",
                       members[0].loc)
