"""Kernel source text: each unit of the kernel plan as the source of one ``@njit`` function.

The emitter writes these into the stage file; the local target into a module under its
cache directory (:mod:`hydropy.targets.local_kernels`), so ``@njit(cache=True)`` keeps their
machine code on disk (Numba cannot cache functions made with ``exec``). Generated kernels
call the jitted helpers of :mod:`hydropy.runtime.kernels` (``probe``) and the user's
functions, bound as module globals named by :func:`fn_global`.
"""
from __future__ import annotations

from hydropy.passes.kernel_plan import Unit
from hydropy.runtime.columns import SCALARS, fields

from .names import Namespace, comment_text, doc_repr


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


