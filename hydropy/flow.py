"""The user API: a Flow and its collections, traced into the IR as the program is built.

Every builder method appends exactly one node to the flow's graph, recording the user's
file:line, and returns a handle on the node's output. Nothing runs until ``flow.run``.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable

from hydropy.errors import ProgramError
from hydropy.ir import KEYED, SINGLETON, SPECS, STREAM, Graph, Node, UserFn, verify
from hydropy.ir.ops import output_collection
from hydropy.runtime.columns import normalize as normalize_dtype
from hydropy.ir.source import SourceLoc, positional_arity_ok, user_location, user_module_name


class Flow:
    """A single-node dataflow program under construction: the specification of every design point."""

    def __init__(self, name: str = "flow"):
        self.name = name
        self.loc = user_location()
        #: the module that built this flow: where compiled stages import the user's functions from
        self.module = user_module_name()
        self._graph = Graph(name)
        self._kind_counts: Counter[str] = Counter()
        self._open: dict[int, tuple[str, SourceLoc | None]] = {}  # placeholder id -> (what, loc)

    # -- sources ----------------------------------------------------------
    def source(self, name: str, *, dtype: str | None = None) -> "Stream":
        """An external input stream, fed at run time under ``name`` (unbounded, in arrival order).

        ``dtype`` (``"int64"``, ``float``, ``("int64", "float64")``...) declares its element type,
        so that its records travel as numpy columns through Numba kernels."""
        if any(n.kind == "source" and n.params["name"] == name for n in self._graph):
            raise ProgramError(f"input '{name}' is declared twice", user_location())
        try:
            dtype = normalize_dtype(dtype)
        except ValueError as exc:
            raise ProgramError(f"input '{name}': {exc}", user_location()) from None
        return self._add("source", (), {"name": name}, (), name=name, dtype=dtype)

    def source_iter(self, values: Iterable[Any], *, name: str | None = None) -> "Stream":
        """A bounded literal stream, delivered in the first tick."""
        return self._add("source_iter", (), {"values": tuple(values)}, (), name=name)

    # -- loops ------------------------------------------------------------
    def cycle(self, *, name: str | None = None) -> tuple["Placeholder", "Stream"]:
        """A feedback loop: ``handle, s = flow.cycle()``; later ``handle.complete(t)``.

        Records ``t`` produces in one tick appear on ``s`` in the next tick.
        """
        stream = self._add("cycle", None, {}, (), name=name)
        self._open[stream.node.id] = ("cycle", stream.node.loc)
        return Placeholder(self, stream.node.id), stream

    def forward_ref(self, *, name: str | None = None) -> tuple["Placeholder", "Stream"]:
        """A stream used before it is defined, within the same tick (so it may not feed itself)."""
        stream = self._add("forward", None, {}, (), name=name)
        self._open[stream.node.id] = ("forward_ref", stream.node.loc)
        return Placeholder(self, stream.node.id), stream

    # -- results ----------------------------------------------------------
    def graph(self) -> Graph:
        """The traced program: a verified copy, safe to hand to passes."""
        for what, loc in self._open.values():
            raise ProgramError(f"flow.{what}() is never completed: call .complete(stream) on its handle", loc)
        return verify(self._graph.copy())

    def run(self, inputs: dict[str, Iterable[Any]] | None = None, target: str = "local", *,
            plan: str | None = None, **options) -> dict[str, list]:
        """Run the program (after ``plan``, a plan file) on ``target`` (``local`` or ``ray``) and
        return each sink's contents; the semantics are documented in ``hydropy.targets.local``.
        ``inputs`` are cut into ticks of ``tick_size=`` records per input; ``ticks=[{...}, ...]``
        gives them one batch per tick instead, the same on every target."""
        from hydropy.targets import run_flow
        return run_flow(self, inputs, target, plan=plan, **options)

    # -- internals --------------------------------------------------------
    def _name(self, kind: str, name: str | None, loc) -> str:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ProgramError(f"operator name must be a non-empty string, got {name!r}", loc)
            if self._graph.by_name(name) is not None:
                raise ProgramError(f"operator name '{name}' is used twice "
                                   f"(also at {self._graph.by_name(name).loc})", loc)
            return name
        while True:
            self._kind_counts[kind] += 1
            candidate = f"{kind}_{self._kind_counts[kind]}"
            if self._graph.by_name(candidate) is None:
                return candidate

    def _add(self, kind: str, inputs: tuple["Collection", ...] | None, params: dict,
             fns: tuple, *, name: str | None = None, dtype: str | None = None) -> "Collection":
        loc = user_location()
        spec = SPECS[kind]
        for other in inputs or ():
            if not isinstance(other, Collection):
                raise ProgramError(f"{kind} expects a hydropy stream, got {type(other).__name__}", loc)
            if other.flow is not self:
                raise ProgramError(f"{kind} mixes collections of two different flows", loc)
        wrapped = []
        for (role, arity), fn in zip(spec.fns, fns):
            if not callable(fn):
                hint = " (e.g. int or list)" if role == "init" else ""
                raise ProgramError(f"{kind}: {role} must be a callable taking {arity} argument(s)"
                                   f"{hint}, got {fn!r}", loc)
            if not positional_arity_ok(fn, arity):
                raise ProgramError(f"{kind}: {role} {getattr(fn, '__qualname__', fn)!r} must take "
                                   f"{arity} argument(s)", loc)
            wrapped.append(UserFn.wrap(fn))
        ins = tuple(c.node for c in inputs or ())
        if inputs is None:  # a placeholder: output a stream until completed
            coll = output_collection("cycle", ())
        else:
            colls = tuple(n.coll for n in ins)
            if spec.inputs is not None:
                for port, (c, ok) in enumerate(zip(colls, spec.inputs)):
                    if c is None or c.kind not in ok:
                        raise ProgramError(f"{kind} cannot take a {c.kind if c else 'sink'} as input "
                                           f"{port}; it needs a {' or '.join(sorted(ok))}", loc)
            coll = output_collection(kind, colls)
        if coll is not None and dtype is not None:
            coll = coll.__class__(coll.kind, coll.bounded, coll.ordered, coll.retry, dtype)
        node = Node(self._graph.fresh_id(), kind, self._name(kind, name, loc),
                    tuple(n.id for n in ins), params, tuple(wrapped), loc, coll)
        self._graph.add(node)
        return _HANDLES[coll.kind if coll else None](self, node)


class Placeholder:
    """The handle of ``flow.cycle()`` / ``flow.forward_ref()``: complete it exactly once."""

    def __init__(self, flow: Flow, node_id: int):
        self.flow, self.node_id = flow, node_id

    def complete(self, stream: "Stream") -> None:
        loc = user_location()
        if self.node_id not in self.flow._open:
            raise ProgramError("this placeholder is already completed", loc)
        if not isinstance(stream, Collection) or stream.flow is not self.flow:
            raise ProgramError("complete() takes a stream of the same flow", loc)
        g = self.flow._graph
        node = g.node(self.node_id)
        if stream.node.coll is None or stream.node.coll.kind != STREAM:
            raise ProgramError("complete() takes a stream; use .snapshot() to feed back a fold's value",
                               loc)
        coll = stream.node.coll if node.kind == "forward" else node.coll
        g.replace(node.copy(inputs=(stream.node.id,), coll=coll))
        del self.flow._open[self.node_id]


class Collection:
    """A handle on one node's output."""

    kind = ""

    def __init__(self, flow: Flow, node: Node):
        self.flow, self.node = flow, node

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.node.name} = {self.node.kind} ({self.node.loc})>"

    def sink(self, name: str, *, op_name: str | None = None) -> None:
        """A named output. Shows a stream's records, a singleton's or keyed map's final value."""
        if not isinstance(name, str) or not name:
            raise ProgramError(f"sink name must be a non-empty string, got {name!r}", user_location())
        for n in self.flow._graph:
            if n.kind == "sink" and n.params["name"] == name:
                raise ProgramError(f"sink name '{name}' is used twice (also at {n.loc})", user_location())
        self.flow._add("sink", (self,), {"name": name}, (), name=op_name or f"sink_{name}")


class Stream(Collection):
    """A multiset of records (ordered where the collection says so). Keyed operators take
    ``(key, value)`` pairs."""

    kind = STREAM

    def map(self, fn: Callable[[Any], Any], *, name: str | None = None) -> "Stream":
        return self.flow._add("map", (self,), {}, (fn,), name=name)

    def filter(self, fn: Callable[[Any], bool], *, name: str | None = None) -> "Stream":
        return self.flow._add("filter", (self,), {}, (fn,), name=name)

    def flat_map(self, fn: Callable[[Any], Iterable[Any]], *, name: str | None = None) -> "Stream":
        return self.flow._add("flat_map", (self,), {}, (fn,), name=name)

    def filter_map(self, fn: Callable[[Any], Any], *, name: str | None = None) -> "Stream":
        return self.flow._add("filter_map", (self,), {}, (fn,), name=name)

    def inspect(self, fn: Callable[[Any], Any], *, name: str | None = None) -> "Stream":
        return self.flow._add("inspect", (self,), {}, (fn,), name=name)

    def union(self, *others: "Stream", name: str | None = None) -> "Stream":
        return self.flow._add("union", (self, *others), {}, (), name=name)

    def join(self, other: "Stream", *, name: str | None = None) -> "Stream":
        """``(k, x)`` and ``(k, y)`` give ``(k, (x, y))``; both sides are remembered forever."""
        return self.flow._add("join", (self, other), {}, (), name=name)

    def anti_join(self, keys: "Stream", *, name: str | None = None) -> "Stream":
        """``(k, x)`` whose ``k`` was not seen on ``keys`` by x's tick (non-monotone)."""
        return self.flow._add("anti_join", (self, keys), {}, (), name=name)

    def cross(self, other: "Stream", *, name: str | None = None) -> "Stream":
        return self.flow._add("cross", (self, other), {}, (), name=name)

    def unique(self, *, name: str | None = None) -> "Stream":
        return self.flow._add("unique", (self,), {}, (), name=name)

    def fold(self, init: Callable[[], Any], fn: Callable[[Any, Any], Any], *,
             name: str | None = None) -> "Singleton":
        """``acc = fn(acc, x)`` for every record, from ``init()``; ``fn`` returns the new acc."""
        return self.flow._add("fold", (self,), {}, (init, fn), name=name)

    def reduce(self, fn: Callable[[Any, Any], Any], *, name: str | None = None) -> "Singleton":
        return self.flow._add("reduce", (self,), {}, (fn,), name=name)

    def count(self, *, name: str | None = None) -> "Singleton":
        return self.flow._add("count", (self,), {}, (), name=name)

    def fold_keyed(self, init: Callable[[], Any], fn: Callable[[Any, Any], Any], *,
                   name: str | None = None) -> "KeyedSingleton":
        return self.flow._add("fold_keyed", (self,), {}, (init, fn), name=name)

    def reduce_keyed(self, fn: Callable[[Any, Any], Any], *, name: str | None = None) -> "KeyedSingleton":
        return self.flow._add("reduce_keyed", (self,), {}, (fn,), name=name)

    def lattice_fold(self, lattice: type, *, name: str | None = None) -> "Singleton":
        """Merge ``lattice.of(x)`` over every record: monotone, final value independent of order."""
        return self.flow._add("lattice_fold", (self,), {"lattice": _lattice(lattice)}, (), name=name)

    def lattice_fold_keyed(self, lattice: type, *, name: str | None = None) -> "KeyedSingleton":
        return self.flow._add("lattice_fold_keyed", (self,), {"lattice": _lattice(lattice)}, (),
                              name=name)

    def lookup(self, table: "KeyedSingleton", *, name: str | None = None) -> "Stream":
        """``(k, q)`` gives ``(k, (q, table[k]))`` (None when absent), reading the table's state in
        q's tick: a point-in-time read, hence non-monotone (a key-value store's get)."""
        return self.flow._add("lookup", (self, table), {}, (), name=name)


class Singleton(Collection):
    """One evolving value (a fold). A sink shows its final value."""

    kind = SINGLETON

    def map(self, fn: Callable[[Any], Any], *, name: str | None = None) -> "Singleton":
        return self.flow._add("map", (self,), {}, (fn,), name=name)

    def snapshot(self, *, name: str | None = None) -> Stream:
        """The current value, once per tick: non-monotone."""
        return self.flow._add("snapshot", (self,), {}, (), name=name)


class KeyedSingleton(Collection):
    """A map key -> evolving value (a keyed fold). A sink shows the final ``(key, value)`` pairs."""

    kind = KEYED

    def map(self, fn: Callable[[Any], Any], *, name: str | None = None) -> "KeyedSingleton":
        """Per key, ``fn`` of its current value (a view: recomputed when the value changes)."""
        return self.flow._add("map", (self,), {}, (fn,), name=name)

    def snapshot(self, *, name: str | None = None) -> Stream:
        """Every current ``(key, value)``, once per tick: non-monotone."""
        return self.flow._add("snapshot", (self,), {}, (), name=name)


_HANDLES = {STREAM: Stream, SINGLETON: Singleton, KEYED: KeyedSingleton, None: lambda flow, node: None}


def _lattice(cls):
    from hydropy.lattices import Lattice
    if not (isinstance(cls, type) and issubclass(cls, Lattice)):
        raise ProgramError(f"expected a hydropy lattice class (e.g. hp.lattices.Max), got {cls!r}",
                           user_location())
    return cls
