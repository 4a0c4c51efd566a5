"""Declaring that a channel's network may reorder messages (several paths, retries, UDP).

Mechanism: the channel's ``reorder`` parameter is set, so its collection is no longer
ordered (:func:`hydropy.passes.stages.keeps_order`). Nothing else changes: it states a fact
about the deployment, which later checks hold the design to. Precondition: the channel exists,
and no operator behind it needs in-order delivery (a bounded_prefix lattice is refused here).
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph

from .stages import insert_channels


def reorder(graph: Graph, channel: str) -> Graph:
    """A copy of ``graph`` whose channel ``channel`` may deliver records in any order."""
    net = graph.by_name(channel)
    if net is None or net.kind != "network":
        known = ", ".join(n.name for n in graph.nodes() if n.kind == "network") or "none yet (decouple first)"
        raise RewriteRefused(f"no channel named '{channel}'; channels are: {known}")
    g = graph.copy()
    g.replace(net.copy(params={**net.params, "reorder": True}))
    return insert_channels(g)
