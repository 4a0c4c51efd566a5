"""The divergent-delay check (passes/delays.py) follows loops and multi-member stages: records
of one node that reach an anti_join / lookup / snapshot along paths with different channels, or
split across the members of a stage they then leave, are refused; aligned paths are accepted."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.passes import decouple as decouple_module
from hydropy.passes import partition as partition_module
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.replicate import replicate
from hydropy.testing import assert_equivalent

PAIRS = {"xs": [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5), ("a", 6)]}


def keys_through_a_loop(read="anti_join"):
    """Keys reach the anti_join (or lookup) only through a cycle: invisible to the tick DAG."""
    flow = hp.Flow("loop_keys")
    xs = flow.source("xs")
    handle, seen = flow.cycle(name="seen")
    if read == "anti_join":
        xs.anti_join(seen, name="fresh").sink("fresh")
        handle.complete(xs.map(lambda r: r[0], name="tag").map(lambda k: k, name="late"))
    else:
        table = seen.fold_keyed(int, lambda n, _x: n + 1, name="times")
        xs.lookup(table, name="fresh").sink("fresh")
        handle.complete(xs.map(lambda r: (r[0], 1), name="tag").map(lambda kv: kv, name="late"))
    return flow


@pytest.mark.parametrize("read", ["anti_join", "lookup"])
def test_keys_that_come_through_a_cycle_are_seen(read):
    flow = keys_through_a_loop(read)
    moved = ["fresh", "late", "seen"] + (["times"] if read == "lookup" else [])
    with pytest.raises(RewriteRefused) as info:
        decouple(flow.graph(), moved, "c")
    message = str(info.value)
    assert f"{read} 'fresh'" in message and "test_divergent_delays.py:" in message
    assert "xs -> tag -> tag_to_c -> late -> seen" in message and "xs -> xs_to_c -> fresh" in message
    # the same loop with the key map in the reader's stage: one channel, accepted and equal
    together = decouple(flow.graph(), moved + ["tag"], "c")
    assert_equivalent(flow, together, PAIRS, seeds=range(10))


def test_mutant_without_the_check_the_loop_design_is_caught(monkeypatch):
    monkeypatch.setattr(decouple_module, "check_no_divergent_delays", lambda g: None)
    flow = keys_through_a_loop()
    design = decouple(flow.graph(), ["fresh", "late", "seen"], "c")
    with pytest.raises(AssertionError, match="sink 'fresh' differs"):
        assert_equivalent(flow, design, PAIRS, seeds=range(30))


def relay():
    """Each x travels as ("p", x) and ("n", x) through one relay stage, then meets itself in an
    anti_join: in the single-node program every key is seen in its own tick, so nothing passes."""
    flow = hp.Flow("split_relay")
    xs = flow.source("xs")
    both = xs.map(lambda x: ("p", x), name="as_pos").union(
        xs.map(lambda x: ("n", x), name="as_neg"), name="both")
    relayed = both.map(lambda r: r, name="relay")
    pos = relayed.filter(lambda r: r[0] == "p", name="is_pos").map(lambda r: (r[1], None), name="pos")
    neg = relayed.filter(lambda r: r[0] == "n", name="is_neg").map(lambda r: r[1], name="neg")
    pos.anti_join(neg, name="gate").sink("out")
    graph = decouple(flow.graph(), ["relay", "is_pos", "pos", "is_neg", "neg", "gate"], "p")
    return flow, decouple(graph, ["is_pos", "pos", "is_neg", "neg", "gate"], "q")


XS = {"xs": list(range(8))}


def test_same_channels_through_a_partitioned_relay_are_refused():
    flow, graph = relay()
    assert_equivalent(flow, graph, XS, seeds=range(10))  # one member: the pair travels together
    with pytest.raises(RewriteRefused) as info:
        partition(graph, "p", 2)
    message = str(info.value)
    assert "anti_join 'gate'" in message and "through stage 'p', whose 2 members" in message
    assert "xs -> as_pos -> both -> both_to_p -> relay -> relay_to_q" in message


def test_same_channels_through_a_replicated_relay_are_refused():
    _, graph = relay()
    with pytest.raises(RewriteRefused, match="through stage 'p', whose 3 members"):
        replicate(graph, "p", 3)


def test_mutant_without_the_check_the_partitioned_relay_is_caught(monkeypatch):
    monkeypatch.setattr(partition_module, "check_no_divergent_delays", lambda g: None)
    flow, graph = relay()
    design = partition(graph, "p", 2)
    with pytest.raises(AssertionError, match="sink 'out' differs"):
        assert_equivalent(flow, design, XS, seeds=range(30))


def test_a_partitioned_anti_join_whose_inputs_are_routed_together_is_accepted():
    """The target's own stage may have members: related records meet on the member their key
    routes them to, in the batch that carries them (the partition step co-locates keys)."""
    flow = hp.Flow("moderation")
    events = flow.source("events")
    bans = events.filter(lambda e: e[1] == "ban", name="bans").map(lambda e: e[0], name="banned")
    events.anti_join(bans, name="allowed").sink("allowed")
    graph = decouple(flow.graph(), ["bans", "banned", "allowed"], "gate")
    design = partition(graph, "gate", 2)
    inputs = {"events": [("ann", "post"), ("bob", "ban"), ("bob", "post"), ("ann", "ban")]}
    assert_equivalent(flow, design, inputs, seeds=range(10))
