"""The voting protocol as a single-node program.

A leader broadcasts each client request to every participant; each participant votes for
it; once all participants have voted for ``(client, request_id)`` the leader replies.
Requests are ``(client, request_id, payload)``. The broadcast is stateless (the set of
participants is fixed), so it decouples functionally; the tally is keyed by request, so
everything but the leader partitions on ``(client, request_id)``
(examples/plans/voting_partitioned.yaml).

    hydropy run examples/voting.py --inputs examples/voting.yaml
"""
import hydropy as hp

PARTICIPANTS = ("p1", "p2", "p3")


def to_every_participant(request):
    return [(request, participant) for participant in PARTICIPANTS]


def vote(broadcast):
    (client, request_id, payload), participant = broadcast
    return ((client, request_id), participant)


def count_vote(n, participant):
    return n + 1


flow = hp.Flow("voting")
requests = flow.source("requests")
broadcast = requests.flat_map(to_every_participant, name="broadcast")
votes = broadcast.map(vote, name="vote")
tally = votes.fold_keyed(int, count_vote, name="tally")
replies = (tally.snapshot(name="read_tally")
           .filter(lambda kv: kv[1] == len(PARTICIPANTS), name="all_voted")
           .map(lambda kv: kv[0], name="reply")
           .unique(name="reply_once"))
replies.sink("replies")
