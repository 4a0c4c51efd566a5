"""Where records enter and leave the stages of a design point, as the simulator and its
criterion see them: entries (sources, incoming channels, loops) and their names, outgoing
channels, which channels may deliver twice, and which stages lose nothing by restarting."""
from __future__ import annotations

from hydropy.ir import AT_LEAST_ONCE, Graph, Node
from hydropy.ir.ops import ENTRIES


def channel_input(net: Node) -> str:
    return f"channel:{net.name}"


def may_duplicate(net: Node) -> bool:
    """A channel may deliver a batch twice: declared so (``reorder`` with ``duplicates``), or its
    collection is at-least-once."""
    return bool(net.params.get("duplicates")) or net.coll.retry == AT_LEAST_ONCE


def outgoing(graph: Graph, stage: str) -> list[Node]:
    return [n for n in graph.nodes() if n.kind == "network" and n.location != stage
            and graph.node(n.inputs[0]).location == stage]


def entries(graph: Graph, stage: str) -> list[Node]:
    """Where records enter ``stage``: its sources, incoming channels and loops."""
    return [n for n in graph.nodes() if n.location == stage and (n.kind in ENTRIES or n.spec.family == "loop")]


def entry_name(node: Node) -> str:
    if node.kind == "source":
        return node.params["name"]
    return channel_input(node) if node.kind == "network" else f"cycle:{node.name}"


def survives_restart(graph: Graph, stage: str) -> bool:
    """A member of ``stage`` loses nothing by restarting: no operator keeps state, no loop
    holds records, no literal source would emit again."""
    return all(not n.spec.stateful and n.spec.family != "loop" and n.kind != "source_iter"
               for n in graph.nodes() if n.location == stage)

