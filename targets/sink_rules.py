"""How a design's sinks compare with the single-node program's (the checker's criterion, part 2).

Singletons, keyed sinks and stream sinks compare exactly (streams as multisets; as sequences
where the single-node program orders them), with two relaxations, each named in the verdict
(:func:`sink_rules` finds them, :func:`compare` applies them):

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

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import networkx as nx

from hydropy.ir import STREAM, Graph
from hydropy.ir.ops import PER_RECORD

#: the prefix of the sink that gets a sink's records of non-repeating paths only
CLEAN = "\x00clean:"


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
    from .sim import may_duplicate  # sim imports the criterion: not at import time
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
    from .sim import may_duplicate
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
