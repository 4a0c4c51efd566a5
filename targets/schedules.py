"""Which single-node schedules could explain a simulated run (the checker's criterion, part 1).

A simulated run (:mod:`hydropy.targets.sim`) passes when its sinks equal the sinks of the
single-node program (:func:`hydropy.targets.local.run`) under one of these schedules:

1. the inputs cut into ticks as every target cuts them
   (:func:`hydropy.targets.local.split_ticks`; what a confluent program must match);
2. for each non-monotone operator V (fold, anti_join, snapshot, lookup) in stage S: one
   single-node tick per tick of S, each event fed in the tick its records first reached S
   (the latest such tick over the inputs of S that lead to V, which differ only where paths
   are delayed differently), in the order they arrived there (other events: in the first
   tick of S at or after they settled elsewhere); and the same for each member of S, with
   the events as that member received them (members lag each other, replicas may be apart).
   This is DESIGN.md's "same per-channel arrival order": the order in which the design's
   members took an input is one in which the environment may deliver it;
3. for each stage: the same with all of the stage's inputs, so that the ticks in which a
   sender produced batches (which a receiver may merge) are kept apart; for a stage of
   several members also with each member's share of a tick as a tick of its own, and with
   each member's own arrival order.

and one order of the events that every timing observer on every member agrees with
(:func:`_merged_schedule`): what a fold or snapshot took in one tick is one single-node tick;
what a stratified reader (lookup, anti_join) took in one tick comes table side first, then
probe side (it reads its table in full before probing), not merged into one tick that another
observer saw apart.

Every schedule feeds each input record exactly once (a record broadcast to several members
once, where its copy arrived first, or at the member in question).
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple

import networkx as nx

from hydropy.ir import STREAM, Graph

from .local import DEFAULT_TICK_SIZE, Ticks, split_ticks

if TYPE_CHECKING:
    from .sim import SimRun


def schedules(design: Graph, sim: SimRun, inputs: Mapping[str, Iterable[Any]],
              tick_size: int = DEFAULT_TICK_SIZE):
    """The single-node schedules (lists of per-tick batches) that could explain ``sim``, as
    (label, ticks) pairs; see the module docstring. ``inputs`` given as ``Ticks`` are the
    target's ticks."""
    yield "the inputs in the target's ticks", split_ticks(
        inputs if isinstance(inputs, Ticks) else {k: list(v) for k, v in inputs.items()}, tick_size)
    yield "an order consistent with every member's arrivals", _merged_schedule(design, sim)
    seen = set()
    for node in design.nodes():
        if node.spec.monotone:
            continue
        stage = node.location
        feeding = feeding_entries(design, stage, node)
        if (stage, feeding) in seen:
            continue
        seen.add((stage, feeding))
        yield f"the arrival order at {node.where(short=True)}", arrival_schedule(sim, stage, feeding)
        for m in range(design.members_of(stage) if design.members_of(stage) > 1 else 0):
            yield (f"the arrival order at {node.where(short=True)} on member {m}",
                   arrival_schedule(sim, stage, feeding, member=m))
    for stage in design.locations():
        feeding = feeding_entries(design, stage)
        yield f"the order in which stage '{stage}' took its inputs", arrival_schedule(sim, stage, feeding)
        if design.members_of(stage) > 1:
            yield (f"the order in which stage '{stage}' took its inputs, member by member",
                   arrival_schedule(sim, stage, feeding, by_member=True))
            for m in range(design.members_of(stage)):
                yield (f"the order in which member {m} of stage '{stage}' took its inputs",
                       arrival_schedule(sim, stage, feeding, member=m))


def feeding_entries(design: Graph, stage: str, node=None) -> frozenset[str]:
    """The names of the entries of ``stage`` (its sources and incoming channels, not its
    cycles) whose records reach ``node`` within the stage; all of them without ``node``."""
    from .sim import entries, entry_name  # sim imports the criterion: not at import time
    local = design.nx.subgraph([n.id for n in design.nodes() if n.location == stage])
    return frozenset(entry_name(e) for e in entries(design, stage) if e.kind != "cycle" and (
        node is None or e.id == node.id or nx.has_path(local, e.id, node.id)))


class _Observer(NamedTuple):
    """An operator that observes arrival timing, as the merged schedule reads it: on each of
    the stage's members, the events it took in one tick through ``table`` entries (the state a
    stratified reader reads, complete before it probes) come before those it took through
    ``probe`` entries (the rest); events on both sides in one tick form one single-node tick,
    and so do one tick's probe events when ``together``."""

    stage: str
    table: frozenset[str]
    probe: frozenset[str]
    together: bool


def _observers(design: Graph):
    """Each operator that observes arrival timing: a non-monotone operator (its inputs'
    relative timing; a fold or snapshot keeps one tick's events together) and an ordered stream
    sink (its input's order only). A stratified reader (lookup, anti_join: ``read_port`` and a
    second input) reads its table side in full before probing, so one tick's table-side events
    precede its probe-side events; its probe events stay together only when its output comes
    back around a loop of its stage (then one tick's probes see each other's effects)."""
    for node in design.nodes():
        coll = design.node(node.inputs[0]).coll if node.kind == "sink" else None
        if node.spec.monotone and not (coll and coll.kind == STREAM and coll.ordered):
            continue
        stage, feeding = node.location, feeding_entries(design, node.location, node)
        if node.spec.read_port is None or len(node.inputs) < 2:
            yield _Observer(stage, frozenset(), feeding, not node.spec.monotone)
            continue
        within = _within_tick(design, stage)
        port = node.spec.read_port
        table = _reaching(design, stage, within, [node.inputs[port]]) & feeding
        probe = _reaching(design, stage, within, [i for p, i in enumerate(node.inputs) if p != port])
        looped = any(n.kind == "cycle" and n.location == stage and nx.has_path(design.nx, node.id, n.id)
                     for n in design.nodes())
        # an entry that reaches the reader only around a loop counts as a probe, as before
        yield _Observer(stage, table, feeding - (table - probe), looped)


def _reaching(design: Graph, stage: str, within: nx.DiGraph, targets: list[int]) -> frozenset[str]:
    """The names of the entries of ``stage`` (not its loops) whose records reach one of
    ``targets`` in the same tick."""
    from .sim import entries, entry_name  # sim imports the criterion: not at import time
    return frozenset(entry_name(e) for e in entries(design, stage) if e.kind != "cycle" and any(
        e.id == t or nx.has_path(within, e.id, t) for t in targets))


def _within_tick(design: Graph, stage: str) -> nx.DiGraph:
    """The stage's operators and the edges records cross in the same tick (not into a loop)."""
    local = nx.DiGraph(design.nx.subgraph([n.id for n in design.nodes() if n.location == stage]))
    local.remove_edges_from([(u, v) for u, v in list(local.edges) if design.node(v).kind == "cycle"])
    return local


def _merged_schedule(design: Graph, sim: SimRun) -> list[dict[str, list]]:
    """One order of the events that every observer (:func:`_observers`) on every member agrees
    with: a member's earlier ticks come first; within one tick of a stratified reader, its
    table-side events come before its probe-side events; events a fold's (or a looped
    reader's) member took in one tick form one single-node tick; copies of one input record
    are one point. Where observers contradict each other, the events involved merge into one
    tick (the strongly connected components of the precedence graph)."""
    parent = {ev.id: ev.id for ev in sim.events}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(evs) -> None:
        evs = list(evs)
        for ev in evs[1:]:
            parent[find(ev)] = find(evs[0])

    copies = defaultdict(list)
    for ev in sim.events:
        for i in ev.indices:
            copies[(ev.source, i)].append(ev.id)
    for evs in copies.values():
        union(evs)
    sequences = []
    for obs in set(_observers(design)):
        for m in range(design.members_of(obs.stage)):
            sides = [_ticks_at(sim, obs.stage, obs.table, m), _ticks_at(sim, obs.stage, obs.probe, m)]
            groups = defaultdict(list)   # (tick, 0 table only / 1 both sides / 2 probe only) -> events
            for ev in sorted(set(sides[0]) | set(sides[1])):
                ticks = [side[ev] for side in sides if ev in side]
                groups[(max(ticks), 1 if len(ticks) == 2 else 0 if ev in sides[0] else 2)].append(ev)
            for (_, phase), evs in groups.items():
                if phase == 1 or (phase == 2 and obs.together):
                    union(evs)
            sequences.append([groups[g] for g in sorted(groups)])
    order = nx.DiGraph()
    order.add_nodes_from({find(ev.id) for ev in sim.events})
    for seq in sequences:
        order.add_edges_from((find(a), find(b)) for before, after in zip(seq, seq[1:])
                             for a in before for b in after if find(a) != find(b))
    dag = nx.condensation(order)
    groups = defaultdict(list)
    for ev in sim.events:
        groups[dag.graph["mapping"][find(ev.id)]].append(ev)
    out, fed = [], set()
    for scc in nx.lexicographical_topological_sort(dag, key=lambda c: min(e.id for e in groups[c])):
        tick = defaultdict(list)
        for ev in groups[scc]:
            for i, record in zip(ev.indices, ev.records):
                if (ev.source, i) not in fed:
                    fed.add((ev.source, i))
                    tick[ev.source].append((i, record))
        out.append({src: [r for _, r in sorted(recs, key=lambda ir: ir[0])] for src, recs in tick.items()})
    return out or [{}]


def _ticks_at(sim: SimRun, stage: str, feeding: frozenset[str], member: int) -> dict[int, int]:
    """Event -> the tick of ``stage`` in which ``member`` had it through every ``feeding``
    entry it came by (the latest of them)."""
    at: dict[int, int] = {}
    for e in feeding:
        for ev, arrivals in sim.reached[stage].get(e, {}).items():
            if member in arrivals:
                at[ev] = max(at.get(ev, -1), arrivals[member][0])
    return at


def first_arrival(arrivals: dict[int, tuple[int, int]], member: int | None) -> tuple[int, int, int]:
    """(tick, position, member) of an event's arrival at an entry: at ``member`` when it got
    there, else where it first arrived."""
    if member is not None and member in arrivals:
        return (*arrivals[member], member)
    m = min(arrivals, key=lambda k: arrivals[k])
    return (*arrivals[m], m)


def arrival_schedule(sim: SimRun, stage: str, feeding: frozenset[str],
                      by_member: bool = False, member: int | None = None) -> list[dict[str, list]]:
    """One tick per tick of ``stage`` (``by_member``: per tick and member, members being
    independent); each event in the tick and at the position where it first arrived (at
    ``member``, where given and it got there) through the ``feeding`` entries (the latest over
    them), or else in the first tick after it settled; each input record once, from the copy
    placed first (a copy that reached ``member`` before any other)."""
    steps = sim.ticks[stage]
    placed = {}
    for ev in sim.events:
        arrivals = [sim.reached[stage][e][ev.id] for e in feeding if ev.id in sim.reached[stage].get(e, {})]
        if arrivals:
            at, position, m = max(first_arrival(a, member) for a in arrivals)
            here = member is None or all(member in a for a in arrivals)
        else:
            at = next((i for i, s in enumerate(steps) if s >= sim.settled[ev.id]), len(steps))
            position, m, here = -1, -1, member is None
        placed[ev.id] = (not here, (at, m if by_member else 0, position, ev.id))
    chosen: dict[tuple[str, int], Any] = {}
    for ev in sim.events:
        for i in ev.indices:
            other = chosen.get((ev.source, i))
            if other is None or placed[ev.id] < placed[other.id]:
                chosen[(ev.source, i)] = ev
    ticks: dict[tuple[int, int], dict[str, list]] = {}
    for (source, i), ev in sorted(chosen.items(), key=lambda c: (placed[c[1].id][1], c[0][1])):
        at, m = placed[ev.id][1][:2]
        ticks.setdefault((at, m), defaultdict(list))[source].append(ev.records[ev.indices.index(i)])
    slots = sorted({(i, 0) for i in range(len(steps) + 1)} | set(ticks))
    return [dict(ticks.get(slot, {})) for slot in slots]
