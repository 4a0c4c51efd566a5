"""A lifted function's result in the form of its flow's sinks, so the two can be compared.

A dict is a keyed sink (its ``(key, value)`` pairs sorted by key, as the local target shows
them), a list an ordered stream, a set a stream of distinct records (compared as a set), any
other value a singleton ``[value]``.
"""
from __future__ import annotations

from typing import Any, Mapping

from hydropy.errors import InputError
from hydropy.runtime.ops import sorted_items

KEYED, SET, LIST, VALUE = "keyed", "set", "list", "value"


def _set_order(records) -> list:
    try:
        return sorted(records)
    except TypeError:
        return sorted(records, key=repr)


def as_sink(kind: str, value: Any) -> list:
    """One returned accumulator as the sink of ``kind`` shows it (sets in a canonical order)."""
    if kind == KEYED:
        return sorted_items(dict(value))
    if kind == SET:
        return _set_order(value)
    if kind == LIST:
        return list(value)
    return [value]


def expected_sinks(flow, inputs: Mapping[str, Any]) -> dict[str, list]:
    """Call the function ``flow`` was lifted from on ``inputs`` (one list per parameter) and
    return its result as the lifted flow's sinks (in :func:`comparable` form)."""
    info = flow.lifted
    missing = [p for p in info.params if p not in inputs]
    if missing:
        raise InputError(f"no input '{missing[0]}' for parameter of {info.function.__qualname__}")
    result = info.function(*[list(inputs[p]) for p in info.params])
    if info.shape == "name":
        values = {info.sinks[0][0]: result}
    elif info.shape == "tuple":
        values = dict(zip((name for name, _ in info.sinks), result))
    else:
        values = dict(result)
    return {name: as_sink(kind, values[name]) for name, kind in info.sinks}


def comparable(flow, sinks: Mapping[str, list]) -> dict[str, list]:
    """A run's sinks with the set sinks in canonical order, to compare with expected_sinks."""
    kinds = dict(flow.lifted.sinks)
    return {name: _set_order(rows) if kinds.get(name) == SET else list(rows)
            for name, rows in sinks.items()}
