"""``lift(fn)``: read a plain function's AST and build the Flow that computes its result.

The function's top level declares empty accumulators, loops over its parameters and returns
accumulators. Each loop is a stream from the parameter's source; inside it, assignments are
maps, ``if`` a filter, a nested ``for`` a flat_map, and the one statement that updates each
accumulator a fold. Reading a dict filled by an earlier loop is a lookup of that fold (the
earlier loop has ended, so with all inputs in one tick the lookup sees its final value).
Every operator keeps the record order of the loop, so order-dependent updates (``d[k] = v``
on a repeated key, ``lst.append``) compute what the loop computes. See docs/lifting.md.
"""
from __future__ import annotations

import ast
import builtins
import collections
from dataclasses import dataclass, field
from typing import Callable

from hydropy.flow import Collection, Flow, Stream
from hydropy.ir.source import SourceLoc
from hydropy.lift.function import STRUCTURAL, LiftRefused, read
from hydropy.lift.lookups import Lookups
from hydropy.lift.exprs import (Env, LambdaSource, constant, impurity, names_bound, names_read, render,
                                target_paths, updated_names)
from hydropy.lift.results import KEYED, LIST, SET, VALUE
from hydropy.lift.updates import Update, keyed_update, scalar_update

@dataclass
class Accumulator:
    """A name the function's top level binds to an empty container or a constant."""

    name: str
    kind: str                      # dict, defaultdict, counter, set, list, scalar
    init: ast.expr
    decl: ast.stmt                 # its top-level assignment
    factory: str | None = None     # the default of a defaultdict / Counter: int, float, list, set
    node: Collection | None = None  # what computes its final value
    view: Collection | None = None  # its values wrapped as (value,), for lookups
    done: bool = False             # its loop has ended

    @property
    def keyed(self) -> bool:
        return self.kind in ("dict", "defaultdict", "counter")

    @property
    def sink_kind(self) -> str:
        return {"set": SET, "list": LIST, "scalar": VALUE}.get(self.kind, KEYED)


@dataclass
class LiftInfo:
    """What a lifted flow was made from: ``flow.lifted``."""

    function: Callable
    params: list[str]
    sinks: list[tuple[str, str]]   # (sink name, kind: keyed / set / list / value)
    shape: str                     # how the function returns them: name, tuple or dict
    lambdas: str = ""              # the source text of the operators' functions


@dataclass
class Scope:
    """Where the statements of a loop body are lifted to: the stream of the records reaching
    them and where each local variable sits in a record."""

    stream: Stream
    env: Env
    updating: set[str]
    children: list = field(default_factory=list)

    def copy(self, stream=None) -> "Scope":
        return Scope(stream or self.stream, Env(self.env.paths), self.updating)


def lift(fn: Callable) -> Flow:
    """The Flow computing what ``fn`` returns; also usable as the decorator ``@hp.lift`` (the
    name then holds the Flow, and ``flow.function`` the original function)."""
    fdef = read(fn)
    return Lifter(fn, fdef).build()


class Lifter:
    def __init__(self, fn: Callable, fdef: ast.FunctionDef):
        self.fn, self.fdef = fn, fdef
        self.file = fn.__code__.co_filename
        self.offset = fn.__code__.co_firstlineno - 1
        self.params = [a.arg for a in fdef.args.posonlyargs + fdef.args.args]
        self.flow = Flow(fn.__name__)
        self.flow.module = fn.__module__
        self.flow.loc = self.loc(fdef)
        self.globals = fn.__globals__
        self.lambdas = LambdaSource(fn, f"{fn.__module__}.{fn.__qualname__}")
        self.accs: dict[str, Accumulator] = {}
        self.constants: dict[str, ast.expr] = {}
        self.sources: dict[str, Stream] = {}
        every = {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name)} | set(self.params)
        self.locals = {n.id for n in ast.walk(fdef) if isinstance(n, ast.Name)
                       and isinstance(n.ctx, ast.Store)}
        self.r = next(p for p in ("r", "rec", "record", "r_", "r__") if p not in every)
        self.a, self.v = (next(p for p in c if p not in every)
                          for c in (("acc", "a", "acc_"), ("v", "val", "v_")))
        self.lookups = 0
        self.updaters: dict[str, ast.stmt] = {}

    # -- messages and locations ---------------------------------------------------------
    def loc(self, node: ast.AST) -> SourceLoc:
        return SourceLoc(self.file, self.offset + getattr(node, "lineno", 1))

    def refuse(self, node: ast.AST, construct: str, why: str = "", hint: str = ""):
        msg = f"cannot lift {self.fn.__qualname__}: {construct}"
        if why:
            msg += f" ({why})"
        if hint:
            msg += f"; use {hint} in the Flow API"
        raise LiftRefused(msg, self.loc(node))

    def at(self, handle: Collection, node: ast.AST) -> Collection:
        """Point the operator just built at the user's line it comes from."""
        moved = handle.node.copy(loc=self.loc(node))
        self.flow._graph.replace(moved)
        handle.node = moved
        return handle

    def name(self, base: str) -> str:
        return self.flow._graph.fresh_name(base)

    def fn_of(self, text: str) -> Callable:
        return self.lambdas.make(text)

    # -- the function -------------------------------------------------------------------
    def build(self) -> Flow:
        body = list(self.fdef.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        for node in ast.walk(self.fdef):
            if node is not self.fdef and type(node) in STRUCTURAL:
                construct, why, hint = STRUCTURAL[type(node)]
                self.refuse(node, construct, why, hint)
        if not any(isinstance(s, ast.For) for s in body):
            self.refuse(self.fdef, "a function with no loop over its inputs",
                        "there is no stream to lift; write the Flow API program directly")
        self.find_updaters(body)
        for p in self.params:
            self.sources[p] = self.at(self.flow.source(p), self.fdef)
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Return):
                if i != len(body) - 1:
                    self.refuse(body[i + 1], "a statement after the return")
                return self.finish(stmt)
            if isinstance(stmt, ast.Assign):
                self.declare(stmt)
            elif isinstance(stmt, ast.For):
                self.top_loop(stmt)
            elif not isinstance(stmt, ast.Pass):
                self.refuse(stmt, f"a top-level {_kind(stmt)}",
                            "the top level may declare empty accumulators, loop over inputs and return")
        self.refuse(body[-1] if body else self.fdef, "a function that returns nothing at its end",
                    "end it with return of accumulators")

    def find_updaters(self, body: list[ast.stmt]) -> None:
        """The one statement that updates each accumulator (two would interleave in the
        order of the input)."""
        declared = {t.id for s in body if isinstance(s, ast.Assign) for t in s.targets
                    if isinstance(t, ast.Name)}
        for loop in (s for s in body if isinstance(s, ast.For)):
            for stmt in ast.walk(loop):
                for name in updated_names(stmt) & declared:
                    if name in self.updaters:
                        self.refuse(stmt, f"'{name}' is updated by two statements (also line "
                                          f"{self.loc(self.updaters[name]).line})",
                                    "their interleaving follows the order of the input; update "
                                    "it in one statement")
                    self.updaters[name] = stmt

    def declare(self, stmt: ast.Assign) -> None:
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            self.refuse(stmt, "a top-level assignment to something other than one name")
        name = stmt.targets[0].id
        if name in self.accs or name in self.constants or name in self.params:
            self.refuse(stmt, f"'{name}' is assigned twice at the top level")
        kind, factory = self.classify(stmt.value)
        if kind is None:
            self.refuse(stmt, f"'{name} = {ast.unparse(stmt.value)}' at the top level",
                        "the top level may only declare empty accumulators ({}, set(), [], "
                        "defaultdict(int), Counter()) and constants")
        if kind == "scalar" and name not in self.updaters:
            self.constants[name] = stmt.value
            return
        self.accs[name] = Accumulator(name, kind, stmt.value, stmt, factory)

    def resolves(self, expr: ast.expr, obj) -> bool:
        """Whether ``expr`` (a name or module.attribute) names ``obj`` in the function's module."""
        if isinstance(expr, ast.Name):
            if expr.id in self.locals or expr.id in self.params:
                return False
            return self.globals.get(expr.id, getattr(builtins, expr.id, None)) is obj
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            return getattr(self.globals.get(expr.value.id), expr.attr, None) is obj
        return False

    def classify(self, value: ast.expr) -> tuple[str | None, str | None]:
        if isinstance(value, ast.Dict) and not value.keys:
            return "dict", None
        if isinstance(value, ast.List) and not value.elts:
            return "list", None
        if isinstance(value, ast.Call) and not value.keywords:
            args = value.args
            for obj, kind in ((dict, "dict"), (set, "set"), (list, "list"), (collections.Counter, "counter")):
                if not args and self.resolves(value.func, obj):
                    return kind, "int" if kind == "counter" else None
            if self.resolves(value.func, collections.defaultdict) and len(args) == 1:
                for factory in (int, float, list, set):
                    if self.resolves(args[0], factory):
                        return "defaultdict", factory.__name__
        if constant(value) is not None:
            return "scalar", None
        return None, None

    def top_loop(self, stmt: ast.For) -> None:
        it = stmt.iter
        if not (isinstance(it, ast.Name) and it.id in self.params):
            if names_read(it) & set(self.accs):
                self.refuse(stmt, f"a loop over {ast.unparse(it)}, an accumulator's value",
                            "what it holds depends on when it is read", "KeyedSingleton.snapshot()")
            self.refuse(stmt, f"a loop over {ast.unparse(it)}",
                        "a top-level loop must run over a parameter (an input) as it is")
        if stmt.orelse:
            self.refuse(stmt, "a for ... else")
        paths = target_paths(stmt.target)
        if isinstance(paths, str):
            self.refuse(stmt, paths)
        self.check_targets(stmt, paths)
        updating = {a for a, s in self.updaters.items() if any(s is n for n in ast.walk(stmt))}
        for name in updating:
            if name not in self.accs:
                self.refuse(self.updaters[name], f"updating '{name}' before the top level declares it")
            if self.accs[name].done or self.accs[name].node is not None:
                self.refuse(stmt, f"'{name}' is updated in two loops")
        self.block(stmt.body, Scope(self.sources[it.id], Env(paths), updating), loop_body=True)
        for name in updating:
            self.accs[name].done = True

    def check_targets(self, node: ast.AST, names) -> None:
        for name in names:
            if name in self.accs or name in self.params or name in self.constants:
                self.refuse(node, f"rebinding '{name}' inside a loop",
                            "it is an input or an accumulator of the function")

    # -- loop bodies --------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], scope: Scope, loop_body: bool = False) -> None:
        """Lift ``stmts``; in a loop's own body (``loop_body``), ``if test: ... continue``
        filters the statements after it (inside a branch, ``continue`` would skip statements
        after the branch too: refused)."""
        for i, stmt in enumerate(stmts):
            if loop_body and isinstance(stmt, ast.If) and stmt.body and isinstance(stmt.body[-1], ast.Continue) \
                    and not stmt.orelse:
                kept, skipped = self.split(stmt, scope, "unless")
                self.block(stmt.body[:-1], skipped)
                self.forget(scope, stmt.body[:-1])
                scope.stream, scope.env = kept.stream, kept.env
                continue
            self.statement(stmt, scope)

    def split(self, stmt: ast.If, scope: Scope, negative: str) -> tuple[Scope | None, Scope]:
        """(records where the test is false, records where it is true) of an ``if`` (no
        filter for the false side when ``negative``, its name, is empty)."""
        (test,) = self.prepare(stmt, [stmt.test], scope)
        text = render(test, scope.env, self.r, self.constants)
        line = self.loc(stmt).line
        yes = self.at(scope.stream.filter(self.fn_of(f"lambda {self.r}: {text}"),
                                          name=self.name(f"if_{line}")), stmt)
        if not negative:
            return None, scope.copy(yes)
        no = self.at(scope.stream.filter(self.fn_of(f"lambda {self.r}: not ({text})"),
                                         name=self.name(f"{negative}_{line}")), stmt)
        return scope.copy(no), scope.copy(yes)

    def forget(self, scope: Scope, stmts: list[ast.stmt]) -> None:
        """Locals a branch or inner loop rebinds hold, after it, a value that depends on which
        records reached it: reading them after it is refused."""
        for stmt in stmts:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    scope.env.paths.pop(node.id, None)

    def statement(self, stmt: ast.stmt, scope: Scope) -> None:
        if isinstance(stmt, ast.Pass):
            return
        if isinstance(stmt, ast.If):
            kept, taken = self.split(stmt, scope, "else" if stmt.orelse else "")
            self.block(stmt.body, taken)
            if stmt.orelse:
                self.block(stmt.orelse, kept)
            self.forget(scope, stmt.body + stmt.orelse)
            return
        if isinstance(stmt, ast.For):
            return self.inner_loop(stmt, scope)
        if isinstance(stmt, ast.Continue):
            self.refuse(stmt, "a continue outside the form 'if test: ... continue'")
        if isinstance(stmt, ast.Return):
            self.refuse(stmt, "a return inside a loop", "the result would depend on the order of the input")
        if any(stmt is s for s in self.updaters.values()):
            return self.update(stmt, scope)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, (ast.Name, ast.Tuple, ast.List)):
                return self.assign(stmt, target, scope)
            if isinstance(target, (ast.Subscript, ast.Attribute)):
                self.refuse(stmt, f"mutation of {ast.unparse(target.value)}",
                            "it is an input, a record of one, or a value made from one")
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            self.refuse(stmt, f"an augmented assignment to the local '{stmt.target.id}'",
                        f"it may change a value shared with the input; write "
                        f"{stmt.target.id} = {stmt.target.id} {_op(stmt.op)} ...")
        if isinstance(stmt, ast.Expr):
            bad = impurity(stmt.value, self.fn.__name__, self.globals)
            if bad:
                self.refuse(bad[0], bad[1], hint=bad[2])
            self.refuse(stmt, f"the expression statement '{ast.unparse(stmt)}'",
                        "its effect is invisible to hydropy")
        self.refuse(stmt, f"a {_kind(stmt)} inside a loop")

    def assign(self, stmt: ast.Assign, target: ast.expr, scope: Scope) -> None:
        paths = target_paths(target)
        if isinstance(paths, str):
            self.refuse(stmt, paths)
        self.check_targets(stmt, paths)
        (value,) = self.prepare(stmt, [stmt.value], scope)
        keep = [n for n in scope.env.paths if n not in paths]
        text = render(value, scope.env, self.r, self.constants)
        if keep:
            parts = [render(ast.Name(n, ast.Load()), scope.env, self.r, {}) for n in keep]
            body = f"({', '.join(parts)}, {text})"
            new = {n: (i,) for i, n in enumerate(keep)} | {n: (len(keep), *p) for n, p in paths.items()}
        else:
            body, new = text, paths
        label = "_".join(paths) if len(paths) < 4 else "let"
        scope.stream = self.at(scope.stream.map(self.fn_of(f"lambda {self.r}: {body}"),
                                                name=self.name(f"{label}_{self.loc(stmt).line}")), stmt)
        scope.env = Env(new)

    def inner_loop(self, stmt: ast.For, scope: Scope) -> None:
        if isinstance(stmt.iter, ast.Name) and stmt.iter.id in self.params:
            self.refuse(stmt, f"a loop over the input '{stmt.iter.id}' inside another loop",
                        "every pair of records", "cross() or join()")
        if stmt.orelse:
            self.refuse(stmt, "a for ... else")
        paths = target_paths(stmt.target)
        if isinstance(paths, str):
            self.refuse(stmt, paths)
        self.check_targets(stmt, paths)
        (it,) = self.prepare(stmt, [stmt.iter], scope)
        text = render(it, scope.env, self.r, self.constants)
        read = set().union(*(names_read(s) for s in stmt.body))
        line = self.loc(stmt).line
        label = "_".join(paths) if len(paths) < 4 else "item"
        if read & (set(scope.env.paths) - set(paths)):
            item = f"{self.r}_item"
            body = f"(({self.r}, {item}) for {item} in {text})"
            env = Env({**scope.env.nested(0).paths, **{n: (1, *p) for n, p in paths.items()}})
        else:
            body, env = text, Env(paths)
        stream = self.at(scope.stream.flat_map(self.fn_of(f"lambda {self.r}: {body}"),
                                               name=self.name(f"for_{label}_{line}")), stmt)
        self.block(stmt.body, Scope(stream, env, scope.updating), loop_body=True)
        self.forget(scope, [stmt])

    # -- expressions --------------------------------------------------------------------
    def prepare(self, stmt: ast.stmt, exprs: list[ast.expr], scope: Scope,
                allowed: tuple[str, ...] = ()) -> list[ast.expr]:
        """``exprs`` checked and with their reads of earlier loops' dicts replaced by lookups
        (which extend ``scope``'s records with the value found)."""
        out = []
        for expr in exprs:
            bad = impurity(expr, self.fn.__name__, self.globals)
            if bad:
                self.refuse(bad[0], bad[1], hint=bad[2])
            clash = names_bound(expr) & (set(scope.env.paths) | set(self.accs) | set(self.params))
            if clash:
                self.refuse(expr, f"a comprehension or lambda variable named like a variable of the "
                                  f"function ('{sorted(clash)[0]}')")
            expr = Lookups(self, stmt, scope, allowed).visit(_clone(expr))
            for node in ast.walk(expr):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    self.check_read(node, scope, allowed)
            out.append(expr)
        return out

    def check_read(self, node: ast.Name, scope: Scope, allowed) -> None:
        name = node.id
        if name in scope.env.paths or name in self.constants or name in allowed:
            return
        if name in self.accs:
            self.read_refusal(node, self.accs[name], scope, "as a whole")
        if name in self.params:
            self.refuse(node, f"reading the input '{name}' as a whole inside a loop",
                        "a loop sees one record at a time")
        if name in self.locals:
            self.refuse(node, f"reading '{name}', which is not bound on every path to this line "
                              f"within this loop")

    def read_refusal(self, node: ast.AST, acc: Accumulator, scope: Scope, how: str):
        if acc.name in scope.updating:
            self.refuse(node, f"reading the accumulator '{acc.name}' inside the loop that updates it",
                        "the value read depends on the order of the input")
        if not acc.done:
            self.refuse(node, f"reading the accumulator '{acc.name}' before the loop that fills it")
        self.refuse(node, f"reading the accumulator '{acc.name}' {how} in a later loop",
                    "only a dict read at a key (d[k], d.get(k), k in d) is a lookup",
                    "snapshot() and cross()")

    def lookup(self, stmt: ast.stmt, scope: Scope, acc: Accumulator, key: ast.expr) -> ast.Name:
        """Extend the records of ``scope`` with ``(value,)`` of ``acc`` at ``key`` (None when
        absent); returns the name the result is bound to."""
        self.lookups += 1
        slot = f"__hp_found_{self.lookups}"
        if acc.view is None:
            acc.view = self.at(acc.node.map(self.fn_of(f"lambda {self.v}: ({self.v},)"),
                                            name=self.name(f"{acc.name}_table")), acc.decl)
        text = render(key, scope.env, self.r, self.constants)
        line = self.loc(stmt).line
        keyed = self.at(scope.stream.map(self.fn_of(f"lambda {self.r}: ({text}, {self.r})"),
                                         name=self.name(f"key_{acc.name}_{line}")), stmt)
        found = self.at(keyed.lookup(acc.view, name=self.name(f"lookup_{acc.name}_{line}")), stmt)
        scope.stream = found
        scope.env = Env({n: (1, 0, *p) for n, p in scope.env.paths.items()} | {slot: (1, 1)})
        return ast.Name(slot, ast.Load())

    # -- accumulators -------------------------------------------------------------------
    def update(self, stmt: ast.stmt, scope: Scope) -> None:
        name = next(n for n, s in self.updaters.items() if s is stmt)
        if name not in self.accs:
            self.refuse(stmt, f"updating '{name}' before the top level declares it")
        acc = self.accs[name]
        plan: Update = (scalar_update if acc.kind == "scalar" else keyed_update)(self, stmt, acc, scope) \
            if acc.kind in ("scalar", "dict", "defaultdict", "counter") else self.collection_update(stmt, acc, scope)
        line = self.loc(stmt).line
        stream = scope.stream if plan.record is None else self.at(scope.stream.map(
            self.fn_of(f"lambda {self.r}: {plan.record}"), name=self.name(f"{acc.name}_update_{line}")), stmt)
        acc.node = self.at(plan.apply(stream, self.name(acc.name)), stmt)

    def collection_update(self, stmt: ast.stmt, acc: Accumulator, scope: Scope) -> Update:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        method = {"set": "add", "list": "append"}[acc.kind]
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name) and call.func.value.id == acc.name
                and call.func.attr in (method, "extend" if acc.kind == "list" else method)
                and len(call.args) == 1 and not call.keywords):
            self.refuse(stmt, f"the update '{ast.unparse(stmt)}' of the {acc.kind} '{acc.name}'",
                        f"a {acc.kind} is lifted when filled by {acc.name}.{method}(x)")
        (arg,) = self.prepare(stmt, call.args, scope)
        text = render(arg, scope.env, self.r, self.constants)
        if acc.kind == "set":
            return Update(text, lambda s, name: s.unique(name=name))
        if call.func.attr == "extend":
            return Update(text, lambda s, name: s.flat_map(self.fn_of(f"lambda {self.v}: {self.v}"), name=name))
        return Update(text, lambda s, name: s.map(self.fn_of(f"lambda {self.v}: {self.v}"), name=name))

    # -- the result ---------------------------------------------------------------------
    def finish(self, stmt: ast.Return) -> Flow:
        value = stmt.value
        if isinstance(value, ast.Name):
            shape, named = "name", [(value.id, value)]
        elif isinstance(value, ast.Tuple) and all(isinstance(e, ast.Name) for e in value.elts):
            shape, named = "tuple", [(e.id, e) for e in value.elts]
        elif isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                                 and isinstance(v, ast.Name)
                                                 for k, v in zip(value.keys, value.values)):
            shape, named = "dict", [(k.value, v) for k, v in zip(value.keys, value.values)]
        else:
            self.refuse(stmt, f"the return of {ast.unparse(value) if value else 'nothing'}",
                        "return an accumulator, a tuple of them or a dict literal of them")
        sinks = []
        for sink, var in named:
            acc = self.accs.get(var.id)
            if acc is None or acc.node is None:
                self.refuse(var, f"returning '{var.id}', which no loop accumulates")
            if any(s == sink for s, _ in sinks):
                self.refuse(var, f"returning '{sink}' twice")
            acc.node.sink(sink)
            self.at(_Handle(self.flow._graph.by_name(f"sink_{sink}")), var)
            sinks.append((sink, acc.sink_kind))
        self.flow.function = self.fn
        self.flow.lifted = LiftInfo(self.fn, self.params, sinks, shape, self.lambdas.text)
        self.flow.graph()  # verified now: a lifted flow is complete
        return self.flow


class _Handle:
    def __init__(self, node):
        self.node = node


def _clone(expr: ast.expr) -> ast.expr:
    import copy
    return copy.deepcopy(expr)


def _kind(stmt: ast.stmt) -> str:
    return {"Expr": "expression statement", "AugAssign": "augmented assignment"}.get(
        type(stmt).__name__, type(stmt).__name__.lower() + " statement")


def _op(op: ast.operator) -> str:
    return ast.unparse(ast.BinOp(ast.Name("a"), op, ast.Name("b")))[2:-2]
