"""Fusing a chain of stateless operators into one ``fused`` node.

Mechanism: ``a -> b -> c`` (each reading only the previous, in one stage) becomes one node
that applies their functions in order, named after the last operator (whose records it
produces; later plan steps can name it so) and placed where the chain was. Each step keeps its
operator's ``kind 'name' (file:line)`` so errors still point at the user's line. The records
the chain produces, and their order, are unchanged: every step is stateless.

Precondition, checked first: at least two operators; each is a map, filter, flat_map,
filter_map or inspect of a stream (a chain already fused counts as its steps); each after the
first reads exactly the one before it, in the same stage (not over a channel), and nothing
else reads the one before it.
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import STREAM, Graph, Node
from hydropy.ir.ops import FUSIBLE


def fuse(graph: Graph, operators: list[str]) -> Graph:
    """A copy of ``graph`` with the chain ``operators`` (in data-flow order) in one ``fused`` node."""
    if not isinstance(operators, list) or len(operators) < 2:
        raise RewriteRefused("fuse needs a chain of at least two operators, listed in data-flow order")
    chain: list[Node] = []
    for name in operators:
        node = graph.by_name(name)
        if node is None:
            raise RewriteRefused(f"no operator named '{name}'")
        check_stateless(graph, node)
        if chain:
            check_link(graph, chain[-1], node)
        chain.append(node)

    steps, fns = [], []
    for node in chain:
        if node.kind == "fused":
            steps += node.params["steps"]
        else:
            steps.append((node.kind, node.where(short=True)))
        fns += node.fns
    last = chain[-1]
    g = graph.copy()
    for node in chain[:-1]:
        g.remove(node.id)
    g.replace(last.copy(kind="fused", inputs=chain[0].inputs, params={"steps": tuple(steps)},
                        fns=tuple(fns)))
    return g  # verified by apply_plan: an invalid graph here is hydropy's bug (PassFailed)


def check_stateless(graph: Graph, node: Node) -> None:
    """``node`` acts on each record of a stream alone (or is a fused chain of such steps)."""
    stateless = node.kind == "fused" or (node.kind in FUSIBLE and
                                         graph.node(node.inputs[0]).coll.kind == STREAM)
    if not stateless:
        what = "keeps state" if node.spec.stateful else "is not a stateless operator of a stream"
        raise RewriteRefused(f"{node.kind} '{node.name}' {what}; only map, filter, flat_map, filter_map "
                             f"and inspect of a stream fuse", node.loc)


def check_link(graph: Graph, prev: Node, node: Node) -> None:
    """``node`` reads ``prev`` alone, in the same stage, and nothing else reads ``prev``: the
    fused node can apply the two in order without hiding a record from anyone."""
    via = graph.node(node.inputs[0])
    if via.kind == "network" and via.inputs == (prev.id,):
        raise RewriteRefused(f"{node.kind} '{node.name}' runs in stage '{node.location}', "
                             f"'{prev.name}' in '{prev.location}'; a fused chain runs in one "
                             f"stage", node.loc)
    if node.inputs != (prev.id,):
        raise RewriteRefused(f"{node.kind} '{node.name}' does not read '{prev.name}' alone, so the two "
                             f"are not a chain", node.loc)
    readers = [c.name for c in graph.consumers(prev.id) if c.id != node.id]
    if readers:
        raise RewriteRefused(f"{prev.kind} '{prev.name}' also feeds '{readers[0]}'; fusing would hide "
                             f"its records from it", prev.loc)
