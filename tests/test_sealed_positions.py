"""sealed_set / bounded_prefix replay a fold in position order, so every position the sender
numbered must reach the fold exactly once: the lattice step refuses positions from two inputs
(each numbered from 0), two paths from one input, and any operator between that may drop or
repeat records (a gap the replay stops at, or a repeat the fold counts twice)."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.passes import lattice as lattice_module
from hydropy.passes.decouple import decouple
from hydropy.passes.lattice import to_lattice
from hydropy.passes.reorder import reorder
from hydropy.testing import assert_equivalent


def no_items():
    return ()


def append(log, record):
    _seq, item = record
    return log + (item,)


def print_nothing(_record):
    return None


def cart(between=lambda s, flow: s):
    """events: (session, (seq, item)) numbered per session by the sender."""
    flow = hp.Flow("cart")
    between(flow.source("events"), flow).fold_keyed(no_items, append, name="log").sink("logs")
    return flow


EVENTS = {"events": [("s", (0, "a")), ("t", (0, "x")), ("s", (1, "skip")), ("s", (2, "b")),
                     ("t", (1, "y"))]}


@pytest.mark.parametrize("kind", ["sealed_set", "bounded_prefix"])
@pytest.mark.parametrize("between, words", [
    (lambda s, f: s.filter(lambda r: r[1][1] != "skip", name="keep"),
     ["filter 'keep'", "may drop or repeat records", "gaps"]),
    (lambda s, f: s.flat_map(lambda r: [r, r], name="twice"), ["flat_map 'twice'"]),
    (lambda s, f: s.union(s.map(lambda r: r, name="copy"), name="both"), ["along 2 paths"]),
    (lambda s, f: s.union(f.source("more"), name="both"),
     ["'events'[1][0], 'more'[1][0]", "each sender numbers its records from 0"]),
    (lambda s, f: s.unique(name="once"), ["unique 'once'"]),
])
def test_positions_that_may_have_gaps_or_repeats_are_refused(kind, between, words):
    with pytest.raises(RewriteRefused) as info:
        to_lattice(cart(between).graph(), "log", kind, index=[0])
    message = str(info.value)
    assert "fold_keyed 'log'" in message and "test_sealed_positions.py:" in message
    for w in words:
        assert w in message


def test_one_to_one_paths_are_accepted_and_agree_under_reordering():
    flow = cart(lambda s, f: s.map(lambda r: (r[0], r[1]), name="same").inspect(print_nothing, name="look"))
    g = to_lattice(flow.graph(), "log", "sealed_set", index=[0])
    g = decouple(g, ["log"], "agg")
    channel = next(n.name for n in g.nodes() if n.kind == "network")
    g = reorder(g, channel, duplicates=True)
    inputs = {"events": [("s", (0, "a")), ("t", (0, "x")), ("s", (1, "b")), ("t", (1, "y")),
                         ("s", (2, "c"))]}
    assert_equivalent(flow, g, inputs, seeds=range(15))


def test_a_join_on_the_sequence_key_passes_whole_sequences():
    flow = hp.Flow("owned")
    flow.source("events").join(flow.source("owners"), name="with_owner") \
        .map(lambda r: (r[0], r[1][0]), name="drop_owner") \
        .fold_keyed(no_items, append, name="log").sink("logs")
    g = to_lattice(flow.graph(), "log", "sealed_set", index=[0])
    inputs = {"events": [("s", (0, "a")), ("t", (0, "x")), ("s", (1, "b"))], "owners": [("s", "ann")]}
    assert_equivalent(flow, g, inputs, seeds=range(10))


def test_mutant_without_the_path_check_a_filtered_gap_changes_the_sink(monkeypatch):
    """No channel at all: the filter leaves position 1 out, the replay stops before 2."""
    monkeypatch.setattr(lattice_module, "_check_one_to_one", lambda *args: None)
    flow = cart(lambda s, f: s.filter(lambda r: r[1][1] != "skip", name="keep"))
    g = to_lattice(flow.graph(), "log", "sealed_set", index=[0])
    with pytest.raises(AssertionError, match="sink 'logs' differs"):
        assert_equivalent(flow, g, EVENTS, seeds=range(3))


def test_mutant_without_the_origin_check_two_numbered_inputs_collide(monkeypatch):
    """Two inputs both numbered from 0: the set of positions keeps one record per position."""
    monkeypatch.setattr(lattice_module, "_check_one_to_one", lambda *args: None)
    original = lattice_module._check_position

    def one_origin_only(graph, fold, index):
        try:
            original(graph, fold, index)
        except RewriteRefused as refused:
            if "each sender numbers" not in str(refused):
                raise
    monkeypatch.setattr(lattice_module, "_check_position", one_origin_only)
    flow = cart(lambda s, f: s.union(f.source("more"), name="both"))
    g = to_lattice(flow.graph(), "log", "sealed_set", index=[0])
    inputs = {"events": [("s", (0, "a")), ("s", (1, "b"))], "more": [("s", (0, "a")), ("s", (1, "b"))]}
    with pytest.raises(AssertionError, match="sink 'logs' differs"):
        assert_equivalent(flow, g, inputs, seeds=range(3))
