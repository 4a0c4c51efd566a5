"""Two-phase commit with presumed abort, as a single-node program.

A coordinator receives transactions ``(txn_id, writes)`` and sends a prepare to every
participant. A participant logs its vote (a fixed service time, ``LOG_SECONDS``, stands for
the forced write) and votes yes unless one of the transaction's writes touches a key it has
locked (``LOCKED``). The coordinator commits a transaction once every participant voted yes
and aborts it on the first no; with presumed abort nothing is logged for an abort, and a
transaction with no decision counts as aborted. Participants acknowledge each decision.

Expected verdicts (tests/test_golden_verdicts.py): everything partitions on the transaction
id, and the partitioned design point makes the same commit decisions.

    hydropy run examples/twopc.py --inputs examples/twopc.yaml
"""
import time

import hydropy as hp
from hydropy.lattices import SetUnion

PARTICIPANTS = ("p1", "p2", "p3")
EVERYONE = len(PARTICIPANTS)
LOCKED = {"p1": frozenset(), "p2": frozenset({"audit"}), "p3": frozenset()}
LOG_SECONDS = 0.0


def prepare(txn):
    return [(participant, txn) for participant in PARTICIPANTS]


def vote(prepared):
    participant, (txn_id, writes) = prepared
    time.sleep(LOG_SECONDS)
    yes = not any(key in LOCKED[participant] for key in writes)
    return (txn_id, (participant, yes))


def is_yes(voted):
    return voted[1][1]


def is_no(voted):
    return not voted[1][1]


def voter(voted):
    txn_id, (participant, yes) = voted
    return (txn_id, participant)


def all_yes(yes_votes):
    return len(yes_votes[1].reveal()) >= EVERYONE


def commit(yes_votes):
    return (yes_votes[0], "commit")


def abort(voted):
    return (voted[0], "abort")


def acknowledge(decision):
    return [(participant, decision) for participant in PARTICIPANTS]


flow = hp.Flow("twopc")
txns = flow.source("txns")
votes = txns.flat_map(prepare, name="prepare").map(vote, name="vote")
yes_votes = votes.filter(is_yes, name="yes_vote").map(voter, name="yes_voter").lattice_fold_keyed(
    SetUnion, name="yes_votes")
commits = (yes_votes.snapshot(name="read_votes")
           .filter(all_yes, name="all_yes")
           .map(commit, name="commit"))
aborts = votes.filter(is_no, name="no_vote").map(abort, name="abort")
decisions = commits.union(aborts, name="decide").unique(name="decision")
decisions.sink("decisions")
decisions.flat_map(acknowledge, name="acknowledge").sink("acks")
