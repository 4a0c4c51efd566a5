"""Checking a user lattice's laws before a rewrite relies on them.

``replicate``, partition's shared (broadcast) lattices and ``split_fold`` of a lattice fold
merge copies of one lattice's state that saw the same writes in different orders, in different
groupings, some twice. The merged value equals the single-node fold's only when the merge is
associative, commutative and idempotent and ``bottom()`` is its identity. The built-in lattices
of :mod:`hydropy.lattices` are proven by its tests; any other class (a user's, or a user's
subclass of a built-in, or a built-in family bound over a user's component) is checked here with
Hypothesis, derandomised and bounded, so a plan gets the same verdict every time.

Values are drawn by the lattice's own classmethod ``strategy()`` (a Hypothesis strategy of
its values) when it has one, else by :func:`hydropy.testing.lattice_strategy` for subclasses of
built-ins, else as merges of ``of(record)`` over records of the program's sample inputs (the
inputs file beside the program, which ``hydropy check`` reads too) or, without them, over
small drawn records (ints, short strings and pairs of them): what a fold of them would hold.
"""
from __future__ import annotations

from pathlib import Path

from hydropy import lattices
from hydropy.errors import HydropyError, RewriteRefused
from hydropy.ir import Graph, Node
from hydropy.ir.ops import IDENTITIES

#: how many triples to try per lattice (drawn from small domains, so values collide often):
#: enough to find a broken law of a small merge, in well under a second; no shrinking, which
#: could take seconds (values are small already)
EXAMPLES = 60

_verdicts: dict[type, str] = {}


def check_lattice_laws(lattice_cls: type, node: Node, relies: str, samples: tuple = ()) -> None:
    """Refuse (RewriteRefused at ``node``) when ``lattice_cls`` is not vetted and breaks a law;
    ``relies`` says what the rewrite needs the laws for; ``samples``: records the fold gets."""
    why = why_not_lawful(lattice_cls, samples)
    if why:
        raise RewriteRefused(f"{node.kind} '{node.name}' keeps the user lattice {lattice_cls.__name__}, "
                             f"and {relies}, which needs its merge to be a lattice's, but {why}",
                             node.loc)


def check_state_laws(g: Graph, node_ids, relies: str) -> None:
    """:func:`check_lattice_laws` for the lattice of each of ``node_ids`` that has one (a
    join_table's table merges by union and needs none)."""
    for nid in sorted(node_ids):
        node = g.node(nid)
        if node.params.get("lattice") is not None:
            check_lattice_laws(node.params["lattice"], node, relies, sample_records(g, node))


def is_vetted(lattice_cls: type) -> bool:
    """A built-in of hydropy.lattices (bound over built-in components only): proven by tests."""
    if not isinstance(lattice_cls, type) or lattice_cls.__module__ != lattices.__name__:
        return False
    origin = getattr(lattice_cls, "_origin", None) or lattice_cls
    if origin.__dict__.get("__module__") != lattices.__name__ or origin.__name__ not in lattices.__all__:
        return False
    return all(is_vetted(p) for p in getattr(lattice_cls, "_params", ())
               if isinstance(p, type) and issubclass(p, lattices.Lattice))


def why_not_lawful(lattice_cls: type, samples: tuple = ()) -> str:
    """"" when ``lattice_cls`` is vetted or passes the law check, else the law it breaks and a
    counterexample (cached per class and samples)."""
    if is_vetted(lattice_cls):
        return ""
    key = (lattice_cls, tuple(map(repr, samples)))
    if key not in _verdicts:
        _verdicts[key] = _check(lattice_cls, samples)
    return _verdicts[key]


def sample_records(g: Graph, fold: Node) -> tuple:
    """Records ``fold`` gets in the program's sample inputs (the ``.yaml`` or ``.json`` beside
    the file that defines it, as ``hydropy check`` uses), from each input that reaches it
    unchanged (through channels only); the values of a keyed fold's pairs. () when none."""
    from hydropy.loader import load_inputs  # the loader sits above the passes (it builds Flows)
    if fold.loc is None:
        return ()
    found = [p for p in (Path(fold.loc.file).with_suffix(x) for x in (".yaml", ".json")) if p.is_file()]
    if not found:
        return ()
    try:
        inputs = load_inputs(str(found[0]))
    except HydropyError:
        return ()
    node = g.node(fold.inputs[0])
    while node.kind in IDENTITIES:
        node = g.node(node.inputs[0])
    records = inputs.get(node.params.get("name"), []) if node.kind == "source" else []
    if fold.kind == "lattice_fold_keyed":
        records = [r[1] for r in records if isinstance(r, tuple) and len(r) == 2]
    return tuple(records[:50])


def _check(cls: type, samples: tuple) -> str:
    from hydropy.testing import laws  # start-up: imports Hypothesis, only for a user lattice
    try:
        laws.check_laws(cls, values_of(cls, samples), max_examples=EXAMPLES, derandomize=True,
                        shrink=False)
    except HydropyError as err:  # a LatticeLawError, or no values to draw
        return str(err)
    except Exception as exc:  # a Hypothesis health check or the user's code failing
        return (f"hydropy could not draw values of {cls.__name__} to check it "
                f"({type(exc).__name__}: {laws.shorten(str(exc))}); give it a classmethod "
                f"strategy() returning a Hypothesis strategy of its values")
    return ""


def values_of(cls: type, samples: tuple = ()):
    """A Hypothesis strategy of values of ``cls`` (see module docstring); ``samples``: records
    of the program's sample inputs, folded when the lattice has no strategy of its own."""
    from hypothesis import strategies as st  # start-up: Hypothesis only for a user lattice

    from hydropy.testing.strategies import lattice_strategy
    own = getattr(cls, "strategy", None)
    if callable(own):
        return own()
    if samples:
        records = st.sampled_from(samples)
    else:
        try:
            return lattice_strategy(cls)
        except HydropyError:
            pass
        records = _record_domain(cls)
    if records is None:
        raise HydropyError(f"{cls.__name__}.of lifts none of the small records hydropy draws "
                           f"(ints, short strings, pairs of them) into values it can merge; give it a "
                           f"classmethod strategy() returning a Hypothesis strategy of its values")

    def fold(xs):
        acc = cls.bottom()
        for x in xs:
            acc.merge(cls.of(x))
        return acc

    return st.lists(records, max_size=3).map(fold)


def _record_domain(cls: type):
    """The first of a few small record domains whose examples ``cls.of`` lifts into values that
    merge without raising (a lattice of ints need not accept strings)."""
    from hypothesis import strategies as st  # start-up: Hypothesis only for a user lattice

    ints, text = st.integers(-3, 3), st.text("ab", max_size=2)
    domains = [(ints, [0, 1, -2, 3]), (text, ["", "a", "ab", "b"]),
               (st.tuples(ints, ints), [(0, 1), (1, -2), (3, 0)]),
               (st.tuples(text, ints), [("a", 1), ("b", -2), ("", 0)])]
    for strategy, examples in domains:
        try:
            acc = cls.bottom()
            for x in examples:
                acc.merge(cls.of(x))
                cls.of(x).merge(acc)
        except Exception:
            continue
        return strategy
    return None
