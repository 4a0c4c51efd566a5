"""A member's warm-up compiles every signature its ticks use: batches that crossed Ray's
object store arrive as read-only arrays, which Numba types apart from writable ones, so a
warm-up for writable columns alone leaves the first tick to compile (a mutant shows it).
And a member's start leaves its heap frozen, so the collector's full passes during the run do
not walk the objects of its imports (Numba's, the program's)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import hydropy as hp
from hydropy.passes import kernel_plan
from hydropy.runtime import kernels
from hydropy.runtime.columns import Columns
from hydropy.targets.local_kernels import load_local_kernel, make_kernel_op


def add(acc, v):
    return acc + v


def kernel_ops():
    flow = hp.Flow("warm")
    pairs = flow.source("kv", dtype=("int64", "float64"))
    pairs.map(lambda kv: (kv[0], kv[1] * 2.0), name="double").fold_keyed(float, add, name="sums").sink("sums")
    pairs.join(flow.source("other", dtype=("int64", "int64")), name="jn").sink("pairs")
    flow.source("ids", dtype="int64").unique(name="distinct").sink("distinct")
    return [make_kernel_op(u, load_local_kernel(u)) for u in kernel_plan.plan(flow.graph()).units.values()]


def readonly(*cols):
    for c in cols:
        c.flags.writeable = False
    return Columns(*cols)


def signatures(op) -> int:
    fns = [op.kernel, kernels.unique_insert, kernels._join_insert, kernels._join_heads]
    return sum(len(getattr(f, "signatures", ())) for f in fns)


def tick(op):
    rng = np.random.default_rng(0)
    if isinstance(op, kernels.JoinKernel):
        return op.step(readonly(np.arange(5), rng.random(5)), readonly(np.arange(5), np.arange(5)))
    if isinstance(op, kernels.UniqueKernel):
        return op.step(readonly(np.arange(5)))
    return op.step(readonly(np.arange(5), rng.random(5)))


def compiles_in_first_tick() -> list[str]:
    """The kernel operators whose tick on read-only columns compiled after their warm-up."""
    found = []
    for op in kernel_ops():
        op.warm_up()
        before = signatures(op)
        tick(op)
        if signatures(op) != before:
            found.append(type(op).__name__)
    return found


def in_fresh_process(mutant: bool) -> list[str]:
    """:func:`compiles_in_first_tick` in a new interpreter (a dispatcher compiled by an
    earlier test would hide a missing warm-up), with the read-only priming removed if asked."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_kernel_warm_up as t\n"
            "from hydropy.runtime import kernels, columns\n"
            "if sys.argv[2] == '1':\n"
            "    kernels.empty_inputs = lambda dtype, readonly: columns.Columns.empty(dtype).cols\n"
            "print(','.join(t.compiles_in_first_tick()))")
    proc = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__), str(int(mutant))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [x for x in proc.stdout.strip().split(",") if x]


def test_a_tick_on_read_only_columns_compiles_nothing_after_warm_up():
    assert in_fresh_process(mutant=False) == []


def test_mutant_warm_up_without_read_only_columns_leaves_compiling_to_the_first_tick():
    assert set(in_fresh_process(mutant=True)) == {"ChainKernel", "KeyedKernel", "JoinKernel", "UniqueKernel"}


PROGRAM = """import hydropy as hp


def add(acc, v):
    return acc + v


flow = hp.Flow("route")
flow.source("kv", dtype=("int64", "float64")).fold_keyed(float, add, name="sums").sink("sums")
"""

SENDER = """
import sys, numpy as np
from hydropy.loader import load_flow
from hydropy.runtime import kernels
from hydropy.targets.compile import compile_flow
from hydropy.runtime.host import StageHost
out = sys.stdout
if sys.argv[3] == '1':
    kernels.warm_split_by_hash = lambda: 0.0
compile_flow(load_flow(sys.argv[1]), sys.argv[2], plan=[{"decouple": {"operators": ["kv"], "to": "front"}},
                                                        {"partition": {"stage": "main", "n": 3}}])
host = StageHost(sys.argv[2], "stages/front.py", "FrontStage", 0, 1, {"kv_to_main": 3})
assert host.failure is None, host.failure
before = len(kernels._hash_members.signatures) + len(kernels._split_order.signatures)
keys, vals = np.arange(5), np.arange(5.0)
keys.flags.writeable = vals.flags.writeable = False
host.tick(1, 0, [], {"kv": ("cols", [keys, vals])}, [])
after = len(kernels._hash_members.signatures) + len(kernels._split_order.signatures)
out.write(str(after - before))
"""


def member_script(script: str, tmp_path, mutant: bool) -> int:
    """The number ``script`` prints last, run in a fresh interpreter (no dispatcher compiled
    or object frozen by an earlier test) on PROGRAM compiled into ``tmp_path``."""
    program = tmp_path / "route.py"
    program.write_text(PROGRAM)
    proc = subprocess.run([sys.executable, "-c", script, str(program), str(tmp_path / "out"), str(int(mutant))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().splitlines()[-1])


def sender_compiles_in_first_tick(tmp_path, mutant: bool) -> int:
    return member_script(SENDER, tmp_path, mutant)


def test_a_member_sending_columns_by_key_splits_its_first_tick_without_compiling(tmp_path):
    """A stage without kernels of its own still splits columns by key for its receivers: its
    host warms that split up (it took ~0.3 s of each run's first tick on Ray before)."""
    assert sender_compiles_in_first_tick(tmp_path, mutant=False) == 0


def test_mutant_without_the_routing_warm_up_compiles_in_the_first_tick(tmp_path):
    assert sender_compiles_in_first_tick(tmp_path, mutant=True) > 0


HEAP = """
import gc, sys
from hydropy.loader import load_flow
from hydropy.runtime import host as hosts
from hydropy.targets.compile import compile_flow
out = sys.stdout  # (a member captures what stage code prints)
if sys.argv[3] == '1':
    hosts.settle_heap = lambda: None
compile_flow(load_flow(sys.argv[1]), sys.argv[2], plan=[{"decouple": {"operators": ["kv"], "to": "front"}},
                                                        {"partition": {"stage": "main", "n": 3}}])
member = hosts.StageHost(sys.argv[2], "stages/main.py", "MainStage", 0, 3, {})
assert member.failure is None, member.failure
out.write(str(len(gc.get_objects())))
"""


def objects_a_full_collection_walks(tmp_path, mutant: bool) -> int:
    """What the collector walks in a full pass right after a member started (in a fresh
    interpreter: Numba and the stage loaded there, nothing else)."""
    return member_script(HEAP, tmp_path, mutant)


def test_a_started_member_leaves_its_imports_out_of_the_collectors_passes(tmp_path):
    """Unfrozen, one full pass over a member's imports took 60-70 ms in the middle of a Ray
    run (the shopping cart's decoupled source: 0.155 s a run, 0.08-0.11 s frozen)."""
    frozen = objects_a_full_collection_walks(tmp_path, mutant=False)
    unfrozen = objects_a_full_collection_walks(tmp_path, mutant=True)
    assert unfrozen > 50_000 and frozen < unfrozen / 20, (frozen, unfrozen)
