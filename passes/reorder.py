"""Declaring that a channel's network may reorder messages (several paths, UDP), and with
``duplicates`` also deliver one twice (retries).

Mechanism: the channel's ``reorder`` (and ``duplicates``) parameter is set, so its collection
is no longer ordered (and is at-least-once): see :func:`hydropy.passes.stages.keeps_order`.
Nothing else changes: it states a fact about the deployment, which every later check holds
the design to. Precondition: the channel exists, and no lattice behind it needs in-order
delivery (bounded_prefix) or, with duplicates, exactly-once delivery (gcounter).
"""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph

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
