"""JSON round-trip of a Graph.

Records and parameters keep their Python types through tagged objects (``{"tuple": [...]}``).
User functions and classes are stored by module and qualname plus source text and are
re-imported on load when they are importable; otherwise the loaded function's ``obj`` is None
(the graph can still be printed, analysed and compared, not run).
"""
from __future__ import annotations

import importlib
import json
from typing import Any

from .graph import Graph, Node
from .ops import Collection
from .source import SourceLoc, UserFn


def encode_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, tuple):
        return {"tuple": [encode_value(x) for x in v]}
    if isinstance(v, list):
        return [encode_value(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {"set": [encode_value(x) for x in sorted(v, key=repr)]}
    if isinstance(v, dict):
        return {"dict": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if isinstance(v, type):
        return {"class": [v.__module__, v.__qualname__]}
    raise TypeError(f"cannot encode {type(v).__name__} value {v!r} in JSON")


def decode_value(v: Any) -> Any:
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if not isinstance(v, dict):
        return v
    (tag, body), = v.items()
    if tag == "tuple":
        return tuple(decode_value(x) for x in body)
    if tag == "set":
        return frozenset(decode_value(x) for x in body)
    if tag == "dict":
        return {decode_value(k): decode_value(x) for k, x in body}
    if tag == "class":
        return _import(*body) or f"{body[0]}.{body[1]}"
    raise ValueError(f"unknown tag {tag!r}")


def _import(module: str, qualname: str):
    if "<" in qualname:
        return None
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _loc(loc: SourceLoc | None):
    return None if loc is None else [loc.file, loc.line]


def _unloc(v) -> SourceLoc | None:
    return None if v is None else SourceLoc(v[0], v[1])


def node_to_dict(n: Node) -> dict:
    return {
        "id": n.id, "kind": n.kind, "name": n.name, "inputs": list(n.inputs),
        "params": {k: encode_value(v) for k, v in n.params.items()},
        "fns": [{"name": f.name, "module": f.module, "source": f.source, "loc": _loc(f.loc)}
                for f in n.fns],
        "loc": _loc(n.loc),
        "coll": None if n.coll is None else vars(n.coll).copy(),
        "location": n.location,
    }


def node_from_dict(d: dict) -> Node:
    fns = tuple(UserFn(_import(f["module"], f["name"]), f["name"], f["module"], f["source"],
                       _unloc(f["loc"])) for f in d["fns"])
    return Node(d["id"], d["kind"], d["name"], tuple(d["inputs"]),
                {k: decode_value(v) for k, v in d["params"].items()}, fns, _unloc(d["loc"]),
                None if d["coll"] is None else Collection(**d["coll"]), d["location"])


def to_json(graph: Graph, indent: int | None = 2) -> str:
    data = {"flow": graph.name, "nodes": [node_to_dict(n) for n in graph.nodes()]}
    if graph.members:
        data["members"] = graph.members
    return json.dumps(data, indent=indent)


def from_json(text: str) -> Graph:
    data = json.loads(text)
    return Graph(data["flow"], [node_from_dict(d) for d in data["nodes"]], data.get("members"))
