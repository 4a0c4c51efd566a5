"""partition and replicate: what they route how, and every precondition they check."""
from __future__ import annotations

import random
import time
import uuid

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import LWW, Max
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.replicate import replicate
from hydropy.targets.local import canonical, run
from hydropy.testing import assert_equivalent

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


# -- partition: every input of a keyed state routed by one part of its key (issue 9, class 1) ---

def sum_values(total, kv):
    return total + kv


def priced_orders() -> hp.Flow:
    """A join keyed by (user, item) and a fold keyed by user over the same input."""
    flow = hp.Flow("priced_orders")
    orders = flow.source("orders")  # ((user, item), qty)
    prices = flow.source("prices")  # ((user, item), price)
    orders.join(prices, name="priced").sink("priced")
    orders.map(lambda o: (o[0][0], o[1]), name="by_user").fold_keyed(int, add, name="per_user").sink("per_user")
    return flow


ORDERS = {"orders": [(("ann", "tea"), 1), (("ann", "jam"), 2), (("bob", "tea"), 3), (("cy", "jam"), 1),
                     (("bob", "jam"), 4)],
          "prices": [(("ann", "tea"), 10), (("bob", "tea"), 5), (("ann", "jam"), 7), (("cy", "jam"), 2),
                     (("bob", "jam"), 6)]}


def test_a_composite_join_and_a_fold_by_its_first_part_route_every_input_by_that_part():
    flow = priced_orders()
    parted = partition(flow.graph(), "main", 3)
    assert channels(parted)["orders"] == channels(parted)["prices"] == ("hash", (0, 0))
    assert_equivalent(flow, parted, ORDERS, seeds=range(40))


def user_key(event):
    return (("user", event[0]), event[1])


def profiles_join() -> hp.Flow:
    """One side builds the key ("user", id) with a map; the other receives it built."""
    flow = hp.Flow("profiles")
    events = flow.source("events")      # (id, what)
    profiles = flow.source("profiles")  # (("user", id), name)
    events.map(user_key, name="keyed").join(profiles, name="joined").sink("joined")
    return flow


PROFILES = {"events": [(1, "x"), (2, "y"), (3, "z"), (1, "w"), (4, "v")],
            "profiles": [(("user", 1), "ann"), (("user", 2), "bob"), (("user", 3), "cy"), (("user", 4), "di")]}


def test_a_key_built_on_one_side_and_received_built_on_the_other_routes_by_the_same_value():
    flow = profiles_join()
    parted = partition(flow.graph(), "main", 3)
    assert channels(parted)["events"] == ("hash", (0,))        # the id ...
    assert channels(parted)["profiles"] == ("hash", (0, 1))    # ... is part 1 of the built key
    assert_equivalent(flow, parted, PROFILES, seeds=range(40))


def no_events():
    return ()


def log_event(log, record):
    (_seq, event), owner = record
    return log + (f"{owner}:{event}",)


def owned_sessions() -> hp.Flow:
    flow = hp.Flow("owned_sessions")
    events = flow.source("events")  # ((user, session), (seq, event))
    owners = flow.source("owners")  # ((user, session), owner)
    events.join(owners, name="with_owner").fold_keyed(no_events, log_event, name="log").sink("logs")
    events.map(lambda e: (e[0][0], 1), name="ones").fold_keyed(int, add, name="per_user").sink("per_user")
    return flow


SESSIONS = {"events": [(("u1", "s1"), (0, "a")), (("u1", "s2"), (0, "b")), (("u2", "s3"), (0, "c")),
                       (("u1", "s1"), (1, "d"))],
            "owners": [(("u1", "s1"), "ann"), (("u1", "s2"), "bob"), (("u2", "s3"), "cy")]}


def test_join_table_after_push_fold_routes_its_table_side_with_its_state():
    from hydropy.passes.lattice import to_lattice
    from hydropy.passes.push_fold import push_fold
    flow = owned_sessions()
    pushed = push_fold(to_lattice(flow.graph(), "log", "sealed_set", [0, 0]), "log")
    assert pushed.by_name("with_owner").kind == "join_table"
    parted = partition(pushed, "main", 3)
    assert channels(parted)["owners"] == channels(parted)["events"] == ("hash", (0, 0))
    assert_equivalent(flow, parted, SESSIONS, seeds=range(40))


def test_an_explicit_key_that_splits_a_state_is_refused():
    with pytest.raises(RewriteRefused, match="no single routing key co-locates the state of fold_keyed 'per_user'"):
        partition(priced_orders().graph(), "main", 2, key=[0, 1])  # by item: ann's orders split


def test_a_lookup_meets_its_table_on_one_member():
    """The query side and the table's writers are routed by the same part of the table's key."""
    flow = hp.Flow("lookup_composite")
    puts = flow.source("puts")  # ((region, name), value)
    store = puts.lattice_fold_keyed(LWW, name="store")
    store.sink("store")
    puts.map(lambda p: (p[0][0], 1), name="regions").fold_keyed(int, add, name="per_region").sink("regions")
    flow.source("gets").map(lambda g: (("eu", g), g), name="ask").lookup(store, name="read").sink("answers")
    parted = partition(flow.graph(), "main", 3)
    assert channels(parted)["puts"] == ("hash", (0, 0))
    inputs = {"puts": [(("eu", "a"), (1, "x")), (("us", "a"), (2, "y")), (("eu", "b"), (3, "z"))],
              "gets": ["a", "b", "c"]}
    assert_equivalent(flow, parted, inputs, seeds=range(40))


# -- keys computed by functions: moved before the channel, or routed by a router stage ----------

def bucket(v):
    return v % 4


PREFIXES = {"a": "alpha", "b": "beta", "c": "alpha"}


@pytest.mark.parametrize("keyed", [
    lambda w: (bucket(len(w)), w),
    lambda w: (len(w) % 3, 1),
    lambda w: (f"u-{w[0]}", 1),
    lambda w: (w.lower(), 1),
    lambda w: (PREFIXES.get(w[0], "other"), 1),
    lambda w: (hash(w[:1]) % 5, 1),
], ids=["helper", "len-mod", "f-string", "method", "constant-lookup", "hash"])
def test_a_key_computed_from_a_source_is_routed_by_a_router_stage(keyed):
    flow = hp.Flow("computed")
    flow.source("words").map(keyed, name="keyed").fold_keyed(int, count_one, name="count").sink("count")
    parted = partition(flow.graph(), "main", 3)
    assert parted.by_name("words").location == parted.by_name("keyed").location == "main_router"
    assert channels(parted)["keyed_to_main"] == ("hash", (0,))
    assert_equivalent(flow, parted, {"words": ["a", "bb", "Ab", "ccc", "a", "dddd", "B", "bcd"]},
                      seeds=range(30))


def clean_name(r):
    return r[0].strip().lower()


def test_a_key_computed_by_a_helper_or_method_moves_to_the_sending_stage():
    flow = hp.Flow("moved")
    names = flow.source("names").map(lambda r: (clean_name(r), r[1]), name="cleaned")
    ages = flow.source("ages").map(lambda r: (r[0].lower(), r[1]), name="lowered")
    names.join(ages, name="joined").sink("joined")
    g = decouple(flow.graph(), ["cleaned", "lowered", "joined"], "agg")
    parted = partition(g, "agg", 2)
    assert parted.by_name("cleaned").location == parted.by_name("lowered").location == "main"
    assert channels(parted)["cleaned_to_agg"] == channels(parted)["lowered_to_agg"] == ("hash", (0,))
    inputs = {"names": [(" Ann", 1), ("BOB ", 2), ("cy", 3)], "ages": [("ann", 30), ("Bob", 40), ("CY", 50)]}
    assert_equivalent(flow, parted, inputs, seeds=range(30))


def jitter(v):
    return v + random.random()


@pytest.mark.parametrize("keyed, name", [
    (lambda r: (random.randint(0, 3), r), "random.randint()"),
    (lambda r: (id(r), r), "id()"),
    (lambda r: (time.time_ns() % 3, r), "time.time_ns()"),
    (lambda r: (uuid.uuid4().hex, r), "uuid.uuid4()"),
    (lambda r: (jitter(r), r), "jitter()"),
], ids=["random", "id", "time", "uuid", "helper-calling-random"])
def test_a_key_computed_by_a_nondeterministic_function_is_refused_naming_it(keyed, name):
    flow = hp.Flow("nondeterministic")
    flow.source("xs").map(keyed, name="keyed").fold_keyed(int, count_one, name="count").sink("count")
    with pytest.raises(RewriteRefused) as err:
        partition(flow.graph(), "main", 2)
    message = str(err.value)
    assert name in message and "test_partition_replicate.py:" in message and "fold_keyed 'count'" in message


# -- hash() keys on Ray: computed in two processes, they must agree (issue 9, class 2) ---------

HASH_KEYS = '''
import hydropy as hp


def by_name_hash(record):
    return (hash(record[0]), record[1])


flow = hp.Flow("hash_keys")
names = flow.source("names").map(by_name_hash, name="named")
ages = flow.source("ages").map(by_name_hash, name="aged")
names.join(ages, name="joined").sink("joined")
'''
HASH_PLAN = """steps:
  - decouple: {operators: [names], to: a}
  - decouple: {operators: [ages], to: b}
  - partition: {stage: main, n: 2}
"""


def test_hash_keys_moved_into_two_stages_agree_on_ray(ray_session, tmp_path):
    """partition moves each side's hash() key computation into its sender (stages a and b, two
    Ray actors): the join matches only because every process of the run hashes alike."""
    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    (tmp_path / "hash_keys.py").write_text(HASH_KEYS)
    (tmp_path / "plan.yaml").write_text(HASH_PLAN)
    flow = load_flow(str(tmp_path / "hash_keys.py"))
    design = compile_flow(flow, str(tmp_path / "out"), plan=str(tmp_path / "plan.yaml"))
    assert design.by_name("named").location == "a" and design.by_name("aged").location == "b"
    inputs = {"names": [(f"user-{i}", i) for i in range(40)],
              "ages": [(f"user-{i}", 20 + i) for i in range(0, 40, 3)]}
    got = run_compiled(str(tmp_path / "out"), inputs)
    expected = flow.run(inputs)
    assert len(expected["joined"]) == 14
    # the key values are hash() under the run's seed, which this test process need not share:
    # what must agree is which records met
    assert sorted(v for _, v in got["joined"]) == sorted(v for _, v in expected["joined"])


# -- the IR after partition (golden) ------------------------------------------------------------

def test_ir_after_partition_snapshot(repo_root, snapshot):
    """Every input of the composite-key join and of the fold by user is routed by the user; the
    coupon owner, computed from the source's records, is computed in a router stage."""
    from hydropy import ir
    from hydropy.loader import load_flow, load_inputs
    flow = load_flow(str(repo_root / "tests" / "programs" / "orders.py"))
    graph = partition(flow.graph(), "main", 3)
    snapshot.assert_match(ir.to_text(graph), f"passes/partition/{flow.name}.txt")
    inputs = load_inputs(str(repo_root / "tests" / "programs" / "orders.yaml"))
    assert_equivalent(flow, graph, inputs, seeds=range(20))
    assert canonical(flow.graph(), run(graph, inputs)) == canonical(flow.graph(), flow.run(inputs))


def test_a_router_stage_routes_a_computed_source_key_on_ray(ray_session, repo_root, tmp_path):
    """The router stage is an ordinary stage: the Ray driver feeds it the source, its actor
    computes the key and its channel routes by it."""
    from hydropy.loader import load_flow, load_inputs
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    (tmp_path / "plan.yaml").write_text("steps:\n  - partition: {stage: main, n: 3}\n")
    flow = load_flow(str(repo_root / "tests" / "programs" / "orders.py"))
    design = compile_flow(flow, str(tmp_path / "out"), plan=str(tmp_path / "plan.yaml"))
    assert design.members == {"main": 3} and design.by_name("owner").location == "main_router"
    inputs = load_inputs(str(repo_root / "tests" / "programs" / "orders.yaml"))
    got = run_compiled(str(tmp_path / "out"), inputs)
    assert canonical(flow.graph(), got) == canonical(flow.graph(), flow.run(inputs))
    assert dict(got["coupons"]) == {"ann": 2, "bob": 1, "cy": 1}
