"""The checker's criterion: which single-node runs could explain a simulated run, and how sinks compare.

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

Every schedule feeds each input record exactly once (a record broadcast to several members
once, where its copy arrived first, or at the member in question).

**How sinks compare** (:func:`sink_rules`). Singletons and keyed sinks, and stream sinks, compare
exactly (streams as multisets; as sequences where the single-node program orders them), with
two relaxations, each named in the verdict:

* an ordered stream that passes a stage of several members or a channel declared ``reorder``
  compares as a multiset (members take their shares of an input in their own order, a
  reordering network delivers batches in any order: the design's collection there is
  unordered, as :func:`hydropy.passes.stages.keeps_order` types it);
* the records that reach a stream sink through a *repeating path* compare as a set: a path
  through a channel declared ``duplicates`` (it may deliver a batch twice), or from a
  snapshot (it repeats the current value once per tick, and how often a stage ticks is not
  part of the program) or an operator fed by one. Every other record of that sink compares
  exactly: the single-node run is split by path (its sink's per-record cone copied without
  the repeating paths), and the design's sink must hold the clean records exactly, and
  besides them the same *set* of records as the repeating paths give.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import networkx as nx

from hydropy.errors import UserCodeError
from hydropy.ir import STREAM, Graph
from hydropy.ir.ops import PER_RECORD

from .local import DEFAULT_TICK_SIZE, Ticks, canonical, run, split_ticks, whole_inputs
from .sim import SimRun, entries, entry_name, may_duplicate, program_of, simulate

TRACE_LINES = 15
#: kind -> input ports where a record seen twice changes nothing (as hydropy.passes.stages)
CLEAN = "\x00clean:"


# -- schedules ------------------------------------------------------------------------------

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
        members = [n.id for n in design.nodes() if n.location == stage]
        local = design.nx.subgraph(members)
        feeding = frozenset(entry_name(e) for e in entries(design, stage)
                            if e.kind != "cycle" and (e.id == node.id or nx.has_path(local, e.id, node.id)))
        if (stage, feeding) in seen:
            continue
        seen.add((stage, feeding))
        yield f"the arrival order at {node.where(short=True)}", _arrival_schedule(sim, stage, feeding)
        for m in range(design.members_of(stage) if design.members_of(stage) > 1 else 0):
            yield (f"the arrival order at {node.where(short=True)} on member {m}",
                   _arrival_schedule(sim, stage, feeding, member=m))
    for stage in design.locations():
        feeding = frozenset(entry_name(e) for e in entries(design, stage) if e.kind != "cycle")
        yield f"the order in which stage '{stage}' took its inputs", _arrival_schedule(sim, stage, feeding)
        if design.members_of(stage) > 1:
            yield (f"the order in which stage '{stage}' took its inputs, member by member",
                   _arrival_schedule(sim, stage, feeding, by_member=True))
            for m in range(design.members_of(stage)):
                yield (f"the order in which member {m} of stage '{stage}' took its inputs",
                       _arrival_schedule(sim, stage, feeding, member=m))


def _observers(design: Graph):
    """(stage, entries, whether same-tick arrivals must stay together) for each operator that
    observes arrival timing: a non-monotone operator (its inputs' relative timing) and an
    ordered stream sink (its input's order only)."""
    for node in design.nodes():
        coll = design.node(node.inputs[0]).coll if node.kind == "sink" else None
        if node.spec.monotone and not (coll and coll.kind == STREAM and coll.ordered):
            continue
        stage = node.location
        local = design.nx.subgraph([n.id for n in design.nodes() if n.location == stage])
        feeding = frozenset(entry_name(e) for e in entries(design, stage)
                            if e.kind != "cycle" and (e.id == node.id or nx.has_path(local, e.id, node.id)))
        yield stage, feeding, not node.spec.monotone


def _merged_schedule(design: Graph, sim: SimRun) -> list[dict[str, list]]:
    """One order of the events that every observer (:func:`_observers`) on every member agrees
    with: a member's earlier ticks come first; events a non-monotone operator's member took in
    one tick form one single-node tick; copies of one input record are one point. Where
    observers contradict each other, the events involved merge into one tick (the strongly
    connected components of the precedence graph)."""
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
    for stage, feeding, together in set(_observers(design)):
        for m in range(design.members_of(stage)):
            at: dict[int, int] = {}
            for e in feeding:
                for ev, arrivals in sim.reached[stage].get(e, {}).items():
                    if m in arrivals:
                        at[ev] = max(at.get(ev, -1), arrivals[m][0])
            ticks = defaultdict(list)
            for ev, tick in at.items():
                ticks[tick].append(ev)
            if together:
                for tick in ticks.values():
                    union(tick)
            sequences.append([ticks[t] for t in sorted(ticks)])
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


def _arrival(arrivals: dict[int, tuple[int, int]], member: int | None) -> tuple[int, int, int]:
    """(tick, position, member) of an event's arrival at an entry: at ``member`` when it got
    there, else where it first arrived."""
    if member is not None and member in arrivals:
        return (*arrivals[member], member)
    m = min(arrivals, key=lambda k: arrivals[k])
    return (*arrivals[m], m)


def _arrival_schedule(sim: SimRun, stage: str, feeding: frozenset[str],
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
            at, position, m = max(_arrival(a, member) for a in arrivals)
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


# -- how sinks compare ------------------------------------------------------------------------

@dataclass
class SinkRule:
    """How one sink of the design compares with the single-node program's."""

    sink: str
    unordered: bool = False            # an ordered stream compared as a multiset
    repeating: list[str] = field(default_factory=list)   # the repeating paths, for messages
    edges: set[tuple[int, int]] = field(default_factory=set)  # original (node, port) cut for the clean part
    origins: set[int] = field(default_factory=set)       # original origins cut for the clean part
    whole: bool = False                # the paths could not be told apart: all of it as a set

    def notes(self) -> list[str]:
        out = []
        if self.unordered:
            out.append(f"sink '{self.sink}' as a multiset (its order passes a stage of several members "
                       f"or a channel declared to reorder)")
        if self.whole:
            out.append(f"sink '{self.sink}' as a set ({', '.join(self.repeating)} reach it by paths "
                       f"the single-node program does not separate)")
        elif self.repeating:
            out.append(f"sink '{self.sink}' as a set for the records {' and '.join(self.repeating)}, "
                       f"exactly for the rest")
        return out


def _cone(g: Graph, node_id: int, through: frozenset[str]) -> set[int]:
    """The nodes whose records reach ``node_id`` through per-record operators only (``node_id``
    included); the first other node on each path (an origin) is included too."""
    seen, todo = set(), [node_id]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if g.node(n).kind in through or n == node_id:
            todo.extend(g.node(n).inputs)
    return seen


def _repeating(g: Graph) -> dict[int, str]:
    """Node -> why its records repeat (a snapshot, a duplicating channel, or fed by one through
    an input that does not absorb repeats)."""
    out: dict[int, str] = {}
    changed = True
    while changed:  # until loops carry what they can
        changed = False
        for node in g.topo_order():
            if node.id in out:
                continue
            if node.kind == "snapshot":
                out[node.id] = f"from snapshot '{node.name}'"
            elif node.kind == "network" and may_duplicate(node):
                out[node.id] = f"through channel '{node.name}' (may duplicate)"
            else:
                why = [out[i] for p, i in enumerate(node.inputs)
                       if i in out and p not in node.spec.absorbs_repeats]
                if not why:
                    continue
                out[node.id] = why[0]
            changed = True
    return out


def sink_rules(original: Graph, design: Graph) -> dict[str, SinkRule]:
    """For each stream sink: its relaxations (see the module docstring). A repeating path of
    the design is found in the original by its node ids (passes keep them): the edge into the
    first per-record operator after a duplicating channel, or a repeating origin."""
    rules = {}
    rep_design, rep_original = _repeating(design), _repeating(original)
    through = PER_RECORD | {"network"}
    for node in design.sinks():
        name = node.params["name"]
        coll = design.node(node.inputs[0]).coll
        orig_sink = next((n for n in original.sinks() if n.params["name"] == name), None)
        if coll.kind != STREAM or orig_sink is None:
            continue
        rule = rules[name] = SinkRule(name)
        upstream = [design.node(i) for i in nx.ancestors(design.nx, node.id)]
        ordered = original.node(orig_sink.inputs[0]).coll.ordered
        rule.unordered = ordered and (not coll.ordered or any(design.members_of(n.location) > 1
                                                               for n in upstream))
        cone = _cone(design, node.id, frozenset(through))
        for v in (design.node(i) for i in cone):
            if v.kind not in PER_RECORD and v.id != node.id:
                if v.id in rep_design and v.kind != "network":   # a repeating origin
                    rule.repeating.append(rep_design[v.id])
                    rule.origins.add(v.id)
                    rule.whole |= not original.nx.has_node(v.id)
                continue
            for port, src in enumerate(v.inputs):
                u, dup = design.node(src), None
                while u.kind == "network":
                    dup = dup or (rep_design.get(u.id) if may_duplicate(u) else None)
                    u = design.node(u.inputs[0])
                if dup is None:
                    continue
                rule.repeating.append(dup)
                target = orig_sink.id if v.id == node.id else v.id
                if (original.nx.has_node(target) and len(original.node(target).inputs) > port
                        and original.node(target).inputs[port] == u.id):
                    rule.edges.add((target, port))
                else:
                    rule.whole = True
        for o in _cone(original, orig_sink.id, frozenset(PER_RECORD)):
            if original.node(o).kind not in PER_RECORD and o in rep_original and o not in rule.origins:
                rule.origins.add(o)
                rule.repeating.append(rep_original[o])
        rule.repeating = sorted(set(rule.repeating))
        if not rule.unordered and not rule.repeating:
            del rules[name]
    return rules


def relaxations(original: Graph, design: Graph) -> list[str]:
    """What the criterion relaxes for ``design``, one phrase per relaxation (empty: exact)."""
    return [note for rule in sink_rules(original, design).values() for note in rule.notes()]


def with_clean_parts(original: Graph, rules: Mapping[str, SinkRule]) -> Graph:
    """``original`` plus, for each sink with repeating paths, a sink ``CLEAN + name`` that gets
    only the records of its other paths: the sink's per-record cone copied without the cut
    edges and origins."""
    g = original.copy()
    for name, rule in rules.items():
        if not rule.repeating or rule.whole:
            continue
        sink = next(n for n in original.sinks() if n.params["name"] == name)
        memo: dict[int, int | None] = {}

        def clean(node_id: int) -> int | None:
            node = original.node(node_id)
            if node.kind not in PER_RECORD:
                return None if node_id in rule.origins else node_id
            if node_id not in memo:
                memo[node_id] = None  # a loop through per-record operators only: none
                ins = [None if (node_id, p) in rule.edges else clean(i) for p, i in enumerate(node.inputs)]
                kept = tuple(i for i in ins if i is not None)
                if not kept or (node.kind != "union" and len(kept) < len(ins)):
                    memo[node_id] = None
                elif kept == node.inputs:
                    memo[node_id] = node_id
                else:
                    copy = node.copy(id=g.fresh_id(), name=g.fresh_name(node.name), inputs=kept)
                    memo[node_id] = g.add(copy).id
            return memo[node_id]

        src = None if (sink.id, 0) in rule.edges else clean(sink.inputs[0])
        if src is not None:
            g.add(sink.copy(id=g.fresh_id(), name=g.fresh_name(sink.name), inputs=(src,),
                            params=dict(sink.params, name=CLEAN + name)))
    return g


def normal(x: Any) -> str:
    """A text equal for equal records: sets sorted, lattices by type name and revealed value
    (a user lattice's class differs between copies of the program module)."""
    from hydropy.lattices import Lattice
    if isinstance(x, Lattice):
        return f"{type(x).__name__}<{normal(x.reveal())}>"
    if isinstance(x, (set, frozenset)):
        return "{" + ", ".join(sorted(map(normal, x))) + "}"
    if isinstance(x, (tuple, list)):
        inner = ", ".join(map(normal, x))
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    if isinstance(x, dict):
        return "{" + ", ".join(sorted(f"{normal(k)}: {normal(v)}" for k, v in x.items())) + "}"
    return repr(x)


def _counts(records: list) -> Counter:
    return Counter(map(normal, records))


def compare(rule: SinkRule | None, expected: list, clean: list | None, got: list,
            ordered: bool) -> tuple[list, list] | None:
    """None when ``got`` agrees with ``expected`` under ``rule``, else (missing, extra)."""
    by_repr = {normal(x): x for x in [*expected, *got, *(clean or [])]}
    if rule is None or not rule.repeating:
        if expected == got:
            return None
        if ordered and not (rule and rule.unordered):
            if list(map(normal, expected)) == list(map(normal, got)):
                return None
            exp, have = _counts(expected), _counts(got)
            if exp == have:  # same multiset, different order
                return list(expected), list(got)
        else:
            exp, have = _counts(expected), _counts(got)
            if exp == have:
                return None
        return ([by_repr[r] for r, c in (exp - have).items() for _ in range(c)],
                [by_repr[r] for r, c in (have - exp).items() for _ in range(c)])
    clean_counts = Counter() if rule.whole else _counts(clean or [])
    have = _counts(got)
    rest_expected = set(_counts(expected) - clean_counts)
    rest_got = set(have - clean_counts)
    missing = [by_repr[r] for r, c in (clean_counts - have).items() for _ in range(c)]
    missing += sorted((by_repr[r] for r in rest_expected - rest_got), key=repr)
    extra = sorted((by_repr[r] for r, c in (have - clean_counts).items() if r not in rest_expected
                    for _ in range(c)), key=repr)
    return (missing, extra) if missing or extra else None


# -- the check ----------------------------------------------------------------------------------

@dataclass
class Mismatch:
    """The first disagreement of a design point with every single-node explanation."""

    sink: str
    missing: list
    extra: list
    seed: int
    explanation: str
    trace: list[str]
    relaxed: list[str] = field(default_factory=list)
    error: str | None = None   # the design point raised this where the program does not

    def __str__(self) -> str:
        if self.error is not None:
            return "\n".join([f"the design point raises where the single-node program does not (seed "
                              f"{self.seed}; compared with {self.explanation}): {self.error}",
                              "  deliveries that led there:"] + [f"    {t}" for t in self.trace])
        lines = [f"sink '{self.sink}' differs from the single-node program (seed {self.seed}; "
                 f"compared with {self.explanation})"]
        if self.missing:
            lines.append(f"  missing: {', '.join(map(repr, self.missing))}")
        if self.extra:
            lines.append(f"  extra:   {', '.join(map(repr, self.extra))}")
        lines.append(f"  compared: {'; '.join(self.relaxed) if self.relaxed else 'exactly'}")
        lines.append("  deliveries that led there:")
        lines += [f"    {t}" for t in self.trace]
        return "\n".join(lines)


def check_run(original: Graph, design: Graph, inputs: Mapping[str, Iterable[Any]],
              seed: int, program=None, *, tick_size: int = DEFAULT_TICK_SIZE) -> Mismatch | None:
    """Simulate ``design`` (its emitted stages, see :func:`hydropy.targets.sim.simulate`) with
    ``seed``; None when a single-node schedule explains its sinks, else the closest
    explanation's first differing sink."""
    inputs = inputs if isinstance(inputs, Ticks) else {k: list(v) for k, v in (inputs or {}).items()}
    sim = simulate(design, whole_inputs(inputs), seed, program or program_of(original))
    if sim.error is not None:
        return _check_error(original, design, sim, inputs, tick_size)
    rules = sink_rules(original, design)
    oracle = with_clean_parts(original, rules)
    got = canonical(original, sim.results)
    ordered = {n.params["name"]: original.node(n.inputs[0]).coll.ordered for n in original.sinks()}
    best = None
    for label, ticks in schedules(design, sim, inputs, tick_size):
        results = run(oracle, ticks=ticks)
        expected = canonical(original, results)
        diffs = {}
        for s in expected:
            diff = compare(rules.get(s), expected[s], results.get(CLEAN + s), got.get(s, []),
                           ordered[s])
            if diff is not None:
                diffs[s] = diff
        if not diffs:
            return None
        size = sum(len(missing) + len(extra) for missing, extra in diffs.values())
        if best is None or size < best[0]:
            sink = next(iter(diffs))
            best = (size, Mismatch(sink, *diffs[sink], seed, label, _trace_for(design, sim, sink),
                                   [n for n in (rules[sink].notes() if sink in rules else [])]))
    return best[1]


def same_failure(a: UserCodeError, b: UserCodeError) -> bool:
    """Two runs failed alike: the same operator's function raised the same kind of exception
    (not necessarily on the same record: members of a stage take records in their own order)."""
    return (_operator(a) is not None and _operator(a) == _operator(b)
            and type(a.__cause__) is type(b.__cause__))


def _operator(error: UserCodeError) -> str | None:
    """The operator a user function raised in: its ``where`` without the file:line (which
    emitted stages and the local target print with different paths)."""
    where = getattr(error, "where", None)
    return where.rsplit(" (", 1)[0] if where and where.endswith(")") else where


def _check_error(original: Graph, design: Graph, sim: SimRun, inputs, tick_size: int) -> Mismatch | None:
    """A simulated run stopped by a user function raising is explained when the single-node
    program, fed one of the schedules that could explain the deliveries so far, raises alike
    (a lookup answered before its table was written, as the environment may deliver: the
    program itself fails on that delivery). Besides :func:`schedules`: what the failing stage
    (or member) took, in the order it took it, and nothing after (the failure came first). Otherwise the design point fails where the
    program does not: a mismatch naming the error."""
    stage = sim.error_stage
    reached = {ev for arrivals in sim.reached[stage].values() for ev in arrivals}
    prefix = replace(sim, events=[ev for ev in sim.events if ev.id in reached])
    feeding = frozenset(entry_name(e) for e in entries(design, stage) if e.kind != "cycle")
    members = range(design.members_of(stage)) if design.members_of(stage) > 1 else []
    failing_stage = [_arrival_schedule(prefix, stage, feeding)] + [
        _arrival_schedule(prefix, stage, feeding, member=m) for m in members]
    for ticks in failing_stage + [t for _, t in schedules(design, sim, inputs, tick_size)]:
        try:
            run(original, ticks=ticks)
        except UserCodeError as exc:
            if same_failure(exc, sim.error):
                return None
    return Mismatch("", [], [], sim.seed, "every schedule that explains its deliveries",
                    [line for _, line in sim.trace][-TRACE_LINES:], error=str(sim.error))


def _trace_for(design: Graph, sim: SimRun, sink: str) -> list[str]:
    """The last deliveries into the sink's stage and the stages upstream of it."""
    node = next(n for n in design.sinks() if n.params["name"] == sink)
    upstream = {design.node(i).location for i in nx.ancestors(design.nx, node.id)} | {node.location}
    lines = [line for stage, line in sim.trace if stage in upstream and "nothing new" not in line]
    return lines[-TRACE_LINES:]
