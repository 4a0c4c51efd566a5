"""Threshold reads of a lattice (Keep CALM and CRDT On, VLDB 2023): reading a growing value
only through a test that, once true, stays true as the value grows.

A snapshot of a lattice fold is read safely when each of its readers is a ``filter`` whose
function is a threshold on the lattice's revealed value, and every path after the filter
passes stateless operators only until a ``unique``: the set of records that ever pass is
then the same whatever the tick split (the snapshot repeats values every tick; ``unique``
keeps each once). A threshold is ``V >= c`` or ``V > c`` (``c <= V``, ``c < V``) where ``V``
only grows with the lattice order, or ``<=`` / ``<`` where it only shrinks, and ``c`` is a
literal or a module-level number; ``V`` is ``x.reveal()`` of the function's argument ``x``
(``x[1].reveal()`` for a keyed snapshot's ``(key, value)``), or ``len(...)`` of a set's. The
test may be guarded by ``V is not None and ...`` (an empty Max reveals None): false at bottom,
the bound above it, so still a threshold.
"""
from __future__ import annotations

import ast
from numbers import Number

from hydropy.ir import KEYED, Graph, Node
from hydropy.ir.ops import PER_RECORD, kinds
from hydropy.lattices import Bool, GCounter, Max, Min, SetUnion

from .lineage import Field, Value, at, deps, derived, node_lineage, output_lineage, substitute
from .udf import global_value, returned_expression

#: lattice -> how ``reveal()`` moves as the lattice grows ("up", "down"), or via len() for sets
_DIRECTION = {Max: "up", GCounter: "up", Bool: "up", Min: "down", SetUnion: "len"}
_UP = {ast.GtE: "up", ast.Gt: "up", ast.LtE: "down", ast.Lt: "down"}
_FLIP = {ast.GtE: ast.LtE, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.Lt: ast.Gt}
PASS_ON = (PER_RECORD | kinds(family="channel")) - {"fused"}


def why_not_threshold(graph: Graph, reader: Node, fold: Node) -> str:
    """Why ``reader`` (a consumer of a snapshot of ``fold``) is not a safe threshold read;
    "" when it is."""
    if reader.kind != "filter":
        return f"{reader.kind} '{reader.name}' reads every value, not a threshold"
    return _why_not_bound(reader, fold) or \
        _why_not_deduplicated(graph, reader, fold, reader, Field(()), fold.coll.kind == KEYED)


def _why_not_bound(reader: Node, fold: Node) -> str:
    """Why filter ``reader``'s function is not a threshold on ``fold``'s revealed value ("" when
    it is): once true for a value, true for every larger one."""
    direction = _DIRECTION.get(fold.params.get("lattice"))
    if direction is None:
        return (f"filter '{reader.name}' reads a {fold.params['lattice'].__name__}, whose revealed "
                f"value does not only grow")
    fn = reader.fn().obj
    found = returned_expression(fn)
    if found is None or len(found[0]) != 1:
        return f"filter '{reader.name}' is not a single comparison hydropy can read"
    (param,), body = found
    keyed = fold.coll.kind == KEYED
    body = _past_none_guard(fn, body, param, keyed)
    if fold.params.get("lattice") is Bool and _reads_value(fn, body, param, keyed, False):
        return ""  # a Bool is True from some point on: the test ``V`` is its only threshold
    if not (isinstance(body, ast.Compare) and len(body.ops) == 1):
        return f"filter '{reader.name}' is not a single comparison with a bound"
    left, op, right = body.left, type(body.ops[0]), body.comparators[0]
    if _is_bound(fn, left):
        left, right, op = right, left, _FLIP.get(op, op)
    if op not in _UP or not _is_bound(fn, right) or \
            not _reads_value(fn, left, param, keyed, direction == "len"):
        return (f"filter '{reader.name}' compares with {_symbol(body.ops[0])}, which can turn "
                f"false again as the value grows" if isinstance(body.ops[0], (ast.Eq, ast.NotEq))
                else f"filter '{reader.name}' is not a bound on the revealed value")
    if _UP[op] != ("up" if direction == "len" else direction):
        return f"filter '{reader.name}' bounds the value from the side it grows towards"
    return ""


def _past_none_guard(fn, body: ast.expr, param: str, keyed: bool) -> ast.expr:
    """The comparison of ``V is not None and <comparison>`` (false on an empty Max / Min, whose
    revealed value is None, and the comparison otherwise: still a threshold); else ``body``."""
    if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) and len(body.values) == 2:
        guard, rest = body.values
        if isinstance(guard, ast.Compare) and len(guard.ops) == 1 and \
                isinstance(guard.ops[0], ast.IsNot) and isinstance(guard.comparators[0], ast.Constant) \
                and guard.comparators[0].value is None and _reads_value(fn, guard.left, param, keyed, False):
            return rest
    return body


def _symbol(op: ast.cmpop) -> str:
    return {ast.Eq: "==", ast.NotEq: "!="}[type(op)]


def _is_bound(fn, node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, Number) and not isinstance(node.value, bool)
    if isinstance(node, ast.Name):
        value = global_value(fn, node.id)
        return isinstance(value, Number) and not isinstance(value, bool)
    return False


def _reads_value(fn, node: ast.expr, param: str, keyed: bool, by_len: bool) -> bool:
    """``node`` is ``param.reveal()`` (``param[1].reveal()`` when keyed), in ``len()`` if by_len."""
    if by_len:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
                node.func.id == "len" and len(node.args) == 1 and not node.keywords and
                global_value(fn, "len") is len):
            return False
        node = node.args[0]
    if not (isinstance(node, ast.Call) and not node.args and not node.keywords and
            isinstance(node.func, ast.Attribute) and node.func.attr == "reveal"):
        return False
    subject = node.func.value
    if keyed:
        if not (isinstance(subject, ast.Subscript) and isinstance(subject.slice, ast.Constant)
                and subject.slice.value == 1):
            return False
        subject = subject.value
    return isinstance(subject, ast.Name) and subject.id == param


def _why_not_deduplicated(graph: Graph, reader: Node, fold: Node, node: Node, record: Value,
                          keyed: bool) -> str:
    """Why not every path from ``node`` passes only stateless operators before a ``unique``
    that sees records free of the lattice's value ("" when they do). ``record`` is the lineage
    of ``node``'s records in terms of the snapshot's (``(k, v)`` when keyed, else ``v``): a
    record that still carries the value differs every tick the value grows, so unique would
    not make what passes independent of the tick split. Nor may a step on the way decide
    which records pass (or how many) by the value again, unless it is itself a threshold of
    the same direction on the unchanged record: ``>= 5`` then ``< 10`` passes a key or not
    depending on whether a tick saw the value between the two. A function hydropy cannot read
    counts as carrying (and deciding by) the value."""
    consumers = graph.consumers(node.id)
    if not consumers or any(c.kind != "unique" and c.kind not in PASS_ON for c in consumers):
        return (f"filter '{reader.name}' passes the value every tick it holds; add .unique() "
                f"after it")
    for c in consumers:
        if c.kind == "unique":
            if _reads_the_value(deps(record), keyed):
                return (f"filter '{reader.name}' passes the value itself on to unique '{c.name}', "
                        f"which sees a new record every tick the value grows; keep only the key "
                        f"(or a constant) before unique")
            continue
        if c.kind in _DECIDING and _decides_by_the_value(c, record, keyed) and \
                not (c.kind == "filter" and record == Field(()) and not _why_not_bound(c, fold)):
            return (f"{c.kind} '{c.name}' after filter '{reader.name}' reads the value again to "
                    f"choose which records go on, which depends on the values a tick happens to "
                    f"show; decide only by the key, or by one threshold")
        lineage = node_lineage(c)
        inner = record if lineage is None else substitute(lineage.value, record)
        why = _why_not_deduplicated(graph, reader, fold, c, inner, keyed)
        if why:
            return why
    return ""


#: steps on the way to unique that choose which records go on, and how many
_DECIDING = PASS_ON - kinds(one_to_one=True) - {"union"}


def _decides_by_the_value(step: Node, record: Value, keyed: bool) -> bool:
    """Whether ``step``'s choice (its whole result, conditions included) depends on the
    lattice's value, given its input records' lineage ``record``."""
    chosen_by = deps(output_lineage(step.fn(), 1).value)
    if chosen_by is None:
        return True
    return _reads_the_value(deps(derived([at(record, p) for p in chosen_by])), keyed)


def _reads_the_value(paths: frozenset | None, keyed: bool) -> bool:
    """Whether a value made of the snapshot record's ``paths`` (None: unknown) reads the lattice's
    value: anything of an unkeyed snapshot's record, the value half ``(1, ...)`` of a keyed one."""
    return paths is None or any(not keyed or not p or p[0] == 1 for p in paths)
