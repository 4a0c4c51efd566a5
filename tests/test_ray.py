"""Design points on Ray give the single-node program's sinks (issue: Ray target).

Every example runs under a 2-stage and a 3-stage plan, compiled to stage code and run as
Ray actors, and is compared with the local run of the single-node program (as multisets
where a sink is unordered). One Ray per test session.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from hydropy.loader import load_flow, load_inputs
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import canonical
from hydropy.targets.ray import run_compiled

EXAMPLES = ["wordcount", "shopping_cart", "kvstore", "voting"]


@pytest.mark.parametrize("plan", ["2stage", "3stage"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_design_point_on_ray_matches_single_node(ray_session, repo_root, tmp_path, example, plan):
    flow = load_flow(str(repo_root / "examples" / f"{example}.py"))
    inputs = load_inputs(str(repo_root / "examples" / f"{example}.yaml"))
    graph = compile_flow(flow, str(tmp_path / "out"),
                         plan=str(repo_root / "examples" / "plans" / f"{example}_{plan}.yaml"))
    assert len(graph.locations()) == int(plan[0])
    got = run_compiled(str(tmp_path / "out"), inputs)
    expected = flow.run(inputs)
    assert canonical(flow.graph(), got) == canonical(flow.graph(), expected)
    assert any(expected.values())  # the comparison is not vacuous


def test_many_rounds_with_backpressure(ray_session, repo_root, tmp_path):
    """Inputs larger than a batch travel in many rounds, at most max_inflight at once."""
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    lines = [f"w{i % 97} w{i % 13} common" for i in range(5000)]
    compile_flow(flow, str(tmp_path / "out"),
                 plan=str(repo_root / "examples" / "plans" / "wordcount_3stage.yaml"))
    got = run_compiled(str(tmp_path / "out"), {"lines": lines}, tick_size=300, max_inflight=2)
    assert got == flow.run({"lines": lines})
    assert dict(got["counts"])["common"] == 5000


def test_cycle_inside_a_stage_drains_on_ray(ray_session, tmp_path):
    """A loop inside one stage keeps ticking after the inputs end, until it settles."""
    import textwrap
    program = tmp_path / "countdown.py"
    program.write_text(textwrap.dedent('''
        import hydropy as hp

        def step(n):
            return n - 1

        flow = hp.Flow("countdown")
        handle, back = flow.cycle(name="back")
        start = flow.source("start", )
        alive = start.union(back, name="alive")
        alive.sink("seen")
        handle.complete(alive.filter(lambda n: n > 0, name="positive").map(step, name="dec"))
        alive.count(name="n").sink("n")
    '''))
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [n], to: counter}\n")
    flow = load_flow(str(program))
    compile_flow(flow, str(tmp_path / "out"), plan=str(plan))
    got = run_compiled(str(tmp_path / "out"), {"start": [3, 2]})
    assert got == flow.run({"start": [3, 2]})
    assert got["n"] == [7]


def test_hand_edited_stage_runs_as_edited(ray_session, repo_root, tmp_path):
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    out = tmp_path / "out"
    compile_flow(flow, str(out), plan=str(repo_root / "examples" / "plans" / "wordcount_2stage.yaml"))
    stage = out / "stages" / "main.py"
    text = stage.read_text()
    edited = text.replace("for words_record in words_out:",
                          "for words_record in [w for w in words_out if w != 'the']:")
    assert edited != text
    stage.write_text(edited)
    got = run_compiled(str(out), {"lines": ["the cat", "the dog"]})
    assert dict(got["counts"]) == {"cat": 1, "dog": 1}
    assert got["total"] == [2]


def test_user_error_in_an_actor_is_reported_at_the_users_line(ray_session, tmp_path):
    import textwrap

    from hydropy import UserCodeError
    program = tmp_path / "boom.py"
    program.write_text(textwrap.dedent('''
        import hydropy as hp

        def invert(x):
            return 1 / x

        flow = hp.Flow("boom")
        flow.source("xs").map(invert, name="invert").sink("out")
    '''))
    flow = load_flow(str(program))
    compile_flow(flow, str(tmp_path / "out"))
    with pytest.raises(UserCodeError, match=r"map 'invert' \(boom.py:8\).*ZeroDivisionError"):
        run_compiled(str(tmp_path / "out"), {"xs": [1, 0]})


def test_run_on_an_existing_cluster_by_address(repo_root, tmp_path):
    """``hydropy run DIR --address HOST:PORT`` uses a cluster started apart (``ray start``),
    shipping the compiled directory as the job's working directory, and leaves it running."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_tmp = tempfile.mkdtemp(prefix="hp-ray-")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(16).hex()}
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={ray_tmp}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out = tmp_path / "wc"
        hydropy = [sys.executable, "-m", "hydropy"]
        subprocess.run([*hydropy, "compile", "examples/wordcount.py", "--target", "ray", "--plan",
                        "examples/plans/wordcount_2stage.yaml", "-o", str(out)], cwd=repo_root,
                       check=True, capture_output=True, timeout=120)
        for _ in range(60):  # wait until the head accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        proc = subprocess.run([*hydropy, "run", str(out), "--inputs", "examples/wordcount.yaml",
                               "--address", f"127.0.0.1:{port}", "--format", "json"],
                              cwd=repo_root, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["total"] == [12]
        assert head.poll() is None  # the cluster was not ours to stop
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", ray_tmp], check=False)
        shutil.rmtree(ray_tmp, ignore_errors=True)
