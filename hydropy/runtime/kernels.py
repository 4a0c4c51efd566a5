"""Numba kernels: the columnar fast path of operators over numeric streams.

Which operators run as kernels is decided by :func:`plan` from the element types of the
sources (declared with ``flow.source(name, dtype=...)`` or read off :class:`Columns`
inputs): a ``map``/``filter`` whose function Numba compiles for its input type, a
``fold_keyed``/``reduce_keyed`` over ``(int64 key, number)`` pairs whose function Numba
compiles, a ``unique`` of int64 records and a ``join`` of two streams of such pairs. Every
other operator, and one whose function Numba cannot compile (the reason is recorded), runs
as the per-record Python operator of :mod:`hydropy.runtime.ops`.

Adjacent kernel ``map``/``filter`` operators of one stage, each the only reader of the one
before, fuse into one loop. Kernel sources are written out as text (:func:`chain_source`,
:func:`keyed_source`, ...): into the stage file by the emitter, into a file under the cache
directory by the local target, so ``@njit(cache=True)`` keeps their machine code on disk.

Semantics are the Python operators' except that numbers are int64/float64 (integer
arithmetic wraps instead of growing).
"""
from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit, types

from hydropy.errors import InputError, UserCodeError
from hydropy.targets.names import Namespace, comment_text, doc_repr

from .columns import SCALARS, Columns, fields, is_tuple

_MASK63 = np.int64(0x7FFFFFFFFFFFFFFF)


# -- element types <-> Numba types ------------------------------------------------------

_NB = {"int64": types.int64, "float64": types.float64, "bool": types.boolean}


def numba_type(dtype: str):
    if is_tuple(dtype):
        return types.Tuple([_NB[f] for f in fields(dtype)])
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


_JITTED: dict = {}


def returns(fn, *argtypes):
    """The Numba type ``fn`` returns for ``argtypes``; raises NoKernel when it does not compile."""
    label = getattr(fn, "__qualname__", repr(fn))
    if isinstance(fn, type):
        raise NoKernel(f"{label} is a class, not a function")
    disp = _JITTED.get(fn)
    if disp is None:
        try:
            disp = _JITTED[fn] = njit(fn)
        except Exception as exc:
            raise NoKernel(f"Numba cannot take {label}: {_first_line(exc)}") from None
    try:
        disp.compile(tuple(argtypes))
    except Exception as exc:
        raise NoKernel(f"Numba cannot compile {label}: {_first_line(exc)}") from None
    return types.unliteral(disp.overloads[tuple(argtypes)].signature.return_type)


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
    names: dict = field(default_factory=dict)  # see unit_names

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


CHAINABLE = ("map", "filter")
KEYED_FOLDS = ("fold_keyed", "reduce_keyed")
PASS_THROUGH = ("network", "forward")


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
        if n.kind in PASS_THROUGH or n.kind == "sink":
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


def report(graph, source_dtypes: dict | None = None) -> str:
    """How each operator of ``graph`` runs, per stage: ``kernel`` (named, with its element
    types) or ``python`` with the reason; what ``hydropy explain --kernels`` prints."""
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
            how = f"kernel {kernel_name(u)} ({ins} -> {u.out_dtype}{fused})"
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
    if n.kind not in CHAINABLE + KEYED_FOLDS + ("unique", "join"):
        raise NoKernel(f"no kernel for {n.kind}")
    if any(graph.node(i).coll.kind != "stream" for i in n.inputs):
        raise NoKernel("its input is not a stream")
    for i, src in zip(n.inputs, ins):
        if src is None:
            what = graph.node(i)
            while what.kind in PASS_THROUGH:
                what = graph.node(what.inputs[0])
            if what.kind == "join":  # its (k, (x, y)) records have no column form
                raise NoKernel(f"its input, join {what.name!r}, yields (k, (x, y)) records, "
                               f"which have no column form")
            raise NoKernel("the element type of its input is unknown (declare it: "
                           "flow.source(name, dtype=...))")
    src = ins[0]
    if n.kind == "join":
        (key, x), (_, y) = _pair(ins[0]), _pair(ins[1])
        out = f"({key}, ({x}, {y}))"  # shown by explain; records, not columns, flow on
        return Mode("kernel"), Unit("join", [n], ins[0], [out], right_dtype=ins[1])
    if n.kind == "unique":
        if src != "int64":
            raise NoKernel(f"its records are {src}; the unique kernel takes int64 records")
        return Mode("kernel", dtype=src), Unit("unique", [n], src, [src])
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
    emits = any(c.kind not in ("sink", "snapshot") and not (c.kind == "lookup" and port == 1)
                for c, port in readers)
    return Mode("kernel", dtype=out), Unit(n.kind, [n], src, [out], init, emits)


def _label(fn) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _pair(dtype: str) -> tuple[str, str]:
    names = fields(dtype) if is_tuple(dtype) else ()
    if len(names) != 2:
        raise NoKernel(f"its records are {dtype}, not (key, value) pairs of numbers")
    if names[0] != "int64":
        raise NoKernel(f"its keys are {names[0]}; keyed kernels take int64 keys")
    return names


def _scalar_dtype(x) -> str:
    return {bool: "bool", int: "int64", float: "float64"}[type(x)]


def _acc_type(fn, acc, value) -> str:
    """The accumulator type: the fixed point of acc -> unify(acc, fn(acc, value))."""
    for _ in range(3):
        res = returns(fn, acc, value)
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


# -- kernel source text -------------------------------------------------------------------

def unit_names(unit: Unit) -> dict:
    """The globals of ``unit``'s code: ``"kernel"`` -> the kernel, node id -> its jitted user
    function. The emitter sets them from its module's namespace; otherwise they are made here,
    unique within the unit's own module (see :mod:`hydropy.targets.names`)."""
    if not unit.names:
        names = Namespace(("np", "njit", "probe"))
        unit.names["kernel"] = names.fresh(f"{unit.name}_kernel")
        unit.names.update((n.id, names.fresh(f"{n.name}_fn")) for n in unit.nodes if n.fns)
    return unit.names


def fn_global(unit: Unit, node) -> str:
    """The name ``unit``'s code gives the jitted function of ``node``."""
    return unit_names(unit)[node.id]


def kernel_name(unit: Unit) -> str:
    return unit_names(unit)["kernel"]


def kernel_source(unit: Unit) -> str:
    if unit.kind == "unique":
        return unique_source(unit)
    if unit.kind == "join":
        return join_source(unit)
    return chain_source(unit) if unit.kind == "chain" else keyed_source(unit)


def unique_source(unit: Unit) -> str:
    """Adds a batch of int64 records to a hash set held in arrays (see :class:`KeyedTable`),
    collecting in ``out`` those not seen before, in order; stops when the table is full.
    Returns the next record's index, the number collected and the table's key count."""
    node = unit.nodes[0]
    return "\n".join([
        "@njit(cache=True)",
        f"def {kernel_name(unit)}(tkeys, used, count, limit, out, m, keys, start):",
        f'    """unique {doc_repr(node.name)} of int64 records: those not seen before, in order."""',
        "    mask = tkeys.shape[0] - 1",
        "    for i in range(start, keys.shape[0]):",
        "        k = keys[i]",
        "        s = probe(tkeys, used, mask, k)",
        "        if not used[s]:",
        "            if count >= limit:",
        "                return i, m, count",
        "            used[s] = True",
        "            tkeys[s] = k",
        "            count += 1",
        "            out[m] = k",
        "            m += 1",
        "    return keys.shape[0], m, count",
    ]) + "\n"


def join_source(unit: Unit) -> str:
    """The pairs this tick's rows complete, as (k, x, y) columns, in the Python ``Join``'s
    order: each left row (already stored, see :class:`JoinSide`) with the stored right rows of
    its key, then each right row (stored after) with every left row of its key."""
    node = unit.nodes[0]

    def pairs(side, other, x, y, count):
        return [f"    for i in range({side}k.shape[0]):",
                f"        s = probe({other}tkeys, {other}used, {other}mask, {side}k[i])",
                f"        if {other}used[s]:",
                *([f"            n += {other}cnt[s]"] if count else [
                   f"            r = {other}head[s]",
                   "            while r >= 0:",
                   f"                ok[m], ox[m], oy[m] = {side}k[i], {x}, {y}",
                   "                m += 1",
                   f"                r = {other}nxt[r]"])]

    return "\n".join([
        "@njit(cache=True)",
        f"def {kernel_name(unit)}(ltkeys, lused, lhead, lcnt, lvals, lnxt, rtkeys, rused, rhead, rcnt,"
        f" rvals, rnxt, lk, lv, rk, rv):",
        f'    """join {doc_repr(node.name)} of {unit.in_dtype} x {unit.right_dtype} columns: the (k, x, y)'
        f' pairs this tick completes."""',
        "    lmask, rmask = ltkeys.shape[0] - 1, rtkeys.shape[0] - 1",
        "    n = 0",
        *pairs("l", "r", "lv[i]", "rvals[r]", True),
        *pairs("r", "l", "lvals[r]", "rv[i]", True),
        "    ok, ox, oy = np.empty(n, np.int64), np.empty(n, lvals.dtype), np.empty(n, rvals.dtype)",
        "    m = 0",
        *pairs("l", "r", "lv[i]", "rvals[r]", False),
        *pairs("r", "l", "lvals[r]", "rv[i]", False),
        "    return ok, ox, oy",
    ]) + "\n"


def chain_source(unit: Unit) -> str:
    """A fused loop over the input columns applying each map and filter of ``unit`` in turn."""
    ins = [f"c{i}" for i in range(len(fields(unit.in_dtype)))]
    outs = fields(unit.out_dtype)
    what = " then ".join(f"{n.kind} {doc_repr(n.name)}" for n in unit.nodes)
    lines = ["@njit(cache=True)",
             f"def {kernel_name(unit)}({', '.join(ins)}):",
             f'    """{what}: {unit.in_dtype} columns -> {unit.out_dtype} columns."""',
             f"    n = {ins[0]}.shape[0]"]
    lines += [f"    o{j} = np.empty(n, np.{SCALARS[f].__name__})" for j, f in enumerate(outs)]
    lines += ["    m = 0", "    for i in range(n):",
              f"        r0 = {ins[0]}[i]" if len(ins) == 1
              else f"        r0 = ({', '.join(f'{c}[i]' for c in ins)})"]
    cur = "r0"
    for k, node in enumerate(unit.nodes, 1):
        where = f"  # {comment_text(node.loc.short)}" if node.loc else ""
        if node.kind == "map":
            lines.append(f"        r{k} = {fn_global(unit, node)}({cur}){where}")
            cur = f"r{k}"
        else:
            lines += [f"        if not {fn_global(unit, node)}({cur}):{where}", "            continue"]
    targets = ", ".join(f"o{j}[m]" for j in range(len(outs)))
    lines += [f"        {targets} = {cur}", "        m += 1",
              f"    return ({', '.join(f'o{j}[:m]' for j in range(len(outs)))},)"]
    return "\n".join(lines) + "\n"


def keyed_source(unit: Unit) -> str:
    """Folds a batch of (key, value) columns into an open-addressing table held in arrays
    (see :class:`KeyedTable`).

    Processes records from ``start`` until the table is full or the batch ends; returns the
    next record's index, the number of keys touched this tick and the table's key count.
    """
    node = unit.nodes[0]
    fn = fn_global(unit, node)
    where = f"  # {comment_text(node.loc.short)}" if node.loc else ""
    first = f"{fn}(init, vals[i])" if unit.kind == "fold_keyed" else "vals[i]"
    track = ["touched[t] = k", "t += 1"] if unit.emits else []
    changed = ["if stamp[s] != tick:", *(f"    {x}" for x in ["stamp[s] = tick", *track])] \
        if unit.emits else []
    return "\n".join([
        "@njit(cache=True)",
        f"def {kernel_name(unit)}(tkeys, tvals, used, stamp, tick, count, limit, touched, t, keys, vals,"
        f" start, init):",
        f'    """{unit.kind} {doc_repr(node.name)} of {unit.in_dtype} columns into a hash table'
        f'{"" if unit.emits else " (no reader needs the keys it changes)"}."""',
        "    mask = tkeys.shape[0] - 1",
        "    for i in range(start, keys.shape[0]):",
        "        k = keys[i]",
        "        s = probe(tkeys, used, mask, k)",
        "        if used[s]:",
        f"            tvals[s] = {fn}(tvals[s], vals[i]){where}",
        *(f"            {x}" for x in changed),
        "        else:",
        "            if count >= limit:",
        "                return i, t, count",
        "            tkeys[s] = k",
        f"            tvals[s] = {first}",
        "            count += 1",
        "            used[s] = True",
        *(f"            {x}" for x in ["stamp[s] = tick", *track] if unit.emits),
        "    return keys.shape[0], t, count",
    ]) + "\n"


KERNEL_IMPORTS = ("import numpy as np\nfrom numba import njit\n\n"
                  "from hydropy.runtime.kernels import probe\n")


# -- jitted helpers used by the generated kernels ---------------------------------------

@njit(cache=True, inline="always")
def probe(tkeys, used, mask, k):
    """The slot of key ``k``: where it is, or the free slot where it belongs (linear probing).

    The high bits are folded into the low ones by xor-shifts, then multiplied by an odd
    constant: both are bijections on [0, capacity), so dense non-negative keys never collide,
    while keys that differ only in high bits still spread."""
    x = k ^ (k >> 32)
    x ^= x >> 16
    s = (x * 0x5851F42D4C957F2D) & mask
    while used[s] and tkeys[s] != k:
        s = (s + 1) & mask
    return s


@njit(cache=True)
def _rehash(tkeys, tvals, used, stamp, nkeys, nvals, nused, nstamp):
    mask = nkeys.shape[0] - 1
    for s in range(tkeys.shape[0]):
        if used[s]:
            d = probe(nkeys, nused, mask, tkeys[s])
            nused[d] = True
            nkeys[d] = tkeys[s]
            nvals[d] = tvals[s]
            nstamp[d] = stamp[s]


@njit(cache=True)
def _join_insert(tkeys, used, head, tail, cnt, vals, nxt, rows, nkeys, keys, values, start):
    """Appends rows from ``start`` to a :class:`JoinSide` (room for them made beforehand) until
    the batch ends or the index is full; returns the next record's index, rows and key count."""
    mask = tkeys.shape[0] - 1
    for i in range(start, keys.shape[0]):
        k = keys[i]
        s = probe(tkeys, used, mask, k)
        if used[s]:
            nxt[tail[s]] = rows
        else:
            if nkeys >= tkeys.shape[0] // 2:
                return i, rows, nkeys
            used[s] = True
            tkeys[s] = k
            head[s] = rows
            cnt[s] = 0
            nkeys += 1
        tail[s] = rows
        cnt[s] += 1
        vals[rows] = values[i]
        nxt[rows] = -1
        rows += 1
    return keys.shape[0], rows, nkeys


@njit(cache=True)
def _rehash_index(tkeys, used, head, tail, cnt, ntkeys, nused, nhead, ntail, ncnt):
    mask = ntkeys.shape[0] - 1
    for s in range(tkeys.shape[0]):
        if used[s]:
            d = probe(ntkeys, nused, mask, tkeys[s])
            nused[d] = True
            ntkeys[d], nhead[d], ntail[d], ncnt[d] = tkeys[s], head[s], tail[s], cnt[s]


@njit(cache=True)
def _gather(tkeys, tvals, used, keys):
    mask = tkeys.shape[0] - 1
    out = np.empty(keys.shape[0], tvals.dtype)
    for i in range(keys.shape[0]):
        out[i] = tvals[probe(tkeys, used, mask, keys[i])]
    return out


@njit(cache=True)
def _hash_members(keys, members):
    out = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        out[i] = (keys[i] & 0x7FFFFFFFFFFFFFFF) % members
    return out


@njit(cache=True)
def _split_order(member, members):
    """A stable counting sort of record indices by member; returns (order, offsets)."""
    counts = np.zeros(members + 1, np.int64)
    for i in range(member.shape[0]):
        counts[member[i] + 1] += 1
    for j in range(members):
        counts[j + 1] += counts[j]
    pos = counts[:-1].copy()
    order = np.empty(member.shape[0], np.int64)
    for i in range(member.shape[0]):
        order[pos[member[i]]] = i
        pos[member[i]] += 1
    return order, counts


def hash_members(keys: np.ndarray, members: int) -> np.ndarray:
    """The member of each int64 key: ``stable_hash(k) % members``, as in batch.route."""
    return _hash_members(np.asarray(keys, np.int64), members)


def split_by_hash(batch: Columns, column: int, members: int) -> list[Columns]:
    """``batch`` split by the hash of one int64 column, each part in arrival order."""
    order, offsets = _split_order(hash_members(batch.cols[column], members), members)
    return [batch.take(order[offsets[j]:offsets[j + 1]]) for j in range(members)]


# -- runtime operators -------------------------------------------------------------------

class KernelOp:
    """Base of kernel operators: ``step`` takes a list or Columns batch, returns Columns."""

    def __init__(self, kernel, unit_in: str, unit_out: str, where: str = "", loc=None):
        self.kernel, self.in_dtype, self.out_dtype = kernel, unit_in, unit_out
        self.where, self.loc = where, loc
        self.compile_seconds = 0.0

    def columns(self, batch, dtype: str | None = None) -> Columns:
        try:
            return Columns.from_records(batch, dtype or self.in_dtype)
        except ValueError as exc:
            raise InputError(f"{self.where}: {exc}", self.loc) from None

    def run(self, *args):
        try:
            return self.kernel(*args)
        except Exception as exc:
            raise UserCodeError(f"{self.where}: kernel raised {type(exc).__name__}: {exc}",
                                self.loc) from exc

    def warm_up(self) -> float:
        """Compile (or load from the disk cache) now; returns the seconds it took."""
        start = time.perf_counter()
        self.prime()
        self.compile_seconds = time.perf_counter() - start
        return self.compile_seconds


class ChainKernel(KernelOp):
    """A fused chain of map/filter: stateless."""

    def step(self, batch) -> Columns:
        cols = self.columns(batch)
        return Columns(*self.run(*cols.cols))

    def prime(self):
        self.kernel(*Columns.empty(self.in_dtype).cols)


class KeyedTable:
    """The state of a keyed fold: an open-addressing hash table in numpy arrays (picklable).

    ``used`` marks the occupied slots (a small array the probes read); ``stamp[s]`` is the
    last tick in which slot ``s`` changed, kept by kernels whose changes are read.
    Invariant: at most half the slots are used (``count <= limit``).
    """

    def __init__(self, acc_dtype: str, capacity: int = 1024):
        self.keys = np.zeros(capacity, np.int64)
        self.vals = np.zeros(capacity, SCALARS[acc_dtype])
        self.used = np.zeros(capacity, np.bool_)
        self.stamp = np.full(capacity, -1, np.int64)
        self.count = 0

    @property
    def limit(self) -> int:
        return len(self.keys) // 2

    def grow(self) -> None:
        cap = 2 * len(self.keys)
        keys, vals = np.zeros(cap, np.int64), np.zeros(cap, self.vals.dtype)
        used, stamp = np.zeros(cap, np.bool_), np.full(cap, -1, np.int64)
        _rehash(self.keys, self.vals, self.used, self.stamp, keys, vals, used, stamp)
        self.keys, self.vals, self.used, self.stamp = keys, vals, used, stamp

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, values) sorted by key."""
        keys, vals = self.keys[self.used], self.vals[self.used]
        order = np.argsort(keys)  # keys are distinct: any sort is stable
        return keys[order], vals[order]

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        return _gather(self.keys, self.vals, self.used, keys)


class KeyedKernel(KernelOp):
    """``fold_keyed``/``reduce_keyed``: ``step`` returns the (key, value) pairs changed this
    tick, in order of first change (nothing, unless ``emits``: then no operator reads them);
    ``value`` is the table as a dict."""

    def __init__(self, kernel, in_dtype: str, out_dtype: str, init=None, emits: bool = True, **kw):
        super().__init__(kernel, in_dtype, out_dtype, **kw)
        self.init, self.emits = init, emits
        self.acc = fields(out_dtype)[1]
        self.table = KeyedTable(self.acc)
        self.ticks = 0
        self._dict = None

    def step(self, batch) -> Columns:
        keys, vals = self.columns(batch).cols
        tab, start, t = self.table, 0, 0
        size = (lambda: min(len(keys), tab.limit)) if self.emits else (lambda: 0)
        touched = np.empty(size(), np.int64)  # the keys changed this tick: t <= count <= limit
        init = SCALARS[self.acc](0 if self.init is None else self.init)
        while True:
            start, t, tab.count = self.run(tab.keys, tab.vals, tab.used, tab.stamp, self.ticks,
                                           tab.count, tab.limit, touched, t, keys, vals, start, init)
            if start == len(keys):
                break
            tab.grow()
            touched = np.concatenate([touched[:t], np.empty(size() - t, np.int64)])
        self.ticks += 1
        self._dict = None
        if not self.emits:  # no operator reads the changed pairs
            return Columns.empty(self.out_dtype)
        changed = touched[:t]
        return Columns(changed, tab.lookup(changed))

    def prime(self):
        empty = Columns.empty(self.in_dtype).cols
        tab = KeyedTable(self.acc, 2)
        self.kernel(tab.keys, tab.vals, tab.used, tab.stamp, 0, 0, 1, np.empty(0, np.int64), 0,
                    *empty, 0, SCALARS[self.acc](0))
        _gather(tab.keys, tab.vals, tab.used, empty[0])

    @property
    def value(self) -> dict:
        if self._dict is None:
            keys, vals = self.table.items()
            self._dict = dict(zip(keys.tolist(), vals.tolist()))
        return self._dict

    def sorted_items(self) -> list[tuple]:
        keys, vals = self.table.items()
        return list(zip(keys.tolist(), vals.tolist()))


class UniqueKernel(KernelOp):
    """``unique`` of int64 records: the set of records seen is a :class:`KeyedTable` (its
    one-byte values unused); ``step`` returns the records not seen before, in order."""

    def __init__(self, kernel, dtype: str, **kw):
        super().__init__(kernel, dtype, dtype, **kw)
        self.table = KeyedTable("bool")

    def step(self, batch) -> Columns:
        (keys,) = self.columns(batch).cols
        tab, start, m = self.table, 0, 0
        out = np.empty(len(keys), np.int64)
        while True:
            start, m, tab.count = self.run(tab.keys, tab.used, tab.count, tab.limit, out, m, keys,
                                           start)
            if start == len(keys):
                return Columns(out[:m])
            tab.grow()

    def prime(self):
        tab = KeyedTable("bool", 2)
        empty = np.empty(0, np.int64)
        self.kernel(tab.keys, tab.used, 0, 1, empty, 0, empty, 0)


class JoinSide:
    """One side of a join in numpy arrays (picklable): rows ``vals[:rows]``, append-only, and
    an open-addressing index over their keys, at most half full (``nkeys <= limit``).

    The rows of one key form a chain in arrival order: from ``head`` of the key's slot through
    ``nxt`` (-1 ends it) to ``tail``; ``cnt`` is its length. Keys are kept in the index only."""

    def __init__(self, dtype: str, capacity: int = 1024):
        self.tkeys, self.head, self.tail, self.cnt = (np.zeros(capacity, np.int64) for _ in range(4))
        self.used = np.zeros(capacity, np.bool_)
        self.vals, self.nxt = np.zeros(capacity, SCALARS[dtype]), np.zeros(capacity, np.int64)
        self.rows = self.nkeys = 0

    @property
    def limit(self) -> int:
        return len(self.tkeys) // 2

    def index(self) -> tuple:
        """The arrays the join kernel reads."""
        return self.tkeys, self.used, self.head, self.cnt, self.vals, self.nxt

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        if self.rows + len(keys) > len(self.vals):
            cap = max(2 * len(self.vals), self.rows + len(keys))
            self.vals = np.concatenate([self.vals[:self.rows], np.zeros(cap - self.rows, self.vals.dtype)])
            self.nxt = np.concatenate([self.nxt[:self.rows], np.zeros(cap - self.rows, np.int64)])
        start = 0
        while True:
            start, self.rows, self.nkeys = _join_insert(
                self.tkeys, self.used, self.head, self.tail, self.cnt, self.vals, self.nxt,
                self.rows, self.nkeys, keys, values, start)
            if start == len(keys):
                return
            self.grow()

    def grow(self) -> None:
        cap = 2 * len(self.tkeys)
        tkeys, head, tail, cnt = (np.zeros(cap, np.int64) for _ in range(4))
        used = np.zeros(cap, np.bool_)
        _rehash_index(self.tkeys, self.used, self.head, self.tail, self.cnt, tkeys, used, head, tail, cnt)
        self.tkeys, self.used, self.head, self.tail, self.cnt = tkeys, used, head, tail, cnt


class JoinKernel(KernelOp):
    """``join`` of two ``(int64 key, number)`` streams: both sides are :class:`JoinSide`
    arrays; ``step`` returns the Python ``Join``'s records ``(k, (x, y))``, in its order.

    The output is a list of records, not Columns: columns hold flat tuples only, so operators
    after a join run as Python (``explain --kernels`` says so)."""

    def __init__(self, kernel, left_dtype: str, right_dtype: str, **kw):
        super().__init__(kernel, left_dtype, None, **kw)
        self.right_dtype = right_dtype
        self.left, self.right = JoinSide(fields(left_dtype)[1]), JoinSide(fields(right_dtype)[1])

    def step(self, left, right) -> list:
        lk, lv = self.columns(left).cols
        rk, rv = self.columns(right, self.right_dtype).cols
        self.left.insert(lk, lv)
        k, x, y = self.run(*self.left.index(), *self.right.index(), lk, lv, rk, rv)
        self.right.insert(rk, rv)
        return list(zip(k.tolist(), zip(x.tolist(), y.tolist())))

    def prime(self):
        left, right = JoinSide(fields(self.in_dtype)[1], 2), JoinSide(fields(self.right_dtype)[1], 2)
        lk, lv = Columns.empty(self.in_dtype).cols
        rk, rv = Columns.empty(self.right_dtype).cols
        left.insert(lk, lv)
        right.insert(rk, rv)
        self.kernel(*left.index(), *right.index(), lk, lv, rk, rv)


def make_kernel_op(unit: Unit, kernel, where: str = "", loc=None) -> KernelOp:
    if unit.kind == "join":
        return JoinKernel(kernel, unit.in_dtype, unit.right_dtype, where=where, loc=loc)
    if unit.kind == "unique":
        return UniqueKernel(kernel, unit.in_dtype, where=where, loc=loc)
    if unit.kind == "chain":
        return ChainKernel(kernel, unit.in_dtype, unit.out_dtype, where=where, loc=loc)
    return KeyedKernel(kernel, unit.in_dtype, unit.out_dtype, unit.init, unit.emits, where=where,
                       loc=loc)


# -- kernels of the local target: a module per unit under the cache directory -------------

def cache_dir() -> str:
    """Where the local target keeps kernel modules and their machine code
    (``$HYDROPY_CACHE_DIR``, else ``~/.cache/hydropy``)."""
    return os.environ.get("HYDROPY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hydropy")


def _fingerprint(fn) -> bytes:
    """Identifies a function by its module and name (Numba's cache refers to the functions a
    kernel calls by these), its code and the code of the global functions it names, so that
    a cached kernel is never reused after any of them changes."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn).encode()
    parts = [f"{fn.__module__}:{fn.__qualname__}".encode(), marshal.dumps(code)]
    globs = getattr(fn, "__globals__", {})
    for name in code.co_names:
        inner = getattr(globs.get(name), "__code__", None)
        if inner is not None:
            parts.append(marshal.dumps(inner))
    return b"".join(parts)


def load_local_kernel(unit: Unit):
    """The jitted kernel of ``unit`` from a module written under :func:`cache_dir`, named by a
    hash of its source, of this module (whose helpers it inlines) and of its user functions."""
    text = KERNEL_IMPORTS + "\n\n" + kernel_source(unit)
    digest = hashlib.sha256(text.encode())
    with open(__file__, "rb") as fh:  # the helpers the kernel inlines (probe) live here
        digest.update(fh.read())
    for node in unit.nodes:
        digest.update(b"".join(_fingerprint(f.obj) for f in node.fns))
    name = f"hydropy_kernel_{digest.hexdigest()[:24]}"
    folder = os.path.join(cache_dir(), "kernels")
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    for node in unit.nodes:
        if node.kind in CHAINABLE + KEYED_FOLDS:
            fn = node.fn("fn").obj
            setattr(module, fn_global(unit, node), _JITTED.get(fn) or njit(fn))
    return getattr(module, kernel_name(unit))
