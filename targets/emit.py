"""The compiled directory: the files a design point compiles to, and how hydropy marks them as its own.

Layout of a compiled directory::

    deploy.yaml            stages, members, channels, routing keys, sinks, the source program
    main.py                entry point: ``python main.py [--inputs FILE] [--address ADDR]``
    program/<name>.py      a copy of the user's program (stage code imports its functions)
    program/<helpers>      the program's own modules it imported from its directory
                           (:func:`helper_modules`), importable by their names in the members
    stages/<stage>.py      the stage's operators as straight-line code per tick
    .hydropy-manifest.json every file above with its sha256 (see :mod:`hydropy.targets.output`)

A stage module's text is :mod:`~.stage_code`'s (its references to user code,
:mod:`~.references`). Every generated file but the program copy starts with
``# hydropy-generated sha256=<hash of the rest of the file>``; a file whose text no longer
matches was edited by hand and is never overwritten silently (:func:`write_compiled` refuses
unless ``force``, and then keeps the edited copy as ``FILE.orig``).
"""
from __future__ import annotations

import hashlib

import yaml

from hydropy.errors import LoadError
from hydropy.ir import Graph
from hydropy.ir.source import display_path

from .names import doc_repr
from .output import write_compiled  # noqa: F401  (the API: emit() then write_compiled())
from .program import Program, find_program  # noqa: F401  (the API: find_program() then emit())
from .shipping import helper_modules
from .stage_code import StageWriter, channel_key, stage_files

HEADER = "# hydropy-generated sha256="


def with_header(text: str) -> str:
    """``text`` under hydropy's header line, which holds the sha256 of ``text``."""
    return f"{HEADER}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def edited(path: str) -> bool:
    """True when a generated file's text no longer matches the hash in its header."""
    with open(path, encoding="utf-8") as fh:
        first, _, rest = fh.read().partition("\n")
    if not first.startswith(HEADER):
        return True
    return first[len(HEADER):] != hashlib.sha256(rest.encode()).hexdigest()


def emit(graph: Graph, program: Program, program_arg: str) -> dict[str, str]:
    """Relative path -> file text for every file of the compiled directory."""
    files: dict[str, str] = {}
    plan = None
    if any(n.kind == "source" and n.coll.dtype for n in graph.nodes()):
        from hydropy.passes.kernel_plan import plan as kernel_plan
        plan = kernel_plan(graph)
    layout = {}
    for stage, path in stage_files(graph).items():
        writer = StageWriter(graph, stage, program, plan)
        files[path] = with_header(writer.render())
        layout[stage] = (path, writer.class_name)
    for rel, path in {f"{program.stem}.py": program.path, **helper_modules(program)}.items():
        try:
            with open(path, encoding="utf-8") as fh:
                files[f"program/{rel}"] = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise LoadError(f"cannot copy the program {display_path(path)}: {exc}") from None
    files["deploy.yaml"] = with_header(yaml.safe_dump(manifest(graph, program, program_arg, layout),
                                                      sort_keys=False))
    files["main.py"] = with_header(MAIN_PY.format(flow=doc_repr(graph.name)))
    return files


def manifest(graph: Graph, program: Program, program_arg: str,
             layout: dict[str, tuple[str, str]]) -> dict:
    """deploy.yaml: ``layout`` maps each stage to its file and class."""
    return {
        "flow": graph.name,
        "program": program_arg,
        "module": program.import_name,
        "stages": [{"name": s, "file": layout[s][0], "class": layout[s][1],
                    "members": graph.members_of(s),
                    **({"resizable": True} if graph.members_of(s) > 1 else {}),
                    "sources": [{"name": n.params["name"],
                                 "routing": n.params.get("routing", "round_robin"),
                                 "key": channel_key(n) and list(channel_key(n)),
                                 **({"dtype": n.coll.dtype} if n.coll and n.coll.dtype else {})}
                                for n in graph.nodes() if n.kind == "source" and n.location == s]}
                   for s in graph.locations()],
        "channels": [{"name": n.name, "from": graph.node(n.inputs[0]).location, "to": n.location,
                      "operator": graph.node(n.inputs[0]).where(short=True),
                      "routing": n.params["routing"],
                      "key": list(n.params["key"]) if n.params["key"] is not None else None}
                     for n in graph.nodes() if n.kind == "network"],
        "sinks": {n.params["name"]: {"stage": n.location, "kind": graph.node(n.inputs[0]).coll.kind,
                                     "ordered": bool(graph.node(n.inputs[0]).coll.ordered)}
                  for n in graph.sinks()},
    }


MAIN_PY = '''"""Run the compiled flow {flow} on Ray.

    python main.py [--inputs FILE] [--address ADDR] [--format text|json]

starts a local Ray unless --address names a running cluster; the same as
``hydropy run <this directory>``.
"""
import os
import sys

from hydropy.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", os.path.dirname(os.path.abspath(__file__)), *sys.argv[1:]]))
'''
