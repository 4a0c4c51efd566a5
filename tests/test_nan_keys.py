"""Keys compare by value, every NaN equal to every NaN (issue 9).

Dicts and sets match a key by ``is`` before ``==``; NaN equals nothing, so two NaN keys were
one group only while they were one object: always in one process, never after a channel or
a checkpoint pickled them. Every operator that keeps state by key (keyed folds, joins,
anti_join, lookup, unique's records), the generated loops and the routing now canonicalise
keys (``hydropy.runtime.ops.canonical_key``); the design points then agree with the
single-node program on the simulator and on Ray, and a mutant without the canonicalisation
is caught.
"""
from __future__ import annotations

import os
import pickle
import struct
from collections import namedtuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.loader import load_flow
from hydropy.passes.pipeline import design_point
from hydropy.runtime import ops
from hydropy.runtime.batch import route, stable_hash
from hydropy.runtime.ops import NAN, canonical_key
from hydropy.targets.local import canonical
from hydropy.targets.sim import check_run


def fresh_nan(bits: int = 0x7FF8000000000000) -> float:
    """A NaN that is a new object (as one arriving through a channel is), with ``bits``."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


NEG_NAN = 0xFFF8000000000000  # what numpy's inf * 0 gives on x86: the sign bit set
PAYLOAD_NAN = 0x7FF8000000000123


# -- the function ---------------------------------------------------------------------------

def test_canonical_key_makes_every_nan_one_object_and_leaves_other_keys_alone():
    assert canonical_key(fresh_nan()) is NAN and canonical_key(fresh_nan(NEG_NAN)) is NAN
    assert canonical_key(pickle.loads(pickle.dumps((float("nan"), 1))))[0] is NAN
    assert canonical_key(((fresh_nan(), "a"), 2))[0][0] is NAN
    assert canonical_key(frozenset({fresh_nan()})) == frozenset({NAN})
    point = namedtuple("Point", "x y")
    assert type(canonical_key(point(fresh_nan(), 1))) is point and canonical_key(point(fresh_nan(), 1)).x is NAN
    import numpy as np
    assert canonical_key(np.float64("nan")) is NAN
    assert canonical_key(np.float32("nan")) is canonical_key(np.float32("nan"))
    assert canonical_key(complex(fresh_nan(), 1.0)) is canonical_key(complex(fresh_nan(), 1.0))
    for key in ("word", 7, None, True, b"x", 1.5, -0.0, ("a", 1, 2.5), frozenset({1}), [fresh_nan()]):
        assert canonical_key(key) is key  # the same object: ordinary keys are not rebuilt


# -- the operators --------------------------------------------------------------------------

def nan_pairs(*values):
    return [(fresh_nan(), v) for v in values]


def test_every_keyed_operator_groups_nan_keys_that_are_different_objects():
    add = ops.FoldKeyed(int, lambda a, b: a + b)
    assert add.step(nan_pairs(1, 2)) == [(NAN, 3)] and add.step(nan_pairs(4)) == [(NAN, 7)]
    assert ops.ReduceKeyed(max).step(nan_pairs(1, 5, 2)) == [(NAN, 5)]
    from hydropy.lattices import Max
    assert [(k, v.reveal()) for k, v in ops.LatticeFoldKeyed(Max).step(nan_pairs(1, 5))] == [(NAN, 5)]
    join = ops.Join()
    assert len(join.step(nan_pairs("x"), [])) == 0 and len(join.step([], nan_pairs("y", "z"))) == 2
    anti = ops.AntiJoin()
    assert anti.step(nan_pairs("x") + [(1.0, "y")], [fresh_nan()]) == [(1.0, "y")]
    assert anti.step(nan_pairs("later"), []) == []
    unique = ops.Unique()
    assert len(unique.step([fresh_nan(), (fresh_nan(), 1), fresh_nan(), (fresh_nan(), 1)])) == 2
    table = ops.FoldKeyed(int, lambda a, b: a + b)
    table.step(nan_pairs(3))
    assert ops.Lookup().step(nan_pairs("q"), table)[0][1] == ("q", 3)
    keyed_map = ops.MapKeyed(lambda v: v * 2)
    assert len(keyed_map.step(nan_pairs(1, 2))) == 1 and len(keyed_map.value) == 1
    joined = ops.JoinTable()
    joined.step(nan_pairs(1), [])
    assert joined.step(nan_pairs(2), nan_pairs("row")) == [(NAN, (2, "row"))]


def test_state_restored_from_a_pickle_still_groups_nan_keys():
    """A checkpoint unpickles new NaN objects: the operators' keyed state is canonicalised."""
    fold = ops.FoldKeyed(int, add)
    fold.step(nan_pairs(1) + [((fresh_nan(), "t"), 1)])
    unique, anti, join = ops.Unique(), ops.AntiJoin(), ops.Join()
    unique.step([fresh_nan()])
    anti.step([], [fresh_nan()])
    join.step(nan_pairs("x"), [])
    fold, unique, anti, join = pickle.loads(pickle.dumps((fold, unique, anti, join)))
    assert fold.step(nan_pairs(2) + [((fresh_nan(), "t"), 5)]) == [(NAN, 3), ((NAN, "t"), 6)]
    assert unique.step([fresh_nan()]) == [] and anti.step(nan_pairs("y"), []) == []
    assert len(join.step([], nan_pairs("y"))) == 1


def nan_each_call(r):
    return (float("nan"), r)


def add(a, b):
    return a + b


def test_single_node_program_puts_nans_made_by_a_function_in_one_group():
    """``float("nan")`` is a new object per call: the generated loop of a keyed fold and the
    Python operators canonicalise alike."""
    flow = hp.Flow("nan_each_call")
    keyed = flow.source("xs").map(nan_each_call, name="tag")
    keyed.fold_keyed(int, add, name="sums").sink("sums")
    keyed.reduce_keyed(add, name="reduced").sink("reduced")
    keyed.map(lambda kv: kv[0], name="keys").unique(name="distinct").sink("distinct")
    out = flow.run({"xs": [1, 2, 3]}, tick_size=2)
    assert [v for _, v in out["sums"]] == [6] and [v for _, v in out["reduced"]] == [6]
    assert len(out["distinct"]) == 1


def test_routing_sends_every_nan_to_one_member_whatever_its_bits():
    nans = [fresh_nan(), fresh_nan(NEG_NAN), fresh_nan(PAYLOAD_NAN)]
    assert len({stable_hash(x) for x in nans}) == 1
    assert len({stable_hash((x, "a")) for x in nans}) == 1
    assert stable_hash(-0.0) == stable_hash(0.0) == stable_hash(0)
    for members in (2, 3, 5):
        parts = route([(x, i) for i, x in enumerate(nans * 3)], "hash", members, (0,))
        assert sum(1 for part in parts if part) == 1


# -- design points: the reproduction, on the simulator and on Ray ---------------------------

P14 = '''
import hydropy as hp

NAN = float("nan")


def add(a, b):
    return a + b


def tag(r):
    return (NAN if r[0] == "n" else r[0], r[1])


def first(r):
    return r[0]


flow = hp.Flow("p14")
k = flow.source("xs").map(tag, name="tag")
k.fold_keyed(int, add, name="sums").sink("sums")
k.map(first, name="keys").unique(name="distinct").sink("distinct")
'''
P14_INPUTS = {"xs": [["n", 1], ["a", 2], ["n", 3], ["n", 4], ["a", 5], ["n", 6]]}
DECOUPLE = "steps:\n  - decouple: {operators: [sums, distinct], to: agg}\n"
PARTITION = DECOUPLE + "  - partition: {stage: agg, n: 2, key: auto}\n"


@pytest.fixture
def p14(tmp_path):
    (tmp_path / "p14.py").write_text(P14)
    plans = {}
    for name, text in (("decouple", DECOUPLE), ("partition", PARTITION)):
        (tmp_path / f"{name}.yaml").write_text(text)
        plans[name] = str(tmp_path / f"{name}.yaml")
    return load_flow(str(tmp_path / "p14.py")), plans


@pytest.mark.parametrize("plan", ["decouple", "partition"])
def test_nan_keys_agree_on_the_simulator(p14, plan):
    flow, plans = p14
    graph = flow.graph()
    design = design_point(graph, plans[plan])
    assert flow.run(P14_INPUTS, tick_size=2)["sums"] == [("a", 7), (NAN, 14)]
    for seed in range(6):
        assert check_run(graph, design, P14_INPUTS, seed, tick_size=2) is None


def test_mutant_without_canonical_keys_is_caught(p14, monkeypatch):
    """Canonicalisation removed: the checker finds the split NaN groups of the issue."""
    flow, plans = p14
    graph = flow.graph()
    design = design_point(graph, plans["decouple"])
    monkeypatch.setattr(ops, "canonical_key", lambda key: key)
    mismatch = check_run(graph, design, P14_INPUTS, 0, tick_size=2)
    assert mismatch is not None and "sums" in str(mismatch)


def test_nan_keys_agree_on_ray(p14, ray_session):
    flow, plans = p14
    graph = flow.graph()
    got = flow.run(P14_INPUTS, target="ray", plan=plans["partition"], tick_size=2)
    expected = flow.run(P14_INPUTS, tick_size=2)
    assert canonical(graph, got) == canonical(graph, expected)
    assert len(got["distinct"]) == 2 and sorted(v for _, v in got["sums"]) == [7, 14]


# -- property: hostile keys, single-node vs a decoupled and a partitioned design point ------

HOSTILE = '''
import hydropy as hp


def add(a, b):
    return a + b


def first(r):
    return r[0]


flow = hp.Flow("hostile_keys")
xs = flow.source("xs")
ys = flow.source("ys")
xs.fold_keyed(int, add, name="sums").sink("sums")
xs.map(first, name="keys").unique(name="distinct").sink("distinct")
xs.join(ys, name="pairs").sink("joined")
'''
HOSTILE_PLANS = {
    "decouple": "steps:\n  - decouple: {operators: [sums, distinct, pairs], to: agg}\n",
    "partition": "steps:\n  - decouple: {operators: [sums, distinct, pairs], to: agg}\n"
                 "  - partition: {stage: agg, n: 3, key: auto}\n",
}

SHARED_NAN = fresh_nan()  # one object in many records (as one process's constant is)
nans = st.one_of(st.just(SHARED_NAN), st.builds(lambda: float("nan")),
                 st.sampled_from([NEG_NAN, PAYLOAD_NAN]).map(fresh_nan))
scalars = st.one_of(nans, st.sampled_from([0.0, -0.0, 1.5, None, "a", 2]))
hostile_keys = st.one_of(scalars, st.tuples(scalars, scalars))
records = st.lists(st.tuples(hostile_keys, st.integers(0, 9)), max_size=8)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    where = tmp_path_factory.mktemp("hostile")
    (where / "hostile_keys.py").write_text(HOSTILE)
    flow = load_flow(str(where / "hostile_keys.py"))
    graph = flow.graph()
    designs = {}
    for name, text in HOSTILE_PLANS.items():
        (where / f"{name}.yaml").write_text(text)
        designs[name] = design_point(graph, str(where / f"{name}.yaml"))
    return graph, designs


@settings(max_examples=int(os.environ.get("HYDROPY_NAN_EXAMPLES", "25")), deadline=None,
          database=None, derandomize=not os.environ.get("HYDROPY_LONG"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(xs=records, ys=records, seed=st.integers(0, 2 ** 16))
def test_hostile_keys_agree_with_the_single_node_program(hostile, xs, ys, seed):
    """NaN of any bits (new objects, as after a channel), -0.0/0.0, None and tuples holding
    them as keys of a fold, a unique and a join. Longer: ``HYDROPY_LONG=1
    HYDROPY_NAN_EXAMPLES=300 pytest tests/test_nan_keys.py -k hostile``."""
    graph, designs = hostile
    inputs = {"xs": xs, "ys": ys}
    for design in designs.values():
        mismatch = check_run(graph, design, inputs, seed, tick_size=3)
        assert mismatch is None, str(mismatch)


def test_hostile_keys_mutant_is_caught(hostile, monkeypatch):
    """Canonicalisation removed: the property's design points differ on NaN keys."""
    graph, designs = hostile
    monkeypatch.setattr(ops, "canonical_key", lambda key: key)
    inputs = {"xs": [(SHARED_NAN, 1), (SHARED_NAN, 2), ((SHARED_NAN, "a"), 3)],
              "ys": [(SHARED_NAN, 9)]}
    assert all(check_run(graph, design, inputs, 0, tick_size=1) is not None
               for design in designs.values())
