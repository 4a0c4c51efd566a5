"""The Ray target: runs a compiled directory as one Ray actor per stage member.

Data moves in rounds, one per tick of :func:`~hydropy.targets.local.split_ticks` (the
ticks every target cuts whole inputs into). In round r the driver hands each source stage
the r-th tick of its inputs and every stage member ticks once, in stage order, on the
batches upstream members produced in the same round. One Ray call to a member carries
several consecutive rounds (``StageHost.ticks``; :func:`~targets.recovery.rounds_per_call`)
and returns one object per outgoing channel and receiving member, holding each round's
batch: channels travel through the object store from actor to actor, never through the
driver. Actors run calls in submission order, so channels are FIFO. At most
``max_inflight`` calls per member are outstanding (backpressure), each waited for at most
``timeout`` seconds. After the inputs, rounds without input run while some stage
holds cycle records (as the local target ticks on; a snapshot therefore emits in the same
ticks as there); then every member's sinks are gathered and merged. The rounds, and the
restart of a member that dies (from its checkpoint, with the rounds since replayed), are
:mod:`targets.recovery`'s.

Every process of a run hashes str alike: the members start with ``PYTHONHASHSEED`` =
:func:`~targets.ray_session.hash_seed` and the ``hydropy`` command runs under it too. Without
an address the driver starts a fresh local Ray of its own (:mod:`targets.ray_session`) and
stops it at the end, also on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import shutil
import importlib.util
import os
import signal
import sys
import threading
import time
from typing import Mapping

import networkx as nx

from hydropy.deploy import check_capacity
from hydropy.errors import HydropyError, InputError, Terminated, UserCodeError
from hydropy.runtime.columns import Columns
from hydropy.runtime.host import program_file

from .local import DEFAULT_TICK_SIZE, Ticks, split_ticks
from .progress import RunMonitor
from .recovery import DEFAULT_MAX_INFLIGHT
from .ray_session import (  # noqa: F401  (hash_seed, reexec_under_hash_seed, start_local_ray: imported from here)
    actor_options, connect, hash_seed, reexec_under_hash_seed, start_local_ray)

#: seconds a round (or a member's start) may take before the run ends naming the member
DEFAULT_TIMEOUT = 300.0
#: seconds members get to start (a worker process, imports, kernels) however short the timeout
MIN_START_TIMEOUT = 120.0


def load_manifest(compiled_dir: str) -> dict:
    """deploy.yaml of ``compiled_dir``, validated against its schema (hydropy.deploy)."""
    from hydropy.deploy import read_manifest
    return read_manifest(compiled_dir)


class RunFault(HydropyError):
    """A member of a Ray run died, stopped answering, or failed outside the user's functions."""

    exit_code = 1


def run_compiled(compiled_dir: str, inputs: Mapping[str, list] | None = None, *,
                 ticks: list[Mapping[str, list]] | None = None,
                 address: str | None = None, tick_size: int = DEFAULT_TICK_SIZE,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT, timeout: float = DEFAULT_TIMEOUT,
                 stats: dict | None = None, program=None,
                 allow_oversubscribe: bool = False, progress: bool | None = None,
                 checkpoint_every: int | None = None, checkpoint_dir: str | None = None,
                 rounds_per_call: int | None = None) -> dict[str, list]:
    """Run the compiled program in ``compiled_dir`` on Ray; return each sink's contents.

    Inputs are cut into ticks by :func:`~hydropy.targets.local.split_ticks` (``tick_size``),
    one round per tick, as on every target; ``ticks`` (or inputs given as ``Ticks``) gives
    them one batch per tick instead. A member that does not answer a round within
    ``timeout`` seconds, or dies, ends the run with a :class:`RunFault` naming it. ``program``
    is the user's module when this process has it (sink values then hold its own classes);
    otherwise the program copy of ``compiled_dir`` is imported for reading them.
    ``stats``, when given, receives ``compile_seconds`` (the slowest member's kernel warm-up,
    done when its actor starts), ``run_seconds`` (from the actors being ready to results) and
    ``summary`` (:meth:`~hydropy.targets.progress.RunMonitor.summary`). What stage code prints
    goes to stderr prefixed ``[stage member]``; ``progress`` shows a live display on stderr
    (default: when stderr is a terminal).

    A member that dies is restarted from its checkpoint and the rounds since are replayed
    (:mod:`targets.recovery`): members checkpoint every ``checkpoint_every`` rounds (None: a
    cadence costing under 5% of their time; 0: no checkpoints, a dead member ends the run)
    into a directory hydropy makes for the run inside ``checkpoint_dir`` (default: deploy.yaml's
    ``checkpoint_dir``, else the system's temporary directory) and removes at the end.

    ``rounds_per_call`` fixes how many rounds one Ray call to a member carries (None: enough
    to pay for the call, :func:`~targets.recovery.rounds_per_call`); it changes no tick.
    """
    if rounds_per_call is not None and (isinstance(rounds_per_call, bool) or not isinstance(rounds_per_call, int)
                                        or rounds_per_call < 1):
        raise InputError(f"rounds per call must be a whole number >= 1, got {rounds_per_call!r}")
    compiled_dir = os.path.abspath(compiled_dir)
    manifest = load_manifest(compiled_dir)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InputError(f"the timeout must be a positive number of seconds, got {timeout!r}")
    if inputs is not None and ticks is not None:
        raise InputError("give either inputs (cut into ticks) or ticks (a batch per tick), not both")
    if ticks is not None or isinstance(inputs, Ticks):
        ticks = [{k: v if isinstance(v, Columns) else list(v) for k, v in dict(batch).items()}
                 for batch in (inputs if ticks is None else ticks)] or [{}]
    else:
        ticks = split_ticks({k: v if isinstance(v, Columns) else list(v)
                             for k, v in (inputs or {}).items()}, tick_size)
    sources = {src["name"]: st["name"] for st in manifest["stages"] for src in st["sources"]}
    unknown = sorted({name for batch in ticks for name in batch} - set(sources))
    if unknown:
        raise InputError(f"unknown input '{unknown[0]}'; the program's inputs are: "
                         f"{', '.join(sorted(sources)) or 'none'}")
    checkpoints = _checkpoint_options(compiled_dir, manifest, checkpoint_every, checkpoint_dir)
    if not address:
        check_capacity(manifest, os.cpu_count(), allow_oversubscribe)
    import ray
    hosts: list = []
    started = kept = False
    with _signals_stop_the_run() as signals, _quiet_raylet_messages(ray):
        try:
            started = connect(address, compiled_dir)
            signals.rearm()  # ray.init installs its own SIGTERM handler
            if address:
                check_capacity(manifest, ray.cluster_resources().get("CPU"), allow_oversubscribe)
            monitor = RunMonitor({st["name"]: st["members"] for st in manifest["stages"]}, live=progress)
            driver = _Driver(ray, compiled_dir, manifest, timeout, monitor, checkpoints)
            hosts = [h for members in driver.hosts.values() for h in members]
            compile_seconds = driver.start()
            start = time.perf_counter()
            with program_importable(manifest["module"], program_file(compiled_dir, manifest["module"]),
                                    program), monitor:
                results = driver.run(ticks, sources, max_inflight, rounds_per_call)
            if stats is not None:
                stats.update(compile_seconds=compile_seconds, run_seconds=time.perf_counter() - start,
                             summary=monitor.summary())
            return results
        except RunFault as fault:
            kept = getattr(fault, "keep_checkpoints", False)
            raise
        except KeyboardInterrupt:  # Ray turns any signal handler's exception into this one
            if signals.received == signal.SIGTERM:
                raise Terminated() from None
            raise
        finally:
            signals.ignore()  # a second or third Ctrl-C must not cut the shutdown short
            for h in hosts:
                try:
                    ray.kill(h)
                except Exception:  # already dead, or Ray is going away
                    pass
            if started:
                ray.shutdown()
            if checkpoints and not kept:
                shutil.rmtree(checkpoints[0], ignore_errors=True)


def _checkpoint_options(compiled_dir: str, manifest: dict, every: int | None,
                        directory: str | None) -> tuple[str, int | None] | None:
    """(this run's checkpoint directory, made now; rounds between checkpoints) or None when
    ``every`` is 0. deploy.yaml's ``checkpoint_dir`` is relative to the compiled directory."""
    import tempfile
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 0):
        raise InputError(f"--checkpoint-every must be a whole number of rounds >= 0, got {every!r}")
    if every == 0:
        return None
    parent = directory or (manifest.get("checkpoint_dir") and
                           os.path.join(compiled_dir, manifest["checkpoint_dir"]))
    if parent:
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot make the checkpoint directory {parent}: "
                             f"{exc.strerror or exc}") from None
    prefix = f"hydropy-checkpoints-{manifest['flow']}-"
    return os.path.abspath(tempfile.mkdtemp(prefix=prefix, dir=parent)), every


def run_flow_on_ray(flow, inputs=None, *, plan: str | None = None, **options) -> dict[str, list]:
    """Compile ``flow`` into a temporary directory, run it on Ray, remove the directory."""
    import shutil
    import tempfile

    from .compile import compile_flow
    tmp = tempfile.mkdtemp(prefix="hydropy-")
    try:
        out = os.path.join(tmp, "compiled")
        compile_flow(flow, out, plan=plan)
        return run_compiled(out, inputs, program=sys.modules.get(flow.module or ""), **options)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def program_importable(module: str, path: str, program=None):
    """While the block runs, ``import module`` (as unpickling a sink value of a class of the
    program does) gives ``program``, or else the program copy at ``path``, imported when
    first needed; afterwards ``sys.modules`` is as before."""
    from hydropy.runtime.host import ship_helpers
    ship_helpers(os.path.dirname(path), path)  # sink values of the program's helper modules' classes
    saved = sys.modules.pop(module, None)
    finder = None
    if program is not None:
        sys.modules[module] = program
    else:
        finder = _ProgramFinder(module, path)
        sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)
        sys.modules.pop(module, None)
        if saved is not None:
            sys.modules[module] = saved


class _ProgramFinder(importlib.abc.MetaPathFinder):
    """Finds one module name at one file: the compiled directory's program copy."""

    def __init__(self, module: str, path: str):
        self.module, self.path = module, path

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path)


class _signals_stop_the_run:
    """SIGINT (Ctrl-C) raises KeyboardInterrupt and SIGTERM :class:`Terminated` in the main
    thread, the first one only: later ones are ignored while the run shuts Ray down."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.active = threading.current_thread() is threading.main_thread()
        self.stopping, self.received = False, None
        self.saved = {s: signal.getsignal(s) for s in self.SIGNALS} if self.active else {}
        self.rearm()
        return self

    def _handler(self, signum, frame):
        if self.stopping:
            return
        self.stopping, self.received = True, signum
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def rearm(self) -> None:
        for s in self.saved:
            signal.signal(s, self._handler)

    def ignore(self) -> None:
        self.stopping = True

    def __exit__(self, *exc):
        for s, handler in self.saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        return False


@contextlib.contextmanager
def _quiet_raylet_messages(ray):
    """Ray's driver prints the raylet's error reports (a worker died...) on stdout, where the
    sinks go; a run reports faults itself in one line, so these are dropped while it runs."""
    worker = ray._private.worker
    original = getattr(worker, "print_to_stdstream", None)
    if original is None:
        yield
        return

    def print_to_stdstream(data, ignore_prefix):
        if data.get("pid") != "raylet":
            original(data, ignore_prefix)

    worker.print_to_stdstream = print_to_stdstream
    try:
        yield
    finally:
        worker.print_to_stdstream = original


class _Driver:
    def __init__(self, ray, compiled_dir: str, manifest: dict, timeout: float,
                 monitor: RunMonitor | None = None,
                 checkpoints: tuple[str, int | None] | None = None):
        from hydropy.runtime.host import StageHost
        self.ray, self.timeout, self.checkpoints = ray, timeout, checkpoints
        self.compiled_dir, self.module = compiled_dir, manifest["module"]
        self.monitor = monitor or RunMonitor({st["name"]: st["members"] for st in manifest["stages"]},
                                             live=False)
        self.stages = {st["name"]: st for st in manifest["stages"]}
        self.channels = manifest["channels"]
        self.operators = {c["name"]: c.get("operator") for c in self.channels}
        self.sinks = list(manifest["sinks"])
        self.source_routes = {src["name"]: (src["routing"], tuple(src["key"]) if src["key"] else None)
                              for st in manifest["stages"] for src in st["sources"]}
        order = nx.DiGraph()
        order.add_nodes_from(self.stages)
        order.add_edges_from((c["from"], c["to"]) for c in self.channels)
        self.order = list(nx.lexicographical_topological_sort(order))
        self.actor = ray.remote(StageHost).options(**actor_options(ray))
        self.hosts = {name: [] for name in self.stages}
        self.by_actor: dict[str, tuple[str, int]] = {}
        for name, st in self.stages.items():
            for m in range(st["members"]):
                self.new_host(name, m)
        # outgoing slots of each stage, in the order StageHost.ticks returns them
        self.slots = {name: [(c["name"], j) for c in sorted(self.channels, key=lambda c: c["name"])
                             if c["from"] == name for j in range(self.stages[c["to"]]["members"])]
                      for name in self.stages}

    def new_host(self, name: str, m: int):
        """Start the actor of member ``m`` of stage ``name`` (again, after it died)."""
        st = self.stages[name]
        receivers = {c["name"]: self.stages[c["to"]]["members"] for c in self.channels
                     if c["from"] == name}
        host = self.actor.remote(self.compiled_dir, st["file"], st["class"], m, st["members"],
                                 receivers, self.module, name, self.checkpoints)
        hosts = self.hosts[name]
        hosts[m:m + 1] = [host]
        self.by_actor[host._actor_id.hex()] = (name, m)
        return host

    def member(self, stage: str, m: int) -> str:
        n = self.stages[stage]["members"]
        return f"stage '{stage}' member {m}" + (f" (of {n})" if n > 1 else "")

    def all_members(self, method: str) -> tuple[list, list]:
        labels = [(name, m) for name in self.order for m in range(len(self.hosts[name]))]
        return [getattr(self.hosts[s][m], method).remote() for s, m in labels], labels

    def start(self) -> float:
        """Wait for every member to load its stage; returns the slowest kernel warm-up.
        Checks that every member hashes str alike (and as this process, under the same seed)."""
        refs, labels = self.all_members("start_info")
        infos = self.get(refs, labels, "starting", max(self.timeout, MIN_START_TIMEOUT))
        self.show_printed(labels)  # what the program printed when imported
        hashes = {(h, label) for (_, h), label in zip(infos, labels)}
        if len({h for h, _ in hashes}) > 1 or (os.environ.get("PYTHONHASHSEED") == hash_seed()
                                              and {h for h, _ in hashes} != {hash("hydropy")}):
            raise RunFault(f"the processes of this run hash str differently, so keys computed with "
                           f"hash() would not meet: PYTHONHASHSEED={hash_seed()} did not reach "
                           f"every Ray worker")
        return max([seconds for seconds, _ in infos] + [0.0])

    def get(self, refs: list, labels: list, what: str, timeout: float | None = None) -> list:
        """``ray.get(refs)`` (``labels``: the (stage, member) of each), bounded by the timeout;
        a member that died, hung or failed is reported by name."""
        ray = self.ray
        timeout = timeout or self.timeout
        _, pending = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        if pending:
            stuck = set(pending)
            stage, m = next(label for ref, label in zip(refs, labels) if ref in stuck)
            raise RunFault(f"{self.member(stage, m)} did not answer within {timeout:g} s while "
                           f"{what}: a user function that does not return, or an overloaded "
                           f"machine (--timeout SECONDS waits longer)")
        try:
            return ray.get(list(refs))
        except ray.exceptions.RayError:
            pass
        for ref, (stage, m) in zip(refs, labels):  # pipeline order: the first failure is the cause
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise self.explain(exc, stage, m, what) from None
        raise RunFault(f"Ray failed while {what}")

    def show_printed(self, labels: list) -> None:
        """Show what the members ``labels`` printed outside their ticks' statuses."""
        try:
            printed = self.ray.get([self.hosts[s][m].printed.remote() for s, m in labels],
                                   timeout=self.timeout)
        except self.ray.exceptions.RayError:
            return
        for lines, label in zip(printed, labels):
            self.monitor.printed(label, lines)

    def explain(self, exc, stage: str, m: int, what: str) -> HydropyError:
        """One error for what went wrong in member ``m`` of ``stage``."""
        ray = self.ray
        if not isinstance(exc, ray.exceptions.RayActorError):
            self.show_printed([(stage, m)])  # what it printed before failing
        if isinstance(exc, ray.exceptions.RayActorError):
            stage, m = self.by_actor.get(exc.actor_id, (stage, m))
            reason = str(exc.error_msg).strip().splitlines()[-1]
            reason = reason.removeprefix("The actor is dead because ").split(". ")[0].rstrip(".")
            return RunFault(f"{self.member(stage, m)} died while {what}: {reason}")
        cause = getattr(exc, "cause", None)
        if isinstance(cause, HydropyError):
            return type(cause)(cause.message, cause.loc)
        bad = None
        try:
            bad = ray.get(self.hosts[stage][m].unpicklable.remote(), timeout=self.timeout)
        except ray.exceptions.RayError:
            pass
        if bad is not None:
            where, j, record, error = bad
            if where.startswith("sink "):
                return UserCodeError(f"sink '{where[5:]}' of {self.member(stage, m)} "
                                     f"holds a record that cannot be pickled to send it to the "
                                     f"driver: {record} ({error})")
            to = self.channel_target(where)
            return UserCodeError(f"{self.operators.get(where) or 'the operator'} of "
                                 f"{self.member(stage, m)} sends a record that cannot be pickled "
                                 f"onto channel '{where}' (to {self.member(to, j)}): {record} ({error})")
        text = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        return RunFault(f"{self.member(stage, m)} failed while {what}: {text.strip().splitlines()[-1]}")

    def channel_target(self, channel: str) -> str:
        return next(c["to"] for c in self.channels if c["name"] == channel)

    def run(self, ticks: list[dict[str, list]], sources: dict[str, str],
            max_inflight: int, per_call: int | None = None) -> dict[str, list]:
        from .recovery import Rounds
        return Rounds(self, ticks, sources, max_inflight, recover=self.checkpoints is not None,
                      checkpoint_dir=self.checkpoints and self.checkpoints[0], per_call=per_call).run()


def _unpicklable_input(external: dict[str, list], exc: Exception) -> HydropyError:
    from ray import cloudpickle

    from hydropy.runtime.batch import on_wire
    for src, packed in external.items():
        packed = on_wire(packed)
        for record in packed if isinstance(packed, list) else ():
            try:
                cloudpickle.dumps(record)
            except Exception as err:
                text = repr(record)
                text = text if len(text) <= 80 else text[:77] + "..."
                return InputError(f"input '{src}' holds a record that cannot be pickled to send it "
                                  f"to its stage: {text} ({type(err).__name__}: {err})")
    return RunFault(f"Ray cannot send a tick's inputs: {str(exc).splitlines()[0]}")
