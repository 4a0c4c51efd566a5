"""Enumerating design points for the explorer, deeper than ``check --all-plans``, guided by the model.

Proposals come from :data:`hydropy.passes.explore.PROPOSERS` (the same proposers ``check
--all-plans`` uses), with partition and replicate tried at every member count asked for.
Every candidate is built by :func:`hydropy.passes.pipeline.design_point` from its whole plan,
so every precondition is checked; a refused proposal is kept with its reason. The first two
steps are searched exhaustively; deeper steps only from the :data:`BEAM` design points the
model predicts fastest among those that have such a step left, and only steps that touch
their bottleneck stage. Designs with more stage
members than ``cpus`` are not kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from hydropy.errors import HydropyError
from hydropy.ir import Graph
from hydropy.passes.explore import PROPOSERS, signature
from hydropy.passes.pipeline import design_point
from hydropy.passes.plan import STEP_KINDS, Step

EXHAUSTIVE_DEPTH = 2
BEAM = 4


@dataclass
class Candidate:
    """A design point: its plan's steps, the graph before channels (for further steps) and
    the design (channels placed)."""

    steps: list[Step]
    graph: Graph
    design: Graph


@dataclass
class Enumeration:
    points: list[Candidate] = field(default_factory=list)
    refused: list[tuple[list[Step], str]] = field(default_factory=list)   # plan, reason
    over_budget: int = 0


def proposals(graph: Graph, members: Sequence[int]) -> list[tuple[str, dict]]:
    """Every (step kind, arguments) the proposers suggest on ``graph``, partition and
    replicate at each of ``members``."""
    out = []
    for kind, propose in PROPOSERS.items():
        if kind not in STEP_KINDS:
            continue
        for args in propose(graph):
            if kind in ("partition", "replicate"):
                out += [(kind, {**args, "n": n}) for n in members]
            else:
                out.append((kind, args))
    return out


def touches(graph: Graph, kind: str, args: dict, stage: str) -> bool:
    """Whether a step acts on ``stage`` (by name, or on one of its operators)."""
    if args.get("stage") == stage:
        return True
    names = list(args.get("operators", [])) + [args.get("operator")]
    return any(graph.by_name(n) is not None and graph.by_name(n).location == stage
               for n in names if n)


def enumerate_points(graph: Graph, *, depth: int, members: Sequence[int], cpus: int,
                     bottleneck: Callable[[Graph], tuple[float, str]]) -> Enumeration:
    """Design points of up to ``depth`` steps (module doc); ``bottleneck(design)`` gives the
    model's predicted throughput and bottleneck stage of a design."""
    out = Enumeration()
    seen = {signature(graph)}
    frontier = [Candidate([], graph, design_point(graph))]
    for level in range(depth):
        ranked = frontier
        if level >= EXHAUSTIVE_DEPTH:
            ranked = sorted(frontier, key=lambda c: -bottleneck(c.design)[0])
        next_frontier, expanded = [], 0
        for cand in ranked:
            if level >= EXHAUSTIVE_DEPTH and expanded == BEAM:
                break
            found_before = len(next_frontier)
            focus = bottleneck(cand.design)[1] if level >= EXHAUSTIVE_DEPTH else None
            for kind, args in proposals(cand.graph, members):
                if focus is not None and not touches(cand.graph, kind, args, focus):
                    continue
                step = Step(kind, args)
                try:
                    after = STEP_KINDS[kind].apply(cand.graph, **args)
                except HydropyError as exc:
                    out.refused.append((cand.steps + [step], str(exc)))
                    continue
                sig = signature(after)
                if sig in seen:
                    continue
                seen.add(sig)
                if sum(after.members_of(s) for s in after.locations()) > cpus:
                    out.over_budget += 1
                    continue
                steps = cand.steps + [step]
                try:  # the whole plan again, through the one entry point targets use
                    design = design_point(graph, steps)
                except HydropyError as exc:
                    out.refused.append((steps, str(exc)))
                    continue
                found = Candidate(steps, after, design)
                out.points.append(found)
                next_frontier.append(found)
            expanded += len(next_frontier) > found_before
        frontier = next_frontier
    return out
