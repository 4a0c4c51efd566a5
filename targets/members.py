"""A sink's value over the members of a stage that hold it (partitions hold parts, replicas
copies): lattices merge, equal values count once, and members that disagree show every value
they hold, so a difference stays visible to the criterion."""
from __future__ import annotations

from hydropy.ir import SINGLETON
from hydropy.runtime.ops import UNSET


def merge_members(kind: str, values: list) -> list:
    """A singleton's or keyed map's value over the members that hold it: lattices merge, equal
    values count once, and members that disagree show every value they hold."""
    if kind == SINGLETON:
        return _merge_values([v for v in values if v is not UNSET])
    table: dict = {}
    for value in values:
        for k, v in value.items():
            table.setdefault(k, []).append(v)
    rows = [(k, v) for k, vs in table.items() for v in _merge_values(vs)]
    try:
        return sorted(rows, key=lambda kv: kv[0])
    except TypeError:
        return sorted(rows, key=lambda kv: repr(kv[0]))


def _merge_values(values: list) -> list:
    from hydropy.lattices import Lattice
    if values and all(isinstance(v, Lattice) for v in values):
        merged = values[0].copy()
        for v in values[1:]:
            merged.merge(v)
        return [merged]
    distinct: list = []
    for v in values:
        if not any(v == d for d in distinct):
            distinct.append(v)
    return distinct


