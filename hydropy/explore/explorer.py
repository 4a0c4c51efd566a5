"""The explorer: profile, enumerate, estimate (and measure), ranked with the Pareto frontier.

:func:`explore` returns an :class:`Exploration` that :mod:`.report` renders. Design point 0
is the single-node program on one stage; the others are named by a hash of their plan
(:func:`plan_id`), listed in enumeration order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from hydropy.errors import HydropyError, InputError
from hydropy.ir import Graph
from hydropy.passes.explore import signature
from hydropy.passes.monotonicity import points_of_order
from hydropy.passes.pipeline import design_point
from hydropy.passes.plan import Step
from hydropy.targets.local import DEFAULT_TICK_SIZE
from hydropy.targets.sim import survives_restart

from .enumerate import Enumeration, enumerate_points
from .model import Constants, Estimate, estimate, stage_records
from .profile import Profile, profile
from .replay import BUDGET_SECONDS, Replay, replay


def plan_id(steps: Sequence[Step]) -> str:
    """A design point's id, the same in every run: ``0`` for the single-node program, else
    six hex digits of a hash of its plan (so ``--save-plan ID`` finds the same plan again
    even where the search past two steps, guided by measured times, visits others)."""
    if not steps:
        return "0"
    text = json.dumps([[s.kind, s.args] for s in steps], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:6]


@dataclass
class DesignPoint:
    id: str
    steps: list[Step]
    design: Graph
    estimate: Estimate
    properties: dict
    pareto: bool = False
    rank: str = ""                       # by prediction, fastest 1; "2=" for tied predictions
    measured: float | None = None        # records per second on Ray
    same_sinks: bool | None = None       # whether the Ray run's sinks equal the single-node run's

    @property
    def error(self) -> float | None:
        """measured / predicted throughput."""
        if self.measured is None or not self.estimate.throughput:
            return None
        return self.measured / self.estimate.throughput


@dataclass
class Exploration:
    program: str
    profile: Profile
    constants: Constants
    points: list[DesignPoint]
    refused: list[tuple[list[Step], str]] = field(default_factory=list)
    over_budget: int = 0
    cpus: int = 1


def tolerates(graph: Graph, steps: Sequence[Step], channel: str, duplicates: bool) -> bool:
    """Whether the plan still holds with ``channel`` declared to reorder (and duplicate): the
    ``reorder`` step's precondition, checked through :func:`design_point` like any plan."""
    try:
        design_point(graph, list(steps) + [Step("reorder", {"channel": channel, "duplicates": duplicates})])
    except HydropyError:
        return False
    return True


def properties(graph: Graph, steps: Sequence[Step], design: Graph) -> dict[str, Any]:
    """What a design point guarantees: the points of order that channels reach (none:
    coordination-free), its channels that tolerate reordering and duplication (the ``reorder``
    step accepted on them), and the stages whose members may crash and restart without
    losing anything."""
    orders = [p.name for p in points_of_order(design)]
    channels = [n.name for n in design.nodes() if n.kind == "network"]
    reordering = [c for c in channels if tolerates(graph, steps, c, False)]
    return {
        "coordination_free": not orders,
        "points_of_order": orders,
        "tolerates_reordering": reordering,
        "tolerates_duplication": [c for c in reordering if tolerates(graph, steps, c, True)],
        "channels": channels,
        "survives_restart_of": [s for s in design.locations() if survives_restart(design, s)],
    }


def steps_text(steps: Sequence[Step]) -> str:
    if not steps:
        return "single node"
    parts = []
    for s in steps:
        args = ", ".join(f"{k}={v}" if not isinstance(v, list) else f"{k}=[{','.join(map(str, v))}]"
                         for k, v in s.args.items())
        parts.append(f"{s.kind}({args})")
    return "; ".join(parts)


def short_steps(steps: Sequence[Step]) -> str:
    """A plan in a few words, for the table (the JSON and HTML hold it whole)."""
    if not steps:
        return "single node"
    words = []
    for s in steps:
        a = s.args
        if s.kind == "decouple":
            ops = a["operators"]
            what = ",".join(ops) if len(ops) <= 2 else f"{len(ops)} ops"
            words.append(f"decouple {what} -> {a['to']}")
        elif s.kind in ("partition", "replicate"):
            words.append(f"{s.kind} {a['stage']} x{a['n']}")
        elif s.kind == "split_fold":
            words.append(f"split_fold {a['operator']} -> {a['to']}")
        elif s.kind == "lattice":
            words.append(f"lattice {a['operator']} as {a['as']}")
        else:
            words.append(steps_text([s]))
    return "; ".join(words)


#: predictions within this ratio of each other are tied: the replay's timing noise (a stage
#: replayed twice on a loaded machine differs by up to about a fifth)
TIE = 1.25


def tied_ranks(values: Sequence[float], tie: float = 1.0) -> list[float]:
    """Ranks (1 = smallest) with ties averaged; with ``tie`` > 1, from the largest down, the
    values within that ratio of the largest not yet ranked tie with it."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0.0] * len(values)
    n, i = len(values), 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] * tie >= values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = n - (i + j) / 2
        i = j + 1
    return ranks


def rank_predictions(points: Sequence[DesignPoint]) -> None:
    """Sets each point's ``rank`` by predicted throughput, fastest 1, predictions within
    :data:`TIE` of each other sharing the best rank of their tie, marked ``=``."""
    slow_first = tied_ranks([p.estimate.throughput for p in points], TIE)
    n = len(points)
    groups: dict[float, list[DesignPoint]] = {}
    for p, r in zip(points, slow_first):
        groups.setdefault(r, []).append(p)
    for r, members in groups.items():
        best = n - (r + (len(members) - 1) / 2) + 1
        for p in members:
            p.rank = f"{int(best)}{'=' if len(members) > 1 else ''}"


def pareto(points: Sequence[DesignPoint], value=lambda p: p.estimate.throughput) -> None:
    """Marks the points no other beats on throughput without using more actors."""
    for p in points:
        p.pareto = not any(
            (value(q) >= value(p) and q.estimate.actors <= p.estimate.actors)
            and (value(q) > value(p) or q.estimate.actors < p.estimate.actors)
            for q in points if q is not p)


class StageCosts:
    """The replay of each design point's emitted stages (:func:`.replay.replay`), once per
    design (by signature), on a sample cut to about :data:`.replay.BUDGET_SECONDS` of
    single-node work. None for a program whose stages cannot be emitted (functions not at
    module level): its estimates then rest on the profile alone."""

    def __init__(self, prof: Profile, inputs: Mapping[str, Any], tick_size: int):
        self.profile, self.inputs, self.tick_size = prof, inputs, tick_size
        self.fraction = min(1.0, BUDGET_SECONDS / max(prof.seconds, 1e-9))
        self.done: dict[Any, Replay | None] = {}
        self.unavailable: str | None = None

    def of(self, design: Graph) -> Replay | None:
        if self.unavailable is not None:
            return None
        key = signature(design)
        if key not in self.done:
            try:
                self.done[key] = replay(design, self.inputs, tick_size=self.tick_size,
                                        whole_records=stage_records(design, self.profile),
                                        fraction=self.fraction)
            except HydropyError as exc:  # cannot be emitted: the profile model for all
                self.unavailable = str(exc)
                return None
        return self.done[key]


def explore(graph: Graph, inputs: Mapping[str, Any], *, program: str, constants: Constants,
            cpus: int, members: Sequence[int] = (2, 3, 4), depth: int = 3,
            tick_size: int = DEFAULT_TICK_SIZE) -> Exploration:
    """Profile ``graph`` on ``inputs``, enumerate its design points within ``cpus`` stage
    members, and estimate each."""
    if cpus < 1:
        raise InputError(f"--cpus must be at least 1, got {cpus}")
    if depth < 0:
        raise InputError(f"--depth must be at least 0, got {depth}")
    if not members or any(n < 2 for n in members):
        raise InputError(f"--members must list counts of at least 2, got {list(members)}")
    prof = profile(graph, inputs, tick_size=tick_size, members=members)
    costs = StageCosts(prof, inputs, tick_size)

    def predict(design: Graph) -> tuple[float, str]:
        e = estimate(design, prof, constants, cpus, costs.of(design))
        # the stage to relieve: the bottleneck, or the slowest stage where it is the driver
        return e.throughput, max(e.stage_seconds, key=e.stage_seconds.get)

    found: Enumeration = enumerate_points(graph, depth=depth, members=members, cpus=cpus,
                                          bottleneck=predict)
    base = design_point(graph)
    points = [DesignPoint("0", [], base, estimate(base, prof, constants, cpus, costs.of(base)),
                          properties(graph, [], base))]
    points += [DesignPoint(plan_id(c.steps), c.steps, c.design,
                           estimate(c.design, prof, constants, cpus, costs.of(c.design)),
                           properties(graph, c.steps, c.design)) for c in found.points]
    pareto(points)
    rank_predictions(points)
    return Exploration(program, prof, constants, points, found.refused, found.over_budget, cpus)
