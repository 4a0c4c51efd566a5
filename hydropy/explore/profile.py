"""Profiling the single-node program on the user's inputs, operator by operator.

The program runs on the local target (the oracle, kernels included) with each operator's
``step`` timed in place, so what is measured is what the program does: records in and out
per operator (equal to the records its inputs produce and it returns), seconds spent in it,
the pickled size of a sample of the records it emits (what a channel cut after it would
carry), the pickled size of its state at the end, and, for each operator keeping keyed state,
how the sample's keys spread over N members under the routing function partitions use
(:func:`hydropy.runtime.batch.route`, hash of the key), so skew shows.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from hydropy.ir import Graph
from hydropy.ir.ops import KEYED_STATE
from hydropy.runtime.batch import route
from hydropy.runtime.columns import Columns
from hydropy.targets.local import DEFAULT_TICK_SIZE, LocalRunner, columnar_dtypes, split_ticks

#: records per operator kept to measure record sizes and key spread
SAMPLE = 2000


@dataclass
class OperatorProfile:
    """What one operator did in the single-node run."""

    name: str
    kind: str
    stage: str
    records_in: int = 0
    records_out: int = 0
    seconds: float = 0.0              # wall-clock time in its step (sleeps and waits included)
    cpu_seconds: float = 0.0          # of which this process used the CPU
    bytes_per_record: float = 0.0     # pickled size of an emitted record (a channel's load)
    state_bytes: int = 0              # pickled size of its state at the end
    #: members -> share of the sampled keys on the fullest member (1/n when perfectly even)
    key_spread: dict[int, float] = field(default_factory=dict)
    sample: list = field(default_factory=list, repr=False)   # its first emitted records
    #: the operator whose Numba kernel runs this one too (its counts and time are that kernel's)
    fused_into: str | None = None


@dataclass
class Profile:
    """Per operator (by name), plus the run's totals."""

    operators: dict[str, OperatorProfile]
    input_records: int
    ticks: int
    seconds: float

    def get(self, name: str) -> OperatorProfile | None:
        return self.operators.get(name)


def _length(records: Any) -> int:
    try:
        return len(records)
    except TypeError:
        return 0


def _head(records: Any, n: int) -> list:
    if isinstance(records, Columns):
        return records.take(slice(0, n)).tolist()
    return list(records[:n]) if isinstance(records, list) else []


def _pickled(value: Any) -> int:
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - state holding functions or handles: not measurable
        return 0


def state_of(op: Any) -> dict:
    """An operator's state: its attributes other than functions and labels."""
    return {k: v for k, v in vars(op).items()
            if k not in ("where", "loc") and not callable(v)}


def key_spread(keys: Sequence[Any], members: Sequence[int]) -> dict[int, float]:
    """members -> share of ``keys`` that the fullest member receives under hash routing."""
    out = {}
    for n in members:
        if not keys:
            out[n] = 1.0 / n
            continue
        parts = route([(k,) for k in keys], "hash", n, (0,))
        out[n] = round(max(len(p) for p in parts) / len(keys), 4)
    return out


def profile(graph: Graph, inputs: Mapping[str, Any], *, tick_size: int = DEFAULT_TICK_SIZE,
            members: Sequence[int] = (2, 3, 4)) -> Profile:
    """Run ``graph`` (single-node) on ``inputs`` once, measuring every operator (module doc)."""
    batches = split_ticks({k: v if isinstance(v, Columns) else list(v) for k, v in inputs.items()},
                          tick_size)
    runner = LocalRunner(graph, columnar_dtypes(batches), loops=False)  # each operator timed
    stats: dict[int, OperatorProfile] = {}
    samples: dict[int, list] = {}
    inputs_seen: dict[int, list] = {}
    for node in graph.nodes():
        stats[node.id] = OperatorProfile(node.name, node.kind, node.location)
        samples[node.id], inputs_seen[node.id] = [], []
    for nid, op in runner.ops.items():
        op.step = _timed(op.step, stats[nid], samples[nid], inputs_seen[nid])
    if runner.feeds:  # some operators run as Numba kernels, a chain of them in one
        from hydropy.passes.kernel_plan import plan as kernel_plan
        for head, unit in kernel_plan(graph, columnar_dtypes(batches)).units.items():
            for node in unit.nodes:
                if node.id != head:
                    stats[node.id].fused_into = graph.node(head).name
    start = time.perf_counter()
    for batch in batches:
        for node in runner.sources.values():
            records = batch.get(node.params["name"], ())
            stats[node.id].records_out += _length(records)
            if len(samples[node.id]) < SAMPLE:
                samples[node.id].extend(_head(list(records) if not isinstance(records, Columns)
                                              else records, SAMPLE - len(samples[node.id])))
        runner.tick(batch)
    runner.drain()
    total = time.perf_counter() - start
    for node in graph.nodes():
        s = stats[node.id]
        if node.kind == "source":
            s.records_in = s.records_out
        elif node.kind == "sink":
            s.records_in = sum(stats[i].records_out for i in node.inputs)
        s.sample = samples[node.id]
        if samples[node.id]:
            s.bytes_per_record = sum(_pickled(r) for r in samples[node.id]) / len(samples[node.id])
        op = runner.ops.get(node.id)
        if op is not None and node.spec.stateful:
            s.state_bytes = _pickled(state_of(op))
        if node.kind in KEYED_STATE:
            keys = [r[0] for r in inputs_seen[node.id] if isinstance(r, (tuple, list)) and r]
            s.key_spread = key_spread(keys, members)
    return Profile({stats[n.id].name: stats[n.id] for n in graph.nodes()},
                   sum(_length(v) for v in inputs.values()), len(batches), total)


def _timed(step, stats: OperatorProfile, sample: list, seen: list):
    """``step`` counting records in (the batches it is given, not a table it reads) and out,
    the time spent, and a sample of its first input and of its output."""
    def timed(*batches):
        counted = [b for b in batches if isinstance(b, (list, Columns))]
        stats.records_in += sum(_length(b) for b in counted)
        if counted and len(seen) < SAMPLE:
            seen.extend(_head(counted[0], SAMPLE - len(seen)))
        t0, c0 = time.perf_counter(), time.process_time()
        out = step(*batches)
        stats.seconds += time.perf_counter() - t0
        stats.cpu_seconds += time.process_time() - c0
        stats.records_out += _length(out)
        if len(sample) < SAMPLE:
            sample.extend(_head(out, SAMPLE - len(sample)))
        return out
    return timed
