"""Reading small user functions: the parameters and the one expression a function returns."""
from __future__ import annotations

import ast
import inspect
import textwrap

from hydropy.ir.source import lambda_node


def returned_expression(fn) -> tuple[list[str], ast.expr] | None:
    """``(parameter names, expression)`` when ``fn`` is a lambda, or a function whose body is a
    single ``return EXPR`` (after its docstring) with plain positional parameters; else None."""
    tree = lambda_node(fn)
    if tree is not None:
        params, body = tree.args, tree.body
    else:
        try:
            module = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError):
            return None
        func = module.body[0] if module.body else None
        if not isinstance(func, ast.FunctionDef):
            return None
        statements = func.body[1:] if ast.get_docstring(func) is not None else func.body
        if len(statements) != 1 or not isinstance(statements[0], ast.Return) or \
                statements[0].value is None:
            return None
        params, body = func.args, statements[0].value
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        return None
    return [a.arg for a in params.args], body


def global_value(fn, name: str):
    """The value of the module-level name ``name`` as ``fn`` sees it (a builtin if unshadowed)."""
    import builtins
    scope = getattr(fn, "__globals__", {})
    return scope[name] if name in scope else getattr(builtins, name, None)
