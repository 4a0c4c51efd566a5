"""``hydropy compile``: a program and a plan -> a directory of stage code for a target."""
from __future__ import annotations

import os
import sys

from hydropy.errors import HydropyError
from hydropy.ir import Graph
from hydropy.passes.pipeline import design_point

from .emit import emit, find_program, write_compiled


def compile_flow(flow, out_dir: str, *, plan: str | None = None, target: str = "ray",
                 program_arg: str | None = None, force: bool = False) -> Graph:
    """Emit ``flow`` (after ``plan``) as stage code into ``out_dir``; return the compiled graph.

    Writes only hydropy's own files (see :mod:`hydropy.targets.output`); what ``--force`` did
    to edited files is said on stderr."""
    if target != "ray":
        raise HydropyError(f"unknown compile target '{target}'; available: ray")
    graph = design_point(flow.graph(), plan)
    program = find_program(flow)
    files = emit(graph, program, program_arg or os.path.basename(program.path))
    for notice in write_compiled(files, out_dir, force=force, protect=[program.path]):
        print(f"hydropy: {notice}", file=sys.stderr)
    return graph
