"""Paxos-lite: a stable leader running phase 2 only, with three acceptors.

The leader turns each client proposal ``(slot, value)`` into a p2a message carrying its
ballot; a proxy sends every p2a to every acceptor. An acceptor keeps the highest ballot it
has seen (from p2a messages and from ``preempts``: ``(acceptor, ballot)`` raised by would-be
leaders) and accepts a p2a only if its ballot is that highest ballot, answering with a p2b.
A value is committed in its slot once a quorum (two of three) accepted it.

Expected verdicts (tests/test_golden_verdicts.py): the p2a proxy decouples functionally;
the p2b quorum counting decouples monotonically; partitioning the acceptors by slot is
refused, because an acceptor's ballot is one value shared by all its slots.

    hydropy run examples/paxos_lite.py --inputs examples/paxos_lite.yaml
"""
import hydropy as hp
from hydropy.lattices import Max, SetUnion

ACCEPTORS = ("a1", "a2", "a3")
QUORUM = 2
LEADER_BALLOT = 1


def to_p2a(proposal):
    slot, value = proposal
    return (slot, LEADER_BALLOT, value)


def to_every_acceptor(p2a):
    return [(acceptor, p2a) for acceptor in ACCEPTORS]


def ballot_of(addressed):
    acceptor, (slot, ballot, value) = addressed
    return (acceptor, ballot)


def accepted(answer):
    acceptor, ((slot, ballot, value), highest) = answer
    return ballot >= highest.reveal()


def to_p2b(answer):
    acceptor, ((slot, ballot, value), highest) = answer
    return ((slot, ballot, value), acceptor)


def has_quorum(votes):
    return len(votes[1].reveal()) >= QUORUM


def commit(votes):
    (slot, ballot, value), acceptors = votes
    return (slot, value)


flow = hp.Flow("paxos_lite")
proposals = flow.source("proposals")
preempts = flow.source("preempts")
p2a = proposals.map(to_p2a, name="p2a")
addressed = p2a.flat_map(to_every_acceptor, name="p2a_proxy")
ballots = addressed.map(ballot_of, name="p2a_ballot").union(preempts, name="ballots_seen")
highest = ballots.lattice_fold_keyed(Max, name="acceptor_ballot")
answers = addressed.lookup(highest, name="read_ballot")
p2b = answers.filter(accepted, name="accept").map(to_p2b, name="p2b")
votes = p2b.lattice_fold_keyed(SetUnion, name="p2b_votes")
committed = (votes.snapshot(name="read_votes")
             .filter(has_quorum, name="quorum")
             .map(commit, name="commit")
             .unique(name="committed"))
committed.sink("committed")
highest.sink("ballots")
