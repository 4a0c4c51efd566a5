"""The analyses as one report a person reads (``hydropy explain --analysis``): monotonicity,
points of order, boundedness, keys and state, each computed by its own module."""
from __future__ import annotations

from hydropy.ir import Graph
from hydropy.ir.ops import PARTIALS, PLAIN_FOLDS

from . import lineage as L
from .boundedness import Finding, boundedness
from .dependencies import Dependency, functional_dependencies
from .keys import KeyInfo, KeyOrigin, RecordLineage, state_key_of, key_lineage, record_lineage
from .monotonicity import PointOfOrder, channel_inputs, op_label, monotonicity, points_of_order
from .state import StateEntry, state_inventory

__all__ = ["Dependency", "Finding", "KeyInfo", "KeyOrigin", "PointOfOrder", "StateEntry",
           "boundedness", "functional_dependencies", "key_lineage", "monotonicity",
           "points_of_order", "record_lineage", "report", "state_inventory"]


def report(graph: Graph) -> str:
    """The analyses as text a person reads: sections Monotonicity, Points of order,
    Boundedness, Keys and State; operators named with ``basename:line``."""
    rec = RecordLineage(graph)
    labels = monotonicity(graph)
    lines = [f"analysis of flow '{graph.name}'", "",
             "Monotonicity (M monotone, N non-monotone, A asynchronous input)"]
    for node in graph.nodes():
        if node.id not in labels:
            continue
        label = labels[node.id]
        note = node.spec.order_note
        if label == "A" and node.kind != "source":
            note = "reads a channel from stage " + ", ".join(
                f"'{s.location}'" for s in channel_inputs(graph, node))
        elif label == "N" and not note:
            note = ("a plain fold: its intermediate values depend on arrival order"
                    if node.kind in PLAIN_FOLDS else
                    "a partial aggregate of each tick, folded only by its final merge"
                    if node.kind in PARTIALS else "not monotone")
        lines.append(f"  {label}  {op_label(node)}" + (f": {note}" if note else ""))

    lines += ["", "Points of order"]
    pos = points_of_order(graph)
    for p in pos:
        lines.append(f"  {p.reason}")
        lines.append(f"    what to do: {p.hint}")
    if not pos:
        lines.append("  none: no non-monotone operator is reached by an asynchronous input")

    lines += ["", "Boundedness"]
    bounded = boundedness(graph)
    for f in bounded:
        lines.append(f"  {f.reason}")
        lines.append(f"    what to do: {f.hint}")
    if not bounded:
        lines.append("  none: no plain fold of an unbounded input is read before its input ends")

    lines += ["", "Keys"]
    start = len(lines)
    keyed = [(n, state_key_of(graph, rec, n)) for n in graph.nodes()
             if n.spec.keyed_inputs or n.kind == "unique"]
    for node, info in keyed:
        lines.append(f"  {op_label(node)}: keyed by {info.describe()}")
        lines += [f"    lineage stops at {n}" for n in info.notes()]
    for node in graph.nodes():
        lin = L.node_lineage(node)
        if lin is None:
            continue
        what = "each element" if node.kind == "flat_map" else "output"
        lines.append(f"  {op_label(node)}: {what} = {lin}")
        for path, why in lin.unknowns():
            lines.append(f"    ?{' at output' + ''.join(f'[{i}]' for i in path) if path else ''}: "
                         f"{node.fn().label} {why}")
    if len(lines) == start:
        lines.append("  none: no keyed operator and no user function on records")

    lines += ["", "State"]
    for stage, entries in state_inventory(graph).items():
        lines.append(f"  stage {stage}:")
        for e in entries:
            key = f"keyed by {e.key.describe()}" if e.key is not None else "global (no key)"
            lines.append(f"    {e.where}: {e.holds}; {key}")
        if not entries:
            lines.append("    stateless")
    return "\n".join(lines) + "\n"


def report_data(graph: Graph) -> dict:
    """The same analyses as data (``explain --format json --analysis``): labels per operator,
    points of order and boundedness findings, and the state of each stage."""
    def finding(f) -> dict:
        return {"operator": f.name, "kind": f.kind, "at": str(f.loc) if f.loc else None,
                "reason": f.reason, "hint": f.hint, **({"causes": list(f.causes)}
                                                      if isinstance(f, PointOfOrder) else {})}
    names = {n.id: n.name for n in graph.nodes()}
    return {
        "monotonicity": {names[i]: label for i, label in monotonicity(graph).items()},
        "points_of_order": [finding(p) for p in points_of_order(graph)],
        "boundedness": [finding(f) for f in boundedness(graph)],
        "state": {stage: [{"operator": e.name, "kind": e.kind, "holds": e.holds,
                           "key": e.key.describe() if e.key is not None else None,
                           "lattice": e.lattice} for e in entries]
                  for stage, entries in state_inventory(graph).items()},
    }

