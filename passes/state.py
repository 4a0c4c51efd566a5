"""The state each stage holds: per stateful operator, what it keeps, the key it is kept by
(None: global) and whether it is a lattice (merges in any order)."""
from __future__ import annotations

from dataclasses import dataclass

from hydropy.ir import Graph, SourceLoc
from hydropy.ir.ops import LATTICE_FOLDS

from .lineage import Path
from .keys import KeyInfo, RecordLineage, state_key_of


@dataclass(frozen=True)
class StateEntry:
    """One stateful operator: what it holds, which key it is kept by (None: global), and
    whether its state is a lattice (merges in any order)."""

    node: int
    kind: str
    name: str
    loc: SourceLoc | None
    holds: str
    keyed_by: Path | None
    key: KeyInfo | None
    lattice: bool

    @property
    def where(self) -> str:
        return f"{self.kind} '{self.name}'" + (f" ({self.loc.short})" if self.loc else "")


def state_inventory(graph: Graph) -> dict[str, list[StateEntry]]:
    """Per stage (every stage of the graph, in order), its stateful operators in graph order."""
    rec = RecordLineage(graph)
    out: dict[str, list[StateEntry]] = {stage: [] for stage in graph.locations()}
    for node in graph.nodes():
        if not node.spec.stateful:
            continue
        lattice = node.kind in LATTICE_FOLDS
        holds = node.spec.holds
        if lattice:
            holds += f" ({node.params['lattice'].__name__} lattice)"
        out[node.location].append(StateEntry(
            node.id, node.kind, node.name, node.loc, holds, dict(node.spec.state_key).get(0),
            state_key_of(graph, rec, node), lattice))
    return out
