"""What hydropy can prove about a fold's function, by reading it.

*Commutative merge* (needed to split a fold into partial folds): ``fn`` is associative and
commutative on accumulators, so folding any grouping of the records in any order gives the
same value. *Order-insensitive* (needed when a rewrite can reorder a fold's input):
``fn(fn(a, x), y) == fn(fn(a, y), x)``; every commutative merge is, and so is counting
(a fold's ``acc + c``, which ignores the record).

Recognised: ``count`` and lattice folds; ``fn`` being ``operator.add``, the builtins ``max`` /
``min``, or a function or lambda whose body is ``return a + b`` / ``max(a, b)`` / ``min(a, b)``
of its two parameters (``+`` only from an ``init()`` returning the integer 0: it concatenates
strings, tuples and lists in order, and rounds floats differently when regrouped), or, for
order-insensitivity, ``return acc + c`` of its first parameter and a number.
"""
from __future__ import annotations

import ast
import builtins
from numbers import Number
from operator import add as operator_add

from hydropy.ir import Node

from .udf import global_value, returned_expression

#: folds whose function hydropy reads; lattice folds and count need no reading
PLAIN_FOLDS = ("fold", "reduce", "fold_keyed", "reduce_keyed")


def why_not_commutative(node: Node) -> str:
    """Why ``node``'s merge cannot be proven associative and commutative ("" when it can)."""
    if node.kind in ("count", "lattice_fold", "lattice_fold_keyed"):
        return ""
    fn = node.fn()
    shape = binary_shape(fn.obj)
    if shape in ("max", "min"):
        return ""
    if shape == "+" and node.kind in ("fold", "fold_keyed"):
        try:
            zero = node.fn("init").obj()
        except Exception as exc:  # the user's init failed: it would fail at run time too
            return f"init {node.fn('init').label} raised {type(exc).__name__}: {exc}"
        if type(zero) is int and zero == 0:
            return ""
        return (f"init {node.fn('init').label} returns {zero!r}, not the integer 0: + is "
                f"commutative and exactly associative only on integers (strings, tuples and lists "
                f"concatenate in order; floats round differently when regrouped)")
    if shape == "+":
        return (f"fn {fn.label} adds, but reduce starts from a record whose type hydropy cannot "
                f"see (+ concatenates strings and tuples in order); write it as a fold with init "
                f"returning 0")
    return (f"hydropy cannot prove fn {fn.label} associative and commutative (it recognises "
            f"a + b, max(a, b), min(a, b) and operator.add); use a lattice_fold, whose merge is associative and commutative by construction")


def why_order_sensitive(node: Node) -> str:
    """Why ``node``'s value may depend on the order of its records ("" when it cannot)."""
    if node.kind in ("fold", "fold_keyed") and binary_shape(node.fn().obj) == "count":
        return ""  # (a reduce starts from whichever record comes first: not counting)
    return why_not_commutative(node)


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
