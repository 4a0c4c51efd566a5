"""Built-in lattices obey their laws on every value of their domain (issue 16): NaN,
infinities, ``-0.0``, values around 2**53 and the int64 limits. Max and Min place NaN just
above bottom (below every number); LWW refuses a NaN timestamp; values equal under ``==`` but
shown differently are ordered, so what a fold reveals does not depend on its records' order."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy import lattices
from hydropy.errors import HydropyError, LatticeLawError
from hydropy.lattices import LWW, Max, Min
from hydropy.lattices.values import _Extremum
from hydropy.passes import kernel_plan
from hydropy.passes.monotonicity import points_of_order
from hydropy.targets.local import run
from hydropy.testing import check_laws, lattice_strategy
from hydropy.testing.strategies import SPECIAL_NUMBERS, numbers

NAN = float("nan")
SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def _fold(cls, xs):
    acc = cls.bottom()
    for x in xs:
        acc.update(x)
    return acc


@pytest.mark.parametrize("cls", [Max, Min])
def test_nan_is_below_every_number_whatever_the_order(cls):
    for xs in ([5.0, NAN], [NAN, 5.0], [NAN, 5.0, float("nan"), -math.inf]):
        expected = _fold(cls, sorted((x for x in xs if not math.isnan(x)), reverse=cls is Min))
        for order in itertools.permutations(xs):
            assert repr(_fold(cls, order)) == repr(expected)
    only_nan = _fold(cls, [NAN, float("nan")])
    assert math.isnan(only_nan.reveal()) and only_nan == cls(float("nan"))
    assert hash(only_nan) == hash(cls(float("nan")))
    assert cls(NAN).leq(cls(5.0)) and not cls(5.0).leq(cls(NAN)) and cls.bottom().leq(cls(NAN))


@pytest.mark.parametrize("cls", [Max, Min])
@SETTINGS
@given(xs=st.lists(numbers(), max_size=6), seed=st.randoms(use_true_random=False))
def test_a_fold_reveals_the_same_in_any_order(cls, xs, seed):
    shuffled = list(xs)
    seed.shuffle(shuffled)
    a, b = _fold(cls, xs), _fold(cls, shuffled)
    assert a == b and repr(a) == repr(b)


def test_zero_signs_and_int_float_ties_are_ordered():
    assert repr(_fold(Max, [0.0, -0.0])) == repr(_fold(Max, [-0.0, 0.0]))
    assert repr(_fold(Min, [1, 1.0])) == repr(_fold(Min, [1.0, 1]))
    assert _fold(Max, [2**53 + 1, 2.0**53]).reveal() == 2**53 + 1  # exact int/float comparison
    assert repr(_fold(LWW, [(1, 0.0), (1, -0.0)])) == repr(_fold(LWW, [(1, -0.0), (1, 0.0)]))
    assert _fold(LWW, [(1, NAN), (1, float("nan"))]) == _fold(LWW, [(1, float("nan")), (1, NAN)])


def test_lww_refuses_a_nan_timestamp_naming_lattice_and_value():
    with pytest.raises(HydropyError, match=r"LWW: the timestamp of 'v' is NaN") as info:
        LWW.of((NAN, "v"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls", [Max, Min, LWW, lattices.SetUnion, lattices.MapUnion.over(Max)],
                         ids=lambda c: c.__name__)
def test_the_strategies_draw_the_hostile_values(cls):
    """The law checker's strategies reach NaN, infinities, -0.0, 2**53 + 1 and the int64 limits."""
    def numbers_in(value):
        seen, todo = [], [value.reveal()]
        while todo:
            v = todo.pop()
            if isinstance(v, (tuple, list, set, frozenset)):
                todo.extend(v)
            elif isinstance(v, dict):
                todo.extend(v.values())
            elif isinstance(v, (int, float)):
                seen.append(v)
        return seen

    strategy = lattice_strategy(cls)
    wanted = [math.isnan, math.isinf, lambda v: v == 0 and math.copysign(1, v) < 0,
              lambda v: v == 2**53 + 1 and isinstance(v, int)]
    if cls is not LWW:
        wanted.append(lambda v: v in (2**63 - 1, -(2**63)) and isinstance(v, int))
        wanted.remove(math.isnan) if cls is lattices.SetUnion else None
    for test in wanted:
        find(strategy, lambda value: any(isinstance(v, float | int) and test(v) for v in numbers_in(value)),
             settings=settings(database=None, max_examples=2000))


def test_the_special_numbers_are_the_hostile_ones():
    assert {2**53 + 1, 2**63 - 1, -(2**63), 2.0**53, math.inf, -math.inf} <= set(SPECIAL_NUMBERS)
    assert any(isinstance(v, float) and v == 0 and math.copysign(1, v) < 0 for v in SPECIAL_NUMBERS)


def test_every_builtin_value_lattice_has_a_strategy():
    """A new built-in lattice registers its strategy in hydropy.testing.strategies (sequence
    lattices hold records at positions: their tests draw those)."""
    sequences = {"SequenceLattice", "SealedSet", "BoundedPrefix"}
    for name in lattices.__all__:
        cls = getattr(lattices, name)
        if isinstance(cls, type) and issubclass(cls, lattices.Lattice) and cls is not lattices.Lattice \
                and name not in sequences:
            bound = cls.over(Max) if name == "MapUnion" else \
                cls.over(Max, Min) if name in ("Pair", "DomPair") else cls
            lattice_strategy(bound)


def test_without_the_nan_order_the_law_checker_catches_max(monkeypatch):
    """The mutant: Max / Min compare NaN with ``>`` as any number (what they did before)."""
    monkeypatch.setattr(_Extremum, "_replaces", lambda self, new, old: self._better(new, old))
    with pytest.raises(LatticeLawError, match="Max violates"):
        check_laws(Max, lattice_strategy(Max), max_examples=300, derandomize=True)


def reaches_four(m):
    return m.reveal() >= 4.0


def reaches_three(m):
    return m.reveal() <= 3.0


def _peak_flow(lattice):
    flow = hp.Flow("peaks")
    peak = flow.source("s", dtype="float64").lattice_fold(lattice, name="peak")
    peak.sink("value")
    test = reaches_four if lattice is Max else reaches_three
    peak.snapshot(name="peek").filter(test, name="test").map(lambda m: "crossed", name="flag") \
        .unique(name="once").sink("crossed")
    return flow.graph()


@pytest.mark.parametrize("lattice", [Max, Min])
def test_a_threshold_on_a_float_lattice_with_nan_is_the_same_in_any_order_and_tick_split(lattice):
    g = _peak_flow(lattice)
    assert points_of_order(g) == []
    records = [5.0, NAN, 2.0, NAN]
    final = 5.0 if lattice is Max else 2.0
    seen = set()
    for order in itertools.permutations(records):
        for size in (1, 4):
            out = run(g, ticks=[{"s": list(order[i:i + size])} for i in range(0, len(order), size)])
            seen.add((repr(out["value"]), tuple(out["crossed"])))
    assert seen == {(repr([lattice(final)]), ("crossed",))}


def larger(a, b):
    return max(a, b)


def test_float_extrema_with_nan_agree_between_kernel_and_python():
    """The kernel path: lattice folds run as Python (so as the lattice); a keyed reduce with
    ``max`` over float64 is jitted, and Numba's ``max`` agrees with Python's on NaN and -0.0."""
    flow = hp.Flow("extrema")
    pairs = flow.source("s", dtype=("int64", "float64"))
    pairs.lattice_fold_keyed(Max, name="peak").sink("peak")
    pairs.reduce_keyed(larger, name="top").sink("top")
    g = flow.graph()
    modes = {g.node(i).name: m.mode for i, m in kernel_plan.plan(g).modes.items()}
    assert modes["peak"] == "python" and modes["top"] == "kernel"
    records = [(1, 5.0), (1, NAN), (2, NAN), (2, -0.0), (2, 0.0), (3, -math.inf), (3, NAN)]
    for order in (records, records[::-1]):
        columns = hp.Columns([k for k, _ in order], [v for _, v in order])
        jitted, plain = run(g, {"s": columns}), run(g, {"s": list(order)})
        assert repr(jitted) == repr(plain)
    assert repr(run(g, {"s": records})["peak"]) == repr(run(g, {"s": records[::-1]})["peak"])
