"""How a stage module names the user's objects: imports, closures written out, literals.

A user function or lattice class an operator holds becomes an expression of the stage module
(:meth:`References.ref`): a module-level name of the program or of an importable module is
imported (under an alias where the stage module uses its name for something else); a lambda
or nested function of the program is written out with the values it reads from enclosing
functions and its defaults as literals that read back exactly
(:func:`~.names.closure_literal`). Anything else is refused with a :class:`CompileError`
naming the operator and the reason: stage code never refers to an object it cannot recreate.

Invariant: every name :class:`References` binds in the stage module (``bound``) denotes one
object; a second object wanting that name gets a fresh one from its :class:`~.names.Namespace`.
"""
from __future__ import annotations

import ast
import builtins
import copy
import os
import sys

from hydropy.errors import CompileError
from hydropy.ir import Node, UserFn
from hydropy.ir.source import function_ast

from .names import Namespace, closure_literal
from .program import Program

RUNTIME_NAMES = ("ops", "Stage", "np", "njit", "kernels", "STAGE")  # a stage module's own


class References:
    """The user objects one stage module refers to: its imports (module -> names), the
    functions of the program written out at module level (``defs``), and every name bound
    so far (``bound``: name -> (module, object))."""

    def __init__(self, program: Program):
        self.program = program
        self.imports: dict[str, set[str]] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.bound: dict[str, tuple[str, object]] = {}
        self.defs: list[str] = []
        self.names = Namespace([*RUNTIME_NAMES, program.import_name])

    def ref(self, obj, node: Node, what: str) -> str:
        """An expression naming ``obj`` (a user function or lattice class) in the stage file."""
        from hydropy.lattices import Lattice
        if literal([obj]) is not None:  # a lattice's literal parameter (a path, a flag)
            return repr(obj)
        if isinstance(obj, type) and issubclass(obj, Lattice) and getattr(obj, "_origin", None):
            local = self.import_(obj._origin.__module__, obj._origin.__name__, obj._origin)
            args = ", ".join(self.ref(p, node, what) for p in obj._params)
            return f"{local}.over({args})"
        owner = getattr(obj, "__objclass__", None)  # a method of a builtin type: str.split
        if owner is not None and getattr(builtins, owner.__name__, None) is owner:
            return f"{owner.__name__}.{obj.__name__}"
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname and "<" not in qualname:
            head, dot, rest = qualname.partition(".")
            if module == "builtins" and getattr(builtins, head, None) is not None:
                return qualname
            if module == self.program.module:
                if self.program.namespace.get(head) is not None:
                    return self.import_(self.program.import_name, head, self.program.namespace[head]) + dot + rest
            elif module in sys.modules and _resolve(module, qualname) is obj:
                return self.import_(module, head, getattr(sys.modules[module], head)) + dot + rest
        label = UserFn.wrap(obj).label
        code = getattr(obj, "__code__", None)
        if code is None or (code.co_name != "<lambda>" and "<locals>" not in (qualname or "")):
            why = "it is not defined at module level of the program"
        elif os.path.realpath(getattr(obj, "__globals__", {}).get("__file__") or "") != \
                os.path.realpath(self.program.path):  # its globals are not the program's module
            why = "it is defined outside the program file"
        elif isinstance(found := function_ast(obj), str):
            why = f"its source {found}"
        else:
            why = self._closure_reason(obj, found, node, what, label)
            if why is None:
                return self._closure(obj, found)
        raise CompileError(f"{node.kind} '{node.name}': its {what} {label} cannot be emitted as "
                           f"stage code: {why}; define it as a function at module level of "
                           f"{os.path.basename(self.program.path)}", node.loc)

    def _closure_reason(self, obj, found, node: Node, what: str, label: str) -> str | None:
        """Why the lambda or nested function ``obj`` cannot be written into stage code, or None:
        the names it reads are its parameters, its own locals, module globals of the program
        (imported), builtins, or variables of enclosing functions holding simple values
        (:func:`~.names.closure_literal`); its defaults are such values too."""
        tree = found.node
        params = {a.arg for a in ast.walk(tree.args) if isinstance(a, ast.arg)}
        body = tree.body if isinstance(tree, ast.Lambda) else ast.Module(found.body, [])
        local = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, (ast.Store, ast.Del))}
        names = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load)} - params - local
        cells = _cells(obj)
        for name in sorted(names & set(cells)):
            if closure_literal(cells[name]) is None:
                return (f"it reads {name}, a variable of an enclosing function holding "
                        f"{_a_value(cells[name])}, which cannot be written as a Python literal "
                        f"read back exactly")
        for value in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
            if closure_literal(value) is None:
                return f"a default value of its parameters ({_a_value(value)}) cannot be written as a literal"
        missing = sorted(n for n in names - set(cells) if n not in self.program.namespace
                         and not hasattr(builtins, n))
        if missing:
            return f"it reads names that are not module-level globals ({', '.join(missing)})"
        for name in sorted((names - set(cells)) & set(self.program.namespace)):
            if self.import_(self.program.import_name, name, self.program.namespace[name]) != name:
                raise CompileError(f"{node.kind} '{node.name}': its {what} {label} reads the "
                                   f"global {name}, a name the stage module needs for "
                                   f"something else; rename that global", node.loc)
        return None

    def _closure(self, obj, found) -> str:
        """A lambda or nested function as an expression of the stage module: its text, its
        defaults and the enclosing variables it reads written as literals (bound by an
        enclosing lambda); a nested ``def`` is written at module level (``self.defs``)."""
        tree = _with_literal_defaults(found.node, obj)
        cells = {k: v for k, v in _cells(obj).items() if k in obj.__code__.co_freevars}
        free = sorted(cells)
        if isinstance(tree, ast.Lambda):
            text = ast.unparse(tree)
            if not free:
                return f"({text})"
            return (f"((lambda {', '.join(free)}: ({text}))"
                    f"({', '.join(closure_literal(cells[n]) for n in free)}))")
        name = self.names.fresh(tree.name)
        self.bound[name] = ("<closure>", obj)
        tree = ast.FunctionDef(name=tree.name, args=tree.args, body=tree.body, decorator_list=[],
                               returns=tree.returns, type_comment=None, type_params=[])
        inner = ast.unparse(ast.fix_missing_locations(tree))
        lines = [f"def {name}({', '.join(free)}):",
                 f"    \"\"\"{tree.name} as defined in a function of the program, with the values it "
                 f"reads from there.\"\"\"",
                 *("    " + line for line in inner.splitlines()),
                 f"    return {tree.name}", "", "",
                 f"{name} = {name}({', '.join(closure_literal(cells[n]) for n in free)})"]
        self.defs.append("\n".join(lines))
        return name

    def import_(self, module: str, name: str, obj) -> str:
        """Imports ``name`` from ``module``; returns its name in the stage module: ``name``, or
        an alias when the module already uses ``name`` for something else."""
        if (module, name) in self.aliases:
            return self.aliases[(module, name)]
        bound = self.bound.get(name)
        free = bound is None and (name not in RUNTIME_NAMES or runtime_object(name) is obj)
        local = name if free or (bound is not None and bound[1] is obj) else self.names.fresh(name)
        self.aliases[(module, name)] = local
        self.bound[local] = (module, obj)
        self.names.reserve(local)
        self.imports.setdefault(module, set()).add(name if local == name else f"{name} as {local}")
        return local


def runtime_object(name: str):
    """What a stage module's own name (:data:`RUNTIME_NAMES`) denotes; a program global that is
    the very same object may be imported under that name too."""
    import numba
    import numpy
    from hydropy.runtime import kernels, ops, stage
    return {"ops": ops, "Stage": stage.Stage, "np": numpy, "njit": numba.njit,
            "kernels": kernels}.get(name, name)


def literal(values) -> str | None:
    """``tuple(values)`` as a Python literal that reads back equal, or None."""
    text = repr(tuple(values))
    try:
        return text if ast.literal_eval(text) == tuple(values) else None
    except (ValueError, SyntaxError, TypeError):
        return None


def _resolve(module: str, qualname: str):
    obj = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _cells(fn) -> dict:
    """The variables of enclosing functions ``fn`` reads: name -> value (unset cells left out)."""
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            pass
    return out


def _a_value(value) -> str:
    return f"a {type(value).__name__} {_short(repr(value))}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _with_literal_defaults(tree, fn):
    """``tree`` (a lambda or def) with its default values written as the literals they are
    (a default such as ``k=k`` names a variable the stage module does not have)."""
    tree = copy.deepcopy(tree)
    args = tree.args
    defaults = fn.__defaults__ or ()
    if defaults:
        args.defaults = [ast.parse(closure_literal(v), mode="eval").body for v in defaults]
    kw = fn.__kwdefaults__ or {}
    args.kw_defaults = [ast.parse(closure_literal(kw[a.arg]), mode="eval").body if a.arg in kw else None
                        for a in args.kwonlyargs]
    return tree
