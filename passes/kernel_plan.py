"""The kernel plan: which operators run as Numba kernels, and with which element types.

From the element types of the sources (declared with ``flow.source(name, dtype=...)`` or
read off :class:`~hydropy.runtime.columns.Columns` inputs), :func:`plan` types each user
function with Numba and picks each operator's mode: a ``map``/``filter`` whose function
Numba compiles for its input type, a ``fold_keyed``/``reduce_keyed`` over ``(int64 key,
number)`` pairs, a ``unique`` of int64 records and a ``join`` of two streams of such pairs
(which kinds can, is the spec's ``kernel`` fact). A join's ``(k, (x, y))`` records stay
columns (a nested element type), so a ``map``/``filter`` after it runs as a kernel too, and a
``count`` of them is the batch's length. Adjacent kernel ``map``/``filter``
operators of one stage, each the only reader of the one before, fuse into one unit (one
loop). Every other operator, and one whose function Numba cannot compile (the reason is
recorded and shown by ``explain --kernels``), runs as the per-record Python operator.
The plan reads the graph and never changes it.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

from numba import njit, types

from hydropy.ir.ops import IDENTITIES
from hydropy.runtime.columns import fields, is_tuple


# -- element types <-> Numba types ------------------------------------------------------

_NB = {"int64": types.int64, "float64": types.float64, "bool": types.boolean}


def numba_type(dtype: str):
    """The Numba type of a record of ``dtype`` (nested tuples for a join's ``(k, (x, y))``)."""
    if is_tuple(dtype):
        return types.Tuple([numba_type(f) for f in fields(dtype)])
    return _NB[dtype]


def dtype_of(t) -> str | None:
    """The element type of values of Numba type ``t``, or None when it has no column form."""
    if isinstance(t, types.Boolean):
        return "bool"
    if t == types.int64 or t == types.float64:
        return str(t)
    if isinstance(t, types.BaseTuple) and len(t) >= 2:
        names = [dtype_of(x) for x in t]
        if all(n is not None and not is_tuple(n) for n in names):
            return "(" + ", ".join(names) + ")"
    return None


class NoKernel(Exception):
    """Why an operator runs as Python (the message is shown by ``explain --kernels``)."""


JITTED: dict = {}


def returns(fn, *argtypes):
    """The Numba type ``fn`` returns for ``argtypes``; raises NoKernel when it does not compile."""
    label = getattr(fn, "__qualname__", repr(fn))
    if isinstance(fn, type):
        raise NoKernel(f"{label} is a class, not a function")
    disp = JITTED.get(fn)
    if disp is None:
        try:
            disp = JITTED[fn] = njit(fn)
        except Exception as exc:
            raise NoKernel(f"Numba cannot take {label}: {_first_line(exc)}") from None
    try:
        disp.compile(tuple(argtypes))
    except Exception as exc:
        raise NoKernel(f"Numba cannot compile {label}: {_first_line(exc)}") from None
    compiled = disp.overloads[tuple(argtypes)]
    why = differs_from_python(compiled.type_annotation)
    if why:
        raise NoKernel(f"{label} {why}, where Numba's result differs from Python's")
    return types.unliteral(compiled.signature.return_type)


#: math functions whose kernel result equals Python's on every float (others raise in
#: Python on some inputs, e.g. sqrt(-1.0) or sin(inf), where Numba returns NaN)
SAFE_MATH = frozenset({"fabs", "copysign", "isnan", "isinf", "isfinite"})
_COMPARISONS = frozenset({operator.lt, operator.le, operator.gt, operator.ge, operator.eq,
                          operator.ne})
_SHIFTS = frozenset({operator.rshift, operator.lshift, operator.irshift, operator.ilshift})
_POWERS = frozenset({operator.pow, operator.ipow})
_DIVISIONS = frozenset({operator.truediv, operator.itruediv})


def _is_int(t) -> bool:
    return isinstance(t, types.Integer) and not isinstance(t, types.Boolean)


def _literal(t):
    return t.literal_value if isinstance(t, types.IntegerLiteral) else None


def _shown(t) -> str:
    """A Numba type as a reader knows it: a literal's value, else the type's name."""
    return repr(t.literal_value) if isinstance(t, types.Literal) else str(t)


def differs_from_python(annotation) -> str:
    """Where the typed function computes something Python would not (besides int64
    wraparound, the one documented difference), the operation in words; "" when nowhere.

    Read from Numba's typed IR of the compiled function: powers other than by a literal
    non-negative int (Python gives floats or complex numbers, or raises, where Numba gives 0
    or NaN), shifts other than by a literal 0..63 (Python's are unbounded), an int64 compared
    with a float64 (Python compares exactly, Numba after rounding the int), int / int other
    than by a literal power of two (Python rounds the exact quotient once, Numba twice past
    2**53), ``int()`` or ``round()`` of a float (NaN and infinities raise in Python, large
    values grow), and math functions that raise in Python on some floats."""
    typemap = annotation.typemap
    for block in annotation.blocks.values():
        for stmt in block.body:
            expr = getattr(stmt, "value", None)
            if getattr(expr, "op", None) in ("binop", "inplace_binop"):
                lhs, rhs = typemap[expr.lhs.name], typemap[expr.rhs.name]
                left, right = _shown(lhs), _shown(rhs)
                amount = _literal(rhs)
                if expr.fn in _POWERS and (amount is None or amount < 0):
                    return f"raises {left} to the power of {right}"
                if expr.fn in _SHIFTS and (amount is None or not 0 <= amount <= 63):
                    return f"shifts {left} by {right}"
                if expr.fn in _COMPARISONS and {_is_int(lhs), _is_int(rhs)} == {True, False} and \
                        isinstance(lhs if _is_int(rhs) else rhs, types.Float):
                    return f"compares {left} with {right}"
                if expr.fn in _DIVISIONS and _is_int(lhs) and _is_int(rhs) and (
                        amount is None or amount <= 0 or amount & (amount - 1)):
                    return f"divides {left} by {right}"
            elif getattr(expr, "op", None) == "call":
                fn = typemap[expr.func.name]
                key = getattr(fn, "typing_key", None)
                args = [typemap[a.name] for a in expr.args]
                if key in (int, round) and any(isinstance(a, types.Float) for a in args):
                    return f"calls {key.__name__}() on a float"
                if getattr(key, "__module__", None) == "math" and key.__name__ not in SAFE_MATH:
                    return f"calls math.{key.__name__}"
    return ""


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()
             and not ln.startswith(("Failed in", "During:", "File "))]
    return (lines[0] if lines else type(exc).__name__)[:160]


# -- the plan: which operators are kernels --------------------------------------------

@dataclass
class Mode:
    """How one operator runs: ``kernel`` or ``python`` (with the reason), its output type."""

    mode: str
    reason: str = ""
    dtype: str | None = None


@dataclass
class Unit:
    """One kernel: a fused chain of map/filter nodes, one keyed fold, one unique or one join.

    ``dtypes[i]`` is the element type after ``nodes[i]``; ``init`` the fold's initial value;
    ``emits``: some operator reads the pairs a keyed fold changes per tick (sinks, snapshot
    and lookup read its state instead), so its kernel must track them.
    """

    kind: str                      # "chain", the keyed fold's kind, or "unique"
    nodes: list
    in_dtype: str
    dtypes: list = field(default_factory=list)
    init: object = None
    emits: bool = True
    right_dtype: str | None = None  # a join's right input
    names: dict = field(default_factory=dict)  # globals of its code (targets.kernel_source.unit_names)
    helper: str | None = None  # the runtime helper it runs as it is (no code of its own), if any

    @property
    def out_dtype(self) -> str:
        return self.dtypes[-1]

    @property
    def name(self) -> str:
        return "_".join(n.name for n in self.nodes)


@dataclass
class KernelPlan:
    modes: dict            # node id -> Mode
    units: dict            # id of a unit's last node -> Unit
    absorbed: set          # ids of nodes run inside a later node's unit


def plan(graph, source_dtypes: dict | None = None) -> KernelPlan:
    """Element types and modes of every operator of ``graph``; sources take their declared
    dtype, else the one in ``source_dtypes`` (input name -> dtype)."""
    source_dtypes = source_dtypes or {}
    dtype: dict[int, str | None] = {}
    modes: dict[int, Mode] = {}
    units: dict[int, Unit] = {}
    absorbed: set[int] = set()
    for n in graph.topo_order():
        ins = [dtype.get(i) for i in n.inputs]
        if n.kind == "source":
            dtype[n.id] = n.coll.dtype or source_dtypes.get(n.params["name"])
            continue
        if n.kind in IDENTITIES or n.kind == "sink":
            dtype[n.id] = ins[0] if ins else None
            continue
        try:
            mode, unit = _mode(graph, n, ins)
        except NoKernel as why:
            mode, unit = Mode("python", str(why)), None
        modes[n.id], dtype[n.id] = mode, mode.dtype
        if unit is None:
            continue
        prev = units.get(n.inputs[0])
        if (unit.kind == "chain" and prev is not None and prev.kind == "chain"
                and prev.nodes[-1].location == n.location
                and len(graph.consumers(prev.nodes[-1].id)) == 1):
            del units[n.inputs[0]]
            absorbed.add(prev.nodes[-1].id)
            prev.nodes.append(n)
            prev.dtypes.append(mode.dtype)
            unit = prev
        units[n.id] = unit
    return KernelPlan(modes, units, absorbed)


def report_data(graph, source_dtypes: dict | None = None) -> dict:
    """Each operator's mode as data (``explain --format json --kernels``)."""
    kp = plan(graph, source_dtypes)
    return {graph.node(i).name: {"mode": m.mode, "reason": m.reason or None, "dtype": m.dtype}
            for i, m in kp.modes.items()}


def report(graph, source_dtypes: dict | None = None) -> str:
    """How each operator of ``graph`` runs, per stage: ``kernel`` (named, with its element
    types) or ``python`` with the reason; what ``hydropy explain --kernels`` prints."""
    from hydropy.targets.kernel_source import has_source, kernel_name  # it imports this module
    kp = plan(graph, source_dtypes)
    unit_of = {n.id: u for u in kp.units.values() for n in u.nodes}
    rows: dict[str, list[tuple[str, ...]]] = {}
    for n in graph.topo_order():
        mode = kp.modes.get(n.id)
        if mode is None:
            continue
        if mode.mode == "kernel":
            u = unit_of[n.id]
            fused = f", fused: {' + '.join(x.name for x in u.nodes)}" if len(u.nodes) > 1 else ""
            ins = u.in_dtype if u.right_dtype is None else f"{u.in_dtype} x {u.right_dtype}"
            name = kernel_name(u) if has_source(u) else f"kernels.{u.helper}"
            how = f"kernel {name} ({ins} -> {u.out_dtype}{fused})"
        else:
            how = f"python: {mode.reason}"
        rows.setdefault(n.location, []).append((n.name, n.kind, how))
    out = ["kernels:"]
    for stage, items in rows.items():
        out.append(f"  stage {stage}:")
        wn, wk = (max(len(row[i]) for row in items) for i in (0, 1))
        out += [f"    {name:{wn}}  {kind:{wk}}  {how}" for name, kind, how in items]
    return "\n".join(out) + "\n"


def _mode(graph, n, ins) -> tuple[Mode, Unit | None]:
    if n.spec.kernel is None:
        raise NoKernel(f"no kernel for {n.kind}")
    if any(graph.node(i).coll.kind != "stream" for i in n.inputs):
        raise NoKernel("its input is not a stream")
    for i, src in zip(n.inputs, ins):
        if src is None:
            what = graph.node(i)
            while what.kind in IDENTITIES:
                what = graph.node(what.inputs[0])
            if what.kind == "join":  # a join that runs as Python yields Python tuples
                raise NoKernel(f"its input, join {what.name!r}, runs as Python (its records "
                               f"are Python tuples)")
            raise NoKernel("the element type of its input is unknown (declare it: "
                           "flow.source(name, dtype=...))")
    src = ins[0]
    if n.kind == "join":
        (key, x), (_, y) = _pair(ins[0]), _pair(ins[1])
        out = f"({key}, ({x}, {y}))"  # nested columns: k, x, y
        return Mode("kernel", dtype=out), Unit("join", [n], ins[0], [out], right_dtype=ins[1],
                                               helper="join_pairs")
    if n.kind == "unique":
        if src != "int64":
            raise NoKernel(f"its records are {src}; the unique kernel takes int64 records")
        return Mode("kernel", dtype=src), Unit("unique", [n], src, [src], helper="unique_insert")
    fn = n.fn("fn").obj
    if n.kind == "map":
        out = dtype_of(returns(fn, numba_type(src)))
        if out is None:
            raise NoKernel(f"{_label(fn)} returns {returns(fn, numba_type(src))}, which has no "
                           f"column form (int64, float64, bool or a flat tuple of them)")
        return Mode("kernel", dtype=out), Unit("chain", [n], src, [out])
    if n.kind == "filter":
        res = returns(fn, numba_type(src))
        if not isinstance(res, (types.Boolean, types.Integer, types.Float)):
            raise NoKernel(f"{_label(fn)} returns {res}, not a truth value")
        return Mode("kernel", dtype=src), Unit("chain", [n], src, [src])
    key, value = _pair(src)
    if n.kind == "fold_keyed":
        try:
            init = n.fn("init").obj()
        except Exception as exc:
            raise NoKernel(f"init raised {type(exc).__name__}: {exc}") from None
        if type(init) not in (int, float, bool):
            raise NoKernel(f"init returns {type(init).__name__}, not a number")
        acc = _acc_type(fn, numba_type(_scalar_dtype(init)), _NB[value])
    else:
        init, acc = None, _acc_type(fn, _NB[value], _NB[value])
    out = f"({key}, {acc})"
    readers = [(c, port) for c in graph.consumers(n.id) for port, i in enumerate(c.inputs) if i == n.id]
    emits = any(c.kind != "sink" and c.spec.read_port != port  # reads its changes, not its state
                for c, port in readers)
    return Mode("kernel", dtype=out), Unit(n.kind, [n], src, [out], init, emits)


def _label(fn) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _pair(dtype: str) -> tuple[str, str]:
    names = fields(dtype) if is_tuple(dtype) else ()
    if len(names) != 2 or is_tuple(names[1]):
        raise NoKernel(f"its records are {dtype}, not (key, value) pairs of numbers")
    if names[0] != "int64":
        raise NoKernel(f"its keys are {names[0]}; keyed kernels take int64 keys")
    return names


def _scalar_dtype(x) -> str:
    return {bool: "bool", int: "int64", float: "float64"}[type(x)]


def _acc_type(fn, acc, value) -> str:
    """The accumulator type: the fixed point of acc -> unify(acc, fn(acc, value)). A function
    that turns a float accumulator into an int is refused: in Python the accumulator then
    holds an int (exact past 2**53, shown without ``.0``), in the kernel a float."""
    for _ in range(3):
        res = returns(fn, acc, value)
        if isinstance(acc, types.Float) and _is_int(types.unliteral(res)):
            raise NoKernel(f"{_label(fn)} returns {types.unliteral(res)} from a {acc} accumulator, "
                           f"so Python's accumulator changes type where the kernel's cannot")
        merged = types.unliteral(res) if res == acc else _unify(acc, res)
        if merged == acc:
            name = dtype_of(acc)
            if name is None or is_tuple(name):
                raise NoKernel(f"{_label(fn)} accumulates {acc}, not a number")
            return name
        acc = merged
    raise NoKernel(f"the accumulator type of {_label(fn)} does not settle")


def _unify(a, b):
    from numba.core.registry import cpu_target
    merged = cpu_target.typing_context.unify_pairs(a, b)
    if merged is None or not isinstance(merged, (types.Integer, types.Float, types.Boolean)):
        raise NoKernel(f"the accumulator changes type from {a} to {b}")
    return merged
