"""Reading a user function's AST into its key lineage: an abstract interpretation of its body.

Soundness: a construct the analysis does not model gives Unknown, never Field or Derived.
Modelled: parameters, tuple indexing and unpacking (parameters, assignments, nested
tuples), tuple and list displays, constants, attribute and item access, calls of pure
builtins (``len``, ``str``, ``int``, ``hash``, ``tuple``, ...) that the function's module does
not shadow, operators, conditional expressions, ``if`` statements and several ``return``
statements (merged position by position); and, as deterministic functions of what they read:
module constants (immutable values, or containers bound to an UPPER_CASE name), non-mutating
methods of built-in value types (``r[0].lower()``, ``TABLE.get(k)``), functions of
deterministic standard modules (``math``, ``hashlib``, ...; see :mod:`.determinism`) and helper
functions whose own body the analysis follows (read recursively). Everything else -- other
calls, closure variables, loops, mutation of locals -- is Unknown. The analysis assumes a user
function does not mutate its input records (hydropy requires this anyway: one record may reach
several operators).
"""
from __future__ import annotations

import ast
import builtins
import operator
import types

from hydropy.ir import UserFn
from hydropy.ir.source import function_ast

from .determinism import (PURE_BUILTINS, VALUE_METHODS, is_deterministic_function, is_nondeterministic,
                          plain_data)
from .lineage_values import (Const, Derived, Field, Lineage, Path, Record, Unknown, Value, at, deps,
                             derived, first_unknown, merge, substitute)

#: how deep helper functions calling helpers are read
MAX_HELPER_DEPTH = 4


# -- reading the function -------------------------------------------------------------------

class _Opaque(Exception):
    """The function uses a statement the analysis does not model; the message says which."""


def read_lineage(fn: UserFn, arity: int, mode: str, depth: int = 0) -> Lineage:
    """The lineage of ``fn``'s output (``mode``: "value", "none" to skip ``return None``, or
    "elements" of the iterable it returns); ``depth``: how deep in helper calls this is."""
    found = _function_ast(fn)
    if isinstance(found, Lineage):
        return found
    if isinstance(found, str):
        return Lineage(Unknown(found), arity)
    args, body = found
    params = [a.arg for a in args.posonlyargs + args.args]
    env: dict[str, Value] = {}
    if len(params) < arity:
        return Lineage(Unknown("takes its arguments in a form the analysis does not follow"), arity)
    for i, name in enumerate(params):
        if i < arity:
            env[name] = Field(() if arity == 1 else (i,))
        else:
            env[name] = Unknown(f"uses the default value of argument '{name}'")
    for extra in [args.vararg, args.kwarg, *args.kwonlyargs]:
        if extra is not None:
            env[extra.arg] = Unknown(f"uses the extra argument '{extra.arg}'")
    names = tuple(params[:arity])
    ev = _Evaluator(fn, depth)
    try:
        returns, fallthrough = ev.block(body, env, frozenset())
        if fallthrough is not None:
            returns.append((ast.Constant(None), fallthrough, frozenset()))
        return Lineage(ev.output(returns, mode), arity, names)
    except _Opaque as exc:
        return Lineage(Unknown(str(exc)), arity, names)


def _function_ast(fn: UserFn):
    """(arguments, body statements) of ``fn``, a ready Lineage, or a reason it cannot be read."""
    if isinstance(fn.obj, operator.itemgetter):
        return _itemgetter(fn.obj)
    found = function_ast(fn.obj) if fn.obj is not None else "has no source code"
    return found if isinstance(found, str) else (found.args, found.body)


def _itemgetter(obj: operator.itemgetter) -> Lineage:
    try:
        keys = [ast.literal_eval(a) for a in ast.parse(repr(obj), mode="eval").body.args]
    except (SyntaxError, ValueError, AttributeError):
        return Lineage(Unknown("is an itemgetter whose keys cannot be read"), 1)
    items = [Field((k,)) if isinstance(k, int) and k >= 0 else Derived(frozenset({()}))
             for k in keys]
    return Lineage(items[0] if len(items) == 1 else Record(tuple(items)), 1, ("x",))


# -- the evaluator --------------------------------------------------------------------------

Env = dict[str, Value]
Return = tuple[ast.expr, Env, "frozenset[Path] | None"]


class _Evaluator:
    """Abstract interpretation of one function body over :data:`Value`."""

    def __init__(self, fn: UserFn, depth: int = 0):
        self.fn = fn
        self.depth = depth
        self.in_return = False

    # statements: (returns reached, env at the end or None when every path returned/raised)
    def block(self, stmts: list[ast.stmt], env: Env, cond) -> tuple[list[Return], Env | None]:
        returns: list[Return] = []
        env = dict(env)
        for stmt in stmts:
            if isinstance(stmt, ast.Return):
                returns.append((stmt.value or ast.Constant(None), env, cond))
                return returns, None
            if isinstance(stmt, ast.Raise):
                return returns, None
            if isinstance(stmt, ast.If):
                test = self.expr(stmt.test, env)
                inner = _union(cond, deps(test))
                r1, e1 = self.block(stmt.body, env, inner)
                r2, e2 = self.block(stmt.orelse, env, inner)
                returns += r1 + r2
                alive = [e for e in (e1, e2) if e is not None]
                if not alive:
                    return returns, None
                env = _merge_envs(alive, deps(test))
            elif isinstance(stmt, ast.Assign):
                value = self.expr(stmt.value, env)
                for target in stmt.targets:
                    self.bind(target, value, env)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.value is not None:
                    self.bind(stmt.target, self.expr(stmt.value, env), env)
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                old = env.get(stmt.target.id, Unknown(f"reads '{stmt.target.id}' from outside"))
                env[stmt.target.id] = derived([old, self.expr(stmt.value, env)])
            elif isinstance(stmt, (ast.Pass, ast.Assert)):
                pass
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                pass  # a docstring
            else:
                raise _Opaque(f"has a statement the analysis does not follow ({_brief(stmt)})")
        return returns, env

    def bind(self, target: ast.expr, value: Value, env: Env) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                for name in _names(target):
                    env[name] = Unknown("unpacks with a starred target")
                return
            if isinstance(value, Record) and len(value.items) != len(target.elts):
                for name in _names(target):
                    env[name] = Unknown("unpacks a tuple of another length")
                return
            for i, elt in enumerate(target.elts):
                self.bind(elt, at(value, (i,)), env)
        else:
            raise _Opaque(f"assigns to an item or attribute ({_brief(target)})")

    # expressions
    def expr(self, e: ast.expr, env: Env) -> Value:
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            return self.global_name(e.id)
        if isinstance(e, ast.Constant):
            return Const(e.value)
        if isinstance(e, (ast.Tuple, ast.List)):
            if isinstance(e, ast.List) and not self.in_return:
                return Unknown("builds a list outside its return value")
            if any(isinstance(x, ast.Starred) for x in e.elts):
                return Unknown("builds a tuple with a starred item")
            return Record(tuple(self.expr(x, env) for x in e.elts))
        if isinstance(e, ast.Subscript):
            return self.subscript(e, env)
        if isinstance(e, ast.Attribute):
            obj = self.global_object(e, env)
            if obj is not _LOCAL and obj is not _MISSING and plain_data(obj, frozen=True):
                return Const(obj)  # a module's constant (math.pi)
            return derived([self.expr(e.value, env)])
        if isinstance(e, ast.Call):
            return self.call(e, env)
        if isinstance(e, ast.BinOp):
            return derived([self.expr(e.left, env), self.expr(e.right, env)])
        if isinstance(e, ast.UnaryOp):
            return derived([self.expr(e.operand, env)])
        if isinstance(e, ast.BoolOp):
            return derived([self.expr(v, env) for v in e.values])
        if isinstance(e, ast.Compare):
            return derived([self.expr(v, env) for v in [e.left, *e.comparators]])
        if isinstance(e, ast.IfExp):
            test = self.expr(e.test, env)
            return merge([self.expr(e.body, env), self.expr(e.orelse, env)], deps(test))
        if isinstance(e, ast.JoinedStr):
            return derived([self.expr(v, env) for v in _formatted(e)])
        return Unknown(f"uses an expression the analysis does not follow ({_brief(e)})")

    def subscript(self, e: ast.Subscript, env: Env) -> Value:
        base = self.expr(e.value, env)
        if isinstance(e.slice, ast.Slice):
            parts = [e.slice.lower, e.slice.upper, e.slice.step]
            try:
                bounds = [None if p is None else ast.literal_eval(p) for p in parts]
            except (ValueError, TypeError):
                return Unknown(f"slices with a computed bound ({_brief(e)})")
            if isinstance(base, Record):
                return Record(base.items[slice(*bounds)])
            return derived([base])
        try:
            key = ast.literal_eval(e.slice)
        except (ValueError, TypeError):  # a lookup by a computed key: a function of both
            return derived([base, self.expr(e.slice, env)])
        if isinstance(base, Const):
            try:
                return Const(base.value[key])
            except Exception:  # a constant that cannot be indexed so: the program would fail
                return Unknown(f"indexes a constant ({_brief(e)})")
        if isinstance(key, int) and not isinstance(key, bool):
            if isinstance(base, Record) and -len(base.items) <= key < 0:
                key += len(base.items)
            if key >= 0:
                return at(base, (key,))
        if isinstance(base, Record):
            return Unknown(f"indexes a tuple with {key!r}")
        return derived([base])

    def call(self, e: ast.Call, env: Env) -> Value:
        func = e.func
        if e.keywords or any(isinstance(a, ast.Starred) for a in e.args):
            return Unknown(f"calls {_brief(func)}() with keyword or starred arguments")
        if isinstance(func, ast.Name) and func.id not in env and self.builtin(func.id):
            args = [self.expr(a, env) for a in e.args]
            if func.id == "tuple" and len(args) == 1 and isinstance(args[0], Record):
                return args[0]
            return derived(args)
        target = self.global_object(func, env)
        if target is not _LOCAL:
            return self.call_global(func, target, e.args, env)
        if isinstance(func, ast.Attribute):  # a method of a value the function computed
            if func.attr not in VALUE_METHODS:
                return Unknown(f"calls method '{func.attr}'")
            return derived([self.expr(func.value, env)] + [self.expr(a, env) for a in e.args])
        return Unknown(f"calls {_brief(func)}()")

    def call_global(self, func: ast.expr, obj, args: list[ast.expr], env: Env) -> Value:
        """A call of ``obj``, found by name outside the function: a deterministic module's
        function, a helper read recursively, or Unknown naming what it calls and why."""
        text = _brief(func)
        if obj is _MISSING:
            return Unknown(f"calls {text}(), which it cannot find")
        if is_nondeterministic(obj):
            return Unknown(f"calls {text}(), whose result is not a function of its arguments "
                           f"(it differs between calls or processes)")
        values = [self.expr(a, env) for a in args]
        if is_deterministic_function(obj):
            return derived(values)
        if isinstance(obj, types.FunctionType) and self.depth < MAX_HELPER_DEPTH:
            inner = read_lineage(UserFn.wrap(obj), max(len(values), 1), "value", self.depth + 1)
            unknown = first_unknown([inner.value])
            if unknown is not None:
                code = obj.__code__
                where = f"{code.co_filename.replace(chr(92), '/').rsplit('/', 1)[-1]}:{code.co_firstlineno}"
                return Unknown(f"calls {text}() ({where}), which {unknown.reason}")
            if len(values) != obj.__code__.co_argcount:
                return Unknown(f"calls {text}() with {len(values)} arguments")
            return substitute(inner.value, values[0] if len(values) == 1 else Record(tuple(values)))
        return Unknown(f"calls {text}()")

    def global_object(self, e: ast.expr, env: Env):
        """The object a name (or a chain of attributes of one) refers to when it is not a local of
        the function: a module-level name or a builtin; ``_LOCAL`` when it is a local, a
        closure variable or not a plain chain."""
        if isinstance(e, ast.Attribute):
            base = self.global_object(e.value, env)
            if base is _LOCAL or base is _MISSING:
                return base
            return getattr(base, e.attr, _MISSING) if isinstance(base, (types.ModuleType, type)) else _LOCAL
        if not isinstance(e, ast.Name) or e.id in env:
            return _LOCAL
        obj = self.fn.obj
        code = getattr(obj, "__code__", None)
        if obj is None or (code is not None and e.id in code.co_freevars):
            return _LOCAL
        scope = getattr(obj, "__globals__", {})
        return scope[e.id] if e.id in scope else getattr(builtins, e.id, _MISSING)

    def global_name(self, name: str) -> Value:
        """A name read from outside the function: a module constant or Unknown."""
        obj = self.global_object(ast.Name(name), {})
        if obj is _LOCAL or obj is _MISSING:
            return Unknown(f"reads '{name}' from outside the function")
        if plain_data(obj, frozen=True):
            return Const(obj)
        if plain_data(obj, frozen=False) and name.isupper():
            return Derived(frozenset())  # a constant table: a value the records do not change
        return Unknown(f"reads '{name}' from outside the function (not a constant: immutable "
                       f"data, or a container named in UPPER_CASE)")

    def builtin(self, name: str) -> bool:
        """``name`` is a pure builtin here: not shadowed by the module or a closure variable."""
        obj = self.fn.obj
        if name not in PURE_BUILTINS or obj is None:
            return False
        code = getattr(obj, "__code__", None)
        shadowed = name in getattr(obj, "__globals__", {}) or (
            code is not None and name in code.co_freevars)
        return not shadowed

    # the output
    def output(self, returns: list[Return], mode: str) -> Value:
        values, conds = [], frozenset()
        for e, env, cond in returns:
            if mode == "none" and isinstance(e, ast.Constant) and e.value is None:
                continue
            conds = _union(conds, cond)
            if mode == "elements":
                values += self.elements(e, env)
            else:
                self.in_return = True
                values.append(self.expr(e, env))
                self.in_return = False
        if not values:
            return Unknown("never returns a value")
        return merge(values, conds)

    def elements(self, e: ast.expr, env: Env) -> list[Value]:
        """The values of the elements of the iterable ``e`` (a flat_map's return value)."""
        if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
            if any(isinstance(x, ast.Starred) for x in e.elts):
                return [Unknown("returns a display with a starred item")]
            self.in_return = True
            out = [self.expr(x, env) for x in e.elts]
            self.in_return = False
            return out
        if isinstance(e, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            inner = dict(env)
            for gen in e.generators:
                if gen.is_async:
                    return [Unknown("uses an async comprehension")]
                source = self.expr(gen.iter, inner)
                each = (merge(list(source.items), frozenset()) if isinstance(source, Record) and source.items
                        else Unknown(f"takes elements of {_brief(gen.iter)}"))
                self.bind(gen.target, each, inner)
            self.in_return = True
            out = self.expr(e.elt, inner)
            self.in_return = False
            return [out]
        value = self.expr(e, env)
        if isinstance(value, Record):
            return list(value.items)
        reason = f" ({value.reason})" if isinstance(value, Unknown) else ""
        return [Unknown(f"returns an iterable the analysis cannot see into{reason}")]


_LOCAL = object()    # a name the function binds itself (or a closure variable)
_MISSING = object()  # a name found nowhere


def _formatted(e: ast.JoinedStr) -> list[ast.expr]:
    out: list[ast.expr] = []
    for v in e.values:
        if isinstance(v, ast.FormattedValue):
            out.append(v.value)
            if v.format_spec is not None:
                out += _formatted(v.format_spec)
    return out


def _names(target: ast.expr) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _union(a: frozenset[Path] | None, b: frozenset[Path] | None) -> frozenset[Path] | None:
    return None if a is None or b is None else a | b


def _merge_envs(envs: list[Env], cond: frozenset[Path] | None) -> Env:
    """Variables after an ``if``: a name bound on one path only keeps that binding (the other
    path raises NameError if it reads it, producing no output)."""
    out: Env = {}
    for name in {n for e in envs for n in e}:
        out[name] = merge([e[name] for e in envs if name in e], cond)
    return out


def _brief(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[:limit - 3] + "..."
