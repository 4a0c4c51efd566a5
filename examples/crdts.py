"""A CRDT suite: five replicated data types as lattices, folded per object.

``flow`` keeps, per object id, a G-counter, a PN-counter, a last-writer-wins register, a
two-phase set and an add-wins set (a user lattice, defined below). Updates carry CRDT
states, not increments: a counter update is a replica's running total, an add-wins add
carries a unique tag and a remove the tags it observed. Every merge is associative,
commutative and idempotent, so replicas that receive the same updates in any order and
any number of times converge (the ``replicate`` rewrite is accepted).

``reads`` asks questions of a G-counter while it grows: "has object k reached K?" is a
threshold read, safe without coordination (once true it stays true); "is it exactly K?" is
not (it can be true and later false), and the analysis flags it as a point of order.

    hydropy run examples/crdts.py:flow --inputs examples/crdts.yaml
    hydropy run examples/crdts.py:reads --inputs examples/crdts_reads.yaml
"""
import hydropy as hp
from hydropy.lattices import LWW, GCounter, Lattice, PNCounter, TwoPSet

TARGET = 5


class AddWinsSet(Lattice):
    """An observed-remove set: an element is present while some tag it was added with has
    not been removed. Records: ``("add", x, tag)`` or ``("remove", x, observed_tags)``."""

    def __init__(self, adds=(), removes=()):
        self.adds, self.removes = set(adds), set(removes)

    @classmethod
    def of(cls, x):
        if isinstance(x, cls):
            return x.copy()
        op, elem, tags = x
        if op == "add":
            return cls(adds={(elem, tags)})
        return cls(removes={(elem, tag) for tag in tags})

    def merge(self, other):
        before = (len(self.adds), len(self.removes))
        self.adds |= other.adds
        self.removes |= other.removes
        return (len(self.adds), len(self.removes)) != before

    def reveal(self):
        return frozenset(elem for elem, tag in self.adds - self.removes)

    def _state(self):
        return (frozenset(self.adds), frozenset(self.removes))

    def copy(self):
        return type(self)(self.adds, self.removes)


flow = hp.Flow("crdts")
for name, lattice in [("gcounter", GCounter), ("pncounter", PNCounter), ("lww", LWW),
                      ("twopset", TwoPSet), ("addwins", AddWinsSet)]:
    flow.source(f"{name}_updates").lattice_fold_keyed(lattice, name=name).sink(name)


def reached(counter):
    return counter[1].reveal() >= TARGET


def exactly(counter):
    return counter[1].reveal() == TARGET


def object_id(counter):
    return counter[0]


reads = hp.Flow("crdt_reads")
counts = reads.source("increments").lattice_fold_keyed(GCounter, name="counts")
counts.sink("counts")
current = counts.snapshot(name="read_counts")
current.filter(reached, name="reached").map(object_id, name="reached_id").unique(
    name="reached_once").sink("reached")
current.filter(exactly, name="exactly").map(object_id, name="exactly_id").unique(
    name="exactly_once").sink("exactly")
