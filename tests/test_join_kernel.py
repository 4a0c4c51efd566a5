"""The join kernel against the Python ``Join`` (the oracle): the same records per tick, in the
same order, over keys with many duplicates and random tick splits; its state grows and
pickles; operators it cannot take fall back with their reason; emitted stages run it on Ray."""
from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.ir.ops import with_dtype
from hydropy.loader import load_flow
from hydropy.passes.decouple import decouple
from hydropy.passes import kernel_plan
from hydropy.runtime import ops
from hydropy.targets import local_kernels
from hydropy.runtime.columns import Columns
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import run as run_local
from hydropy.targets.ray import run_compiled

SETTINGS = settings(max_examples=80, deadline=None, database=None)


def join_flow(left=("int64", "int64"), right=("int64", "float64")):
    flow = hp.Flow("joined")
    flow.source("a", dtype=left).join(flow.source("b", dtype=right), name="jn").sink("out")
    return flow


def join_ops(flow):
    """The kernel operator of the flow's join and a fresh Python ``Join``."""
    (unit,) = kernel_plan.plan(flow.graph()).units.values()
    assert unit.kind == "join"
    return local_kernels.make_kernel_op(unit, local_kernels.load_local_kernel(unit)), ops.Join()


def ticks_of(records, cuts):
    """``records`` split at ``cuts`` (indices modulo its length + 1) into consecutive batches."""
    bounds = [0, *sorted({c % (len(records) + 1) for c in cuts}), len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:])]


keys = st.integers(-3, 3)  # a small range: many duplicate keys on both sides
left_rows = st.lists(st.tuples(keys, st.integers(-2**62, 2**62)), max_size=40)
right_rows = st.lists(st.tuples(keys, st.floats(allow_nan=False)), max_size=40)
cuts = st.lists(st.integers(0, 40), max_size=4)


@SETTINGS
@given(left_rows, right_rows, cuts, cuts)
def test_join_kernel_emits_what_the_python_join_emits_each_tick(left, right, lcuts, rcuts):
    kernel, oracle = join_ops(join_flow())
    lt, rt = ticks_of(left, lcuts), ticks_of(right, rcuts)
    n = max(len(lt), len(rt))
    lt, rt = lt + [[]] * (n - len(lt)), rt + [[]] * (n - len(rt))
    for i, (a, b) in enumerate(zip(lt, rt)):
        batch = (Columns.from_records(a, "(int64, int64)"), b) if i % 2 else (a, b)  # both forms
        assert kernel.step(*batch).tolist() == oracle.step(a, b)


def test_join_state_grows_past_its_initial_capacity_and_survives_pickling():
    kernel, oracle = join_ops(join_flow())
    rng = np.random.default_rng(3)
    k = np.arange(3000, dtype=np.int64) * 1024  # multiples of the capacity: probing must spread them
    left = Columns(np.concatenate([k, k[:50]]), rng.integers(0, 9, 3050))
    right = Columns(k[::3], rng.normal(size=1000))
    assert sorted(kernel.step(left, right)) == sorted(oracle.step(list(left), list(right)))
    assert kernel.left.rows == 3050 and kernel.left.nkeys == 3000 <= kernel.left.limit
    assert len(kernel.left.tkeys) > 1024 and len(kernel.left.vals) >= 3050
    kernel.left, kernel.right = pickle.loads(pickle.dumps((kernel.left, kernel.right)))
    more = Columns(k[:300], rng.normal(size=300))
    assert kernel.step([], more).tolist() == oracle.step([], list(more))  # 50 keys with two left rows


def test_join_of_non_numeric_or_non_int_keyed_inputs_falls_back_with_its_reason():
    def modes(flow):
        graph = flow.graph()
        return {graph.node(i).name: m for i, m in kernel_plan.plan(graph).modes.items()}
    flow = join_flow(right=("float64", "float64"))
    (mode,) = modes(flow).values()
    assert mode.mode == "python" and "keys are float64" in mode.reason
    assert run_local(flow.graph(), {"a": [(1, 2)], "b": [(1.0, 0.5)]}) == {"out": [(1, (2, 0.5))]}

    flow = hp.Flow("untyped")
    flow.source("a", dtype=("int64", "int64")).join(flow.source("b"), name="jn").sink("out")
    assert "element type of its input is unknown" in modes(flow)["jn"].reason

    flow = hp.Flow("after")
    joined = flow.source("a", dtype=("int64", "int64")).join(flow.source("b", dtype="(int64, bool)"),
                                                              name="jn")
    joined.map(lambda kv: kv[0], name="key").sink("out")
    got = modes(flow)  # the join's (k, (x, y)) records stay columns: the map after it is a kernel
    assert got["jn"].mode == "kernel" and got["key"].mode == "kernel"
    assert got["jn"].dtype == "(int64, (int64, bool))" and got["key"].dtype == "int64"
    graph = decouple(flow.graph(), ["key"], to="after")  # and across a channel
    after = {graph.node(i).name: m for i, m in kernel_plan.plan(graph).modes.items()}
    assert after["key"].mode == "kernel"

    py_flow = hp.Flow("python_join")  # a join that runs as Python: what reads it says so
    joined = py_flow.source("a", dtype=("float64", "int64")).join(
        py_flow.source("b", dtype="(float64, bool)"), name="jn")
    joined.map(lambda kv: kv[1][0], name="left_value").sink("out")
    assert "join 'jn', runs as Python" in modes(py_flow)["left_value"].reason
    assert "kernel kernels.join_pairs ((int64, int64) x (int64, bool) -> (int64, (int64, bool)))" in \
        kernel_plan.report(flow.graph())


PROGRAM = """import hydropy as hp

flow = hp.Flow("joined")
orders = flow.source("orders", dtype=("int64", "float64"))
orders.join(flow.source("stock", dtype=("int64", "int64")), name="match").sink("out")
"""


def test_emitted_join_kernel_on_ray_equals_the_python_join(ray_session, tmp_path):
    program = tmp_path / "joined.py"
    program.write_text(PROGRAM)
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [match], to: j}\n"
                    "  - partition: {stage: j, n: 2}\n")
    flow = load_flow(str(program))
    out = tmp_path / "out"
    compile_flow(flow, str(out), plan=str(plan))
    assert "kernels.JoinKernel('(int64, float64)', '(int64, int64)'" in \
        (out / "stages" / "j.py").read_text()

    rng = np.random.default_rng(5)
    inputs = {"orders": Columns(rng.integers(0, 40, 600), rng.normal(size=600)),
              "stock": Columns(rng.integers(0, 40, 300), rng.integers(0, 99, 300))}
    graph = flow.graph()
    for node in graph.nodes():  # the oracle: element types erased, the Python Join
        if node.kind == "source":
            graph.replace(node.copy(coll=with_dtype(node.coll, None)))
    want = run_local(graph, {k: list(v) for k, v in inputs.items()})
    got = run_compiled(str(out), inputs, tick_size=100)
    assert sorted(got["out"]) == sorted(want["out"]) and len(want["out"]) > 1000
