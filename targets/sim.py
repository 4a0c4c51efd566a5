"""The simulator: a multi-stage design point run in one process under a seeded scheduler.

The simulator runs the code Ray runs: the design point is emitted by the real emitter
(:func:`hydropy.targets.emit.emit`) into a temporary directory, each stage module is loaded
with the loader Ray's actors use (:mod:`hydropy.targets.sim_stages`), and each
member is an instance of its generated :class:`~hydropy.runtime.stage.Stage`, ticked through
the same ``run_tick`` (packed batches in, one routed packed batch per receiving member out).
Only delivery is the simulator's. A :class:`random.Random` seeded with ``seed`` drives it, so
the same seed gives the same run:

* **Scheduling.** Each step ticks one stage (every member once), chosen among the stages with
  work left; every stage ticks at least once. Idle ticks happen now and then.
* **Sources** hand their stage chunks of random size (one record to all that remain), routed
  to the members' inboxes as the design says (hash, round robin, any, broadcast).
* **Members lag each other.** In each tick every member takes its own share of the source
  records routed to it (often all, sometimes none or some), so the members of a partitioned
  stage and the replicas of a replicated one run apart.
* **Pieces travel on their own.** The pieces of one sender batch routed to several members are
  separate messages: each receiving member takes its piece in its own tick, so replicas see
  two writers in different orders and partition members lag each other per record. Provenance
  is per piece: a piece carries the events its records derive from (the events taken in the
  sender's tick by the entries that reach the channel), which is exact when the send derives
  from one event. A member of a stage without state runs a tick's pieces one after another
  (each its own ``run_tick``): the same records as one tick (every operator acts per record),
  and a schedule the stage has anyway (taking them in separate ticks), so each of its sends
  derives from one piece and travels alone. A send of a stage with state that derives from
  several events (records merged in one tick of a join, a fold, a loop) keeps its pieces
  together, reaching every member in the same tick: the emitted code does not say which
  output record came from which input (records carry no tags through user functions), and a
  piece claiming all the events would record arrivals of events whose records it does not
  hold, timing no schedule of whole events explains (false differences). So ``check`` does not
  explore one member receiving its piece of such a send ticks before another does.
* **Channels** are what ``network`` promises and no more: FIFO per sender and receiving
  member. Each batch a sender member emits in one tick for one receiving member travels
  whole (one message); a receiving tick takes any number of the waiting batches (none: a
  delay; several: merged), so deliveries from different senders and channels interleave
  freely. A channel declared ``reorder`` delivers any of the waiting batches, in any order;
  one declared ``duplicates`` (or whose collection is at-least-once) queues a batch twice now
  and then.
* **Crashes.** A member of a stage that keeps no state now and then crashes and restarts
  from scratch between ticks; its queued input waits in the channels. A member that keeps
  state crashes too and recovers as on Ray: its last checkpoint (taken every few of its
  ticks, :class:`hydropy.runtime.checkpoint.Journal`, the code Ray's members checkpoint
  with) restored into a fresh member, its ticks since run again on the same batches, what
  they send dropped (its receivers have it). These crashes draw from their own seeded
  generator, so the deliveries of a seed are those it has without them.

A sink's value over several members: :mod:`hydropy.targets.members`; where records enter and
leave stages: :mod:`hydropy.targets.wiring`.

**Criterion**: :mod:`hydropy.targets.criterion` (which single-node schedules could explain a
run, and how sinks compare). On a difference, :class:`Mismatch` names the sink, its missing
and extra records, the seed, the relaxations the comparison used, and the deliveries into
the stages that feed the sink.
"""
from __future__ import annotations

import random
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import networkx as nx

from hydropy.errors import InputError, PlanError, ProgramError, UserCodeError
from hydropy.ir import STREAM, Graph, Node
from hydropy.runtime.batch import pack, route, unpack
from hydropy.runtime.checkpoint import Journal

from .members import merge_members
from .sim_stages import emitted_stages, program_of  # noqa: F401  (re-exported)
from .wiring import (channel_input, entries, entry_name, may_duplicate, outgoing,  # noqa: F401
                     survives_restart)


MAX_STEPS = 20_000


@dataclass
class Event:
    """A chunk of input ``source`` that one member of a stage consumed in one tick."""

    id: int
    source: str
    records: list
    indices: list[int]   # the records' positions in the input (a broadcast copies a record to
    #                      every member: each input record is fed once by a schedule)


@dataclass
class Batch:
    """What one sender member emitted on one channel in one tick for one receiving member
    (packed as on the wire), with the events it may derive from."""

    packed: Any
    events: frozenset[int]
    sent: int
    send: int            # which send (one per sender tick, channel and copy) it is a piece of
    alone: bool = True   # its events are exactly its records' (one event): it may reach its
    #                      member apart from the send's other pieces


def size(packed: Any) -> int:
    return len(unpack(packed))


@dataclass
class SimRun:
    """One simulated run: merged sinks, the events, where they arrived, and the trace."""

    graph: Graph
    seed: int
    results: dict[str, list]
    events: list[Event]
    ticks: dict[str, list[int]]                                # stage -> steps of its ticks
    reached: dict[str, dict[str, dict[int, dict[int, tuple[int, int]]]]]  # stage -> entry -> event
    #                                      -> receiving member -> (its tick there, position)
    settled: dict[int, int]                                    # event -> last step it arrived anywhere
    trace: list[tuple[str, str]]                               # (stage, what happened in one step)
    error: UserCodeError | None = None   # a user function raised: the run stopped there (an
    #                                      outcome the criterion compares, as it compares sinks)
    error_stage: str | None = None       # the stage whose member raised


class Simulator:
    """Runs ``graph`` (a design point) on ``inputs`` under the scheduler seeded by ``seed``,
    each member being an instance of its stage's emitted class (``classes``: stage -> class)."""

    def __init__(self, graph: Graph, inputs: Mapping[str, Iterable[Any]] | None, seed: int,
                 classes: Mapping[str, type], ticks: list[Mapping[str, list]] | None = None):
        self.graph, self.seed, self.rng = graph, seed, random.Random(seed)
        self.stages = graph.locations()
        self.classes = dict(classes)
        self.receivers = {s: {net.name: graph.members_of(net.location) for net in outgoing(graph, s)}
                          for s in self.stages}
        self.members = {s: [self._start(s, m) for m in range(graph.members_of(s))] for s in self.stages}
        sources = [n for n in graph.nodes() if n.kind == "source"]
        known = sorted(n.params["name"] for n in sources)
        for name in inputs or {}:
            if name not in known:
                raise InputError(f"unknown input '{name}'; the program's inputs are: "
                                 f"{', '.join(known) or 'none'}")
        self.pending = {name: deque(enumerate(records)) for name, records in (inputs or {}).items()}
        #: with ``ticks``, a source stage's k-th tick takes exactly tick k of its inputs, as on Ray
        self.tick_sizes = None if ticks is None else {
            name: [len(batch.get(name, ())) for batch in ticks] for name in self.pending}
        self.sources = {s: [n for n in sources if n.location == s] for s in self.stages}
        self.inbox: dict[tuple[str, int], deque] = defaultdict(deque)  # (input, member) -> routed records
        self.incoming = {s: [n for n in graph.nodes() if n.kind == "network" and n.location == s]
                         for s in self.stages}
        self.reaches = {s: self._static_reach(s) for s in self.stages}
        self.restartable = {s for s in self.stages if survives_restart(graph, s)}
        self.crashes = random.Random(f"crashes {seed}")
        self.journals = {(s, m): Journal(member, self.crashes.choice((1, 2, 3, 5)))
                         for s in self.stages if s not in self.restartable
                         for m, member in enumerate(self.members[s])}
        self.queues: dict[tuple[str, int, int], list[Batch]] = defaultdict(list)  # (channel, from, to)
        self.loop_events = {(s, m): defaultdict(set) for s in self.stages
                            for m in range(graph.members_of(s))}
        self.sink_kinds = {n.params["name"]: graph.node(n.inputs[0]).coll for n in graph.sinks()}
        self.streams: dict[str, list] = {n: [] for n, c in self.sink_kinds.items() if c.kind == STREAM}
        self.step = 0
        self.sends = 0
        self.events: list[Event] = []
        self.ticks: dict[str, list[int]] = {s: [] for s in self.stages}
        self.reached = {s: defaultdict(dict) for s in self.stages}
        self.settled: dict[int, int] = {}
        self.trace: list[tuple[str, str]] = []
        self.error: UserCodeError | None = None
        self.error_stage: str | None = None

    def _start(self, stage: str, member: int):
        return self.classes[stage](member, self.graph.members_of(stage), self.receivers[stage])

    def _static_reach(self, stage: str) -> dict[str, list[str]]:
        """For each outgoing channel and loop of ``stage``, the entries whose records can reach
        it (through state too, so a join's output carries both sides' events)."""
        g = self.graph.nx.subgraph([n.id for n in self.graph.nodes() if n.location == stage])
        targets = {channel_input(net): net.inputs[0] for net in outgoing(self.graph, stage)}
        targets.update({f"cycle:{n.name}": n.inputs[0] for n in entries(self.graph, stage)
                        if n.kind == "cycle"})
        return {t: [entry_name(e) for e in entries(self.graph, stage)
                    if e.id == src or nx.has_path(g, e.id, src)] for t, src in targets.items()}

    # -- the run ------------------------------------------------------------------------
    def run(self) -> SimRun:
        while True:
            busy = [s for s in self.stages if self._has_work(s) or not self.ticks[s]]
            if not busy:
                break
            if self.step >= MAX_STEPS:
                raise ProgramError(f"the design did not settle after {MAX_STEPS} simulated ticks "
                                   f"(seed {self.seed}): stages {', '.join(busy)} keep working")
            stage = self.rng.choice(busy if self.rng.random() > 0.05 else self.stages)
            self._tick(stage)
            self.step += 1
            if self.error is not None:
                break
        return SimRun(self.graph, self.seed, self._results(), self.events, self.ticks, self.reached,
                      self.settled, self.trace, self.error, self.error_stage)

    def _senders(self, net: Node) -> range:
        return range(self.graph.members_of(self.graph.node(net.inputs[0]).location))

    def _has_work(self, stage: str) -> bool:
        n = len(self.members[stage])
        return (any(self.pending.get(src.params["name"]) or
                    any(self.inbox.get((src.params["name"], m)) for m in range(n))
                    for src in self.sources[stage])
                or any(self.queues.get((net.name, sm, m)) for net in self.incoming[stage]
                       for sm in self._senders(net) for m in range(n))
                or not all(member.quiescent for member in self.members[stage]))

    def _take(self, queued: int) -> int:
        """How many of ``queued`` waiting items a member takes in one tick: often all, now and
        then none (a delay) or some (the rest lag behind)."""
        return self.rng.choice([queued, queued, queued, 1, 0, self.rng.randint(0, queued)])

    def _tick(self, stage: str) -> None:
        """One tick of every member of ``stage``: each takes its own share of what waits for
        it (source records routed to it, batches queued to it per channel and sender), so the
        members of a stage lag each other; then each runs its emitted ``run_tick``."""
        index, n = len(self.ticks[stage]), len(self.members[stage])
        self.ticks[stage].append(self.step)
        batches = [defaultdict(list) for _ in range(n)]   # per member: input name -> packed batches
        carried = [defaultdict(set) for _ in range(n)]    # per member: entry -> events
        units = [[] for _ in range(n)]   # per member: (input name, entry, packed, its events)
        arrived: dict[str, dict[int, dict[int, int]]] = defaultdict(dict)  # entry -> ev -> member -> pos
        notes = []
        position = iter(range(1 << 30))
        if stage in self.restartable and self.rng.random() < 0.05:
            m = self.rng.randrange(n)
            self.members[stage][m] = self._start(stage, m)
            notes.append(f"{stage}[{m}] crashes and restarts")
        elif stage not in self.restartable and self.crashes.random() < 0.05:
            m = self.crashes.randrange(n)
            journal = self.journals[(stage, m)]
            self.members[stage][m] = journal.recover(self._start(stage, m))
            notes.append(f"{stage}[{m}] crashes and recovers (its checkpoint, then "
                         f"{len(journal.log)} tick(s) replayed)")
        for src in self.sources[stage]:
            name, queue = src.params["name"], self.pending.get(src.params["name"])
            if self.tick_sizes is not None:  # the target's ticks: tick `index` of this input
                sizes = self.tick_sizes.get(name, [])
                size_ = sizes[index] if index < len(sizes) else 0
            elif queue:  # the environment hands the stage a chunk, routed to the members' inboxes
                size_ = len(queue) if self.rng.random() < 0.2 else self.rng.randint(0, len(queue))
            else:
                size_ = 0
            if size_:
                chunk = [queue.popleft() for _ in range(size_)]
                routing, key = src.params.get("routing", "round_robin"), src.params.get("key")
                key = (1, *key) if key is not None else (1,)   # of (position, record) pairs
                try:
                    parts = route(chunk, routing, n, key, self.rng.randrange(n))
                except PlanError as exc:
                    raise PlanError(f"source '{name}' to stage '{stage}': {exc.message}") from None
                for m, part in enumerate(parts):
                    self.inbox[(name, m)].extend(part)
            for m in range(n):
                inbox = self.inbox.get((name, m))
                if not inbox:
                    continue
                take = len(inbox) if self.tick_sizes is not None else self._take(len(inbox))
                part = [inbox.popleft() for _ in range(take)]
                if part:
                    ev = Event(len(self.events), name, [r for _, r in part], [i for i, _ in part])
                    self.events.append(ev)
                    batches[m][name].append(pack(ev.records))
                    carried[m][name].add(ev.id)
                    units[m].append((name, name, batches[m][name][-1], frozenset([ev.id])))
                    arrived[name].setdefault(ev.id, {})[m] = next(position)
                    notes.append(f"{stage}[{m}] takes {len(part)} of '{name}' (event {ev.id})")
        for net in self.incoming[stage]:
            entry = channel_input(net)
            for sm in self._senders(net):
                queues = [self.queues.get((net.name, sm, m)) or [] for m in range(n)]
                if not any(queues):
                    continue
                for m, taken in enumerate(self._deliver(queues, bool(net.params.get("reorder")))):
                    for batch in taken:
                        batches[m][net.name].append(batch.packed)
                        carried[m][entry] |= batch.events
                        units[m].append((net.name, entry, batch.packed, batch.events))
                        for ev in sorted(batch.events):
                            arrived[entry].setdefault(ev, {}).setdefault(m, next(position))
                    if taken:
                        count = sum(size(b.packed) for b in taken)
                        notes.append(f"{stage}[{m}] receives {len(taken)} batch(es) ({count} records) on "
                                     f"'{net.name}' from {self.graph.node(net.inputs[0]).location}[{sm}], "
                                     f"sent at step(s) {', '.join(str(b.sent) for b in taken)}")
        for m, member in enumerate(self.members[stage]):
            for name, evs in self.loop_events[(stage, m)].items():
                carried[m][name] |= evs  # a loop's records keep the events they came from
            if stage in self.restartable and len(units[m]) > 1:
                # a stateless member's tick is its records' ticks one after another: each send
                # then derives from one piece taken (its events), so its pieces travel alone
                parts = [({name: [packed]}, {entry: set(evs)}) for name, entry, packed, evs in units[m]]
            else:
                parts = [(dict(batches[m]), carried[m])]
            try:
                for part, part_carried in parts:
                    self._tick_member(stage, m, member, part, part_carried)
            except UserCodeError as exc:  # the program's own failure on this delivery: the
                self.error, self.error_stage = exc, stage  # run ends here, arrivals recorded below
                notes.append(f"{stage}[{m}] raises: {exc}")
                break
        for entry, evs in arrived.items():
            for ev, members in evs.items():
                seen = self.reached[stage][entry].setdefault(ev, {})
                for member, pos in members.items():
                    seen.setdefault(member, (index, pos))
                self.settled[ev] = self.step
        line = "; ".join(notes) if notes else f"{stage} ticks with nothing new"
        self.trace.append((stage, f"step {self.step}: {line}"))

    def _deliver(self, queues: list[list[Batch]], reorders: bool) -> list[list[Batch]]:
        """What each receiving member takes this tick from one sender on one channel (``queues``:
        per member, oldest first; taken batches are removed). Each member picks on its own: a
        FIFO channel a prefix of its queue, a reordering one any of its batches in any order.
        A send whose pieces must travel together (not ``alone``) is taken by every member that
        has a piece of it once one does, with what precedes it on a FIFO channel."""
        picked = [set() for _ in queues]
        for m, queue in enumerate(queues):
            take = min(self._take(len(queue)), len(queue))
            picked[m] = set(self.rng.sample(range(len(queue)), take) if reorders else range(take))
        changed = True
        while changed:
            together = {q[i].send for q, ps in zip(queues, picked) for i in ps if not q[i].alone}
            changed = False
            for m, queue in enumerate(queues):
                need = {i for i, b in enumerate(queue) if b.send in together} - picked[m]
                if need and not reorders:
                    need = set(range(max(need) + 1)) - picked[m]
                if need:
                    picked[m] |= need
                    changed = True
        out = []
        for m, queue in enumerate(queues):
            order = sorted(picked[m])
            if reorders:
                self.rng.shuffle(order)
            out.append([queue[i] for i in order])
            queue[:] = [b for i, b in enumerate(queue) if i not in picked[m]]
        return out

    def _tick_member(self, stage, m, member, batches, carried) -> None:
        """The member's emitted ``run_tick`` on the packed batches it takes; what it sends is
        queued per receiving member, twice now and then on an at-least-once channel."""
        before = {name: len(member.streams[name]) for name in self.streams if name in member.streams}
        routed = member.run_tick(batches)
        if (stage, m) in self.journals:
            self.journals[(stage, m)].ticked(member, batches)
        for name, start in before.items():
            self.streams[name].extend(member.streams[name][start:])
        loops = self.loop_events[(stage, m)]
        loops.clear()
        for target, sources in self.reaches[stage].items():
            evs = frozenset().union(*(carried.get(s, set()) for s in sources))
            if target.startswith("cycle:"):
                loops[target] |= evs
                continue
            net = self.graph.by_name(target[len("channel:"):])
            copies = 2 if may_duplicate(net) and self.rng.random() < 0.3 else 1
            for _ in range(copies):
                self.sends += 1
                for j, packed in enumerate(routed.get(net.name, ())):
                    if size(packed):
                        self.queues[(net.name, m, j)].append(
                            Batch(packed, evs, self.step, self.sends, alone=len(evs) <= 1))

    def _results(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for node in self.graph.sinks():
            name, coll = node.params["name"], self.sink_kinds[node.params["name"]]
            if coll.kind == STREAM:
                out[name] = list(self.streams[name])
                continue
            parts = [member.results()[name][1] for member in self.members[node.location]]
            out[name] = merge_members(coll.kind, parts)
        return out


def simulate(graph: Graph, inputs: Mapping[str, Iterable[Any]] | None, seed: int, program=None,
             *, ticks: list[Mapping[str, list]] | None = None) -> SimRun:
    """Run the design point ``graph`` on ``inputs`` under the scheduler seeded by ``seed``, with
    its stages as emitted for Ray (``program``: the :class:`~hydropy.targets.emit.Program`
    that built it; found from the graph's source lines when not given). With ``ticks`` (the
    target's ticks, e.g. ``split_ticks(inputs, n)``) the sources deliver as the targets do,
    tick k of an input in its stage's k-th tick, all of it; channels keep their freedom."""
    if ticks is not None:
        from .local import whole_inputs, Ticks
        inputs = whole_inputs(Ticks(ticks))
    return Simulator(graph, inputs, seed, emitted_stages(graph, program), ticks).run()


from .criterion import Mismatch, check_run, relaxations, schedules  # noqa: E402  (re-exported)

__all__ = ["Mismatch", "SimRun", "Simulator", "check_run", "relaxations", "schedules", "simulate"]
