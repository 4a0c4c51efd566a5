"""The local target: an in-process interpreter of the IR, the oracle for every other target.

Semantics (what every design point must reproduce):

* **Tick.** A run is a sequence of ticks. In a tick, each source emits the batch of records
  fed to it for that tick (a ``source_iter`` emits its values in the first tick), and every
  operator runs once, in topological order, on the records its inputs produced in this tick.
  After the inputs are exhausted, ticks continue while a ``cycle`` holds records.
* **Ticks of whole inputs.** A run given whole inputs (``flow.run(inputs)``, an inputs file)
  cuts them with :func:`split_ticks`: tick t holds records ``[t*N, (t+1)*N)`` of every input,
  N the tick size (``tick_size=``, ``--tick-size``, default :data:`DEFAULT_TICK_SIZE`). Every
  target cuts the same way (the Ray driver runs one round per such tick; the checker's
  single-node baseline uses the same ticks), so a non-monotone program gives the same sinks
  on every target for the same tick size. Ticks can also be given one by one
  (``flow.run(ticks=[...])``, the ``ticks:`` form of an inputs file, :class:`Ticks`).
* **Persistence.** Stateless operators (map, filter, flat_map, filter_map, inspect, union,
  forward, and ``fused`` chains of them) keep nothing; ``map`` of a keyed collection keeps
  ``fn`` of each key's latest value. ``join`` and ``cross`` remember both sides forever and emit each
  matching pair exactly once, in the tick its second member arrives. ``unique`` remembers
  every record. Folds (``fold``, ``reduce``, ``count``, keyed and lattice variants)
  accumulate forever; a fold's new value is visible downstream in the tick it changes.
* **Point-in-time reads.** ``anti_join`` decides each ``(k, x)`` in its arrival tick against
  the keys seen so far, this tick's included. ``snapshot`` emits the current value each tick;
  ``lookup`` reads the table after this tick's updates. These are non-monotone: their output
  can depend on how inputs are split into ticks and ordered.
* **Cycles.** Records entering a ``cycle`` in tick t leave it in tick t+1.
* **Sinks.** A stream sink shows every record it received, in arrival order. A singleton
  sink shows ``[final value]`` (``[]`` if it never had one, e.g. ``reduce`` of nothing). A
  keyed sink shows the final ``(key, value)`` pairs, sorted by key where keys are sortable.

A program built only from monotone operators (see ``hydropy.ir.ops``) and folds read only
by sinks shows the same sinks (as multisets) whatever the order and tick split of its
inputs; the Hypothesis tests check this.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

from hydropy.errors import InputError, ProgramError
from hydropy.ir import KEYED, SINGLETON, STREAM, Graph, Node, verify
from hydropy.ir.ops import READS, runtime_class
from hydropy.runtime import ops
from hydropy.runtime.columns import Columns
from hydropy.runtime.ops import UNSET, sorted_items

from .loops import compile_loop, find_regions

MAX_TICKS = 10_000
#: records per input in one tick when a run is given whole inputs (``--tick-size``)
DEFAULT_TICK_SIZE = 10_000


class Ticks(list):
    """Inputs given tick by tick (the ``ticks:`` form of an inputs file): a list of batches,
    input name -> records, one per tick, used as they are on every target."""


def whole_inputs(inputs: Mapping[str, Any]) -> dict[str, list]:
    """Each input's records in order: :class:`Ticks` concatenated, other inputs as lists."""
    if not isinstance(inputs, Ticks):
        return {k: v if isinstance(v, Columns) else list(v) for k, v in inputs.items()}
    whole: dict[str, list] = {}
    for batch in inputs:
        for name, records in batch.items():
            whole.setdefault(name, []).extend(records)
    return whole


def split_ticks(inputs: Mapping[str, Any], tick_size: int = DEFAULT_TICK_SIZE) -> list[dict[str, Any]]:
    """The ticks a run of whole ``inputs`` is made of, on every target: tick t holds records
    ``[t*tick_size, (t+1)*tick_size)`` of each input (an input that has ended is absent);
    no input at all is one empty tick; inputs given as :class:`Ticks` are those ticks. This is
    part of the semantics: the local target, the simulator and the Ray driver all cut inputs
    here."""
    if isinstance(inputs, Ticks):
        return [dict(batch) for batch in inputs] or [{}]
    if not isinstance(tick_size, int) or isinstance(tick_size, bool) or tick_size < 1:
        raise InputError(f"the tick size must be a positive number of records, got {tick_size!r}")
    rounds = max([-(-len(v) // tick_size) for v in inputs.values()] + [1])
    return [{name: records[t * tick_size:(t + 1) * tick_size] for name, records in inputs.items()
             if t * tick_size < len(records)} for t in range(rounds)]


class LocalRunner:
    """Holds the state of one running program; ``tick(batch)`` advances it by one tick.

    ``dtypes`` (input name -> element type) adds to the types the sources declare; where
    types are known, operators run as Numba kernels (:mod:`hydropy.passes.kernel_plan`).
    Chains of Python operators run as one generated loop each; ``loops=False`` steps every
    operator on its own (same sinks; the explorer's profile times each operator so).
    """

    def __init__(self, graph: Graph, dtypes: Mapping[str, str] | None = None, *,
                 loops: bool = True):
        self.graph = verify(graph)
        self.order = graph.topo_order()
        self.sources = {n.params["name"]: n for n in self.order if n.kind == "source"}
        self.ops, self.feeds, absorbed = {}, {}, set()
        if dtypes or any(n.coll.dtype for n in self.sources.values()):
            # numba: imported only for programs with numeric types (start-up time)
            from hydropy.passes.kernel_plan import plan as kernel_plan
            from hydropy.targets.local_kernels import load_local_kernel, make_kernel_op
            plan = kernel_plan(graph, dtypes)
            absorbed = plan.absorbed
            for nid, unit in plan.units.items():
                node = graph.node(nid)
                self.ops[nid] = make_kernel_op(unit, load_local_kernel(unit), where=node.where(),
                                               loc=node.loc)
                self.feeds[nid] = unit.nodes[0].inputs
        self.order = [n for n in self.order if n.id not in absorbed]
        python = [n for n in self.order if n.id not in self.ops]
        for n in python:
            if n.spec.runtime:
                self.ops[n.id] = make_op(n)
        # chains of per-record Python operators: one generated loop each (targets/loops.py)
        self.loops: dict[int, tuple] = {}  # root id -> (Loop, ids of the members it returns)
        self.in_loop: set[int] = set()     # members run by their root's loop
        for region in find_regions(graph, python) if loops else ():
            loop = compile_loop(graph, region, [self.ops[m.id] for m in region.nodes])
            self.loops[region.root.id] = (loop, [m.id for m in region.collected])
            self.in_loop.update(m.id for m in region.nodes[1:])
        self.pending: dict[int, list] = defaultdict(list)  # cycle id -> records for next tick
        self.streams: dict[str, list] = {n.params["name"]: [] for n in self.order if n.kind == "sink"}  # batches
        self.ticks = 0

    def tick(self, batch: Mapping[str, Iterable[Any]] | None = None) -> None:
        batch = dict(batch or {})
        unknown = sorted(set(batch) - set(self.sources))
        if unknown:
            known = ", ".join(sorted(self.sources)) or "none"
            raise InputError(f"unknown input '{unknown[0]}'; the program's inputs are: {known}")
        out: dict[int, list] = {}
        carried, self.pending = self.pending, defaultdict(list)
        for node in self.order:
            if node.id in self.in_loop:
                continue
            if node.kind == "cycle" or (node.kind == "sink" and node.inputs[0] not in out):
                ins = []  # (a fold run by a loop leaves no records for its sink: it reads the value)
            else:
                ins = [out[i] for i in self.feeds.get(node.id, node.inputs)]
            if node.kind == "source":
                records = batch.get(node.params["name"], ())
                out[node.id] = records if isinstance(records, Columns) else list(records)
            elif node.kind == "source_iter":
                out[node.id] = list(node.params["values"]) if self.ticks == 0 else []
            elif node.kind == "cycle":
                out[node.id] = carried.get(node.id, [])
            elif node.kind == "sink":
                if self.graph.node(node.inputs[0]).coll.kind == STREAM:
                    self.streams[node.params["name"]].append(ins[0])
            elif node.id in self.loops:
                loop, collected = self.loops[node.id]
                out.update(zip(collected, loop.step(*ins)))
            elif node.kind in READS:  # read the state of the upstream fold
                out[node.id] = self.ops[node.id].step(*ins[:-1], self.ops[node.inputs[-1]])
            else:
                out[node.id] = self.ops[node.id].step(*ins)
        for node in self.order:
            if node.kind == "cycle" and out[node.inputs[0]]:
                self.pending[node.id] = out[node.inputs[0]]
        self.ticks += 1

    @property
    def quiescent(self) -> bool:
        return not any(self.pending.values())

    def drain(self, max_ticks: int = MAX_TICKS) -> None:
        """Tick with no new input until no cycle holds records."""
        start = self.ticks
        while not self.quiescent:
            if self.ticks - start >= max_ticks:
                looping = next(self.graph.node(i) for i, r in self.pending.items() if r)
                raise ProgramError(f"the program did not settle after {max_ticks} ticks: "
                                   f"{looping.where()} keeps producing records", looping.loc)
            self.tick()

    def results(self, columns: bool = False) -> dict[str, list]:
        return {node.params["name"]: sink_contents(
                    self.graph.node(node.inputs[0]).coll.kind,
                    self.streams[node.params["name"]], self.ops.get(node.inputs[0]), columns)
                for node in self.graph.sinks()}


def sink_contents(kind: str, stream: list, op, columns: bool = False) -> list:
    """What a sink shows: a stream's records (``stream``: its batches); a singleton's
    ``[value]``; a keyed map's pairs. With ``columns``, a kernel's table as :class:`Columns`
    of the same pairs, in order, and a stream whose every batch is Columns of one dtype (a
    kernel's output) as those Columns concatenated."""
    if kind == SINGLETON:
        return [] if op.value is UNSET else [op.value]
    if kind == KEYED:
        if columns and hasattr(op, "columns_items"):
            return op.columns_items()
        return op.sorted_items() if hasattr(op, "sorted_items") else sorted_items(op.value)
    if columns and stream and all(isinstance(b, Columns) for b in stream) \
            and len({b.dtype for b in stream}) == 1:
        return Columns.concat(stream)
    records: list = []
    for batch in stream:
        records.extend(batch)
    return records


def run(graph: Graph, inputs: Mapping[str, Iterable[Any]] | None = None, *,
        ticks: Sequence[Mapping[str, Iterable[Any]]] | None = None,
        tick_size: int = DEFAULT_TICK_SIZE, max_ticks: int = MAX_TICKS,
        columns: bool = False) -> dict[str, list]:
    """Run ``graph`` to quiescence: whole ``inputs`` cut into ticks by :func:`split_ticks`
    (``tick_size`` records per input and tick, as every target cuts them), or ``ticks`` as
    one batch per tick. With ``columns``, a keyed sink held by a kernel comes back as
    :class:`Columns` (its sorted pairs: iterating it yields the list's records) instead of a
    list of Python tuples, and so does a stream sink fed by a kernel (a join's pairs as nested
    Columns); every other sink as its list."""
    if inputs is not None and ticks is not None:
        raise InputError("give either inputs (cut into ticks) or ticks (a batch per tick), not both")
    if ticks is not None:
        batches = list(ticks)
    elif isinstance(inputs, Ticks):
        batches = split_ticks(inputs)
    else:
        batches = split_ticks({k: v if isinstance(v, Columns) else list(v)
                               for k, v in (inputs or {}).items()}, tick_size)
    runner = LocalRunner(graph, columnar_dtypes(batches))
    for batch in batches:
        runner.tick(batch)
    runner.drain(max_ticks)
    return runner.results(columns)


def columnar_dtypes(batches: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Input name -> element type, for the inputs given as :class:`Columns`."""
    return {name: records.dtype for batch in reversed(batches) for name, records in batch.items()
            if isinstance(records, Columns)}


def canonical(graph: Graph, results: Mapping[str, list]) -> dict[str, list]:
    """Sinks in a form two correct targets agree on: unordered streams sorted (multiset);
    every NaN one object (records from another process equal the local run's under ``==``)."""
    out = {}
    for node in graph.sinks():
        name = node.params["name"]
        src = graph.node(node.inputs[0]).coll
        rows = [_same_nans(r) for r in results.get(name, [])]
        out[name] = rows if (src.kind != STREAM or src.ordered) else sorted(rows, key=repr)
    return out


def _same_nans(x: Any) -> Any:
    """``x`` with every NaN in it, also inside lists and dicts, the one NaN of
    :func:`hydropy.runtime.ops.canonical_key`."""
    if isinstance(x, list):
        return [_same_nans(i) for i in x]
    if isinstance(x, dict):
        return {ops.canonical_key(k): _same_nans(v) for k, v in x.items()}
    if isinstance(x, tuple) and type(x) is tuple:
        return tuple(_same_nans(i) for i in x)
    return ops.canonical_key(x)


def make_op(node: Node) -> ops.Op:
    """The runtime operator of ``node`` (its class from the op spec); the constructor takes
    the node's functions, then its parameters."""
    cls = getattr(ops, runtime_class(node.kind, node.coll))
    if node.kind == "fused":
        steps = [(kind, f.obj, where) for (kind, where), f in zip(node.params["steps"], node.fns)]
        return cls(*steps, where=node.where(), loc=node.loc)
    fns = [f.obj for f in node.fns]
    params = [node.params["lattice"]] if "lattice" in node.params else []
    return cls(*fns, *params, where=node.where(), loc=node.loc)
