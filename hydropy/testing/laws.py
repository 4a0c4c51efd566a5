"""The lattice law checker: does a class's merge make it a lattice on the values drawn?

``check_laws(cls, strategy)`` draws triples of values with Hypothesis and checks, on each,
that merge is commutative, associative and idempotent, that ``bottom()`` is its identity,
that merge's result says exactly whether the value changed, that merge mutates neither its
argument nor the value it was copied from, and that equal values hash alike. Values come from
:func:`hydropy.testing.strategies.lattice_strategy` for the built-ins, or from a strategy the
caller passes (a user lattice's own classmethod ``strategy()``, as ``passes/laws.py`` uses).
"""
from __future__ import annotations

import copy as _copy

from hypothesis import HealthCheck, Phase, given, settings

from hydropy.errors import LatticeLawError

from .strategies import lattice_strategy  # noqa: F401  (re-exported beside the checker)

__all__ = ["check_laws", "lattice_strategy", "LatticeLawError", "shorten"]


def shorten(text: str, limit: int = 80) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(value) -> str:
    return shorten(repr(value))


def _check_triple(name, cls, a, b, c):
    """Check every law on one drawn triple; raise LatticeLawError on the first violation."""

    def fail(law, detail):
        raise LatticeLawError(f"{name} violates {law}: {detail}")

    def join(x, y):
        """``x ⊔ y`` as a new value, checking the changed flag and no mutation of x, y."""
        x_snap, y_snap = _copy.deepcopy(x), _copy.deepcopy(y)
        result = x.copy()
        if result != x:
            fail("copy equality", f"{_one_line(x)}.copy() == {_one_line(result)}")
        try:
            changed = result.merge(y)
        except Exception as exc:
            fail("merge totality", f"{_one_line(x)}.merge({_one_line(y)}) raised "
                                   f"{type(exc).__name__}: {exc}")
        if x != x_snap:
            fail("copy independence", f"merging {_one_line(y)} into a copy of "
                                      f"{_one_line(x_snap)} changed the original")
        if y != y_snap:
            fail("argument immutability", f"{_one_line(x_snap)}.merge({_one_line(y_snap)}) "
                                          f"mutated its argument to {_one_line(y)}")
        if changed is not (result != x):
            fail("changed flag", f"{_one_line(x)}.merge({_one_line(y)}) returned {changed!r} "
                                 f"but the result is {_one_line(result)}")
        return result

    for v in (a, b, c):
        if not isinstance(v, cls):
            raise LatticeLawError(f"{name}: the strategy produced {_one_line(v)}, "
                                  f"not a {name}")
    ab, ba = join(a, b), join(b, a)
    if ab != ba:
        fail("commutativity", f"a={_one_line(a)}, b={_one_line(b)}: a ⊔ b = {_one_line(ab)} "
                              f"but b ⊔ a = {_one_line(ba)}")
    aa = join(a, a)
    if aa != a:
        fail("idempotence", f"a={_one_line(a)}: a ⊔ a = {_one_line(aa)}")
    left, right = join(ab, c), join(a, join(b, c))
    if left != right:
        fail("associativity", f"a={_one_line(a)}, b={_one_line(b)}, c={_one_line(c)}: "
                              f"(a ⊔ b) ⊔ c = {_one_line(left)} but a ⊔ (b ⊔ c) = "
                              f"{_one_line(right)}")
    bottom = cls.bottom()
    for x, y in ((bottom, a), (a, bottom)):
        if join(x, y) != a:
            fail("bottom identity", f"a={_one_line(a)}, bottom={_one_line(bottom)}: "
                                    f"{_one_line(x)} ⊔ {_one_line(y)} = {_one_line(join(x, y))}")
    if a == b and hash(a) != hash(b):
        fail("hash consistency", f"{_one_line(a)} == {_one_line(b)} but their hashes differ")


def check_laws(lattice_cls, values_strategy, max_examples=200, derandomize=False, shrink=True):
    """Check with Hypothesis that ``lattice_cls`` is a lattice on the values drawn.

    Checks associativity, commutativity and idempotence of merge, that bottom
    is an identity, that merge's result is exactly "changed", and that merge
    mutates neither its argument nor the value it was copied from. Raises
    :class:`LatticeLawError` naming the class, law and counterexample (reprs shortened).
    ``derandomize``: the same examples every run (what rewrites use, for stable verdicts);
    ``shrink=False`` reports the first counterexample found, unshrunk (bounded time).
    """
    name = getattr(lattice_cls, "__name__", repr(lattice_cls))

    @settings(max_examples=max_examples, deadline=None, database=None,
              report_multiple_bugs=False, derandomize=derandomize,
              phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else []),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(values_strategy, values_strategy, values_strategy)
    def laws(a, b, c):
        _check_triple(name, lattice_cls, a, b, c)

    laws()
