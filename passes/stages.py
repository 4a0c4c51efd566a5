"""Stages and channels: placing operators in stages and putting a channel on every edge
that crosses two stages.

Invariants after :func:`insert_channels`: every edge between nodes of different stages
ends in a ``network`` node placed in the receiving stage; no ``network`` node connects
two nodes of one stage; a sink, a map of a fold's value and a join_table sit in the stage of
the state they read; every channel's collection is ``ordered`` exactly when the channel
keeps the order its records were sent in (:func:`keeps_order`), and at-least-once where
declared; and every lattice fold gets the delivery its lattice needs
(:func:`check_delivery_requirements`).
"""
from __future__ import annotations

from dataclasses import replace

import networkx as nx

from hydropy.errors import PassFailed, ProgramError, RewriteRefused
from hydropy.ir import AT_LEAST_ONCE, STREAM, Graph, Node, verify
from hydropy.ir import ops
from hydropy.ir.ops import output_collection

from .laws import sample_records, why_not_lawful

#: non-monotone operators whose answer depends on when records arrive relative to each other
TIMING_SENSITIVE = ops.TIMING_SENSITIVE
#: state that replicas (or members holding it whole) merge: lattices, and a join_table's table
#: (one fixed value per key, so copies merge by union)
LATTICE_STATE = ops.LATTICE_STATE


def reads_state(graph: Graph, node: Node) -> bool:
    """A sink, or an operator reading a fold's value as a whole (a map of it, a join_table's
    state): its first input is a singleton or keyed collection, not read at a point in time."""
    first = graph.node(node.inputs[0]) if node.inputs else None
    return node.kind == "sink" or (first is not None and first.coll is not None
                                   and first.coll.kind != STREAM and node.spec.read_port is None)


def place_sinks(graph: Graph) -> None:
    """Move each sink and each reader of a fold's value (see :func:`reads_state`) to the stage
    of its first input (in place; callers own ``graph``)."""
    for node in graph.topo_order():
        if not reads_state(graph, node):
            continue
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
                name = g.fresh_name(f"{src.name}_to_{node.location}")
                net = Node(g.fresh_id(), "network", name, (src_id,),
                           {"routing": "direct", "key": None}, (), src.loc,
                           output_collection("network", (src.coll,)), node.location)
                g.add(net)
                channels[key] = net.id
            inputs[port] = channels[key]
        if tuple(inputs) != node.inputs:
            g.replace(node.copy(inputs=tuple(inputs)))
    try:
        verify(g)
    except ProgramError as exc:
        raise PassFailed(f"placing channels produced an invalid graph ({exc}); this is a bug in "
                         f"hydropy, please report it") from exc
    g = _retype(g)
    check_delivery_requirements(g)
    return g


def keeps_order(g: Graph, node: Node) -> bool:
    """Whether an entry (a channel, or a source of a multi-member stage) delivers each record
    sequence in the order it was sent.

    A channel is FIFO per sender and receiver. It reorders when declared so (the ``reorder``
    step: a network with several paths or retries), when several members send into it (their
    records interleave), or when round_robin / any routing deals one sequence to several
    members. hash and broadcast routing keep each receiver's share in order.
    """
    if node.params.get("reorder"):
        return False
    receivers = g.members_of(node.location)
    senders = g.members_of(g.node(node.inputs[0]).location) if node.inputs else 1
    return senders == 1 and (receivers == 1 or node.params.get("routing") in ("hash", "broadcast"))


def _retype(g: Graph) -> Graph:
    """Recompute collections in tick order: an entry (channel or source) is ordered only where
    it keeps order (:func:`keeps_order`) and its stage has one member (members each see a
    share and what they send on interleaves, so no total order survives: a sink downstream
    shows a multiset); a channel is at-least-once where declared (``duplicates``);
    downstream collections follow from their inputs as the spec table says."""
    for node in g.topo_order():
        if node.spec.family in ("loop", "sink") or (not node.inputs and node.kind != "source"):
            continue
        if node.kind == "source":
            new = node.coll
        else:
            new = output_collection(node.kind, tuple(g.node(i).coll for i in node.inputs))
            if node.kind == "network" and node.params.get("duplicates"):
                new = replace(new, retry=AT_LEAST_ONCE)
            elif node.kind != "network" and node.coll.dtype:
                new = replace(new, dtype=node.coll.dtype)
        if node.kind in ops.ENTRIES:
            new = replace(new, ordered=(new.ordered and keeps_order(g, node)
                                        and g.members_of(node.location) == 1))
        if new != node.coll:
            g.replace(node.copy(coll=new))
    return g


def check_delivery_requirements(g: Graph) -> None:
    """Refuse a design whose channels do not deliver what their readers need.

    Order: a lattice fold whose lattice ``needs_order`` (BoundedPrefix accepts only the next
    position) must get each input's records through entries that keep order, along one path
    (a union would interleave them). Reordering alone is otherwise harmless: the single-node
    program could have received an input in that order too. Duplicates: a record an
    at-least-once channel delivers twice is one the single-node program never received, so
    everything behind such a channel must absorb repeats: a lattice fold (unless its lattice
    ``needs_exactly_once``, as RecordCount counts every record), unique, the key side of an
    anti_join, the table side of a join_table; stateless operators pass repeats on."""
    _check_order(g)
    for net in g.nodes():
        if net.kind == "network" and net.params.get("duplicates"):
            _check_repeats_absorbed(g, net)


#: what passes a repeated record on unchanged (each record alone, channels, loops)
PASSES_REPEATS_ON = ops.PER_RECORD | ops.kinds(family="channel") | ops.kinds(family="loop")


def _check_repeats_absorbed(g: Graph, net: Node) -> None:
    seen, todo = {net.id}, [net.id]
    while todo:
        src = todo.pop()
        for reader in g.consumers(src):
            ports = {p for p, i in enumerate(reader.inputs) if i == src}
            lattice = reader.params.get("lattice")
            if reader.kind in PASSES_REPEATS_ON:
                if reader.id not in seen:
                    seen.add(reader.id)
                    todo.append(reader.id)
                continue
            lawless = why_not_lawful(lattice, sample_records(g, reader)) if lattice is not None else ""
            if ports <= set(reader.spec.absorbs_repeats) and not getattr(
                    lattice, "needs_exactly_once", False) and not lawless:
                continue
            what = (f"keeps the user lattice {lattice.__name__}, which absorbs a repeated record only "
                    f"if its merge is idempotent, and {lawless}" if lawless else
                    f"keeps a {lattice.__name__.split('[')[0]}, which counts every record it receives"
                    if lattice is not None else
                    "shows every record it receives" if reader.kind == "sink" else
                    f"is not idempotent (a {reader.kind} acts on every copy of a record)")
            raise RewriteRefused(f"{reader.kind} '{reader.name}' {what}, but {_entry_phrase(g, net)} may "
                                 f"deliver a record twice, which the single-node program never "
                                 f"receives; only lattice folds, unique and key/table sides absorb "
                                 f"repeats", reader.loc)


def _check_order(g: Graph) -> None:
    dag = g.tick_dag()
    for fold in g.nodes():
        lattice = fold.params.get("lattice")
        if fold.kind not in ops.LATTICE_FOLDS or not getattr(lattice, "needs_order", False):
            continue
        what = f"{fold.kind} '{fold.name}' keeps a {lattice.__name__.split('[')[0]}"
        for origin in [n for n in g.nodes() if n.kind in ops.SOURCES]:
            if not nx.has_path(dag, origin.id, fold.id):
                continue
            paths = list(nx.all_simple_paths(dag, origin.id, fold.id))
            if len(paths) > 1:
                raise RewriteRefused(f"{what}, which needs its records in the order they were sent, "
                                     f"but the records of '{origin.name}' reach it along {len(paths)} "
                                     f"paths whose interleaving is not that order", fold.loc)
            for entry in [g.node(i) for i in paths[0]]:
                if entry.kind in ops.ENTRIES and not keeps_order(g, entry):
                    raise RewriteRefused(
                        f"{what}, which accepts only the next position of each sequence and so "
                        f"needs in-order delivery, but {_entry_phrase(g, entry)} can reorder the "
                        f"records of '{origin.name}'; use a sealed_set (order-insensitive) instead",
                        fold.loc)


def _entry_phrase(g: Graph, entry: Node) -> str:
    if entry.kind == "source":
        return f"input '{entry.name}' dealt over {g.members_of(entry.location)} members"
    declared = [w for w in ("reorder", "duplicates") if entry.params.get(w)]
    why = (f"declared: {', '.join(declared)}" if declared else
           f"{g.members_of(g.node(entry.inputs[0]).location)} senders, "
           f"{entry.params['routing']} routing to {g.members_of(entry.location)} members")
    return f"the channel '{entry.name}' ({why})"


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


def check_order_downstream(g: Graph, stage: str) -> None:
    """Refuse when a fold outside ``stage`` (which now has several members) may depend on the
    order of records that the members send on interleaved (a plain fold's function, or a user
    lattice breaking a law: :func:`~.fold_algebra.why_fold_order_sensitive`).

    Conservative: a fold keyed by the routing key would still see each key's records in
    order, but keys are not traced across channels, so its function must be proven
    order-insensitive (see :mod:`.fold_algebra`)."""
    from .fold_algebra import PLAIN_FOLDS, why_fold_order_sensitive
    dag = g.tick_dag()
    inside = [n.id for n in g.nodes() if n.location == stage]
    downstream = set().union(*(nx.descendants(dag, i) for i in inside))
    for node in g.nodes():
        if (node.id in downstream and node.location != stage
                and (node.kind in PLAIN_FOLDS or node.kind in ops.LATTICE_FOLDS)):
            why = why_fold_order_sensitive(g, node)
            if why:
                raise RewriteRefused(
                    f"{node.where()} would receive the records of the members of stage "
                    f"'{stage}' interleaved, in an order the single-node program never shows, and "
                    f"its value may depend on that order: {why}", node.loc)


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
    check_state_read_in_place(g)
    check_loops_in_one_stage(g)
    check_stages_form_dag(g)


def check_state_read_in_place(g: Graph) -> None:
    """A fold's value (a singleton or keyed collection) is read only in its own stage: a
    channel carries streams."""
    for node in g.nodes():
        for src_id in node.inputs:
            src = g.node(src_id)
            if src.location != node.location and src.coll.kind != STREAM:
                raise RewriteRefused(
                    f"{node.where()} in stage '{node.location}' reads the {src.coll.kind} of "
                    f"{src.kind} '{src.name}' in stage '{src.location}': a fold's state can only be "
                    f"read in its own stage; move them together, or send .snapshot() across",
                    node.loc)


def check_loops_in_one_stage(g: Graph) -> None:
    """A cycle's operators share one stage. Implied by :func:`check_stages_form_dag` (a loop
    through two stages is a loop between them); checked first for the clearer message."""
    for component in nx.strongly_connected_components(g.nx):
        stages = {g.node(i).location for i in component}
        if len(stages) > 1:
            first = g.node(min(component))
            raise RewriteRefused(f"the loop through {first.where()} would span stages "
                                 f"{', '.join(sorted(stages))}; keep a cycle's operators in one stage",
                                 first.loc)


def check_stages_form_dag(g: Graph) -> None:
    """Records flow between stages without a loop: Ray's driver ticks the stages of a round in
    a topological order (:class:`hydropy.targets.ray._Driver`)."""
    flow = nx.DiGraph((g.node(s).location, n.location) for n in g.nodes() for s in n.inputs
                      if g.node(s).location != n.location)
    try:
        loop = [u for u, _ in nx.find_cycle(flow)]
    except nx.NetworkXNoCycle:
        return
    raise RewriteRefused(f"records would flow from stage to stage in a loop "
                         f"({' -> '.join(loop + loop[:1])}); stages must form a pipeline (a DAG): "
                         f"move the operators between them into one of the stages")
