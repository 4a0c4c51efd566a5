"""Expressions of a lifted function as the functions of its operators.

A record travelling a lifted stream holds the values of the loop's local variables; ``Env``
says where each one sits in it (a path of tuple indices). An expression of the user's becomes
``lambda r: ...`` with each local replaced by its place in ``r``: the same computation, on the
same values. The lambdas are compiled against the user's module globals (so free names
resolve as in the function) from a source text registered with ``linecache``, one lambda a
line, so every reader of functions (``function_ast``, the passes, the emitter) reads them.
"""
from __future__ import annotations

import ast
import linecache
from typing import Callable

#: builtins whose call has an effect or an answer that differs between processes or calls
IMPURE_BUILTINS = {"print", "open", "input", "exec", "eval", "compile", "breakpoint", "setattr",
                   "delattr", "globals", "locals", "vars", "__import__", "id", "hash", "next",
                   "iter", "exit", "quit", "help"}
#: modules whose functions read the clock, the system or a random state
IMPURE_MODULES = {"random", "time", "os", "sys", "uuid", "secrets", "socket", "subprocess",
                  "shutil", "pathlib", "io", "logging", "datetime"}
#: methods that change the object they are called on
MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "add", "discard",
            "sort", "reverse", "setdefault", "popitem", "write", "writelines", "send", "put"}

Path = tuple


class Env:
    """Local name -> path of its value inside the record (``()``: the record itself)."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = dict(paths)

    def nested(self, outer: int) -> "Env":
        """The same names inside a record that now sits at index ``outer`` of a pair."""
        return Env({n: (outer, *p) for n, p in self.paths.items()})

    def flat(self) -> tuple[list[str], "Env"]:
        """The names in a fixed order, and their paths once packed as a flat tuple (or the
        bare value when there is one name)."""
        names = list(self.paths)
        if len(names) == 1:
            return names, Env({names[0]: ()})
        return names, Env({n: (i,) for i, n in enumerate(names)})


def access(param: str, path: Path) -> ast.expr:
    node: ast.expr = ast.Name(param, ast.Load())
    for i in path:
        node = ast.Subscript(node, ast.Constant(i), ast.Load())
    return node


def target_paths(target: ast.expr, base: Path = ()) -> dict[str, Path] | str:
    """The names a ``for``/assignment target binds and their paths, or why it is not liftable."""
    if isinstance(target, ast.Name):
        return {target.id: base}
    if isinstance(target, (ast.Tuple, ast.List)):
        out: dict[str, Path] = {}
        for i, elt in enumerate(target.elts):
            if isinstance(elt, ast.Starred):
                return "a starred target (*rest)"
            inner = target_paths(elt, (*base, i))
            if isinstance(inner, str):
                return inner
            out.update(inner)
        return out
    return f"a target of the form {type(target).__name__.lower()} (only names and tuples of names)"


def names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def names_bound(node: ast.AST) -> set[str]:
    """Names an expression binds itself (comprehension targets, lambda parameters)."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.comprehension):
            out |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
        elif isinstance(n, ast.Lambda):
            out |= {a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs}
            out |= {a.arg for a in (n.args.vararg, n.args.kwarg) if a is not None}
    return out


def impurity(expr: ast.AST, own_name: str, module_globals: dict) -> tuple[ast.AST, str, str] | None:
    """The first sub-expression whose evaluation has an effect hydropy cannot keep (node,
    construct, hint), or None. Calls of other functions are taken to be pure, as the Flow
    API takes its operators' functions."""
    for n in ast.walk(expr):
        if isinstance(n, (ast.Yield, ast.YieldFrom)):
            return n, "a yield (a generator)", "return the accumulated result instead"
        if isinstance(n, ast.Await):
            return n, "an await", ""
        if isinstance(n, ast.NamedExpr):
            return n, "an assignment expression (:=)", "assign on a line of its own"
        if not isinstance(n, ast.Call):
            continue
        fn = n.func
        if isinstance(fn, ast.Name):
            if fn.id == own_name:
                return n, f"recursion (a call of {own_name})", "flow.cycle() for iteration"
            if fn.id in IMPURE_BUILTINS and fn.id not in module_globals:
                return n, f"a call of {fn.id}() (input/output or per-process state)", \
                    "inspect() to observe records"
        elif isinstance(fn, ast.Attribute):
            if fn.attr in MUTATORS:
                return n, f"a call of .{fn.attr}() that changes its object", ""
            base = fn.value
            if isinstance(base, ast.Name) and getattr(module_globals.get(base.id), "__name__", None) in IMPURE_MODULES:
                return n, f"a call of {base.id}.{fn.attr}() (input/output, clock or randomness)", ""
    return None


def render(expr: ast.expr, env: Env, param: str, constants: dict[str, ast.expr]) -> str:
    """``expr`` as source text over the record ``param``: locals replaced by their paths,
    constants by their literal."""

    class Replace(ast.NodeTransformer):
        def visit_Name(self, node):
            if isinstance(node.ctx, ast.Load):
                if node.id in env.paths:
                    return ast.copy_location(access(param, env.paths[node.id]), node)
                if node.id in constants:
                    return ast.copy_location(constants[node.id], node)
            return node

    tree = Replace().visit(ast.fix_missing_locations(_copy(expr)))
    return ast.unparse(tree)


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="eval").body if isinstance(node, ast.expr) else node


class LambdaSource:
    """The source text of one lifted function's lambdas, registered with linecache under a
    name of its own; ``make`` compiles one more lambda on a line of its own."""

    def __init__(self, fn: Callable, label: str):
        self.globals = fn.__globals__
        self.filename = f"<hydropy.lift {label}>"
        self.lines: list[str] = []

    def make(self, text: str) -> Callable:
        self.lines.append(text + "\n")
        linecache.cache[self.filename] = (sum(map(len, self.lines)), None, list(self.lines),
                                          self.filename)
        code = compile("\n" * (len(self.lines) - 1) + text, self.filename, "eval")
        return eval(code, self.globals)  # noqa: S307 - the user's own expression, as a lambda

    @property
    def text(self) -> str:
        return "".join(self.lines)


def updated_names(stmt: ast.stmt) -> set[str]:
    """Names a statement updates: assigned, augmented, assigned at a key, or whose method
    (or whose value at a key's method) it calls as a statement."""
    targets = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AugAssign):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
            and isinstance(stmt.value.func, ast.Attribute):
        targets = [stmt.value.func.value]
    out = set()
    for t in targets:
        while isinstance(t, (ast.Subscript, ast.Attribute)):
            t = t.value
        if isinstance(t, ast.Name):
            out.add(t.id)
    return out


def constant(value: ast.expr):
    """A literal's value wrapped as a 1-tuple (None when ``value`` is not a literal);
    ``float("inf")`` and ``float("-inf")`` count as literals."""
    try:
        return (ast.literal_eval(value),)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    inner = value.operand if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) else value
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "float" \
            and len(inner.args) == 1 and isinstance(inner.args[0], ast.Constant) \
            and str(inner.args[0].value).lower().lstrip("+-") in ("inf", "infinity"):
        return (eval(ast.unparse(value), {"float": float}),)  # noqa: S307 - a checked literal
    return None
