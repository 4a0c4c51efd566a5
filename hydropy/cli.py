"""The ``hydropy`` command line. Exit codes: 0 success, 2 bad input or refused request, 1 otherwise.

Errors print as one line on stderr (``hydropy: error: file:line: message``); ``--debug``
shows the traceback as well.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any, Sequence

from hydropy.errors import HydropyError


def to_jsonable(value: Any) -> Any:
    """Records as JSON: tuples as lists, sets sorted, lattices by their revealed value."""
    from hydropy.lattices import Lattice
    if isinstance(value, Lattice):
        return to_jsonable(value.reveal())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)


def format_results(results: dict[str, list], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({k: to_jsonable(v) for k, v in results.items()})
    out = []
    for name, records in results.items():
        out.append(f"{name} ({len(records)} record{'s' if len(records) != 1 else ''})")
        out.extend(f"  {r!r}" for r in records)
    return "\n".join(out)


def _cmd_run(args) -> int:
    import os

    from hydropy.loader import load_flow, load_inputs
    inputs = load_inputs(args.inputs) if args.inputs else None
    stats: dict = {}
    if os.path.isdir(args.program):
        if args.plan:
            raise HydropyError("a compiled directory already holds its design point; --plan applies "
                               "to a PROGRAM file")
        from hydropy.targets.ray import run_compiled
        results = run_compiled(args.program, inputs, address=args.address, stats=stats)
    else:
        target = args.target or ("ray" if args.address else "local")
        options = {"address": args.address, "stats": stats} if target == "ray" else {}
        flow = load_flow(args.program)
        results = flow.run(inputs, target=target, plan=args.plan, **options)
        if args.check:
            verdict = check_against_single_node(flow, inputs, results)
    print(format_results(results, args.format))
    if stats.get("compile_seconds"):
        print(f"kernels: {stats['compile_seconds']:.2f} s to compile or load at actor start; "
              f"run: {stats['run_seconds']:.2f} s", file=sys.stderr)
    if args.check and not os.path.isdir(args.program):
        print(verdict, file=sys.stderr if args.format == "json" else sys.stdout)
        return 0 if verdict.startswith("check: same") else 1
    return 0


def check_against_single_node(flow, inputs, results) -> str:
    """One line saying whether ``results`` equal the single-node program's sinks (as multisets
    where a sink is unordered)."""
    from hydropy.targets.local import canonical
    graph = flow.graph()
    expected = canonical(graph, flow.run(inputs))
    got = canonical(graph, results)
    differing = [name for name in expected if expected[name] != got.get(name)]
    if differing:
        return f"check: DIFFERENT from the single-node program in sink(s) {', '.join(differing)}"
    records = sum(len(v) for v in expected.values())
    return (f"check: same sinks as the single-node program ({len(expected)} sinks, "
            f"{records} records)")


def _cmd_explain(args) -> int:
    from hydropy import ir
    from hydropy.loader import load_flow
    printer = {"text": ir.to_text, "mermaid": ir.to_mermaid, "dot": ir.to_dot, "json": ir.to_json}
    graph = load_flow(args.program).graph()
    sections = [("", graph)]
    if args.plan:
        from hydropy.passes.plan import apply_plan, load_plan
        sections += [(f"after step {k}: {step}", g)
                     for k, (step, g) in enumerate(apply_plan(graph, load_plan(args.plan)), 1)]
    out = []
    for title, g in sections:
        if title and args.format == "text":
            out.append(f"# {title}")
        out.append(printer[args.format](g).rstrip("\n"))
    if args.analysis:
        from hydropy.passes.analysis import report
        out.append(report(sections[-1][1]).rstrip("\n"))
    if args.kernels:
        from hydropy.runtime.kernels import report as kernel_report
        out.append(kernel_report(sections[-1][1]).rstrip("\n"))
    if args.format == "json" and len(sections) > 1:
        out = ["[" + ",\n".join(out) + "]"]
    print("\n\n".join(out))
    return 0


def _cmd_compile(args) -> int:
    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    graph = compile_flow(load_flow(args.program), args.output, plan=args.plan, target=args.target,
                         program_arg=args.program, force=args.force)
    stages = ", ".join(f"{s} x{graph.members_of(s)}" if graph.members_of(s) > 1 else s
                       for s in graph.locations())
    print(f"compiled {graph.name} into {args.output}: stages {stages}")
    print(f"run it with: hydropy run {args.output} [--inputs FILE] [--address ADDR]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hydropy", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    program_help = "path/to/file.py, path/to/file.py:attr, or package.module:attr"

    run = sub.add_parser("run", help="run a program (or a compiled directory) and print its sinks")
    run.add_argument("program", help=program_help + ", or a directory made by hydropy compile")
    run.add_argument("--inputs", metavar="FILE", help="YAML or JSON mapping input names to record lists")
    run.add_argument("--format", choices=["text", "json"], default="text")
    run.add_argument("--target", choices=["local", "ray"], help="where a PROGRAM runs (default local)")
    run.add_argument("--plan", metavar="PLAN", help="apply this plan to PROGRAM first")
    run.add_argument("--check", action="store_true",
                     help="also run the single-node program locally and say whether the sinks agree")
    run.add_argument("--address", metavar="ADDR",
                     help="an existing Ray cluster (host:port, ray://host:port or auto) instead of a "
                          "local Ray started and stopped by hydropy")
    run.set_defaults(handler=_cmd_run)

    explain = sub.add_parser("explain", help="print a program's IR (after each step of a plan)")
    explain.add_argument("program", help=program_help)
    explain.add_argument("--format", choices=["text", "mermaid", "dot", "json"], default="text")
    explain.add_argument("--plan", metavar="PLAN", help="also print the graph after each step")
    explain.add_argument("--analysis", action="store_true",
                         help="append the analyses: monotonicity, points of order, boundedness, "
                              "keys, state per stage (of the last design point)")
    explain.add_argument("--kernels", action="store_true",
                         help="append how each operator runs: as a Numba kernel, or as Python and why")
    explain.set_defaults(handler=_cmd_explain)

    comp = sub.add_parser("compile", help="emit per-stage code for a target")
    comp.add_argument("program", help=program_help)
    comp.add_argument("--target", choices=["ray"], default="ray")
    comp.add_argument("--plan", metavar="PLAN", help="the design point: a YAML plan of rewrite steps")
    comp.add_argument("-o", "--output", metavar="DIR", required=True, help="directory to write")
    comp.add_argument("--force", action="store_true", help="overwrite hand-edited files in DIR")
    comp.set_defaults(handler=_cmd_compile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except HydropyError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"hydropy: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hydropy: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in hydropy: say so in one line, details with --debug
        if args.debug:
            traceback.print_exc()
        print(f"hydropy: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
