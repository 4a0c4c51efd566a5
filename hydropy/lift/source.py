"""A lifted flow as Flow API source text (``hydropy lift PROGRAM.py:fn -o FILE``).

One statement per operator, in the order they were built, each named as in the lifted flow
and preceded by a comment quoting the user's line it comes from. The operators' functions
are the lifted lambdas, verbatim; the names they read from the user's module are imported
from it, so the file runs beside the user's program and gives the same sinks.
"""
from __future__ import annotations

import ast
import builtins
import linecache
import os

from hydropy.flow import Stream
from hydropy.ir.ops import SPECS
from hydropy.ir.source import function_ast
from hydropy.lift.exprs import names_bound, names_read

#: op kinds written as the Flow API method of the same name (functions first, then the other
#: inputs): every kind a Stream has a method for
CALLS = frozenset(k for k in SPECS if callable(getattr(Stream, k, None)))


def flow_source(flow) -> str:
    """The Flow API program equivalent to the lifted ``flow`` (``flow.lifted`` must be set)."""
    info = flow.lifted
    g = flow.graph()
    var = {n.id: n.name for n in g.nodes()}
    module = info.function.__module__
    imports: set[str] = set()
    body, last_line = [], None
    for node in sorted(g.nodes(), key=lambda n: n.id):
        if node.loc is not None and node.loc.line != last_line:
            text = linecache.getline(node.loc.file, node.loc.line).strip()
            body.append(f"\n# {node.loc.short}  {text}")
            last_line = node.loc.line
        fns = [_function_text(f.obj, imports) for f in node.fns]
        if node.kind == "source":
            body.append(f"{node.name} = flow.source({node.params['name']!r})")
        elif node.kind == "sink":
            body.append(f"{var[node.inputs[0]]}.sink({node.params['name']!r})")
        elif node.kind in CALLS:
            args = fns + [var[i] for i in node.inputs[1:]] + [f"name={node.name!r}"]
            body.append(f"{node.name} = {var[node.inputs[0]]}.{node.kind}({', '.join(args)})")
        else:
            raise ValueError(f"no Flow API source for operator kind {node.kind}")
    taken = (imports & (set(var.values()) | {"hp", "flow"}))
    if taken:
        raise ValueError(f"the lifted functions read '{sorted(taken)[0]}', a name the Flow API "
                         f"source uses for itself")
    stem = os.path.splitext(os.path.basename(info.function.__code__.co_filename))[0]
    head = [f'"""{g.name}: lifted by hydropy from {stem}.py:{info.function.__name__} (Flow API).',
            "", f"Run it beside {stem}.py; with all inputs in one tick it gives the sinks of "
            f"{info.function.__name__}'s result.", '"""', "import hydropy as hp"]
    if imports:
        head.append(f"from {module if module != '__main__' else stem} import {', '.join(sorted(imports))}")
    head += ["", f"flow = hp.Flow({g.name!r})"]
    return "\n".join(head + body) + "\n"


def _function_text(fn, imports: set[str]) -> str:
    if getattr(fn, "__module__", None) == "builtins" and getattr(builtins, fn.__name__, None) is fn:
        return fn.__name__
    found = function_ast(fn)
    if isinstance(found, str) or not isinstance(found.node, ast.Lambda):
        raise ValueError(f"the function {fn!r} of a lifted flow is not one of its lambdas")
    tree = found.node
    params = set(found.params) | names_bound(tree)
    imports |= {n for n in names_read(tree.body) - params if not hasattr(builtins, n)}
    return ast.unparse(tree)


def write_source(flow, path: str, force: bool = False) -> None:
    """Write ``flow_source(flow)`` to ``path`` (``hydropy lift -o``). hydropy replaces only a
    file it wrote itself, and one edited since only with ``force``."""
    from hydropy.errors import HydropyError
    from hydropy.targets.emit import HEADER, edited, with_header
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            ours = fh.readline().startswith(HEADER)
        if not ours:
            raise HydropyError(f"{path} exists and was not written by hydropy: not replacing it")
        if edited(path) and not force:
            raise HydropyError(f"{path} was edited since hydropy wrote it: pass --force to replace it")
    text = with_header(flow_source(flow))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
