"""Printers: a text form a person reads like a jaxpr, and mermaid / DOT exports.

The text form groups operators by stage, one line each::

    words = flat_map[fn=split_words](lines)  : Stream[unbounded, ordered]  # wordcount.py:14
"""
from __future__ import annotations

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


def mermaid_text(text: str) -> str:
    """``text`` as a quoted mermaid label: mermaid has no backslash escapes, it writes
    characters as entity codes (``#quot;``, ``#35;``), and reads any other Unicode as is."""
    for ch, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("\n", " ")):
        text = text.replace(ch, code)
    return f'"{text}"'


def dot_text(text: str) -> str:
    """``text`` as a DOT quoted string: a backslash and a double quote are escaped, a line
    break is DOT's ``\\n``; other Unicode is written as is (DOT files are UTF-8)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _titled(graphs) -> list[tuple[str, Graph]]:
    return [("", graphs)] if isinstance(graphs, Graph) else list(graphs)


def to_mermaid(graphs: Graph | list[tuple[str, Graph]]) -> str:
    """One mermaid flowchart: a graph's stages as subgraphs; several (title, graph) pairs
    (the steps of a plan) each as a subgraph of their own, node ids kept apart by a prefix."""
    out = ["flowchart TD"]
    titled = _titled(graphs)
    for k, (title, graph) in enumerate(titled):
        pre, ind = (f"s{k}_", "    ") if len(titled) > 1 else ("", "  ")
        if len(titled) > 1:
            out.append(f"  subgraph s{k}[{mermaid_text(title or graph.name)}]")
        for j, stage in enumerate(graph.locations()):
            out.append(f"{ind}subgraph {pre}stage{j}[{mermaid_text(stage)}]")
            out += [f"{ind}  {pre}n{n.id}[{mermaid_text(_label(n))}]"
                    for n in graph.nodes() if n.location == stage]
            out.append(f"{ind}end")
        for n in graph.nodes():
            for src in n.inputs:
                arrow = "-.->|next tick|" if n.kind == "cycle" else "-->"
                out.append(f"{ind}{pre}n{src} {arrow} {pre}n{n.id}")
        if len(titled) > 1:
            out.append("  end")
    return "\n".join(out) + "\n"


def to_dot(graphs: Graph | list[tuple[str, Graph]]) -> str:
    """One DOT digraph: stages as clusters; several (title, graph) pairs each as a cluster of
    their own, node ids kept apart by a prefix."""
    titled = _titled(graphs)
    out = [f"digraph {dot_text(titled[0][1].name)} {{", "  rankdir=TB;", "  node [shape=box];"]
    for k, (title, graph) in enumerate(titled):
        pre, ind = (f"s{k}_", "    ") if len(titled) > 1 else ("", "  ")
        if len(titled) > 1:
            out.append(f"  subgraph cluster_s{k} {{ label={dot_text(title or graph.name)};")
        for j, stage in enumerate(graph.locations()):
            out.append(f"{ind}subgraph cluster_{pre}{j} {{ label={dot_text(stage)};")
            out += [f"{ind}  {pre}n{n.id} [label={dot_text(_label(n))}];"
                    for n in graph.nodes() if n.location == stage]
            out.append(f"{ind}}}")
        for n in graph.nodes():
            for src in n.inputs:
                style = ' [style=dashed, label="next tick"]' if n.kind == "cycle" else ""
                out.append(f"{ind}{pre}n{src} -> {pre}n{n.id}{style};")
        if len(titled) > 1:
            out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
