"""Reading small user functions: the parameters and the one expression a function returns."""
from __future__ import annotations

import ast

from hydropy.ir.source import function_ast


def returned_expression(fn) -> tuple[list[str], ast.expr] | None:
    """``(parameter names, expression)`` when ``fn`` is a lambda, or a function whose body is a
    single ``return EXPR`` (after its docstring) with plain positional parameters; else None."""
    found = function_ast(fn)
    if isinstance(found, str):
        return None
    statements = found.body
    if isinstance(found.node, ast.FunctionDef) and ast.get_docstring(found.node) is not None:
        statements = statements[1:]
    if len(statements) != 1 or not isinstance(statements[0], ast.Return) or statements[0].value is None:
        return None
    params = found.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        return None
    return [a.arg for a in params.args], statements[0].value


def global_value(fn, name: str):
    """The value of the module-level name ``name`` as ``fn`` sees it (a builtin if unshadowed)."""
    import builtins
    scope = getattr(fn, "__globals__", {})
    return scope[name] if name in scope else getattr(builtins, name, None)
