"""The base class of every emitted stage: the tick protocol around the generated ``tick``.

A generated stage subclass declares its ``INPUTS`` (external input or channel name ->
``tick`` parameter), ``CHANNELS_OUT`` (channel -> (routing, key path)), ``SINKS`` (sink -> (kind, operator
attribute)) and ``CYCLES``, builds its operators in ``__init__`` and defines
``tick(**batches) -> {channel: records}``. ``run_tick`` unpacks what arrived, runs one tick,
and routes each outgoing batch to the receiving stage's members.
"""
from __future__ import annotations

from typing import Any

from hydropy.errors import PlanError

from .batch import pack, route, unpack
from .columns import concat_batches
from .ops import UNSET, sorted_items


class Stage:
    NAME = ""
    INPUTS: dict[str, str] = {}
    CHANNELS_OUT: dict[str, tuple[str, tuple[int, ...] | None]] = {}
    SINKS: dict[str, tuple[str, str]] = {}
    CYCLES: tuple[str, ...] = ()

    def __init__(self, member: int = 0, members: int = 1, receivers: dict[str, int] | None = None):
        self.member, self.members = member, members
        self.receivers = dict(receivers or {})  # channel -> members of the receiving stage
        self.ticks = 0
        self.pending: dict[str, list] = {name: [] for name in self.CYCLES}
        self.next_pending: dict[str, list] = {name: [] for name in self.CYCLES}
        self.streams: dict[str, list] = {name: [] for name, (kind, _) in self.SINKS.items()
                                         if kind == "stream"}
        self.sent = 0       # records sent on channels
        self.received = 0   # records that arrived (inputs and channels)
        self.emitted = 0    # records shown by stream sinks
        self.compile_seconds = 0.0

    def warm_up(self) -> None:
        """Compile every kernel operator now (or load it from the disk cache), so that no tick
        pays for it; ``compile_seconds`` says how long that took."""
        self.compile_seconds = sum(op.warm_up() for op in vars(self).values()
                                   if callable(getattr(op, "warm_up", None)))

    # -- used by generated tick code ------------------------------------------------
    def first_tick(self, values: tuple) -> list:
        """A bounded literal source: its values in the first tick (on member 0 only)."""
        return list(values) if self.ticks == 0 and self.member == 0 else []

    def take_cycle(self, name: str) -> list:
        return self.pending[name]

    def feed_cycle(self, name: str, records: list) -> None:
        self.next_pending[name] = list(records)

    def emit(self, sink: str, records: list) -> None:
        self.streams[sink].extend(records)
        self.emitted += len(records)

    # -- used by hosts ------------------------------------------------------------------
    def tick(self, **batches) -> dict[str, list]:
        raise TypeError(f"stage {self.NAME} defines no tick()")  # generated subclasses define it

    def run_tick(self, batches: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """One tick on packed batches (input name -> the batches that arrived on it, one per
        sending member); returns per outgoing channel one packed batch per receiving member."""
        parts: dict[str, list] = {param: [] for param in self.INPUTS.values()}
        for name, packed_parts in batches.items():
            parts[self.INPUTS[name]].extend(unpack(packed) for packed in packed_parts)
        args = {param: concat_batches(ps) for param, ps in parts.items()}
        self.received += sum(len(batch) for batch in args.values())
        self.next_pending = {name: [] for name in self.CYCLES}
        out = self.tick(**args)
        self.pending = self.next_pending
        self.ticks += 1
        routed = {}
        for channel, records in out.items():
            routing, key = self.CHANNELS_OUT[channel]
            n = self.receivers.get(channel, 1)
            try:
                routed[channel] = [pack(part) for part in route(records, routing, n, key, self.ticks)]
            except PlanError as exc:
                raise PlanError(f"channel '{channel}' from stage '{self.NAME}': {exc.message}") from None
            self.sent += len(records)
        return routed

    @property
    def quiescent(self) -> bool:
        return not any(self.pending.values())

    def results(self) -> dict[str, tuple[str, Any]]:
        """sink -> (kind, contents): a stream's records, a singleton's value (or UNSET), a
        keyed map's dict."""
        res = {}
        for sink, (kind, attr) in self.SINKS.items():
            if kind == "stream":
                res[sink] = (kind, self.streams[sink])
            else:
                res[sink] = (kind, getattr(self, attr).value)
        return res


def merge_results(parts: list[dict[str, tuple[str, Any]]]) -> dict[str, list]:
    """Sinks of all members of all stages -> what ``flow.run`` returns.

    Streams concatenate. Keyed maps union (members of a partitioned stage hold disjoint
    keys; replicas hold equal or mergeable lattice values). Singletons must agree.
    """
    kinds: dict[str, str] = {}
    acc: dict[str, Any] = {}
    for part in parts:
        for sink, (kind, value) in part.items():
            kinds[sink] = kind
            if kind == "stream":
                acc.setdefault(sink, []).extend(value)
            elif kind == "keyed":
                table = acc.setdefault(sink, {})
                for k, v in value.items():
                    table[k] = _agree(sink, table[k], v) if k in table else v
            elif value is not UNSET:
                acc[sink] = _agree(sink, acc[sink], value) if sink in acc else value
    out = {}
    for sink, kind in kinds.items():
        if kind == "stream":
            out[sink] = acc.get(sink, [])
        elif kind == "keyed":
            out[sink] = sorted_items(acc.get(sink, {}))
        else:
            out[sink] = [acc[sink]] if sink in acc else []
    return out


def _agree(sink: str, a: Any, b: Any) -> Any:
    from hydropy.lattices import Lattice
    if isinstance(a, Lattice):
        merged = a.copy()
        merged.merge(b)
        return merged
    if a != b:
        raise RuntimeError(f"members disagree on sink '{sink}': {a!r} vs {b!r}")
    return a
