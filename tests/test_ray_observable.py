"""A Ray run as people watch it (issue 11, "Observable"): stage code's output on stderr
prefixed with its stage and member, a live display only on a terminal, a summary (as JSON
with --format json), and ``hydropy run DIR --check`` comparing with the program copy."""
from __future__ import annotations

import io
import json
import textwrap

import pytest

from hydropy.cli import main
from hydropy.loader import load_flow
from hydropy.targets.compile import compile_flow
from hydropy.targets.progress import RunMonitor, summary_text
from hydropy.targets.ray import run_compiled

LOUD = '''
import logging
import sys

import hydropy as hp

log = logging.getLogger("loud")
print("importing the program")


def shout(x):
    print("saw", x)
    log.warning("warned about %s", x)
    sys.stderr.write(f"err {x}\\n")
    return x * 2


flow = hp.Flow("loud")
flow.source("xs").map(shout, name="shout").sink("out")
'''
PLAN = "steps:\n  - decouple: {operators: [shout], to: loud}\n  - partition: {stage: loud, n: 2, key: auto}\n"


@pytest.fixture
def loud(tmp_path):
    (tmp_path / "loud.py").write_text(textwrap.dedent(LOUD))
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "in.yaml").write_text("xs: [1, 2, 3]\n")
    flow = load_flow(str(tmp_path / "loud.py"))
    compile_flow(flow, str(tmp_path / "out"), plan=str(tmp_path / "plan.yaml"))
    return tmp_path


def test_stage_output_reaches_stderr_prefixed_by_stage_and_member(ray_session, loud, capsys):
    got = run_compiled(str(loud / "out"), {"xs": [1, 2, 3]})
    assert sorted(got["out"]) == [2, 4, 6]
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert "saw" not in captured.out  # stdout carries sinks only
    for member in ("main 0", "loud 0", "loud 1"):
        assert f"[{member}] importing the program" in lines
    by_member = {}
    for x in (1, 2, 3):
        said = [line for line in lines if line.endswith(f"] saw {x}")]
        assert len(said) == 1 and said[0].startswith("[loud ")
        member = said[0][1:said[0].index("]")]
        by_member[x] = member
        assert f"[{member}] warned about {x}" in lines  # logging
        assert f"[{member}] err {x}" in lines          # sys.stderr
    assert set(by_member.values()) == {"loud 0", "loud 1"}  # round robin over both members


def test_run_dir_check_and_the_summary_as_json(ray_session, loud, capsys):
    """One run gives the sinks on stdout, then on stderr the summary (JSON) and the check."""
    out = loud / "out"
    assert main(["run", str(out), "--inputs", str(loud / "in.yaml"), "--format", "json",
                 "--check"]) == 0
    captured = capsys.readouterr()
    # (the check imports the program copy here, which prints as it does when imported)
    assert sorted(json.loads(captured.out.splitlines()[-1])["out"]) == [2, 4, 6]
    err = captured.err.splitlines()
    assert err[-1] == "check: same sinks as the single-node program (1 sinks, 3 records)"
    summary = json.loads(err[-2])["summary"]
    assert summary["rounds"] == 1
    assert set(summary["stages"]) == {"main", "loud"}
    main_, loud_ = summary["stages"]["main"], summary["stages"]["loud"]
    assert (main_["members"], loud_["members"]) == (1, 2)
    assert (main_["records_in"], main_["records_out"]) == (3, 3)   # inputs in, channel out
    assert (loud_["records_in"], loud_["records_out"]) == (3, 3)   # channel in, sink out
    assert loud_["largest_queue"] >= 1 and loud_["busy_seconds"] > 0
    # mutant: a stage edited by hand to compute something else is caught
    stage = out / "stages" / "loud.py"
    text = stage.read_text()
    assert "ops.Map(shout," in text
    stage.write_text(text.replace("ops.Map(shout,", "ops.Map(lambda x: -1,", 1))
    assert main(["run", str(out), "--inputs", str(loud / "in.yaml"), "--check"]) == 1
    captured = capsys.readouterr()
    assert "check: DIFFERENT from the single-node program in sink(s) out" in captured.out
    assert "summary: 1 round in" in captured.err and "largest queue" in captured.err


def test_the_live_display_draws_only_when_asked():
    assert not RunMonitor({"a": 1}, stream=io.StringIO()).live  # not a terminal
    stream = io.StringIO()
    with RunMonitor({"a": 1, "b": 2}, live=True, stream=stream) as monitor:
        monitor.REFRESH = 0
        monitor.round_done([(3, True, (5, 3, 0.1), [("stdout", "hello")]),
                            (0, True, (3, 0, 0.2), [])], [("a", 0), ("b", 1)])
    shown = stream.getvalue()
    assert "[a 0] hello" in shown and "records in" in shown
    summary = monitor.summary()
    assert summary["stages"]["a"]["records_in"] == 5 and summary["stages"]["b"]["busy_seconds"] == 0.2
    assert "summary: 1 round in" in summary_text(summary)
