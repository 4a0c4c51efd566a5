"""Combining before the shuffle: a keyed fold's values pre-aggregated per key before its channel.

Mechanism: the keyed fold ``F`` (fold_keyed or reduce_keyed) reads a channel from stage ``P``.
A ``partial_fold_keyed`` / ``partial_reduce_keyed`` operator (the *combiner*, named
``<F>_combined``) is put in ``P`` between the channel and what it carried: each tick it folds
the values of each key with F's own functions and emits one ``(key, partial)`` pair per key
that had values, keeping nothing across ticks. The channel then carries those pairs (routed by
the same key as before), and ``F`` folds them as it folded the values. A partitioned word count
ships one record per distinct word and sending member per tick instead of one per word.

Invariant: F's value per key after each tick is unchanged, and so is the set of keys whose
value it emits in that tick: F's merge is associative and commutative with ``init()`` its
identity, so folding a key's values in groups (each member's, each tick's) and then folding
the groups gives the value of folding them one by one in any order.

Precondition, checked first: ``F`` is a fold_keyed or reduce_keyed whose function is provably
associative and commutative on its values (:func:`.fold_algebra.why_not_commutative`: ``a + b``
over integers from an ``init()`` of integer 0, ``max`` / ``min`` over integers; element types
from declared dtypes or literal in the code, :func:`.fold_algebra.element_type`: float ``+``
and unknown types are refused); ``F`` reads a channel (its records cross stages) that carries
nothing but F's records.
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import SPECS, output_collection

from .delays import check_no_divergent_delays
from .fold_algebra import element_type, why_not_commutative

#: keyed folds combine pre-aggregates, and the per-tick partial each gets before its channel
COMBINER = {k: spec.combiner for k, spec in SPECS.items() if spec.combiner}


def combine(graph: Graph, operator: str) -> Graph:
    """A copy of ``graph`` with a combiner for the keyed fold ``operator`` before its channel
    (see module docstring)."""
    g = graph.copy()
    node = g.by_name(operator)
    if node is None:
        folds = ", ".join(n.name for n in g.nodes() if n.kind in COMBINER) or "none"
        raise RewriteRefused(f"no operator named '{operator}'; keyed folds are: {folds}")
    if node.kind not in COMBINER:
        raise RewriteRefused(f"{node.where()} is not a keyed fold; combine pre-aggregates "
                             f"fold_keyed and reduce_keyed", node.loc)
    channel = g.node(node.inputs[0])
    if channel.kind != "network":
        raise RewriteRefused(f"{node.where()} reads no channel (its records do not cross stages), "
                             f"so there is nothing to combine; decouple it first", node.loc)
    others = [c for c in g.consumers(channel.id) if c.id != node.id]
    if others:
        raise RewriteRefused(f"the channel into {node.where()} also carries records for "
                             f"{others[0].where()}, which needs them one by one", node.loc)
    why = why_not_commutative(node, element_type(g, node))
    if why:
        raise RewriteRefused(f"{node.where()} cannot be combined before its channel: {why}", node.loc)
    sender = g.node(channel.inputs[0])
    kind = COMBINER[node.kind]
    partial = Node(g.fresh_id(), kind, g.fresh_name(f"{node.name}_combined"), channel.inputs,
                   dict(node.params), node.fns, node.loc, output_collection(kind, (sender.coll,)),
                   sender.location)
    g.add(partial)
    g.replace(channel.copy(inputs=(partial.id,), coll=output_collection("network", (partial.coll,))))
    check_no_divergent_delays(g)
    return g

