"""What each ``hydropy`` command does, given its parsed arguments (:mod:`hydropy.cli` parses them).

A command returns its exit code: 0 success, 1 a run, check or exploration that disagrees
with the single-node program. A refusal raises a :class:`~hydropy.errors.HydropyError`, which
:func:`hydropy.cli.main` prints as one line and exits with its code (2: bad input). Results go
to stdout, progress and run summaries to stderr.
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from hydropy.errors import HydropyError
from hydropy.targets.local import DEFAULT_TICK_SIZE

#: how ``--format json`` writes the floats JSON has no literal for
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def to_jsonable(value: Any) -> Any:
    """Records as strict JSON: tuples as lists, sets sorted, lattices by their revealed value,
    NaN and infinities as the strings "NaN", "Infinity" and "-Infinity"."""
    from hydropy.lattices import Lattice
    if isinstance(value, Lattice):
        return to_jsonable(value.reveal())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE[repr(float(value))]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    return repr(value)


def format_results(results: dict[str, list], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({k: to_jsonable(v) for k, v in results.items()}, allow_nan=False)
    out = []
    for name, records in results.items():
        out.append(f"{name} ({len(records)} record{'s' if len(records) != 1 else ''})")
        out.extend(f"  {r!r}" for r in records)
    return "\n".join(out)


def run_command(args) -> int:
    import os

    from hydropy.loader import load_flow, load_inputs
    stats: dict = {}
    verdict = None
    if os.path.isdir(args.program):
        if args.plan:
            raise HydropyError("a compiled directory already holds its design point; --plan applies "
                               "to a PROGRAM file")
        from hydropy.deploy import read_manifest
        from hydropy.targets.ray import run_compiled
        manifest = read_manifest(args.program)
        sources = {src["name"]: src.get("dtype") for st in manifest["stages"] for src in st["sources"]}
        inputs = load_inputs(args.inputs, sources) if args.inputs else None
        copy = program_copy(args.program, manifest) if args.check else None
        results = run_compiled(args.program, inputs, address=args.address, stats=stats,
                               allow_oversubscribe=args.allow_oversubscribe,
                               tick_size=args.tick_size, timeout=args.timeout,
                               checkpoint_every=args.checkpoint_every,
                               checkpoint_dir=args.checkpoint_dir,
                               program=sys.modules.get(copy.module or "") if copy else None)
        if args.check:
            verdict = check_against_single_node(copy, inputs, results, None, args.tick_size,
                                                unordered=any(st["members"] > 1
                                                              for st in manifest["stages"]))
    else:
        target = args.target or ("ray" if args.address else "local")
        options = {"tick_size": args.tick_size}
        if target == "ray":
            options.update(address=args.address, stats=stats, timeout=args.timeout,
                           checkpoint_every=args.checkpoint_every, checkpoint_dir=args.checkpoint_dir,
                           allow_oversubscribe=args.allow_oversubscribe)
        flow = load_flow(args.program)
        inputs = load_inputs(args.inputs, source_names(flow.graph())) if args.inputs else None
        results = flow.run(inputs, target=target, plan=args.plan, **options)
        if args.check:
            verdict = check_against_single_node(flow, inputs, results, args.plan, args.tick_size)
    print(format_results(results, args.format))
    report_run(stats, args.format)
    if verdict is not None:
        print(verdict, file=sys.stderr if args.format == "json" else sys.stdout)
        return 0 if verdict.startswith("check: same") else 1
    return 0


def report_run(stats: dict, fmt: str) -> None:
    """A Ray run's kernel time and summary (:mod:`hydropy.targets.progress`) on stderr: text, or
    with ``--format json`` one JSON object ``{"summary": {...}}`` on one line."""
    if "summary" not in stats:
        return
    if fmt == "json":
        summary = {**stats["summary"], "compile_seconds": round(stats.get("compile_seconds", 0.0), 6)}
        print(json.dumps({"summary": summary}, allow_nan=False), file=sys.stderr)
        return
    from hydropy.targets.progress import summary_text
    if stats.get("compile_seconds"):
        print(f"kernels: {stats['compile_seconds']:.2f} s to compile or load at actor start; "
              f"run: {stats['run_seconds']:.2f} s", file=sys.stderr)
    print(summary_text(stats["summary"]), file=sys.stderr)


def program_copy(compiled_dir: str, manifest: dict):
    """The Flow of the program copy in ``compiled_dir`` (what ``run DIR --check`` compares with),
    found as the original was: by the attribute the program argument named, if any."""
    from hydropy.loader import load_flow
    from hydropy.runtime.host import program_file
    path = program_file(compiled_dir, manifest["module"])
    _, colon, attr = str(manifest.get("program") or "").rpartition(":")
    return load_flow(path + (":" + attr if colon and attr.isidentifier() else ""))


def source_names(graph) -> dict[str, str | None]:
    """The program's inputs, each with its declared dtype (None: any record), in order."""
    return {n.params["name"]: n.coll.dtype if n.coll else None for n in graph.nodes() if n.kind == "source"}


def check_against_single_node(flow, inputs, results, plan: str | None = None,
                              tick_size: int = DEFAULT_TICK_SIZE, unordered: bool = False) -> str:
    """One line saying whether ``results`` equal the single-node program's sinks on the same
    ticks (as multisets where a sink is unordered in the design point: members of a stage
    interleave records; every stream sink with ``unordered``)."""
    from hydropy.passes.pipeline import design_point
    from hydropy.targets.local import canonical
    graph = design_point(flow.graph(), plan)
    expected = canonical(graph, flow.run(inputs, tick_size=tick_size))
    got = canonical(graph, results)
    if unordered:
        expected, got = ({k: sorted(v, key=repr) for k, v in side.items()} for side in (expected, got))
    differing = [name for name in expected if expected[name] != got.get(name)]
    if differing:
        return f"check: DIFFERENT from the single-node program in sink(s) {', '.join(differing)}"
    records = sum(len(v) for v in expected.values())
    return (f"check: same sinks as the single-node program ({len(expected)} sinks, "
            f"{records} records)")


def check_command(args) -> int:
    import yaml

    from hydropy.loader import load_flow, load_inputs
    from hydropy.targets.emit import find_program
    from hydropy.targets.sim import check_run, relaxations
    if args.seeds < 1:
        raise HydropyError(f"--seeds must be at least 1, got {args.seeds}")
    flow = load_flow(args.program)
    program = find_program(flow)
    graph = flow.graph()
    inputs = load_inputs(args.inputs or _default_inputs(args.program, graph), source_names(graph))
    if args.plan:
        from hydropy.passes.pipeline import design_point
        plans, refused = [(None, design_point(graph, args.plan))], 0
    else:
        from hydropy.passes.explore import candidate_plans
        found = candidate_plans(graph)
        plans, refused = found.plans, found.refused
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    progress = Progress(len(plans) * len(seeds))
    relaxed: dict[str, int] = {}  # what the criterion relaxed -> in how many design points
    for k, (steps, design) in enumerate(plans, 1):
        for note in relaxations(graph, design):
            relaxed[note] = relaxed.get(note, 0) + 1
        for seed in seeds:
            progress.advance(f"design point {k}/{len(plans)}, seed {seed}")
            mismatch = check_run(graph, design, inputs, seed, program, tick_size=args.tick_size)
            if mismatch is None:
                continue
            progress.done()
            which = args.plan if args.plan else f"{k} of {len(plans)}"
            print(f"check: design point {which} DIFFERS from the single-node program")
            if steps is not None:
                text = yaml.safe_dump({"steps": [{s.kind: s.args} for s in steps]},
                                      default_flow_style=None, sort_keys=False)
                print("plan:\n" + "".join(f"  {line}\n" for line in text.splitlines()), end="")
            print(mismatch)
            plan_arg = f"--plan {args.plan}" if args.plan else "--all-plans"
            inputs_arg = f" --inputs {args.inputs}" if args.inputs else ""
            print(f"replay: hydropy check {args.program} {plan_arg}{inputs_arg} --seed {seed}")
            return 1
    progress.done()
    what = f"seed {seeds[0]}" if args.seed is not None else f"{len(seeds)} seeds each"
    note = f"; {refused} proposed steps refused by their preconditions" if not args.plan else ""
    points = "1 design point agrees" if len(plans) == 1 else f"{len(plans)} design points agree"
    compared = "; ".join(f"{text}" + (f" in {n} of them" if len(plans) > 1 else "")
                         for text, n in relaxed.items())
    print(f"check: {points} with the single-node program ({what}{note}; "
          f"{'relaxed: ' + compared if compared else 'compared exactly'})")
    return 0


def _default_inputs(program: str, graph) -> str:
    """The inputs file beside the program (``app.py`` -> ``app.yaml``), needed when it reads any."""
    import os
    guess = os.path.splitext(program.rpartition(":")[0] or program)[0] + ".yaml"
    if os.path.isfile(guess):
        return guess
    if any(n.kind == "source" for n in graph.nodes()):
        raise HydropyError(f"no inputs to check with: pass --inputs FILE (there is no {guess})")
    return os.devnull


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int):
        import time
        self.total, self.count, self.last = total, 0, 0.0
        self.clock = time.monotonic
        self.live = sys.stderr.isatty() and total > 1

    def advance(self, label: str) -> None:
        self.count += 1
        if not self.live or self.clock() - self.last < 0.1:
            return
        self.last = self.clock()
        filled = 30 * (self.count - 1) // self.total
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.count}/{self.total} {label}\033[K")
        sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def explain_command(args) -> int:
    """One document per format: the text form with its reports appended; one mermaid or DOT
    diagram (a plan's steps as subgraphs); one JSON value (a graph, a list of the graphs after
    each step, or with --analysis/--kernels an object holding those reports too)."""
    from hydropy import ir
    from hydropy.loader import load_flow
    graph = load_flow(args.program).graph()
    sections = [("", graph)]
    if args.plan:
        from hydropy.passes.plan import apply_plan, load_plan
        sections += [(f"after step {k}: {step}", g)
                     for k, (step, g) in enumerate(apply_plan(graph, load_plan(args.plan)), 1)]
    final = sections[-1][1]
    if args.format == "json":
        graphs = [json.loads(ir.to_json(g)) for _, g in sections]
        doc: Any = graphs[0] if len(graphs) == 1 else graphs
        if args.analysis or args.kernels:
            doc = {"graph": doc}
            if args.analysis:
                from hydropy.passes.analysis import report_data
                doc["analysis"] = report_data(final)
            if args.kernels:
                from hydropy.passes.kernel_plan import report_data as kernel_data
                doc["kernels"] = kernel_data(final)
        print(json.dumps(doc, indent=2))
        return 0
    if args.format in ("mermaid", "dot"):
        printer = ir.to_mermaid if args.format == "mermaid" else ir.to_dot
        print(printer(sections if len(sections) > 1 else graph).rstrip("\n"))
        return 0
    out = []
    for title, g in sections:
        if title:
            out.append(f"# {title}")
        out.append(ir.to_text(g).rstrip("\n"))
    if args.analysis:
        from hydropy.passes.analysis import report
        out.append(report(final).rstrip("\n"))
    if args.kernels:
        from hydropy.passes.kernel_plan import report as kernel_report
        out.append(kernel_report(final).rstrip("\n"))
    print("\n\n".join(out))
    return 0


def compile_command(args) -> int:
    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    graph = compile_flow(load_flow(args.program), args.output, plan=args.plan, target=args.target,
                         program_arg=args.program, force=args.force)
    stages = ", ".join(f"{s} x{graph.members_of(s)}" if graph.members_of(s) > 1 else s
                       for s in graph.locations())
    print(f"compiled {graph.name} into {args.output}: stages {stages}")
    print(f"run it with: hydropy run {args.output} [--inputs FILE] [--address ADDR]")
    return 0


def lift_command(args) -> int:
    from hydropy.errors import LoadError
    from hydropy.lift.source import write_source
    from hydropy.loader import load_flow
    flow = load_flow(args.program)
    if getattr(flow, "lifted", None) is None:
        raise LoadError(f"{args.program} names a Flow, not a plain function: there is nothing to lift")
    write_source(flow, args.output, force=args.force)
    print(f"wrote {args.output}: {args.program} as a Flow API program")
    return 0


def explore_command(args) -> int:
    """Profile, enumerate, estimate (and measure) design points; print or write the report,
    or save one design point's plan."""
    from hydropy.explore import model
    if args.calibrate:
        constants = model.calibrate()
        print(f"calibrated: round {constants.round_s * 1e3:.3f} ms, {constants.byte_s * 1e9:.3f} ns/byte, "
              f"{constants.record_s * 1e6:.3f} us/record, actor start {constants.actor_start_s:.2f} s, "
              f"per member and call {constants.submit_s * 1e3:.3f} ms (driver) + "
              f"{constants.call_s * 1e3:.3f} ms (member), {constants.large_call_s * 1e3:.3f} ms with an object "
              f"through the object store ({constants.large_call_cpu_s * 1e3:.3f} ms of the machine's CPU); "
              f"cached in {model.cache_path()}")
        if not args.program:
            return 0
    if not args.program:
        raise HydropyError("explore needs a PROGRAM (or --calibrate alone)")
    if args.cpus < 1:
        raise HydropyError(f"--cpus must be at least 1, got {args.cpus}")
    if args.top is not None and args.top < 1:
        raise HydropyError(f"--top must be at least 1, got {args.top}")
    if (args.save_plan is not None or args.format == "html") and not args.output:
        raise HydropyError("-o FILE is needed with --save-plan and with --format html")
    from hydropy.explore.explorer import explore
    from hydropy.explore.report import (check_output, plan_yaml, ranked, to_html, to_json, to_text,
                                        write_output)
    if args.output:
        check_output(args.output)
    from hydropy.loader import load_flow, load_inputs
    flow = load_flow(args.program)
    graph = flow.graph()
    names = source_names(graph)
    if not names:
        raise HydropyError(f"{args.program} has no source: there is no input to profile it on")
    if not args.inputs:
        raise HydropyError(f"explore needs --inputs FILE: the records to profile "
                           f"{args.program} on (inputs: {', '.join(names)})")
    inputs = load_inputs(args.inputs, names)
    if not any(len(v) for v in inputs.values()):
        raise HydropyError(f"{args.inputs} holds no records: there is nothing to profile")
    found = explore(graph, inputs, program=args.program, constants=model.load_constants(),
                    cpus=args.cpus, members=args.members, depth=args.depth,
                    tick_size=args.tick_size)
    if args.save_plan is not None:
        point = next((p for p in found.points if p.id == args.save_plan.strip()), None)
        if point is None:
            raise HydropyError(f"no design point {args.save_plan} among the {len(found.points)} of this "
                               f"exploration (ids are in its table; 0 is the single-node program)")
        write_output(args.output, plan_yaml(point))
        print(f"wrote {args.output}: design point {point.id}; run it on Ray with: hydropy run "
              f"{args.program} --target ray --plan {args.output} --inputs {args.inputs} --check "
              f"(or hydropy compile {args.program} --target ray --plan {args.output} -o DIR)")
        return 0
    if args.measure:
        from hydropy.explore.measure import measure
        chosen = [p for p in ranked(found) if p.id != "0"][:args.top or 3]
        measure(flow, [found.points[0]] + chosen, inputs, address=args.address,
                tick_size=args.tick_size)
    if args.format == "json":
        text = to_json(found)
    elif args.format == "html":
        text = to_html(found)
    else:
        text = to_text(found, verbose=args.verbose)
    if args.output:
        write_output(args.output, text)
        print(f"wrote {args.output}: {len(found.points)} design points")
    else:
        print(text)
    different = [p.id for p in found.points if p.same_sinks is False]
    if different:
        print(f"hydropy: BUG: design point(s) {', '.join(map(str, different))} gave different sinks "
              f"from the single-node program on Ray; please report it", file=sys.stderr)
        return 1
    return 0
