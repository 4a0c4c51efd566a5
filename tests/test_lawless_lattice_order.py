"""A user lattice whose merge breaks a law is not order-insensitive: the passes that reorder,
interleave or repeat a lattice fold's records check its laws first (found by the random-program
test: a reorder declaration before a lattice keeping the first value it merged changed it)."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import Lattice
from hydropy.passes import fold_algebra
from hydropy.passes import reorder as reorder_module
from hydropy.passes import stages as stages_module
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.pipeline import design_point
from hydropy.passes.reorder import reorder
from hydropy.testing import assert_equivalent


class Earliest(Lattice):
    """Keeps the first bid merged into it: not commutative."""

    def __init__(self, bid=None):
        self.bid = bid

    def merge(self, other):
        if self.bid is None and other.bid is not None:
            self.bid = other.bid
            return True
        return False

    def reveal(self):
        return self.bid


class Tally(Lattice):
    """Adds what it merges: commutative, not idempotent."""

    def __init__(self, n=0):
        self.n = n

    def merge(self, other):
        self.n += other.n
        return other.n != 0

    def reveal(self):
        return self.n


class Highest(Lattice):
    """A lawful user lattice."""

    def __init__(self, x=None):
        self.x = x

    def merge(self, other):
        if other.x is not None and (self.x is None or other.x > self.x):
            self.x = other.x
            return True
        return False

    def reveal(self):
        return self.x


def shifted(x):
    return x + 1


def first_bid(lattice=Earliest) -> hp.Flow:
    """The first bid, and every bid logged in the order it came (which fixes that order)."""
    flow = hp.Flow("auction")
    bids = flow.source("bids")
    bids.lattice_fold(lattice, name="first").sink("winner")
    bids.map(shifted, name="logged").sink("log")
    return flow


BIDS = {"bids": [7, 3, 9, 1, 4, 8]}


def staged(flow):
    return decouple(flow.graph(), ["first"], "auction")


def test_reordering_before_a_non_commutative_user_lattice_is_refused():
    with pytest.raises(RewriteRefused, match="in any order.*user lattice Earliest.*violates commutativity"):
        design_point(staged(first_bid()), [{"reorder": {"channel": "bids_to_auction"}}])


def test_reordering_before_a_lawful_user_lattice_is_accepted_and_agrees():
    flow = first_bid(Highest)
    design = design_point(staged(flow), [{"reorder": {"channel": "bids_to_auction"}}])
    assert_equivalent(flow, design, BIDS, seeds=range(10))


def test_mutant_trusting_the_user_lattice_order_is_caught(monkeypatch):
    monkeypatch.setattr(reorder_module, "why_fold_order_sensitive", lambda g, node: "")
    flow = first_bid()
    design = design_point(staged(flow), [{"reorder": {"channel": "bids_to_auction"}}])
    with pytest.raises(AssertionError, match="sink 'winner' differs"):
        assert_equivalent(flow, design, BIDS, seeds=range(20))


def relayed(lattice=Earliest) -> hp.Flow:
    flow = hp.Flow("relayed")
    bids = flow.source("bids")
    bids.map(shifted, name="shift").lattice_fold(lattice, name="first").sink("winner")
    bids.map(shifted, name="logged").sink("log")
    return flow


def relay_design(flow):
    """bids and their log in main, shift in a relay stage, the fold in a third."""
    g = decouple(flow.graph(), ["shift", "first"], "relay")
    return decouple(g, ["first"], "auction")


def test_members_interleaving_before_a_non_commutative_user_lattice_is_refused():
    with pytest.raises(RewriteRefused, match="interleaved.*user lattice Earliest.*violates commutativity"):
        partition(relay_design(relayed()), "relay", 2)


def test_mutant_trusting_the_lattice_under_interleaving_is_caught(monkeypatch):
    monkeypatch.setattr(fold_algebra, "why_fold_order_sensitive", lambda g, node: "")
    flow = relayed()
    design = partition(relay_design(flow), "relay", 2)
    with pytest.raises(AssertionError, match="sink 'winner' differs"):
        assert_equivalent(flow, design, BIDS, seeds=range(30))


def test_duplicates_before_a_non_idempotent_user_lattice_are_refused():
    with pytest.raises(RewriteRefused, match="user lattice Tally.*idempot"):
        reorder(staged(first_bid(Tally)), "bids_to_auction", duplicates=True)


def test_mutant_trusting_the_lattice_to_absorb_repeats_is_caught(monkeypatch):
    monkeypatch.setattr(stages_module, "why_not_lawful", lambda lattice, samples=(): "")
    flow = first_bid(Tally)
    design = reorder(staged(flow), "bids_to_auction", duplicates=True)
    with pytest.raises(AssertionError, match="sink 'winner' differs"):
        assert_equivalent(flow, design, BIDS, seeds=range(20))
