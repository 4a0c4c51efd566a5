"""Checkpoints of a stage member: its whole state saved, restored into a fresh member.

A member's state is every attribute of its :class:`~hydropy.runtime.stage.Stage` (operator
tables of numpy arrays, dicts, lattices, folds' accumulators, cycle records, stream sinks,
the tick counter). Its code is not state: the functions, classes and kernels a freshly
built member holds (:func:`code_of`) are pickled as their place in the member
(``("cart", "fn")``) and found again at that place in the fresh member that restores, so
a checkpoint never pickles a Numba kernel or a dynamically made lattice class, and shared
references (an operator reading another's table) stay shared.

On disk (:class:`MemberCheckpoints`) a member's checkpoints are ``round-<r>.pkl`` files in
its own directory, each written to a temporary name and renamed into place, so a file of
that name is always whole. A member may checkpoint a round whose outputs never reached the
driver (it died before its reply); so it keeps the newest checkpoint of a round the driver
has acknowledged and every newer one, and a restarted member loads the newest checkpoint of
an acknowledged round.
"""
from __future__ import annotations

import io
import os
import pickle
import time
import types
from typing import Any

#: with no fixed cadence, a member checkpoints once its ticks since the last checkpoint took
#: this many times what that checkpoint cost (its time overhead stays under 1/AUTO_RATIO)
AUTO_RATIO = 20
_STATIC = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
           types.ModuleType, types.LambdaType)


def _is_code(value: Any) -> bool:
    """Functions, classes, modules and compiled kernels: what building a member makes."""
    return isinstance(value, _STATIC) or hasattr(value, "py_func") or (
        callable(value) and not hasattr(value, "__dict__") and not isinstance(value, (list, dict)))


def code_of(stage) -> dict[tuple, Any]:
    """Path -> object for every piece of code reachable from a freshly built ``stage``
    (through attributes, lists, tuples and dict values); the stage itself is ``()``."""
    found: dict[tuple, Any] = {(): stage}
    seen = {id(stage)}

    def walk(value, path):
        if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
            return
        seen.add(id(value))
        if _is_code(value):
            found[path] = value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, (*path, i))
        elif isinstance(value, dict):
            for k, item in value.items():
                if isinstance(k, (str, int)):
                    walk(item, (*path, k))
        elif hasattr(value, "__dict__") and not hasattr(value, "__array__"):
            for k, item in vars(value).items():
                walk(item, (*path, k))

    for name, value in vars(stage).items():
        walk(value, (name,))
    return found


def _code_at(path):  # pragma: no cover - replaced by the unpickler of the restoring member
    raise pickle.UnpicklingError(f"code at {path} is read only by hydropy's checkpoint loader")


class _Pickler(pickle.Pickler):
    """Pickles a member's state with its code by place (see the module's docstring)."""

    def __init__(self, file, places: dict[int, tuple]):
        super().__init__(file, protocol=5)
        self.places = places

    def reducer_override(self, obj):
        path = self.places.get(id(obj))
        if path is not None:
            return _code_at, (path,)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, code: dict[tuple, Any]):
        super().__init__(file)
        self.code = code

    def find_class(self, module, name):
        if module == __name__ and name == "_code_at":
            return self._code_at
        return super().find_class(module, name)

    def _code_at(self, path):
        try:
            return self.code[tuple(path)]
        except KeyError:
            raise pickle.UnpicklingError(f"the checkpoint refers to code at {path!r}, which this "
                                         f"member does not have (was the stage recompiled?)") from None


class StateCodec:
    """Saves and restores the state of members built like ``fresh`` (a member not yet ticked).
    Code pickles by place; any other function in the state (a lambda a fold stored) by value
    through Ray's cloudpickle, when plain pickle cannot."""

    def __init__(self, fresh):
        self.code = code_of(fresh)
        self.places = {id(v): p for p, v in self.code.items()}

    def dumps(self, stage) -> bytes:
        state = dict(vars(stage))
        buf = io.BytesIO()
        try:
            _Pickler(buf, self.places).dump(state)
        except (pickle.PicklingError, TypeError, AttributeError):
            buf = io.BytesIO()
            _cloud_pickler(buf, self.places).dump(state)
        return buf.getvalue()

    def loads(self, stage, data: bytes) -> None:
        """Make ``stage`` (freshly built, the one this codec was made from) hold the state."""
        state = _Unpickler(io.BytesIO(data), self.code).load()
        vars(stage).clear()
        vars(stage).update(state)


def _cloud_pickler(buf, places):
    from ray.cloudpickle import cloudpickle as cp

    class CloudPickler(cp.Pickler):
        def reducer_override(self, obj):
            path = places.get(id(obj))
            if path is not None:
                return _code_at, (path,)
            return super().reducer_override(obj)

    return CloudPickler(buf, protocol=5)


class Cadence:
    """When a member checkpoints: every ``every`` rounds, or (``every`` None) once the ticks
    since its last checkpoint took :data:`AUTO_RATIO` times what that checkpoint cost."""

    def __init__(self, every: int | None):
        self.every = every
        self.cost = 0.0        # seconds the last checkpoint took
        self.ticking = 0.0     # seconds of ticks since then

    def ticked(self, seconds: float) -> None:
        self.ticking += seconds

    def due(self, round_: int) -> bool:
        if self.every is not None:
            return round_ % self.every == 0
        return self.ticking >= AUTO_RATIO * self.cost

    def saved(self, seconds: float) -> None:
        self.cost, self.ticking = seconds, 0.0


class MemberCheckpoints:
    """The checkpoint files of one member under ``directory`` (``<stage>-<member>/``)."""

    def __init__(self, directory: str, stage: str, member: int):
        self.directory = os.path.join(directory, f"{stage}-{member}")

    def save(self, round_: int, data: bytes) -> None:
        """Write round ``round_``'s checkpoint atomically (a temporary file renamed)."""
        os.makedirs(self.directory, exist_ok=True)
        final = os.path.join(self.directory, f"round-{round_}.pkl")
        tmp = f"{final}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def prune(self, saved: list[int], acked: int) -> list[int]:
        """Remove the checkpoints (of ``saved``) older than the newest one at or before round
        ``acked``; returns the rounds kept."""
        base = max([r for r in saved if r <= acked], default=0)
        for r in [r for r in saved if r < base]:
            try:
                os.remove(os.path.join(self.directory, f"round-{r}.pkl"))
            except FileNotFoundError:
                pass
        return [r for r in saved if r >= base]

    def rounds(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(n[6:-4]) for n in names
                      if n.startswith("round-") and n.endswith(".pkl") and n[6:-4].isdigit())

    def latest(self, upto: int) -> tuple[int, bytes] | None:
        """The newest checkpoint of a round at or before ``upto``: (round, data). Temporary
        files that a dead member left are removed."""
        for name in os.listdir(self.directory) if os.path.isdir(self.directory) else ():
            if name.endswith(".tmp"):
                os.remove(os.path.join(self.directory, name))
        rounds = [r for r in self.rounds() if r <= upto]
        if not rounds:
            return None
        with open(os.path.join(self.directory, f"round-{rounds[-1]}.pkl"), "rb") as fh:
            return rounds[-1], fh.read()


class Journal:
    """A member's recovery in one process (the simulator): a checkpoint in memory every few
    ticks and the packed batches of each tick since, so a crashed member comes back as it was:
    its checkpoint restored into a fresh member, its later ticks run again on the same
    batches, what they send dropped (the receivers have it already)."""

    def __init__(self, fresh, every: int):
        self.codec, self.every = StateCodec(fresh), every
        self.saved = self.codec.dumps(fresh)
        self.log: list[dict[str, list]] = []

    def ticked(self, member, batches: dict[str, list]) -> None:
        """After ``member`` ticked on ``batches``: log them, or checkpoint when due."""
        self.log.append(batches)
        if len(self.log) >= self.every:
            self.saved, self.log = self.codec.dumps(member), []

    def recover(self, fresh):
        """``fresh`` (built like the first member) restored and replayed to where it crashed."""
        self.codec = StateCodec(fresh)
        self.codec.loads(fresh, self.saved)
        for batches in self.log:
            fresh.run_tick(batches)
        return fresh


class MemberRecovery:
    """The rounds a member (on Ray) has applied, and its checkpoints: round ``r`` is applied
    once (a round it has applied already is dropped: a replay re-sends what it may have
    seen), and after it the state is saved when the :class:`Cadence` says so (``every`` 0:
    never)."""

    def __init__(self, stage, stage_name: str, member: int, directory: str | None, every: int | None):
        self.codec, self.cadence = StateCodec(stage), Cadence(every)
        self.files = MemberCheckpoints(directory, stage_name, member) if directory and every != 0 else None
        self.applied = self.checkpointed = 0
        self.saved: list[int] = []   # rounds of the checkpoints on disk

    def takes(self, round_: int) -> bool:
        """Whether round ``round_`` is new here (False: applied already, drop it)."""
        if round_ <= self.applied:
            return False
        if round_ != self.applied + 1:
            raise RuntimeError(f"round {round_} reached a member that has applied "
                               f"{self.applied} rounds: rounds must arrive in order")
        return True

    def ticked(self, stage, round_: int, seconds: float, acked: int) -> None:
        """After round ``round_`` (``acked``: the rounds whose outputs the driver has)."""
        self.applied = round_
        self.cadence.ticked(seconds)
        if self.files is None:
            return
        if self.cadence.due(round_):
            start = time.perf_counter()
            self.files.save(round_, self.codec.dumps(stage))
            self.cadence.saved(time.perf_counter() - start)
            self.checkpointed = round_
            self.saved.append(round_)
        if len(self.saved) > 1 and self.saved[1] <= acked:
            self.saved = self.files.prune(self.saved, acked)

    def restore(self, stage, upto: int) -> int:
        """Load into ``stage`` (fresh) the newest checkpoint at or before round ``upto``;
        returns its round (0: none, ``stage`` stays fresh)."""
        latest = self.files.latest(upto) if self.files is not None else None
        if latest is not None:
            self.codec.loads(stage, latest[1])
            self.applied = self.checkpointed = latest[0]
            self.saved = [r for r in self.files.rounds()]
        return self.applied
