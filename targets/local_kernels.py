"""The local target's kernels: one module per kernel unit under the cache directory, and the
runtime operator that runs it."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import marshal
import os
import sys

from numba import njit

from hydropy.passes.kernel_plan import JITTED, Unit
from hydropy.runtime import kernels as runtime_kernels
from hydropy.runtime.kernels import ChainKernel, JoinKernel, KernelOp, KeyedKernel, UniqueKernel

from .kernel_source import KERNEL_IMPORTS, fn_global, has_source, kernel_name, kernel_source


def make_kernel_op(unit: Unit, kernel=None, where: str = "", loc=None) -> KernelOp:
    """The runtime operator of ``unit``; ``kernel`` is its code (:func:`load_local_kernel`),
    None for the kinds whose runtime helper runs as it is."""
    if unit.kind == "join":
        return JoinKernel(unit.in_dtype, unit.right_dtype, where=where, loc=loc)
    if unit.kind == "unique":
        return UniqueKernel(unit.in_dtype, where=where, loc=loc)
    if unit.kind == "chain":
        return ChainKernel(kernel, unit.in_dtype, unit.out_dtype, where=where, loc=loc)
    return KeyedKernel(kernel, unit.in_dtype, unit.out_dtype, unit.init, unit.emits, where=where,
                       loc=loc)


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


@functools.cache
def _runtime_digest() -> bytes:
    """The hash of the runtime module's source (read once per process: it is not edited
    while it runs)."""
    with open(runtime_kernels.__file__, "rb") as fh:
        return hashlib.sha256(fh.read()).digest()


def load_local_kernel(unit: Unit):
    """The jitted kernel of ``unit`` from a module written under :func:`cache_dir`, named by a
    hash of its source, of the runtime module whose helpers it inlines and of its user
    functions; None when the unit has none (:func:`has_source`)."""
    if not has_source(unit):
        return None
    text = KERNEL_IMPORTS + "\n\n" + kernel_source(unit)
    digest = hashlib.sha256(text.encode())
    digest.update(_runtime_digest())  # the helpers the kernel inlines
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
        if node.spec.kernel in ("chain", "keyed_fold"):
            fn = node.fn("fn").obj
            setattr(module, fn_global(unit, node), JITTED.get(fn) or njit(fn))
    return getattr(module, kernel_name(unit))

