"""The text of one stage module: its operators built once, then straight-line code per tick.

A stage module (``stages/<stage>.py``) imports the user code its operators hold
(:class:`~.references.References`), defines the Numba kernels of the stage
(:mod:`~.kernel_source`) and one generated loop per chain of per-record Python operators
(:mod:`~.loops`), and a :class:`~hydropy.runtime.stage.Stage` subclass whose ``tick`` runs the
stage's operators in topological order on the batch of each input and returns the records
for each outgoing channel.

Invariant: every identifier a stage module defines comes from one :class:`~.names.Namespace`
(unique, never a keyword, builtin, import, runtime name or Stage attribute); every user string
is written with ``repr`` or made comment-safe.
"""
from __future__ import annotations

import math
import os

from hydropy.errors import CompileError
from hydropy.ir import STREAM, Graph, Node
from hydropy.ir.ops import ENTRIES, READS, runtime_class
from hydropy.ir.printer import statement

from .loops import find_regions, loop_source
from .names import Namespace, comment_text, doc_repr, doc_text, identifier
from .program import Program
from .references import RUNTIME_NAMES, References, literal


def stage_attributes() -> set[str]:
    """Every attribute and method of the Stage base class and of its instances (read from
    the class, so a new one is never shadowed by an operator named like it)."""
    from hydropy.runtime.stage import Stage
    return set(dir(Stage)) | set(vars(Stage()))


def class_name(stage: str) -> str:
    """The stage class's wanted name (the module's :class:`Namespace` makes it unique)."""
    return "".join(part[:1].upper() + part[1:] for part in identifier(stage).split("_") if part) + "Stage"


def stage_files(graph: Graph) -> dict[str, str]:
    """stage -> its file, ``stages/<name>.py``: an identifier close to the stage's name, unique
    even on a case-insensitive file system."""
    names = Namespace(casefold=True)
    return {stage: f"stages/{names.fresh(stage)}.py" for stage in graph.locations()}


class StageWriter:
    """Builds the source text of one stage: imports, operator construction, tick body.

    User code is referenced first (that fixes the imports); then every identifier the module
    defines comes from one :class:`Namespace` that reserves the imports, the runtime's names,
    the program's module name and the Stage base class's attributes.
    """

    def __init__(self, graph: Graph, stage: str, program: Program, kernel_plan=None):
        self.graph, self.stage, self.program = graph, stage, program
        self.refs = References(program)  # replaced by each render()
        self.vars: dict[int, str] = {}
        self.kernels = kernel_plan  # a hydropy.passes.kernel_plan.KernelPlan, or None: no kernels
        self.class_name = ""

    def kernel(self, unit, jitted: dict[int, str]) -> str:
        """Module-level code of one kernel: its user functions jitted, then the kernel."""
        from hydropy.targets.kernel_source import fn_global, kernel_source
        lines = [f"{fn_global(unit, n)} = njit(cache=True)({jitted[n.id]})" for n in unit.nodes if n.fns]
        return "\n".join(["", "", *lines, *(["", ""] if lines else []), kernel_source(unit).rstrip("\n")])

    def kernel_op(self, unit, node: Node) -> str:
        from hydropy.targets.kernel_source import kernel_name
        where = f"where={node.where(short=True)!r}"
        if unit.kind == "join":
            return f"kernels.JoinKernel({unit.in_dtype!r}, {unit.right_dtype!r}, {where})"
        if unit.kind == "unique":
            return f"kernels.UniqueKernel({unit.in_dtype!r}, {where})"
        if unit.kind == "chain":
            return f"kernels.ChainKernel({kernel_name(unit)}, {unit.in_dtype!r}, {unit.out_dtype!r}, {where})"
        return (f"kernels.KeyedKernel({kernel_name(unit)}, {unit.in_dtype!r}, {unit.out_dtype!r}, "
                f"init={_number(unit.init)}, emits={unit.emits!r}, {where})")

    # -- the stage file -------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        return [n for n in self.graph.topo_order() if n.location == self.stage]

    def constructor(self, n: Node) -> str | None:
        """The operator object ``n`` needs (user code referenced, hence imported), or None."""
        if n.spec.runtime is None or n.kind == "network":  # the stage runs these itself
            return None
        if n.kind == "fused":
            args = [f"({kind!r}, {self.refs.ref(f.obj, n, kind)}, {where!r})"
                    for (kind, where), f in zip(n.params["steps"], n.fns)]
        else:
            args = [self.refs.ref(f.obj, n, role) for (role, _), f in zip(n.spec.fns, n.fns)]
            args += [self.refs.ref(n.params[p], n, p) if p == "lattice" else repr(n.params[p])
                     for p in n.spec.params]
        cls = runtime_class(n.kind, n.coll)
        args.append(f"where={n.where(short=True)!r}")
        call = (", ".join(args) if n.kind != "fused" else  # a chain: one step per line
                "\n            " + ",\n            ".join(args))
        return f"ops.{cls}({call})"

    def render(self) -> str:
        g, stage = self.graph, self.stage
        nodes = self.nodes()
        sources = [n for n in nodes if n.kind == "source"]
        chans_in = [n for n in nodes if n.kind == "network"]
        chans_out = [n for n in g.nodes() if n.kind == "network" and n.location != stage
                     and g.node(n.inputs[0]).location == stage]
        cycles = [n for n in nodes if n.kind == "cycle"]
        sinks = [n for n in nodes if n.kind == "sink"]
        units = {i: u for i, u in (self.kernels.units if self.kernels else {}).items()
                 if u.nodes[-1].location == stage}
        absorbed = self.kernels.absorbed if self.kernels else set()
        if units:  # numba: imported only for stages with kernels
            from hydropy.targets.kernel_source import has_source

        # 1. user code, which fixes the imports
        refs = self.refs = References(self.program)
        jitted = {n.id: self.refs.ref(n.fn("fn").obj, n, "fn") for u in units.values() for n in u.nodes if n.fns}
        built = {n.id: self.constructor(n) for n in nodes if n.id not in units and n.id not in absorbed}
        for n in nodes:
            if n.kind == "source_iter" and literal(n.params["values"]) is None:
                raise CompileError(f"{n.where()}: its values are not Python literals, so they "
                                   f"cannot be written into stage code", n.loc)

        # 2. every identifier the module defines, from one namespace
        names = Namespace([*RUNTIME_NAMES, *stage_attributes(), self.program.stem, *refs.bound])
        cls = self.class_name = names.fresh(class_name(stage))
        self.vars = {n.id: names.fresh(n.name) for n in nodes if n.kind != "sink" and n.id not in absorbed}
        # chains of per-record Python operators: one generated loop each (targets/loops.py)
        regions = {r.root.id: r for r in find_regions(g, [n for n in nodes if n.id in built])}
        in_loop = {m.id: r for r in regions.values() for m in r.nodes[1:]}
        loop_names = {rid: names.fresh(f"{r.root.name}_loop") for rid, r in regions.items()}
        loop_attrs = {rid: names.fresh(f"{r.root.name}_loop_op") for rid, r in regions.items()}
        for unit in (u for u in units.values() if has_source(u)):
            unit.names = {"kernel": names.fresh(f"{unit.name}_kernel")}
            unit.names.update((n.id, names.fresh(f"{n.name}_fn")) for n in unit.nodes if n.fns)

        # 3. the text
        init, body, kernel_defs, loop_defs, loop_inits = [], [], [], [], []
        for n in nodes:
            if n.kind in ENTRIES:
                continue
            var = self.vars.get(n.id)
            comment = "        # " + comment_text(f"{n.loc.short if n.loc else '?'}  {statement(g, n)}")
            ins = [self.vars.get(i) for i in n.inputs]  # an absorbed input has none
            if n.id in absorbed:
                last = next(u.nodes[-1] for u in units.values() if n in u.nodes)
                body.append(f"{comment}  (fused into {self.vars[last.id]})")
            elif n.id in units:
                unit = units[n.id]
                if has_source(unit):
                    kernel_defs.append(self.kernel(unit, jitted))
                init.append(f"        self.{var} = {self.kernel_op(unit, n)}")
                first = [self.vars[i] for i in unit.nodes[0].inputs]
                body += [comment, f"        {var} = self.{var}.step({', '.join(first)})"]
            elif n.kind == "source_iter":
                body += [comment, f"        {var} = self.first_tick({literal(n.params['values'])})"]
            elif n.kind == "cycle":
                body += [comment + "  (records fed back last tick)",
                         f"        {var} = self.take_cycle({var!r})"]
            elif n.kind == "sink":
                if g.node(n.inputs[0]).coll.kind == STREAM:
                    body += [comment, f"        self.emit({n.params['name']!r}, {ins[0]})"]
            else:
                init.append(f"        self.{var} = {built[n.id]}")
                if n.id in in_loop:
                    body.append(f"{comment}  (in {loop_names[in_loop[n.id].root.id]})")
                elif n.id in regions:
                    region, fn = regions[n.id], loop_names[n.id]
                    text, blame = loop_source(g, region, fn)
                    loop_defs.append(text)
                    members = ", ".join(f"self.{self.vars[m.id]}" for m in region.nodes)
                    attr = loop_attrs[n.id]
                    loop_inits.append(f"        self.{attr} = ops.Loop({fn}, ({members},), {blame!r})")
                    outs = "".join(f"{self.vars[m.id]}, " for m in region.collected)
                    with_others = "with the operators below, " if len(region.nodes) > 1 else ""
                    body += [f"{comment}  ({with_others}in {fn})",
                             f"        {outs}{'= ' if outs else ''}self.{attr}.step({ins[0]})"]
                else:
                    if n.kind in READS:
                        ins[-1] = f"self.{ins[-1]}"
                    body += [comment, f"        {var} = self.{var}.step({', '.join(ins)})"]
        for n in cycles:
            body.append(f"        self.feed_cycle({self.vars[n.id]!r}, {self.vars[n.inputs[0]]})")
        out = ", ".join(f"{n.name!r}: {self.vars[n.inputs[0]]}" for n in chans_out)
        body.append(f"        return {{{out}}}")

        channels_out = {n.name: (n.params["routing"], channel_key(n)) for n in chans_out}
        params = [self.vars[n.id] for n in sources + chans_in]
        inputs = {(n.params["name"] if n.kind == "source" else n.name): self.vars[n.id]
                  for n in sources + chans_in}
        sink_table = {n.params["name"]: (g.node(n.inputs[0]).coll.kind, self.vars[n.inputs[0]])
                      for n in sinks}
        lines = [
            f'"""Stage {doc_repr(stage)} of flow {doc_repr(g.name)}, compiled by hydropy from '
            f'{doc_text(os.path.basename(self.program.path))}.',
            "",
            "Each tick takes the batch that arrived on every input below, runs the operators in",
            "order once, and returns the records for each outgoing channel. Edit freely: hydropy",
            "runs this file as it is on disk and will not overwrite it silently.",
            '"""',
            "from hydropy.runtime import ops",
            "from hydropy.runtime.stage import Stage",
        ]
        for module in sorted(refs.imports):
            lines.append(f"from {module} import {', '.join(sorted(refs.imports[module]))}")
        for text in refs.defs:  # functions of the program defined inside its functions
            lines += ["", "", text]
        if units:
            at = lines.index("from hydropy.runtime import ops")
            chains = any(u.kind == "chain" for u in units.values())  # np.empty
            uses_ops = any(" = ops." in line for line in init)
            lines[at:at + 1] = [*(["import numpy as np"] if chains else []),
                                *(["from numba import njit", ""] if kernel_defs else []),
                                f"from hydropy.runtime import kernels{', ops' if uses_ops else ''}"]
        if kernel_defs:
            lines += ["", "", "# Numba kernels; their machine code is cached in __pycache__ beside this file.",
                      *kernel_defs]
        for text in loop_defs:
            lines += ["", "", *text.rstrip("\n").split("\n")]
        lines += [
            "",
            "",
            f"class {cls}(Stage):",
            f"    NAME = {stage!r}",
            f"    INPUTS = {inputs!r}",
            f"    CHANNELS_OUT = {channels_out!r}",
            f"    SINKS = {sink_table!r}",
            f"    CYCLES = {tuple(self.vars[n.id] for n in cycles)!r}",
            "",
            "    def __init__(self, member=0, members=1, receivers=None):",
            "        super().__init__(member, members, receivers)",
            *init,
            *loop_inits,
            *(["        self.warm_up()"] if units else []),
            "",
            f"    def tick(self, {', '.join(params)}):" if params else "    def tick(self):",
            *body,
            "",
            "",
            f"STAGE = {cls}",
        ]
        return "\n".join(lines) + "\n"


def _number(x) -> str:
    """A number (or None) as a Python expression: ``float('inf')`` and ``float('nan')`` have
    no literal."""
    return f"float({repr(x)!r})" if isinstance(x, float) and not math.isfinite(x) else repr(x)


def channel_key(net: Node) -> tuple | None:
    """A channel's routing key (field positions) as a tuple, or None: not routed by key."""
    key = net.params.get("key")
    return tuple(key) if key is not None else None
