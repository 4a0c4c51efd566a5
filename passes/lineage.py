"""Key lineage of user functions and of the operators that hold them, read from their AST.

Which input positions end up where in an operator's output records: ``node_lineage(node)`` for
a map, filter_map, flat_map or fused chain, ``key_of_output(node)`` for the key position. The
abstract values (:class:`Field`, :class:`Const`, :class:`Derived`, :class:`Record`,
:class:`Unknown`) and :class:`Lineage` are in :mod:`.lineage_values`; reading a function's body
in :mod:`.function_reader`; which calls are deterministic in :mod:`.determinism`. The names are
re-exported here, the one place other passes import them from.
"""
from __future__ import annotations

from hydropy.ir import Node, UserFn
from hydropy.ir.ops import PASSES_RECORDS

from .function_reader import read_lineage
from .lineage_values import (Const, Derived, Field, Lineage, Path, Record, Unknown, Value, at, deps,
                             derived, first_unknown, merge, substitute)

__all__ = ["Const", "Derived", "Field", "Lineage", "Path", "Record", "Unknown", "Value", "at", "deps",
           "derived", "first_unknown", "merge", "substitute", "output_lineage", "element_lineage",
           "node_lineage", "key_of_output", "PASS_THROUGH"]


def output_lineage(fn: UserFn, arity: int = 1, *, skip_none: bool = False) -> Lineage:
    """The lineage of ``fn``'s return value; ``skip_none`` ignores ``return None`` (filter_map)."""
    return read_lineage(fn, arity, "none" if skip_none else "value")


def element_lineage(fn: UserFn) -> Lineage:
    """The lineage of each element of the iterable ``fn`` returns (flat_map).

    Followed when every return is a tuple/list/set display or a comprehension; the
    variable of a comprehension over an input is Unknown (an element is not a function of
    its collection)."""
    return read_lineage(fn, 1, "elements")


def node_lineage(node: Node) -> Lineage | None:
    """The lineage of a map (of a stream or singleton), filter_map, flat_map or fused node's
    output records; None for other kinds. A fused chain's lineage composes its steps' (filter and inspect pass records on)."""
    if node.kind == "fused":
        value: Value = Field(())
        for (kind, _), fn in zip(node.params["steps"], node.fns):
            step = {"map": lambda f: output_lineage(f, 1),
                    "filter_map": lambda f: output_lineage(f, 1, skip_none=True),
                    "flat_map": element_lineage}.get(kind)
            if step is not None:
                value = substitute(step(fn).value, value)
        return Lineage(value, 1, ("x",))
    if node.kind == "map" and node.coll is not None and node.coll.kind == "keyed":
        return None  # fn maps each key's value, not records
    if node.kind == "map":
        return output_lineage(node.fn(), 1)
    if node.kind == "filter_map":
        return output_lineage(node.fn(), 1, skip_none=True)
    if node.kind == "flat_map":
        return element_lineage(node.fn())
    return None


#: operators whose output records are (some of) their first input's records, unchanged
PASS_THROUGH = PASSES_RECORDS


def key_of_output(node: Node) -> Path | None:
    """The input path that ends up in the key position ``(0,)`` of ``node``'s output records.

    For map / filter_map / flat_map, read from the function; for operators that pass
    records through (filter, inspect, unique, forward, anti_join), ``(0,)``; else None."""
    if node.kind in PASS_THROUGH:
        return (0,)
    lineage = node_lineage(node)
    return lineage.input_path((0,)) if lineage is not None else None
