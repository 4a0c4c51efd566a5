"""Finding the user's program (PROGRAM arguments of the CLI) and reading inputs files."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from typing import Any

import yaml

from hydropy.errors import HydropyError, InputError, LoadError
from hydropy.flow import Flow
from hydropy.ir.source import SourceLoc


def load_flow(spec: str) -> Flow:
    """``path/to/file.py``, ``path/to/file.py:attr`` or ``package.module:attr`` -> the Flow.

    ``attr`` may name a Flow or a zero-argument function returning one; a file holding
    exactly one Flow needs no ``attr``.
    """
    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    is_file = target.endswith(".py") or os.sep in target or os.path.exists(target)
    module = _import_file(target) if is_file else _import_module(target)
    where = target
    if attr:
        if not hasattr(module, attr):
            raise LoadError(f"{where} has no attribute '{attr}'")
        obj = getattr(module, attr)
        if callable(obj) and not isinstance(obj, Flow):
            obj = _lift_or_call(obj)
        if not isinstance(obj, Flow):
            raise LoadError(f"{where}:{attr} is a {type(obj).__name__}, not a hydropy Flow")
        return obj
    flows = {id(v): (k, v) for k, v in vars(module).items() if isinstance(v, Flow)}
    if not flows:
        raise LoadError(f"{where} holds no hydropy Flow; define one at module level or name a "
                        f"function that builds one as {where}:NAME")
    if len(flows) > 1:
        names = ", ".join(sorted(k for k, _ in flows.values()))
        raise LoadError(f"{where} holds several Flows ({names}); name one as {where}:NAME")
    return next(iter(flows.values()))[1]


def _lift_or_call(fn):
    """A plain function taking inputs (one or more parameters) is lifted into a Flow
    (hydropy.lift); a zero-argument function is called to build one."""
    import inspect
    from hydropy.lift import lift
    try:
        takes_inputs = bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        takes_inputs = False
    return lift(fn) if takes_inputs else fn()


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


def load_inputs(path: str) -> dict[str, list]:
    """A YAML or JSON file mapping input names to lists of records.

    JSON and YAML have no tuples, so every list inside a record becomes a tuple:
    ``[k, v]`` is the pair ``(k, v)`` that keyed operators take.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read inputs file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed inputs file: {exc.msg}", SourceLoc(path, exc.lineno)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"malformed inputs file: {getattr(exc, 'problem', None) or exc}",
                         SourceLoc(path, mark.line + 1) if mark else None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"inputs file {path} must map input names to lists of records, "
                         f"got a {type(data).__name__}")
    for name, records in data.items():
        if not isinstance(name, str) or not isinstance(records, list):
            raise InputError(f"inputs file {path}: '{name}' must map to a list of records, "
                             f"got a {type(records).__name__}")
    return {name: [as_record(r) for r in records] for name, records in data.items()}


def as_record(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(as_record(v) for v in value)
    if isinstance(value, dict):
        return {k: as_record(v) for k, v in value.items()}
    return value
