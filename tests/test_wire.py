"""Batches handed to Ray: a list travels as one pickle and arrives as the same list; columns
travel as they are. (Why: Ray serializes a list element by element, several times slower;
benchmarks/README.md, "Lists on the wire".)"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hydropy.runtime.batch import Pickled, on_wire, pack, unpack, wire
from hydropy.runtime.columns import Columns

records = st.lists(st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(),
    st.tuples(st.text(max_size=5), st.one_of(st.integers(), st.tuples(st.text(), st.floats(allow_nan=False)))),
), max_size=30)


@given(records)
@settings(max_examples=60, deadline=None)
def test_a_list_batch_arrives_as_the_list_it_was(batch):
    import pickle

    from ray import cloudpickle
    packed = pack(batch)
    sent = wire(packed)
    if type(packed) is list and packed:
        assert type(sent) is Pickled and on_wire(sent) is packed
    else:
        assert sent is packed
    arrived = pickle.loads(cloudpickle.dumps(sent))   # as Ray's serializer takes it
    assert records_of(arrived) == records_of(sent) == batch   # (sent: handed over in one process)


def records_of(batch) -> list:
    out = unpack(batch)
    return out.tolist() if isinstance(out, Columns) else out


def test_records_the_standard_pickler_refuses_go_by_cloudpickle():
    import pickle

    from ray import cloudpickle

    class Local:  # a local class: pickle refuses it, cloudpickle sends it by value
        def __init__(self, v):
            self.v = v

    sent = wire([(1, Local(5)), (2, lambda x: x + 1)])
    arrived = pickle.loads(cloudpickle.dumps(sent))
    assert arrived[0][1].v == 5 and arrived[1][1](1) == 2


def test_through_ray_a_list_arrives_as_a_list_and_columns_as_columns(ray_session):
    import ray
    batch = [("apple", ("add", "x", 1)), ("pear", ("checkout", 2))]
    assert ray.get(ray.put(wire(pack(batch)))) == batch
    cols = wire(pack(Columns(np.arange(5, dtype=np.int64))))
    got = unpack(ray.get(ray.put(cols)))
    assert isinstance(got, Columns) and got.tolist() == list(range(5))
