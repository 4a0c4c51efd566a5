"""Checkpoints and recovery without Ray: a member's state saved and restored into a fresh
member goes on exactly as the member that never stopped (every kind of state the emitted
stages keep: keyed folds in Python and in numpy kernel tables, joins, lattices, cycles,
stream sinks); a member applies each round once; the simulator crashes stateful members and
recovers them, and a recovery that skips the replay is caught."""
from __future__ import annotations

import json
import os
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.loader import load_flow
from hydropy.runtime import checkpoint
from hydropy.runtime.batch import pack
from hydropy.runtime.checkpoint import Journal, MemberCheckpoints, MemberRecovery, StateCodec
from hydropy.runtime.kernels import KeyedTable
from hydropy.targets.compile import design_point
from hydropy.targets.sim import check_run, emitted_stages, simulate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAOS = os.path.join(REPO, "tests", "programs", "chaos")


def chaos_inputs() -> dict:
    with open(os.path.join(CHAOS, "inputs.json")) as fh:
        return {k: [tuple(r) if isinstance(r, list) else r for r in v] for k, v in json.load(fh).items()}


def chaos_design(plan: str):
    flow = load_flow(os.path.join(CHAOS, "chaos.py"))
    graph = flow.graph()
    return graph, design_point(graph, os.path.join(CHAOS, f"{plan}.yaml"))


def one_member(cls):
    receivers = {c: 1 for c in cls.CHANNELS_OUT}
    return cls(0, 1, receivers)


def ticks_of(records: dict[str, list], cuts: list[int]) -> list[dict[str, list]]:
    """The inputs cut into len(cuts) + 1 ticks of packed batches."""
    bounds = [0, *sorted(cuts), None]
    return [{name: [pack(rs[a:b])] for name, rs in records.items()} for a, b in zip(bounds, bounds[1:])]


def run_through(member, ticks) -> list:
    return [member.run_tick(t) for t in ticks]


def same(a, b) -> bool:
    return pickle.dumps(a) == pickle.dumps(b) or a == b


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_restored_member_goes_on_as_the_one_that_never_stopped(data):
    """Cut the inputs into random ticks, checkpoint after a random tick, restore into a fresh
    member: every later tick sends the same and the sinks end the same (keyed fold, join,
    lattice, cycle with records in flight, stream sink)."""
    _, design = chaos_design("one_stage")
    cls = emitted_stages(design)["main"]
    inputs = chaos_inputs()
    n = data.draw(st.integers(4, 40))
    records = {k: v[:n] for k, v in inputs.items()}
    cuts = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=6))
    ticks = ticks_of(records, cuts) + [{}] * 6   # empty ticks drain the cycle
    at = data.draw(st.integers(0, len(ticks)))
    original = one_member(cls)
    codec = StateCodec(original)
    before = run_through(original, ticks[:at])
    saved = codec.dumps(original)
    after = run_through(original, ticks[at:])
    fresh = one_member(cls)
    StateCodec(fresh).loads(fresh, saved)
    assert run_through(fresh, ticks[at:]) == after
    assert fresh.results() == original.results() and before is not None


class Kernel:
    """Stands for a compiled Numba kernel: code (it has ``py_func``) that cannot be pickled."""

    py_func = None

    def __reduce__(self):
        raise TypeError("a compiled kernel is not state")


class KernelFold:
    def __init__(self):
        self.kernel, self.table = Kernel(), KeyedTable("int64")


def test_a_kernel_is_code_and_its_numpy_table_state():
    member = type("Member", (), {})()  # any object with attributes stands for a stage here
    member.fold = KernelFold()
    member.fold.table.keys[:3] = [7, 8, 9]
    member.fold.table.count = 3
    saved = StateCodec(member).dumps(member)
    fresh = type(member)()
    fresh.fold = KernelFold()
    kernel = fresh.fold.kernel
    StateCodec(fresh).loads(fresh, saved)
    assert fresh.fold.kernel is kernel and fresh.fold.table.count == 3
    assert list(fresh.fold.table.keys[:3]) == [7, 8, 9]


@pytest.mark.skipif(os.environ.get("HYDROPY_LONG") != "1", reason="compiles B2's kernels: HYDROPY_LONG=1")
def test_kernel_tables_are_restored(repo_root):
    """B2's typed stages: numpy hash tables of a kernel fold come back whole."""
    flow = load_flow(str(repo_root / "benchmarks" / "programs" / "pipeline.py"))
    design = design_point(flow.graph(), str(repo_root / "benchmarks" / "programs" / "pipeline.yaml"))
    classes = emitted_stages(design)
    main, agg = one_member(classes["main"]), one_member(classes["agg"])
    batches = [hp.Columns.from_records(list(range(i * 500, (i + 1) * 500)), "int64") for i in range(4)]

    def feed(member_agg, batch):
        sent = main.run_tick({"numbers": [pack(batch)]})
        member_agg.run_tick({channel: parts for channel, parts in sent.items()})

    feed(agg, batches[0])
    feed(agg, batches[1])
    saved = StateCodec(agg).dumps(agg)
    restored = one_member(classes["agg"])
    StateCodec(restored).loads(restored, saved)
    for batch in batches[2:]:
        sent = main.run_tick({"numbers": [pack(batch)]})
        agg.run_tick(dict(sent))
        restored.run_tick(dict(sent))
    assert restored.results() == agg.results()
    assert dict(agg.results()["sums"][1]) == dict(hp.Flow.run(flow, {"numbers": list(range(2000))})["sums"])


def test_code_is_saved_by_its_place_and_found_in_the_fresh_member():
    _, design = chaos_design("one_stage")
    cls = emitted_stages(design)["main"]
    member = one_member(cls)
    member.run_tick(ticks_of({k: v[:20] for k, v in chaos_inputs().items()}, [10])[0])
    saved = StateCodec(member).dumps(member)
    assert b"decrement" not in saved and b"positive" not in saved  # no function, by value or name
    fresh = one_member(cls)
    StateCodec(fresh).loads(fresh, saved)
    assert fresh.sums.fn is member.sums.fn  # the program's function, as the fresh member holds it
    assert fresh.sums is not member.sums and fresh.sums.value == member.sums.value


def test_a_member_applies_each_round_once(tmp_path):
    _, design = chaos_design("one_stage")
    cls = emitted_stages(design)["main"]
    ticks = ticks_of({k: v[:30] for k, v in chaos_inputs().items()}, [10, 20])
    member = one_member(cls)
    recovery = MemberRecovery(member, "main", 0, str(tmp_path), 1)
    for r, tick in enumerate(ticks, 1):
        assert recovery.takes(r)
        member.run_tick(tick)
        recovery.ticked(member, r, 0.0, acked=r - 1)
    assert not recovery.takes(2)  # a replayed round: dropped
    with pytest.raises(RuntimeError, match="round 5 reached a member that has applied 3 rounds"):
        recovery.takes(5)
    # the driver has the outputs of round 2 only: the restarted member starts there
    fresh = one_member(cls)
    again = MemberRecovery(fresh, "main", 0, str(tmp_path), 1)
    assert again.restore(fresh, upto=2) == 2
    fresh.run_tick(ticks[2])
    assert fresh.results() == member.results()


def test_checkpoints_are_whole_files_and_the_acknowledged_one_is_kept(tmp_path):
    files = MemberCheckpoints(str(tmp_path), "agg", 1)
    for r in (3, 6, 9):
        files.save(r, f"state {r}".encode())
    assert files.rounds() == [3, 6, 9]
    assert files.prune([3, 6, 9], acked=7) == [6, 9]  # 9 may never have reached the driver
    assert files.latest(8) == (6, b"state 6") and files.latest(2) is None
    open(os.path.join(files.directory, "round-12.pkl.99.tmp"), "wb").close()  # cut short
    assert files.latest(100) == (9, b"state 9")
    assert sorted(os.listdir(files.directory)) == ["round-6.pkl", "round-9.pkl"]


def test_the_automatic_cadence_keeps_checkpoints_under_a_twentieth_of_the_time():
    cadence = checkpoint.Cadence(None)
    assert cadence.due(1)  # nothing known yet: the first round is checkpointed (and timed)
    cadence.saved(0.5)
    cadence.ticked(9.0)
    assert not cadence.due(2)
    cadence.ticked(1.0)
    assert cadence.due(3)
    assert [r for r in range(1, 10) if checkpoint.Cadence(4).due(r)] == [4, 8]


# -- the simulator ----------------------------------------------------------------------------

@pytest.mark.parametrize("plan", ["one_stage", "partitioned"])
def test_the_simulator_crashes_stateful_members_and_recovers_them(plan):
    graph, design = chaos_design(plan)
    inputs = {k: v[:80] for k, v in chaos_inputs().items()}
    crashed = 0
    for seed in range(12):
        assert check_run(graph, design, inputs, seed) is None
        crashed += any("crashes and recovers" in line for _, line in simulate(design, inputs, seed).trace)
    assert crashed >= 3


def test_a_recovery_without_the_replay_is_caught_by_the_simulator(monkeypatch):
    """Mutant: the crashed member restored from its checkpoint, the ticks since not run again."""
    graph, design = chaos_design("one_stage")
    inputs = {k: v[:80] for k, v in chaos_inputs().items()}

    def restore_only(self, fresh):
        self.codec = StateCodec(fresh)
        self.codec.loads(fresh, self.saved)
        return fresh

    monkeypatch.setattr(Journal, "recover", restore_only)
    assert any(check_run(graph, design, inputs, seed) is not None for seed in range(12))


# -- options ---------------------------------------------------------------------------------

def compiled_chaos(tmp_path) -> str:
    from hydropy.targets.compile import compile_flow
    out = str(tmp_path / "out")
    compile_flow(load_flow(os.path.join(CHAOS, "chaos.py")), out)
    return out


def test_a_negative_checkpoint_cadence_is_refused_before_ray_starts(tmp_path):
    from hydropy.targets.ray import run_compiled
    with pytest.raises(hp.InputError, match=r"^--checkpoint-every must be a whole number of rounds "
                                            r">= 0, got -1$"):
        run_compiled(compiled_chaos(tmp_path), {}, checkpoint_every=-1)


def test_deploy_yaml_may_name_the_checkpoint_directory_as_a_string(tmp_path):
    from hydropy.deploy import read_manifest
    out = compiled_chaos(tmp_path)
    path = os.path.join(out, "deploy.yaml")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("checkpoint_dir: [not, a, path]\n")
    with pytest.raises(hp.LoadError, match=r"'checkpoint_dir' must be a non-empty string") as caught:
        read_manifest(out)
    assert caught.value.loc.file.endswith("deploy.yaml") and caught.value.loc.line > 1
