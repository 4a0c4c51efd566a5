"""Routing keys checked against what is known of the records they route: a declared tuple
dtype, or a tuple built by a function hydropy can read (lineage). Where the shape is not
known, a record without the field fails at run time naming its channel."""
from __future__ import annotations

from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import ENTRIES

from .lineage import PASS_THROUGH, Const, Record, Unknown, Value, node_lineage, substitute


def check_route_keys(graph: Graph) -> None:
    """Refuse a hash routing whose key path leaves the records where their shape is known
    (a declared tuple dtype, or a tuple built by a function hydropy can read); elsewhere a
    record without the field fails at run time naming its channel."""
    for node in graph.nodes():
        key = node.params.get("key") if node.kind in ENTRIES else None
        if node.params.get("routing") == "hash" and key is not None:
            check_key_fits(graph, node, tuple(key))


def check_key_fits(graph: Graph, entry: Node, key: tuple[int, ...]) -> None:
    """Refuse routing the records entering at ``entry`` (a source or channel) by ``key`` when
    their known shape has no such field."""
    shape = record_shape(graph, entry.inputs[0]) if entry.kind == "network" else \
        _dtype_shape(entry.coll.dtype if entry.coll else None)
    problem = _missing_field(shape, key)
    if problem:
        raise RewriteRefused(f"routing key {list(key)} of '{entry.name}' is beyond its records: "
                             f"{problem}", entry.loc)


def record_shape(graph: Graph, nid: int, depth: int = 0) -> Value:
    """What the records of node ``nid`` are made of, as far as hydropy can tell (a lineage
    value in terms of nothing known: Unknown leaves)."""
    node = graph.node(nid)
    if depth > 200:
        return Unknown("too deep")
    if node.kind == "source":
        return _dtype_shape(node.coll.dtype if node.coll else None)
    if node.kind in PASS_THROUGH:
        return record_shape(graph, node.inputs[0], depth + 1)
    if node.kind == "join":
        return Record((Unknown("key"), Record((Unknown("left"), Unknown("right")))))
    lineage = node_lineage(node)
    if lineage is None:
        return Unknown(f"a {node.kind}")
    return substitute(lineage.value, record_shape(graph, node.inputs[0], depth + 1))


def _dtype_shape(dtype: str | None) -> Value:
    if dtype and dtype.startswith("("):
        return Record(tuple(Const(0) for _ in dtype[1:-1].split(",")))
    if dtype:
        return Const(0)  # a number (int64, float64, bool): it has no fields
    return Unknown("no declared type")


def _missing_field(shape: Value, key: tuple[int, ...]) -> str | None:
    for depth, i in enumerate(key):
        if isinstance(shape, Record):
            if i >= len(shape.items):
                width = len(shape.items)
                return (f"they are {width}-tuples (key index {i} is beyond the records' width {width})"
                        if depth == 0 else f"field {list(key[:depth])} is a {width}-tuple (key index "
                        f"{i} is beyond its width {width})")
            shape = shape.items[i]
        elif isinstance(shape, Const) and not isinstance(shape.value, (tuple, list, str, bytes)):
            return f"{'they are scalars' if depth == 0 else f'field {list(key[:depth])} is a scalar'}" \
                   f", which has no fields"
        else:
            return None
    return None
