"""Which functions a user function may call and still be a function of its records.

Determinism (what key lineage's Derived promises): the same inputs give the same value in every
process of one run. ``id()``, and every function of ``random``, ``time``, ``uuid``, ``os``,
``secrets``, ``datetime`` (``now``, ``today``, ...) are not: calling them gives Unknown, naming
the function, so no analysis that reasons about keys (partitioning through a computed key,
functional dependencies) relies on them. ``hash()`` of a str, bytes or a tuple of them differs
between Python processes unless they share ``PYTHONHASHSEED``; hydropy counts it (and the
iteration order of sets of strings) as deterministic because every process of one run shares
one seed: the local target and the simulator run in one process, and the Ray target starts the
driver's actors with one ``PYTHONHASHSEED``. A target that cannot promise this must not run a
design whose keys were moved through ``hash()`` (see docs/rewrites.md, ``partition``).
"""
from __future__ import annotations

import builtins
import types

#: builtins whose result is a deterministic function of their arguments (``hash``: within a
#: run, whose processes share one PYTHONHASHSEED; see the module docstring)
PURE_BUILTINS = frozenset({
    "abs", "bool", "chr", "divmod", "float", "frozenset", "hash", "int", "len", "max", "min",
    "ord", "repr", "round", "sorted", "str", "sum", "tuple",
})
#: modules whose functions give values that differ between calls, runs or processes
NONDETERMINISTIC_MODULES = frozenset({
    "random", "_random", "time", "uuid", "os", "posix", "nt", "secrets", "datetime", "_datetime",
    "_pydatetime", "socket", "threading", "_thread", "tempfile", "numpy.random"})
#: builtins that differ between processes (an object's address) or calls
NONDETERMINISTIC_BUILTINS = frozenset({"id", "input", "open", "globals", "locals", "vars", "iter",
                                       "next", "object"})
#: standard modules whose functions are deterministic functions of their arguments
DETERMINISTIC_MODULES = frozenset({
    "math", "cmath", "operator", "_operator", "string", "re", "hashlib", "_hashlib", "zlib",
    "binascii", "unicodedata", "_sha1", "_sha2", "_sha256", "_md5", "_blake2", "_sha3",
    "bisect", "_bisect", "json", "struct", "_struct"})
#: methods of built-in value types (str, bytes, numbers, tuple, frozenset, and the reading
#: methods of dict and list) that compute a value without changing their receiver
VALUE_METHODS = frozenset(
    {m for t in (str, bytes, int, float, tuple, frozenset) for m in dir(t) if not m.startswith("_")}
    | {"get", "keys", "values", "items", "copy", "index", "count", "hexdigest", "digest"})


def is_nondeterministic(obj) -> bool:
    """``obj`` (a function found by name) gives values that differ between calls or processes."""
    module = origin_module(obj)
    return module in NONDETERMINISTIC_MODULES or module.split(".")[0] in NONDETERMINISTIC_MODULES or (
        module == "builtins" and getattr(obj, "__name__", "") in NONDETERMINISTIC_BUILTINS)


def is_deterministic_function(obj) -> bool:
    """``obj`` is a function (not a class) of a standard module whose functions are
    deterministic functions of their arguments."""
    return origin_module(obj) in DETERMINISTIC_MODULES and callable(obj) and not isinstance(obj, type)


def origin_module(obj) -> str:
    """The module that defines ``obj`` (for a bound method, its receiver's module)."""
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, types.ModuleType):
        return owner.__name__
    if owner is not None and not isinstance(owner, types.ModuleType):
        return origin_module(owner if isinstance(owner, type) else type(owner))
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return getattr(obj, "__module__", None) or ""


def plain_data(value, frozen: bool, depth: int = 0) -> bool:
    """``value`` is made of numbers, strings, bytes, None and (``frozen``: immutable) containers."""
    if depth > 4:
        return False
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    kinds = (tuple, frozenset) if frozen else (tuple, frozenset, list, set, dict)
    if not isinstance(value, kinds) or len(value) > 100_000:
        return False
    items = list(value.items()) if isinstance(value, dict) else value
    return all(plain_data(i, frozen, depth + 1) for i in items)


def calls_hash(fn, depth: int = 0) -> bool:
    """Whether ``fn`` (a Python function) may call the builtin ``hash``: by name in its code (nested
    functions and lambdas included) where its module does not rebind the name, or through a
    function of its module it names (read up to a few levels). Conservative: a name is enough."""
    code, globals_ = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None or depth > 4:
        return False
    names: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    if "hash" in names and globals_.get("hash", builtins.hash) is builtins.hash:
        return True
    return any(calls_hash(globals_[n], depth + 1) for n in names
               if isinstance(globals_.get(n), types.FunctionType) and globals_[n] is not fn)
