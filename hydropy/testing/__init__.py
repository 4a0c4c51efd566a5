"""Helpers for your own test suite: check a design point against the single-node program.

    from hydropy.testing import assert_equivalent, pairs, ray_session  # noqa: F401

    def test_two_stages_count_like_one():
        assert_equivalent(flow, "plans/two_stages.yaml", {"words": pairs(50)}, seeds=range(50))

``assert_equivalent`` runs the design point in the simulator (:mod:`hydropy.targets.sim`,
the engine of ``hydropy check``: the stage code ``hydropy compile`` emits, so the flow's
functions must be emittable, i.e. defined at module level of a file) once per seed and fails
with the first sink that no single-node schedule explains, its missing and extra records,
the relaxations of the comparison, the seed and the deliveries that led there. ``ray_session`` is a
pytest fixture that starts Ray once per test session (import it into a conftest.py or a
test module). ``pairs``, ``ints`` and ``words`` build reproducible sample inputs.

``check_laws(cls, strategy)`` checks that a lattice's merge obeys the lattice laws on the values
drawn (:mod:`hydropy.testing.laws`); ``lattice_strategy(cls)`` draws values of a built-in
lattice (:mod:`hydropy.testing.strategies`). Both need Hypothesis.
"""
from __future__ import annotations

import random
from typing import Any, Iterable, Mapping, Sequence

from hydropy.errors import HydropyError
from hydropy.ir import Graph


def design_point(flow, plan: str | Sequence[Mapping] | Graph | None) -> tuple[Graph, Graph]:
    """(the single-node program, the design point): ``plan`` is a plan file, a list of steps
    as in a plan file (``[{"decouple": {"operators": [...], "to": "b"}}]``), or a Graph."""
    from hydropy.passes.pipeline import design_point as build  # start-up: see assert_equivalent
    original = flow.graph()
    return original, (plan if isinstance(plan, Graph) else build(original, plan))


def assert_equivalent(flow, plan, inputs: Mapping[str, Iterable[Any]] | None = None, *,
                      seeds: Iterable[int] = range(20)) -> int:
    """Fail unless, for every seed, a single-node schedule explains the design point's sinks
    (the criterion of :mod:`hydropy.targets.sim`). Returns the number of runs checked."""
    # start-up: the emitter and simulator load only when a design point is checked (the passes
    # import hydropy.testing for the law checker, which needs neither)
    from hydropy.targets.emit import find_program
    from hydropy.targets.sim import check_run
    original, design = design_point(flow, plan)
    program = find_program(flow)
    inputs = {k: list(v) for k, v in (inputs or {}).items()}
    checked = 0
    for seed in seeds:
        mismatch = check_run(original, design, inputs, seed, program)
        if mismatch is not None:
            raise AssertionError(f"the design point is not equivalent to flow '{original.name}':\n"
                                 f"{mismatch}\nreplay with seeds=[{seed}]")
        checked += 1
    if not checked:
        raise HydropyError("assert_equivalent needs at least one seed")
    return checked


def __getattr__(name):
    """The law checker's names, imported on first use (they need Hypothesis, a dev-only
    dependency that assert_equivalent and the sample inputs do not)."""
    if name in ("check_laws", "lattice_strategy", "LatticeLawError"):
        from hydropy.testing import laws  # start-up: Hypothesis, only for law checks
        return getattr(laws, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- sample inputs -------------------------------------------------------------------------

def ints(n: int, low: int = 0, high: int = 9, *, seed: int = 0) -> list[int]:
    """``n`` integers in ``[low, high]``, the same for the same seed."""
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(n)]


def pairs(n: int, keys: Sequence[Any] = ("a", "b", "c", "d"), values: Sequence[Any] = range(10), *,
          seed: int = 0) -> list[tuple[Any, Any]]:
    """``n`` ``(key, value)`` records over ``keys`` and ``values``, for keyed operators."""
    rng = random.Random(seed)
    return [(rng.choice(list(keys)), rng.choice(list(values))) for _ in range(n)]


def words(n: int, vocabulary: Sequence[str] = ("the", "quick", "brown", "fox", "dog"), per_line: int = 4,
          *, seed: int = 0) -> list[str]:
    """``n`` lines of up to ``per_line`` words from ``vocabulary``."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(list(vocabulary)) for _ in range(rng.randint(1, per_line)))
            for _ in range(n)]


try:
    import pytest
except ImportError:  # hydropy.testing is usable without pytest; the fixture needs it
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def ray_session():
        """A local Ray started once for the test session (reused if already running) and
        stopped at its end if this fixture started it."""
        import ray  # start-up: Ray loads only for a test that asks for the fixture
        started = not ray.is_initialized()
        if started:
            from hydropy.targets.ray import start_local_ray  # start-up: as ray above
            start_local_ray()
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()
