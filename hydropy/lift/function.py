"""Which callables hydropy lifts: a plain module-level function, read from its source.

Everything else (a method, a lambda, a closure, a generator, a builtin, a function taking
*args or defaults) is refused with the reason, at the function's def line.
"""
from __future__ import annotations

import ast
import inspect

from hydropy.errors import HydropyError
from hydropy.ir.source import SourceLoc, function_ast

#: statements refused wherever they appear: construct, why, the Flow API way instead
STRUCTURAL = {
    ast.While: ("a while loop", "hydropy cannot bound its iterations", "flow.cycle()"),
    ast.Break: ("a break", "what is accumulated would depend on the position of a record in the input", ""),
    ast.Try: ("a try statement", "which updates an exception undoes depends on the order of the input", ""),
    ast.With: ("a with statement", "a context manager does input/output", ""),
    ast.AsyncWith: ("an async with statement", "", ""),
    ast.AsyncFor: ("an async for loop", "", ""),
    ast.Global: ("a global declaration", "it updates state outside the function", ""),
    ast.Nonlocal: ("a nonlocal declaration", "it updates state outside the function", ""),
    ast.Raise: ("a raise statement", "", "filter() to drop records"),
    ast.Assert: ("an assert statement", "", "filter() to drop records"),
    ast.Delete: ("a del statement", "", ""),
    ast.Import: ("an import inside the function", "", ""),
    ast.ImportFrom: ("an import inside the function", "", ""),
    ast.FunctionDef: ("a nested function definition", "", ""),
    ast.ClassDef: ("a nested class definition", "", ""),
    ast.Match: ("a match statement", "", ""),
}

#: decorators that leave a function liftable (``@hp.lift``, ``@hydropy.lift``, ``@lift``)
DECORATOR_NAMES = frozenset({"lift"})


class LiftRefused(HydropyError):
    """A function, or a construct in it, outside the liftable subset (docs/lifting.md)."""


def where(fn) -> SourceLoc | None:
    code = getattr(fn, "__code__", None)
    return SourceLoc(code.co_filename, code.co_firstlineno) if code else None


def read(fn) -> ast.FunctionDef:
    """The AST of a plain module-level function, or a refusal saying what ``fn`` is instead."""
    what = None
    if inspect.ismethod(fn) or (inspect.isfunction(fn) and "." in fn.__qualname__
                                and "<locals>" not in fn.__qualname__):
        what = "a method; lift a module-level function"
    elif not inspect.isfunction(fn):
        what = f"a {type(fn).__name__}, not a Python function"
    elif fn.__name__ == "<lambda>":
        what = "a lambda (a single expression has no loop to lift); use the Flow API"
    elif fn.__code__.co_freevars:
        what = (f"a nested function reading variables of its enclosing function "
                f"({', '.join(fn.__code__.co_freevars)}); lift a module-level function")
    elif inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        what = "a generator (yield); return the accumulated result instead"
    elif inspect.iscoroutinefunction(fn):
        what = "a coroutine (async def)"
    if what:
        name = getattr(fn, "__qualname__", repr(fn))
        raise LiftRefused(f"cannot lift {name}: it is {what}", where(fn))
    found = function_ast(fn, allow_decorators=DECORATOR_NAMES)
    if isinstance(found, str):
        raise LiftRefused(f"cannot lift {fn.__qualname__}: it {found}", where(fn))
    fdef = found.node
    args = fdef.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.kw_defaults:
        raise LiftRefused(f"cannot lift {fn.__qualname__}: its parameters must be plain names, one "
                          f"per input (no defaults, *args, **kwargs or keyword-only)", where(fn))
    return fdef
