"""One definition of ticks on every target (issue 11, "The same ticks everywhere").

The ledger (examples/ledger.py: a cycle, a lookup of balances, a fold_keyed) is non-monotone:
its sinks depend on how the inputs are cut into ticks. Cut the same way, it gives the same
sinks on the local target, in the simulator delivering the targets' ticks, and on Ray; the
ticks can also be given one by one (``ticks=``, the ``ticks:`` form of an inputs file).
"""
from __future__ import annotations

import json
import random

import pytest

from hydropy.errors import InputError
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.pipeline import design_point
from hydropy.targets.local import Ticks, canonical, split_ticks
from hydropy.targets.sim import simulate


def ledger_inputs(n: int = 15_000, accounts: int = 40, seed: int = 0) -> dict[str, list]:
    """``n`` deposits and ``n`` withdrawals (2n records) over ``accounts`` accounts."""
    rng = random.Random(seed)
    names = [f"acct{i}" for i in range(accounts)]
    return {"deposits": [(rng.choice(names), rng.randint(1, 50)) for _ in range(n)],
            "withdrawals": [(rng.choice(names), rng.randint(1, 80)) for _ in range(n)]}


@pytest.fixture(scope="module")
def ledger():
    from conftest import REPO_ROOT as repo_root
    flow = load_flow(str(repo_root / "examples" / "ledger.py"))
    return flow, str(repo_root / "examples" / "plans" / "ledger_partitioned.yaml")


def test_the_ledger_depends_on_its_ticks(ledger):
    flow, _ = ledger
    inputs = ledger_inputs(3_000)
    sinks = {size: flow.run(inputs, tick_size=size) for size in (500, 1_000, 3_000)}
    assert len({repr(v) for v in sinks.values()}) == 3
    assert flow.run(ticks=split_ticks(inputs, 500)) == sinks[500]
    assert flow.run(Ticks(split_ticks(inputs, 1_000))) == sinks[1_000]


def test_the_ledger_at_30000_records_agrees_on_local_simulator_and_ray(ledger, ray_session):
    flow, plan = ledger
    inputs = ledger_inputs()
    assert sum(map(len, inputs.values())) == 30_000
    expected = flow.run(inputs)  # two ticks: 10,000 then 5,000 records of each input
    assert expected != flow.run(inputs, tick_size=30_000)  # the tick cut shows in the sinks
    design = design_point(flow.graph(), plan)
    assert len(design.locations()) == 2
    for seed in (0, 1):
        sim = simulate(design, None, seed, ticks=split_ticks(inputs))
        assert canonical(design, sim.results) == canonical(design, expected)
    got = flow.run(inputs, target="ray", plan=plan)
    assert canonical(design, got) == canonical(design, expected)
    given = split_ticks(inputs, 7_000)
    got = flow.run(ticks=given, target="ray", plan=plan)
    assert canonical(design, got) == canonical(design, flow.run(ticks=given))


def test_the_simulator_without_ticks_may_cut_differently(ledger):
    """Without ``ticks`` the simulator cuts sources its own way: the ledger then differs from the
    local run under some seed, so the equality above is not vacuous."""
    flow, plan = ledger
    inputs = ledger_inputs(300)
    design = design_point(flow.graph(), plan)
    expected = canonical(design, flow.run(inputs, tick_size=100))
    found = [canonical(design, simulate(design, inputs, seed).results) != expected for seed in range(5)]
    assert any(found)
    assert all(canonical(design, simulate(design, None, seed, ticks=split_ticks(inputs, 100)).results)
               == expected for seed in range(5))


def test_an_inputs_file_gives_ticks(tmp_path, repo_root, capsys):
    from hydropy.cli import main
    data = tmp_path / "ticks.yaml"
    data.write_text("ticks:\n"
                    "  - deposits: [[alice, 100]]\n"
                    "    withdrawals: [[alice, 60], [alice, 50]]\n"
                    "  - {}\n"
                    "  - withdrawals: [[alice, 30]]\n")
    ticks = load_inputs(str(data), ["deposits", "withdrawals"])
    assert isinstance(ticks, Ticks) and len(ticks) == 3
    program = str(repo_root / "examples" / "ledger.py")
    assert main(["run", program, "--inputs", str(data), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # both withdrawals of tick 1 see 100; tick 3 sees 100 - 60 - 50
    assert out == {"approved": [["alice", -60], ["alice", -50]],
                   "refused": [["alice", [30, -10]]], "balances": [["alice", -10]]}


@pytest.mark.parametrize("text, message", [
    ("ticks: 3\n", "'ticks' must be a list of ticks"),
    ("ticks:\n  - 5\n", ":2: tick 1 must map input names"),
    ("ticks:\n  - {}\n  - {nope: []}\n", ":3: unknown input 'nope'"),
    ("ticks:\n  - {deposits: 1}\n", "input 'deposits' must map to a list"),
    ("deposits: []\nticks: []\n", ":1: an inputs file with 'ticks:' gives every input inside"),
])
def test_a_bad_ticks_file_is_refused_at_its_line(tmp_path, text, message):
    data = tmp_path / "bad.yaml"
    data.write_text(text)
    with pytest.raises(InputError) as err:
        load_inputs(str(data), ["deposits", "withdrawals"])
    assert message in str(err.value)


def test_an_input_named_ticks_is_an_input(tmp_path):
    data = tmp_path / "in.yaml"
    data.write_text("ticks: [1, 2]\n")
    assert load_inputs(str(data), ["ticks"]) == {"ticks": [1, 2]}


def test_without_the_programs_inputs_ticks_is_the_form_only_when_it_can_be(tmp_path, repo_root):
    data = tmp_path / "in.yaml"
    data.write_text("ticks:\n  - {xs: [1]}\n  - {xs: [2]}\n")
    assert load_inputs(str(data)) == Ticks([{"xs": [1]}, {"xs": [2]}])
    epochs = load_inputs(str(repo_root / "examples" / "rset_epochs.yaml"))  # an input named ticks
    assert not isinstance(epochs, Ticks) and epochs["ticks"] == ["tick", "tick", "tick"]


def test_rounds_sent_several_to_a_call_keep_every_tick(ledger, ray_session, monkeypatch):
    """The Ray driver sends several rounds to a member in one call (Ray's cost per call paid
    once); each round is still one tick: the ledger, whose sinks show its tick cut, cut into
    48 ticks, gives the local target's sinks, and the calls did carry several rounds."""
    from hydropy.targets import recovery
    flow, plan = ledger
    inputs = ledger_inputs(1_200)
    ticks = split_ticks(inputs, 25)
    assert len(ticks) == 48 and recovery.rounds_per_call(recovery.tick_records(ticks), 48, 4) == 12
    calls = []
    original = recovery.Rounds.submit_rounds
    monkeypatch.setattr(recovery.Rounds, "submit_rounds",
                        lambda self, rounds, label: (calls.append(len(rounds)), original(self, rounds, label))[1])
    design = design_point(flow.graph(), plan)
    expected = flow.run(ticks=ticks)
    assert expected != flow.run(ticks=split_ticks(inputs, 300))  # the tick cut shows in the sinks
    got = flow.run(ticks=ticks, target="ray", plan=plan)
    assert canonical(design, got) == canonical(design, expected)
    assert max(calls) == 12


def test_rounds_per_call():
    from hydropy.targets.recovery import rounds_per_call
    assert rounds_per_call(2_000 * 100_000, 2_000, 4) == 10   # 1,000,000 records a call
    assert rounds_per_call(20 * 10_000, 20, 4) == 5           # max_inflight calls per member
    assert rounds_per_call(3 * 200, 3, 4) == 1
    assert rounds_per_call(1_000 * 10, 1_000, 4) == 64        # at most 64 rounds
    assert rounds_per_call(0, 1, 4) == 1


def test_rounds_per_call_is_a_whole_number_or_refused(tmp_path):
    from hydropy.errors import InputError
    from hydropy.targets.ray import run_compiled
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(InputError, match="rounds per call"):
            run_compiled(str(tmp_path), {}, rounds_per_call=bad)
