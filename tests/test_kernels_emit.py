"""Kernels in emitted stage code: the snapshot, warm-up with an on-disk cache, and Ray runs
equal to the per-record Python operators of the single-node program."""
from __future__ import annotations

import os

import numpy as np

import hydropy as hp
from hydropy.ir.ops import with_dtype
from hydropy.loader import load_flow, load_inputs
from hydropy.runtime.batch import unpack
from hydropy.runtime.host import load_stage_class
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import run as run_local
from hydropy.targets.ray import run_compiled


def sensor_flow(repo_root):
    return load_flow(str(repo_root / "examples" / "sensor_stats.py"))


def plan_path(repo_root):
    return str(repo_root / "examples" / "plans" / "sensor_stats_2stage.yaml")


def python_oracle(flow, inputs):
    """The single-node program with every element type erased: per-record Python operators."""
    graph = flow.graph()
    for node in graph.nodes():
        if node.kind == "source":
            graph.replace(node.copy(coll=with_dtype(node.coll, None)))
    return run_local(graph, {k: list(v) for k, v in inputs.items()})


def test_emitted_kernels_snapshot(repo_root, tmp_path, snapshot):
    out = tmp_path / "out"
    compile_flow(sensor_flow(repo_root), str(out), plan=plan_path(repo_root),
                 program_arg="examples/sensor_stats.py")
    for stage in ("main", "agg"):
        text = (out / "stages" / f"{stage}.py").read_text()
        assert str(tmp_path) not in text and str(repo_root) not in text
        snapshot.assert_match(text, f"emit/sensor_stats/stages/{stage}.py")


def test_stage_warms_up_its_kernels_from_a_cache_beside_the_code(repo_root, tmp_path):
    out = tmp_path / "out"
    compile_flow(sensor_flow(repo_root), str(out), plan=plan_path(repo_root))
    cls = load_stage_class(str(out), "stages/main.py", "MainStage")
    stage = cls(receivers={"calibrate_to_agg": 2})
    assert stage.compile_seconds > 0
    cached = os.listdir(out / "stages" / "__pycache__")
    assert any(name.startswith("main.") and name.endswith(".nbi") for name in cached)
    routed = stage.run_tick({"readings": [("cols", [np.array([1, 2]), np.array([0.5, -1.0])])]})
    # the reading of sensor 2 is invalid; sensor 1's goes to member stable_hash(1) % 2 == 1
    assert [list(unpack(p)) for p in routed["calibrate_to_agg"]] == [[], [(1, 1.0)]]


def test_kernel_stages_on_ray_equal_the_python_operators(ray_session, repo_root, tmp_path):
    flow = sensor_flow(repo_root)
    out = str(tmp_path / "out")
    compile_flow(flow, out, plan=plan_path(repo_root))
    small = load_inputs(str(repo_root / "examples" / "sensor_stats.yaml"))
    assert run_compiled(out, small) == python_oracle(flow, small) == flow.run(small)

    rng = np.random.default_rng(7)
    big = {"readings": hp.Columns(rng.integers(-2**40, 2**40, 3000) % 97, rng.normal(size=3000))}
    stats = {}
    got = run_compiled(out, big, tick_size=400, stats=stats)
    assert got == python_oracle(flow, big) == flow.run(big)
    assert stats["compile_seconds"] >= 0 and stats["run_seconds"] > 0


def test_a_kernel_global_never_shadows_a_program_function(tmp_path):
    program = tmp_path / "clash.py"
    program.write_text("import hydropy as hp\n\n\ndef total_fn(acc, v):\n    return acc + v\n\n\n"
                       "flow = hp.Flow('clash')\n"
                       "flow.source('kv', dtype=('int64', 'int64'))"
                       ".fold_keyed(int, total_fn, name='total').sink('totals')\n")
    out = tmp_path / "out"
    compile_flow(load_flow(str(program)), str(out))
    text = (out / "stages" / "main.py").read_text()
    assert "from clash import total_fn\n" in text and "total_fn_2 = njit(cache=True)(total_fn)" in text
    stage = load_stage_class(str(out), "stages/main.py", "MainStage")()
    stage.run_tick({"kv": [[(1, 2), (1, 3), (2, 5)]]})
    assert stage.results() == {"totals": ("keyed", {1: 5, 2: 5})}


def test_cli_reports_kernel_compile_time_apart_from_run_time(ray_session, repo_root, tmp_path, capsys):
    from hydropy.cli import main
    out = str(tmp_path / "out")
    compile_flow(sensor_flow(repo_root), out, plan=plan_path(repo_root))
    assert main(["run", out, "--inputs", str(repo_root / "examples" / "sensor_stats.yaml")]) == 0
    captured = capsys.readouterr()
    assert "totals (3 records)" in captured.out
    assert captured.err.startswith("kernels: ") and " s to compile or load at actor start; run: " in captured.err


def test_emitted_unique_kernel_runs_in_its_stage(tmp_path):
    program = tmp_path / "distinct.py"
    program.write_text("import hydropy as hp\n\n"
                       "flow = hp.Flow('distinct')\n"
                       "flow.source('xs', dtype='int64').unique(name='seen').sink('out')\n")
    out = tmp_path / "out"
    compile_flow(load_flow(str(program)), str(out))
    text = (out / "stages" / "main.py").read_text()
    assert "self.seen = kernels.UniqueKernel('int64'" in text and "njit" not in text
    stage = load_stage_class(str(out), "stages/main.py", "MainStage")()
    stage.run_tick({"xs": [("col", np.array([5, 3, 5]))]})
    stage.run_tick({"xs": [[3, 8]]})
    assert stage.results() == {"out": ("stream", [5, 3, 8])}
