"""Key lineage of user functions, read from their AST.

A record is a tree of positions. A *path* is a tuple of tuple indices: ``()`` is the
whole record, ``(0,)`` its field 0, ``(1, 0)`` field 0 of field 1. For a function of
arity n > 1 the first index picks the argument (``(1, 0)``: field 0 of the second argument).

The abstract value of an expression is one of

* :class:`Field` -- exactly the input found at a path;
* :class:`Const` -- a constant;
* :class:`Derived` -- a deterministic function of the inputs at some paths, and of nothing else;
* :class:`Record` -- a tuple (or list) built by the function, one value per field;
* :class:`Unknown` -- anything the analysis does not follow, with the reason.

Soundness: a construct the analysis does not model gives Unknown, never Field or Derived.
Modelled: parameters, tuple indexing and unpacking (parameters, assignments, nested
tuples), tuple and list displays, constants, attribute and item access, calls of pure
builtins (``len``, ``str``, ``int``, ``hash``, ``tuple``, ...) that the function's module does
not shadow, operators, conditional expressions, ``if`` statements and several ``return``
statements (merged position by position); and, as deterministic functions of what they read:
module constants (immutable values, or containers bound to an UPPER_CASE name), non-mutating
methods of built-in value types (``r[0].lower()``, ``TABLE.get(k)``), functions of
deterministic standard modules (``math``, ``hashlib``, ...) and helper functions whose own
body the analysis follows (read recursively). Everything else -- other calls, closure
variables, loops, mutation of locals -- is Unknown. The analysis assumes a user function does
not mutate its input records (hydropy requires this anyway: one record may reach several
operators).

Determinism (what Derived promises): the same inputs give the same value in every process of
one run. ``id()``, and every function of ``random``, ``time``, ``uuid``, ``os``, ``secrets``,
``datetime`` (``now``, ``today``, ...) are not: calling them gives Unknown, naming the function,
so no analysis that reasons about keys (partitioning through a computed key, functional
dependencies) relies on them. ``hash()`` of a str, bytes or a tuple of them differs between
Python processes unless they share ``PYTHONHASHSEED``; hydropy counts it (and the iteration
order of sets of strings) as deterministic because every process of one run shares one seed:
the local target and the simulator run in one process, and the Ray target starts the driver's
actors with one ``PYTHONHASHSEED``. A target that cannot promise this must not run a design
whose keys were moved through ``hash()`` (see docs/rewrites.md, ``partition``).
"""
from __future__ import annotations

import ast
import builtins
import operator
import types
from dataclasses import dataclass
from typing import Any, Iterable

from hydropy.ir import Node, UserFn
from hydropy.ir.source import function_ast

Path = tuple[int, ...]

#: builtins whose result is a deterministic function of their arguments (``hash``: within a
#: run, whose processes share one PYTHONHASHSEED; see the module docstring)
PURE_BUILTINS = frozenset({
    "abs", "bool", "chr", "divmod", "float", "frozenset", "hash", "int", "len", "max", "min",
    "ord", "repr", "round", "sorted", "str", "sum", "tuple",
})
#: modules whose functions give values that differ between calls, runs or processes
NONDETERMINISTIC_MODULES = frozenset({
    "random", "_random", "time", "uuid", "os", "posix", "nt", "secrets", "datetime", "_datetime",
    "_pydatetime", "socket", "threading", "_thread", "tempfile", "numpy.random"})
#: builtins that differ between processes (an object's address) or calls
NONDETERMINISTIC_BUILTINS = frozenset({"id", "input", "open", "globals", "locals", "vars", "iter",
                                       "next", "object"})
#: standard modules whose functions are deterministic functions of their arguments
DETERMINISTIC_MODULES = frozenset({
    "math", "cmath", "operator", "_operator", "string", "re", "hashlib", "_hashlib", "zlib",
    "binascii", "unicodedata", "_sha1", "_sha2", "_sha256", "_md5", "_blake2", "_sha3",
    "bisect", "_bisect", "json", "struct", "_struct"})
#: methods of built-in value types (str, bytes, numbers, tuple, frozenset, and the reading
#: methods of dict and list) that compute a value without changing their receiver
VALUE_METHODS = frozenset(
    {m for t in (str, bytes, int, float, tuple, frozenset) for m in dir(t) if not m.startswith("_")}
    | {"get", "keys", "values", "items", "copy", "index", "count", "hexdigest", "digest"})
#: how deep helper functions calling helpers are read
MAX_HELPER_DEPTH = 4


# -- abstract values ------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """Exactly the input at ``path``."""

    path: Path


@dataclass(frozen=True)
class Const:
    """A constant."""

    value: Any


@dataclass(frozen=True)
class Derived:
    """A deterministic function of the inputs at ``deps`` (no path in ``deps`` is a prefix of another)."""

    deps: frozenset[Path]


@dataclass(frozen=True)
class Record:
    """A tuple built by the function: ``items[i]`` is the value of field ``i``."""

    items: tuple["Value", ...]


@dataclass(frozen=True)
class Unknown:
    """Not followed by the analysis; ``reason`` says why in a few words."""

    reason: str


Value = Field | Const | Derived | Record | Unknown


def at(value: Value, path: Path) -> Value:
    """The abstract value at ``path`` inside ``value`` (Unknown where it cannot be told)."""
    for i in path:
        if isinstance(value, Record):
            if not 0 <= i < len(value.items):
                return Unknown(f"takes field {i} of a {len(value.items)}-tuple")
            value = value.items[i]
        elif isinstance(value, Field):
            value = Field(value.path + (i,))
        elif isinstance(value, Const):
            if not (isinstance(value.value, tuple) and 0 <= i < len(value.value)):
                return Unknown(f"takes field {i} of the constant {value.value!r}")
            value = Const(value.value[i])
        else:  # a part of a function of some inputs is a function of them; Unknown stays
            return value
    return value


def deps(value: Value) -> frozenset[Path] | None:
    """The input paths ``value`` is a function of, or None when it is Unknown anywhere."""
    if isinstance(value, Field):
        return frozenset({value.path})
    if isinstance(value, Const):
        return frozenset()
    if isinstance(value, Derived):
        return value.deps
    if isinstance(value, Record):
        out: set[Path] = set()
        for item in value.items:
            d = deps(item)
            if d is None:
                return None
            out |= d
        return frozenset(out)
    return None


def first_unknown(values: Iterable[Value]) -> Unknown | None:
    for v in values:
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Record):
            u = first_unknown(v.items)
            if u is not None:
                return u
    return None


def derived(values: Iterable[Value], extra: frozenset[Path] | None = frozenset()) -> Value:
    """A deterministic function of ``values`` (and of the inputs at ``extra``)."""
    values = list(values)
    if extra is None:
        return Unknown("depends on a condition the analysis cannot follow")
    out = set(extra)
    for v in values:
        d = deps(v)
        if d is None:
            return first_unknown(values) or Unknown("unknown operand")
        out |= d
    return Derived(_minimal(out))


def _minimal(paths: Iterable[Path]) -> frozenset[Path]:
    """Drop every path that has a proper prefix in the set (a function of x is one of x[0] too)."""
    paths = set(paths)
    return frozenset(p for p in paths if not any(p[:k] in paths for k in range(len(p))))


def merge(values: list[Value], cond: frozenset[Path] | None) -> Value:
    """The value of an expression that is one of ``values``, chosen by inputs at ``cond``.

    Equal alternatives stay as they are; tuples of one length merge field by field; anything
    else becomes a function of all alternatives and the condition (Unknown if any is)."""
    if all(v == values[0] for v in values):
        return values[0]
    if all(isinstance(v, Record) and len(v.items) == len(values[0].items) for v in values):
        return Record(tuple(merge([v.items[i] for v in values], cond)
                            for i in range(len(values[0].items))))
    if cond is None:
        return first_unknown(values) or Unknown("chooses by a condition the analysis cannot follow")
    return derived(values, cond)


# -- the lineage of one function ------------------------------------------------------------

@dataclass(frozen=True)
class Lineage:
    """What a user function's output is made of, in terms of its inputs.

    ``value`` is the abstract output (for a flat_map: of each element); ``params`` names the
    arguments for printing (empty when the function could not be read)."""

    value: Value
    arity: int = 1
    params: tuple[str, ...] = ()

    def at(self, path: Path) -> Value:
        return at(self.value, path)

    def input_path(self, path: Path) -> Path | None:
        """The input path copied unchanged to output ``path``, or None."""
        v = self.at(path)
        return v.path if isinstance(v, Field) else None

    def positions(self) -> tuple[tuple[Path, Value], ...]:
        """The leaves of the output tree: ``(output path, value)`` in field order."""
        out: list[tuple[Path, Value]] = []

        def walk(v: Value, path: Path) -> None:
            if isinstance(v, Record):
                for i, item in enumerate(v.items):
                    walk(item, path + (i,))
            else:
                out.append((path, v))
        walk(self.value, ())
        return tuple(out)

    def unknowns(self) -> tuple[tuple[Path, str], ...]:
        return tuple((p, v.reason) for p, v in self.positions() if isinstance(v, Unknown))

    def format_path(self, path: Path) -> str:
        """``kq[1][0]`` for path (1, 0) of a function ``lambda kq: ...``."""
        if self.arity > 1 and path:
            root = self.params[path[0]] if path[0] < len(self.params) else f"arg{path[0]}"
            path = path[1:]
        else:
            root = self.params[0] if self.params else "x"
        return root + "".join(f"[{i}]" for i in path)

    def format(self, value: Value | None = None) -> str:
        """The output as an expression: ``(kq[1][0], kq[0], ?)``; ``f(x[0])`` for a function of x[0]."""
        v = self.value if value is None else value
        if isinstance(v, Field):
            return self.format_path(v.path)
        if isinstance(v, Const):
            return repr(v.value)
        if isinstance(v, Derived):
            return f"f({', '.join(self.format_path(p) for p in sorted(v.deps))})"
        if isinstance(v, Record):
            inner = ", ".join(self.format(i) for i in v.items)
            return f"({inner},)" if len(v.items) == 1 else f"({inner})"
        return "?"

    def __str__(self) -> str:
        return self.format()


def output_lineage(fn: UserFn, arity: int = 1, *, skip_none: bool = False) -> Lineage:
    """The lineage of ``fn``'s return value; ``skip_none`` ignores ``return None`` (filter_map)."""
    return _analyse(fn, arity, "none" if skip_none else "value")


def element_lineage(fn: UserFn) -> Lineage:
    """The lineage of each element of the iterable ``fn`` returns (flat_map).

    Followed when every return is a tuple/list/set display or a comprehension; the
    variable of a comprehension over an input is Unknown (an element is not a function of
    its collection)."""
    return _analyse(fn, 1, "elements")


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


def substitute(value: Value, inner: Value) -> Value:
    """``value`` (in terms of a function's input) in terms of what ``inner`` is made of: the
    lineage of ``f(g(x))`` from that of ``f`` (``value``) and of ``g`` (``inner``)."""
    if isinstance(value, Field):
        return at(inner, value.path)
    if isinstance(value, Record):
        return Record(tuple(substitute(v, inner) for v in value.items))
    if isinstance(value, Derived):
        return derived([at(inner, p) for p in value.deps])
    return value


#: operators whose output records are (some of) their first input's records, unchanged
PASS_THROUGH = frozenset({"filter", "inspect", "unique", "forward", "anti_join"})


def key_of_output(node: Node) -> Path | None:
    """The input path that ends up in the key position ``(0,)`` of ``node``'s output records.

    For map / filter_map / flat_map, read from the function; for operators that pass
    records through (filter, inspect, unique, forward, anti_join), ``(0,)``; else None."""
    if node.kind in PASS_THROUGH:
        return (0,)
    lineage = node_lineage(node)
    return lineage.input_path((0,)) if lineage is not None else None


# -- reading the function -------------------------------------------------------------------

class _Opaque(Exception):
    """The function uses a statement the analysis does not model; the message says which."""


def _analyse(fn: UserFn, arity: int, mode: str, depth: int = 0) -> Lineage:
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
            if obj is not _LOCAL and obj is not _MISSING and _plain_data(obj, frozen=True):
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
        module = _origin_module(obj)
        if obj is _MISSING:
            return Unknown(f"calls {text}(), which it cannot find")
        if module in NONDETERMINISTIC_MODULES or module.split(".")[0] in NONDETERMINISTIC_MODULES or (
                module == "builtins" and getattr(obj, "__name__", "") in NONDETERMINISTIC_BUILTINS):
            return Unknown(f"calls {text}(), whose result is not a function of its arguments "
                           f"(it differs between calls or processes)")
        values = [self.expr(a, env) for a in args]
        if module in DETERMINISTIC_MODULES and callable(obj) and not isinstance(obj, type):
            return derived(values)
        if isinstance(obj, types.FunctionType) and self.depth < MAX_HELPER_DEPTH:
            inner = _analyse(UserFn.wrap(obj), max(len(values), 1), "value", self.depth + 1)
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
        if _plain_data(obj, frozen=True):
            return Const(obj)
        if _plain_data(obj, frozen=False) and name.isupper():
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


def _origin_module(obj) -> str:
    """The module that defines ``obj`` (for a bound method, its receiver's module)."""
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, types.ModuleType):
        return owner.__name__
    if owner is not None and not isinstance(owner, types.ModuleType):
        return _origin_module(owner if isinstance(owner, type) else type(owner))
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return getattr(obj, "__module__", None) or ""


def _plain_data(value, frozen: bool, depth: int = 0) -> bool:
    """``value`` is made of numbers, strings, bytes, None and (``frozen``: immutable) containers."""
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    kinds = (tuple, frozenset) if frozen else (tuple, frozenset, list, set, dict)
    if not isinstance(value, kinds) or len(value) > 100_000:
        return False
    items = list(value.items()) if isinstance(value, dict) else value
    return all(_plain_data(i, frozen, depth + 1) for i in items)


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
