"""Source locations and user functions, captured while a program is traced."""
from __future__ import annotations

import ast
import functools
import inspect
import linecache
import os
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class SourceLoc:
    """A position in the user's program; prints as ``path:line`` (path relative to cwd when below it)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}"

    @property
    def short(self) -> str:
        """``basename:line``, stable across machines; used by printers and snapshots."""
        return f"{os.path.basename(self.file)}:{self.line}"


def display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _is_library_frame(frame) -> bool:
    name = frame.f_globals.get("__name__", "")
    return name == "hydropy" or name.startswith("hydropy.")


def _user_frame():
    frame = sys._getframe(2)
    while frame is not None and _is_library_frame(frame):
        frame = frame.f_back
    return frame


def user_location() -> SourceLoc | None:
    """The innermost stack frame outside hydropy itself: the user's line that built an operator."""
    frame = _user_frame()
    return None if frame is None else SourceLoc(frame.f_code.co_filename, frame.f_lineno)


def user_module_name() -> str | None:
    """The ``__name__`` of the user's module calling into hydropy."""
    frame = _user_frame()
    return None if frame is None else frame.f_globals.get("__name__")


@dataclass(frozen=True, eq=False)
class UserFn:
    """A user function with what printers, analyses and emitters need to know of it.

    ``obj`` is the callable (None after a JSON round-trip when it cannot be re-imported);
    ``source`` is its dedented source text, or "" when Python cannot recover it.
    """

    obj: Callable[..., Any] | None
    name: str
    module: str
    source: str
    loc: SourceLoc | None

    @staticmethod
    def wrap(fn: Callable[..., Any]) -> "UserFn":
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        module = getattr(fn, "__module__", None) or ""
        source = (source_text(fn) or "").strip()
        code = getattr(fn, "__code__", None)
        loc = SourceLoc(code.co_filename, code.co_firstlineno) if code is not None else None
        return UserFn(fn, name, module, source, loc)

    @property
    def is_lambda(self) -> bool:
        return self.name.endswith("<lambda>")

    @property
    def label(self) -> str:
        """How printers name the function: its qualname, or ``lambda@line``."""
        if self.is_lambda and self.loc is not None:
            return f"lambda@{self.loc.line}"
        return self.name

    def __call__(self, *args):
        return self.obj(*args)

    def __eq__(self, other) -> bool:
        return isinstance(other, UserFn) and (self.name, self.module, self.source) == (
            other.name, other.module, other.source)

    def __hash__(self) -> int:
        return hash((self.name, self.module, self.source))


def positional_arity_ok(fn: Callable[..., Any], n: int) -> bool:
    """True when ``fn`` can be called with exactly ``n`` positional arguments (or its signature is unknown)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        sig.bind(*range(n))
    except TypeError:
        return False
    return True


@dataclass(frozen=True)
class FunctionAst:
    """A user function as its AST: ``node`` (the ``ast.Lambda`` or ``ast.FunctionDef``), its
    ``args`` and ``body`` (a lambda's body as one ``return``), and the values of the free names
    it reads (``closure``: nonlocal cells first, then module globals, then builtins)."""

    node: ast.Lambda | ast.FunctionDef
    args: ast.arguments
    body: list[ast.stmt]
    closure: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return [a.arg for a in self.args.posonlyargs + self.args.args]


def function_ast(fn: Callable[..., Any], allow_decorators: frozenset[str] = frozenset()) -> FunctionAst | str:
    """The one reader of user functions' source: the AST of ``fn``, or the reason it cannot
    be read (one phrase, e.g. "is a builtin"). Every analysis, the lattice pass and the
    emitter read functions through this, so what one can read the others can too.

    A lambda is found in its file (through ``linecache``, so notebooks and ``exec``'d code
    with registered source work too) among the lambdas on its first line, narrowed by
    parameter names and then by compiling each candidate and comparing its variables,
    constants and names with ``fn``'s code; candidates with the same text are the same
    function, others that remain make it ambiguous. A ``def`` is parsed from its source; one
    with decorators is refused ("is decorated": they may change what it computes) unless each
    is named in ``allow_decorators`` (``@hp.lift`` leaves the function's body its meaning)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return "has no source code (a builtin or a callable object)"
    try:
        return _function_ast(fn, code, frozenset(allow_decorators))
    except TypeError:  # an unhashable callable: read it without the cache
        return _function_ast.__wrapped__(fn, code, frozenset(allow_decorators))


@functools.lru_cache(maxsize=1024)
def _function_ast(fn, code, allow_decorators: frozenset[str]) -> FunctionAst | str:
    if code.co_name == "<lambda>":
        found = _find_lambda(code)
        if isinstance(found, str):
            return found
        return FunctionAst(found, found.args, [ast.Return(found.body, lineno=found.lineno,
                                                          col_offset=found.col_offset)],
                           _closure(fn))
    text = source_text(fn)
    if text is None:
        return "has no source code"
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return "has source code that cannot be parsed"
    fdef = tree.body[0] if tree.body else None
    if isinstance(fdef, ast.AsyncFunctionDef):
        return "is a coroutine"
    if not isinstance(fdef, ast.FunctionDef):
        return "has no def statement in its source code"
    names = [d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", None) for d in fdef.decorator_list]
    if any(name not in allow_decorators for name in names):
        return "is decorated" if not allow_decorators else \
            f"is decorated by something other than {' or '.join(sorted(allow_decorators))}"
    if fdef.name != code.co_name:
        return f"has source code that defines '{fdef.name}' instead"
    return FunctionAst(fdef, fdef.args, fdef.body, _closure(fn))


def source_text(fn) -> str | None:
    """The dedented source text of ``fn`` as Python keeps it (for a lambda, its whole lines),
    or None when there is none: what :class:`UserFn` shows and :func:`function_ast` parses."""
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None


def _closure(fn) -> dict[str, Any]:
    try:
        found = inspect.getclosurevars(fn)
    except (TypeError, ValueError):
        return {}
    return {**found.builtins, **found.globals, **found.nonlocals}


def _find_lambda(code) -> ast.Lambda | str:
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return "has no source code"
    try:
        tree = ast.parse("".join(lines), code.co_filename)
    except (SyntaxError, ValueError):
        return "has source code that cannot be parsed"
    params = list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])
    candidates = {ast.dump(n): n for n in ast.walk(tree)
                  if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
                  and [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs] == params
                  and _same_code(n, code)}
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        return "cannot be found in its source line"
    return "cannot be told apart from another lambda on its line"


def _signature(code) -> tuple:
    consts = tuple(c for c in code.co_consts if not hasattr(c, "co_code"))
    return (code.co_varnames, consts, frozenset(code.co_names) | frozenset(code.co_freevars))


def _same_code(lam: ast.Lambda, code) -> bool:
    """Whether ``lam`` compiles to the same variables, constants and names as ``code`` (free
    variables compile to globals on their own, hence names and free variables together)."""
    try:
        outer = compile(ast.Expression(lam), "<hydropy>", "eval")
    except (SyntaxError, ValueError, TypeError):
        return False
    inner = [c for c in outer.co_consts if hasattr(c, "co_code")]
    return len(inner) == 1 and _signature(inner[0]) == _signature(code)
