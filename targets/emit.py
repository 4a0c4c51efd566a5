"""The code emitter: one readable Python module per stage, a deployment manifest, an entry point.

Layout of a compiled directory::

    deploy.yaml            stages, members, channels, routing keys, sinks, the source program
    main.py                entry point: ``python main.py [--inputs FILE] [--address ADDR]``
    program/<name>.py      a copy of the user's program (stage code imports its functions)
    program/<helpers>      the program's own modules it imported from its directory
                           (:func:`helper_modules`), importable by their names in the members
    stages/<stage>.py      the stage's operators as straight-line code per tick
    .hydropy-manifest.json every file above with its sha256 (see :mod:`hydropy.targets.output`)

Every identifier a stage module defines comes from one :class:`~.names.Namespace` (unique,
never a keyword, builtin, import or Stage attribute); every user string is written with
``repr`` or made comment-safe. Every generated file but the program copy starts with
``# hydropy-generated sha256=<hash of the rest of the file>``; a file whose text no longer
matches was edited by hand and is never overwritten silently (:func:`write_compiled` refuses
unless ``force``, and then keeps the edited copy as ``FILE.orig``).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import keyword
import math
import os
import sys
from dataclasses import dataclass, field

import yaml

from hydropy.errors import CompileError, LoadError
from hydropy.ir import STREAM, Graph, Node, UserFn
from hydropy.ir.ops import ENTRIES, READS, runtime_class
from hydropy.ir.printer import statement
from hydropy.ir.source import display_path, function_ast

from .loops import find_regions, loop_source
from .names import Namespace, closure_literal, comment_text, doc_repr, doc_text, identifier
from .output import write_compiled  # noqa: F401  (the API: emit() then write_compiled())
from .shipping import helper_modules

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
    if not stem.isidentifier() or keyword.iskeyword(stem) or identifier(stem) != stem:
        raise LoadError(f"program file name {os.path.basename(path)} must be a Python identifier "
                        f"to be imported by the stages")
    return Program(os.path.abspath(path), flow.module, vars(module))


RUNTIME_NAMES = ("ops", "Stage", "np", "njit", "kernels", "STAGE")  # a stage module's own


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
        self.imports: dict[str, set[str]] = {}
        self.vars: dict[int, str] = {}
        self.kernels = kernel_plan  # a hydropy.passes.kernel_plan.KernelPlan, or None: no kernels
        self.class_name = ""

    # -- references to user code --------------------------------------------------------
    def ref(self, obj, node: Node, what: str) -> str:
        """An expression naming ``obj`` (a user function or lattice class) in the stage file."""
        from hydropy.lattices import Lattice
        if _literal([obj]) is not None:  # a lattice's literal parameter (a path, a flag)
            return repr(obj)
        if isinstance(obj, type) and issubclass(obj, Lattice) and getattr(obj, "_origin", None):
            local = self._import(obj._origin.__module__, obj._origin.__name__, obj._origin)
            args = ", ".join(self.ref(p, node, what) for p in obj._params)
            return f"{local}.over({args})"
        owner = getattr(obj, "__objclass__", None)  # a method of a builtin type: str.split
        if owner is not None and getattr(builtins, owner.__name__, None) is owner:
            return f"{owner.__name__}.{obj.__name__}"
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname and "<" not in qualname:
            head, dot, rest = qualname.partition(".")
            if module == "builtins" and getattr(builtins, head, None) is not None:
                return qualname
            if module == self.program.module:
                if self.program.namespace.get(head) is not None:
                    return self._import(self.program.import_name, head, self.program.namespace[head]) + dot + rest
            elif module in sys.modules and _resolve(module, qualname) is obj:
                return self._import(module, head, getattr(sys.modules[module], head)) + dot + rest
        label = UserFn.wrap(obj).label
        code = getattr(obj, "__code__", None)
        if code is None or (code.co_name != "<lambda>" and "<locals>" not in (qualname or "")):
            why = "it is not defined at module level of the program"
        elif os.path.realpath(getattr(obj, "__globals__", {}).get("__file__") or "") != \
                os.path.realpath(self.program.path):  # its globals are not the program's module
            why = "it is defined outside the program file"
        elif isinstance(found := function_ast(obj), str):
            why = f"its source {found}"
        else:
            why = self._closure_reason(obj, found, node, what, label)
            if why is None:
                return self._closure(obj, found)
        raise CompileError(f"{node.kind} '{node.name}': its {what} {label} cannot be emitted as "
                           f"stage code: {why}; define it as a function at module level of "
                           f"{os.path.basename(self.program.path)}", node.loc)

    def _closure_reason(self, obj, found, node: Node, what: str, label: str) -> str | None:
        """Why the lambda or nested function ``obj`` cannot be written into stage code, or None:
        the names it reads are its parameters, its own locals, module globals of the program
        (imported), builtins, or variables of enclosing functions holding simple values
        (:func:`~.names.closure_literal`); its defaults are such values too."""
        tree = found.node
        params = {a.arg for a in ast.walk(tree.args) if isinstance(a, ast.arg)}
        body = tree.body if isinstance(tree, ast.Lambda) else ast.Module(found.body, [])
        local = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, (ast.Store, ast.Del))}
        names = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load)} - params - local
        cells = _cells(obj)
        for name in sorted(names & set(cells)):
            if closure_literal(cells[name]) is None:
                return (f"it reads {name}, a variable of an enclosing function holding "
                        f"{_a_value(cells[name])}, which cannot be written as a Python literal "
                        f"read back exactly")
        for value in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
            if closure_literal(value) is None:
                return f"a default value of its parameters ({_a_value(value)}) cannot be written as a literal"
        missing = sorted(n for n in names - set(cells) if n not in self.program.namespace
                         and not hasattr(builtins, n))
        if missing:
            return f"it reads names that are not module-level globals ({', '.join(missing)})"
        for name in sorted((names - set(cells)) & set(self.program.namespace)):
            if self._import(self.program.import_name, name, self.program.namespace[name]) != name:
                raise CompileError(f"{node.kind} '{node.name}': its {what} {label} reads the "
                                   f"global {name}, a name the stage module needs for "
                                   f"something else; rename that global", node.loc)
        return None

    def _closure(self, obj, found) -> str:
        """A lambda or nested function as an expression of the stage module: its text, its
        defaults and the enclosing variables it reads written as literals (bound by an
        enclosing lambda); a nested ``def`` is written at module level (``self.defs``)."""
        tree = _with_literal_defaults(found.node, obj)
        cells = {k: v for k, v in _cells(obj).items() if k in obj.__code__.co_freevars}
        free = sorted(cells)
        if isinstance(tree, ast.Lambda):
            text = ast.unparse(tree)
            if not free:
                return f"({text})"
            return (f"((lambda {', '.join(free)}: ({text}))"
                    f"({', '.join(closure_literal(cells[n]) for n in free)}))")
        name = self.import_names.fresh(tree.name)
        self.bound[name] = ("<closure>", obj)
        tree = ast.FunctionDef(name=tree.name, args=tree.args, body=tree.body, decorator_list=[],
                               returns=tree.returns, type_comment=None, type_params=[])
        inner = ast.unparse(ast.fix_missing_locations(tree))
        lines = [f"def {name}({', '.join(free)}):",
                 f"    \"\"\"{tree.name} as defined in a function of the program, with the values it "
                 f"reads from there.\"\"\"",
                 *("    " + line for line in inner.splitlines()),
                 f"    return {tree.name}", "", "",
                 f"{name} = {name}({', '.join(closure_literal(cells[n]) for n in free)})"]
        self.defs.append("\n".join(lines))
        return name

    def _import(self, module: str, name: str, obj) -> str:
        """Imports ``name`` from ``module``; returns its name in the stage module: ``name``, or
        an alias when the module already uses ``name`` for something else."""
        if (module, name) in self.aliases:
            return self.aliases[(module, name)]
        bound = self.bound.get(name)
        free = bound is None and (name not in RUNTIME_NAMES or runtime_object(name) is obj)
        local = name if free or (bound is not None and bound[1] is obj) else self.import_names.fresh(name)
        self.aliases[(module, name)] = local
        self.bound[local] = (module, obj)
        self.import_names.reserve(local)
        self.imports.setdefault(module, set()).add(name if local == name else f"{name} as {local}")
        return local

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
        self.bound, self.aliases, self.imports, self.defs = {}, {}, {}, []
        self.import_names = Namespace([*RUNTIME_NAMES, self.program.import_name])
        jitted = {n.id: self.ref(n.fn("fn").obj, n, "fn") for u in units.values() for n in u.nodes if n.fns}
        built = {n.id: self.constructor(n) for n in nodes if n.id not in units and n.id not in absorbed}
        for n in nodes:
            if n.kind == "source_iter" and _literal(n.params["values"]) is None:
                raise CompileError(f"{n.where()}: its values are not Python literals, so they "
                                   f"cannot be written into stage code", n.loc)

        # 2. every identifier the module defines, from one namespace
        names = Namespace([*RUNTIME_NAMES, *stage_attributes(), self.program.stem, *self.bound])
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
                body += [comment, f"        {var} = self.first_tick({_literal(n.params['values'])})"]
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

        channels_out = {n.name: (n.params["routing"], _key(n)) for n in chans_out}
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
        for module in sorted(self.imports):
            lines.append(f"from {module} import {', '.join(sorted(self.imports[module]))}")
        for text in self.defs:  # functions of the program defined inside its functions
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


def runtime_object(name: str):
    """What a stage module's own name (:data:`RUNTIME_NAMES`) denotes; a program global that is
    the very same object may be imported under that name too."""
    import numba
    import numpy
    from hydropy.runtime import kernels, ops, stage
    return {"ops": ops, "Stage": stage.Stage, "np": numpy, "njit": numba.njit,
            "kernels": kernels}.get(name, name)


def _number(x) -> str:
    """A number (or None) as a Python expression: ``float('inf')`` and ``float('nan')`` have
    no literal."""
    return f"float({repr(x)!r})" if isinstance(x, float) and not math.isfinite(x) else repr(x)


def _key(net: Node):
    key = net.params.get("key")
    return tuple(key) if key is not None else None


def _resolve(module: str, qualname: str):
    obj = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _cells(fn) -> dict:
    """The variables of enclosing functions ``fn`` reads: name -> value (unset cells left out)."""
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            pass
    return out


def _a_value(value) -> str:
    return f"a {type(value).__name__} {_short(repr(value))}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _with_literal_defaults(tree, fn):
    """``tree`` (a lambda or def) with its default values written as the literals they are
    (a default such as ``k=k`` names a variable the stage module does not have)."""
    import copy
    tree = copy.deepcopy(tree)
    args = tree.args
    defaults = fn.__defaults__ or ()
    if defaults:
        args.defaults = [ast.parse(closure_literal(v), mode="eval").body for v in defaults]
    kw = fn.__kwdefaults__ or {}
    args.kw_defaults = [ast.parse(closure_literal(kw[a.arg]), mode="eval").body if a.arg in kw else None
                        for a in args.kwonlyargs]
    return tree


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
    layout = {}
    for stage, path in stage_files(graph).items():
        writer = StageWriter(graph, stage, program, plan)
        files[path] = with_header(writer.render())
        layout[stage] = (path, writer.class_name)
    for rel, path in {f"{program.stem}.py": program.path, **helper_modules(program)}.items():
        try:
            with open(path, encoding="utf-8") as fh:
                files[f"program/{rel}"] = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise LoadError(f"cannot copy the program {display_path(path)}: {exc}") from None
    files["deploy.yaml"] = with_header(yaml.safe_dump(manifest(graph, program, program_arg, layout),
                                                      sort_keys=False))
    files["main.py"] = with_header(MAIN_PY.format(flow=doc_repr(graph.name)))
    return files


def manifest(graph: Graph, program: Program, program_arg: str,
             layout: dict[str, tuple[str, str]]) -> dict:
    """deploy.yaml: ``layout`` maps each stage to its file and class."""
    return {
        "flow": graph.name,
        "program": program_arg,
        "module": program.import_name,
        "stages": [{"name": s, "file": layout[s][0], "class": layout[s][1],
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


MAIN_PY = '''"""Run the compiled flow {flow} on Ray.

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
