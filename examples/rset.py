"""R-set, the base of the query-rewrite microbenchmarks (Chu et al., SIGMOD 2024), and its
four variants, one Flow each (run one with ``examples/rset.py:NAME``).

``flow`` (the base): a leader receives client requests ``(client, request_id, payload)``,
broadcasts each to the replicas, which log it and acknowledge; once every replica acked a
request the leader replies ``(client, request_id)``.

``ballot``: the leader also keeps the ballots it is sent; each reply carries the highest
ballot (sink ``reply_ballots``: per reply, a Max). Tracking ballots is monotone, so it
decouples monotonically.

``no_replicas``: no replicas; the leader answers every request at once with a signed reply
(a stateless function) carrying the highest ballot. Signing decouples functionally.

``collisions``: replicas count how many requests fall in each hash bucket of the payload
(per replica). The bucket is a function of the payload, so the replicas partition through
that functional dependency: the bucket is computed before the channel and routed on.

``epochs``: the leader counts ``ticks`` and sends its epoch (the count) to every replica;
each replica stamps the requests it receives with the latest epoch it has seen. The replicas
partition by request only partially: a replica's latest epoch is shared by all its
requests, so every member keeps all epochs whole (they are broadcast to every member) while
the requests are hashed.

    hydropy run examples/rset.py:flow --inputs examples/rset.yaml
    hydropy run examples/rset.py:ballot --inputs examples/rset_ballot.yaml
    hydropy run examples/rset.py:no_replicas --inputs examples/rset_ballot.yaml
    hydropy run examples/rset.py:collisions --inputs examples/rset.yaml
    hydropy run examples/rset.py:epochs --inputs examples/rset_epochs.yaml
"""
import hydropy as hp
from hydropy.lattices import Max, SetUnion

REPLICAS = ("r1", "r2", "r3")
EVERY_REPLICA = len(REPLICAS)
BUCKETS = 4


def to_every_replica(request):
    return [(replica, request) for replica in REPLICAS]


def ack(sent):
    replica, (client, request_id, payload) = sent
    return ((client, request_id), replica)


def all_acked(acks):
    return len(acks[1].reveal()) >= EVERY_REPLICA


def reply(acks):
    return acks[0]


def base(flow):
    """The base protocol's operators in ``flow``; returns (what the replicas receive, replies)."""
    requests = flow.source("requests")
    sent = requests.flat_map(to_every_replica, name="broadcast")
    sent.lattice_fold_keyed(SetUnion, name="replica_log").sink("logs")
    acked = sent.map(ack, name="ack").lattice_fold_keyed(SetUnion, name="acks")
    replies = (acked.snapshot(name="read_acks")
               .filter(all_acked, name="all_acked")
               .map(reply, name="reply")
               .unique(name="reply_once"))
    replies.sink("replies")
    return sent, replies


flow = hp.Flow("rset")
base(flow)


# -- ballot: the reply carries the highest ballot (monotonic decoupling) ---------------------

ballot = hp.Flow("rset_ballot")
_, ballot_replies = base(ballot)
ballots_seen = ballot.source("ballots").unique(name="ballots_seen")
(ballot_replies.cross(ballots_seen, name="attach_ballot")
 .lattice_fold_keyed(Max, name="highest_ballot").sink("reply_ballots"))


# -- no_replicas: a signed reply at once, carrying the highest ballot (functional decoupling) -

def sign(request):
    client, request_id, payload = request
    return ((client, request_id), len(payload) * 7919 % 10007)


no_replicas = hp.Flow("rset_no_replicas")
signed = no_replicas.source("requests").map(sign, name="sign")
(signed.cross(no_replicas.source("ballots"), name="attach_ballot")
 .lattice_fold_keyed(Max, name="highest_ballot").sink("reply_ballots"))


# -- collisions: replicas count hash collisions (partitioning with dependencies) -------------

def add(total, n):
    return total + n


def bucket_of(sent):
    replica, (client, request_id, payload) = sent
    return ((replica, len(payload) % BUCKETS), 1)


collisions = hp.Flow("rset_collisions")
collisions_sent, _ = base(collisions)
collisions_sent.map(bucket_of, name="bucket").fold_keyed(int, add, name="collisions").sink("collisions")


# -- epochs: replicas stamp requests with the leader's latest epoch (partial partitioning) ---

def stamp(answer):
    replica, ((client, request_id, payload), epoch) = answer
    return ((client, request_id), (replica, epoch.reveal() if epoch else 0))


def everywhere(epoch):
    return [(replica, epoch) for replica in REPLICAS]


epochs = hp.Flow("rset_epochs")
epoch = epochs.source("ticks").count(name="epoch")
latest = (epoch.snapshot(name="read_epoch").flat_map(everywhere, name="send_epoch")
          .lattice_fold_keyed(Max, name="latest_epoch"))
(epochs.source("requests").flat_map(to_every_replica, name="broadcast")
 .lookup(latest, name="read_latest").map(stamp, name="stamp").sink("stamped"))
