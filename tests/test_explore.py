"""hydropy explore (issue 12): the profile counts what the program does, the model is monotone
where it must be, every enumerated design point agrees with the single-node program under the
checker, a saved plan round-trips, the JSON schema is stable, bad input is one line and exit
2, and the HTML report renders in a real browser."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hydropy.cli import main
from hydropy.explore.explorer import explore
from hydropy.explore.model import DEFAULTS, Constants, estimate
from hydropy.explore.profile import profile
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.explore import signature
from hydropy.passes.pipeline import design_point

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLAIN = EXAMPLES / "plain"
WORDS = ["the quick brown fox", "jumps over the lazy dog", "The dog barks", "a b c d e f"]


def _wordcount():
    return load_flow(str(EXAMPLES / "wordcount.py")).graph()


# -- profile ------------------------------------------------------------------------------
def test_profile_counts_equal_what_the_program_does():
    lines = WORDS * 7
    words = [w for line in lines for w in line.lower().split()]
    prof = profile(_wordcount(), {"lines": lines}, tick_size=5)
    ops = prof.operators
    assert ops["lines"].records_out == len(lines) and prof.ticks == -(-len(lines) // 5)
    assert ops["words"].records_in == len(lines) and ops["words"].records_out == len(words)
    assert ops["ones"].records_in == ops["ones"].records_out == len(words)
    assert ops["count_per_word"].records_in == len(words)
    assert ops["count_per_word"].state_bytes > 0 and ops["ones"].state_bytes == 0
    assert ops["ones"].bytes_per_record > 0
    assert set(ops["count_per_word"].key_spread) == {2, 3, 4}
    assert all(1 / n <= share <= 1 for n, share in ops["count_per_word"].key_spread.items())


def test_profile_of_a_lifted_function_counts_its_filter():
    flow = load_flow(f"{PLAIN / 'shop.py'}:revenue")
    inputs = load_inputs(str(PLAIN / "revenue.yaml"))
    ops = profile(flow.graph(), inputs).operators
    assert ops["if_17"].records_in == len(inputs["orders"])
    assert ops["if_17"].records_out == sum(1 for _, _, qty in inputs["orders"] if qty > 0)


# -- the model ----------------------------------------------------------------------------
def _partitioned(graph, n):
    return design_point(graph, [{"decouple": {"operators": ["count_per_word"], "to": "agg"}},
                                {"partition": {"stage": "agg", "n": n}}] if n > 1 else
                        [{"decouple": {"operators": ["count_per_word"], "to": "agg"}}])


@pytest.mark.parametrize("seconds", [0.5, 5.0, 50.0])
def test_more_members_never_predict_less_throughput_for_a_partitioned_cpu_bound_stage(seconds):
    graph = _wordcount()
    lines = [f"w{i} w{i + 1}" for i in range(400)]
    prof = profile(graph, {"lines": lines})
    prof.operators["count_per_word"].seconds = seconds       # CPU-bound: the fold's work dominates
    prof.operators["count_per_word"].cpu_seconds = seconds
    prof.operators["ones"].sample = [(f"k{i}", 1) for i in range(840)]   # keys a hash spreads evenly
    constants = Constants(round_s=1e-3, byte_s=1e-9, record_s=1e-6, actor_start_s=1.0)
    rates = [estimate(_partitioned(graph, n), prof, constants, cpus=16).throughput for n in range(1, 9)]
    assert all(b >= a for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] > 2 * rates[0]


def test_waiting_stages_gain_from_more_members_than_cpus():
    """Time spent sleeping (a log write) takes a member's time but no CPU: on 2 CPUs, 6
    members of a waiting stage predict more than 2; of a CPU-bound one, not."""
    graph = _wordcount()
    prof = profile(graph, {"lines": [f"w{i} w{i + 1}" for i in range(400)]})
    prof.operators["ones"].sample = [(f"k{i}", 1) for i in range(840)]
    waiting, busy = copy.deepcopy(prof), copy.deepcopy(prof)
    waiting.operators["count_per_word"].seconds, waiting.operators["count_per_word"].cpu_seconds = 5.0, 0.0
    busy.operators["count_per_word"].seconds = busy.operators["count_per_word"].cpu_seconds = 5.0
    rate = lambda p, n: estimate(_partitioned(graph, n), p, DEFAULTS, cpus=2).throughput  # noqa: E731
    assert rate(waiting, 6) > 2 * rate(waiting, 2)
    assert rate(busy, 6) < 1.5 * rate(busy, 2)


def test_skewed_keys_predict_less_than_uniform_ones():
    graph = _wordcount()
    prof = profile(graph, {"lines": [f"w{i} w{i + 1}" for i in range(400)]})
    prof.operators["count_per_word"].seconds = prof.operators["count_per_word"].cpu_seconds = 5.0
    skewed = copy.deepcopy(prof)
    skewed.operators["ones"].sample = [("hot", 1)] * 700 + [(f"k{i}", 1) for i in range(100)]
    design = _partitioned(graph, 4)
    uniform_rate = estimate(design, prof, DEFAULTS, cpus=8).throughput
    skewed_rate = estimate(design, skewed, DEFAULTS, cpus=8).throughput
    assert skewed_rate < uniform_rate / 2


# -- enumeration --------------------------------------------------------------------------
def test_every_enumerated_design_point_agrees_with_the_single_node_program():
    from hydropy.targets.sim import check_run
    graph = _wordcount()
    inputs = {"lines": WORDS}
    found = explore(graph, inputs, program="wordcount", constants=DEFAULTS, cpus=4, members=(2,),
                    depth=3)
    assert len(found.points) > 20 and found.refused
    assert any(len(p.steps) == 3 for p in found.points)          # deeper than check --all-plans
    assert all(p.estimate.actors <= 4 for p in found.points)
    for k, point in enumerate(found.points):
        assert check_run(graph, point.design, inputs, k % 7) is None, point.steps


def test_properties_say_which_channels_tolerate_reordering():
    """Word count partitioned: the words reach the keyed count (a sum of ints) in any order
    without harm, and a duplicated word would count twice, so the count channel tolerates
    reordering but not duplication."""
    from hydropy.explore.explorer import properties
    graph = _wordcount()
    steps = [{"decouple": {"operators": ["count_per_word"], "to": "agg"}}]
    from hydropy.passes.pipeline import plan_steps
    design = design_point(graph, steps)
    props = properties(graph, plan_steps(steps), design)
    assert props["channels"] == ["ones_to_agg"]
    assert props["tolerates_reordering"] == ["ones_to_agg"] and props["tolerates_duplication"] == []
    assert props["coordination_free"] and props["survives_restart_of"] == []


def test_candidates_are_built_through_design_point(monkeypatch):
    """Every candidate's whole plan goes through design_point: a plan it refuses (here, by a
    stand-in refusing every partition) is listed as refused, never kept."""
    from hydropy.errors import RewriteRefused
    from hydropy.explore import enumerate as enum
    real = enum.design_point

    def refusing(graph, steps=None, **kw):
        if any(s.kind == "partition" for s in steps or []):
            raise RewriteRefused("partition refused by the stand-in")
        return real(graph, steps, **kw)

    monkeypatch.setattr(enum, "design_point", refusing)
    found = explore(_wordcount(), {"lines": WORDS}, program="wordcount", constants=DEFAULTS,
                    cpus=4, members=(2,), depth=2)
    assert not any(s.kind == "partition" for p in found.points for s in p.steps)
    assert any("stand-in" in reason for _, reason in found.refused)


# -- the CLI ------------------------------------------------------------------------------
def _explore(*args) -> list[str]:
    return ["explore", str(EXAMPLES / "wordcount.py"), "--inputs", str(EXAMPLES / "wordcount.yaml"),
            "--cpus", "3", "--members", "2", "--depth", "2", *args]


def test_saved_plan_round_trips_through_compile_and_check(tmp_path, capsys):
    assert main(_explore("--format", "json", "--depth", "1")) == 0
    doc = json.loads(capsys.readouterr().out)
    point = next(p for p in doc["design_points"] if p["plan"] and "partition" not in p["plan"][0])
    plan = tmp_path / "plan.yaml"
    assert main(_explore("--save-plan", str(point["id"]), "-o", str(plan), "--depth", "1")) == 0
    graph = _wordcount()
    assert signature(design_point(graph, str(plan))) == signature(design_point(graph, point["plan"]))
    assert main(["check", str(EXAMPLES / "wordcount.py"), "--plan", str(plan), "--seeds", "2"]) == 0
    assert main(["compile", str(EXAMPLES / "wordcount.py"), "--plan", str(plan),
                 "-o", str(tmp_path / "out")]) == 0
    assert main(_explore("--save-plan", str(point["id"]), "-o", str(plan), "--depth", "1")) == 0  # its own


def _schema(value, path="$") -> set[str]:
    """The key paths of a JSON document (lists by their elements' union), with value types."""
    if isinstance(value, dict):
        return {p for k, v in value.items()
                for p in _schema(v, f"{path}.{'*' if path.endswith('key_spread') or path.endswith('memory') or path.endswith('stage_seconds') else k}")}
    if isinstance(value, list):
        return {p for v in value for p in _schema(v, f"{path}[]")} or {f"{path}[]"}
    return {f"{path}: {type(value).__name__ if value is not None else 'null'}"}


def test_json_schema_is_stable(capsys, snapshot):
    assert main(_explore("--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    paths = {p.split(": ")[0] for p in _schema(doc)
             if not p.startswith("$.refused[].plan") and not p.startswith("$.design_points[].plan")}
    snapshot.assert_match("\n".join(sorted(paths)) + "\n", "explore/json_schema.txt")
    assert doc["schema"] == 1


@pytest.mark.parametrize("args, says", [
    (["explore", str(EXAMPLES / "wordcount.py")], "needs --inputs"),
    (["explore", str(EXAMPLES / "wordcount.py"), "--inputs", str(EXAMPLES / "wordcount.yaml"),
      "--cpus", "0"], "--cpus"),
    (["explore"], "needs a PROGRAM"),
    (["explore", str(EXAMPLES / "wordcount.py"), "--inputs", str(EXAMPLES / "wordcount.yaml"),
      "--save-plan", "9999", "-o", "/nonexistent-dir/p.yaml"], "no directory"),
    (["explore", str(EXAMPLES / "wordcount.py"), "--inputs", str(EXAMPLES / "wordcount.yaml"),
      "--depth", "1", "--save-plan", "zzzzzz", "-o", "unused-plan.yaml"], "no design point zzzzzz"),
])
def test_bad_input_is_one_line_and_exit_2(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err


def test_a_program_with_no_source_is_refused(tmp_path, capsys):
    prog = tmp_path / "literal.py"
    prog.write_text("import hydropy as hp\nflow = hp.Flow('lit')\nflow.source_iter([1, 2]).sink('out')\n")
    inputs = tmp_path / "in.yaml"
    inputs.write_text("{}\n")
    assert main(["explore", str(prog), "--inputs", str(inputs)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "has no source" in err


def test_output_replaces_only_the_explorers_own_files(tmp_path, capsys):
    mine = tmp_path / "report.json"
    mine.write_text("my notes\n")
    assert main(_explore("--format", "json", "-o", str(mine))) == 2
    assert mine.read_text() == "my notes\n"


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="no chromium installed (.ci/run installs it)")
def test_html_report_renders_in_headless_chromium(tmp_path, capsys):
    report = tmp_path / "report.html"
    assert main(_explore("--format", "html", "-o", str(report), "--depth", "1")) == 0
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    count = int(capsys.readouterr().out.split(": ")[1].split()[0])
    assert '<div id="plot"><svg' in dom and "Pareto frontier" in dom
    assert dom.count('class="design-point"') == count
    assert dom.count('class="graph"><svg') == count
    assert re.search(r'(src|href)="(https?:)?//', dom) is None and "<script" not in dom  # self-contained


def test_explore_takes_a_plain_function(capsys):
    assert main(["explore", f"{PLAIN / 'shop.py'}:revenue", "--inputs", str(PLAIN / "revenue.yaml"),
                 "--cpus", "3", "--members", "2", "--depth", "2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any("partition" in step for p in doc["design_points"] for step in p["plan"])
    assert {o["name"] for o in doc["profile"]} >= {"orders", "prices", "lookup_price_of_18", "totals"}


def test_measure_runs_a_design_point_on_ray_and_compares_its_sinks(ray_session):
    """The lifted revenue's partitioned design point (examples/plain/plans), measured on the
    session's Ray: a throughput, and the same sinks as the single-node run."""
    from hydropy.explore.explorer import DesignPoint, properties
    from hydropy.explore.measure import measure
    from hydropy.passes.pipeline import plan_steps
    flow = load_flow(f"{PLAIN / 'shop.py'}:revenue")
    inputs = load_inputs(str(PLAIN / "revenue.yaml"))
    steps = plan_steps(str(PLAIN / "plans" / "revenue_partitioned.yaml"))
    design = design_point(flow.graph(), steps)
    prof = profile(flow.graph(), inputs)
    point = DesignPoint("1", steps, design, estimate(design, prof, DEFAULTS, 4),
                        properties(flow.graph(), steps, design))
    measure(flow, [point], inputs, progress=False)
    assert point.measured and point.measured > 0 and point.same_sinks is True
    assert point.error is not None
