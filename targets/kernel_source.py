"""Kernel source text: the ``@njit`` function a unit of the kernel plan needs in its module.

A fused map/filter chain is one generated loop; a keyed fold is a one-line kernel binding the
user's function to the runtime's :func:`~hydropy.runtime.kernels.keyed_fold` (Numba caches a
function taking a jitted function as an argument only in the kernel that binds it); a
``unique`` or ``join`` needs no code (its runtime helper takes no user function).

The emitter writes these into the stage file; the local target into a module under its
cache directory (:mod:`hydropy.targets.local_kernels`), so ``@njit(cache=True)`` keeps their
machine code on disk (Numba cannot cache functions made with ``exec``). The user's functions
are bound as module globals named by :func:`fn_global`.
"""
from __future__ import annotations

from hydropy.passes.kernel_plan import Unit
from hydropy.runtime.columns import SCALARS, fields, is_tuple, leaf_paths, leaves

from .names import Namespace, comment_text, doc_repr


def unit_names(unit: Unit) -> dict:
    """The globals of ``unit``'s code: ``"kernel"`` -> the kernel, node id -> its jitted user
    function. The emitter sets them from its module's namespace; otherwise they are made here,
    unique within the unit's own module (see :mod:`hydropy.targets.names`)."""
    if not unit.names:
        names = Namespace(("np", "njit", "kernels"))
        unit.names["kernel"] = names.fresh(f"{unit.name}_kernel")
        unit.names.update((n.id, names.fresh(f"{n.name}_fn")) for n in unit.nodes if n.fns)
    return unit.names


def fn_global(unit: Unit, node) -> str:
    """The name ``unit``'s code gives the jitted function of ``node``."""
    return unit_names(unit)[node.id]


def kernel_name(unit: Unit) -> str:
    return unit_names(unit)["kernel"]


def has_source(unit: Unit) -> bool:
    """Whether ``unit`` needs a kernel of its own (else its runtime helper runs as it is)."""
    return unit.helper is None


def kernel_source(unit: Unit) -> str:
    return chain_source(unit) if unit.kind == "chain" else keyed_source(unit)


def chain_source(unit: Unit) -> str:
    """A fused loop over the input columns applying each map and filter of ``unit`` in turn
    (a nested record, a join's ``(k, (x, y))``, is rebuilt from its leaf columns and taken
    apart again by index paths)."""
    ins = [f"c{i}" for i in range(len(leaves(unit.in_dtype)))]
    outs = leaves(unit.out_dtype)
    what = " then ".join(f"{n.kind} {doc_repr(n.name)}" for n in unit.nodes)
    lines = ["@njit(cache=True)",
             f"def {kernel_name(unit)}({', '.join(ins)}):",
             f'    """{what}: {unit.in_dtype} columns -> {unit.out_dtype} columns."""',
             f"    n = {ins[0]}.shape[0]"]
    lines += [f"    o{j} = np.empty(n, np.{SCALARS[f].__name__})" for j, f in enumerate(outs)]
    lines += ["    m = 0", "    for i in range(n):", f"        r0 = {_record(unit.in_dtype, iter(ins))}"]
    cur = "r0"
    for k, node in enumerate(unit.nodes, 1):
        where = f"  # {comment_text(node.loc.short)}" if node.loc else ""
        if node.kind == "map":
            lines.append(f"        r{k} = {fn_global(unit, node)}({cur}){where}")
            cur = f"r{k}"
        else:
            lines += [f"        if not {fn_global(unit, node)}({cur}):{where}", "            continue"]
    if len(outs) == 1 or not any(len(p) > 1 for p in leaf_paths(unit.out_dtype)):
        lines.append(f"        {', '.join(f'o{j}[m]' for j in range(len(outs)))} = {cur}")
    else:
        lines += [f"        o{j}[m] = {cur}{''.join(f'[{i}]' for i in path)}"
                  for j, path in enumerate(leaf_paths(unit.out_dtype))]
    lines += ["        m += 1",
              f"    return ({', '.join(f'o{j}[:m]' for j in range(len(outs)))},)"]
    return "\n".join(lines) + "\n"


def _record(dtype: str, columns) -> str:
    """The expression of a record of ``dtype`` at row ``i`` of ``columns`` (taken in order)."""
    if not is_tuple(dtype):
        return f"{next(columns)}[i]"
    return "(" + ", ".join(_record(f, columns) for f in fields(dtype)) + ")"


def keyed_source(unit: Unit) -> str:
    """``fold_keyed``/``reduce_keyed``: :func:`~hydropy.runtime.kernels.keyed_fold` with the
    user's function bound (see :class:`~hydropy.runtime.kernels.KeyedKernel`)."""
    node = unit.nodes[0]
    where = f"  # {comment_text(node.loc.short)}" if node.loc else ""
    reduce = unit.kind == "reduce_keyed"
    return "\n".join([
        "@njit(cache=True)",
        f"def {kernel_name(unit)}(init, tkeys, tvals, used, count, keys, vals, start):",
        f'    """{unit.kind} {doc_repr(node.name)}: {unit.in_dtype} columns folded into a hash table."""',
        f"    return kernels.keyed_fold({fn_global(unit, node)}, init, {reduce}, tkeys, tvals, used, "
        f"count, keys, vals, start){where}",
    ]) + "\n"


KERNEL_IMPORTS = ("import numpy as np\nfrom numba import njit\n\n"
                  "from hydropy.runtime import kernels\n")
