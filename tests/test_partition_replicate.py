"""partition and replicate: what they route how, and every precondition they check."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import LWW, Max
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.replicate import replicate
from hydropy.targets.local import run

ITEMS = ("a", "b")


def add(total, n):
    return total + n


def count_one(n, _record):
    return n + 1


def append(history, x):
    return history + (x,)


def keyed_sum():
    """clients -> main (stateless) -> agg (fold per key)."""
    flow = hp.Flow("keyed_sum")
    pairs = flow.source("xs", dtype="int64").map(lambda x: (x % 3, x), name="pair")
    pairs.fold_keyed(int, add, name="sum_per_key").sink("sums")
    return decouple(flow.graph(), ["sum_per_key"], "agg")


def channels(g):
    return {n.name: (n.params["routing"], n.params["key"]) for n in g.nodes()
            if n.kind in ("network", "source") and "routing" in n.params}


def test_partition_hash_routes_keyed_state_and_round_robins_stateless_stages():
    g = keyed_sum()
    before = g.copy()
    agg = partition(g, "agg", 3)
    assert g.same_as(before)  # the argument is never mutated
    assert agg.members == {"agg": 3}
    assert channels(agg)["pair_to_agg"] == ("hash", (0,))
    main = partition(agg, "main", 2)
    assert channels(main)["xs"] == ("round_robin", None)
    xs = {"xs": list(range(20))}
    assert run(main, xs) == run(g, xs)


def test_partition_makes_what_leaves_the_members_unordered():
    flow = hp.Flow("order")
    flow.source("xs").map(lambda x: x + 1, name="inc").sink("out")
    g = flow.graph()
    assert g.by_name("inc").coll.ordered
    assert not partition(g, "main", 2).by_name("inc").coll.ordered


def test_partition_through_a_functional_dependency_moves_the_key_upstream():
    flow = hp.Flow("dependency")
    words = flow.source("words")
    words.map(lambda w: (len(w), 1), name="by_length").fold_keyed(int, add, name="per_length").sink(
        "lengths")
    g = decouple(flow.graph(), ["by_length", "per_length"], "agg")
    parted = partition(g, "agg", 2)
    assert parted.by_name("by_length").location == "main"  # computed before the channel
    assert channels(parted)["by_length_to_agg"] == ("hash", (0,))
    ws = {"words": ["a", "bb", "cc", "ddd"]}
    assert run(parted, ws) == run(g, ws) == {"lengths": [(1, 1), (2, 2), (3, 1)]}


def build(body):
    flow = hp.Flow("refused")
    body(flow)
    return flow.graph()


@pytest.mark.parametrize("body, stage, n, words", [
    (lambda f: f.source("xs").count(name="c").sink("c"), "main", 2,
     ["count 'c'", "one global value", "split_fold"]),
    (lambda f: f.source("xs").cross(f.source("ys"), name="x").sink("x"), "main", 2,
     ["cross 'x'", "pairs every record"]),
    (lambda f: f.source_iter([1, 2], name="lit").sink("lit"), "main", 2, ["literal source 'lit'"]),
    (lambda f: f.source("xs").map(lambda x: (0, x), name="k").fold_keyed(int, add, name="f").sink("f"),
     "main", 2, ["fold_keyed 'f'", "constant", "one member"]),
    (lambda f: f.source("xs").fold_keyed(int, add, name="f").sink("f"), "main", 1, ["n >= 2"]),
    (lambda f: f.source("xs").sink("xs"), "nowhere", 2, ["no stage named 'nowhere'"]),
])
def test_partition_refusals(body, stage, n, words):
    with pytest.raises(RewriteRefused) as err:
        partition(build(body), stage, n)
    for w in words:
        assert w in str(err.value)


def test_partition_refuses_two_keys_no_single_route_co_locates():
    def body(f):
        pairs = f.source("xs")
        pairs.fold_keyed(int, add, name="by_first").sink("first")
        pairs.map(lambda p: (p[1], p[0]), name="swap").fold_keyed(int, add, name="by_second").sink("second")
    with pytest.raises(RewriteRefused, match="no single routing key co-locates.*shared"):
        partition(build(body), "main", 2)


def test_partition_refuses_an_order_sensitive_fold_downstream():
    """Members interleave what they send: a fold downstream whose function depends on order
    (appending to a history) is refused; counting or adding is not."""
    flow = hp.Flow("history")
    pairs = flow.source("xs").map(lambda x: (x % 2, x), name="pair")
    pairs.fold_keyed(tuple, append, name="history").sink("history")
    pairs.fold_keyed(int, count_one, name="seen").sink("seen")
    g = decouple(flow.graph(), ["history", "seen"], "agg")
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'history'.*interleaved.*append"):
        partition(g, "main", 2)
    only_counts = hp.Flow("counts")
    only_counts.source("xs").map(lambda x: (x % 2, x), name="pair").fold_keyed(
        int, count_one, name="seen").sink("seen")
    assert partition(decouple(only_counts.graph(), ["seen"], "agg"), "main", 2).members == {"main": 2}


def kv():
    flow = hp.Flow("kv")
    store = flow.source("puts").lattice_fold_keyed(LWW, name="store")
    store.sink("store")
    flow.source("gets").lookup(store, name="read").sink("answers")
    return flow, decouple(flow.graph(), [n.name for n in flow.graph().nodes()
                                         if n.kind not in ("source", "sink")], "kv")


def test_replicate_broadcasts_writes_and_sends_reads_to_any_replica():
    flow, g = kv()
    r = replicate(g, "kv", 3)
    assert r.members == {"kv": 3}
    assert channels(r)["puts_to_kv"] == ("broadcast", None)
    assert channels(r)["gets_to_kv"] == ("any", None)
    inputs = {"puts": [("x", (1, "a")), ("x", (2, "b"))], "gets": [("x", 7), ("y", 8)]}
    assert run(r, inputs) == flow.run(inputs)


def reads_its_own_writes(f):
    xs = f.source("xs")
    store = xs.lattice_fold_keyed(LWW, name="store")
    store.sink("store")
    xs.map(lambda kv: (kv[0], 0), name="question").lookup(store, name="ask").sink("asked")


@pytest.mark.parametrize("body, words", [
    (lambda f: f.source("xs").map(lambda x: (x, 1), name="p").fold_keyed(int, add, name="f").sink("f"),
     ["fold_keyed 'f'", "not a lattice", "`lattice` step"]),
    (lambda f: f.source("xs").lattice_fold(Max, name="m").snapshot(name="peek").sink("peek"),
     ["snapshot 'peek'", "every replica"]),
    (reads_its_own_writes, ["'xs' both writes the state and asks lookup 'ask'"]),
])
def test_replicate_refusals(body, words):
    g = build(body)
    g = decouple(g, [n.name for n in g.nodes() if n.kind != "sink"], "s")
    with pytest.raises(RewriteRefused) as err:
        replicate(g, "s", 2)
    for w in words:
        assert w in str(err.value)


def test_replicate_refuses_a_write_that_leaves_the_stage():
    def body(f):
        xs = f.source("xs")
        xs.lattice_fold(Max, name="m").sink("m")
        xs.map(lambda x: x * 2, name="double").sink("doubled")
    g = decouple(build(body), ["xs", "m", "double"], "s")
    with pytest.raises(RewriteRefused, match="map 'double' passes records of the write 'xs'"):
        replicate(g, "s", 2)


def test_fold_algebra_tells_order_insensitive_functions():
    from hydropy.passes.fold_algebra import why_not_commutative, why_order_sensitive

    def fold_node(build):
        flow = hp.Flow("f")
        build(flow.source("xs").map(lambda x: (x, x), name="kv"))
        return flow.graph().by_name("f")
    counting = fold_node(lambda s: s.fold_keyed(int, count_one, name="f"))
    assert why_order_sensitive(counting) == "" and "cannot prove" in why_not_commutative(counting)
    assert why_order_sensitive(fold_node(lambda s: s.fold_keyed(int, add, name="f")), "int64") == ""
    assert why_order_sensitive(fold_node(lambda s: s.reduce_keyed(max, name="f")), "int64") == ""
    assert why_order_sensitive(fold_node(lambda s: s.reduce_keyed(add, name="f")), "bool") == ""
    for element, words in [(None, 'dtype="int64"'), ("float64", "floats round")]:
        assert words in why_order_sensitive(fold_node(lambda s: s.fold_keyed(int, add, name="f")), element)
    assert "max(nan, 1)" in why_order_sensitive(
        fold_node(lambda s: s.reduce_keyed(max, name="f")), "float64")
    assert "cannot prove" in why_order_sensitive(fold_node(lambda s: s.reduce_keyed(count_one, name="f")))
    assert "cannot prove fn append" in why_order_sensitive(
        fold_node(lambda s: s.fold_keyed(tuple, append, name="f")))
