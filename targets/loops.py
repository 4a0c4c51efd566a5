"""Generated loops: a stage's chain of per-record Python operators as one ``for`` loop.

A *region* is a tree of operators in one stage rooted at an operator of a stream that reads
a batch: every other member reads exactly one member. Members are stateless (map, filter,
flat_map, filter_map, inspect, fused chains of them) or folds that take records one at a
time (fold_keyed, reduce_keyed, their per-tick combiners, count, fold), which end their
branch; a region may be one fold alone (a fold reading a channel). The region runs as
one generated function (:func:`loop_source`): one ``for`` over the batch, each operator a
plain statement on the current record, each fold updating its runtime object's state in
place. A member whose records an operator outside the region reads (or a channel, a sink, a
cycle) collects them in a list, returned at the end; a fold's changed values are returned
only when something other than a sink reads them.

Invariant (the local target's semantics, :mod:`hydropy.targets.local`): every list the loop
returns holds the records, in the order, that the operators' own ``step`` would produce for
this batch, and every fold ends the tick in the state its ``step`` would leave. Only the
interleaving of user calls differs (record by record instead of operator by operator): side
effects (``inspect`` printing) interleave, and when two operators would both fail the first
record's failure is the one reported. Failures are attributed by
:class:`hydropy.runtime.loop.Loop` from the failing line: the generator records what each
line does.

Both the local target (:func:`compile_loop`) and the emitter (the same text in the stage
module) run this code: there is one implementation of these operators' per-record work.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hydropy.ir import STREAM, Graph, Node
from hydropy.ir.ops import runtime_class
from hydropy.runtime.loop import CALL, HASH, ITERATE, PAIR, Loop

from .names import Namespace, doc_text, identifier

#: runtime classes of the stateless members, and of the folds that end a branch
STATELESS = {"Map", "Filter", "FlatMap", "FilterMap", "Inspect", "Fused"}
KEYED_FOLDS = {"FoldKeyed", "ReduceKeyed", "PartialFoldKeyed", "PartialReduceKeyed"}
FOLDS_ONE_BY_ONE = KEYED_FOLDS | {"Count", "Fold"}
#: keyed folds that start every tick empty (combiners)
PER_TICK = {"PartialFoldKeyed", "PartialReduceKeyed"}
#: Python's limit on nested blocks is 20; a deeper chain starts a new region
MAX_DEPTH = 14


@dataclass
class Region:
    """Members in tick order, root first; ``parent``: member -> the member it reads."""

    nodes: list[Node]
    parent: dict[int, int]
    collected: list[Node] = field(default_factory=list)  # members whose records leave the loop
    name: str = ""

    @property
    def root(self) -> Node:
        return self.nodes[0]


def _class(graph: Graph, n: Node) -> str | None:
    if len(n.inputs) != 1 or graph.node(n.inputs[0]).coll.kind != STREAM or n.spec.runtime is None:
        return None
    cls = runtime_class(n.kind, n.coll)
    return cls if cls in STATELESS or cls in FOLDS_ONE_BY_ONE else None


def find_regions(graph: Graph, eligible: list[Node]) -> list[Region]:
    """The regions among ``eligible`` (nodes in tick order, of one stage or of a single-node
    run, that no kernel runs); each member in one region."""
    ok = {n.id for n in eligible if _class(graph, n)}
    region_of: dict[int, Region] = {}
    depth: dict[int, int] = {}
    regions = []
    for n in eligible:
        if n.id not in ok:
            continue
        cls = _class(graph, n)
        up = n.inputs[0]
        parent = graph.node(up)
        joins = (up in region_of and _class(graph, parent) in STATELESS
                 and parent.location == n.location and depth[up] < MAX_DEPTH)
        if joins:
            region = region_of[up]
            region.nodes.append(n)
            region.parent[n.id] = up
            depth[n.id] = depth[up] + (2 if parent.kind == "fused" else 1)
        elif cls != "Count":  # (a count of a batch is its length: no loop)
            region = Region([n], {})
            regions.append(region)
            depth[n.id] = len(n.params.get("steps", ())) or 1
        else:
            continue
        region_of[n.id] = region
    for region in regions:
        members = {m.id for m in region.nodes}
        region.collected = [m for m in region.nodes if any(
            c.id not in members and not (c.kind == "sink" and _class(graph, m) in FOLDS_ONE_BY_ONE)
            for c in graph.consumers(m.id))]
    return regions


class _Writer:
    """Builds one loop's text line by line, recording what each line does."""

    def __init__(self, graph: Graph, region: Region, fn_name: str):
        self.graph, self.region = graph, region
        self.names = Namespace(["ops", fn_name])
        self.lines: list[str] = []
        self.blame: dict[int, tuple] = {}  # line offset -> (member, role, what, variable)
        self.args = {m.id: self.names.fresh(m.name) for m in region.nodes}
        self.lists = {m.id: self.names.fresh(f"{m.name}_records") for m in region.collected}

    def line(self, depth: int, text: str, op: str | None = None, role: str = "fn", what: str = CALL,
             var: str = "") -> None:
        if op is not None:
            self.blame[len(self.lines) + 1] = (op, role, what, var)  # + 1: the def line
        self.lines.append("    " * depth + text)

    def fresh(self, name: str) -> str:
        return self.names.fresh(name)


def loop_source(graph: Graph, region: Region, fn_name: str) -> tuple[str, dict[int, tuple]]:
    """The text of the function ``fn_name(batch, *members)`` running ``region``, and its blame
    table: line offset -> (member index or (member index, fused step), role, what, variable)."""
    w = _Writer(graph, region, fn_name)
    batch = w.fresh(f"{identifier(graph.node(region.root.inputs[0]).name)}")
    params = [batch, *(w.args[m.id] for m in region.nodes)]
    index = {m.id: i for i, m in enumerate(region.nodes)}
    doc = ", ".join(m.where(short=True) for m in region.nodes)
    w.lines.append(f'    """One pass over {batch}: {doc_text(doc)}."""')
    pre, post = [], []
    fns: dict[tuple, str] = {}

    def fn_of(m: Node, step: int | None = None, role: str = "fn") -> str:
        key = (m.id, step, role)
        if key not in fns:
            fns[key] = w.fresh(f"{m.name}_{role}" if step is None else f"{m.name}_{step}_fn")
            obj = w.args[m.id] if step is None else f"{w.args[m.id]}.chain[{step}]"
            pre.append(f"{fns[key]} = {obj}.{role}")
        return fns[key]

    state: dict[int, dict] = {}
    for m in region.nodes:
        cls = _class(graph, m)
        if cls == "Fused":
            for step in range(len(m.params["steps"])):
                fn_of(m, step)
        elif cls in STATELESS:
            fn_of(m)
        if m.id in w.lists and cls in STATELESS:
            pre.append(f"{w.lists[m.id]} = []")
        if cls in KEYED_FOLDS:
            table = w.fresh(f"{m.name}_table")
            s = state[m.id] = {"table": table, "fn": fn_of(m)}
            pre.append(f"{table} = {w.args[m.id]}.value = {{}}" if cls in PER_TICK else
                       f"{table} = {w.args[m.id]}.value")
            if cls.endswith("FoldKeyed"):
                s["init"] = fn_of(m, role="init")
            if m.id in w.lists and cls in PER_TICK:  # every key in its table changed this tick
                post.append(f"{w.lists[m.id]} = [(k, ops.detached(v)) for k, v in {table}.items()]")
            elif m.id in w.lists:
                s["changed"] = w.fresh(f"{m.name}_changed")
                pre.append(f"{s['changed']} = {{}}")
                post.append(f"{w.lists[m.id]} = [(k, ops.detached({table}[k])) for k in {s['changed']}]")
        elif cls in ("Count", "Fold"):
            acc, fresh, start = w.fresh(f"{m.name}_value"), w.fresh(f"{m.name}_fresh"), w.fresh(f"{m.name}_seen")
            state[m.id] = {"acc": acc, "seen": start if m.id in w.lists else None}
            pre.append(f"{fresh} = {w.args[m.id]}.value is ops.UNSET")
            if m.id in w.lists:  # its record this tick: when it is new or grew
                pre.append(f"{start} = False")
            if cls == "Count":
                pre.append(f"{acc} = 0 if {fresh} else {w.args[m.id]}.value")
            else:
                state[m.id]["fn"] = fn_of(m)
                pre.append(("init", m, f"{acc} = {fn_of(m, role='init')}() if {fresh} else {w.args[m.id]}.value"))
            post.append(f"{w.args[m.id]}.value = {acc}")
            if m.id in w.lists:
                post.append(f"{w.lists[m.id]} = [{acc}] if ({fresh} or {start}) else []")

    def body(m: Node, rec: str, depth: int) -> None:
        """Statements applying ``m`` to record ``rec`` at ``depth``, then its readers."""
        cls = _class(graph, m)
        i = index[m.id]
        if cls in STATELESS:
            steps = ([(k, s) for s, (k, _) in enumerate(m.params["steps"])] if cls == "Fused"
                     else [(m.kind, None)])
            for s, (kind, step) in enumerate(steps):
                op = i if step is None else (i, step)
                fn = fn_of(m, step)
                step_cls = runtime_class(kind, None) if step is not None else cls
                out = w.fresh(f"{m.name}_out" if step is None else f"{m.name}_{step}_out")
                if step_cls == "Map":
                    w.line(depth, f"{out} = {fn}({rec})", op)
                elif step_cls == "Filter":
                    w.line(depth, f"if {fn}({rec}):", op)
                    out, depth = rec, depth + 1
                elif step_cls == "FilterMap":
                    w.line(depth, f"{out} = {fn}({rec})", op)
                    w.line(depth, f"if {out} is not None:")
                    depth += 1
                elif step_cls == "Inspect":
                    w.line(depth, f"{fn}({rec})", op)
                    out = rec
                else:  # FlatMap
                    each = w.fresh(f"{m.name}_record" if step is None else f"{m.name}_{step}_record")
                    w.line(depth, f"{out} = {fn}({rec})", op)
                    w.line(depth, f"for {each} in {out}:", op, what=ITERATE, var=out)
                    out, depth = each, depth + 1
                rec = out
            if m.id in w.lists:
                w.line(depth, f"{w.lists[m.id]}.append({rec})")
            for child in region.nodes:
                if region.parent.get(child.id) == m.id:
                    body(child, rec, depth)
            if w.lines[-1].endswith(":"):  # records nothing reads: the calls still happen
                w.line(depth, "pass")
            return
        s = state[m.id]
        if cls in KEYED_FOLDS:
            key, value, table = w.fresh("key"), w.fresh("value"), s["table"]
            w.line(depth, f"{key}, {value} = {rec} if type({rec}) is tuple else {w.args[m.id]}.pair({rec})",
                   i, what=PAIR, var=rec)
            w.line(depth, f"if {key} in {table}:", i, what=HASH, var=key)
            w.line(depth + 1, f"{table}[{key}] = {s['fn']}({table}[{key}], {value})", i)
            w.line(depth, "else:")
            # keys by value (NaN is NaN): a key not found as it is is made canonical, then looked
            # up again or kept, so every key kept is canonical and one found as it is is one
            w.line(depth + 1, f"{key} = ops.canonical_key({key})")
            w.line(depth + 1, f"if {key} in {table}:", i, what=HASH, var=key)
            w.line(depth + 2, f"{table}[{key}] = {s['fn']}({table}[{key}], {value})", i)
            w.line(depth + 1, "else:")
            if cls.endswith("FoldKeyed"):
                first = w.fresh("first")
                w.line(depth + 2, f"{first} = {s['init']}()", i, role="init")
                w.line(depth + 2, f"{table}[{key}] = {s['fn']}({first}, {value})", i)
            else:
                w.line(depth + 2, f"{table}[{key}] = {value}")
            if "changed" in s:
                w.line(depth, f"{s['changed']}[{key}] = None")
        elif cls == "Count":
            w.line(depth, f"{s['acc']} += 1")
        else:  # Fold
            w.line(depth, f"{s['acc']} = {s['fn']}({s['acc']}, {rec})", i)
        if s.get("seen"):
            w.line(depth, f"{s['seen']} = True")

    for item in pre:
        if isinstance(item, tuple):
            _, m, text = item
            w.line(1, text, index[m.id], role="init")
        else:
            w.line(1, item)
    record = w.fresh("record")
    w.line(1, f"for {record} in {batch}:")
    body(region.root, record, 2)
    for text in post:
        w.line(1, text)
    ret = [w.lists[m.id] for m in region.collected]
    w.line(1, f"return {', '.join(ret)}{',' if len(ret) == 1 else ''}" if ret else "return ()")
    text = f"def {fn_name}({', '.join(params)}):\n" + "\n".join(w.lines) + "\n"
    return text, w.blame


def compile_loop(graph: Graph, region: Region, ops: list) -> Loop:
    """The local target's :class:`Loop` of ``region`` over the members' runtime objects
    ``ops`` (in region order): the same text the emitter writes, compiled in memory."""
    from hydropy.runtime import ops as runtime_ops
    name = f"{identifier(region.root.name)}_loop"
    text, blame = loop_source(graph, region, name)
    namespace = {"ops": runtime_ops}
    exec(compile(text, f"<hydropy loop {name}>", "exec"), namespace)
    return Loop(namespace[name], ops, blame)
