"""The cost model: a design point's throughput, bottleneck, latency and memory, from the profile.

Every stage member runs concurrently with the others (stages pipeline, members of a stage
split its input), so the run takes as long as its slowest member, and no less than all the
CPU work divided by the CPUs (time an operator spends waiting, e.g. sleeping on a log
write, takes a member's time but no CPU). A member's time is the profiled seconds of its stage's operators
times the share of the stage's input it receives, plus what its channels cost (per record
and per pickled byte, paid by sender and receiver), plus one Ray round per tick and input
channel. The share comes from the routing of each entry of the stage: ``1/n`` dealt round
robin, whole ticks to any one replica (``ceil(ticks/n)/ticks``), the whole for a broadcast, and for hash routing the fullest
member's share of the sender's sampled records under :func:`hydropy.runtime.batch.route`,
so skewed keys predict less. Constants come from :func:`calibrate` (cached per machine) or,
uncalibrated, from :data:`DEFAULTS`. The per-record constant is Ray's transfer of a list of
records plus what a channel's code does to each (hash routing, packing, unpacking).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import networkx as nx

from hydropy.ir import Graph, Node
from hydropy.ir.ops import ENTRIES, KEYED_STATE
from hydropy.runtime.batch import route

from .profile import OperatorProfile, Profile


@dataclass(frozen=True)
class Constants:
    """Seconds per Ray round, per pickled byte and per record on a channel, per actor start."""

    round_s: float
    byte_s: float
    record_s: float
    actor_start_s: float
    source: str = "defaults (not calibrated: run hydropy explore --calibrate)"


DEFAULTS = Constants(round_s=1e-3, byte_s=2e-9, record_s=2e-6, actor_start_s=1.0)
CALIBRATION_FILE = "explore-calibration.json"


def cache_path() -> str:
    from hydropy.targets.local_kernels import cache_dir
    return os.path.join(cache_dir(), CALIBRATION_FILE)


def load_constants() -> Constants:
    """The calibrated constants of this machine, or :data:`DEFAULTS`."""
    try:
        with open(cache_path(), encoding="utf-8") as f:
            data = json.load(f)
        return Constants(**{k: data[k] for k in ("round_s", "byte_s", "record_s", "actor_start_s")},
                         source=f"calibrated {data.get('when', '')}")
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULTS


def calibrate(rounds: int = 200, payload: int = 1 << 22) -> Constants:
    """Measure the constants on a fresh local Ray (started and stopped here) and cache them."""
    import ray

    from hydropy.targets.ray import start_local_ray

    started = not ray.is_initialized()
    if started:
        start_local_ray()
    try:
        @ray.remote(num_cpus=0)
        class Echo:
            def call(self, x):
                return len(x) if isinstance(x, (bytes, list)) else 0

        t0 = time.perf_counter()
        actor = Echo.remote()
        ray.get(actor.call.remote(b""))
        actor_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(rounds):
            ray.get(actor.call.remote(b""))
        round_s = (time.perf_counter() - t0) / rounds
        blob = os.urandom(payload)
        t0 = time.perf_counter()
        for _ in range(10):
            ray.get(actor.call.remote(blob))
        byte_s = max((time.perf_counter() - t0) / 10 - round_s, 0.0) / payload
        records = [(f"key{i % 977}", i) for i in range(50_000)]
        t0 = time.perf_counter()
        for _ in range(5):
            ray.get(actor.call.remote(records))
        record_s = max((time.perf_counter() - t0) / 5 - round_s, 0.0) / len(records)
        record_s += channel_seconds(records) / len(records)
        ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
    path = cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"round_s": round_s, "byte_s": byte_s, "record_s": record_s,
                   "actor_start_s": actor_start, "when": when}, f)
    os.replace(tmp, path)
    return Constants(round_s, byte_s, record_s, actor_start, source=f"calibrated {when}")


def channel_seconds(records: list, repeats: int = 3) -> float:
    """What a channel does to ``records`` besides moving them, as the emitted stages do it:
    route them by hash of a key to two members, pack each part and unpack it."""
    from hydropy.runtime.batch import pack, unpack
    t0 = time.perf_counter()
    for _ in range(repeats):
        for part in route(records, "hash", 2, (0,)):
            unpack(pack(part))
    return (time.perf_counter() - t0) / repeats


@dataclass
class Estimate:
    """What the model predicts for one design point."""

    throughput: float                    # input records per second
    bottleneck: str                      # the stage whose member is slowest
    seconds: float                       # predicted run time on the profiled inputs
    hops: int                            # channels on the longest source-to-sink path
    tick_seconds: float                  # predicted time of one tick along that path
    actors: int                          # stage members in all
    memory: dict[str, int] = field(default_factory=dict)       # stage -> bytes per member
    stage_seconds: dict[str, float] = field(default_factory=dict)  # stage -> a member's time

    def to_json(self) -> dict:
        return asdict(self)


def operator_profile(profile: Profile, node: Node) -> OperatorProfile | None:
    """The profiled operator a design point's node does the work of: itself, or for a
    split fold's partial the fold it was split from."""
    found = profile.get(node.name)
    if found is None and node.name.endswith("_partial"):
        found = profile.get(node.name[:-len("_partial")])
    return found


def entry_share(graph: Graph, profile: Profile, entry: Node) -> float:
    """The share of ``entry``'s records the fullest member of its stage receives."""
    n = graph.members_of(entry.location)
    routing = entry.params.get("routing", "direct")
    if n == 1 or routing == "direct":
        return 1.0
    if routing == "broadcast":
        return 1.0
    if routing == "any":  # whole batches, one per tick, to one replica each
        ticks = max(profile.ticks, 1)
        return -(-ticks // n) / ticks
    if routing != "hash":
        return 1.0 / n
    sender = graph.node(entry.inputs[0]) if entry.kind == "network" else entry
    sample = getattr(operator_profile(profile, sender), "sample", None) or []
    if not sample:
        return 1.0 / n
    parts = route(sample, "hash", n, tuple(entry.params.get("key") or ()))
    return max(len(p) for p in parts) / len(sample)


def entry_records(profile: Profile, graph: Graph, entry: Node) -> int:
    sender = graph.node(entry.inputs[0]) if entry.kind == "network" else entry
    found = operator_profile(profile, sender)
    if found is None:
        return 0
    if sender.spec.family == "partial":  # one partial per tick and member
        return profile.ticks * graph.members_of(sender.location)
    return found.records_out


def estimate(graph: Graph, profile: Profile, constants: Constants, cpus: int) -> Estimate:
    """The model's prediction for the design point ``graph`` (see the module doc)."""
    stage_time, memory, work = {}, {}, 0.0
    for stage in graph.locations():
        nodes = [n for n in graph.nodes() if n.location == stage]
        n = graph.members_of(stage)
        entries = [x for x in nodes if x.kind in ENTRIES]
        weights = [(entry_records(profile, graph, e), entry_share(graph, profile, e)) for e in entries]
        total = sum(w for w, _ in weights)
        share = sum(w * s for w, s in weights) / total if total else 1.0 / n
        profiled = [p for p in (operator_profile(profile, x) for x in nodes if x.kind != "network")
                    if p is not None]
        compute = sum(p.seconds for p in profiled)
        cpu = sum(min(p.cpu_seconds, p.seconds) for p in profiled)
        channel = 0.0
        for x in graph.nodes():
            if x.kind != "network":
                continue
            if x.location == stage or graph.node(x.inputs[0]).location == stage:
                sender = operator_profile(profile, graph.node(x.inputs[0]))
                per_record = constants.record_s + constants.byte_s * (sender.bytes_per_record if sender else 0)
                copies = graph.members_of(x.location) if x.params.get("routing") == "broadcast" else 1
                channel += entry_records(profile, graph, x) * per_record * copies
        rounds = profile.ticks * constants.round_s * (1 + sum(1 for e in entries if e.kind == "network"))
        stage_time[stage] = (compute + channel) * share + rounds
        work += (cpu + channel) * max(share * n, 1.0) + rounds * n
        hashed = any(e.params.get("routing") == "hash" for e in entries)
        memory[stage] = int(sum((p.state_bytes * (share if hashed and x.kind in KEYED_STATE else 1.0))
                                for x in nodes for p in [operator_profile(profile, x)] if p is not None))
    bottleneck = max(stage_time, key=stage_time.get)
    seconds = max(stage_time[bottleneck], work / max(cpus, 1))
    hops, path_stages = longest_path(graph)
    return Estimate(
        throughput=profile.input_records / seconds if seconds > 0 else float("inf"),
        bottleneck=bottleneck, seconds=seconds, hops=hops,
        tick_seconds=sum(stage_time[s] for s in path_stages) / max(profile.ticks, 1),
        actors=sum(graph.members_of(s) for s in graph.locations()),
        memory=memory, stage_seconds=stage_time)


def longest_path(graph: Graph) -> tuple[int, list[str]]:
    """The most channels on one path from a source to a sink, and the stages along it."""
    dag = graph.tick_dag()
    best: dict[int, tuple[int, list[str]]] = {}
    for nid in nx.topological_sort(dag):
        node = graph.node(nid)
        preds = [best[p] for p in dag.predecessors(nid)]
        hops, stages = max(preds, key=lambda b: b[0]) if preds else (0, [])
        if node.kind == "network":
            hops += 1
        if not stages or stages[-1] != node.location:
            stages = stages + [node.location]
        best[nid] = (hops, stages)
    return max(best.values(), key=lambda b: b[0]) if best else (0, [])
