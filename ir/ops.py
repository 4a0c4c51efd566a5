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


@dataclass(frozen=True)
class OpSpec:
    kind: str
    inputs: tuple[frozenset[str], ...] | None  # accepted kinds per input; None: variadic streams
    fns: tuple[tuple[str, int], ...] | None    # (role, positional arity) of user functions; None: a chain
    params: tuple[str, ...]                   # names of the non-function arguments
    keyed_inputs: tuple[int, ...]              # inputs whose records must be (key, value)
    stateful: bool
    monotone: bool
    output: Callable[[tuple[Collection, ...]], Collection | None]
    doc: str


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


def _op(kind, inputs, fns=(), params=(), keyed=(), stateful=False, monotone=True, output=_same, doc=""):
    SPECS[kind] = OpSpec(kind, inputs, None if fns is None else tuple(fns), tuple(params), tuple(keyed), stateful,
                         monotone, output, doc)


# sources
_op("source", (), params=("name",), output=lambda ins: Collection(STREAM, False, True),
    doc="external input stream fed at run time by name")
_op("source_iter", (), params=("values",), output=lambda ins: Collection(STREAM, True, True),
    doc="bounded literal stream, delivered in the first tick")
_op("cycle", (S,), output=lambda ins: Collection(STREAM, False, False),
    doc="feedback edge: records its input produces in tick t appear here in tick t+1")
_op("forward", (ANY,), doc="identity; a stream used before it is defined (same tick)")
# stateless
_op("map", (ANY,), fns=[("fn", 1)],
    doc="f(x) for each record (a singleton: of its value; keyed: of each key's value, k -> f(v))")
_op("filter", (S,), fns=[("fn", 1)], doc="records x with f(x) true")
_op("flat_map", (S,), fns=[("fn", 1)], doc="every element of the iterable f(x)")
_op("filter_map", (S,), fns=[("fn", 1)], doc="f(x) for each record where f(x) is not None")
_op("inspect", (S,), fns=[("fn", 1)], doc="calls f(x) for its effect, passes x on")
_op("union", None, output=_combine, doc="all records of all inputs")
_op("fused", (S,), fns=None, params=("steps",),
    doc="a chain of stateless operators (map, filter, flat_map, filter_map, inspect) in one node; "
        "steps[i] = (kind, where) of the i-th operator, fns[i] its function")
# stateful, monotone
_op("join", (S, S), keyed=(0, 1), stateful=True, output=_combine,
    doc="(k, (x, y)) for every (k, x) and (k, y) ever seen on either side")
_op("cross", (S, S), stateful=True, output=_combine, doc="(x, y) for every x and y ever seen")
_op("unique", (S,), stateful=True, doc="each distinct record once, when first seen")
_op("lattice_fold", (S,), params=("lattice",), stateful=True, output=_to(SINGLETON),
    doc="merge of L.of(x) over all records")
_op("lattice_fold_keyed", (S,), params=("lattice",), keyed=(0,), stateful=True, output=_to(KEYED),
    doc="per key, merge of L.of(v) over all (k, v)")
_op("join_table", (frozenset({KEYED}), S), keyed=(1,), stateful=True, output=_to(KEYED),
    doc="per key, (state[k], y) once the keyed state has k and the table has (k, y); the table "
        "holds one value per key (a second, different value is an input error); monotone when "
        "its state is a lattice")
# stateful, not monotone: a fold's successive values are not ordered
_op("fold", (S,), fns=[("init", 0), ("fn", 2)], stateful=True, monotone=False, output=_to(SINGLETON),
    doc="acc = fn(acc, x) over the records, from init()")
_op("reduce", (S,), fns=[("fn", 2)], stateful=True, monotone=False, output=_to(SINGLETON),
    doc="acc = fn(acc, x), starting from the first record")
_op("count", (S,), stateful=True, monotone=False, output=_to(SINGLETON), doc="number of records")
_op("fold_keyed", (S,), fns=[("init", 0), ("fn", 2)], keyed=(0,), stateful=True, monotone=False,
    output=_to(KEYED), doc="per key, acc = fn(acc, v) from init()")
_op("reduce_keyed", (S,), fns=[("fn", 2)], keyed=(0,), stateful=True, monotone=False,
    output=_to(KEYED), doc="per key, acc = fn(acc, v) from the first value")
_op("anti_join", (S, S), keyed=(0,), stateful=True, monotone=False, output=_as_stream,
    doc="(k, x) whose k has not been seen on the second input by x's tick")
# partial aggregates (made by the split_fold pass): the fold of one tick's records, kept
# nowhere, so a partitioned stage can run them; only ever folded by their final merge
_op("partial_count", (S,), monotone=False, output=_to(STREAM),
    doc="number of this tick's records, emitted when there are any")
_op("partial_fold", (S,), fns=[("init", 0), ("fn", 2)], monotone=False, output=_to(STREAM),
    doc="fn folded over this tick's records from init(), emitted when there are any")
_op("partial_reduce", (S,), fns=[("fn", 2)], monotone=False, output=_to(STREAM),
    doc="fn reduced over this tick's records, emitted when there are any")
_op("partial_lattice_fold", (S,), params=("lattice",), monotone=False, output=_to(STREAM),
    doc="merge of L.of(x) over this tick's records, emitted when there are any")
# reading state at a point in time: non-monotone
_op("snapshot", (SK,), monotone=False, output=lambda ins: Collection(STREAM, ins[0].bounded, False),
    doc="the current value (keyed: every current (k, v)) once per tick")
_op("lookup", (S, frozenset({KEYED})), keyed=(0,), monotone=False, output=_as_stream,
    doc="(k, (q, table[k] or None)) for each (k, q), reading the table's state in that tick")
# channels between stages
ROUTINGS = ("direct", "hash", "broadcast", "round_robin", "any")
_op("network", (S,), params=("routing", "key"),
    output=lambda ins: Collection(STREAM, ins[0].bounded, ins[0].ordered, ins[0].retry, ins[0].dtype),
    doc="a channel from the input's stage to this node's stage; FIFO per sender and receiver "
        "unless params['reorder']; routing picks the receiving member(s); its collection is "
        "ordered only where the channel keeps the sender's order (hydropy.passes.stages)")
# sinks
_op("sink", (ANY,), params=("name",), output=lambda ins: None,
    doc="named output; shows a stream's records, a singleton's or keyed map's final value")


#: operators that act on each record alone, keep nothing and read no state: a pass may move,
#: replicate, partition or re-route them freely (the ``stateful=False`` kinds, but sources,
#: loops, channels, sinks, per-tick partials and point-in-time reads)
PER_RECORD = frozenset({"map", "filter", "flat_map", "filter_map", "inspect", "union", "forward",
                        "fused"})
#: per-tick aggregates of split_fold: they keep nothing across ticks
PARTIALS = frozenset(k for k in SPECS if k.startswith("partial_"))


def output_collection(kind: str, inputs: tuple[Collection, ...]) -> Collection | None:
    return SPECS[kind].output(inputs)


def with_dtype(coll: Collection, dtype: str | None) -> Collection:
    return replace(coll, dtype=dtype)
