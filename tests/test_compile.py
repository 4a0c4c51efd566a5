"""Compiling design points: emitted code snapshots, plans, hand-edit protection, bad input."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from hydropy import PlanError, RewriteRefused
from hydropy.loader import load_flow
from hydropy.passes.decouple import decouple
from hydropy.passes.plan import apply_plan, parse_plan
from hydropy.targets.compile import compile_flow
from hydropy.targets.emit import edited


def hydropy_cli(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "hydropy", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("example", ["wordcount", "shopping_cart"])
def test_emitted_code_snapshot(repo_root, tmp_path, snapshot, example):
    flow = load_flow(str(repo_root / "examples" / f"{example}.py"))
    out = tmp_path / "out"
    compile_flow(flow, str(out), plan=str(repo_root / "examples" / "plans" / f"{example}_2stage.yaml"),
                 program_arg=f"examples/{example}.py")
    for rel in sorted(["deploy.yaml", *(f"stages/{p}" for p in os.listdir(out / "stages"))]):
        text = (out / rel).read_text()
        assert str(tmp_path) not in text and str(repo_root) not in text
        snapshot.assert_match(text, f"emit/{example}/{rel}")
        compile(text, rel, "exec") if rel.endswith(".py") else None


def test_decouple_places_a_channel_on_each_cut_edge(repo_root):
    graph = load_flow(str(repo_root / "examples" / "wordcount.py")).graph()
    after = decouple(graph, ["count_per_word"], "agg")
    nets = [n for n in after.nodes() if n.kind == "network"]
    assert [(after.node(n.inputs[0]).name, n.location) for n in nets] == [("ones", "agg")]
    sink = next(n for n in after.sinks() if n.params["name"] == "counts")
    assert sink.location == "agg"
    assert graph.by_name("count_per_word").location == "main"  # the input graph is untouched
    back = decouple(after, ["count_per_word"], "main")
    assert not any(n.kind == "network" for n in back.nodes())


def test_decouple_refuses_to_split_a_fold_from_its_reader(repo_root):
    graph = load_flow(str(repo_root / "examples" / "kvstore.py")).graph()
    with pytest.raises(RewriteRefused, match="a fold's state can only be read in its own stage"):
        decouple(graph, ["store"], "kv")


def test_decouple_refuses_divergent_delays_into_anti_join(tmp_path):
    program = tmp_path / "aj.py"
    program.write_text(textwrap.dedent('''
        import hydropy as hp
        flow = hp.Flow("aj")
        xs = flow.source("xs")
        pairs = xs.map(lambda x: (x, x), name="pairs")
        banned = xs.filter(lambda x: x % 2 == 0, name="banned")
        pairs.anti_join(banned, name="keep").sink("kept")
    '''))
    graph = load_flow(str(program)).graph()
    with pytest.raises(RewriteRefused, match="anti_join 'keep'.*different channels"):
        decouple(graph, ["pairs", "keep"], "side")
    both = decouple(graph, ["pairs", "banned", "keep"], "side")  # one channel carries xs: aligned
    assert [n.name for n in both.nodes() if n.kind == "network"] == ["xs_to_side"]


def test_plan_steps_and_refusals_carry_the_plan_line(repo_root):
    graph = load_flow(str(repo_root / "examples" / "wordcount.py")).graph()
    steps = parse_plan("steps:\n  - decouple: {operators: [count_per_word], to: b}\n"
                       "  - decouple: {operators: [nope], to: c}\n", "p.yaml")
    with pytest.raises(RewriteRefused, match=r"p.yaml:3: plan step 'decouple' refused: no operator "
                                             r"named 'nope'"):
        apply_plan(graph, steps)


@pytest.mark.parametrize("text, message", [
    ("steps: [", "malformed plan"),
    ("- decouple: {}", "a plan is a mapping with a list under 'steps:'"),
    ("steps:\n  - shard: {n: 2}\n", "unknown step 'shard'"),
    ("steps:\n  - decouple: {operators: [a]}\n", "lacks 'to'"),
    ("steps:\n  - decouple: {operators: a, to: b}\n", "'operators' must be a list"),
    ("steps:\n  - decouple: {operators: [a], to: b, n: 3}\n", "has no argument 'n'"),
    ("steps:\n  - decouple: {operators: [a], to: b}\n    partition: {}\n", "one-key mapping"),
])
def test_malformed_plans(text, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(text, "p.yaml")


def test_cli_explain_with_plan_prints_each_step(repo_root):
    r = hydropy_cli("explain", "examples/wordcount.py", "--plan", "examples/plans/wordcount_3stage.yaml",
                    cwd=repo_root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("flow wordcount") == 3
    assert "# after step 2: decouple" in r.stdout
    assert "stage agg:" in r.stdout and "stage ingest:" in r.stdout


def test_cli_compile_refuses_a_missing_operator_and_writes_nothing(repo_root, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [no_such_op], to: x}\n")
    out = tmp_path / "out"
    r = hydropy_cli("compile", "examples/wordcount.py", "--plan", str(plan), "-o", str(out), cwd=repo_root)
    assert r.returncode == 2
    assert "no operator named 'no_such_op'" in r.stderr and "plan.yaml:2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout
    assert not out.exists()
    assert os.listdir(tmp_path) == ["plan.yaml"]  # no temporary directory left behind


def test_cli_compile_refuses_hand_edited_files_unless_forced(repo_root, tmp_path):
    out = tmp_path / "out"
    assert hydropy_cli("compile", "examples/wordcount.py", "-o", str(out), cwd=repo_root).returncode == 0
    stage = out / "stages" / "main.py"
    assert not edited(str(stage))
    stage.write_text(stage.read_text() + "# my change\n")
    assert edited(str(stage))
    r = hydropy_cli("compile", "examples/wordcount.py", "-o", str(out), cwd=repo_root)
    assert r.returncode == 2 and "stages/main.py" in r.stderr and "--force" in r.stderr
    assert stage.read_text().endswith("# my change\n")  # untouched
    r = hydropy_cli("compile", "examples/wordcount.py", "-o", str(out), "--force", cwd=repo_root)
    assert r.returncode == 0 and not edited(str(stage))


def test_cli_compile_refuses_a_non_empty_foreign_directory(repo_root, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = hydropy_cli("compile", "examples/wordcount.py", "-o", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and "holds no compiled program" in r.stderr
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_cli_run_of_a_directory_that_is_not_compiled(repo_root, tmp_path):
    r = hydropy_cli("run", str(tmp_path), cwd=repo_root)
    assert r.returncode == 2 and "is not a compiled program" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_unreachable_ray_address_fails_fast(repo_root, tmp_path):
    out = tmp_path / "out"
    assert hydropy_cli("compile", "examples/wordcount.py", "-o", str(out), cwd=repo_root).returncode == 0
    start = time.monotonic()
    r = hydropy_cli("run", str(out), "--address", "127.0.0.1:1", cwd=repo_root, timeout=60)
    assert time.monotonic() - start < 30
    assert r.returncode == 2 and "cannot reach a Ray cluster at 127.0.0.1:1" in r.stderr


def test_cli_closure_that_cannot_be_shipped_is_named(tmp_path):
    program = tmp_path / "closure.py"
    program.write_text(textwrap.dedent('''
        import hydropy as hp

        def build(offset):
            flow = hp.Flow("closure")
            flow.source("xs").map(lambda x: x + offset[0], name="shift").sink("out")
            return flow

        flow = build([3])  # a list: not a value written into stage code
    '''))
    r = hydropy_cli("compile", str(program), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2
    assert "closure.py:6" in r.stderr and "map 'shift'" in r.stderr and "offset" in r.stderr
    assert not (tmp_path / "out").exists()
