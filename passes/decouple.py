"""Decoupling: move operators to another stage, with channels on the edges the move cuts.

Mechanism: the moved operators run in stage ``to``; each edge between stages becomes a
``network`` node that sends its records, one batch per tick, FIFO per sender.

Precondition (checked before anything is returned): the operators exist and are not sinks
or channels; the cut crosses only streams (a fold's state is read where it lives) and no
loop; no new channel enters a partitioned or replicated stage (its routing is chosen by
partition or replicate, so decouple first); and no anti_join, lookup or snapshot could see
two related inputs delayed differently (the one way a channel's delay can produce an answer
the single-node program cannot). Moving a stateless part is functional decoupling; moving a
monotone part is monotonic decoupling; parts that share nothing are mutually independent:
all three keep the sinks because every path from an origin to a timing-sensitive reader
stays aligned.
"""
from __future__ import annotations

import re

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph
from hydropy.ir.ops import PLACED

from .delays import check_no_divergent_delays
from .stages import insert_channels

STAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_stage_name(stage: str) -> str:
    if not isinstance(stage, str) or not STAGE_NAME.fullmatch(stage):
        raise RewriteRefused(f"stage name {stage!r} must be a Python identifier (it names a file and a class)")
    return stage


def decouple(graph: Graph, operators: list[str], to: str) -> Graph:
    """A copy of ``graph`` with ``operators`` in stage ``to`` and channels where the move cuts."""
    check_stage_name(to)
    if not operators:
        raise RewriteRefused("decouple needs at least one operator to move")
    g = graph.copy()
    for name in operators:
        if not isinstance(name, str):
            raise RewriteRefused(f"operator name {name!r} is not a string (YAML reads unquoted "
                                 f"yes, no, on and off as booleans: quote such names)")
        node = g.by_name(name)
        if node is None:
            known = ", ".join(n.name for n in g.nodes() if n.kind not in PLACED)
            raise RewriteRefused(f"no operator named '{name}'; operators are: {known}")
        if node.kind in PLACED:
            raise RewriteRefused(f"{node.where()} cannot be moved by name: sinks follow the "
                                 f"collection they show, channels are placed by hydropy", node.loc)
        g.replace(node.copy(location=to))
    g = insert_channels(g)
    check_channels_routed(g)
    check_no_divergent_delays(g)
    return g


def check_channels_routed(g: Graph) -> None:
    """Every channel into a stage of several members has the routing partition or replicate
    chose for it (a new one would be ``direct``: all records to one member, away from the
    member that holds their key's state or the replicas that need every write)."""
    for net in g.nodes():
        crowded = g.members_of(net.location)
        if net.kind == "network" and net.params["routing"] == "direct" and crowded > 1:
            raise RewriteRefused(f"the channel '{net.name}' would enter stage '{net.location}', which "
                                 f"has {crowded} members, without a routing (all records to one "
                                 f"member); decouple before partitioning or replicating", net.loc)
