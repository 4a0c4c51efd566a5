"""Finding the user's program (PROGRAM arguments of the CLI) and reading inputs files."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from typing import Any, Iterable, Mapping

from hydropy import yamlio
from hydropy.errors import HydropyError, InputError, LoadError
from hydropy.flow import Flow
from hydropy.lift import lift
from hydropy.ir.source import SourceLoc, display_path


def load_flow(spec: str) -> Flow:
    """``path/to/file.py``, ``path/to/file.py:attr`` or ``package.module:attr`` -> the Flow.

    ``attr`` may name a Flow or a zero-argument function returning one; a file holding
    exactly one Flow needs no ``attr``.
    """
    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    is_file = target.endswith(".py") or os.sep in target or os.path.exists(target)
    module = _import_file(target) if is_file else _import_module(target)
    where = display_path(target) if is_file else target
    module_file = getattr(module, "__file__", None)
    file_loc = SourceLoc(module_file, 1) if module_file else None
    if attr:
        try:
            obj = getattr(module, attr)
        except AttributeError:
            raise LoadError(f"{where} has no attribute '{attr}'", file_loc) from None
        if callable(obj) and not isinstance(obj, Flow):
            obj = _lift_or_build(obj, f"{where}:{attr}", _defined_at(module_file, attr))
        if not isinstance(obj, Flow):
            raise LoadError(f"{where}:{attr} is {_a(type(obj).__name__)}, not a hydropy Flow",
                            _defined_at(module_file, attr))
        return obj
    flows = {id(v): (k, v) for k, v in vars(module).items() if isinstance(v, Flow)}
    if not flows:
        raise LoadError(f"{where} holds no hydropy Flow; define one at module level or name a "
                        f"function that builds one as {where}:NAME", file_loc)
    if len(flows) > 1:
        names = ", ".join(sorted(k for k, _ in flows.values()))
        raise LoadError(f"{where} holds several Flows ({names}); name one as {where}:NAME",
                        _defined_at(module_file, sorted(k for k, _ in flows.values())[1]))
    return next(iter(flows.values()))[1]


def _lift_or_build(fn, what: str, defined: SourceLoc | None) -> Any:
    """A plain function whose parameters are its inputs is lifted into a Flow (hydropy.lift);
    a function of no arguments is called to build one."""
    try:
        takes_inputs = bool(inspect.signature(fn).parameters) and not isinstance(fn, type)
    except (TypeError, ValueError):
        takes_inputs = False
    if takes_inputs:
        return lift(fn)
    return _build(fn, what, defined)


def _build(factory, what: str, defined: SourceLoc | None) -> Any:
    """Call a zero-argument function that builds a Flow; its failures are about the user's file
    (``defined``: where the function is defined)."""
    try:
        inspect.signature(factory).bind()
    except TypeError:
        raise LoadError(f"{what} needs arguments {inspect.signature(factory)}; name a Flow or a "
                        f"function of no arguments that returns one", defined) from None
    except ValueError:  # no signature to read (some builtins): just call it
        pass
    try:
        return factory()
    except HydropyError:
        raise
    except Exception as exc:
        loc = (_failing_line(exc, os.path.abspath(defined.file)) if defined else None) or defined
        raise LoadError(f"{what} raised {type(exc).__name__}: {exc}", loc) from None


def _defined_at(path: str | None, name: str) -> SourceLoc | None:
    """Where module file ``path`` defines or assigns top-level ``name`` (its first line)."""
    if not path or not path.endswith(".py"):
        return None
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return SourceLoc(path, 1)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return SourceLoc(path, node.lineno)
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return SourceLoc(path, node.lineno)
    return SourceLoc(path, 1)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiouAEIOU' else 'a'} {noun}"


def _import_file(path: str):
    if not os.path.isfile(path):
        raise LoadError(f"no such program file: {path}")
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules else f"hydropy_user_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        spec.loader.exec_module(module)
    except HydropyError:
        del sys.modules[name]
        raise
    except BaseException as exc:
        del sys.modules[name]
        raise LoadError(f"cannot import {os.path.relpath(path)}: {type(exc).__name__}: {exc}",
                        _failing_line(exc, path)) from exc
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except HydropyError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise LoadError(f"no such program: {name} is neither a file nor an importable module") from exc
        raise LoadError(f"cannot import {name}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise LoadError(f"cannot import {name}: {type(exc).__name__}: {exc}") from exc


def _failing_line(exc: BaseException, path: str) -> SourceLoc | None:
    if isinstance(exc, SyntaxError) and exc.filename:
        return SourceLoc(exc.filename, exc.lineno or 0)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    return SourceLoc(path, frames[-1].lineno) if frames else None


def load_inputs(path: str, known: Iterable[str] | Mapping[str, str | None] | None = None) -> dict[str, list]:
    """A YAML or JSON file mapping input names to lists of records, read strictly
    (:mod:`hydropy.yamlio`: no duplicate keys, aliases or merge keys).

    JSON and YAML have no tuples, so every list inside a record becomes a tuple:
    ``[k, v]`` is the pair ``(k, v)`` that keyed operators take. With ``known`` (the
    program's source names), a name not among them is refused at its line in the file; with
    ``known`` a mapping to declared dtypes, a record that does not fit its input's dtype is
    refused at its line (the targets would otherwise fail at the input's first operator).

    The ``ticks:`` form (the file's only key, and not an input of the program; without
    ``known``, a list of mappings) gives the inputs tick by tick, a list of such mappings; it
    is returned as
    :class:`~hydropy.targets.local.Ticks`, which every target runs as those ticks.
    """
    from hydropy.targets.local import Ticks
    data, root = yamlio.load(path, InputError, "inputs file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"inputs file must map input names to lists of records, "
                         f"got a {type(data).__name__}", yamlio.line_of(root, path))
    dtypes = dict(known) if isinstance(known, Mapping) else {}
    known = None if known is None else list(known)
    if "ticks" in data and (known is not None and "ticks" not in known or known is None and (
            list(data) == ["ticks"] and isinstance(data["ticks"], list)
            and all(t is None or isinstance(t, dict) for t in data["ticks"]))):
        where = yamlio.key_line(root, "ticks", path)
        others = [name for name in data if name != "ticks"]
        if others:
            raise InputError(f"an inputs file with 'ticks:' gives every input inside its ticks; "
                             f"'{others[0]}' is outside them", yamlio.key_line(root, others[0], path))
        if not isinstance(data["ticks"], list):
            raise InputError(f"'ticks' must be a list of ticks (each mapping input names to "
                             f"records), got a {type(data['ticks']).__name__}", where)
        listed = yamlio.value_node(root, "ticks")
        nodes = listed.value if isinstance(getattr(listed, "value", None), list) else []
        ticks = Ticks()
        for t, batch in enumerate(data["ticks"]):
            node = nodes[t] if t < len(nodes) else None
            at = yamlio.line_of(node, path) if node is not None else where
            if batch is None:
                batch = {}
            if not isinstance(batch, dict):
                raise InputError(f"tick {t + 1} must map input names to lists of records, got a "
                                 f"{type(batch).__name__}", at)
            ticks.append(_records_of(batch, node if node is not None else root, path, known, dtypes))
        return ticks
    return _records_of(data, root, path, known, dtypes)


def _records_of(data: dict, root, path: str, known: list[str] | None,
                dtypes: Mapping[str, str | None]) -> dict[str, list]:
    for name, records in data.items():
        where = yamlio.key_line(root, name, path)
        if not isinstance(name, str):
            raise InputError(f"input names are strings, got the {type(name).__name__} {name!r} "
                             f"(quote it)", where)
        if not isinstance(records, list):
            raise InputError(f"input '{name}' must map to a list of records, "
                             f"got a {type(records).__name__}", where)
    if known is not None:
        unknown = [name for name in data if name not in known]
        if unknown:
            raise InputError(f"unknown input '{unknown[0]}'; the program's inputs are: "
                             f"{', '.join(sorted(known)) or 'none'}",
                             yamlio.key_line(root, unknown[0], path))
    out = {name: [as_record(r) for r in records] for name, records in data.items()}
    for name, records in out.items():
        if dtypes.get(name):
            _check_dtype(name, records, dtypes[name], root, path)
    return out


def _check_dtype(name: str, records: list, dtype: str, root, path: str) -> None:
    """Refuse the first of ``records`` that does not fit ``dtype``, at its line in the file
    (the input's own line where the file gives none: JSON)."""
    from hydropy.runtime.columns import Columns  # numpy: only for inputs that declare a dtype
    try:
        Columns.from_records(records, dtype)
        return
    except ValueError:
        pass
    for i, record in enumerate(records):
        try:
            Columns.from_records([record], dtype)
        except ValueError as exc:
            listed = yamlio.value_node(root, name)
            items = listed.value if isinstance(getattr(listed, "value", None), list) else []
            where = yamlio.line_of(items[i], path) if i < len(items) else yamlio.key_line(root, name, path)
            raise InputError(f"input '{name}' is declared {dtype}; its record {i + 1} does not fit: "
                             f"{exc}", where) from None


def as_record(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(as_record(v) for v in value)
    if isinstance(value, dict):
        return {k: as_record(v) for k, v in value.items()}
    return value
