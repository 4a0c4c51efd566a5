"""Replicating a lattice read only through a threshold: each replica's value is the merge of
the writes that reached it, below the single-node value, and a threshold once true stays true,
so replicas pass only what the original passes; a unique in one single-member stage elsewhere
keeps each record once. Anything less is refused."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import GCounter, Max, SetUnion
from hydropy.passes import replicate as replicate_module
from hydropy.passes.decouple import decouple
from hydropy.passes.replicate import replicate
from hydropy.testing import assert_equivalent

BOUND = 5


def high(m):
    return m.reveal() is not None and m.reveal() >= BOUND


def unguarded(m):
    return m.reveal() >= BOUND


def is_hot(kv):
    return kv[1].reveal() >= BOUND


def alarm(_m):
    return "alarm"


def key_of(kv):
    return kv[0]


def exact(m):
    return m.reveal() is not None and m.reveal() == BOUND


def alarms(lattice=Max, test=high, after=lambda s: s.map(alarm, name="say")):
    flow = hp.Flow("alarms")
    best = flow.source("xs").lattice_fold(lattice, name="best")
    after(best.snapshot(name="peek").filter(test, name="high")).unique(name="once").sink("alarms")
    return flow


def hot_keys():
    flow = hp.Flow("hot_keys")
    per_key = flow.source("xs").lattice_fold_keyed(Max, name="best")
    per_key.snapshot(name="peek").filter(is_hot, name="high").map(key_of, name="say") \
        .unique(name="once").sink("hot")
    return flow


def staged(flow, replicated=("best", "peek", "high"), rest=("say", "once")):
    g = decouple(flow.graph(), list(replicated) + list(rest), "s")
    return decouple(g, list(rest), "out")


@pytest.mark.parametrize("flow, inputs", [
    (alarms(), {"xs": [1, 3, 7, 2, 9, 4]}),
    (alarms(), {"xs": [1, 2, 3]}),  # never crosses: no alarm anywhere
    (hot_keys(), {"xs": [("a", 1), ("b", 6), ("a", 5), ("c", 2), ("b", 1)]}),
])
def test_a_threshold_read_deduplicated_elsewhere_replicates_and_agrees(flow, inputs):
    design = replicate(staged(flow), "s", 3)
    assert design.members == {"s": 3}
    assert design.by_name("xs_to_s").params["routing"] == "broadcast"
    assert_equivalent(flow, design, inputs, seeds=range(15))


def test_a_unique_among_the_replicas_is_refused():
    flow = alarms()
    g = decouple(flow.graph(), ["best", "peek", "high", "say", "once"], "s")
    with pytest.raises(RewriteRefused, match="unique 'once' would keep one copy per member"):
        replicate(g, "s", 2)


@pytest.mark.parametrize("flow, words", [
    (alarms(test=exact), ["snapshot 'peek'", "not a threshold read", "=="]),
    (alarms(after=lambda s: s), ["passes the value itself on to unique"]),
    (alarms(SetUnion), ["not a bound on the revealed value"]),
])
def test_reads_that_are_not_thresholds_are_refused(flow, words):
    with pytest.raises(RewriteRefused) as info:
        replicate(staged(flow, rest=("once",) if "say" not in [n.name for n in flow.graph().nodes()]
                         else ("say", "once")), "s", 2)
    for w in words:
        assert w in str(info.value)


def test_a_gcounter_threshold_replicates_too():
    flow = hp.Flow("counted")
    flow.source("xs").lattice_fold(GCounter, name="best").snapshot(name="peek") \
        .filter(high, name="high").map(alarm, name="say").unique(name="once").sink("alarms")
    design = replicate(staged(flow), "s", 2)
    assert_equivalent(flow, design, {"xs": [("r1", 2), ("r2", 2), ("r1", 4)]}, seeds=range(10))


def single(s):
    return len(s.reveal()) == 1


def first(s):
    return min(s.reveal())


def test_mutant_without_the_threshold_check_replicas_pass_what_no_schedule_passes(monkeypatch):
    """Two writers; a read that is no threshold (exactly one element): replicas that receive
    the writers' records in different orders pass both "a" and "b", while the single-node
    program, whatever its schedule, holds one of them alone at most."""
    monkeypatch.setattr(replicate_module, "why_not_threshold", lambda g, reader, fold: "")
    flow = hp.Flow("firsts")
    both = flow.source("xs").union(flow.source("ys"), name="both")
    both.lattice_fold(SetUnion, name="seen").snapshot(name="peek").filter(single, name="one") \
        .map(first, name="which").unique(name="once").sink("firsts")
    g = decouple(flow.graph(), ["both", "seen", "peek", "one", "which", "once"], "s")
    design = replicate(decouple(g, ["which", "once"], "out"), "s", 2)
    with pytest.raises(AssertionError, match="sink 'firsts' differs"):
        assert_equivalent(flow, design, {"xs": ["a"], "ys": ["b"]}, seeds=range(60))
