"""The ``hydropy`` command line. Exit codes: 0 success, 2 bad input or refused request, 1 otherwise.

Errors print as one line on stderr (``hydropy: error: file:line: message``); ``--debug``
shows the traceback as well.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from hydropy.commands import (check_command, compile_command, explain_command, explore_command,
                              lift_command, run_command)
from hydropy.errors import HydropyError
from hydropy.deploy import MEMBERS_PER_CPU
from hydropy.targets.local import DEFAULT_TICK_SIZE
from hydropy.targets.ray import DEFAULT_TIMEOUT


def _members(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected member counts like 2,3,4, got {text!r}") from None
    if not values or any(v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"member counts must be at least 2, got {text!r}")
    return values


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
                     help="also run the single-node program (of a DIR: its program copy) locally on "
                          "the same ticks and say whether the sinks agree")
    run.add_argument("--address", metavar="ADDR",
                     help="an existing Ray cluster (host:port, ray://host:port or auto) instead of a "
                          "local Ray started and stopped by hydropy")
    run.add_argument("--allow-oversubscribe", action="store_true",
                     help=f"on Ray, allow more stage members than {MEMBERS_PER_CPU} per CPU of the "
                          f"machine or cluster")
    run.add_argument("--tick-size", type=int, default=DEFAULT_TICK_SIZE, metavar="N",
                     help=f"records per input in one tick (default {DEFAULT_TICK_SIZE}); the same on "
                          f"every target")
    run.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"on Ray, end the run when a member does not answer a round within this "
                          f"time (default {DEFAULT_TIMEOUT:g})")
    run.add_argument("--checkpoint-every", type=int, metavar="K",
                     help="on Ray, each stage member saves its state every K rounds, so one that "
                          "dies is restarted from it (default: as often as costs under 5%% of its "
                          "time; 0: never, a member that dies ends the run)")
    run.add_argument("--checkpoint-dir", metavar="DIR",
                     help="on Ray, where hydropy makes this run's checkpoint directory (default: "
                          "deploy.yaml's checkpoint_dir, else the temporary directory; on a cluster, "
                          "a directory every node reads)")
    run.set_defaults(handler=run_command)

    explain = sub.add_parser("explain", help="print a program's IR (after each step of a plan)")
    explain.add_argument("program", help=program_help)
    explain.add_argument("--format", choices=["text", "mermaid", "dot", "json"], default="text")
    explain.add_argument("--plan", metavar="PLAN", help="also print the graph after each step")
    explain.add_argument("--analysis", action="store_true",
                         help="append the analyses: monotonicity, points of order, boundedness, "
                              "keys, state per stage (of the last design point)")
    explain.add_argument("--kernels", action="store_true",
                         help="append how each operator runs: as a Numba kernel, or as Python and why")
    explain.set_defaults(handler=explain_command)

    check = sub.add_parser("check", help="simulate design points under many schedules and compare "
                                          "their sinks with the single-node program")
    check.add_argument("program", help=program_help)
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--plan", metavar="PLAN", help="the design point to check")
    which.add_argument("--all-plans", action="store_true",
                       help="every plan of up to two steps that the passes accept")
    check.add_argument("--seeds", type=int, default=20, metavar="N",
                       help="scheduler seeds 0..N-1 per design point (default 20)")
    check.add_argument("--seed", type=int, metavar="N", help="replay this one seed")
    check.add_argument("--inputs", metavar="FILE",
                       help="YAML or JSON inputs (default: the .yaml beside the program)")
    check.add_argument("--tick-size", type=int, default=DEFAULT_TICK_SIZE, metavar="N",
                       help=f"records per input in one tick of the single-node baseline (default "
                            f"{DEFAULT_TICK_SIZE})")
    check.set_defaults(handler=check_command)

    comp = sub.add_parser("compile", help="emit per-stage code for a target")
    comp.add_argument("program", help=program_help)
    comp.add_argument("--target", choices=["ray"], default="ray")
    comp.add_argument("--plan", metavar="PLAN", help="the design point: a YAML plan of rewrite steps")
    comp.add_argument("-o", "--output", metavar="DIR", required=True, help="directory to write")
    comp.add_argument("--force", action="store_true", help="overwrite hand-edited files in DIR")
    comp.set_defaults(handler=compile_command)

    lift = sub.add_parser("lift", help="write a plain function's lifted flow as Flow API source")
    lift.add_argument("program", help="path/to/file.py:function")
    lift.add_argument("-o", "--output", metavar="FILE", required=True, help="the .py file to write")
    lift.add_argument("--force", action="store_true", help="replace a file hydropy wrote that was edited")
    lift.set_defaults(handler=lift_command)

    explore = sub.add_parser("explore", help="profile a program, enumerate and estimate its design "
                                              "points, and compare them")
    explore.add_argument("program", nargs="?", help=program_help)
    explore.add_argument("--inputs", metavar="FILE", help="the records to profile on (YAML or JSON)")
    explore.add_argument("--cpus", type=int, default=os.cpu_count() or 1, metavar="N",
                         help="stage members across all stages at most (default: this machine's CPUs)")
    explore.add_argument("--members", type=_members, default=[2, 3, 4], metavar="2,3,4",
                         help="member counts to try for partition and replicate")
    explore.add_argument("--depth", type=int, default=3, metavar="D",
                         help="plan steps at most (default 3; beyond 2 guided by the bottleneck)")
    explore.add_argument("--measure", action="store_true",
                         help="run the single-node design and the top K on Ray and compare")
    explore.add_argument("--top", type=int, metavar="K", help="how many design points to measure (3)")
    explore.add_argument("--address", metavar="ADDR", help="a Ray cluster to measure on")
    explore.add_argument("--format", choices=["text", "json", "html"], default="text")
    explore.add_argument("-o", "--output", metavar="FILE", help="write the report (or plan) here")
    explore.add_argument("--save-plan", metavar="ID", help="write design point ID's plan to -o")
    explore.add_argument("--calibrate", action="store_true",
                         help="measure the model's constants on a local Ray and cache them")
    explore.add_argument("--verbose", action="store_true", help="list the refused proposals")
    explore.add_argument("--tick-size", type=int, default=DEFAULT_TICK_SIZE, metavar="N",
                         help=f"records per input in one tick (default {DEFAULT_TICK_SIZE})")
    explore.set_defaults(handler=explore_command)
    return parser


def one_line(text: str) -> str:
    """An error message on one line (a user's exception text may hold several)."""
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if from_command_line and ((args.command == "run" and (
            args.target == "ray" or args.address or os.path.isdir(args.program)))
            or (args.command == "explore" and args.measure)):
        from hydropy.targets.ray import reexec_under_hash_seed
        reexec_under_hash_seed(argv)  # the driver must hash str as the actors do
    try:
        return args.handler(args)
    except HydropyError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"hydropy: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C (130) or SIGTERM (Terminated, 143)
        code = getattr(exc, "exit_code", 130)
        print(f"hydropy: {'terminated' if code == 143 else 'interrupted'}", file=sys.stderr)
        return code
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug in hydropy: say so in one line, details with --debug
        if args.debug:
            traceback.print_exc()
        print(f"hydropy: internal error: {type(exc).__name__}: {one_line(str(exc))} (rerun with "
              f"--debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
