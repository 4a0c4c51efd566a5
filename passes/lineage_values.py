"""The abstract values of key lineage, and the lineage of one function built from them.

A record is a tree of positions. A *path* is a tuple of tuple indices: ``()`` is the
whole record, ``(0,)`` its field 0, ``(1, 0)`` field 0 of field 1. For a function of
arity n > 1 the first index picks the argument (``(1, 0)``: field 0 of the second argument).

The abstract value of an expression is one of

* :class:`Field` -- exactly the input found at a path;
* :class:`Const` -- a constant;
* :class:`Derived` -- a deterministic function of the inputs at some paths, and of nothing else;
* :class:`Record` -- a tuple (or list) built by the function, one value per field;
* :class:`Unknown` -- anything the analysis does not follow, with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

Path = tuple[int, ...]


@dataclass(frozen=True)
class Field:
    """Exactly the input at ``path``."""

    path: Path


@dataclass(frozen=True)
class Const:
    """A constant."""

    value: Any


@dataclass(frozen=True)
class Derived:
    """A deterministic function of the inputs at ``deps`` (no path in ``deps`` is a prefix of another)."""

    deps: frozenset[Path]


@dataclass(frozen=True)
class Record:
    """A tuple built by the function: ``items[i]`` is the value of field ``i``."""

    items: tuple["Value", ...]


@dataclass(frozen=True)
class Unknown:
    """Not followed by the analysis; ``reason`` says why in a few words."""

    reason: str


Value = Field | Const | Derived | Record | Unknown


def at(value: Value, path: Path) -> Value:
    """The abstract value at ``path`` inside ``value`` (Unknown where it cannot be told)."""
    for i in path:
        if isinstance(value, Record):
            if not 0 <= i < len(value.items):
                return Unknown(f"takes field {i} of a {len(value.items)}-tuple")
            value = value.items[i]
        elif isinstance(value, Field):
            value = Field(value.path + (i,))
        elif isinstance(value, Const):
            if not (isinstance(value.value, tuple) and 0 <= i < len(value.value)):
                return Unknown(f"takes field {i} of the constant {value.value!r}")
            value = Const(value.value[i])
        else:  # a part of a function of some inputs is a function of them; Unknown stays
            return value
    return value


def deps(value: Value) -> frozenset[Path] | None:
    """The input paths ``value`` is a function of, or None when it is Unknown anywhere."""
    if isinstance(value, Field):
        return frozenset({value.path})
    if isinstance(value, Const):
        return frozenset()
    if isinstance(value, Derived):
        return value.deps
    if isinstance(value, Record):
        out: set[Path] = set()
        for item in value.items:
            d = deps(item)
            if d is None:
                return None
            out |= d
        return frozenset(out)
    return None


def first_unknown(values: Iterable[Value]) -> Unknown | None:
    for v in values:
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Record):
            u = first_unknown(v.items)
            if u is not None:
                return u
    return None


def derived(values: Iterable[Value], extra: frozenset[Path] | None = frozenset()) -> Value:
    """A deterministic function of ``values`` (and of the inputs at ``extra``)."""
    values = list(values)
    if extra is None:
        return Unknown("depends on a condition the analysis cannot follow")
    out = set(extra)
    for v in values:
        d = deps(v)
        if d is None:
            return first_unknown(values) or Unknown("unknown operand")
        out |= d
    return Derived(_minimal(out))


def _minimal(paths: Iterable[Path]) -> frozenset[Path]:
    """Drop every path that has a proper prefix in the set (a function of x is one of x[0] too)."""
    paths = set(paths)
    return frozenset(p for p in paths if not any(p[:k] in paths for k in range(len(p))))


def merge(values: list[Value], cond: frozenset[Path] | None) -> Value:
    """The value of an expression that is one of ``values``, chosen by inputs at ``cond``.

    Equal alternatives stay as they are; tuples of one length merge field by field; anything
    else becomes a function of all alternatives and the condition (Unknown if any is)."""
    if all(v == values[0] for v in values):
        return values[0]
    if all(isinstance(v, Record) and len(v.items) == len(values[0].items) for v in values):
        return Record(tuple(merge([v.items[i] for v in values], cond)
                            for i in range(len(values[0].items))))
    if cond is None:
        return first_unknown(values) or Unknown("chooses by a condition the analysis cannot follow")
    return derived(values, cond)



@dataclass(frozen=True)
class Lineage:
    """What a user function's output is made of, in terms of its inputs.

    ``value`` is the abstract output (for a flat_map: of each element); ``params`` names the
    arguments for printing (empty when the function could not be read)."""

    value: Value
    arity: int = 1
    params: tuple[str, ...] = ()

    def at(self, path: Path) -> Value:
        return at(self.value, path)

    def input_path(self, path: Path) -> Path | None:
        """The input path copied unchanged to output ``path``, or None."""
        v = self.at(path)
        return v.path if isinstance(v, Field) else None

    def positions(self) -> tuple[tuple[Path, Value], ...]:
        """The leaves of the output tree: ``(output path, value)`` in field order."""
        out: list[tuple[Path, Value]] = []

        def walk(v: Value, path: Path) -> None:
            if isinstance(v, Record):
                for i, item in enumerate(v.items):
                    walk(item, path + (i,))
            else:
                out.append((path, v))
        walk(self.value, ())
        return tuple(out)

    def unknowns(self) -> tuple[tuple[Path, str], ...]:
        return tuple((p, v.reason) for p, v in self.positions() if isinstance(v, Unknown))

    def format_path(self, path: Path) -> str:
        """``kq[1][0]`` for path (1, 0) of a function ``lambda kq: ...``."""
        if self.arity > 1 and path:
            root = self.params[path[0]] if path[0] < len(self.params) else f"arg{path[0]}"
            path = path[1:]
        else:
            root = self.params[0] if self.params else "x"
        return root + "".join(f"[{i}]" for i in path)

    def format(self, value: Value | None = None) -> str:
        """The output as an expression: ``(kq[1][0], kq[0], ?)``; ``f(x[0])`` for a function of x[0]."""
        v = self.value if value is None else value
        if isinstance(v, Field):
            return self.format_path(v.path)
        if isinstance(v, Const):
            return repr(v.value)
        if isinstance(v, Derived):
            return f"f({', '.join(self.format_path(p) for p in sorted(v.deps))})"
        if isinstance(v, Record):
            inner = ", ".join(self.format(i) for i in v.items)
            return f"({inner},)" if len(v.items) == 1 else f"({inner})"
        return "?"

    def __str__(self) -> str:
        return self.format()


def substitute(value: Value, inner: Value) -> Value:
    """``value`` (in terms of a function's input) in terms of what ``inner`` is made of: the
    lineage of ``f(g(x))`` from that of ``f`` (``value``) and of ``g`` (``inner``)."""
    if isinstance(value, Field):
        return at(inner, value.path)
    if isinstance(value, Record):
        return Record(tuple(substitute(v, inner) for v in value.items))
    if isinstance(value, Derived):
        return derived([at(inner, p) for p in value.deps])
    return value
