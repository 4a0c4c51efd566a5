"""Every example runs as its docstring says, and ``hydropy explain --analysis`` prints a report
for every flow of every example that names each of its points of order.

Programs are discovered from examples/*.py (every module-level Flow of each file), and the
commands from the ``hydropy run examples/...`` lines of each file's docstring, so a new
example is covered without editing this file.
"""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from hydropy import Flow
from hydropy.cli import main
from hydropy.loader import load_flow
from hydropy.passes.monotonicity import points_of_order

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "examples").glob("*.py"))


def flows_of(path: Path) -> list[str]:
    """``file.py`` when it holds one Flow, else ``file.py:NAME`` for each module-level Flow."""
    names = [t.id for node in ast.parse(path.read_text()).body if isinstance(node, ast.Assign)
             and isinstance(node.value, ast.Call) and _calls_flow(node.value)
             for t in node.targets if isinstance(t, ast.Name)]
    rel = f"examples/{path.name}"
    return [rel] if len(names) == 1 else [f"{rel}:{n}" for n in names]


def _calls_flow(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == "Flow"


PROGRAMS = [p for f in FILES for p in flows_of(f)]
COMMANDS = [line.strip() for f in FILES for line in (ast.get_docstring(ast.parse(f.read_text())) or
                                                     "").splitlines()
            if line.strip().startswith("hydropy run examples/")]


def test_every_flow_of_every_example_is_found():
    for spec in PROGRAMS:
        assert isinstance(load_flow(str(ROOT / spec)), Flow)
    assert "examples/rset.py:epochs" in PROGRAMS and "examples/wordcount.py" in PROGRAMS


@pytest.mark.parametrize("command", COMMANDS)
def test_example_runs_as_its_docstring_says(command, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\(\d+ records?\)", out)


@pytest.mark.parametrize("program", PROGRAMS)
def test_explain_analysis_names_every_point_of_order(program, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["explain", program, "--analysis"]) == 0
    out = capsys.readouterr().out
    for section in ("Monotonicity", "Points of order", "Boundedness", "Keys", "State"):
        assert f"\n{section}" in out
    found = points_of_order(load_flow(str(ROOT / program)).graph())
    for p in found:
        assert p.reason in out and p.hint in out
    if not found:
        assert "none: no non-monotone operator is reached by an asynchronous input" in out


GOLDEN_POINTS = {
    "examples/wordcount.py": [],
    "examples/kvstore.py": ["read_store"],
    "examples/voting.py": ["read_tally"],
    "examples/twopc.py": [],  # all yes votes: a threshold on a set of voters
    "examples/paxos_lite.py": ["read_ballot"],  # the p2b quorum is a threshold, the ballot is not
    "examples/rset.py:flow": [],
    "examples/rset.py:ballot": [],
    "examples/rset.py:no_replicas": [],
    "examples/rset.py:epochs": ["read_epoch", "read_latest"],
    "examples/crdts.py:flow": [],
    "examples/crdts.py:reads": ["read_counts"],  # for 'exactly'; 'reached' is a threshold
}


@pytest.mark.parametrize("program", list(GOLDEN_POINTS))
def test_points_of_order_of_the_reference_programs(program):
    found = points_of_order(load_flow(str(ROOT / program)).graph())
    assert [p.name for p in found] == GOLDEN_POINTS[program]
