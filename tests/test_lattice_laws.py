"""User lattices: replicate, partition's shared lattices and split_fold merge copies of a
lattice's state, so they check its laws first (passes/laws.py) and refuse a lawless one naming
the law and a counterexample; built-ins are vetted by tests/test_lattices.py."""
from __future__ import annotations

import time

import pytest

import hydropy as hp
from hydropy import RewriteRefused
from hydropy.lattices import Lattice, MapUnion, Max, SetUnion
from hydropy.passes import laws
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.passes.replicate import replicate
from hydropy.passes.split_fold import split_fold
from hydropy.testing import assert_equivalent


class Value(Lattice):
    def __init__(self, v=None):
        self.v = v

    def reveal(self):
        return self.v


class AddMax(Value):
    """Max-like on ints, but merging adds: not idempotent."""

    def merge(self, other):
        if other.v is None:
            return False
        new = other.v if self.v is None else self.v + other.v
        changed, self.v = new != self.v, new
        return changed


class KeepLeft(Value):
    """Keeps the first value it saw: not commutative."""

    def merge(self, other):
        if self.v is None and other.v is not None:
            self.v = other.v
            return True
        return False


class ParityPick(Value):
    """max when the sum is odd, else min: commutative and idempotent, not associative."""

    def merge(self, other):
        if other.v is None:
            return False
        if self.v is None:
            self.v = other.v
            return True
        new = max(self.v, other.v) if (self.v + other.v) % 2 else min(self.v, other.v)
        changed, self.v = new != self.v, new
        return changed


class LoudBottom(Value):
    """A max whose bottom is 0, not the identity on negative numbers: harmless, as every fold
    (and every replica, member and partial) starts at bottom, so no state ever lies below it;
    the laws are checked on the values folds reach."""

    def __init__(self, v=0):
        self.v = v

    def merge(self, other):
        if other.v <= self.v:
            return False
        self.v = other.v
        return True


class Highest(Value):
    """A lawful user lattice: the greatest value seen."""

    def merge(self, other):
        if other.v is None or (self.v is not None and other.v <= self.v):
            return False
        self.v = other.v
        return True


class Drawn(Highest):
    """Lawful, and says how to draw its values."""

    @classmethod
    def strategy(cls):
        from hypothesis import strategies as st
        return st.builds(cls, st.none() | st.integers(0, 9))


class MyMax(Max):
    """A user's subclass of a built-in is not vetted: its merge is its own."""

    def merge(self, other):
        if other.v is None:
            return False
        new = other.v if self.v is None else self.v + other.v
        changed, self.v = new != self.v, new
        return changed


LAWLESS = [(AddMax, "idempotence"), (KeepLeft, "commutativity"), (ParityPick, "associativity"),
           (MyMax, "idempotence"),
           (MapUnion.over(AddMax), "idempotence")]
LAWFUL = [Highest, Drawn, MapUnion.over(Highest), LoudBottom]
XS = [3, -1, 4, 1, 5, 9, 2, 6]


def one_global_lattice(lattice):
    flow = hp.Flow("global_lattice")
    flow.source("xs").lattice_fold(lattice, name="best").sink("best")
    return flow


def keyed_lattice(lattice):
    flow = hp.Flow("keyed_lattice")
    store = flow.source("puts").lattice_fold_keyed(lattice, name="store")
    store.sink("store")
    flow.source("gets").lookup(store, name="ask").sink("answers")
    return flow


def replicated(flow, n=2):
    g = flow.graph()
    g = decouple(g, [x.name for x in g.nodes() if x.kind not in ("source", "sink")], "s")
    return replicate(g, "s", n)


@pytest.mark.parametrize("lattice, law", LAWLESS, ids=lambda x: getattr(x, "__name__", x))
def test_replicate_refuses_a_lawless_user_lattice(lattice, law):
    with pytest.raises(RewriteRefused) as info:
        replicated(one_global_lattice(lattice))
    message = str(info.value)
    assert "lattice_fold 'best'" in message and "test_lattice_laws.py:" in message
    assert f"violates {law}" in message and "a=" in message and "\n" not in message


@pytest.mark.parametrize("lattice, law", LAWLESS, ids=lambda x: getattr(x, "__name__", x))
def test_partial_partitioning_refuses_a_lawless_shared_lattice(lattice, law):
    with pytest.raises(RewriteRefused, match=f"every member merges all its writes.*violates {law}"):
        partition(one_global_lattice(lattice).graph(), "main", 2)


@pytest.mark.parametrize("lattice, law", LAWLESS[:3], ids=lambda x: getattr(x, "__name__", x))
def test_split_fold_refuses_a_lawless_lattice_fold(lattice, law):
    with pytest.raises(RewriteRefused, match=f"partial values.*violates {law}"):
        split_fold(one_global_lattice(lattice).graph(), "best", to="total")


@pytest.mark.parametrize("lattice", LAWFUL, ids=lambda x: x.__name__)
def test_a_lawful_user_lattice_is_accepted_and_agrees(lattice):
    flow = keyed_lattice(lattice) if issubclass(lattice, MapUnion) else one_global_lattice(lattice)
    inputs = ({"puts": [("a", ("x", 1)), ("b", ("y", 2)), ("a", ("x", 3))], "gets": [("a", 0)]}
              if issubclass(lattice, MapUnion) else {"xs": XS})
    assert_equivalent(flow, replicated(flow, 3), inputs, seeds=range(10))
    if not issubclass(lattice, MapUnion):
        assert_equivalent(flow, partition(flow.graph(), "main", 2), inputs, seeds=range(10))


def test_keyed_user_lattice_replicated_behind_lookups_is_checked():
    with pytest.raises(RewriteRefused, match="lattice_fold_keyed 'store'.*KeepLeft violates"):
        replicated(keyed_lattice(KeepLeft))
    flow = keyed_lattice(Highest)
    inputs = {"puts": [("a", 1), ("b", 5), ("a", 3)], "gets": [("a", 0), ("b", 0)]}
    assert_equivalent(flow, replicated(flow), inputs, seeds=range(10))


def test_builtins_are_vetted_without_a_check():
    for cls in (Max, SetUnion, MapUnion.over(Max)):
        assert laws.is_vetted(cls)
    for cls in (MyMax, Highest, MapUnion.over(Highest)):
        assert not laws.is_vetted(cls)


def test_the_law_check_is_deterministic_and_fast():
    for lattice, _ in LAWLESS:
        laws._verdicts.pop((lattice, ()), None)
        start = time.process_time()
        first = laws.why_not_lawful(lattice)
        spent = time.process_time() - start
        laws._verdicts.pop((lattice, ()), None)
        assert laws.why_not_lawful(lattice) == first
        assert spent < 5  # generous bound on a shared machine; measured well under 1 s


def test_a_lattice_of_no_drawable_values_is_refused():
    class Fussy(Highest):
        @classmethod
        def of(cls, x):
            raise TypeError("only my own records")

    with pytest.raises(RewriteRefused, match="Fussy.of lifts none.*strategy"):
        replicated(one_global_lattice(Fussy))


def test_mutant_without_the_law_check_replicas_disagree_with_the_single_node_run(monkeypatch):
    """The check removed: replicate accepts AddMax, and merging its replicas adds their values."""
    monkeypatch.setattr(laws, "why_not_lawful", lambda cls, samples=(): "")
    flow = one_global_lattice(AddMax)
    design = replicated(flow)
    with pytest.raises(AssertionError, match="not equivalent"):
        assert_equivalent(flow, design, {"xs": XS}, seeds=range(5))


PROGRAM = '''
import hydropy as hp
from hydropy.lattices import Lattice


class Tally(Lattice):
    """Records ("add", n): a lattice only if merge is a max; this one {merge}."""

    def __init__(self, n=0):
        self.n = n

    @classmethod
    def of(cls, x):
        op, n = x
        return cls(n)

    def merge(self, other):
        new = {expression}
        changed, self.n = new != self.n, new
        return changed

    def reveal(self):
        return self.n


flow = hp.Flow("tallies")
flow.source("updates").lattice_fold_keyed(Tally, name="tally").sink("tally")
'''


@pytest.mark.parametrize("expression, verdict", [
    ("max(self.n, other.n)", 0),
    ("self.n + other.n", 2),
])
def test_laws_are_checked_on_the_program_sample_records_through_the_cli(tmp_path, capsys, expression,
                                                                        verdict):
    """Records ("add", n) are none of the shapes hydropy draws by itself: the sample inputs
    beside the program supply them, and a lawless merge is refused in one line, exit 2."""
    from hydropy.cli import main
    program = tmp_path / "tallies.py"
    program.write_text(PROGRAM.format(merge=expression, expression=expression))
    (tmp_path / "tallies.yaml").write_text("updates: [[a, [add, 2]], [b, [add, 5]], [a, [add, 3]]]\n")
    (tmp_path / "plan.yaml").write_text("steps:\n  - decouple: {operators: [tally], to: s}\n"
                                        "  - replicate: {stage: s, n: 2}\n")
    assert main(["check", str(program), "--plan", str(tmp_path / "plan.yaml"), "--seeds", "3"]) == verdict
    if verdict:
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "tallies.py:" in err
        assert "Tally violates idempotence" in err and "Traceback" not in err
