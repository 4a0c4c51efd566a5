"""Stages and channels: placing operators in stages and putting a channel on every edge
that crosses two stages.

Invariants after :func:`insert_channels`: every edge between nodes of different stages
ends in a ``network`` node placed in the receiving stage; no ``network`` node connects
two nodes of one stage; a sink sits in the stage of the collection it shows.
"""
from __future__ import annotations

from dataclasses import replace

import networkx as nx

from hydropy.errors import RewriteRefused
from hydropy.ir import STREAM, Graph, Node, verify
from hydropy.ir.ops import output_collection

#: non-monotone operators whose answer depends on when records arrive relative to each other
TIMING_SENSITIVE = ("anti_join", "lookup", "snapshot")
LATTICE_STATE = ("lattice_fold", "lattice_fold_keyed")


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


def reach_in_stage(g: Graph, stage: str, start: int) -> set[int]:
    """What records entering at ``start`` flow through in ``stage``, up to (and including) the
    lattice folds they merge into: a fold's readers answer reads, not writes."""
    seen, todo = {start}, [start]
    while todo:
        node = g.node(todo.pop())
        if node.kind in LATTICE_STATE and node.id != start:
            continue
        for c in g.consumers(node.id):
            if c.location == stage and c.kind != "sink" and c.id not in seen:
                seen.add(c.id)
                todo.append(c.id)
    return seen


def lose_order(g: Graph, entries: list[int]) -> None:
    """Mark the records entering a stage of several members at ``entries`` as unordered, and
    every stream downstream of them (in place; callers own ``g``).

    Each member sees only its share of a stream, and what the members send on interleaves,
    so no total order survives; a sink downstream shows a multiset."""
    lost = set(entries)
    for node in g.topo_order():
        if node.id not in lost and not any(i in lost for i in node.inputs):
            continue
        lost.add(node.id)
        if node.coll is not None and node.coll.ordered:
            g.replace(node.copy(coll=replace(node.coll, ordered=False)))


def check_order_downstream(g: Graph, stage: str) -> None:
    """Refuse when a plain fold outside ``stage`` (which now has several members) may depend on
    the order of records that the members send on interleaved.

    Conservative: a fold keyed by the routing key would still see each key's records in
    order, but keys are not traced across channels, so its function must be proven
    order-insensitive (see :mod:`.fold_algebra`)."""
    from .fold_algebra import PLAIN_FOLDS, why_order_sensitive
    dag = g.tick_dag()
    inside = [n.id for n in g.nodes() if n.location == stage]
    downstream = set().union(*(nx.descendants(dag, i) for i in inside))
    for node in g.nodes():
        if node.id in downstream and node.location != stage and node.kind in PLAIN_FOLDS:
            why = why_order_sensitive(node)
            if why:
                raise RewriteRefused(
                    f"{node.where()} would receive the records of the members of stage "
                    f"'{stage}' interleaved, in an order the single-node program never shows, and "
                    f"its value may depend on that order: {why}", node.loc)


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
    anything the original could answer. Paths through the same channels stay aligned.
    """
    dag = g.tick_dag()
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
