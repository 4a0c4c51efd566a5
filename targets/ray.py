"""The Ray target: runs a compiled directory as one Ray actor per stage member.

Data moves in rounds. In round r the driver hands each source stage the r-th slice of
its inputs (``batch_size`` records per input) and calls every stage member's ``tick``
once, in stage order, passing the object refs of what upstream members produced in the
same round: one Ray call per tick per member, each channel's batch travelling through
the object store from actor to actor, never through the driver. Actors run calls in
submission order, so channels are FIFO. At most ``max_inflight`` rounds are outstanding
(backpressure). After the inputs, rounds without input run while some stage holds cycle
records (as the local target ticks on; a snapshot therefore emits in the same ticks as
there); then every member's sinks are gathered and merged.
"""
from __future__ import annotations

import math
import os
import socket
import time
from typing import Any, Mapping

import networkx as nx
import yaml

from hydropy.errors import HydropyError, InputError, LoadError
from hydropy.runtime.batch import pack, route
from hydropy.runtime.columns import Columns
from hydropy.runtime.stage import merge_results

MAX_DRAIN_ROUNDS = 10_000


def load_manifest(compiled_dir: str) -> dict:
    path = os.path.join(compiled_dir, "deploy.yaml")
    if not os.path.isfile(path):
        raise LoadError(f"{compiled_dir} is not a compiled program (no deploy.yaml); "
                        f"make one with: hydropy compile PROGRAM --target ray -o {compiled_dir}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise LoadError(f"{path} is malformed: {exc}") from None
    if not isinstance(data, dict) or not {"flow", "stages", "channels", "sinks"} <= set(data):
        raise LoadError(f"{path} is not a hydropy deployment manifest")
    return data


def connect(address: str | None, working_dir: str | None = None) -> bool:
    """Make sure Ray is up; returns True when this call started it (so the caller stops it).

    With ``address``, connects to that cluster and ships ``working_dir`` (the compiled
    directory) as the job's working directory, so members on other machines can load it.
    """
    import ray
    if ray.is_initialized():
        return False
    if not address:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        return True
    _check_reachable(address)
    runtime_env = {"working_dir": working_dir} if working_dir else None
    try:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                 logging_level="ERROR")
    except ConnectionError as exc:
        raise LoadError(f"cannot connect to the Ray cluster at {address}: {exc} (a cluster with "
                        f"token authentication needs RAY_AUTH_MODE=token and its token in "
                        f"RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
    return True


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast (not hang) when ``host:port`` accepts no connection."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise LoadError(f"Ray address {address!r} is not host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise LoadError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def run_compiled(compiled_dir: str, inputs: Mapping[str, list] | None = None, *,
                 address: str | None = None, batch_size: int = 10_000,
                 max_inflight: int = 4, stats: dict | None = None) -> dict[str, list]:
    """Run the compiled program in ``compiled_dir`` on Ray; return each sink's contents.

    ``stats``, when given, receives ``compile_seconds`` (the slowest member's kernel warm-up,
    done when its actor starts) and ``run_seconds`` (from the actors being ready to results).
    """
    compiled_dir = os.path.abspath(compiled_dir)
    manifest = load_manifest(compiled_dir)
    from .compile import check_compiled
    check_compiled(compiled_dir, manifest)
    inputs = {k: v if isinstance(v, Columns) else list(v) for k, v in (inputs or {}).items()}
    sources = {src["name"]: st["name"] for st in manifest["stages"] for src in st["sources"]}
    unknown = sorted(set(inputs) - set(sources))
    if unknown:
        raise InputError(f"unknown input '{unknown[0]}'; the program's inputs are: "
                         f"{', '.join(sorted(sources)) or 'none'}")
    started = connect(address, compiled_dir)
    import ray
    hosts: list = []
    try:
        driver = _Driver(ray, compiled_dir, manifest)
        hosts = [h for members in driver.hosts.values() for h in members]
        compile_seconds = max(ray.get([h.compile_seconds.remote() for h in hosts]))
        start = time.perf_counter()
        results = driver.run(inputs, sources, batch_size, max_inflight)
        if stats is not None:
            stats.update(compile_seconds=compile_seconds, run_seconds=time.perf_counter() - start)
        return results
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, HydropyError):
            raise type(cause)(cause.message, cause.loc) from None
        raise
    finally:
        for h in hosts:
            ray.kill(h)
        if started:
            ray.shutdown()


def run_flow_on_ray(flow, inputs=None, *, plan: str | None = None, **options) -> dict[str, list]:
    """Compile ``flow`` into a temporary directory, run it on Ray, remove the directory."""
    import shutil
    import tempfile

    from .compile import compile_flow
    tmp = tempfile.mkdtemp(prefix="hydropy-")
    try:
        out = os.path.join(tmp, "compiled")
        compile_flow(flow, out, plan=plan)
        return run_compiled(out, inputs, **options)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Driver:
    def __init__(self, ray, compiled_dir: str, manifest: dict):
        from hydropy.runtime.host import StageHost
        self.ray = ray
        self.stages = {st["name"]: st for st in manifest["stages"]}
        self.channels = manifest["channels"]
        self.sinks = list(manifest["sinks"])
        self.source_routes = {src["name"]: (src["routing"], tuple(src["key"]) if src["key"] else None)
                              for st in manifest["stages"] for src in st["sources"]}
        order = nx.DiGraph()
        order.add_nodes_from(self.stages)
        order.add_edges_from((c["from"], c["to"]) for c in self.channels)
        self.order = list(nx.lexicographical_topological_sort(order))
        actor = ray.remote(StageHost).options(num_cpus=0)
        self.hosts = {}
        for name, st in self.stages.items():
            receivers = {c["name"]: self.stages[c["to"]]["members"] for c in self.channels
                         if c["from"] == name}
            self.hosts[name] = [actor.remote(compiled_dir, st["file"], st["class"], m, st["members"],
                                             receivers) for m in range(st["members"])]
        # outgoing slots of each stage, in the order StageHost.tick returns them
        self.slots = {name: [(c["name"], j) for c in sorted(self.channels, key=lambda c: c["name"])
                             if c["from"] == name for j in range(self.stages[c["to"]]["members"])]
                      for name in self.stages}

    def round(self, external: dict[str, dict[str, list]]) -> list:
        """Submit one tick of every member; return the status refs."""
        produced: dict[tuple[str, int, str, int], Any] = {}   # (stage, member, channel, to member)
        statuses = []
        for name in self.order:
            incoming = [c for c in self.channels if c["to"] == name]
            for m, host in enumerate(self.hosts[name]):
                names, refs = [], []
                for c in incoming:
                    for i in range(self.stages[c["from"]]["members"]):
                        names.append(c["name"])
                        refs.append(produced[(c["from"], i, c["name"], m)])
                ext = {src: parts[m] for src, parts in external.get(name, {}).items()}
                slots = self.slots[name]
                result = host.tick.options(num_returns=len(slots) + 1).remote(names, ext, *refs)
                result = result if slots else [result]
                for (channel, j), ref in zip(slots, result[:-1]):
                    produced[(name, m, channel, j)] = ref
                statuses.append(result[-1])
        return statuses

    def run(self, inputs: dict[str, list], sources: dict[str, str], batch_size: int,
            max_inflight: int) -> dict[str, list]:
        rounds = max([math.ceil(len(v) / batch_size) for v in inputs.values()] + [1])
        inflight: list[list] = []
        for r in range(rounds):
            external: dict[str, dict[str, list[list]]] = {}
            for src, records in inputs.items():
                part = records[r * batch_size:(r + 1) * batch_size]
                if part:
                    stage = sources[src]
                    routing, key = self.source_routes[src]
                    external.setdefault(stage, {})[src] = [
                        pack(p) for p in route(part, routing, len(self.hosts[stage]), key, r)]
            inflight.append(self.round(external))
            if len(inflight) >= max_inflight:
                self.ray.get(inflight.pop(0))
        statuses = []
        for pending in inflight:
            statuses = self.ray.get(pending)
        # a round consumes what it sends (stages run in pipeline order), so only records
        # waiting in a cycle call for another round, as ticks of the local target
        for _ in range(MAX_DRAIN_ROUNDS):
            if all(quiet for _, quiet in statuses):
                break
            statuses = self.ray.get(self.round({}))
        else:
            raise HydropyError(f"the program did not settle after {MAX_DRAIN_ROUNDS} rounds")
        parts = self.ray.get([h.results.remote() for hs in self.hosts.values() for h in hs])
        merged = merge_results(parts)
        return {sink: merged.get(sink, []) for sink in self.sinks}
