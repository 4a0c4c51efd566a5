"""The code emitter: one readable Python module per stage, a deployment manifest, an entry point.

Layout of a compiled directory::

    deploy.yaml          stages, members, channels, routing keys, sinks, the source program
    main.py              entry point: ``python main.py [--inputs FILE] [--address ADDR]``
    program/<name>.py    a copy of the user's program (stage code imports its functions)
    stages/<stage>.py    the stage's operators as straight-line code per tick

Every file starts with ``# hydropy-generated sha256=<hash of the rest of the file>``; a
file whose text no longer matches its hash was edited by hand and is never overwritten
silently (:func:`write_compiled` refuses unless ``force``).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import keyword
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import yaml

from hydropy.errors import CompileError, LoadError
from hydropy.ir import STREAM, Graph, Node, UserFn
from hydropy.ir.ops import runtime_class
from hydropy.ir.printer import statement
from hydropy.ir.source import display_path, function_ast

HEADER = "# hydropy-generated sha256="


@dataclass
class Program:
    """The user's program file as the emitted code sees it: copied to ``program/<stem>.py`` and
    imported by the stages as ``stem``."""

    path: str
    module: str                       # the name it is loaded under in this process
    namespace: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    @property
    def import_name(self) -> str:
        """The module name the stages import the program under (not a library's name)."""
        from hydropy.runtime.host import program_module_name
        return program_module_name(self.stem, os.path.dirname(self.path))


def find_program(flow) -> Program:
    """The module that built ``flow``: its file is copied beside the stages."""
    module = sys.modules.get(flow.module or "")
    path = getattr(module, "__file__", None)
    if not path:
        raise LoadError(f"flow '{flow.name}' was not built by a program file; hydropy compiles "
                        f"programs defined in a .py file")
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise LoadError(f"program file name {os.path.basename(path)} must be a Python identifier "
                        f"to be imported by the stages")
    return Program(os.path.abspath(path), flow.module, vars(module))


def ident(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not out or out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out) or out in ("self", "ops") or hasattr(builtins, out):
        out += "_"
    return out


def class_name(stage: str) -> str:
    return "".join(part.capitalize() for part in stage.split("_") if part) + "Stage"


class StageWriter:
    """Builds the source text of one stage: imports, operator construction, tick body."""

    def __init__(self, graph: Graph, stage: str, program: Program, kernel_plan=None):
        self.graph, self.stage, self.program = graph, stage, program
        self.imports: dict[str, set[str]] = {}
        self.vars: dict[int, str] = {n.id: ident(n.name) for n in graph.nodes()}
        self.kernels = kernel_plan  # a hydropy.passes.kernel_plan.KernelPlan, or None: no kernels

    # -- references to user code --------------------------------------------------------
    def ref(self, obj, node: Node, what: str) -> str:
        """An expression naming ``obj`` (a user function or lattice class) in the stage file."""
        from hydropy.lattices import Lattice
        if _literal([obj]) is not None:  # a lattice's literal parameter (a path, a flag)
            return repr(obj)
        if isinstance(obj, type) and issubclass(obj, Lattice) and getattr(obj, "_origin", None):
            self._import(obj._origin.__module__, obj._origin.__name__)
            args = ", ".join(self.ref(p, node, what) for p in obj._params)
            return f"{obj._origin.__name__}.over({args})"
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname and "<" not in qualname:
            if module == "builtins" and getattr(builtins, qualname.split(".")[0], None) is not None:
                return qualname
            if module == self.program.module:
                if self.program.namespace.get(qualname.split(".")[0]) is not None:
                    self._import(self.program.import_name, qualname.split(".")[0])
                    return qualname
            elif module in sys.modules and _resolve(module, qualname) is obj:
                self._import(module, qualname.split(".")[0])
                return qualname
        label = UserFn.wrap(obj).label
        code = getattr(obj, "__code__", None)
        if code is None or code.co_name != "<lambda>":
            why = "it is not defined at module level of the program"
        elif code.co_freevars:
            why = f"it reads local variables ({', '.join(code.co_freevars)}) of an enclosing function"
        elif getattr(obj, "__globals__", None) is not self.program.namespace:
            why = "it is defined outside the program file"
        elif isinstance(found := function_ast(obj), str):
            why = f"its source {found}"
        else:
            tree = found.node
            params = set(found.params)
            names = {n.id for n in ast.walk(tree.body) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load) and n.id not in params}
            missing = sorted(n for n in names if n not in self.program.namespace
                             and not hasattr(builtins, n))
            if not missing:
                for name in sorted(names & set(self.program.namespace)):
                    self._import(self.program.import_name, name)
                return f"({ast.unparse(tree)})"
            why = f"it reads names that are not module-level globals ({', '.join(missing)})"
        raise CompileError(f"{node.kind} '{node.name}': its {what} {label} cannot be emitted as "
                           f"stage code: {why}; define it as a function at module level of "
                           f"{os.path.basename(self.program.path)}", node.loc)

    def kernel(self, unit) -> str:
        """Module-level code of one kernel: its user functions jitted, then the kernel."""
        from hydropy.passes.kernel_plan import fn_global
        from hydropy.targets.kernel_source import kernel_source
        jitted = [f"{fn_global(n)} = njit(cache=True)({self.ref(n.fn('fn').obj, n, 'fn')})"
                  for n in unit.nodes if n.fns]
        lines = ["", "", *jitted, *(["", ""] if jitted else []), kernel_source(unit).rstrip("\n")]
        if unit.kind != "chain":
            self._import("hydropy.runtime.kernels", "probe")
        return "\n".join(lines)

    def check_kernel_names(self, units) -> None:
        """Kernel globals must not shadow a name the stage imports from the program."""
        from hydropy.passes.kernel_plan import fn_global, kernel_name
        imported = {name for names in self.imports.values() for name in names}
        for unit in units:
            globals_ = [(n, fn_global(n)) for n in unit.nodes if n.fns] + [(unit.nodes[-1], kernel_name(unit))]
            for node, name in globals_:
                if name in imported:
                    raise CompileError(f"{node.where()}: its kernel would be named {name}, which the "
                                       f"stage also imports from the program; rename the operator "
                                       f"(name=...) or the function", node.loc)

    def kernel_op(self, unit, node: Node) -> str:
        from hydropy.passes.kernel_plan import kernel_name
        where = f"where={node.where(short=True)!r}"
        if unit.kind == "join":
            return (f"kernels.JoinKernel({kernel_name(unit)}, {unit.in_dtype!r}, {unit.right_dtype!r}, "
                    f"{where})")
        if unit.kind == "unique":
            return f"kernels.UniqueKernel({kernel_name(unit)}, {unit.in_dtype!r}, {where})"
        if unit.kind == "chain":
            return f"kernels.ChainKernel({kernel_name(unit)}, {unit.in_dtype!r}, {unit.out_dtype!r}, {where})"
        return (f"kernels.KeyedKernel({kernel_name(unit)}, {unit.in_dtype!r}, {unit.out_dtype!r}, "
                f"init={unit.init!r}, emits={unit.emits!r}, {where})")

    def _import(self, module: str, name: str) -> None:
        self.imports.setdefault(module, set()).add(name)

    # -- the stage file -------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        return [n for n in self.graph.topo_order() if n.location == self.stage]

    def render(self) -> str:
        g, stage = self.graph, self.stage
        nodes = self.nodes()
        sources = [n for n in nodes if n.kind == "source"]
        chans_in = [n for n in nodes if n.kind == "network"]
        chans_out = [n for n in g.nodes() if n.kind == "network" and n.location != stage
                     and g.node(n.inputs[0]).location == stage]
        cycles = [n for n in nodes if n.kind == "cycle"]
        sinks = [n for n in nodes if n.kind == "sink"]

        init, body, kernel_defs = [], [], []
        units = self.kernels.units if self.kernels else {}
        absorbed = self.kernels.absorbed if self.kernels else set()
        for n in nodes:
            var = self.vars[n.id]
            comment = f"        # {n.loc.short if n.loc else '?'}  {statement(self.graph, n)}"
            ins = [self.vars[i] for i in n.inputs]
            if n.kind in ("source", "network"):
                continue
            if n.id in absorbed:
                last = next(u.nodes[-1] for u in units.values() if n in u.nodes)
                body.append(f"{comment}  (fused into {self.vars[last.id]})")
                continue
            if n.id in units:
                unit = units[n.id]
                kernel_defs.append(self.kernel(unit))
                init.append(f"        self.{var} = {self.kernel_op(unit, n)}")
                first = [self.vars[i] for i in unit.nodes[0].inputs]
                body += [comment, f"        {var} = self.{var}.step({', '.join(first)})"]
                continue
            if n.kind == "source_iter":
                values = n.params["values"]
                if _literal(values) is None:
                    raise CompileError(f"{n.where()}: its values are not Python literals, so they "
                                       f"cannot be written into stage code", n.loc)
                body += [comment, f"        {var} = self.first_tick({_literal(values)})"]
            elif n.kind == "cycle":
                body += [comment + "  (records fed back last tick)",
                         f"        {var} = self.take_cycle({var!r})"]
            elif n.kind == "sink":
                src = g.node(n.inputs[0])
                if src.coll.kind == STREAM:
                    body += [comment,
                             f"        self.emit({n.params['name']!r}, {ins[0]})"]
            else:
                if n.kind == "fused":
                    args = [f"({kind!r}, {self.ref(f.obj, n, kind)}, {where!r})"
                            for (kind, where), f in zip(n.params["steps"], n.fns)]
                else:
                    args = [self.ref(f.obj, n, role) for (role, _), f in zip(n.spec.fns, n.fns)]
                    args += [self.ref(n.params[p], n, p) if p == "lattice" else repr(n.params[p])
                             for p in n.spec.params]
                cls = runtime_class(n.kind, n.coll)
                args.append(f"where={n.where(short=True)!r}")
                call = (", ".join(args) if n.kind != "fused" else  # a chain: one step per line
                        "\n            " + ",\n            ".join(args))
                init.append(f"        self.{var} = ops.{cls}({call})")
                if n.kind in ("snapshot", "lookup"):
                    ins[-1] = f"self.{ins[-1]}"
                body += [comment, f"        {var} = self.{var}.step({', '.join(ins)})"]
        for n in cycles:
            body.append(f"        self.feed_cycle({self.vars[n.id]!r}, {self.vars[n.inputs[0]]})")
        out = ", ".join(f"{n.name!r}: {self.vars[n.inputs[0]]}" for n in chans_out)
        body.append(f"        return {{{out}}}")

        channels_out = {n.name: (n.params["routing"], _key(n)) for n in chans_out}
        params = [self.vars[n.id] for n in sources + chans_in]
        inputs = {(n.params["name"] if n.kind == "source" else n.name): self.vars[n.id]
                  for n in sources + chans_in}
        sink_table = {n.params["name"]: (g.node(n.inputs[0]).coll.kind, self.vars[n.inputs[0]])
                      for n in sinks}
        cls = class_name(stage)
        lines = [
            f'"""Stage {stage!r} of flow {g.name!r}, compiled by hydropy from '
            f'{os.path.basename(self.program.path)}.',
            "",
            "Each tick takes the batch that arrived on every input below, runs the operators in",
            "order once, and returns the records for each outgoing channel. Edit freely: hydropy",
            "runs this file as it is on disk and will not overwrite it silently.",
            '"""',
            "from hydropy.runtime import ops",
            "from hydropy.runtime.stage import Stage",
        ]
        for module in sorted(self.imports):
            lines.append(f"from {module} import {', '.join(sorted(self.imports[module]))}")
        if kernel_defs:
            self.check_kernel_names([u for u in units.values() if u.nodes[-1].location == stage])
            at = lines.index("from hydropy.runtime import ops")
            chains = any(u.kind in ("chain", "join") and u.nodes[-1].location == stage  # np.empty
                         for u in units.values())
            uses_ops = any(" = ops." in line for line in init)
            lines[at:at + 1] = [*(["import numpy as np"] if chains else []), "from numba import njit", "",
                                f"from hydropy.runtime import kernels{', ops' if uses_ops else ''}"]
            lines += ["", "", "# Numba kernels; their machine code is cached in __pycache__ beside this file.",
                      *kernel_defs]
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
            *(["        self.warm_up()"] if kernel_defs else []),
            "",
            f"    def tick(self, {', '.join(params)}):" if params else "    def tick(self):",
            *body,
            "",
            "",
            f"STAGE = {cls}",
        ]
        return "\n".join(lines) + "\n"


def _key(net: Node):
    key = net.params.get("key")
    return tuple(key) if key is not None else None


def _resolve(module: str, qualname: str):
    obj = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _literal(values) -> str | None:
    text = repr(tuple(values))
    try:
        return text if ast.literal_eval(text) == tuple(values) else None
    except (ValueError, SyntaxError, TypeError):
        return None


def with_header(text: str) -> str:
    return f"{HEADER}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def edited(path: str) -> bool:
    """True when a generated file's text no longer matches the hash in its header."""
    with open(path, encoding="utf-8") as fh:
        first, _, rest = fh.read().partition("\n")
    if not first.startswith(HEADER):
        return True
    return first[len(HEADER):] != hashlib.sha256(rest.encode()).hexdigest()


def emit(graph: Graph, program: Program, program_arg: str) -> dict[str, str]:
    """Relative path -> file text for every file of the compiled directory."""
    files: dict[str, str] = {}
    plan = None
    if any(n.kind == "source" and n.coll.dtype for n in graph.nodes()):
        from hydropy.passes.kernel_plan import plan as kernel_plan
        plan = kernel_plan(graph)
    for stage in graph.locations():
        files[f"stages/{stage}.py"] = with_header(StageWriter(graph, stage, program, plan).render())
    with open(program.path, encoding="utf-8") as fh:
        files[f"program/{program.stem}.py"] = fh.read()
    files["deploy.yaml"] = with_header(yaml.safe_dump(manifest(graph, program, program_arg),
                                                      sort_keys=False))
    files["main.py"] = with_header(MAIN_PY.format(flow=graph.name))
    return files


def manifest(graph: Graph, program: Program, program_arg: str) -> dict:
    return {
        "flow": graph.name,
        "program": program_arg,
        "module": program.import_name,
        "stages": [{"name": s, "file": f"stages/{s}.py", "class": class_name(s),
                    "members": graph.members_of(s),
                    **({"resizable": True} if graph.members_of(s) > 1 else {}),
                    "sources": [{"name": n.params["name"],
                                 "routing": n.params.get("routing", "round_robin"),
                                 "key": _key(n) and list(_key(n))}
                                for n in graph.nodes() if n.kind == "source" and n.location == s]}
                   for s in graph.locations()],
        "channels": [{"name": n.name, "from": graph.node(n.inputs[0]).location, "to": n.location,
                      "operator": graph.node(n.inputs[0]).where(short=True),
                      "routing": n.params["routing"],
                      "key": list(n.params["key"]) if n.params["key"] is not None else None}
                     for n in graph.nodes() if n.kind == "network"],
        "sinks": {n.params["name"]: {"stage": n.location, "kind": graph.node(n.inputs[0]).coll.kind,
                                     "ordered": bool(graph.node(n.inputs[0]).coll.ordered)}
                  for n in graph.sinks()},
    }


MAIN_PY = '''"""Run the compiled flow {flow!r} on Ray.

    python main.py [--inputs FILE] [--address ADDR] [--format text|json]

starts a local Ray unless --address names a running cluster; the same as
``hydropy run <this directory>``.
"""
import os
import sys

from hydropy.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", os.path.dirname(os.path.abspath(__file__)), *sys.argv[1:]]))
'''


def write_compiled(files: dict[str, str], out_dir: str, force: bool = False) -> None:
    """Write ``files`` under ``out_dir`` all at once: into a temporary sibling, then swapped in.

    Refuses (nothing written) when ``out_dir`` holds something other than a compiled program,
    or generated files that were edited by hand, unless ``force``.
    """
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise LoadError(f"{display_path(out_dir)} exists and is not a directory")
        is_compiled = os.path.isfile(os.path.join(out_dir, "deploy.yaml"))
        if os.listdir(out_dir) and not is_compiled and not force:
            raise LoadError(f"{display_path(out_dir)} is not empty and holds no compiled program; "
                            f"choose another directory or pass --force")
        changed = sorted(rel for rel in _generated_files(out_dir) if edited(os.path.join(out_dir, rel)))
        if changed and not force:
            raise LoadError(f"{display_path(out_dir)} has hand-edited files ({', '.join(changed)}); "
                            f"compile elsewhere or pass --force to overwrite them")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".hydropy-", dir=parent)
    try:
        for rel, text in files.items():
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".hydropy-old-", dir=parent)
            os.rename(out_dir, os.path.join(old, "d"))
            os.rename(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _generated_files(out_dir: str) -> list[str]:
    rels = []
    for root, _, names in os.walk(out_dir):
        for name in names:
            if name.endswith((".py", ".yaml")) and "__pycache__" not in root:
                rel = os.path.relpath(os.path.join(root, name), out_dir)
                if not rel.startswith("program" + os.sep):
                    rels.append(rel)
    return rels
