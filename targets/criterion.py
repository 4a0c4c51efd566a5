"""The checker's verdict on one simulated run: passed, or the first sink that no single-node schedule explains.

A simulated run (:mod:`hydropy.targets.sim`) passes when its sinks equal, under the sink
rules of :mod:`~.sink_rules` (exactly, except where a design point may reorder or repeat
records), the sinks of the single-node program (:func:`hydropy.targets.local.run`) under one
of the schedules of :mod:`~.schedules` (the inputs in the targets' ticks, or an order of
arrivals the design's members saw). A run stopped by a user function raising passes when
the single-node program raises alike on one of those schedules.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import networkx as nx

from hydropy.errors import UserCodeError
from hydropy.ir import Graph

from .local import DEFAULT_TICK_SIZE, Ticks, canonical, run, whole_inputs
from .schedules import arrival_schedule, feeding_entries, first_arrival, schedules
from .sink_rules import CLEAN, compare, relaxations, sink_rules, with_clean_parts  # noqa: F401  (relaxations: the API)

if TYPE_CHECKING:
    from .sim import SimRun

TRACE_LINES = 15


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
    from .sim import program_of, simulate  # sim imports this module: not at import time
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
    (or member) took, in the order it took it, and nothing after (the failure came first); and
    the same cut at the failing operator (:func:`_cut_at_failure`). Otherwise the design point
    fails where the program does not: a mismatch naming the error."""
    stage = sim.error_stage
    reached = {ev for arrivals in sim.reached[stage].values() for ev in arrivals}
    prefix = replace(sim, events=[ev for ev in sim.events if ev.id in reached])
    feeding = feeding_entries(design, stage)
    members = range(design.members_of(stage)) if design.members_of(stage) > 1 else []
    failing_stage = [arrival_schedule(prefix, stage, feeding)] + [
        arrival_schedule(prefix, stage, feeding, member=m) for m in members]
    cut = [t for m in (members or [None]) for t in _cut_at_failure(design, sim, m)]
    for ticks in failing_stage + cut + [t for _, t in schedules(design, sim, inputs, tick_size)]:
        try:
            run(original, ticks=ticks)
        except UserCodeError as exc:
            if same_failure(exc, sim.error):
                return None
    return Mismatch("", [], [], sim.seed, "every schedule that explains its deliveries",
                    [line for _, line in sim.trace][-TRACE_LINES:], error=str(sim.error))


def _cut_at_failure(design: Graph, sim: SimRun, member: int | None) -> list[list[dict[str, list]]]:
    """The failing stage's arrivals (at ``member``) of what could reach the failing operator F:
    only the events that reached the stage (at any member) through entries leading to F, in
    the ticks and order the stage took them. The others never reached F, so in one process
    they may come after its failure (another operator, which the design runs elsewhere or
    later, would otherwise fail on them first). When every operator between the stage's
    entries and F is monotone (so cutting a tick changes nothing F sees), also with the
    failing tick one input record at a time in arrival order: F's failing record may come
    before another operator's failing record of the same event."""
    stage = sim.error_stage
    node = next((n for n in design.nodes() if n.location == stage
                 and f"{n.kind} '{n.name}'" == _operator(sim.error)), None)
    to_f = feeding_entries(design, stage, node) if node is not None else feeding_entries(design, stage)
    arrivals = {}   # event -> its arrivals through to_f: member -> (tick, position)
    for entry in to_f:
        for ev, at in sim.reached[stage].get(entry, {}).items():
            for m, tick_position in at.items():
                arrivals.setdefault(ev, {})[m] = max(arrivals.get(ev, {}).get(m, (-1, -1)), tick_position)
    if not arrivals:
        return []
    seen = replace(sim, events=[ev for ev in sim.events if ev.id in arrivals])
    whole = arrival_schedule(seen, stage, to_f, member=member)
    last = len(sim.ticks[stage]) - 1
    if node is None or last >= len(whole) or not _monotone_up_to(design, stage, node):
        return [whole]
    placed = {ev.id: first_arrival(arrivals[ev.id], member)[:2] for ev in seen.events}
    fed, one_by_one = set(), []
    for ev in sorted(seen.events, key=lambda ev: (placed[ev.id], ev.id)):
        fresh = [(i, r) for i, r in zip(ev.indices, ev.records) if (ev.source, i) not in fed]
        fed |= {(ev.source, i) for i in ev.indices}
        if placed[ev.id][0] == last:
            one_by_one += [{ev.source: [r]} for _, r in fresh]
    same = _contents(one_by_one) == _contents([whole[last]])  # (copies placed alike)
    return [whole] + ([whole[:last] + one_by_one + whole[last + 1:]] if len(one_by_one) > 1 and same else [])


def _contents(ticks: list[dict[str, list]]) -> list[tuple[str, str]]:
    return sorted((source, repr(r)) for tick in ticks for source, records in tick.items() for r in records)


def _monotone_up_to(design: Graph, stage: str, node) -> bool:
    """Every operator of ``stage`` upstream of ``node`` is monotone (cutting a tick into
    several changes nothing ``node`` sees but their timing)."""
    local = design.nx.subgraph([n.id for n in design.nodes() if n.location == stage])
    return all(design.node(n).spec.monotone for n in nx.ancestors(local, node.id))


def _trace_for(design: Graph, sim: SimRun, sink: str) -> list[str]:
    """The last deliveries into the sink's stage and the stages upstream of it."""
    node = next(n for n in design.sinks() if n.params["name"] == sink)
    upstream = {design.node(i).location for i in nx.ancestors(design.nx, node.id)} | {node.location}
    lines = [line for stage, line in sim.trace if stage in upstream and "nothing new" not in line]
    return lines[-TRACE_LINES:]
