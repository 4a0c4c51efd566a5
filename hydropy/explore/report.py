"""The explorer's report: a rich table, a JSON document (schema :data:`SCHEMA`), or one
self-contained HTML file (matplotlib plot and per-design-point graphs as inline SVG).

JSON schema (version 1): ``{"generator": "hydropy explore", "schema": 1, "program", "cpus", "constants": {...},
"profile": [{operator fields}], "refused": [{"plan", "reason"}], "over_budget",
"design_points": [{"id", "plan": [{kind: args}], "summary", "pareto", "predicted":
{estimate fields}, "properties": {...}, "measured", "model_error", "same_sinks"}]}``.
"""
from __future__ import annotations

import html
import io
import json
import math
from dataclasses import asdict

import yaml

from hydropy.ir import Graph

from .explorer import DesignPoint, Exploration, short_steps, steps_text

SCHEMA = 1
PROFILE_FIELDS = ("name", "kind", "stage", "records_in", "records_out", "seconds", "cpu_seconds",
                  "bytes_per_record", "state_bytes", "key_spread", "fused_into")


#: what marks a file as the explorer's own (it replaces no other file)
MARK = "hydropy explore"


def check_output(path: str) -> None:
    """Refuse ``path`` unless it is absent or a file the explorer wrote (checked before the
    exploration starts, and again when writing)."""
    import os

    from hydropy.errors import HydropyError
    if os.path.isdir(path):
        raise HydropyError(f"{path} is a directory: -o takes a file")
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                ours = MARK in fh.read(400)
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise HydropyError(f"{path} exists and was not written by hydropy explore: not replacing it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise HydropyError(f"cannot write {path}: no directory {parent}")


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (see :func:`check_output`)."""
    from hydropy.errors import HydropyError
    check_output(path)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise HydropyError(f"cannot write {path}: {exc.strerror}") from None


def plan_yaml(point: DesignPoint) -> str:
    """The design point's plan as a plan file, which compile and check read."""
    header = f"# {MARK}: design point {point.id}: {steps_text(point.steps)}\n"
    return header + yaml.safe_dump({"steps": [{s.kind: dict(s.args)} for s in point.steps]},
                                   default_flow_style=None, sort_keys=False)


def ranked(ex: Exploration) -> list[DesignPoint]:
    measured = any(p.measured is not None for p in ex.points)
    key = (lambda p: -(p.measured or 0.0)) if measured else (lambda p: -p.estimate.throughput)
    return sorted(ex.points, key=lambda p: (key(p), p.estimate.actors, len(p.steps), p.id))


def _finite(x: float | None):
    return None if x is None or not math.isfinite(x) else x


def to_json(ex: Exploration) -> str:
    doc = {
        "generator": MARK,
        "schema": SCHEMA,
        "program": ex.program,
        "cpus": ex.cpus,
        "constants": asdict(ex.constants),
        "profile": [{f: getattr(o, f) for f in PROFILE_FIELDS} | {
            "key_spread": {str(k): v for k, v in o.key_spread.items()}}
            for o in ex.profile.operators.values()],
        "refused": [{"plan": [{s.kind: s.args} for s in steps], "reason": reason}
                    for steps, reason in ex.refused],
        "over_budget": ex.over_budget,
        "design_points": [{
            "id": p.id,
            "plan": [{s.kind: s.args} for s in p.steps],
            "summary": steps_text(p.steps),
            "pareto": p.pareto,
            "rank": p.rank,
            "predicted": {**p.estimate.to_json(), "throughput": _finite(p.estimate.throughput)},
            "properties": p.properties,
            "measured": p.measured,
            "model_error": p.error,
            "same_sinks": p.same_sinks,
        } for p in ranked(ex)],
    }
    return json.dumps(doc, indent=2, allow_nan=False)


def _rate(x: float | None) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "inf"
    return f"{x:,.0f}/s"


def to_text(ex: Exploration, *, verbose: bool = False, top: int | None = None) -> str:
    """The terminal table (rich), ranked; Pareto-optimal design points starred."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    table = Table(title=f"hydropy explore {ex.program}: {len(ex.points)} design points "
                        f"({len(ex.refused)} proposals refused, {ex.over_budget} over {ex.cpus} CPUs)")
    measured = any(p.measured is not None for p in ex.points)
    for col in ("rank", "id", "pareto", "plan", "actors", "predicted", "bottleneck", "hops", "memory",
                "coordination"):
        table.add_column(col, overflow="fold", min_width=26 if col == "plan" else None)
    if measured:
        for col in ("measured", "meas/pred", "sinks"):
            table.add_column(col)
    rows = ranked(ex)[:top] if top else ranked(ex)
    for p in rows:
        e = p.estimate
        row = [p.rank, str(p.id), "*" if p.pareto else "", short_steps(p.steps), str(e.actors),
               _rate(e.throughput), e.bottleneck, str(e.hops), f"{max(e.memory.values(), default=0):,} B",
               "free" if p.properties["coordination_free"] else ", ".join(p.properties["points_of_order"])]
        if measured:
            row += [_rate(p.measured), f"{p.error:.2f}" if p.error is not None else "-",
                    {None: "-", True: "same", False: "DIFFERENT"}[p.same_sinks]]
        table.add_row(*(escape(cell) for cell in row))
    out = io.StringIO()
    import shutil
    console = Console(file=out, width=max(shutil.get_terminal_size((120, 24)).columns, 120),
                      force_terminal=False, color_system=None)
    console.print(table)
    console.print(f"model constants: {ex.constants.source}: round {ex.constants.round_s * 1e3:.3f} ms, "
                  f"{ex.constants.byte_s * 1e9:.3f} ns/byte, {ex.constants.record_s * 1e6:.3f} us/record, "
                  f"actor start {ex.constants.actor_start_s:.2f} s")
    console.print(f"profile: {ex.profile.input_records} input records, {ex.profile.ticks} tick(s), "
                  f"{ex.profile.seconds * 1e3:.1f} ms single-node")
    if verbose:
        for steps, reason in ex.refused:
            console.print(f"refused: {steps_text(steps)}: {reason}", markup=False, highlight=False)
    return out.getvalue().rstrip("\n")


# -- HTML ----------------------------------------------------------------------------------

def _svg(fig) -> str:
    import matplotlib.pyplot as plt
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight",
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg"):]


def throughput_plot(ex: Exploration) -> str:
    """Throughput against actors, the Pareto frontier drawn, as inline SVG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    pts = ex.points
    ax.scatter([p.estimate.actors for p in pts], [p.estimate.throughput for p in pts],
               label="predicted", color="tab:blue")
    front = sorted((p for p in pts if p.pareto), key=lambda p: p.estimate.actors)
    ax.step([p.estimate.actors for p in front], [p.estimate.throughput for p in front],
            where="post", color="tab:red", label="Pareto frontier")
    for p in pts:
        ax.annotate(str(p.id), (p.estimate.actors, p.estimate.throughput), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    done = [p for p in pts if p.measured is not None]
    if done:
        ax.scatter([p.estimate.actors for p in done], [p.measured for p in done],
                   marker="x", color="tab:green", label="measured")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("actors (stage members)")
    ax.set_ylabel("throughput (records/s)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _svg(fig)


def design_picture(design: Graph) -> str:
    """The design's stages (members) and channels (routing), drawn with networkx, inline SVG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    g = nx.DiGraph()
    for s in design.locations():
        g.add_node(s, label=f"{s}\nx{design.members_of(s)}")
    for n in design.nodes():
        if n.kind == "network":
            src = design.node(n.inputs[0]).location
            g.add_edge(src, n.location, label=n.params.get("routing", ""))
    fig, ax = plt.subplots(figsize=(max(2.5, 1.8 * len(g)), 2.2))
    pos = {s: (i, 0) for i, s in enumerate(nx.topological_sort(g) if nx.is_directed_acyclic_graph(g) else g)}
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=2200, node_color="#dde8f5", edgecolors="#345")
    nx.draw_networkx_labels(g, pos, labels=nx.get_node_attributes(g, "label"), ax=ax, font_size=8)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, node_size=2200, connectionstyle="arc3,rad=0.2")
    nx.draw_networkx_edge_labels(g, pos, edge_labels=nx.get_edge_attributes(g, "label"), ax=ax,
                                 font_size=7, connectionstyle="arc3,rad=0.2")
    ax.set_axis_off()
    ax.margins(0.25)
    return _svg(fig)


def to_html(ex: Exploration) -> str:
    """One self-contained HTML page: no scripts, styles inline, pictures as inline SVG."""
    e = html.escape
    rows = []
    for p in ranked(ex):
        est = p.estimate
        rows.append(
            f'<section class="design-point" id="dp-{p.id}"><h2>Design point {p.id}'
            f'{" (Pareto)" if p.pareto else ""}</h2><p>{e(steps_text(p.steps))}</p>'
            f'<div class="graph">{design_picture(p.design)}</div>'
            f'<table><tr><th>predicted</th><td>{e(_rate(est.throughput))}</td></tr>'
            f'<tr><th>bottleneck</th><td>{e(est.bottleneck)}</td></tr>'
            f'<tr><th>actors</th><td>{est.actors}</td></tr>'
            f'<tr><th>hops / tick time</th><td>{est.hops} / {est.tick_seconds * 1e3:.2f} ms</td></tr>'
            f'<tr><th>memory per member</th><td>{e(json.dumps(est.memory))}</td></tr>'
            f'<tr><th>measured</th><td>{e(_rate(p.measured))}</td></tr>'
            f'<tr><th>sinks</th><td>{e({None: "-", True: "same", False: "DIFFERENT"}[p.same_sinks])}</td></tr>'
            f'<tr><th>properties</th><td>{e(json.dumps(p.properties))}</td></tr></table>'
            f'<pre class="plan">{e(plan_yaml(p))}</pre></section>')
    prof = "".join(
        f"<tr><td>{e(o.name)}</td><td>{e(o.kind)}</td><td>{e(o.stage)}</td><td>{o.records_in}</td>"
        f"<td>{o.records_out}</td><td>{o.seconds * 1e3:.3f}</td><td>{o.bytes_per_record:.1f}</td>"
        f"<td>{o.state_bytes}</td><td>{e(json.dumps(o.key_spread))}</td></tr>"
        for o in ex.profile.operators.values())
    return f"""<!DOCTYPE html>
<html><!-- {MARK} --><head><meta charset="utf-8"><title>hydropy explore {e(ex.program)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}section{{border-top:1px solid #888;margin-top:1em}}
pre{{background:#f4f4f4;padding:.5em}}</style></head>
<body><h1>hydropy explore {e(ex.program)}</h1>
<p>{len(ex.points)} design points, {len(ex.refused)} proposals refused, {ex.over_budget} over {ex.cpus} CPUs.
Model constants: {e(ex.constants.source)}.</p>
<div id="plot">{throughput_plot(ex)}</div>
<h2>Profile (single node)</h2>
<table id="profile"><tr><th>operator</th><th>kind</th><th>stage</th><th>in</th><th>out</th><th>ms</th>
<th>bytes/record</th><th>state bytes</th><th>key spread</th></tr>{prof}</table>
{''.join(rows)}
</body></html>
"""
