"""Printers: a text form a person reads like a jaxpr, and mermaid / DOT exports.

The text form groups operators by stage, one line each::

    words = flat_map[fn=split_words](lines)  : Stream[unbounded, ordered]  # wordcount.py:14
"""
from __future__ import annotations

import json
import reprlib

from .graph import Graph, Node

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist, _short.maxtuple = 40, 40, 6, 6


def format_param(value) -> str:
    if isinstance(value, type):
        return value.__name__
    return _short.repr(value)


def describe(node: Node) -> str:
    """``kind[params, fns](inputs)`` with inputs named by operator name (no graph needed for params)."""
    if node.spec.fns is None:  # a chain: each step's kind and function
        args = [f"{kind}={f.label}" for (kind, _), f in zip(node.params["steps"], node.fns)]
        return f"{node.kind}[{', '.join(args)}]"
    args = [f"{k}={format_param(v)}" for k, v in node.params.items()]
    args += [f"{role}={f.label}" for (role, _), f in zip(node.spec.fns, node.fns)]
    return f"{node.kind}[{', '.join(args)}]" if args else node.kind


def statement(graph: Graph, node: Node) -> str:
    """``name = kind[params](inputs)``: one operator as the text printer shows it."""
    ins = ", ".join(graph.node(i).name for i in node.inputs)
    call = f"{describe(node)}({ins})" if node.inputs else describe(node)
    return call if node.kind == "sink" else f"{node.name} = {call}"


def _line(graph: Graph, node: Node) -> tuple[str, str, str]:
    coll = f"{node.coll}" if node.coll else ""
    return statement(graph, node), coll, f"# {node.loc.short}" if node.loc else ""


def to_text(graph: Graph) -> str:
    """The program as text, stages in order, operators in tick (topological) order."""
    out = [f"flow {graph.name}"]
    order = graph.topo_order()
    for stage in graph.locations():
        rows = [_line(graph, n) for n in order if n.location == stage]
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        n = graph.members_of(stage)
        out.append(f"stage {stage}:" if n == 1 else f"stage {stage} ({n} members):")
        for call, coll, where in rows:
            out.append(f"  {call.ljust(w0)}  {coll.ljust(w1)}  {where}".rstrip())
    return "\n".join(out) + "\n"


def _label(node: Node) -> str:
    return f"{node.name}: {describe(node)}"


def to_mermaid(graph: Graph) -> str:
    out = ["flowchart TD"]
    for stage in graph.locations():
        out.append(f"  subgraph {stage}")
        for n in graph.nodes():
            if n.location == stage:
                out.append(f"    n{n.id}[{json.dumps(_label(n))}]")
        out.append("  end")
    for n in graph.nodes():
        for src in n.inputs:
            arrow = "-.->|next tick|" if n.kind == "cycle" else "-->"
            out.append(f"  n{src} {arrow} n{n.id}")
    return "\n".join(out) + "\n"


def to_dot(graph: Graph) -> str:
    out = [f"digraph {json.dumps(graph.name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    for k, stage in enumerate(graph.locations()):
        out.append(f"  subgraph cluster_{k} {{ label={json.dumps(stage)};")
        for n in graph.nodes():
            if n.location == stage:
                out.append(f"    n{n.id} [label={json.dumps(_label(n))}];")
        out.append("  }")
    for n in graph.nodes():
        for src in n.inputs:
            style = ' [style=dashed, label="next tick"]' if n.kind == "cycle" else ""
            out.append(f"  n{src} -> n{n.id}{style};")
    out.append("}")
    return "\n".join(out) + "\n"
