"""What hydropy can prove about a fold's function, by reading it.

*Commutative merge* (needed to split a fold into partial folds): ``fn`` is associative and
commutative on accumulators, so folding any grouping of the records in any order gives the
same value. *Order-insensitive* (needed when a rewrite can reorder a fold's input):
``fn(fn(a, x), y) == fn(fn(a, y), x)``; every commutative merge is, and so is counting
(a fold's ``acc + c``, which ignores the record).

Recognised: ``count`` and lattice folds; ``fn`` being ``operator.add``, the builtins ``max`` /
``min``, or a function or lambda whose body is ``return a + b`` / ``max(a, b)`` / ``min(a, b)``
of its two parameters, or, for order-insensitivity, ``return acc + c`` of its first parameter
and a number (every order adds the same constants).

The form is not enough: the algebra must hold on the data. ``+`` is associative and commutative
exactly only on integers (it concatenates strings, tuples and lists in order, and rounds floats
differently when regrouped); ``max`` / ``min`` are a semilattice on integers, but not on floats
(``max(nan, 1)`` is nan, ``max(1, nan)`` is 1). So each needs the fold's element type (the
records', or a keyed fold's values') to be ``int64`` or ``bool``, as :func:`element_type` proves
from declared dtypes (``flow.source(name, dtype=...)``), through channels, filters and maps whose
result type is literal in their code or inferred by Numba; ``+`` in a fold also needs an
``init()`` returning the integer 0, and ``max`` / ``min`` an integer or bool ``init()``.
"""
from __future__ import annotations

import ast
import builtins
from numbers import Number
from operator import add as operator_add

from hydropy.ir.ops import FOLDS, FUNCTION_FOLDS, LATTICE_FOLDS, PARTIALS, PASSES_RECORDS, SEEDED_FOLDS
from hydropy.ir import Graph, Node
from hydropy.runtime.columns import fields, is_tuple

from .udf import global_value, returned_expression

#: folds whose function hydropy reads; lattice folds and count need no reading
PLAIN_FOLDS = FUNCTION_FOLDS


#: element types on which + is exact and max / min are a semilattice
EXACT = ("int64", "bool")
#: operators whose records are (some of) their input's records, unchanged
SAME_RECORDS = PASSES_RECORDS


def why_not_commutative(node: Node, element: str | None = None) -> str:
    """Why ``node``'s merge cannot be proven associative and commutative ("" when it can);
    ``element``: the element type it folds (:func:`element_type`), None when unknown."""
    if node.kind in FOLDS and not node.spec.fns:  # count and lattice folds: nothing to read
        return ""
    fn = node.fn()
    shape = binary_shape(fn.obj)
    if shape == "+" and node.kind in SEEDED_FOLDS:
        try:
            zero = node.fn("init").obj()
        except Exception as exc:  # the user's init failed: it would fail at run time too
            return f"init {node.fn('init').label} raised {type(exc).__name__}: {exc}"
        if type(zero) is not int or zero != 0:
            return (f"init {node.fn('init').label} returns {zero!r}, not the integer 0: + is "
                    f"commutative and exactly associative only on integers (floats round "
                    f"differently when regrouped; strings, tuples and lists concatenate in order)")
    if shape in ("max", "min", "+"):
        return _why_not_exact(node, shape, element)
    return (f"hydropy cannot prove fn {fn.label} associative and commutative (it recognises "
            f"a + b, max(a, b), min(a, b) and operator.add); use a lattice_fold, whose merge is associative and commutative by construction")


def _why_not_exact(node: Node, shape: str, element: str | None) -> str:
    """Why ``shape`` (+, max, min) is not exact on ``element`` and the fold's init ("" if it is)."""
    what = "its values" if node.kind.endswith("_keyed") else "its records"
    law = ("+ is exactly associative only on integers (floats round differently when "
           "regrouped; strings, tuples and lists concatenate in order)" if shape == "+" else
           f"{shape} is associative and commutative on integers, but not on floats "
           f"({shape}(nan, 1) is nan, {shape}(1, nan) is 1) nor across types")
    if element is None:
        return (f"fn {node.fn().label} is {shape}, and hydropy cannot see the type of {what}: "
                f"{law}; declare it where it enters, e.g. flow.source(name, dtype=\"int64\") "
                f"(or (\"int64\", \"int64\") for pairs)")
    if element not in EXACT:
        return f"fn {node.fn().label} is {shape} over {what} of type {element}: {law}"
    if shape != "+" and node.kind in SEEDED_FOLDS:
        try:
            start = node.fn("init").obj()
        except Exception as exc:
            return f"init {node.fn('init').label} raised {type(exc).__name__}: {exc}"
        if type(start) not in (int, bool):
            return (f"init {node.fn('init').label} returns {start!r}, not an integer: {law}")
    return ""


def why_order_sensitive(node: Node, element: str | None = None) -> str:
    """Why ``node``'s value may depend on the order of its records ("" when it cannot)."""
    if node.kind in SEEDED_FOLDS and binary_shape(node.fn().obj) == "count":
        return ""  # (a reduce starts from whichever record comes first: not counting)
    return why_not_commutative(node, element)


def why_fold_order_sensitive(graph: Graph, node: Node) -> str:
    """Why ``node``'s value may depend on the order in which its records arrive ("" when it
    cannot): a plain fold whose function is not proven order-insensitive on its data, or a
    lattice fold of a user lattice whose merge breaks a law (checked, not trusted: a merge that
    is not commutative, like one keeping the first value, depends on order; a law check that
    fails for another law refuses too, since hydropy cannot tell which law the order needs)."""
    lattice = node.params.get("lattice")
    if node.kind in LATTICE_FOLDS and lattice is not None:
        from .laws import sample_records, why_not_lawful
        why = why_not_lawful(lattice, sample_records(graph, node))
        return f"it keeps the user lattice {lattice.__name__}, and {why}" if why else ""
    if node.kind in PLAIN_FOLDS:
        return why_order_sensitive(node, element_type(graph, node))
    return ""


def element_type(graph: Graph, fold: Node) -> str | None:
    """The type of the elements ``fold`` folds (its records; a keyed fold's values): ``int64``,
    ``float64``, ``bool``, or None when hydropy cannot prove one."""
    found = record_type(graph, graph.node(fold.inputs[0]))
    if found is None or not fold.kind.endswith("_keyed"):
        return None if found is None or UNKNOWN in fields(found) else found
    names = fields(found) if is_tuple(found) else ()
    return names[1] if len(names) == 2 and names[1] != UNKNOWN else None


def record_type(graph: Graph, node: Node) -> str | None:
    """The element type of ``node``'s records when provable: declared on its source, passed
    on unchanged, agreed by every input of a union, literal in a map's returned expression (an
    int / float / bool constant, or a tuple of them and fields of the input), or inferred by Numba
    for a map over a typed input."""
    if node.kind == "source":  # (other collections' dtype tags are not proofs)
        return node.coll.dtype or None
    if node.kind == "partial_count":
        return "int64"
    if node.kind in SAME_RECORDS or (node.kind in PARTIALS and node.spec.fns):
        # a partial of a split fold: split_fold proved + / max / min exact on these records,
        # and integers are closed under them
        return record_type(graph, graph.node(node.inputs[0]))
    if node.kind == "union":
        found = {record_type(graph, graph.node(i)) for i in node.inputs}
        return found.pop() if len(found) == 1 else None
    if node.kind != "map":
        return None
    source = record_type(graph, graph.node(node.inputs[0]))
    literal = _literal_type(node.fn().obj, source)
    if literal is not None or source is None or UNKNOWN in fields(source):
        return literal
    from hydropy.passes.kernel_plan import NoKernel, dtype_of, numba_type, returns
    try:
        return dtype_of(returns(node.fn().obj, numba_type(source)))
    except NoKernel:
        return None


_LITERAL = {int: "int64", float: "float64", bool: "bool"}
#: a tuple field whose type is not known (inside record types of this module only)
UNKNOWN = "object"


def _literal_type(fn, source: str | None) -> str | None:
    """The dtype of ``fn``'s result read from its one returned expression: a number constant,
    the parameter itself or one of its fields (when ``source`` is known), or a flat tuple of
    those."""
    found = returned_expression(fn)
    if found is None or len(found[0]) != 1:
        return None
    (param,), body = found

    def scalar(e: ast.expr) -> str | None:
        if isinstance(e, ast.Constant) and type(e.value) in _LITERAL:
            return _LITERAL[type(e.value)]
        if source is None:
            return None
        if isinstance(e, ast.Name) and e.id == param and not is_tuple(source):
            return source if source != UNKNOWN else None
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name) and e.value.id == param \
                and isinstance(e.slice, ast.Constant) and type(e.slice.value) is int and is_tuple(source):
            names = fields(source)
            name = names[e.slice.value] if -len(names) <= e.slice.value < len(names) else UNKNOWN
            return None if name == UNKNOWN else name
        return None

    if isinstance(body, ast.Tuple) and len(body.elts) >= 2:
        names = [scalar(e) or UNKNOWN for e in body.elts]
        return None if set(names) == {UNKNOWN} else "(" + ", ".join(names) + ")"
    return scalar(body)


def binary_shape(fn) -> str | None:
    """``+``, ``max``, ``min`` or ``count`` (``acc + c``) when ``fn(acc, x)`` is recognisably
    that; None otherwise."""
    if fn is operator_add:
        return "+"
    if fn is builtins.max or fn is builtins.min:
        return fn.__name__
    found = returned_expression(fn)
    if found is None or len(found[0]) != 2:
        return None
    names, body = found
    if isinstance(body, ast.BinOp) and isinstance(body.op, ast.Add):
        if _names(body.left, body.right) == set(names):
            return "+"
        operands = [body.left, body.right]
        if any(isinstance(o, ast.Name) and o.id == names[0] for o in operands) and \
                any(isinstance(o, ast.Constant) and isinstance(o.value, Number) and
                    not isinstance(o.value, bool) for o in operands):
            return "count"
    if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and \
            body.func.id in ("max", "min") and not body.keywords and len(body.args) == 2 and \
            _names(*body.args) == set(names) and \
            global_value(fn, body.func.id) is getattr(builtins, body.func.id):
        return body.func.id
    return None


def _names(a: ast.expr, b: ast.expr) -> set[str] | None:
    if isinstance(a, ast.Name) and isinstance(b, ast.Name) and a.id != b.id:
        return {a.id, b.id}
    return None
