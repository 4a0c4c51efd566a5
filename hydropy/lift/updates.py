"""The statement that updates an accumulator, as the map and fold that compute it.

An update ``x = V`` (or ``d[k] = V``) reads the accumulator in ``V`` (``x``, ``d.get(k, D)``,
``d[k]`` of a defaultdict or Counter) and otherwise the record. The fold's function is ``V``
with the accumulator as its first parameter and the parts of ``V`` computed from the record
(computed by the map before it) as its second: ``total += qty * price`` is
``map(qty * price)`` then ``fold(0, acc + v)``. Where ``V`` evaluates parts only on some
paths (``a if c else b``, ``and``/``or``), the map passes the record's variables and the
fold evaluates all of ``V``, so nothing is evaluated that the function would not.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Callable

from hydropy.lift.exprs import Env, constant, names_read, render

ACC = "__hp_acc__"
LAZY = (ast.IfExp, ast.BoolOp, ast.comprehension, ast.Lambda, ast.ListComp, ast.SetComp,
        ast.DictComp, ast.GeneratorExp)


@dataclass
class Update:
    """``record``: the map's output per record (source text; None: the records as they are);
    ``apply(stream, name)``: the fold over it."""

    record: str | None
    apply: Callable


def scalar_update(lifter, stmt, acc, scope) -> Update:
    target = stmt.target if isinstance(stmt, ast.AugAssign) else (
        stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None)
    if not (isinstance(target, ast.Name) and target.id == acc.name):
        lifter.refuse(stmt, f"the update '{ast.unparse(stmt)}' of '{acc.name}'",
                      "a number is lifted when updated by name = f(name, ...) or name += ...")
    value = ast.BinOp(ast.Name(acc.name, ast.Load()), stmt.op, stmt.value) \
        if isinstance(stmt, ast.AugAssign) else stmt.value
    init = (constant(acc.init) or (None,))[0]
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and _is_int(stmt.value, 1) \
            and type(init) is int and init == 0:
        return Update(None, lambda s, name: s.count(name=name))
    value = _Marker(lambda n: isinstance(n, ast.Name) and n.id == acc.name).visit(_clone(value))
    (value,) = lifter.prepare(stmt, [value], scope, allowed=(ACC,))
    record, fn = _split(lifter, value, scope.env)
    init_fn = _init(lifter, acc.init)
    if ACC not in names_read(value):  # x = V: the last record's V
        return Update(record, lambda s, name: s.fold(init_fn, lifter.fn_of(
            f"lambda {lifter.a}, {lifter.v}: {lifter.v}"), name=name))
    return Update(record, lambda s, name: s.fold(init_fn, fn, name=name))


def keyed_update(lifter, stmt, acc, scope) -> Update:
    d = acc.name
    if isinstance(stmt, ast.Expr):
        return _method_update(lifter, stmt, acc, scope)
    target = stmt.target if isinstance(stmt, ast.AugAssign) else (
        stmt.targets[0] if len(stmt.targets) == 1 else None)
    if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
            and target.value.id == d):
        lifter.refuse(stmt, f"the update '{ast.unparse(stmt)}' of the dict '{d}'",
                      f"a dict is lifted when updated as {d}[key] = value")
    key = target.slice
    if isinstance(stmt, ast.AugAssign):
        if acc.kind == "dict":
            lifter.refuse(stmt, f"'{ast.unparse(stmt)}' on the plain dict '{d}'",
                          "it raises KeyError on a new key",
                          f"{d}[k] = {d}.get(k, 0) + v, or defaultdict(int), in the function")
        if acc.factory in ("list", "set"):
            lifter.refuse(stmt, f"'{ast.unparse(stmt)}' on a defaultdict({acc.factory})",
                          f"write {d}[k].{'append' if acc.factory == 'list' else 'add'}(x)")
        value = ast.BinOp(ast.Subscript(ast.Name(d, ast.Load()), key, ast.Load()), stmt.op, stmt.value)
    else:
        value = stmt.value
    same_key = ast.dump(key)
    kinds = set()

    def is_ref(n):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get" \
                and isinstance(n.func.value, ast.Name) and n.func.value.id == d and not n.keywords \
                and 1 <= len(n.args) <= 2 and ast.dump(n.args[0]) == same_key:
            kinds.add(("get", ast.dump(n.args[1]) if len(n.args) == 2 else "None"))
            return True
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == d \
                and ast.dump(n.slice) == same_key and acc.kind != "dict":
            kinds.add(("item", None))
            return True
        return False

    marked = _Marker(is_ref).visit(_clone(value))
    for n in ast.walk(marked):
        if isinstance(n, ast.Name) and n.id == d:
            lifter.refuse(n, f"reading '{d}' other than at the key it updates, in its update",
                          "the value read depends on the order of the input")
    if len(kinds) > 1:
        lifter.refuse(stmt, f"'{d}' read in two ways in its update")
    key, marked = lifter.prepare(stmt, [key, marked], scope, allowed=(ACC,))
    if ACC in names_read(key):
        lifter.refuse(stmt, f"a key of '{d}' computed from '{d}'")
    key_text = render(key, scope.env, lifter.r, lifter.constants)
    if not kinds:  # d[k] = v: the last value per key, as the loop leaves it
        text = render(marked, scope.env, lifter.r, lifter.constants)
        last = lifter.fn_of(f"lambda {lifter.a}, {lifter.v}: {lifter.v}")
        return Update(f"({key_text}, {text})", lambda s, name: s.reduce_keyed(last, name=name))
    how, default = kinds.pop()
    if how == "item":
        init_fn = getattr(builtins, acc.factory)
    else:
        default_ast = _get_default(value, d)
        if not _literal(default_ast):
            return _max_min(lifter, stmt, value, d, key_text, scope)
        init_fn = _init(lifter, default_ast)
    record, fn = _split(lifter, marked, scope.env)
    return Update(f"({key_text}, {record})", lambda s, name: s.fold_keyed(init_fn, fn, name=name))


def _method_update(lifter, stmt, acc, scope) -> Update:
    call = stmt.value
    d = acc.name
    method = {"list": "append", "set": "add"}.get(acc.factory or "")
    f = call.func if isinstance(call, ast.Call) else None
    if not (acc.kind == "defaultdict" and method and isinstance(f, ast.Attribute) and f.attr == method
            and isinstance(f.value, ast.Subscript) and isinstance(f.value.value, ast.Name)
            and f.value.value.id == d and len(call.args) == 1 and not call.keywords):
        lifter.refuse(stmt, f"the update '{ast.unparse(stmt)}' of '{d}'",
                      "lifted: d[k].append(x) on a defaultdict(list), d[k].add(x) on a defaultdict(set)")
    key, item = lifter.prepare(stmt, [f.value.slice, call.args[0]], scope)
    key_text = render(key, scope.env, lifter.r, lifter.constants)
    item_text = render(item, scope.env, lifter.r, lifter.constants)
    a, v = lifter.a, lifter.v
    merged = f"{a} + [{v}]" if method == "append" else f"{a} | {{{v}}}"
    fn = lifter.fn_of(f"lambda {a}, {v}: {merged}")
    init_fn = getattr(builtins, acc.factory)
    return Update(f"({key_text}, {item_text})", lambda s, name: s.fold_keyed(init_fn, fn, name=name))


def _max_min(lifter, stmt, value, d, key_text, scope) -> Update:
    """``d[k] = max(d.get(k, x), x)`` (or min, either order): the first x per key, then
    ``max(acc, x)``: a reduce_keyed."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("max", "min") \
            and lifter.resolves(value.func, getattr(builtins, value.func.id)) and len(value.args) == 2 \
            and not value.keywords:
        gets = [i for i, arg in enumerate(value.args) if isinstance(arg, ast.Call)
                and isinstance(arg.func, ast.Attribute) and arg.func.attr == "get"]
        if len(gets) == 1:
            i = gets[0]
            other = value.args[1 - i]
            if ast.dump(value.args[i].args[1]) == ast.dump(other):
                (other,) = lifter.prepare(stmt, [other], scope)
                text = render(other, scope.env, lifter.r, lifter.constants)
                a, v = lifter.a, lifter.v
                args = f"{a}, {v}" if i == 0 else f"{v}, {a}"
                fn = lifter.fn_of(f"lambda {a}, {v}: {value.func.id}({args})")
                return Update(f"({key_text}, {text})", lambda s, name: s.reduce_keyed(fn, name=name))
    lifter.refuse(stmt, f"'{d}.get(key, default)' with a default computed from the record",
                  f"lifted: a constant default, or {d}[k] = max({d}.get(k, x), x)")


def _get_default(value, d) -> ast.expr:
    for n in ast.walk(value):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get" \
                and isinstance(n.func.value, ast.Name) and n.func.value.id == d:
            return n.args[1] if len(n.args) == 2 else ast.Constant(None)
    raise AssertionError("no get")


def _split(lifter, value: ast.expr, env: Env) -> tuple[str, Callable]:
    """(the map's output, the fold's function) for an update whose value is ``value`` (the
    accumulator marked as ACC)."""
    a, v = lifter.a, lifter.v
    comps: list[ast.expr] = []
    try:
        body, lazy = _components(_clone(value), set(env.paths), comps), False
    except _Lazy:
        comps = [ast.Name(n, ast.Load()) for n in sorted(names_read(value) & set(env.paths))]
        body, lazy = value, True
    if not lazy:
        if not comps and isinstance(body, ast.BinOp) and ACC in names_read(body.left) \
                and ACC not in names_read(body.right):
            comps, body = [body.right], ast.BinOp(body.left, body.op, ast.Name("__hp_c0__", ast.Load()))
    slots = {ACC: ast.Name(a, ast.Load())}
    for i, comp in enumerate(comps):
        slot = ast.Name(v, ast.Load()) if len(comps) == 1 else ast.Subscript(
            ast.Name(v, ast.Load()), ast.Constant(i), ast.Load())
        slots[f"__hp_c{i}__" if not lazy else comp.id] = slot
    body = _Rename(slots).visit(_clone(body))
    record = "None" if not comps else (render(comps[0], env, lifter.r, lifter.constants) if len(comps) == 1
                                       else "(" + ", ".join(render(c, env, lifter.r, lifter.constants)
                                                            for c in comps) + ",)")
    fn_text = render(body, Env({}), lifter.r, lifter.constants)
    return record, lifter.fn_of(f"lambda {a}, {v}: {fn_text}")


def _components(node: ast.AST, local: set[str], comps: list) -> ast.AST:
    """Replace each largest part of ``node`` that reads the record but not the accumulator
    by ``__hp_cI__``, collecting the parts (equal parts once); raises _Lazy where such a
    part sits on a conditional path (``a if c else b``, ``and``/``or``, a comprehension)
    that also reads the accumulator."""
    read = names_read(node) if isinstance(node, ast.AST) else set()
    if isinstance(node, ast.expr) and ACC not in read:
        if read & local:
            dumps = [ast.dump(c) for c in comps]
            i = dumps.index(ast.dump(node)) if ast.dump(node) in dumps else len(comps)
            if i == len(comps):
                comps.append(node)
            return ast.Name(f"__hp_c{i}__", ast.Load())
        return node
    if isinstance(node, LAZY):  # the accumulator is read on a path the function may not take
        raise _Lazy
    for fname, old in ast.iter_fields(node):
        if isinstance(old, list):
            setattr(node, fname, [_components(x, local, comps) if isinstance(x, ast.AST) else x for x in old])
        elif isinstance(old, ast.AST):
            setattr(node, fname, _components(old, local, comps))
    return node


class _Lazy(Exception):
    """The accumulator is read inside a conditional part of the update's value."""


class _Marker(ast.NodeTransformer):
    def __init__(self, is_ref):
        self.is_ref = is_ref

    def visit(self, node):
        if isinstance(node, ast.expr) and self.is_ref(node):
            return ast.copy_location(ast.Name(ACC, ast.Load()), node)
        return super().visit(node)


class _Rename(ast.NodeTransformer):
    def __init__(self, slots):
        self.slots = slots

    def visit_Name(self, node):
        return self.slots.get(node.id, node)


def _clone(node):
    import copy
    return copy.deepcopy(node)


def _literal(node: ast.expr) -> bool:
    return constant(node) is not None


def _is_int(node: ast.expr, value: int) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value == value


def _init(lifter, node: ast.expr) -> Callable:
    """The fold's ``init``: ``int`` for the literal 0, else ``lambda: <literal>``."""
    if _is_int(node, 0):
        return int
    return lifter.fn_of(f"lambda: {ast.unparse(node)}")
