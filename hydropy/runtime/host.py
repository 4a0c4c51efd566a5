"""The Ray actor that hosts one member of one stage, loading the stage's code from disk.

The stages import the user's program as a module named in ``deploy.yaml`` (``module``):
its file name, or ``hydropy_program_<name>`` when that name is taken by another module
(``networkx.py``, ``yaml.py``: :func:`program_module_name`). The copy in ``program/`` is
loaded under that name from its file, never through ``sys.path``, so it cannot shadow a
library that hydropy or the program imports.
"""
from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import time
from typing import Any

PRIVATE_PREFIX = "hydropy_program_"


def program_module_name(stem: str, program_dir: str | None = None) -> str:
    """The name the stages import a program file ``<stem>.py`` under: ``stem`` unless another
    module (standard library, installed package, one already imported) has that name."""
    return PRIVATE_PREFIX + stem if _name_taken(stem, program_dir) else stem


def _name_taken(name: str, program_dir: str | None) -> bool:
    if name in sys.stdlib_module_names or name in sys.builtin_module_names or name == "hydropy":
        return True
    here = os.path.abspath(program_dir) if program_dir else None
    loaded = sys.modules.get(name)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        return not file or os.path.dirname(os.path.abspath(file)) != here
    search = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    return importlib.machinery.PathFinder.find_spec(name, search) is not None


def program_file(compiled_dir: str, module: str) -> str:
    """The program copy of a compiled directory whose stages import it as ``module``."""
    stem = module[len(PRIVATE_PREFIX):] if module.startswith(PRIVATE_PREFIX) else module
    return os.path.join(compiled_dir, "program", stem + ".py")


def load_program(module: str, path: str):
    """Import the program copy ``path`` as ``module`` (once per process), from its file, never
    through ``sys.path``. A module of that name already loaded from the same text is reused;
    one loaded from another program file (an edited original, a same-named file elsewhere) is
    replaced; a library of that name here (standard, installed) is refused, since hydropy and
    the program import it under that name."""
    from hydropy.errors import LoadError
    loaded = sys.modules.get(module)
    if loaded is not None and _same_source(getattr(loaded, "__file__", None), path):
        return loaded
    library = _library(module, loaded)
    if library:
        raise LoadError(f"the program copy {path} cannot be imported as '{module}': that name is "
                        f"{library} here; recompile the program (hydropy then imports it under a "
                        f"private name)")
    if not os.path.isfile(path):
        raise LoadError(f"{path} is missing: the stages import the program from it; recompile")
    ship_helpers(os.path.dirname(path), path)
    spec = importlib.util.spec_from_file_location(module, path)
    program = importlib.util.module_from_spec(spec)
    sys.modules[module] = program
    try:
        spec.loader.exec_module(program)
    except BaseException:
        if loaded is None:
            del sys.modules[module]
        else:
            sys.modules[module] = loaded
        raise
    return program


class HelperFinder(importlib.abc.MetaPathFinder):
    """Imports the program's own modules shipped in ``program/`` (beside its copy) by their
    names, and only those: ``helpers.py`` as ``helpers``, ``lib/`` (with ``__init__.py``) as
    ``lib``; nothing else there (the program copy itself) and no other name is found here."""

    def __init__(self, directory: str, program_path: str):
        self.directory = os.path.realpath(directory)
        self.modules: dict[str, str] = {}
        for root, dirs, names in os.walk(self.directory):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in sorted(names):
                path = os.path.join(root, file)
                if not file.endswith(".py") or os.path.realpath(path) == os.path.realpath(program_path):
                    continue
                parts = os.path.relpath(path, self.directory)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                if parts and all(p.isidentifier() for p in parts):
                    self.modules[".".join(parts)] = path

    def find_spec(self, fullname, path=None, target=None):
        file = self.modules.get(fullname)
        if file is None:
            return None
        package = os.path.basename(file) == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, file, submodule_search_locations=[os.path.dirname(file)] if package else None)


_HELPERS: dict[str, HelperFinder] = {}


def ship_helpers(directory: str, program_path: str) -> None:
    """Make the helper modules shipped in ``directory`` importable in this process (once)."""
    key = os.path.realpath(directory)
    if key in _HELPERS:
        return
    finder = HelperFinder(directory, program_path)
    _HELPERS[key] = finder
    if finder.modules:
        sys.meta_path.insert(0, finder)


def _library(name: str, loaded) -> str:
    """Where ``name`` is a library in this process (a built-in, the standard library, an
    installed package), else ""."""
    if name in sys.builtin_module_names or name in sys.stdlib_module_names or name == "hydropy":
        return "a standard module"
    installed = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        if not file or hasattr(loaded, "__path__") or os.path.realpath(file).startswith(installed):
            return file or "a built-in module"
        return ""
    search = [p for p in sys.path if os.path.realpath(p or os.curdir).startswith(installed)]
    found = importlib.machinery.PathFinder.find_spec(name, search)
    return (found.origin or found.name) if found is not None else ""


def _same_source(file: str | None, path: str) -> bool:
    if not file or not os.path.isfile(file):
        return False
    with open(file, "rb") as a, open(path, "rb") as b:
        return a.read() == b.read()


def load_stage_class(compiled_dir: str, stage_file: str, class_name: str, module: str | None = None):
    """Import ``stage_file`` of a compiled directory after its program copy (as ``module``, by
    default the one deploy.yaml names)."""
    if module is None:
        import yaml
        with open(os.path.join(compiled_dir, "deploy.yaml"), encoding="utf-8") as fh:
            module = yaml.safe_load(fh)["module"]
    load_program(module, program_file(compiled_dir, module))
    path = os.path.join(compiled_dir, stage_file)
    name = "hydropy_stage_" + os.path.splitext(os.path.basename(stage_file))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    stage = importlib.util.module_from_spec(spec)
    sys.modules[name] = stage
    spec.loader.exec_module(stage)
    return getattr(stage, class_name)


def _load_or_explain(compiled_dir: str, stage_file: str, class_name: str, module: str | None):
    """:func:`load_stage_class`, its failures as one LoadError at the failing file:line."""
    import traceback

    from hydropy.errors import HydropyError, LoadError
    from hydropy.ir.source import SourceLoc
    try:
        return load_stage_class(compiled_dir, stage_file, class_name, module)
    except HydropyError:
        raise
    except Exception as exc:
        if isinstance(exc, SyntaxError) and exc.filename:
            loc = SourceLoc(exc.filename, exc.lineno or 0)
        else:
            frames = [f for f in traceback.extract_tb(exc.__traceback__)
                      if f.filename.startswith(os.path.abspath(compiled_dir))]
            loc = SourceLoc(frames[-1].filename, frames[-1].lineno) if frames else None
        raise LoadError(f"cannot load {stage_file} of the compiled program: "
                        f"{type(exc).__name__}: {getattr(exc, 'msg', None) or exc}", loc) from None


def settle_heap() -> None:
    """Collect the garbage of a member's start (imports of the program, Numba, its kernels),
    then freeze what is left (:func:`~.columns.freeze_heap`): the collector's full passes
    during the run no longer walk those objects. Unfrozen, one full pass over them took
    60-70 ms in the middle of a run here."""
    from .columns import freeze_heap
    gc.collect()
    freeze_heap()


class StageHost:
    """One member of a stage, driven by :meth:`ticks` (one Ray call runs one or several
    consecutive rounds). A round returns one packed batch per (outgoing channel, receiving
    member), in the order of ``slots``, and a status ``(records sent, quiescent, (records in,
    records out, seconds busy), printed lines, round of its latest checkpoint)``: the counts of
    this tick, the (stream, line) pairs stage code printed since the last call
    (:mod:`.capture`). ``acked`` is the last round whose outputs the driver has (older
    checkpoints can go). ``checkpoints`` (directory, rounds between checkpoints or None for the
    automatic cadence) saves its state (:class:`~hydropy.runtime.checkpoint.MemberRecovery`);
    ``restore`` loads the newest."""

    def __init__(self, compiled_dir: str, stage_file: str, class_name: str, member: int,
                 members: int, receivers: dict[str, int], module: str | None = None,
                 stage_name: str = "", checkpoints: tuple[str, int | None] | None = None):
        from . import capture
        from .checkpoint import MemberRecovery
        capture.install()  # before the program is imported: its logging handlers write here
        self.last_out: list = []   # ((channel, receiver), batch) sent by the current call
        self.failure: BaseException | None = None  # raised by start_info (Ray's report of a
        try:                                       # failed constructor is a multi-line dump)
            base = compiled_dir if os.path.isdir(compiled_dir) else os.getcwd()  # cluster: working_dir
            cls = _load_or_explain(base, stage_file, class_name, module)
            self.stage = cls(member, members, receivers)
            if any(routing == "hash" and receivers.get(c, 1) > 1 for c, (routing, _) in cls.CHANNELS_OUT.items()):
                from .kernels import warm_split_by_hash  # a channel's columns split by key
                self.stage.compile_seconds += warm_split_by_hash()
            self.slots = [(c, j) for c in sorted(cls.CHANNELS_OUT) for j in range(receivers.get(c, 1))]
            directory, every = checkpoints or (None, 0)
            self.recovery = MemberRecovery(self.stage, stage_name or cls.NAME, member, directory, every)
        except Exception as exc:
            self.failure = exc
        settle_heap()

    def tick(self, round_: int, acked: int, names: list[str], external: dict[str, list],
             received: list) -> tuple[list, tuple]:
        """Round ``round_`` on the sources' parts ``external`` and the batches ``received``
        (one per entry of ``names``): (its batches in the order of ``slots``, its status). A
        round this member has applied already (a replay) is dropped: no batches, no counts."""
        from . import capture
        from .batch import pack, wire
        if not self.recovery.takes(round_):
            status = (0, self.stage.quiescent, (0, 0, 0.0), capture.drain(), self.recovery.checkpointed)
            return [pack([]) for _ in self.slots], status
        batches: dict[str, list] = {name: [packed] for name, packed in external.items()}
        for name, packed in zip(names, received):
            batches.setdefault(name, []).append(packed)
        stage = self.stage
        sent, taken, emitted = stage.sent, stage.received, stage.emitted
        start = time.perf_counter()
        routed = stage.run_tick(batches)
        busy = time.perf_counter() - start
        out = [routed[c][j] for c, j in self.slots]
        self.last_out += zip(self.slots, out)
        self.recovery.ticked(stage, round_, busy, acked)
        counts = (stage.received - taken, stage.sent - sent + stage.emitted - emitted, busy)
        status = (stage.sent - sent, stage.quiescent, counts, capture.drain(), self.recovery.checkpointed)
        return [wire(batch) for batch in out], status

    def ticks(self, rounds: list[int], acked: int, names: list[str], layout: list[list[tuple[int, int]]],
              externals: list[dict[str, list]], *inputs: list):
        """Rounds ``rounds`` (consecutive) in one call, each as :meth:`tick` runs it, in order.
        Round ``i`` receives ``inputs[a][j]`` for each ``(a, j)`` of ``layout[i]`` (one per
        entry of ``names``): each input is one upstream member's output of one call, a list
        over that call's rounds. Returns one list per slot (each round's batch in turn) and
        then the list of the rounds' statuses: ``len(slots) + 1`` objects per call however
        many rounds it holds (Ray's costs per call and per object are paid once)."""
        per_slot: list[list] = [[] for _ in self.slots]
        statuses = []
        self.last_out = []  # what this call sends (:meth:`unpicklable` looks there)
        for round_, external, places in zip(rounds, externals, layout):
            out, status = self.tick(round_, acked, names, external, [inputs[a][j] for a, j in places])
            for batches, batch in zip(per_slot, out):
                batches.append(batch)
            statuses.append(status)
        return (*per_slot, statuses) if self.slots else statuses

    def restore(self, upto: int) -> int:
        """Load this member's newest checkpoint at or before round ``upto`` (a restarted
        member); returns its round."""
        if self.failure is not None:
            raise self.failure
        return self.recovery.restore(self.stage, upto)

    def pid(self) -> int:
        """This member's process id (the chaos tests kill it)."""
        return os.getpid()

    def results(self):
        return self.stage.results()

    def start_info(self) -> tuple[float, int]:
        """(seconds this member spent compiling or loading its kernels at start, ``hash`` of a
        str here: every process of a run must agree on it)."""
        if self.failure is not None:
            raise self.failure
        return self.stage.compile_seconds, hash("hydropy")

    def printed(self) -> list[tuple[str, str]]:
        """The (stream, line) pairs stage code printed since the last tick or call (at import
        of the program, in a failed tick)."""
        from . import capture
        return capture.drain()

    def compile_seconds(self) -> float:
        return self.stage.compile_seconds

    def unpicklable(self) -> tuple[str, int, str, str] | None:
        """After a failed call: the first record this member could not pickle, as (outgoing
        channel or ``sink NAME``, receiving member, record, error), or None."""
        from ray import cloudpickle
        candidates = [(c, j, batch) for (c, j), batch in self.last_out
                      if isinstance(batch, list)]
        candidates += [(f"sink {name}", 0, list(value.items()) if kind == "keyed" else
                        list(value) if kind == "stream" else [value])
                       for name, (kind, value) in self.stage.results().items()]
        for where, j, records in candidates:
            for record in records:
                try:
                    cloudpickle.dumps(record)
                except Exception as exc:
                    return where, j, _short_repr(record), f"{type(exc).__name__}: {exc}"
        return None


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
