"""The explorer's cost source (issue 12): each design point's emitted stages replayed in one
process (hydropy.explore.replay), and the estimate built on it (model.replay_estimate).

The timing tests make one stage slower by sleeping (a lower bound on its time, far above what
the code around it costs even on a loaded machine), so they cannot pass by chance nor fail
by noise."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from hydropy.explore import model
from hydropy.explore.explorer import explore
from hydropy.explore.model import INLINE_BYTES, Constants, estimate, ray_calls, replay_estimate, stage_records
from hydropy.explore.profile import profile
from hydropy.explore.replay import MemberCost, Replay, replay, sample_inputs
from hydropy.loader import load_flow
from hydropy.passes.pipeline import design_point
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CONSTANTS = Constants(round_s=1e-3, byte_s=1e-9, record_s=1e-6, actor_start_s=1.0, submit_s=3e-4,
                      call_s=3e-4, call_cpu_s=6e-4, cores=64, run_s=0.01, driver_round_s=2e-4)
LINES = [f"w{i} w{i + 1} w{i % 7}" for i in range(300)]


def _wordcount_agg(n: int = 1):
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    steps = [{"decouple": {"operators": ["count_per_word"], "to": "agg"}}]
    if n > 1:
        steps.append({"partition": {"stage": "agg", "n": n}})
    return graph, design_point(graph, steps)


def _replayed(graph, design, inputs, tick_size=100):
    prof = profile(graph, inputs, tick_size=tick_size)
    return prof, replay(design, inputs, tick_size=tick_size, whole_records=stage_records(design, prof))


def test_replay_runs_every_member_on_the_records_the_design_routes_to_it():
    graph, design = _wordcount_agg(2)
    prof, rep = _replayed(graph, design, {"lines": LINES})
    words = sum(len(line.split()) for line in LINES)
    assert rep.sample_ticks == rep.rounds == 3 and rep.sample_records == len(LINES)
    assert [c.records_in for c in rep.members["main"]] == [len(LINES)]
    assert sum(c.records_in for c in rep.members["agg"]) == words
    assert all(c.records_in > 0 and c.ticks == 3 for c in rep.members["agg"])
    assert rep.members["main"][0].bytes_out > 0 and rep.scale == {"main": 1.0, "agg": 1.0}


def test_sample_keeps_every_kth_record_and_small_inputs_whole():
    got = sample_inputs({"big": list(range(1000)), "small": list(range(30))}, 0.1)
    assert got["big"] == list(range(0, 1000, 10)) and got["small"] == list(range(30))
    got = sample_inputs({"big": list(range(10_000)), "table": list(range(900)),
                         "other": list(range(2_000))}, 0.1)
    assert got["table"] == list(range(900))                 # a tenth of the largest or less: whole
    assert got["other"] == list(range(0, 2_000, 10))        # more: sampled


def test_a_join_with_a_small_table_keeps_its_share_of_the_pairs():
    """Sampling the requests and keeping the client classes whole, a tenth of the requests
    meets their class; sampling both, about a hundredth would (the share squared)."""
    classes = [(f"c{i}", i % 2) for i in range(500)]
    requests = [(f"c{i % 500}", i) for i in range(20_000)]
    got = sample_inputs({"requests": requests, "classes": classes}, 0.1)
    known = {c for c, _ in got["classes"]}
    assert sum(1 for c, _ in got["requests"] if c in known) == len(got["requests"]) == 2_000
    graph, design = _wordcount_agg(2)
    prof = profile(graph, {"lines": LINES * 4}, tick_size=100)
    rep = replay(design, {"lines": LINES * 4}, tick_size=100,
                 whole_records=stage_records(design, prof), fraction=0.25)
    assert rep.sample_records == 300
    assert rep.scale["main"] == pytest.approx(4.0) and rep.scale["agg"] == pytest.approx(4.0, rel=0.05)


def test_a_stage_made_slower_in_its_emitted_code_predicts_less(monkeypatch):
    """The emitted class of stage 'agg' sleeping 1 ms per record it receives: the estimate
    names it the bottleneck and predicts less than for the code as emitted."""
    from hydropy.targets import sim
    graph, design = _wordcount_agg()
    prof, plain = _replayed(graph, design, {"lines": LINES})
    real = sim.emitted_stages

    def slowed(design_, program=None):
        classes = dict(real(design_, program))

        class Slow(classes["agg"]):
            def run_tick(self, batches):
                before = self.received
                out = super().run_tick(batches)
                time.sleep(1e-3 * (self.received - before))
                return out
        classes["agg"] = Slow
        return classes

    monkeypatch.setattr(sim, "emitted_stages", slowed)
    _, slow = _replayed(graph, design, {"lines": LINES})
    fast_e = replay_estimate(design, prof, CONSTANTS, 4, plain)
    slow_e = replay_estimate(design, prof, CONSTANTS, 4, slow)
    assert slow_e.bottleneck == "agg" and slow_e.stage_seconds["agg"] >= 0.9
    assert slow_e.throughput < fast_e.throughput / 2


def _synthetic(members: int, seconds: float, cpu: bool = True) -> Replay:
    """A replay of main -> agg where agg's work (``seconds``) splits evenly over ``members``."""
    share = seconds / members
    return Replay({"main": [MemberCost(ticks=10, records_in=1000, seconds=0.01, cpu_seconds=0.01)],
                   "agg": [MemberCost(ticks=10, records_in=1000 // members, seconds=share,
                                      cpu_seconds=share if cpu else 0.0) for _ in range(members)]},
                  {"main": 1.0, "agg": 1.0}, rounds=10, sample_ticks=10, sample_records=1000)


@pytest.mark.parametrize("seconds", [0.5, 5.0, 50.0])
def test_more_members_never_predict_less_for_a_perfectly_partitioned_cpu_bound_stage(seconds):
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    prof = profile(graph, {"lines": LINES}, tick_size=30)
    rates = [replay_estimate(_wordcount_agg(n)[1], prof, CONSTANTS, 16, _synthetic(n, seconds)).throughput
             for n in range(1, 9)]
    assert all(b >= a for a, b in zip(rates, rates[1:])), rates
    assert rates[-1] > 2 * rates[0]


def test_cpu_bound_members_beyond_the_cores_gain_nothing_waiting_ones_do():
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    prof = profile(graph, {"lines": LINES}, tick_size=30)
    two_cores = Constants(**{**CONSTANTS.__dict__, "cores": 2})
    rate = lambda n, cpu: replay_estimate(_wordcount_agg(n)[1], prof, two_cores, 16,  # noqa: E731
                                          _synthetic(n, 5.0, cpu)).throughput
    assert rate(6, True) < 1.2 * rate(2, True)
    assert rate(6, False) > 2 * rate(2, False)


SLOW_FOLD = '''
import time
import hydropy as hp


def add(total, n):
    time.sleep(0.0005)
    return total + n


flow = hp.Flow("slow_fold")
flow.source("items").map(lambda k: (k, 1), name="pairs").fold_keyed(int, add, name="per_key").sink("counts")
'''


def test_skewed_keys_predict_less_than_uniform_ones(tmp_path):
    """The fold sleeps per record, so each member's time is its share of the records: with
    one hot key, the member holding it takes most of them."""
    path = tmp_path / "slow_fold.py"
    path.write_text(textwrap.dedent(SLOW_FOLD))
    graph = load_flow(str(path)).graph()
    design = design_point(graph, [{"decouple": {"operators": ["per_key"], "to": "agg"}},
                                  {"partition": {"stage": "agg", "n": 4}}])
    uniform = {"items": [f"k{i}" for i in range(400)]}
    skewed = {"items": ["hot"] * 340 + [f"k{i}" for i in range(60)]}
    rates = {}
    for name, inputs in (("uniform", uniform), ("skewed", skewed)):
        prof, rep = _replayed(graph, design, inputs)
        rates[name] = replay_estimate(design, prof, CONSTANTS, 8, rep).throughput
        if name == "skewed":  # the hot key's member received all of its records
            assert max(c.records_in for c in rep.members["agg"]) >= 340
    assert rates["skewed"] < rates["uniform"] / 2


def test_explore_estimates_from_the_replay_and_falls_back_to_the_profile():
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    found = explore(graph, {"lines": LINES}, program="wordcount", constants=model.DEFAULTS, cpus=3,
                    members=(2,), depth=1, tick_size=100)
    assert {p.estimate.cost_source for p in found.points} == {"replay"}

    namespace: dict = {}  # a program with no file: its stages cannot be emitted
    exec(compile(textwrap.dedent(SLOW_FOLD).replace("0.0005", "0"), "<no file>", "exec"), namespace)
    flow = namespace["flow"]
    found = explore(flow.graph(), {"items": list(range(50))}, program="nofile", constants=model.DEFAULTS,
                    cpus=3, members=(2,), depth=1, tick_size=10)
    assert {p.estimate.cost_source for p in found.points} == {"profile"}
    assert all(p.estimate.throughput > 0 for p in found.points)


def test_estimate_without_a_replay_is_the_profile_model():
    graph, design = _wordcount_agg(2)
    prof = profile(graph, {"lines": LINES}, tick_size=100)
    assert estimate(design, prof, CONSTANTS, 4).cost_source == "profile"


def test_predictions_within_the_noise_share_a_rank():
    from hydropy.explore.explorer import DesignPoint, rank_predictions, tied_ranks
    assert tied_ranks([1.0, 1.1, 2.0, 5.0, 5.5], 1.25) == [1.5, 1.5, 3.0, 4.5, 4.5]
    assert tied_ranks([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    graph, design = _wordcount_agg()
    prof = profile(graph, {"lines": LINES}, tick_size=100)
    base = estimate(design, prof, CONSTANTS, 4)
    points = [DesignPoint(str(i), [], design, model.Estimate(**{**base.__dict__, "throughput": t}), {})
              for i, t in enumerate([100.0, 1000.0, 1100.0, 50.0])]
    rank_predictions(points)
    assert [p.rank for p in points] == ["3", "1=", "1=", "4"]


def test_each_object_through_the_object_store_predicts_its_cost():
    """A member pays ``large_call_s - call_s`` more per call for each of its call's objects
    over Ray's inline limit (measured: 2.6 ms against 0.4 ms per queued call on 2 cores), and
    the machine ``large_call_cpu_s - call_cpu_s`` more CPU, once per object: where it is
    received, not again where it is sent."""
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    prof = profile(graph, {"lines": LINES}, tick_size=30)
    design = _wordcount_agg(2)[1]
    calls = ray_calls(prof)
    constants = Constants(**{**CONSTANTS.__dict__, "large_call_s": 0.1, "large_call_cpu_s": 1.0, "cores": 1})
    small, large, sent = _synthetic(2, 0.5), _synthetic(2, 0.5), _synthetic(2, 0.5)
    for m in large.members["agg"]:
        m.objects = {"in main_to_agg 0": 10 * INLINE_BYTES * calls, "in other 0": 10 * INLINE_BYTES * calls,
                     "in small 0": INLINE_BYTES * calls}   # (not over the limit)
    for m in sent.members["agg"]:
        m.objects = {"out agg_to_x 0": 10 * INLINE_BYTES * calls}
    small_e, large_e, sent_e = (replay_estimate(design, prof, constants, 16, r) for r in (small, large, sent))
    assert large_e.stage_seconds["agg"] - small_e.stage_seconds["agg"] == pytest.approx(
        calls * 2 * (0.1 - constants.call_s))
    assert sent_e.stage_seconds["agg"] - small_e.stage_seconds["agg"] == pytest.approx(calls * (0.1 - constants.call_s))
    # the CPU alone (no object costs a member time): on one core the run takes all of it
    cpu_only = Constants(**{**constants.__dict__, "large_call_s": constants.call_s})
    small_e, large_e, sent_e = (replay_estimate(design, prof, cpu_only, 16, r) for r in (small, large, sent))
    assert large_e.seconds - small_e.seconds == pytest.approx(2 * 2 * calls * (1.0 - constants.call_cpu_s))
    assert sent_e.seconds == pytest.approx(small_e.seconds)


def test_the_replay_runs_with_the_explorers_heap_frozen(monkeypatch):
    """A member on Ray has a small heap; the explorer's is large (every design point's graph),
    and a collection over it in a timed tick is no cost of the stage: the replay runs with
    what existed before it frozen (the estimate of one design point moved 2x between runs
    without), and unfreezes it after."""
    import gc

    from hydropy.explore import replay as replay_module
    seen = []
    original = replay_module._replay_once
    monkeypatch.setattr(replay_module, "_replay_once",
                        lambda *a, **k: (seen.append(gc.get_freeze_count()), original(*a, **k))[1])
    graph, design = _wordcount_agg(2)
    prof = profile(graph, {"lines": LINES}, tick_size=30)
    assert gc.get_freeze_count() == 0
    replay(design, {"lines": LINES}, tick_size=30, whole_records=stage_records(design, prof))
    assert seen and all(count > 0 for count in seen)
    assert gc.get_freeze_count() == 0


def test_each_member_pays_its_checkpoints():
    """Runs checkpoint by default: each member once at its first round (``checkpoint_s``)
    and then at most 1/AUTO_RATIO of its ticks' time (the cadence's bound): 7-13 ms of a
    70-85 ms shopping-cart run measured against the same run without checkpoints."""
    from hydropy.runtime.checkpoint import AUTO_RATIO
    graph = load_flow(str(EXAMPLES / "wordcount.py")).graph()
    prof = profile(graph, {"lines": LINES}, tick_size=30)
    design, replayed = _wordcount_agg(2)[1], _synthetic(2, 0.5)
    none, some = (replay_estimate(design, prof, Constants(**{**CONSTANTS.__dict__, "checkpoint_s": c}), 16, replayed)
                  for c in (0.0, 0.2))
    assert some.stage_seconds["agg"] - none.stage_seconds["agg"] == pytest.approx(0.2)
    assert none.stage_seconds["agg"] > 0.25 * (1 + 1 / AUTO_RATIO)   # a member's 0.25 s of ticks and its cadence


def test_a_calibration_from_an_older_version_is_not_taken_for_this_ones(tmp_path, monkeypatch):
    """A cache that lacks a constant this version measures gives the defaults, and the report
    says which constants are missing and what to run; a whole one is taken as it is."""
    import json
    cache = tmp_path / "explore-calibration.json"
    monkeypatch.setattr(model, "cache_path", lambda: str(cache))
    whole = {k: 0.5 for k in model.KEYS} | {"cores": 2, "when": "2026-01-01 10:00"}
    cache.write_text(json.dumps({k: v for k, v in whole.items() if k != "checkpoint_s"}))
    old = model.load_constants()
    assert old.checkpoint_s == model.DEFAULTS.checkpoint_s and old.round_s == model.DEFAULTS.round_s
    assert "lacks checkpoint_s" in old.source and "hydropy explore --calibrate" in old.source
    cache.write_text(json.dumps(whole))
    assert model.load_constants() == Constants(**{k: whole[k] for k in model.KEYS}, source="calibrated 2026-01-01 10:00")
    cache.write_text("[1, 2]")
    assert model.load_constants() == model.DEFAULTS
