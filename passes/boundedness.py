"""Boundedness: a plain fold of an unbounded input has no final value, so reading it
before its input ends observes an intermediate value that depends on arrival order."""
from __future__ import annotations

from hydropy.ir import KEYED, SINGLETON, Graph, Node
from hydropy.ir.ops import PLAIN_FOLDS

from .monotonicity import Finding, op_label


def _readers(graph: Graph, node: Node) -> list[Node]:
    """The operators that observe ``node``'s value, looking through maps of it and forwards."""
    out = []
    for c in graph.consumers(node.id):
        if c.spec.family == "per_record" and c.coll is not None and c.coll.kind in (SINGLETON, KEYED):
            out += _readers(graph, c)
        else:
            out.append(c)
    return out


def boundedness(graph: Graph) -> list[Finding]:
    """Plain folds of an unbounded input that something other than a sink reads.

    Such a fold has no final value, so every reading of it is an intermediate one; a
    lattice fold is never flagged (its values only grow)."""
    out = []
    for node in graph.nodes():
        if node.kind not in PLAIN_FOLDS:
            continue
        src = graph.node(node.inputs[0])
        if src.coll.bounded:
            continue
        readers = [r for r in _readers(graph, node) if r.kind != "sink"]
        if not readers:
            continue
        reason = (f"{op_label(node)} folds the unbounded stream '{src.name}' and is read by "
                  f"{', '.join(op_label(r) for r in readers)}: its value is never final")
        hint = ("fold into a lattice (e.g. Max, SetUnion, GCounter) whose values only grow, or "
                "show the fold only through a sink")
        out.append(Finding(node.id, node.kind, node.name, node.loc, reason, hint))
    return out
