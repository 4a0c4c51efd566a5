"""Stages and channels: placing operators in stages and putting a channel on every edge
that crosses two stages.

Invariants after :func:`insert_channels`: every edge between nodes of different stages
ends in a ``network`` node placed in the receiving stage; no ``network`` node connects
two nodes of one stage; a sink sits in the stage of the collection it shows.
"""
from __future__ import annotations

import networkx as nx

from hydropy.errors import RewriteRefused
from hydropy.ir import STREAM, Graph, Node, verify
from hydropy.ir.ops import output_collection

#: non-monotone operators whose answer depends on when records arrive relative to each other
TIMING_SENSITIVE = ("anti_join", "lookup", "snapshot")


def place_sinks(graph: Graph) -> None:
    """Move each sink to the stage of its input (in place; callers own ``graph``)."""
    for node in graph.sinks():
        src = graph.node(node.inputs[0])
        if node.location != src.location:
            graph.replace(node.copy(location=src.location))


def insert_channels(graph: Graph) -> Graph:
    """A copy of ``graph`` with a ``network`` node on every edge that crosses stages.

    Existing channels keep their routing; a channel whose two ends now share a stage is
    removed. One channel carries a collection to all its consumers in one stage.
    """
    g = graph.copy()
    place_sinks(g)
    for net in [n for n in g.nodes() if n.kind == "network"]:
        stages = {c.location for c in g.consumers(net.id)}
        if stages == {g.node(net.inputs[0]).location} or (len(stages) > 1 and
                                                            net.params["routing"] == "direct"):
            _bypass(g, net)  # no longer crosses stages, or will be re-placed per stage below
        elif len(stages) > 1:
            raise RewriteRefused(f"the {net.params['routing']} channel '{net.name}' would feed "
                                 f"stages {', '.join(sorted(stages))}; keep its readers together",
                                 net.loc)
        elif stages and stages != {net.location}:
            g.replace(net.copy(location=stages.pop()))  # a channel lives with its readers
    check_stage_boundaries(g)
    channels: dict[tuple[int, str], int] = {
        (n.inputs[0], n.location): n.id for n in g.nodes() if n.kind == "network"}
    for node in g.nodes():
        if node.kind == "network":
            continue
        inputs = list(node.inputs)
        for port, src_id in enumerate(inputs):
            src = g.node(src_id)
            if src.location == node.location:
                continue
            key = (src_id, node.location)
            if key not in channels:
                net = Node(g.fresh_id(), "network", _channel_name(g, src, node.location), (src_id,),
                           {"routing": "direct", "key": None}, (), src.loc,
                           output_collection("network", (src.coll,)), node.location)
                g.add(net)
                channels[key] = net.id
            inputs[port] = channels[key]
        if tuple(inputs) != node.inputs:
            g.replace(node.copy(inputs=tuple(inputs)))
    return verify(g)


def _channel_name(g: Graph, src: Node, stage: str) -> str:
    base = f"{src.name}_to_{stage}"
    name, k = base, 1
    while g.by_name(name) is not None:
        k += 1
        name = f"{base}_{k}"
    return name


def _bypass(g: Graph, net: Node) -> None:
    for consumer in g.consumers(net.id):
        g.replace(consumer.copy(inputs=tuple(net.inputs[0] if i == net.id else i
                                             for i in consumer.inputs)))
    g.remove(net.id)


def check_stage_boundaries(g: Graph) -> None:
    """Stage boundaries may cut only streams, never a loop, and stages form a DAG.

    A singleton or keyed map is state, read where it lives; a loop's records must come back
    within one stage's ticks.
    """
    for node in g.nodes():
        for src_id in node.inputs:
            src = g.node(src_id)
            if src.location != node.location and src.coll.kind != STREAM:
                raise RewriteRefused(
                    f"{node.where()} in stage '{node.location}' reads the {src.coll.kind} of "
                    f"{src.kind} '{src.name}' in stage '{src.location}': a fold's state can only be "
                    f"read in its own stage; move them together, or send .snapshot() across",
                    node.loc)
    for component in nx.strongly_connected_components(g.nx):
        stages = {g.node(i).location for i in component}
        if len(stages) > 1:
            first = g.node(min(component))
            raise RewriteRefused(f"the loop through {first.where()} would span stages "
                                 f"{', '.join(sorted(stages))}; keep a cycle's operators in one stage",
                                 first.loc)
    flow = nx.DiGraph((g.node(s).location, n.location) for n in g.nodes() for s in n.inputs
                      if g.node(s).location != n.location)
    try:
        loop = [u for u, _ in nx.find_cycle(flow)]
    except nx.NetworkXNoCycle:
        return
    raise RewriteRefused(f"records would flow from stage to stage in a loop "
                         f"({' -> '.join(loop + loop[:1])}); stages must form a pipeline (a DAG): "
                         f"move the operators between them into one of the stages")


def check_no_divergent_delays(g: Graph) -> None:
    """Refuse when records of one origin can reach a timing-sensitive operator along two
    paths that cross different channels.

    In the single-node program both paths deliver in the same tick; across channels one side
    can arrive ticks later, so anti_join / lookup / snapshot could answer differently from
    anything the original could answer. Paths through the same channels stay aligned. For the
    same reason, two timing-sensitive operators must see an input through the same channels:
    otherwise one can decide on its records ticks before the other, and the pair of answers
    (two anti_joins of the same streams disagreeing) is one the original never gives.
    """
    dag = g.tick_dag()
    seen_by: dict[int, tuple[frozenset[int], Node]] = {}  # input -> (its channels, first reader)
    for target in g.nodes():
        if target.kind not in TIMING_SENSITIVE:
            continue
        signatures: dict[int, set[frozenset[int]]] = {target.id: {frozenset()}}
        ancestors = nx.ancestors(dag, target.id)
        for nid in reversed(list(nx.topological_sort(dag.subgraph(ancestors | {target.id})))):
            if nid == target.id:
                continue
            sigs: set[frozenset[int]] = set()
            for child in set(dag.successors(nid)) & (ancestors | {target.id}):
                hop = {child} if g.node(child).kind == "network" else set()
                sigs |= {s | hop for s in signatures[child]}
            signatures[nid] = sigs
            if len(sigs) > 1:
                origin = g.node(nid)
                raise RewriteRefused(
                    f"{target.kind} '{target.name}' would see records of {origin.kind} "
                    f"'{origin.name}' along paths with different channels, so one side could "
                    f"arrive ticks later than the other and {target.kind} could answer what the "
                    f"single-node program never answers; keep those paths in the same stages",
                    target.loc)
        for nid in sorted(ancestors):
            origin = g.node(nid)
            if origin.kind not in ("source", "source_iter"):
                continue
            channels = next(iter(signatures[nid]))
            first = seen_by.setdefault(nid, (channels, target))
            if first[0] != channels:
                other = first[1]
                raise RewriteRefused(
                    f"{other.kind} '{other.name}' and {target.kind} '{target.name}' would see the "
                    f"records of {origin.kind} '{origin.name}' through different channels, so one "
                    f"could act on them ticks before the other and together they could answer what "
                    f"the single-node program never answers; keep them in the same stage", target.loc)
