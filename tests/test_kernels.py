"""Numba kernels against the per-record Python operators (the oracle) and stable_hash.

Differential: the same program run with element types declared (kernels) and without
(Python operators) shows the same sinks, over random keys, values and tick splits.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.errors import InputError, UserCodeError
from hydropy.passes import kernel_plan
from hydropy.runtime import kernels
from hydropy.targets import local_kernels
from hydropy.runtime.batch import route, stable_hash
from hydropy.runtime.columns import Columns, normalize
from hydropy.targets.local import LocalRunner
from hydropy.targets.local import run as run_local

SETTINGS = settings(max_examples=60, deadline=None, database=None)


def add(acc, v):
    return acc + v


def bigger(a, b):
    return a if a >= b else b


def parse(x):
    return (x % 7, x * 2 + 1)


def odd_value(kv):
    return kv[1] % 4 == 1


def scaled(kv):
    return (kv[0], kv[1] * 0.5)


def sum_flow(dtype):
    flow = hp.Flow("sums")
    flow.source("kv", dtype=dtype).fold_keyed(float, add, name="sums").sink("sums")
    return flow


def chain_flow(dtype):
    flow = hp.Flow("chain")
    pairs = flow.source("xs", dtype=dtype).map(parse, name="parse").filter(odd_value, name="odd")
    pairs.map(scaled, name="half").reduce_keyed(bigger, name="top").sink("top")
    pairs.sink("pairs")
    return flow


def modes(flow, dtypes=None):
    graph = flow.graph()
    plan = kernel_plan.plan(graph, dtypes)
    return {graph.node(i).name: m for i, m in plan.modes.items()}


int_keys = st.integers(-2**40, 2**40)
floats = st.floats(-1e6, 1e6, allow_nan=False)


def split(records, cuts):
    cuts = sorted({c % (len(records) + 1) for c in cuts})
    bounds = [0, *cuts, len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:])]


# -- differential: kernels vs Python operators -------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(-50, 50), floats), max_size=60), st.lists(st.integers(0, 60), max_size=3))
def test_fold_keyed_kernel_equals_python_operator(records, cuts):
    ticks = [{"kv": part} for part in split(records, cuts)]
    assert run_local(sum_flow(("int64", "float64")).graph(), ticks=ticks) == \
        run_local(sum_flow(None).graph(), ticks=ticks)


@SETTINGS
@given(st.lists(int_keys, max_size=80), st.lists(st.integers(0, 80), max_size=3))
def test_fused_chain_and_reduce_keyed_equal_python_operators(xs, cuts):
    ticks = [{"xs": part} for part in split(xs, cuts)]
    assert run_local(chain_flow("int64").graph(), ticks=ticks) == \
        run_local(chain_flow(None).graph(), ticks=ticks)


@SETTINGS
@given(st.lists(st.tuples(int_keys, floats), max_size=40))
def test_keyed_kernel_state_reads_like_python_operator(records):
    """snapshot and lookup read a kernel's table as they read the Python operator's dict."""
    def out(dtype):
        flow = hp.Flow("reads")
        kv = flow.source("kv", dtype=dtype)
        table = kv.reduce_keyed(add, name="s")
        table.snapshot(name="snap").sink("snap")
        kv.lookup(table, name="look").sink("look")
        return run_local(flow.graph(), ticks=[{"kv": records}, {"kv": records[:3]}])
    assert out(("int64", "float64")) == out(None)


def test_keyed_table_grows_past_its_initial_capacity_and_survives_pickling():
    keys = np.arange(5000, dtype=np.int64) * 1024  # multiples of the capacity: probing must spread them
    vals = np.ones(5000)
    runner = LocalRunner(sum_flow(("int64", "float64")).graph())
    runner.tick({"kv": Columns(keys, vals)})
    runner.tick({"kv": Columns(keys[:10], vals[:10])})
    op = next(o for o in runner.ops.values() if isinstance(o, kernels.KeyedKernel))
    table = pickle.loads(pickle.dumps(op.table))
    got_keys, got_vals = table.items()
    assert got_keys.tolist() == keys.tolist()
    assert got_vals.tolist() == [2.0] * 10 + [1.0] * 4990
    assert table.count == 5000 and table.count <= table.limit


def test_columns_input_infers_the_element_type():
    keys = np.array([3, 1, 3], dtype=np.int64)
    flow = sum_flow(None)
    assert modes(flow, {"kv": "(int64, float64)"})["sums"].mode == "kernel"
    assert flow.run({"kv": Columns(keys, np.array([0.5, 1.0, 2.0]))}) == {"sums": [(1, 1.0), (3, 2.5)]}


def test_columns_iterate_as_python_records():
    cols = Columns(np.array([1, 2]), np.array([0.5, 1.5]))
    assert list(cols) == [(1, 0.5), (2, 1.5)] and type(list(cols)[0][0]) is int
    assert Columns.from_records([(1, 2.0)], "(int64, float64)").dtype == "(int64, float64)"
    assert normalize(("int64", float)) == "(int64, float64)" and normalize(int) == "int64"


# -- modes and fallbacks -------------------------------------------------------------------

def test_plan_fuses_map_filter_chains_and_types_the_fold():
    m = modes(chain_flow("int64"))
    assert m["parse"].mode == m["odd"].mode == m["half"].mode == "kernel"
    assert m["top"].dtype == "(int64, float64)"
    plan = kernel_plan.plan(chain_flow("int64").graph())
    # parse+odd fuse (odd feeds two readers, so it ends its chain); half is its own chain
    assert sorted(u.name for u in plan.units.values()) == ["half", "parse_odd", "top"]


LABELS = {1: "one", 2: "two"}


def label(x):
    return LABELS[x]


def test_a_function_numba_cannot_compile_falls_back_with_its_reason():
    flow = hp.Flow("fallback")
    flow.source("xs", dtype="int64").map(label, name="label").map(len, name="size").sink("out")
    mode = modes(flow)["label"]
    assert mode.mode == "python" and "Numba cannot compile label: Untyped global name 'LABELS'" in mode.reason
    assert flow.run({"xs": [1, 2]}) == {"out": [3, 3]}


def test_a_result_without_column_form_falls_back():
    flow = hp.Flow("text")
    flow.source("xs", dtype="int64").map(lambda x: str(x), name="text").sink("out")
    assert "returns unicode_type, which has no column form" in modes(flow)["text"].reason
    assert flow.run({"xs": [1, 2]}) == {"out": ["1", "2"]}


def test_unknown_element_type_runs_as_python_and_says_so():
    assert "element type of its input is unknown" in modes(sum_flow(None))["sums"].reason


def test_kernel_input_that_does_not_fit_its_type_is_an_input_error():
    with pytest.raises(InputError, match="does not fit"):
        sum_flow(("int64", "float64")).run({"kv": [(1, "x")]})


def test_a_failing_kernel_is_reported_at_the_operator():
    flow = hp.Flow("div")
    flow.source("xs", dtype="int64").map(lambda x: 10 // x, name="inv").sink("out")
    with pytest.raises(UserCodeError, match="map 'inv'.*ZeroDivisionError"):
        flow.run({"xs": [1, 0]})


def test_bad_declared_dtype_is_a_program_error():
    with pytest.raises(hp.ProgramError, match="unsupported element type"):
        hp.Flow("bad").source("xs", dtype="complex128")


# -- routing ---------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=50), st.integers(1, 7))
def test_jitted_hash_routing_equals_stable_hash(keys, members):
    got = kernels.hash_members(np.array(keys, dtype=np.int64), members).tolist()
    assert got == [stable_hash(k) % members for k in keys]


@SETTINGS
@given(st.lists(st.tuples(st.integers(-10**6, 10**6), floats), max_size=50), st.integers(1, 5))
def test_routing_columns_equals_routing_records(records, members):
    batch = Columns.from_records(records, "(int64, float64)") if records else Columns.empty("(int64, float64)")
    parts = route(batch, "hash", members, (0,))
    assert [list(p) for p in parts] == route(records, "hash", members, (0,))


def test_explain_kernels_shows_each_operator_mode_and_fallback_reason(repo_root, capsys):
    from hydropy.cli import main
    assert main(["explain", str(repo_root / "examples" / "sensor_stats.py"), "--kernels"]) == 0
    out = capsys.readouterr().out.split("kernels:\n", 1)[1]
    assert "valid      filter        kernel valid_calibrate_kernel ((int64, float64) -> " \
           "(int64, float64), fused: valid + calibrate)" in out
    assert "total      fold_keyed    kernel total_kernel" in out
    assert main(["explain", str(repo_root / "examples" / "wordcount.py"), "--kernels"]) == 0
    assert "words           flat_map    python: no kernel for flat_map" in capsys.readouterr().out


def test_disk_cached_local_kernels_are_safe_across_processes(repo_root, tmp_path):
    """A second process reuses or recompiles the cached kernels, never calls a stale function,
    even when the program's module has a different name there (loaded twice: salted name).
    The keyed kernels, which pass the user's function to the runtime's ``keyed_fold``, load
    from the disk cache in the second process (a helper called from Python with a function
    argument would be compiled anew in every process)."""
    import os
    import subprocess
    import sys
    script = ("import sys; from hydropy.loader import load_flow; from hydropy.targets.local import LocalRunner\n"
              "first = load_flow(sys.argv[1])\n"
              "print(load_flow(sys.argv[1]).run({'readings': [(1, 2.0), (1, 3.0), (2, -1.0)]}))\n"
              "runner = LocalRunner(first.graph()); runner.tick({'readings': [(1, 2.0)]})\n"
              "print(sorted(sum(op.kernel.stats.cache_hits.values()) for op in runner.ops.values()"
              " if hasattr(op, 'table')))")
    env = {**os.environ, "HYDROPY_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script, str(repo_root / "examples" / "sensor_stats.py")],
                           env=env, capture_output=True, text=True, timeout=120) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines()[0] == "{'peaks': [(1, 4.75)], 'totals': [(1, 8.0)]}"
    assert [run.stdout.splitlines()[1] for run in runs] == ["[0, 0]", "[1, 1]"]
    assert any(name.endswith(".py") for name in os.listdir(tmp_path / "kernels"))


def test_constant_results_and_non_numeric_init_are_typed_or_explained():
    flow = hp.Flow("consts")
    xs = flow.source("xs", dtype="int64")
    xs.map(lambda x: 1, name="one").sink("ones")
    xs.map(lambda x: (x, x), name="pairs").fold_keyed(list, lambda acc, v: acc + [v], name="lists").sink("lists")
    m = modes(flow)
    assert m["one"].mode == "kernel" and m["one"].dtype == "int64"
    assert m["lists"].reason == "init returns list, not a number"
    assert flow.run({"xs": [4, 4]}) == {"ones": [1, 1], "lists": [(4, [4, 4])]}


@SETTINGS
@given(st.lists(st.lists(st.tuples(st.integers(-20, 20), floats), max_size=30), max_size=4))
def test_keyed_kernel_step_returns_changed_pairs_like_python_operator(batches):
    """Operator level: per tick, the (key, value) pairs changed, in order of first change."""
    from hydropy.runtime import ops
    flow = hp.Flow("step")
    flow.source("kv", dtype=("int64", "float64")).fold_keyed(float, add, name="sums")
    unit = next(iter(kernel_plan.plan(flow.graph()).units.values()))
    unit.emits = True  # a reader of the changed pairs (none of today's kinds reads them)
    kernel_op = local_kernels.make_kernel_op(unit, local_kernels.load_local_kernel(unit))
    python_op = ops.FoldKeyed(float, add)
    for batch in batches:
        assert list(kernel_op.step(batch)) == python_op.step(batch)
    assert kernel_op.value == python_op.value


@SETTINGS
@given(st.lists(st.lists(st.integers(-2**63, 2**63 - 1) | st.integers(-30, 30), max_size=40), max_size=4))
def test_unique_kernel_equals_python_operator(batches):
    def out(dtype):
        flow = hp.Flow("distinct")
        flow.source("xs", dtype=dtype).unique(name="distinct").sink("out")
        return run_local(flow.graph(), ticks=[{"xs": b} for b in batches])
    assert out("int64") == out(None)


def test_unique_kernel_grows_its_set_and_keeps_first_seen_order():
    flow = hp.Flow("distinct")
    flow.source("xs", dtype="int64").unique(name="distinct").sink("out")
    assert modes(flow)["distinct"].mode == "kernel"
    xs = [(i * 7919) % 6000 << 20 for i in range(9000)]  # 6,000 distinct keys, differing in high bits
    assert flow.run({"xs": hp.Columns(np.array(xs))})["out"] == list(dict.fromkeys(xs))


# -- the runtime helpers, called as the generated kernels call them ------------------------

hostile_keys = st.integers(-2**63, 2**63 - 1) | st.integers(-3, 3) | \
    st.integers(-2**20, 2**20).map(lambda k: k * 1024)  # collide in the low bits


def keyed_kernel(kind, fn, dtype=("int64", "float64")):
    """The kernel operator of a one-operator flow's ``kind`` (fold_keyed or reduce_keyed)."""
    flow = hp.Flow("helper")
    kv = flow.source("kv", dtype=dtype)
    (kv.fold_keyed(float, fn, name="f") if kind == "fold_keyed" else kv.reduce_keyed(fn, name="f")).sink("s")
    (unit,) = kernel_plan.plan(flow.graph()).units.values()
    return unit, local_kernels.load_local_kernel(unit)


@SETTINGS
@given(st.sampled_from(["fold_keyed", "reduce_keyed"]), st.lists(hostile_keys, max_size=60),
       st.integers(0, 60))
def test_keyed_fold_helper_equals_a_python_dict_fold(kind, keys, resume):
    """``keyed_fold`` from a table of 2 slots: it stops before each new key that would fill the
    table past half, the caller grows it and resumes; the table then holds what a dict fold
    holds, whatever the keys (colliding, extreme) and wherever a run resumes."""
    unit, kernel = keyed_kernel(kind, bigger)
    vals = [float((i * 37) % 11) - 5.0 for i in range(len(keys))]
    want: dict = {}
    for k, v in zip(keys, vals):
        want[k] = bigger(want[k], v) if k in want else (bigger(0.0, v) if kind == "fold_keyed" else v)
    table = kernels.KeyedTable("float64", 2)
    ks, vs = np.array(keys, np.int64), np.array(vals)
    start = 0
    for stop in (min(resume, len(keys)), len(keys)):  # two batches: the first ends anywhere
        while start < stop:
            start, table.count = kernel(np.float64(0.0), table.keys, table.vals, table.used,
                                        table.count, ks[:stop], vs[:stop], start)
            if start < stop:
                assert table.count == table.limit  # it stopped at a new key only when full
                table.grow()
    got_keys, got_vals = table.items()
    assert dict(zip(got_keys.tolist(), got_vals.tolist())) == want
    assert got_keys.tolist() == sorted(want) and table.count == len(want)


@SETTINGS
@given(st.lists(hostile_keys, max_size=40))
def test_changed_keys_are_the_batch_keys_in_order_of_first_occurrence(keys):
    assert kernels.first_occurrences(np.array(keys, np.int64)).tolist() == list(dict.fromkeys(keys))


def test_a_kernel_keyed_sink_comes_back_as_columns_on_request():
    records = [(3, 0.5), (-2, 1.0), (3, 2.0)]
    got = sum_flow(("int64", "float64")).run({"kv": records}, columns=True)["sums"]
    assert isinstance(got, Columns) and got.dtype == "(int64, float64)"
    assert list(got) == sum_flow(("int64", "float64")).run({"kv": records})["sums"] == [(-2, 1.0), (3, 2.5)]
    # a keyed sink the Python operator holds stays a list
    assert sum_flow(None).run({"kv": records}, columns=True)["sums"] == [(-2, 1.0), (3, 2.5)]


def test_an_initial_value_without_a_literal_is_emitted_as_an_expression(tmp_path):
    from hydropy.loader import load_flow
    from hydropy.runtime.host import load_stage_class
    from hydropy.targets.compile import compile_flow
    program = tmp_path / "lowest.py"
    program.write_text("import math\nimport hydropy as hp\n\n\ndef start():\n    return -math.inf\n\n\n"
                       "def bigger(a, v):\n    return a if a >= v else v\n\n\n"
                       "flow = hp.Flow('lowest')\n"
                       "flow.source('kv', dtype=('int64', 'float64')).fold_keyed(start, bigger, name='top')"
                       ".sink('top')\n")
    out = tmp_path / "out"
    compile_flow(load_flow(str(program)), str(out))
    text = (out / "stages" / "main.py").read_text()
    assert "init=float('-inf')" in text and "kernels.keyed_fold(top_fn, init, False," in text
    stage = load_stage_class(str(out), "stages/main.py", "MainStage")()
    stage.run_tick({"kv": [[(1, -2.0), (1, -7.0), (2, -5.0)]]})
    assert stage.results() == {"top": ("keyed", {1: -2.0, 2: -5.0})}
