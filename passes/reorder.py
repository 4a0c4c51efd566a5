"""Declaring that a channel's network may reorder messages (several paths, UDP), and with
``duplicates`` also deliver one twice (retries).

Mechanism: the channel's ``reorder`` (and ``duplicates``) parameter is set, so its collection
is no longer ordered (and is at-least-once): see :func:`hydropy.passes.stages.keeps_order`.
Nothing else changes: it states a fact about the deployment, which every later check holds
the design to. Precondition: the channel exists, and no lattice behind it needs in-order
delivery (bounded_prefix) or, with duplicates, exactly-once delivery (gcounter). A plain fold
behind it whose value may depend on the order of its records is refused when the design point
is complete (:func:`check_reordered_folds`, called by ``design_point``), so that a later step
of the same plan can first turn it into a lattice (the shopping cart's design points).
"""
from __future__ import annotations

import networkx as nx

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph
from hydropy.ir.ops import LATTICE_FOLDS, PLAIN_FOLDS

from .fold_algebra import why_fold_order_sensitive
from .stages import insert_channels


def reorder(graph: Graph, channel: str, duplicates: bool = False) -> Graph:
    """A copy of ``graph`` whose channel ``channel`` may deliver records in any order (and, with
    ``duplicates``, more than once)."""
    net = graph.by_name(channel)
    if net is None or net.kind != "network":
        known = ", ".join(n.name for n in graph.nodes() if n.kind == "network") or "none yet (decouple first)"
        raise RewriteRefused(f"no channel named '{channel}'; channels are: {known}")
    g = graph.copy()
    params = {**net.params, "reorder": True, **({"duplicates": True} if duplicates else {})}
    g.replace(net.copy(params=params))
    return insert_channels(g)


def check_reordered_folds(g: Graph) -> None:
    """Refuse a complete design point with a fold downstream of a channel declared to reorder
    whose value may depend on the order of its records (loops included): a plain fold whose
    function is not proven order-insensitive, or a lattice fold of a user lattice that breaks a
    law (:func:`~.fold_algebra.why_fold_order_sensitive`). Another reader may have seen the same
    records in the order they were sent, and no single-node run shows one input in two orders."""
    for net in (n for n in g.nodes() if n.kind == "network" and n.params.get("reorder")):
        for node in (g.node(i) for i in sorted(nx.descendants(g.nx, net.id))):
            if node.kind in PLAIN_FOLDS or node.kind in LATTICE_FOLDS:
                why = why_fold_order_sensitive(g, node)
                if why:
                    raise RewriteRefused(
                        f"{node.where()} would receive the records of channel '{net.name}' in any "
                        f"order, and its value may depend on that order: {why}", node.loc)
