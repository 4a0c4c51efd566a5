"""The code the simulator runs: a design point emitted for Ray and its stages loaded as Ray's
actors load them.

:func:`emitted_stages` writes the design point's compiled directory (the real emitter,
:func:`hydropy.targets.emit.emit`) into a temporary directory and imports each stage module
with :func:`hydropy.runtime.host.load_stage_class`, the actors' loader. Invariant: the classes
returned are exactly what ``hydropy compile`` would write for the design point, and their
``import <program>`` resolves to the program module this process already loaded, so the
stages call the very functions the single-node run calls.
"""
from __future__ import annotations

import atexit
import hashlib
import functools
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from dataclasses import dataclass

from hydropy.errors import LoadError
from hydropy.ir import Graph


#: emitted design points kept loaded (their directories exist while they are here)
CACHE_SIZE = 8
_EMITTED: "OrderedDict[str, Emitted]" = OrderedDict()
#: stage classes by the text of their stage file
_STAGE_CLASSES: "OrderedDict[str, type]" = OrderedDict()


@dataclass
class Emitted:
    """A design point emitted by :func:`hydropy.targets.emit.emit` into ``directory`` and its
    stage classes loaded as Ray's actors load them (:func:`hydropy.runtime.host.load_stage_class`)."""

    directory: str
    classes: dict[str, type]   # stage -> its generated Stage subclass

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def program_of(graph: Graph):
    """The program that built ``graph``: the loaded module whose file holds its operators' lines
    (:func:`hydropy.targets.emit.find_program` when the Flow is at hand)."""
    from .emit import Program
    for file in [n.loc.file for n in graph.nodes() if n.loc]:
        name = _module_of_file(_absolute(file))
        if name:
            return Program(os.path.abspath(file), name, vars(sys.modules[name]))
    raise LoadError(f"flow '{graph.name}' was not built by a loaded program file, so its stages "
                    f"cannot be emitted; hydropy checks programs defined in a .py file")


#: absolute file -> name of the module loaded from it, as of the last look at sys.modules
_MODULE_FILES: dict[str, str] = {}


def _module_of_file(path: str) -> str | None:
    """The name of the loaded module whose file is ``path`` (absolute). sys.modules is read
    again only when the remembered answer is missing or stale, since a long property run loads
    thousands of modules and checks each program many times."""
    for fresh in (False, True):
        if fresh:
            _MODULE_FILES.clear()
            _MODULE_FILES.update({_absolute(f): name for name, m in list(sys.modules.items())
                                  if isinstance(f := getattr(m, "__file__", None), str)})
        name = _MODULE_FILES.get(path)
        file = getattr(sys.modules.get(name), "__file__", None) if name else None
        if isinstance(file, str) and _absolute(file) == path:
            return name
    return None


def _absolute(path: str) -> str:
    """``os.path.abspath``, remembered for absolute paths (a relative one depends on the working
    directory): :func:`program_of` looks at every loaded module's file on every check, and a
    long property run loads thousands of program modules."""
    return _normalised(path) if os.path.isabs(path) else os.path.abspath(path)


@functools.lru_cache(maxsize=65_536)
def _normalised(path: str) -> str:
    return os.path.normpath(path)


def emitted_stages(design: Graph, program=None) -> dict[str, type]:
    """The stage classes of ``design`` as emitted for Ray: the emitter writes the compiled
    directory into a temporary directory and each stage module is imported from there. A
    design point is emitted once (kept while among the last :data:`CACHE_SIZE` used, keyed by
    the text of every emitted file); a program that cannot be emitted raises its CompileError."""
    from .emit import emit, write_compiled
    program = program or program_of(design)
    files = emit(design, program, os.path.basename(program.path))
    key = hashlib.sha256(repr((program.module, sorted(files.items()))).encode()).hexdigest()
    if key in _EMITTED:
        _EMITTED.move_to_end(key)
        return _EMITTED[key].classes
    directory = tempfile.mkdtemp(prefix="hydropy-check-")
    try:
        out = os.path.join(directory, "compiled")
        write_compiled(files, out)
        classes = _load_stages(out, program)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    _EMITTED[key] = Emitted(directory, classes)
    while len(_EMITTED) > CACHE_SIZE:
        _EMITTED.popitem(last=False)[1].remove()
    return classes


def _load_stages(compiled_dir: str, program) -> dict[str, type]:
    """Import every stage of ``compiled_dir`` with the actors' loader. Its ``import <stem>`` of
    the program resolves to the program module this process already loaded (the file the
    directory's copy was made from), so the stages call the very functions the single-node run
    calls; sys.path is left as it was."""
    from hydropy.runtime.host import load_stage_class

    from .ray import load_manifest
    manifest = load_manifest(compiled_dir)
    saved_path, missing = list(sys.path), object()
    saved_module = sys.modules.get(program.stem, missing)
    if program.module in sys.modules:
        sys.modules[program.stem] = sys.modules[program.module]
    try:
        classes = {}
        for st in manifest["stages"]:
            with open(os.path.join(compiled_dir, st["file"]), encoding="utf-8") as fh:
                key = hashlib.sha256(f"{program.module}\0{fh.read()}".encode()).hexdigest()
            if key not in _STAGE_CLASSES:  # a stage emitted alike in another design point: its
                #                             class (kernels compiled at its first instance) serves
                _STAGE_CLASSES[key] = load_stage_class(compiled_dir, st["file"], st["class"])
                while len(_STAGE_CLASSES) > 16 * CACHE_SIZE:
                    _STAGE_CLASSES.popitem(last=False)
            _STAGE_CLASSES.move_to_end(key)
            classes[st["name"]] = _STAGE_CLASSES[key]
        return classes
    finally:
        sys.path[:] = saved_path
        if saved_module is missing:
            sys.modules.pop(program.stem, None)
        else:
            sys.modules[program.stem] = saved_module


@atexit.register
def _remove_emitted() -> None:
    while _EMITTED:
        _EMITTED.popitem()[1].remove()

