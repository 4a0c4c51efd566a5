"""The table of operator kinds: one declared spec per kind, checked when a node is built.

A spec says how many inputs an operator takes and of which collection kinds, which user
functions it calls and with how many arguments, which of its inputs carry ``(key, value)``
pairs, whether it keeps state across ticks, whether its output only grows as its inputs
grow (monotone), and how its output collection follows from its inputs'.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

STREAM, SINGLETON, KEYED = "stream", "singleton", "keyed"
EXACTLY_ONCE, AT_LEAST_ONCE = "exactly_once", "at_least_once"


@dataclass(frozen=True)
class Collection:
    """What flows out of an operator.

    kind: ``stream`` (a multiset of records), ``singleton`` (one evolving value) or
    ``keyed`` (a map key -> evolving value). bounded: the collection ends (its final value
    exists). ordered: records arrive in a total order that the program may observe.
    retry: delivery guarantee. dtype: element type when known (e.g. ``int64``), else None.
    """

    kind: str
    bounded: bool
    ordered: bool
    retry: str = EXACTLY_ONCE
    dtype: str | None = None

    def __str__(self) -> str:
        name = {STREAM: "Stream", SINGLETON: "Singleton", KEYED: "Keyed"}[self.kind]
        tags = ["bounded" if self.bounded else "unbounded"]
        if self.kind == STREAM:
            tags.append("ordered" if self.ordered else "unordered")
        if self.retry != EXACTLY_ONCE:
            tags.append(self.retry)
        if self.dtype:
            tags.append(self.dtype)
        return f"{name}[{', '.join(tags)}]"


#: what an operator kind is, for every pass: the one place these facts are written
FAMILIES = {
    "source": "emits external or literal records",
    "loop": "carries records into the next tick",
    "per_record": "acts on each record alone and keeps nothing",
    "set": "keeps every record it has seen and only ever adds (join, cross, unique, join_table)",
    "lattice_fold": "merges into a lattice value that only grows",
    "plain_fold": "keeps an accumulator whose successive values depend on arrival order",
    "partial": "folds one tick's records and keeps nothing (made by split_fold and combine)",
    "negation": "decides on the absence of a key so far (anti_join)",
    "read": "reads a fold's state at a point in time",
    "channel": "moves records between stages",
    "sink": "shows what the program outputs",
}


@dataclass(frozen=True)
class OpSpec:
    """Everything hydropy knows about an operator kind. Passes, analyses and targets derive
    their sets of kinds from these fields (the derived sets are at the end of this module);
    none keeps a list of its own."""

    kind: str
    inputs: tuple[frozenset[str], ...] | None  # accepted kinds per input; None: variadic streams
    fns: tuple[tuple[str, int], ...] | None    # (role, positional arity) of user functions; None: a chain
    params: tuple[str, ...]                   # names of the non-function arguments
    keyed_inputs: tuple[int, ...]              # inputs whose records must be (key, value)
    stateful: bool
    monotone: bool
    output: Callable[[tuple[Collection, ...]], Collection | None]
    doc: str
    family: str = "per_record"                # a key of FAMILIES
    runtime: str | None = None                # class in hydropy.runtime.ops running it (None: the target does)
    #: input port -> path (inside that port's records) of the key its state is kept by
    state_key: tuple[tuple[int, tuple[int, ...]], ...] = ()
    global_state: bool = False                # one value for the whole stage (no key splits it)
    lattice_state: bool = False               # its state is a lattice (merges commute, repeats absorbed)
    passes_records: bool = False              # its output records are some of its first input's, unchanged
    absorbs_repeats: tuple[int, ...] = ()     # input ports where a record seen twice changes nothing
    holds: str = ""                           # what its state is, in words (state inventory)
    read_port: int | None = None              # a point-in-time read: the input whose state it reads
    kernel: str | None = None                 # the Numba kernel family that can run it (runtime.kernels)
    partial: str | None = None                # the per-tick partial kind split_fold makes of it
    combiner: str | None = None               # the per-tick, per-key partial combine puts before its channel
    lattices: tuple[str, ...] = ()            # lattice kinds the lattice pass can turn it into
    order_note: str = ""                      # why arrival order matters to it (analysis report)
    one_to_one: bool = False                  # one output record per input record, never dropped or repeated
    #: where the fields of its output come from: (output path prefix, ((port, input path), ...));
    #: a keyed collection's entries are ``(key, value)`` pairs, as its snapshot shows them
    fields_from: tuple = ()


def _same(ins):
    return ins[0]


def _as_stream(ins):
    return Collection(STREAM, ins[0].bounded, ins[0].ordered, ins[0].retry)


def _combine(ins):
    return Collection(STREAM, all(c.bounded for c in ins), len(ins) == 1 and ins[0].ordered,
                      ins[0].retry if all(c.retry == ins[0].retry for c in ins) else AT_LEAST_ONCE)


S = frozenset({STREAM})
SK = frozenset({SINGLETON, KEYED})
ANY = frozenset({STREAM, SINGLETON, KEYED})


def _to(kind):
    return lambda ins: Collection(kind, all(c.bounded for c in ins), False)



SPECS: dict[str, OpSpec] = {}


def _op(kind, inputs, fns=(), params=(), keyed=(), stateful=False, monotone=True, output=_same, doc="",
        family="per_record", runtime=None, state_key=None, fields_from=None, **facts):
    if family not in FAMILIES:
        raise ValueError(f"op kind {kind!r}: unknown family {family!r}")
    SPECS[kind] = OpSpec(kind, inputs, None if fns is None else tuple(fns), tuple(params), tuple(keyed), stateful,
                         monotone, output, doc, family, runtime,
                         tuple(sorted((state_key or {}).items())),
                         fields_from=tuple((p, tuple(src)) for p, src in (fields_from or {}).items()), **facts)


# sources
_op("source", (), params=("name",), output=lambda ins: Collection(STREAM, False, True),
    doc="external input stream fed at run time by name",
    family="source", order_note="external input: arrival order and batching are not controlled")
_op("source_iter", (), params=("values",), output=lambda ins: Collection(STREAM, True, True),
    doc="bounded literal stream, delivered in the first tick",
    family="source")
_op("cycle", (S,), output=lambda ins: Collection(STREAM, False, False),
    doc="feedback edge: records its input produces in tick t appear here in tick t+1",
    family="loop")
_op("forward", (ANY,), doc="identity; a stream used before it is defined (same tick)",
    runtime="Identity", passes_records=True, one_to_one=True)
# stateless
_op("map", (ANY,), fns=[("fn", 1)],
    doc="f(x) for each record (a singleton: of its value; keyed: of each key's value, k -> f(v))",
    runtime="Map", kernel="chain", one_to_one=True)
_op("filter", (S,), fns=[("fn", 1)], doc="records x with f(x) true",
    runtime="Filter", passes_records=True, kernel="chain")
_op("flat_map", (S,), fns=[("fn", 1)], doc="every element of the iterable f(x)",
    runtime="FlatMap")
_op("filter_map", (S,), fns=[("fn", 1)], doc="f(x) for each record where f(x) is not None",
    runtime="FilterMap")
_op("inspect", (S,), fns=[("fn", 1)], doc="calls f(x) for its effect, passes x on",
    runtime="Inspect", passes_records=True, one_to_one=True)
_op("union", None, output=_combine, doc="all records of all inputs",
    runtime="Union")
_op("fused", (S,), fns=None, params=("steps",),
    doc="a chain of stateless operators (map, filter, flat_map, filter_map, inspect) in one node; "
        "steps[i] = (kind, where) of the i-th operator, fns[i] its function",
    runtime="Fused")
# stateful, monotone
_op("join", (S, S), keyed=(0, 1), stateful=True, output=_combine,
    doc="(k, (x, y)) for every (k, x) and (k, y) ever seen on either side",
    family="set", runtime="Join", state_key={0: (0,), 1: (0,)}, kernel="join",
    fields_from={(0,): [(0, (0,)), (1, (0,))], (1, 0): [(0, (1,))], (1, 1): [(1, (1,))]},
    holds="both sides of the join, every record ever seen, by key")
_op("cross", (S, S), stateful=True, output=_combine, doc="(x, y) for every x and y ever seen",
    family="set", runtime="Cross", global_state=True,
    holds="both sides of the cross product, every record ever seen")
_op("unique", (S,), stateful=True, doc="each distinct record once, when first seen",
    family="set", runtime="Unique", state_key={0: ()}, passes_records=True, absorbs_repeats=(0,),
    kernel="unique",
    holds="set of seen records")
_op("lattice_fold", (S,), params=("lattice",), stateful=True, output=_to(SINGLETON),
    doc="merge of L.of(x) over all records",
    family="lattice_fold", runtime="LatticeFold", global_state=True, lattice_state=True,
    partial="partial_lattice_fold",
    absorbs_repeats=(0,), holds="global accumulator")
_op("lattice_fold_keyed", (S,), params=("lattice",), keyed=(0,), stateful=True, output=_to(KEYED),
    doc="per key, merge of L.of(v) over all (k, v)",
    family="lattice_fold", runtime="LatticeFoldKeyed", state_key={0: (0,)}, lattice_state=True,
    fields_from={(0,): [(0, (0,))]},
    absorbs_repeats=(0,), holds="per-key accumulator")
_op("join_table", (frozenset({KEYED}), S), keyed=(1,), stateful=True, output=_to(KEYED),
    doc="per key, (state[k], y) once the keyed state has k and the table has (k, y); the table "
        "holds one value per key (a second, different value is an input error); monotone when "
        "its state is a lattice",
    family="set", runtime="JoinTable", state_key={0: (0,), 1: (0,)}, fields_from={(0,): [(0, (0,)), (1, (0,))]},
    lattice_state=True, absorbs_repeats=(1,), holds="one table value per key, beside the state it joins")
# stateful, not monotone: a fold's successive values are not ordered
_op("fold", (S,), fns=[("init", 0), ("fn", 2)], stateful=True, monotone=False, output=_to(SINGLETON),
    doc="acc = fn(acc, x) over the records, from init()",
    family="plain_fold", runtime="Fold", global_state=True, holds="global accumulator",
    partial="partial_fold", lattices=("gcounter", "set_union", "sealed_set", "bounded_prefix"))
_op("reduce", (S,), fns=[("fn", 2)], stateful=True, monotone=False, output=_to(SINGLETON),
    doc="acc = fn(acc, x), starting from the first record",
    family="plain_fold", runtime="Reduce", global_state=True, holds="global accumulator",
    partial="partial_reduce")
_op("count", (S,), stateful=True, monotone=False, output=_to(SINGLETON), doc="number of records",
    family="plain_fold", runtime="Count", global_state=True, holds="global count",
    partial="partial_count", lattices=("gcounter",))
_op("fold_keyed", (S,), fns=[("init", 0), ("fn", 2)], keyed=(0,), stateful=True, monotone=False,
    output=_to(KEYED), doc="per key, acc = fn(acc, v) from init()",
    family="plain_fold", runtime="FoldKeyed", state_key={0: (0,)}, holds="per-key accumulator",
    fields_from={(0,): [(0, (0,))]},
    kernel="keyed_fold", lattices=("gcounter", "set_union", "sealed_set", "bounded_prefix"),
    combiner="partial_fold_keyed")
_op("reduce_keyed", (S,), fns=[("fn", 2)], keyed=(0,), stateful=True, monotone=False,
    output=_to(KEYED), doc="per key, acc = fn(acc, v) from the first value",
    family="plain_fold", runtime="ReduceKeyed", state_key={0: (0,)}, holds="per-key accumulator",
    fields_from={(0,): [(0, (0,))]},
    kernel="keyed_fold", combiner="partial_reduce_keyed")
_op("anti_join", (S, S), keyed=(0,), stateful=True, monotone=False, output=_as_stream,
    doc="(k, x) whose k has not been seen on the second input by x's tick",
    family="negation", runtime="AntiJoin", state_key={0: (0,), 1: ()}, passes_records=True, read_port=1,
    absorbs_repeats=(1,), holds="set of keys seen on its second input",
    order_note="negation: decides on the keys seen so far")
# partial aggregates (made by the split_fold pass): the fold of one tick's records, kept
# nowhere, so a partitioned stage can run them; only ever folded by their final merge
_op("partial_count", (S,), monotone=False, output=_to(STREAM),
    doc="number of this tick's records, emitted when there are any",
    family="partial", runtime="PartialCount")
_op("partial_fold", (S,), fns=[("init", 0), ("fn", 2)], monotone=False, output=_to(STREAM),
    doc="fn folded over this tick's records from init(), emitted when there are any",
    family="partial", runtime="PartialFold")
_op("partial_reduce", (S,), fns=[("fn", 2)], monotone=False, output=_to(STREAM),
    doc="fn reduced over this tick's records, emitted when there are any",
    family="partial", runtime="PartialReduce")
_op("partial_lattice_fold", (S,), params=("lattice",), monotone=False, output=_to(STREAM),
    doc="merge of L.of(x) over this tick's records, emitted when there are any",
    family="partial", runtime="PartialLatticeFold")
# per-key partials (made by the combine pass): one tick's values per key, before a channel
_op("partial_fold_keyed", (S,), fns=[("init", 0), ("fn", 2)], keyed=(0,), monotone=False,
    output=_to(STREAM), doc="per key, fn folded over this tick's values from init()",
    family="partial", runtime="PartialFoldKeyed", fields_from={(0,): [(0, (0,))]})
_op("partial_reduce_keyed", (S,), fns=[("fn", 2)], keyed=(0,), monotone=False,
    output=_to(STREAM), doc="per key, fn reduced over this tick's values",
    family="partial", runtime="PartialReduceKeyed", fields_from={(0,): [(0, (0,))]})
# reading state at a point in time: non-monotone
_op("snapshot", (SK,), monotone=False, output=lambda ins: Collection(STREAM, ins[0].bounded, False),
    doc="the current value (keyed: every current (k, v)) once per tick",
    family="read", runtime="Snapshot", read_port=0, fields_from={(0,): [(0, (0,))]},
    order_note="reads a fold's current value each tick")
_op("lookup", (S, frozenset({KEYED})), keyed=(0,), monotone=False, output=_as_stream,
    doc="(k, (q, table[k] or None)) for each (k, q), reading the table's state in that tick",
    family="read", runtime="Lookup", state_key={0: (0,), 1: (0,)}, read_port=1,
    fields_from={(0,): [(0, (0,))], (1, 0): [(0, (1,))]},
    order_note="reads a table's state at a point in time")
# channels between stages
ROUTINGS = ("direct", "hash", "broadcast", "round_robin", "any")
_op("network", (S,), params=("routing", "key"), family="channel", runtime="Identity",
    passes_records=True, one_to_one=True,
    output=lambda ins: Collection(STREAM, ins[0].bounded, ins[0].ordered, ins[0].retry, ins[0].dtype),
    doc="a channel from the input's stage to this node's stage; FIFO per sender and receiver "
        "unless params['reorder']; routing picks the receiving member(s); its collection is "
        "ordered only where the channel keeps the sender's order (hydropy.passes.stages)")
# sinks
_op("sink", (ANY,), params=("name",), output=lambda ins: None,
    doc="named output; shows a stream's records, a singleton's or keyed map's final value",
    family="sink")


def kinds(**facts) -> frozenset[str]:
    """The op kinds whose spec has every given fact, e.g. ``kinds(family="plain_fold")``."""
    return frozenset(k for k, spec in SPECS.items()
                     if all(getattr(spec, name) == value for name, value in facts.items()))


def runtime_class(kind: str, coll: Collection | None) -> str:
    """The class of ``hydropy.runtime.ops`` that runs an operator of ``kind`` producing ``coll``
    (``map`` of a singleton or keyed collection maps its value(s), not records)."""
    if kind == "map" and coll is not None and coll.kind != STREAM:
        return "MapSingleton" if coll.kind == SINGLETON else "MapKeyed"
    runtime = SPECS[kind].runtime
    if runtime is None:
        raise KeyError(f"op kind {kind!r} has no runtime operator (the target runs it)")
    return runtime


#: operators that act on each record alone, keep nothing and read no state: a pass may move,
#: replicate, partition or re-route them freely
PER_RECORD = kinds(family="per_record")
#: per-tick aggregates of split_fold: they keep nothing across ticks
PARTIALS = kinds(family="partial")
#: folds whose successive values depend on the order and batching of their input
PLAIN_FOLDS = kinds(family="plain_fold")
LATTICE_FOLDS = kinds(family="lattice_fold")
SOURCES = kinds(family="source")
#: operators that read a fold's state at a point in time
READS = kinds(family="read")
#: operators whose output can depend on when related records arrive (non-monotone reads)
TIMING_SENSITIVE = READS | kinds(family="negation")
FOLDS = PLAIN_FOLDS | LATTICE_FOLDS
#: state that is a lattice: merges commute and repeats are absorbed
LATTICE_STATE = kinds(lattice_state=True)
#: one value for the whole stage: N members cannot share it
GLOBAL_STATE = kinds(global_state=True)
#: output records are some of the first input's records, unchanged
PASSES_RECORDS = kinds(passes_records=True)
#: folds whose function hydropy reads (count and lattice folds have none)
FUNCTION_FOLDS = frozenset(k for k in PLAIN_FOLDS if SPECS[k].fns)
#: folds that start from ``init()`` (a reduce starts from its first record)
SEEDED_FOLDS = frozenset(k for k in PLAIN_FOLDS if any(role == "init" for role, _ in SPECS[k].fns))
#: where a stage's records enter it: an external source or a channel
ENTRIES = frozenset({"source", "network"})
#: stateful kinds that can be partitioned: kind -> {input port: path of its key in the records}
KEYED_STATE = {k: dict(spec.state_key) for k, spec in SPECS.items() if spec.state_key}
#: output records are exactly the input's records (a forward, a channel)
IDENTITIES = kinds(runtime="Identity")
#: per-record operators whose records are a function's results (lineage reads the function)
TRANSFORMS = frozenset(k for k in PER_RECORD if not SPECS[k].passes_records and SPECS[k].fns != ())
#: operators hydropy places itself: a sink follows the collection it shows, channels sit on
#: the edges a decoupling cuts; plans cannot move them by name
PLACED = kinds(family="sink") | kinds(family="channel")
#: single-input, single-function per-record operators: what ``fuse`` chains
FUSIBLE = frozenset(k for k in PER_RECORD if SPECS[k].fns == (("fn", 1),))


def output_collection(kind: str, inputs: tuple[Collection, ...]) -> Collection | None:
    return SPECS[kind].output(inputs)


def with_dtype(coll: Collection, dtype: str | None) -> Collection:
    return replace(coll, dtype=dtype)
