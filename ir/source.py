"""Source locations and user functions, captured while a program is traced."""
from __future__ import annotations

import ast
import functools
import inspect
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
        try:
            source = textwrap.dedent(inspect.getsource(fn)).strip()
        except (OSError, TypeError):
            source = ""
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


@functools.lru_cache(maxsize=64)
def _parsed_file(path: str, mtime: float) -> ast.Module | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None


def lambda_node(fn: Callable[..., Any]) -> ast.Lambda | None:
    """The AST of a lambda, found in its file by line and parameter names; None when the file is
    unavailable or two lambdas on that line cannot be told apart."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_name != "<lambda>":
        return None
    try:
        tree = _parsed_file(code.co_filename, os.path.getmtime(code.co_filename))
    except OSError:
        return None
    if tree is None:
        return None
    params = [*code.co_varnames[:code.co_argcount]]
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
             and [a.arg for a in n.args.args] == params]
    texts = {ast.unparse(n) for n in found}
    return found[0] if len(texts) == 1 else None
