"""The cost model: a design point's throughput, bottleneck, latency and memory.

Every stage member runs concurrently with the others (stages pipeline, members of a stage
split its input), so the run takes as long as its slowest member (or the driver), and no
less than all the CPU work divided by the cores (time spent waiting, e.g. sleeping on a log
write, takes a member's time but no CPU).

Where the design point's stages can be emitted, a member's time comes from running them
(:mod:`.replay`, :func:`replay_estimate`): its measured ``run_tick`` seconds and the pickling
of what it sends and receives, scaled from the sample to the whole input, plus per Ray call
(several rounds each, as the driver sends them: :func:`ray_calls`) what a queued call costs
it; the driver's from its routing and pickling of the sources' parts plus per call and
member what submitting and collecting a call costs; plus what a run costs besides (starting,
gathering the sinks). These run costs come from :func:`calibrate` (a real ``run_compiled``
of a program doing nothing, over few and many calls of one round, on one member and on
four), cached per machine, or uncalibrated from :data:`DEFAULTS`.

Otherwise (:func:`profile_estimate`) a member's time is the profiled seconds of its stage's
operators times the share of the stage's input it receives, plus what its channels cost (per
record and per pickled byte, paid by sender and receiver), plus one Ray round per tick and
input channel. The share comes from the routing of each entry of the stage: ``1/n`` dealt
round robin, whole ticks to any one replica (``ceil(ticks/n)/ticks``), the whole for a
broadcast, and for hash routing the fullest member's share of the sender's sampled records
under :func:`hydropy.runtime.batch.route`, so skewed keys predict less.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace

import networkx as nx

from hydropy.ir import Graph, Node
from hydropy.ir.ops import ENTRIES, KEYED_STATE
from hydropy.runtime.batch import route
from hydropy.runtime.checkpoint import AUTO_RATIO

from .profile import OperatorProfile, Profile
from .replay import Replay


@dataclass(frozen=True)
class Constants:
    """Seconds per Ray round trip, per pickled byte and per record on a channel (the profile
    model's), per actor start; per call of a member's ``ticks`` when calls queue up: the
    driver's time to submit one (``submit_s``), the member's time to take one (``call_s``),
    the CPU that takes in all (``call_cpu_s``), and a queued call's time when one of its
    arguments or results goes through the object store (``large_call_s``: over
    :data:`INLINE_BYTES`) and the CPU that takes in all (``large_call_cpu_s``: Ray's object
    store and raylet included): each further such object costs the difference again;
    per run (``run_s``) and the driver's per call besides submitting (``driver_round_s``,
    named when a call held one round); a member's checkpoint written and synced to disk
    (``checkpoint_s``, in the system's temporary directory, where runs keep them); and the
    machine's ``cores``."""

    round_s: float
    byte_s: float
    record_s: float
    actor_start_s: float
    submit_s: float = 3e-4
    call_s: float = 5e-4
    call_cpu_s: float = 6e-4
    cores: int = 0
    run_s: float = 0.05
    driver_round_s: float = 5e-4
    large_call_s: float = 2.5e-3
    large_call_cpu_s: float = 4e-3
    checkpoint_s: float = 3e-3
    source: str = "defaults (not calibrated: run hydropy explore --calibrate)"


DEFAULTS = Constants(round_s=1e-3, byte_s=2e-9, record_s=2e-6, actor_start_s=1.0,
                     cores=os.cpu_count() or 1)
CALIBRATION_FILE = "explore-calibration.json"
KEYS = ("round_s", "byte_s", "record_s", "actor_start_s", "submit_s", "call_s", "call_cpu_s", "cores",
        "run_s", "driver_round_s", "large_call_s", "large_call_cpu_s", "checkpoint_s")
#: an argument or result of a Ray call above this many bytes goes through the object store
#: (Ray's ``max_direct_call_object_size``), which costs ``large_call_s - call_s`` more
INLINE_BYTES = 100 * 1024


def cache_path() -> str:
    from hydropy.targets.local_kernels import cache_dir
    return os.path.join(cache_dir(), CALIBRATION_FILE)


def load_constants() -> Constants:
    """The calibrated constants of this machine, or :data:`DEFAULTS` (saying why where a
    cache exists but lacks constants this version measures)."""
    try:
        with open(cache_path(), encoding="utf-8") as f:
            data = json.load(f)
        missing = [k for k in KEYS if k not in data]
        if missing:
            return replace(DEFAULTS, source=f"defaults (the calibration of {data.get('when', 'an older hydropy')} "
                                            f"lacks {', '.join(missing)}: run hydropy explore --calibrate)")
        return Constants(**{k: data[k] for k in KEYS}, source=f"calibrated {data.get('when', '')}")
    except (OSError, ValueError, TypeError, AttributeError):
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

            def ticks(self, rounds, acked, names, layout, externals, *inputs):
                """As StageHost.ticks of one round: a few arguments in, a batch and a status out."""
                return [[]], [(0, True, (0, 0, 0.0), [], 0)]

            def cpu(self):
                return time.process_time()

        t0 = time.perf_counter()
        actor = Echo.remote()
        ray.get(actor.call.remote(b""))
        actor_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(rounds):
            ray.get(actor.call.remote(b""))
        round_s = (time.perf_counter() - t0) / rounds
        _, call_s, call_cpu_s = queued_calls(ray, actor, 5 * rounds)
        large_call_s, _, large_call_cpu_s = queued_calls(ray, actor, rounds, payload=os.urandom(2 * INLINE_BYTES))
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
        run_s, driver_round_s, submit_s = run_overheads()
    finally:
        if started:
            ray.shutdown()
    found = {"round_s": round_s, "byte_s": byte_s, "record_s": record_s, "actor_start_s": actor_start,
             "submit_s": submit_s, "call_s": call_s, "call_cpu_s": call_cpu_s,
             "cores": os.cpu_count() or 1, "run_s": run_s, "driver_round_s": driver_round_s,
             "large_call_s": large_call_s, "large_call_cpu_s": large_call_cpu_s,
             "checkpoint_s": checkpoint_seconds()}
    path = cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({**found, "when": when}, f)
    os.replace(tmp, path)
    return Constants(**found, source=f"calibrated {when}")


def run_overheads(rounds: int = 150, members: int = 4) -> tuple[float, float, float]:
    """What a Ray run costs besides its stages' work, measured by running
    :mod:`.calibration_flow` (one record per tick, one round per call) with
    :func:`hydropy.targets.ray.run_compiled` over few and many calls, on one member and on
    ``members``: seconds per run (starting the rounds, gathering the sinks), of the driver per
    call, and of the driver per member and call (submitting it, collecting its status)."""
    import importlib
    import shutil
    import tempfile

    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    program = importlib.import_module("hydropy.explore.calibration_flow")
    tmp = tempfile.mkdtemp(prefix="hydropy-calibrate-")
    try:
        def seconds(n: int, ticks: int) -> float:
            out = os.path.join(tmp, f"x{n}")
            if not os.path.isdir(out):
                compile_flow(program.flow, out, plan=[{"partition": {"stage": "main", "n": n}}] if n > 1 else None)
            best = float("inf")
            for _ in range(2):
                stats: dict = {}
                run_compiled(out, {"records": list(range(ticks))}, tick_size=1, stats=stats,
                             program=program, allow_oversubscribe=True, progress=False,
                             rounds_per_call=1)
                best = min(best, stats["run_seconds"])
            return best

        few, many, wide = seconds(1, 10), seconds(1, rounds), seconds(members, rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_round = max(many - few, 0.0) / (rounds - 10)
    per_member = max(wide - many, 0.0) / (rounds * (members - 1))
    return max(few - 10 * per_round, 0.0), max(per_round - per_member, 0.0), per_member


def queued_calls(ray, actor, calls: int, payload: bytes = b"x") -> tuple[float, float, float]:
    """Per call of a tick-like method submitted without waiting (as the driver keeps rounds
    in flight), with ``payload`` among its arguments: the seconds per call until all are done
    (the driver's per call, submitting and collecting, when it is the slower), the actor's CPU
    per call (a member's share), and the CPU per call in all: the machine's
    (:func:`machine_cpu_seconds`: Ray's raylet and object store too; 3.8-4.2 ms per call
    through the object store here, against 2.6-2.9 ms of the driver and the actor), or where
    the system does not say, the driver's and the actor's."""
    ray.get(actor.ticks.options(num_returns=2).remote([0], 0, [], [[]], [{}])[1])
    actor_cpu = ray.get(actor.cpu.remote())
    t0, c0, m0 = time.perf_counter(), time.process_time(), machine_cpu_seconds()
    refs = [actor.ticks.options(num_returns=2).remote([r], 0, ["c"], [[(0, 0)]], [{"s": [1, 2]}], [payload])[1]
            for r in range(calls)]
    for ref in refs:
        ray.get(ref)
    elapsed, driver_cpu, m1 = time.perf_counter() - t0, time.process_time() - c0, machine_cpu_seconds()
    actor_cpu = ray.get(actor.cpu.remote()) - actor_cpu
    machine = m1 - m0 if m0 is not None and m1 is not None else 0.0
    return elapsed / calls, actor_cpu / calls, max(machine, driver_cpu + actor_cpu) / calls


def machine_cpu_seconds() -> float | None:
    """CPU seconds every process of the machine has spent since it started (Linux's
    /proc/stat: all but idle and I/O wait), or None where the system does not say."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def checkpoint_seconds(saves: int = 10) -> float:
    """The median time of a member's first checkpoint, a small one
    (:class:`~hydropy.runtime.checkpoint.MemberCheckpoints`: its directory made, a file synced
    to disk, renamed) in the system's temporary directory, where a run keeps them by default."""
    import shutil
    import statistics
    import tempfile

    from hydropy.runtime.checkpoint import MemberCheckpoints
    tmp = tempfile.mkdtemp(prefix="hydropy-calibrate-")
    try:
        times = []
        for member in range(saves):
            t0 = time.perf_counter()
            MemberCheckpoints(tmp, "stage", member).save(1, os.urandom(4096))
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
    #: what the stage times rest on: "replay" (the emitted stages run, :mod:`.replay`) or
    #: "profile" (the single-node profile, where the program cannot be emitted)
    cost_source: str = "profile"

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


def estimate(graph: Graph, profile: Profile, constants: Constants, cpus: int,
             replayed: Replay | None = None) -> Estimate:
    """The model's prediction for the design point ``graph``: from the replay of its emitted
    stages when given (:func:`replay_estimate`), else from the profile alone."""
    if replayed is not None:
        return replay_estimate(graph, profile, constants, cpus, replayed)
    return profile_estimate(graph, profile, constants, cpus)


def stage_records(graph: Graph, profile: Profile) -> dict[str, float]:
    """stage -> records that enter its members over the whole inputs (a broadcast's records
    once per member), from the single-node profile: what :func:`~.replay.replay` scales by."""
    out: dict[str, float] = {}
    for stage in graph.locations():
        n = graph.members_of(stage)
        out[stage] = sum(entry_records(profile, graph, e) *
                         (n if e.params.get("routing") == "broadcast" else 1)
                         for e in graph.nodes() if e.location == stage and e.kind in ENTRIES)
    return out


def replay_estimate(graph: Graph, profile: Profile, constants: Constants, cpus: int,
                    replayed: Replay) -> Estimate:
    """The prediction from the replay of the design point's emitted stages.

    A member's time over the whole inputs is its replayed ``run_tick`` time, pickling of what
    it sends and unpickling of what it receives, scaled from the sample to the whole input,
    plus what each of its queued calls costs (:func:`ray_calls`, :func:`call_seconds`: more
    for each of the call's objects that goes through the object store). The driver's is
    its routing and pickling of the sources' parts (scaled) plus one submitted call per member
    and call, and putting each object of sources' parts that goes through the object store.
    The run takes as long as the slowest of these, and no less than all their CPU (each call's
    as the whole machine spends it, :func:`call_cpu_seconds`, an object's counted once, where
    it is received) over the cores that run them (the machine's, at most ``cpus``), plus
    filling the pipeline (one call of each stage along the longest path but the slowest) and
    gathering the sinks. Each member also checkpoints as runs do by default
    (:class:`~hydropy.runtime.checkpoint.Cadence`): once at its first round (``checkpoint_s``),
    then at most 1/AUTO_RATIO of its ticks' time."""
    calls = ray_calls(profile, max(replayed.rounds - replayed.sample_ticks, 0))
    actors = sum(graph.members_of(s) for s in graph.locations())
    stage_time, cpu, puts = {}, 0.0, 0
    for stage, members in replayed.members.items():
        scale = replayed.scale.get(stage, 1.0)
        times = []
        for m in members:
            moved = m.send_seconds + m.receive_seconds + m.bytes_out * constants.byte_s
            large = large_objects(m.objects, scale, calls)
            checkpoints = constants.checkpoint_s + scale * m.seconds / AUTO_RATIO
            times.append(scale * (m.seconds + moved) + calls * call_seconds(constants, len(large)) + checkpoints)
            received = [k for k in large if not k.startswith("out ")]
            cpu += (scale * (min(m.cpu_seconds, m.seconds) * (1 + 1 / AUTO_RATIO) + moved)
                    + calls * call_cpu_seconds(constants, len(received)))
            puts += "sources" in large
        stage_time[stage] = max(times)
    driver = (replayed.driver_seconds * replayed.driver_scale
              + calls * (constants.driver_round_s + actors * constants.submit_s
                         + puts * (constants.large_call_s - constants.call_s)))
    # (submitting calls and putting the sources' parts are in each call's CPU)
    cpu += replayed.driver_seconds * replayed.driver_scale + calls * constants.driver_round_s
    cores = max(1, min(cpus, constants.cores or cpus))
    slowest = max(stage_time, key=stage_time.get)
    busiest = max(stage_time[slowest], driver)
    hops, path_stages = longest_path(graph)
    call_time = [stage_time[s] / max(calls, 1) for s in path_stages]
    fill = sum(call_time) - max(call_time, default=0.0)
    seconds = max(busiest, cpu / cores) + fill + replayed.results_seconds + constants.run_s
    return Estimate(
        throughput=profile.input_records / seconds if seconds > 0 else float("inf"),
        bottleneck=slowest if stage_time[slowest] >= driver else "driver", seconds=seconds, hops=hops,
        tick_seconds=sum(stage_time[s] for s in path_stages) / max(profile.ticks, 1)
        + constants.round_s * (hops + 1),
        actors=actors, memory=profile_estimate(graph, profile, constants, cpus).memory,
        stage_seconds=stage_time, cost_source="replay")


def large_objects(objects: dict[str, int], scale: float, calls: int) -> list[str]:
    """The objects of a member's calls (:attr:`.replay.MemberCost.objects`: bytes on the
    sample) that go through the object store: more than :data:`INLINE_BYTES` in a call of the
    whole run."""
    return [key for key, size in objects.items() if scale * size / max(calls, 1) > INLINE_BYTES]


def call_seconds(constants: Constants, large: int) -> float:
    """A member's time per queued call of which ``large`` arguments or results go through
    the object store."""
    return constants.call_s + large * (constants.large_call_s - constants.call_s)


def call_cpu_seconds(constants: Constants, large: int) -> float:
    """The machine's CPU (the driver's, the member's, Ray's) per queued call of which
    ``large`` arguments or results go through the object store."""
    return constants.call_cpu_s + large * (constants.large_call_cpu_s - constants.call_cpu_s)


def ray_calls(profile: Profile, drain_rounds: int = 0) -> int:
    """The Ray calls each member takes in a run on the profiled inputs: their ticks in calls of
    :func:`~hydropy.targets.recovery.rounds_per_call` rounds (as the driver sends them), then
    one per round while cycles drain."""
    from hydropy.targets.recovery import rounds_per_call
    ticks = max(profile.ticks, 1)
    return -(-ticks // rounds_per_call(profile.input_records, ticks)) + drain_rounds


def profile_estimate(graph: Graph, profile: Profile, constants: Constants, cpus: int) -> Estimate:
    """The model's prediction for the design point ``graph`` from the single-node profile
    alone (see the module doc)."""
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
        rounds = ray_calls(profile) * constants.round_s * (1 + sum(1 for e in entries if e.kind == "network"))
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
