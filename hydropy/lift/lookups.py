"""Reads of a dict that an earlier loop filled: lookups of the fold that computes it.

With all inputs in one tick, the fold has taken every record of the earlier loop before
the lookup runs (operators run in topological order), so the value found is the dict's
final value, as the function reads it after that loop has ended. A miss is None; the value
is looked up wrapped as ``(value,)`` so that a stored None is not a miss.
"""
from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from hydropy.lift.exprs import names_read

if TYPE_CHECKING:  # the builder imports this module
    from hydropy.lift.builder import Accumulator, Lifter, Scope


class Lookups(ast.NodeTransformer):
    """Replaces ``d[k]``, ``d.get(k[, default])`` and ``k in d`` of a dict filled by an
    earlier loop with the value a lookup found (``found`` is ``(value,)`` or None)."""

    def __init__(self, lifter: Lifter, stmt, scope: Scope, allowed):
        self.l, self.stmt, self.scope, self.allowed = lifter, stmt, scope, allowed

    def table(self, node: ast.AST) -> Accumulator | None:
        if isinstance(node, ast.Name) and node.id in self.l.accs and node.id not in self.allowed:
            acc = self.l.accs[node.id]
            if not acc.keyed or not acc.done:
                self.l.read_refusal(node, acc, self.scope, "at a key")
            return acc
        return None

    def found(self, acc, key) -> ast.Name:
        if names_read(key) & set(self.l.accs):
            self.l.refuse(key, "a key that itself reads an accumulator")
        return self.l.lookup(self.stmt, self.scope, acc, Lookups(self.l, self.stmt, self.scope,
                                                                   self.allowed).visit(key))

    def visit_Subscript(self, node):
        acc = self.table(node.value) if isinstance(node.ctx, ast.Load) else None
        if acc is None:
            return self.generic_visit(node)
        if acc.kind == "defaultdict":
            self.l.refuse(node, f"reading the defaultdict '{acc.name}' as {ast.unparse(node)}",
                          "it inserts a missing key", f"{acc.name}.get(key, default) to read it")
        slot = self.found(acc, node.slice)
        missing = ast.Constant(0) if acc.kind == "counter" else ast.Subscript(ast.Dict([], []), node.slice, ast.Load())
        return _present(slot, missing)

    def visit_Call(self, node):
        f = node.func
        acc = self.table(f.value) if isinstance(f, ast.Attribute) and f.attr == "get" else None
        if acc is None or node.keywords or not 1 <= len(node.args) <= 2:
            return self.generic_visit(node)
        default = self.visit(node.args[1]) if len(node.args) == 2 else ast.Constant(None)
        return _present(self.found(acc, node.args[0]), default)

    def visit_Compare(self, node):
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            acc = self.table(node.comparators[0])
            if acc is not None:
                slot = self.found(acc, node.left)
                op = ast.IsNot() if isinstance(node.ops[0], ast.In) else ast.Is()
                return ast.Compare(slot, [op], [ast.Constant(None)])
        return self.generic_visit(node)


def _present(slot: ast.Name, missing: ast.expr) -> ast.expr:
    """``slot[0] if slot is not None else missing``"""
    return ast.IfExp(ast.Compare(slot, [ast.IsNot()], [ast.Constant(None)]),
                     ast.Subscript(slot, ast.Constant(0), ast.Load()), missing)
