"""Replicating a stage into N members (replicas) that hold the same state.

Mechanism: a channel (or external source) whose records reach the stage's lattice state
is a *write*: broadcast to every replica. Any other input is a *read*: each batch goes to
one replica (any replica can serve it). Sinks of lattice folds merge the replicas' values
(the lattice merge), which agree once every write has arrived everywhere.

Precondition, checked first: the stage is stateless, or all of its state is lattice-typed
(``lattice_fold``, ``lattice_fold_keyed``; a ``join_table``'s table holds one fixed value per
key, so replicas merge it by union) whose laws hold (:mod:`.laws`: a user lattice is checked),
read only through ``lookup``, maps of it, sinks, or a snapshot read only through threshold
filters whose records end in a ``unique`` of one single-member stage elsewhere; nothing
derived from a write leaves the stage as a stream (every replica would send it); no input
is both a write and a read; plain folds downstream are order-insensitive (reads answered by
different replicas interleave).
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import ENTRIES, LATTICE_FOLDS, PARTIALS, PER_RECORD, PLAIN_FOLDS

from .laws import check_state_laws
from .thresholds import PASS_ON, why_not_threshold
from .delays import check_no_divergent_delays
from .stages import (LATTICE_STATE, check_order_downstream,
                     insert_channels, reach_in_stage)

#: what a replica may run without state to merge
STATELESS = PER_RECORD | PARTIALS | ENTRIES


def replicate(graph: Graph, stage: str, n: int) -> Graph:
    """A copy of ``graph`` with ``stage`` run by ``n`` replicas (see module docstring)."""
    if not isinstance(n, int) or n < 2:
        raise RewriteRefused(f"replicate needs n >= 2 replicas, got {n!r}")
    g = graph.copy()
    members = [x for x in g.nodes() if x.location == stage and x.kind != "sink"]
    if not members:
        raise RewriteRefused(f"no stage named '{stage}'; stages are: {', '.join(graph.locations())}")
    if g.members_of(stage) > 1:
        raise RewriteRefused(f"stage '{stage}' already has {g.members_of(stage)} members")
    for node in members:
        if node.kind in LATTICE_STATE or node.kind in STATELESS:
            continue
        if node.kind == "lookup" and g.node(node.inputs[1]).kind in LATTICE_STATE:
            continue
        threshold = _why_not_threshold_only(g, node, stage) if node.kind == "snapshot" else None
        if threshold == "":
            continue
        what = ("keeps state that is not a lattice, so replicas could not merge it"
                if node.spec.stateful else
                "reads state at a point in time on every replica, so each would answer"
                + (f" (not a threshold read: {threshold})" if threshold else ""))
        hint = (" (turn the fold into a lattice fold first: the `lattice` step)"
                if node.kind in PLAIN_FOLDS else "")
        raise RewriteRefused(f"{node.kind} '{node.name}' {what}{hint}", node.loc)

    check_state_laws(g, [x.id for x in members], "its replicas merge copies of it that saw "
                     "the writes in different orders and groupings")
    entries = [x for x in members if x.kind in ENTRIES]
    reach = {e.id: reach_in_stage(g, stage, e.id) for e in entries}
    writes = {e.id for e in entries if any(g.node(x).kind in LATTICE_STATE for x in reach[e.id])}
    check_writes_only_write(g, stage, [e for e in entries if e.id in writes], reach)
    check_one_write_order(g, stage, members, {e: reach[e] for e in writes})
    g.members[stage] = n
    for e in entries:
        params = dict(e.params, routing="broadcast" if e.id in writes else "any", key=None)
        g.replace(e.copy(params=params))
    g = insert_channels(g)
    check_no_divergent_delays(g)
    check_order_downstream(g, stage)
    return g


def check_writes_only_write(g: Graph, stage: str, writers: list[Node], reach: dict[int, set[int]]) -> None:
    """An entry that writes the replicated lattices (broadcast to every replica) does nothing
    else: no lookup of its records (each replica would answer it) and no records of it leaving
    the stage (each replica would send them)."""
    for e in writers:
        for x in reach[e.id]:
            node = g.node(x)
            if node.kind == "lookup":
                raise RewriteRefused(f"'{e.name}' both writes the state and asks lookup "
                                     f"'{node.name}': a read must go to one replica, a write to all",
                                     node.loc)
            leaves = [c for c in g.consumers(x) if c.location != stage or
                      (c.kind == "sink" and node.coll.kind == "stream")]
            if leaves and node.kind not in LATTICE_STATE:
                raise RewriteRefused(f"{node.kind} '{node.name}' passes records of the write "
                                     f"'{e.name}' out of the stage; every replica would send them",
                                     node.loc)


def check_one_write_order(g: Graph, stage: str, members: list[Node], writes: dict[int, set[int]]) -> None:
    """A lattice that lookups read must reach every replica in one order: written through one
    entry, sent by one member (an external source, or a channel from a single-member stage).
    Each replica then holds a prefix of the same sequence of writes, so the answers of lookups
    served by different replicas are those of one single-node order of writes and reads. Two
    writers (or a multi-member sender) are taken by each replica at its own pace: one replica
    can hold a1 but not b1 while another holds b1 but not a1, states no single order gives."""
    for lookup in (x for x in members if x.kind == "lookup"):
        table = lookup.inputs[1]
        writers = [g.node(e) for e, seen in writes.items() if table in seen]
        senders = [w for w in writers if w.kind == "network" and g.members_of(g.node(w.inputs[0]).location) > 1]
        if len(writers) > 1 or senders:
            what = (" and ".join(f"'{w.name}'" for w in writers) + " write it" if len(writers) > 1
                    else f"'{senders[0].name}' is sent by the {g.members_of(g.node(senders[0].inputs[0]).location)} "
                         f"members of stage '{g.node(senders[0].inputs[0]).location}'")
            raise RewriteRefused(
                f"lookup '{lookup.name}' reads '{g.node(table).name}', and {what}: replicas would take "
                f"those writes in different orders, so lookups served by different replicas could see "
                f"states no single order of the writes gives (merge the writes into one stage first)",
                lookup.loc)


def _why_not_threshold_only(g: Graph, snapshot: Node, stage: str) -> str:
    """Why ``snapshot`` is not read only through thresholds deduplicated outside the replicas
    ("" when it is). Safe then: a replica's lattice is the merge of the writes that reached it,
    so it lies below the single-node value in lattice order, and a threshold, once true, stays
    true as the value grows: a replica passes a record only when the original passes it too,
    maybe later, never a record the original does not. Every replica may pass it, once per tick,
    so a ``unique`` in one single-member stage keeps each record once, as the original's unique
    does (see :mod:`.thresholds`: the records reaching it carry no lattice value)."""
    fold = g.node(snapshot.inputs[0])
    if fold.kind not in LATTICE_FOLDS:
        return f"it reads {fold.kind} '{fold.name}', not a lattice"
    for reader in g.consumers(snapshot.id):
        why = why_not_threshold(g, reader, fold)
        if why:
            return why
        for unique in _uniques_after(g, reader):
            if unique.location == stage or g.members_of(unique.location) > 1:
                return (f"unique '{unique.name}' would keep one copy per member of its stage "
                        f"'{unique.location}'; it must run in one single-member stage other "
                        f"than '{stage}'")
    return ""


def _uniques_after(g: Graph, node: Node) -> list[Node]:
    """The uniques that end the stateless paths after ``node``."""
    found = []
    for c in g.consumers(node.id):
        found += [c] if c.kind == "unique" else _uniques_after(g, c) if c.kind in PASS_ON else []
    return found
