"""Enumerating design points: the plans whose every step the passes accept for a program.

Data-driven: each plan step kind may register a *proposer* (``graph -> list of argument
dicts``) that suggests arguments worth trying on a graph; :func:`candidate_plans` applies
every proposal to the single-node program and to every accepted plan, breadth first, up to
``depth`` steps, keeping each distinct design point once. A proposal whose precondition
fails is skipped and counted. Proposals stay few per graph, so a program of ten operators
yields tens of plans, not thousands.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import networkx as nx

from hydropy.errors import HydropyError
from hydropy.ir import MAIN, Graph
from hydropy.ir.ops import PLACED

from .lattice import SEQUENCES
from .plan import STEP_KINDS, Step

#: step kind -> function proposing argument dicts for that step on a graph
PROPOSERS: dict[str, Callable[[Graph], list[dict]]] = {}


def register_proposer(step: str, propose: Callable[[Graph], list[dict]]) -> None:
    PROPOSERS[step] = propose


def _movable(graph: Graph, stage: str) -> list[int]:
    return [n.id for n in graph.nodes() if n.location == stage and n.kind not in PLACED]


def propose_decouple(graph: Graph) -> list[dict]:
    """On a one-stage program: move a maximal group to a second stage, either an operator with
    everything downstream of it, or an operator with everything upstream of it."""
    if len(graph.locations()) > 1:
        return []
    dag = graph.tick_dag()
    movable = set(_movable(graph, MAIN))
    groups: dict[frozenset[int], None] = {}
    for nid in sorted(movable):
        for closure in (nx.descendants(dag, nid), nx.ancestors(dag, nid)):
            group = frozenset(({nid} | closure) & movable)
            if group != movable:
                groups.setdefault(group, None)
    return [{"operators": [graph.node(i).name for i in sorted(g)], "to": "stage2"} for g in groups]


def propose_members(graph: Graph) -> list[dict]:
    """Each single-member stage, with two members."""
    return [{"stage": s, "n": 2} for s in graph.locations() if graph.members_of(s) == 1]


def propose_split_fold(graph: Graph) -> list[dict]:
    """Each global fold of a single-member stage, its final merge in a stage of its own."""
    stage = next(f"merge{k or ''}" for k in range(len(graph) + 2)
                 if f"merge{k or ''}" not in graph.locations())
    return [{"operator": n.name, "to": stage} for n in graph.nodes()
            if n.spec.partial is not None and graph.members_of(n.location) == 1]


def propose_lattice(graph: Graph) -> list[dict]:
    """Each count or fold as the lattices that need no index (the others need the program's
    position field, which only its author knows)."""
    return [{"operator": n.name, "as": kind} for n in graph.nodes()
            for kind in n.spec.lattices if kind not in SEQUENCES]


register_proposer("decouple", propose_decouple)
register_proposer("partition", propose_members)
register_proposer("replicate", propose_members)
register_proposer("split_fold", propose_split_fold)
register_proposer("lattice", propose_lattice)


@dataclass
class Exploration:
    """Accepted plans with the design point each yields, and how many proposals were refused."""

    plans: list[tuple[list[Step], Graph]] = field(default_factory=list)
    refused: int = 0
    refusals: list[tuple[str, str]] = field(default_factory=list)   # (step kind, message)


def signature(graph: Graph) -> tuple:
    """What tells two design points apart: operator kinds, placement, members and routing."""
    return (tuple((n.name, n.kind, n.location, n.params.get("routing"), str(n.params.get("key")))
                  for n in graph.nodes() if n.kind != "network"),
            tuple(sorted(graph.members.items())))


def candidate_plans(graph: Graph, depth: int = 2) -> Exploration:
    """Every plan of at most ``depth`` proposed steps that the passes accept (see module doc)."""
    out = Exploration()
    seen = {signature(graph)}
    frontier: list[tuple[list[Step], Graph]] = [([], graph)]
    for _ in range(depth):
        next_frontier = []
        for steps, g in frontier:
            for kind, propose in PROPOSERS.items():
                if kind not in STEP_KINDS:
                    continue
                for args in propose(g):
                    try:
                        result = STEP_KINDS[kind].apply(g, **args)
                    except HydropyError as err:
                        out.refused += 1
                        out.refusals.append((kind, str(err)))
                        continue
                    sig = signature(result)
                    if sig in seen:
                        continue
                    seen.add(sig)
                    plan = steps + [Step(kind, args)]
                    out.plans.append((plan, result))
                    next_frontier.append((plan, result))
        frontier = next_frontier
    return out
