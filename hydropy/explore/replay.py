"""What a design point's emitted stages cost: their code run in one process, member by member.

The explorer's estimates rest on this measurement rather than on the single-node profile
alone, since Ray runs other code than the single-node program: the emitted stage classes
(what ``hydropy compile`` writes), loaded as Ray's actors load them
(:func:`hydropy.targets.sim.emitted_stages`), each member ticked through ``run_tick``
(unpacking, the stage's loops or kernels, routing, packing). :func:`replay` runs them as the
Ray driver does (:mod:`targets.recovery`): round r hands each source stage the r-th tick of
its inputs, routed and packed as the driver routes and packs them, and ticks every member of
every stage in stage order on the packed batches its upstream members made in that round;
rounds without input follow while a stage holds cycle records. Each member's ``run_tick``
is timed (wall clock and CPU), and each batch it sends is serialized and deserialized as
Ray's object store does it (timed, and its bytes counted), as is what the driver sends (the sources'
parts) and gathers at the end (the sinks).

The replay runs on a sample of the inputs (:func:`sample_inputs`: every k-th record of each
large input, so the records' mix along the whole input stays; small ones, the tables a stream
is joined with, whole) and :class:`Replay` scales
each stage's measurements by the records that enter it in the whole single-node run over
those that entered it in the sample.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import networkx as nx

from hydropy.ir import Graph
from hydropy.runtime.batch import pack, route, wire
from hydropy.runtime.columns import Columns, heap_frozen
from hydropy.targets.local import split_ticks

#: seconds of single-node work a replay's sample is cut to (about; at least MIN_RECORDS)
BUDGET_SECONDS = 0.1
#: a sample keeps at least this many records of each input (all of a smaller one)
MIN_RECORDS = 50
#: an input of at most this share of the largest input's records is kept whole in a sample
SMALL_SIDE = 0.1
#: a sample this small is replayed SMALL_REPEATS times, the least time of each member counting
SMALL_SAMPLE = 1000
SMALL_REPEATS = 3
#: rounds without input after the last tick while a stage holds cycle records, at most
MAX_DRAIN_ROUNDS = 1000


@dataclass
class MemberCost:
    """What one stage member did in the replay (seconds on the sample)."""

    ticks: int = 0
    records_in: int = 0
    seconds: float = 0.0          # run_tick, wall clock (sleeps included)
    cpu_seconds: float = 0.0      # run_tick, CPU
    send_seconds: float = 0.0     # pickling what it sends (Ray serializes a call's returns)
    receive_seconds: float = 0.0  # unpickling what it receives (its sources' parts and channels)
    bytes_out: int = 0            # pickled bytes it sends
    #: pickled bytes per Ray object of its calls (each call has one of each): ``sources`` (the
    #: sources' parts to it), ``in CHANNEL SENDER`` and ``out CHANNEL RECEIVER``
    objects: dict[str, int] = field(default_factory=dict)

    def took(self, key: str, size: int) -> None:
        self.objects[key] = self.objects.get(key, 0) + size


@dataclass
class Replay:
    """Per stage, per member costs on the sample; the driver's costs; and the scale from the
    sample to the whole input per stage."""

    members: dict[str, list[MemberCost]]
    scale: dict[str, float]                 # stage -> whole-run records in / sample records in
    rounds: int                             # rounds of the sample run
    sample_ticks: int                       # of which the sample's ticks (the rest drain cycles)
    driver_seconds: float = 0.0             # routing, packing and pickling the sources' parts
    driver_scale: float = 1.0
    results_seconds: float = 0.0            # pickling and unpickling every member's sinks
    sample_records: int = 0
    notes: list[str] = field(default_factory=list)


def sample_inputs(inputs: Mapping[str, Any], fraction: float) -> dict[str, list]:
    """Every k-th record of each large input (k = 1/fraction), at least :data:`MIN_RECORDS`
    of it; whole, an input of at most MIN_RECORDS records or of at most a
    :data:`SMALL_SIDE` of the largest input's. A join (or lookup) of a sampled stream with a
    small table whole gives the stream's share of its pairs; with the table sampled too, the
    share squared (on the shopping cart, whose 500 client classes joined 30,500 requests,
    the replay predicted up to 3x the measured throughput)."""
    sizes = {name: len(records) for name, records in inputs.items()}
    largest = max(sizes.values(), default=0)
    out = {}
    for name, records in inputs.items():
        records = records.tolist() if isinstance(records, Columns) else list(records)
        if fraction >= 1 or len(records) <= max(MIN_RECORDS, SMALL_SIDE * largest):
            out[name] = records
            continue
        step = max(1, min(int(round(1 / fraction)), len(records) // MIN_RECORDS))
        out[name] = records[::step]
    return out


def _schedstat_wait() -> float:
    """Seconds this thread has waited for a CPU (Linux's /proc/thread-self/schedstat)."""
    with open("/proc/thread-self/schedstat", encoding="ascii") as fh:
        return int(fh.read().split()[1]) / 1e9


def _busy_clock() -> float:
    """A clock that stops while this thread waits for a CPU: on a machine other processes
    load, a stage's time is what it does (computing, sleeping, waiting on I/O), not the
    time the kernel ran others in its place. Where the kernel does not say, the wall clock."""
    try:
        return time.perf_counter() - _schedstat_wait()
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


def _pickled(packed: Any) -> tuple[int, float, float, Any]:
    """(bytes, seconds to serialize, seconds to deserialize, the batch deserialized) of a
    packed batch in the form it is handed to Ray (:func:`~hydropy.runtime.batch.wire`: a list
    as one pickle), as Ray's object store serializes it (cloudpickle, numpy columns out of
    band, not copied). The receiver gets the copy, as on Ray: its records are new objects
    (strings without their hash computed, keys equal to a table's but not the same object)."""
    from ray import cloudpickle
    buffers: list = []
    t0 = _busy_clock()
    blob = cloudpickle.dumps(wire(packed), protocol=5, buffer_callback=buffers.append)
    t1 = _busy_clock()
    loaded = pickle.loads(blob, buffers=buffers)  # Pickled: a list again
    return len(blob) + sum(b.raw().nbytes for b in buffers), t1 - t0, _busy_clock() - t1, loaded


def stage_order(design: Graph) -> list[str]:
    """The stages in the order the Ray driver ticks them in a round."""
    order = nx.DiGraph()
    order.add_nodes_from(design.locations())
    order.add_edges_from((design.node(n.inputs[0]).location, n.location)
                         for n in design.nodes() if n.kind == "network")
    return list(nx.lexicographical_topological_sort(order))


def replay(design: Graph, inputs: Mapping[str, Any], *, tick_size: int,
           whole_records: Mapping[str, float], program=None, fraction: float = 1.0) -> Replay:
    """Run ``design``'s emitted stages on a ``fraction`` of ``inputs`` (module doc).
    ``whole_records``: stage -> records that enter it over the whole inputs (from the
    single-node profile), for the scale. A sample of at most :data:`SMALL_SAMPLE` records
    runs :data:`SMALL_REPEATS` times and each time counts its least (a few microseconds of
    work would otherwise show a preemption of the process as the stage's cost). Raises the
    emitter's error for a program that cannot be emitted."""
    from ray import cloudpickle  # noqa: F401  (imported here, not in a timed section)

    from hydropy.targets.sim import emitted_stages
    classes = emitted_stages(design, program)
    sample = sample_inputs(inputs, fraction)
    small = sum(len(v) for v in sample.values()) <= SMALL_SAMPLE
    with heap_frozen():  # the explorer's own heap is not a member's (whose start is frozen too)
        runs = [_replay_once(design, classes, inputs, sample, tick_size, whole_records, fraction)
                for _ in range(SMALL_REPEATS if small else 1)]
    best = runs[0]
    for other in runs[1:]:
        for stage, members in best.members.items():
            for mine, theirs in zip(members, other.members[stage]):
                for name in ("seconds", "cpu_seconds", "send_seconds", "receive_seconds"):
                    setattr(mine, name, min(getattr(mine, name), getattr(theirs, name)))
        best.driver_seconds = min(best.driver_seconds, other.driver_seconds)
        best.results_seconds = min(best.results_seconds, other.results_seconds)
    return best


def _replay_once(design: Graph, classes: Mapping[str, type], inputs: Mapping[str, Any],
                 sample: Mapping[str, list], tick_size: int, whole_records: Mapping[str, float],
                 fraction: float) -> Replay:
    from hydropy.targets.sim import entry_name, outgoing
    ticks = split_ticks(sample, tick_size)
    order = stage_order(design)
    members = {s: design.members_of(s) for s in order}
    receivers = {s: {net.name: members[net.location] for net in outgoing(design, s)} for s in order}
    hosts = {s: [classes[s](m, members[s], receivers[s]) for m in range(members[s])] for s in order}
    costs = {s: [MemberCost() for _ in range(members[s])] for s in order}
    sources = {n.params["name"]: n for n in design.nodes() if n.kind == "source"}
    incoming = {s: [n for n in design.nodes() if n.kind == "network" and n.location == s] for s in order}
    driver = 0.0
    rounds = 0

    def one_round(batch: Mapping[str, Any]) -> None:
        nonlocal driver
        sent: dict[tuple[str, int], list] = {}   # (stage, member) -> its routed output
        for stage in order:
            n = members[stage]
            external: list[dict[str, list]] = [{} for _ in range(n)]
            for name, records in batch.items():
                node = sources.get(name)
                if node is None or node.location != stage:
                    continue
                t0 = _busy_clock()
                key = node.params.get("key")
                parts = [pack(p) for p in route(records, node.params.get("routing", "round_robin"), n,
                                                tuple(key) if key else None, rounds)]
                driver += _busy_clock() - t0
                for m, part in enumerate(parts):
                    size, dump, load, copy = _pickled(part)
                    driver += dump
                    costs[stage][m].took("sources", size)
                    costs[stage][m].receive_seconds += load
                    external[m][entry_name(node)] = [copy]
            for m, host in enumerate(hosts[stage]):
                cost = costs[stage][m]
                batches = external[m]
                for net in incoming[stage]:
                    sender = design.node(net.inputs[0]).location
                    for sm in range(members[sender]):
                        size, _, load, copy = _pickled(sent[(sender, sm)][net.name][m])
                        batches.setdefault(net.name, []).append(copy)
                        cost.took(f"in {net.name} {sm}", size)
                        cost.receive_seconds += load
                received = host.received
                t0, c0 = _busy_clock(), time.process_time()
                routed = host.run_tick(batches)
                cost.seconds += _busy_clock() - t0
                cost.cpu_seconds += time.process_time() - c0
                cost.records_in += host.received - received
                cost.ticks += 1
                for channel, parts in routed.items():
                    for j, packed in enumerate(parts):
                        size, dump, _, _ = _pickled(packed)
                        cost.bytes_out += size
                        cost.took(f"out {channel} {j}", size)
                        cost.send_seconds += dump
                sent[(stage, m)] = routed

    for batch in ticks:
        one_round(batch)
        rounds += 1
    for _ in range(MAX_DRAIN_ROUNDS):
        if all(h.quiescent for hs in hosts.values() for h in hs):
            break
        one_round({})
        rounds += 1
    t0 = _busy_clock()
    for hs in hosts.values():
        for h in hs:
            _pickled(h.results())
    results = _busy_clock() - t0   # not scaled: keyed sinks grow with keys, not records
    scale = {}
    for stage in order:
        got = sum(c.records_in for c in costs[stage])
        scale[stage] = whole_records.get(stage, 0) / got if got else 1.0 / max(fraction, 1e-9)
        scale[stage] = max(scale[stage], 1.0)
    sample_records = sum(len(v) for v in sample.values())
    whole = sum(len(v) for v in inputs.values())
    return Replay(costs, scale, rounds, len(ticks), driver, whole / sample_records if sample_records else 1.0,
                  results, sample_records)
