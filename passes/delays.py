"""The divergent-delay check: no timing-sensitive operator may see related records arrive
apart when the single-node program shows them together.

In the single-node program, every path from a record to an operator delivers within the same
tick (a ``cycle`` exactly one tick later). Across stages, a channel may delay a batch by any
number of ticks, and the members of a multi-member stage send independently. So records that
leave one node along two paths arrive at an ``anti_join`` / ``lookup`` / ``snapshot`` together
only when both paths cross the same channels, and do not split across the members of a stage
they then leave: two records routed to different members (a record and one derived from it
hash to different members, or are dealt round robin) are sent on by different senders, whose
batches are delayed independently. Paths are followed through loops (the edges into ``cycle``
nodes), since records fed back are read again too.
"""
from __future__ import annotations

import networkx as nx

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import SOURCES, TIMING_SENSITIVE

Paths = dict[int, dict[frozenset, tuple[int, ...]]]  # node -> {channels crossed: a witness path}


def check_no_divergent_delays(g: Graph) -> None:
    """Refuse when records of one node can reach a timing-sensitive operator along two paths
    that cross different channels, or the same channels through a stage whose members could
    split them (see module docstring). For the same reason, two timing-sensitive operators must
    see an input through the same channels: otherwise one can decide on its records ticks before
    the other, and the pair of answers is one the original never gives. A reader downstream of
    another sees the input only through the other's answers, so its delay is a later arrival the
    original could have had, as for any operator decoupled after a snapshot."""
    seen_by: dict[int, list[tuple[frozenset, Node]]] = {}  # input -> [(channels, reader)]
    for target in g.nodes():
        if target.kind not in TIMING_SENSITIVE:
            continue
        ancestors = nx.ancestors(g.nx, target.id)
        paths = _paths_by_channels(g, target, ancestors)
        for nid in _downstream_first(g, ancestors):
            _check_fork(g, target, nid, paths, ancestors)
        for nid in sorted(ancestors):
            origin = g.node(nid)
            if origin.kind not in SOURCES:
                continue
            channels = next(iter(paths[nid]))
            for seen, other in seen_by.setdefault(nid, []):
                if seen == channels or nx.has_path(g.nx, other.id, target.id) or \
                        nx.has_path(g.nx, target.id, other.id):
                    continue  # aligned, or target sees the input only as other's delayed answers
                raise RewriteRefused(
                    f"{other.kind} '{other.name}' and {target.kind} '{target.name}' would see the "
                    f"records of {origin.kind} '{origin.name}' through different channels, so one "
                    f"could act on them ticks before the other and together they could answer what "
                    f"the single-node program never answers; keep them in the same stage", target.loc)
            seen_by[nid].append((channels, target))


def _downstream_first(g: Graph, nodes: set[int]) -> list[int]:
    return list(reversed(list(nx.topological_sort(g.tick_dag().subgraph(nodes)))))


def _paths_by_channels(g: Graph, target: Node, ancestors: set[int]) -> Paths:
    """For each ancestor of ``target``, the channel sets of its paths to ``target`` (loops
    included: a fixpoint, as paths around a cycle are followed until they add nothing), each with
    one path that crosses exactly those channels."""
    relevant = ancestors | {target.id}
    paths: Paths = {target.id: {frozenset(): (target.id,)}}
    order = _downstream_first(g, ancestors)
    changed = True
    while changed:
        changed = False
        for nid in order:
            mine = paths.setdefault(nid, {})
            for child in sorted(set(g.nx.successors(nid)) & relevant):
                hop = {child} if g.node(child).kind == "network" else set()
                for channels, path in list(paths.get(child, {}).items()):
                    if channels | hop not in mine:
                        mine[channels | hop] = (nid, *path)
                        changed = True
    return paths


def _check_fork(g: Graph, target: Node, nid: int, paths: Paths, ancestors: set[int]) -> None:
    """Refuse when the paths from ``nid`` to ``target`` cross different channels, or when two
    of its readers lead there through the same channels but through a stage (not the target's)
    whose several members could each receive one of the two records and send it on alone."""
    mine = paths[nid]
    origin = g.node(nid)
    if len(mine) > 1:
        first, second = sorted(mine.values())[:2]
        raise RewriteRefused(
            f"{target.where()} would see records of {origin.kind} '{origin.name}' along paths "
            f"with different channels ({_show(g, first)}; {_show(g, second)}), so one side could "
            f"arrive ticks later than the other and {target.kind} could answer what the "
            f"single-node program never answers; keep those paths in the same stages", target.loc)
    (channels,) = mine
    splitting = sorted(g.node(c).location for c in channels
                       if g.members_of(g.node(c).location) > 1 and g.node(c).location != target.location)
    readers = sorted(set(g.nx.successors(nid)) & (ancestors | {target.id}))
    if not splitting or len(readers) < 2:
        return
    hop = {r: {r} if g.node(r).kind == "network" else set() for r in readers}
    witnesses = [(nid, *paths[r][channels - hop[r]]) for r in readers if channels - hop[r] in paths[r]]
    stage = splitting[0]
    raise RewriteRefused(
        f"{target.where()} would see records of {origin.kind} '{origin.name}' along paths "
        f"({_show(g, witnesses[0])}; {_show(g, witnesses[1])}) through stage '{stage}', whose "
        f"{g.members_of(stage)} members may each get one of two related records and send it on "
        f"independently, so one could arrive ticks later than the other and {target.kind} could "
        f"answer what the single-node program never answers; keep the fork and the stage's "
        f"exit together in one stage, or do not split that stage", target.loc)


def _show(g: Graph, path: tuple[int, ...]) -> str:
    return " -> ".join(g.node(i).name for i in path)
