"""Functional dependencies discovered in user functions: which output positions are copies
or functions of which input positions (partitioning through a dependency x -> f(x))."""
from __future__ import annotations

from dataclasses import dataclass

from hydropy.ir import Graph

from . import lineage as L
from .lineage import Const, Path


@dataclass(frozen=True)
class Dependency:
    """Output position ``out`` of a function is ``copy`` of the input at ``inputs[0]``, a
    ``function`` of the inputs at ``inputs``, or a ``const``."""

    out: Path
    kind: str
    inputs: tuple[Path, ...]


def functional_dependencies(graph: Graph) -> dict[int, tuple[Dependency, ...]]:
    """Per map / filter_map / flat_map node: its known output positions and what they are a
    function of (paths relative to the function's input). Unknown positions are left out."""
    out = {}
    for node in graph.nodes():
        lin = L.node_lineage(node)
        if lin is None:
            continue
        deps = []
        for path, value in lin.positions():
            if isinstance(value, L.Field):
                deps.append(Dependency(path, "copy", (value.path,)))
            elif isinstance(value, L.Derived):
                deps.append(Dependency(path, "function", tuple(sorted(value.deps))))
            elif isinstance(value, Const):
                deps.append(Dependency(path, "const", ()))
        out[node.id] = tuple(deps)
    return out
