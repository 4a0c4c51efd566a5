"""``hydropy explain`` writes one document a tool can read, in every format: one JSON value
(reports included), one mermaid diagram, one DOT graph (a plan's steps as subgraphs), with
labels escaped as each format defines it (issue 16)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hydropy as hp
from hydropy.ir.printer import dot_text, mermaid_text, to_dot, to_mermaid

PLAN = "examples/plans/wordcount_2stage.yaml"


def explain(repo_root, *args):
    out = subprocess.run([sys.executable, "-m", "hydropy", "explain", "examples/wordcount.py", *args],
                         cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("extra", [[], ["--plan", PLAN]])
def test_json_with_reports_is_one_document(repo_root, extra):
    doc = json.loads(explain(repo_root, "--format", "json", "--analysis", "--kernels", *extra))
    graphs = doc["graph"] if isinstance(doc["graph"], list) else [doc["graph"]]
    assert len(graphs) == (2 if extra else 1) and all("nodes" in g for g in graphs)
    assert doc["analysis"]["points_of_order"] == [] and "main" in doc["analysis"]["state"]
    assert doc["kernels"]["words"]["mode"] == "python"


def test_json_of_a_plan_without_reports_is_a_list_of_graphs(repo_root):
    assert [g["flow"] for g in json.loads(explain(repo_root, "--format", "json", "--plan", PLAN))] == \
        ["wordcount", "wordcount"]


@pytest.mark.parametrize("fmt, start", [("mermaid", "flowchart TD"), ("dot", "digraph ")])
def test_a_plan_is_one_diagram(repo_root, fmt, start):
    text = explain(repo_root, "--format", fmt, "--plan", PLAN)
    assert sum(line.startswith(start) for line in text.splitlines()) == 1
    ids = re.findall(r"^\s*(s\d+_n\d+)\[" if fmt == "mermaid" else r"^\s*(s\d+_n\d+) \[label",
                     text, re.M)
    assert ids and len(ids) == len(set(ids))  # each step's nodes kept apart


HOSTILE = 'he said "hi" # <b> \\ é\nnext'


def test_labels_are_escaped_as_each_format_defines():
    assert mermaid_text(HOSTILE) == '"he said #quot;hi#quot; #35; #lt;b#gt; \\ é next"'
    assert dot_text(HOSTILE) == '"he said \\"hi\\" # <b> \\\\ é\\nnext"'


def _hostile_flow():
    flow = hp.Flow('f"low')
    flow.source("in#put").map(lambda x: x, name='m "1" <x>').sink("sink é")
    return flow


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                    reason="graphviz's dot is not installed")
def test_dot_parses_with_graphviz():
    """CI installs graphviz (.ci/run): there a missing ``dot`` fails instead of skipping."""
    assert shutil.which("dot"), "graphviz's dot is not installed"
    graph = _hostile_flow().graph()
    for doc in (to_dot(graph), to_dot([("before", graph), ("after", graph)])):
        out = subprocess.run(["dot", "-Tplain"], input=doc, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "sink é" in out.stdout  # labels arrive as written, Unicode included


def test_mermaid_labels_carry_no_raw_quotes():
    text = to_mermaid(_hostile_flow().graph())
    for label in re.findall(r'\["(.*)"\]', text):
        assert '"' not in label and "\\u" not in label


JS = Path(__file__).resolve().parent / "js"


def _mermaid_parser_missing() -> str:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS / "node_modules" / "mermaid").is_dir():
        return "mermaid is not installed: npm ci --prefix tests/js"
    return ""


@pytest.mark.skipif(bool(_mermaid_parser_missing()) and not os.environ.get("CI"),
                    reason=_mermaid_parser_missing() or "mermaid's parser is there")
def test_mermaid_parses_with_mermaids_own_parser(repo_root):
    """Every diagram explain writes (one flow, a plan's steps, hostile names) parses with
    mermaid's own parser (the npm package, run by node); CI installs it (.ci/run), so there
    a missing parser fails instead of skipping."""
    assert not _mermaid_parser_missing(), _mermaid_parser_missing()
    docs = [to_mermaid(_hostile_flow().graph()),
            to_mermaid([("before", _hostile_flow().graph()), ("after", _hostile_flow().graph())]),
            explain(repo_root, "--format", "mermaid"),
            explain(repo_root, "--format", "mermaid", "--plan", PLAN)]
    out = subprocess.run(["node", str(JS / "parse_mermaid.mjs")], input=json.dumps(docs),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [None] * len(docs)
    broken = subprocess.run(["node", str(JS / "parse_mermaid.mjs")],
                            input=json.dumps(["flowchart TD\n  a --> b\nflowchart TD\n  c --> d\n"]),
                            capture_output=True, text=True, timeout=120)
    assert json.loads(broken.stdout)[0].startswith("Parse error")  # two blocks in one: rejected
