"""``hydropy compile``: a program and a plan -> a directory of stage code for a target; and
loading the pieces of such a directory back (the program only from the directory itself)."""
from __future__ import annotations

import importlib.util
import os
import sys

from hydropy.errors import HydropyError, LoadError
from hydropy.ir import Graph
from hydropy.ir.source import SourceLoc, display_path

from .emit import emit, find_program, write_compiled


def design_point(graph: Graph, plan_path: str | None) -> Graph:
    """The graph after the plan's steps (none: the single-node program), with channels placed."""
    from hydropy.passes.plan import apply_plan, load_plan
    from hydropy.passes.stages import insert_channels
    if plan_path:
        history = apply_plan(graph, load_plan(plan_path))
        if history:
            graph = history[-1][1]
    return insert_channels(graph)


def compile_flow(flow, out_dir: str, *, plan: str | None = None, target: str = "ray",
                 program_arg: str | None = None, force: bool = False) -> Graph:
    """Emit ``flow`` (after ``plan``) as stage code into ``out_dir``; return the compiled graph.

    Writes only hydropy's own files (see :mod:`hydropy.targets.output`); what ``--force`` did
    to edited files is said on stderr."""
    if target != "ray":
        raise HydropyError(f"unknown compile target '{target}'; available: ray")
    graph = design_point(flow.graph(), plan)
    program = find_program(flow)
    files = emit(graph, program, program_arg or os.path.basename(program.path))
    for notice in write_compiled(files, out_dir, force=force, protect=[program.path]):
        print(f"hydropy: {notice}", file=sys.stderr)
    return graph


def check_compiled(compiled_dir: str, deploy: dict) -> None:
    """Before anything starts: the program copy and every stage file that ``deploy`` (the parsed
    deploy.yaml) names exist inside ``compiled_dir`` and are valid Python; else LoadError
    naming the file (and line)."""
    module = deploy.get("module")
    if not isinstance(module, str) or not module.isidentifier():
        raise LoadError(f"{display_path(os.path.join(compiled_dir, 'deploy.yaml'))}: 'module' must "
                        f"name the program's module, got {module!r}")
    files = [program_file(compiled_dir, module)]
    for stage in deploy.get("stages") or []:
        rel = stage.get("file") if isinstance(stage, dict) else None
        if not isinstance(rel, str) or not _inside(compiled_dir, rel):
            raise LoadError(f"{display_path(os.path.join(compiled_dir, 'deploy.yaml'))}: stage "
                            f"file {rel!r} is not a file inside the compiled directory")
        files.append(os.path.join(compiled_dir, rel))
    for path in files:
        _check_source(path)


def program_file(compiled_dir: str, module: str) -> str:
    return os.path.join(compiled_dir, "program", f"{module}.py")


def _inside(compiled_dir: str, rel: str) -> bool:
    root = os.path.realpath(compiled_dir)
    return os.path.realpath(os.path.join(root, rel)).startswith(root + os.sep)


def _check_source(path: str) -> None:
    try:
        with open(path, "rb") as fh:
            source = fh.read()
    except OSError as exc:
        what = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
        raise LoadError(f"{display_path(path)} {what}: the compiled directory is incomplete; "
                        f"compile the program again") from None
    try:
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        what = "this compiled file" if line else display_path(path)
        raise LoadError(f"{what} is not valid Python: {getattr(exc, 'msg', exc)}; fix it or compile "
                        f"the program again", SourceLoc(path, line) if line else None) from None


def load_stage_class(compiled_dir: str, stage_file: str, class_name: str):
    """The stage class of ``stage_file``, its program imported from ``compiled_dir/program``
    only (never a same-named module of the working directory or ``sys.path``)."""
    import yaml
    try:
        with open(os.path.join(compiled_dir, "deploy.yaml"), encoding="utf-8") as fh:
            module = (yaml.safe_load(fh) or {}).get("module")
    except (OSError, yaml.YAMLError, AttributeError, UnicodeDecodeError) as exc:
        raise LoadError(f"{display_path(os.path.join(compiled_dir, 'deploy.yaml'))} cannot be "
                        f"read: {exc}") from None
    check_compiled(compiled_dir, {"module": module, "stages": [{"file": stage_file}]})
    import_program(program_file(compiled_dir, module), module)
    path = os.path.join(compiled_dir, stage_file)
    name = "hydropy_stage_" + os.path.splitext(os.path.basename(stage_file))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    stage = importlib.util.module_from_spec(spec)
    sys.modules[name] = stage
    spec.loader.exec_module(stage)
    cls = getattr(stage, class_name, None)
    if cls is None:
        raise LoadError(f"{display_path(path)} defines no class {class_name} (named in deploy.yaml)")
    return cls


def import_program(path: str, module: str):
    """``sys.modules[module]``: the program copy at ``path``. A module of that name already
    loaded from a file with the same text is the same program and is kept; one from another
    file is replaced, unless it is not a program (a package or library), which is refused."""
    with open(path, "rb") as fh:
        text = fh.read()
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None) if loaded is not None else None
    if loaded is not None:
        if origin and os.path.isfile(origin) and _same_text(origin, text):
            return loaded
        if hasattr(loaded, "__path__") or not origin or os.path.basename(origin) != f"{module}.py":
            raise LoadError(f"the program module '{module}' ({display_path(path)}) has the name of "
                            f"a module already loaded from {origin or 'built-ins'}; rename the "
                            f"program file and compile again")
    spec = importlib.util.spec_from_file_location(module, path)
    program = importlib.util.module_from_spec(spec)
    sys.modules[module] = program
    try:
        spec.loader.exec_module(program)
    except BaseException:
        if loaded is not None:
            sys.modules[module] = loaded
        else:
            del sys.modules[module]
        raise
    return program


def _same_text(path: str, text: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read() == text
    except OSError:
        return False
