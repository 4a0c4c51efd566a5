"""Every rewrite the passes accept keeps the sinks of random programs (issue 5, part 3).

Each generated program (see ``strategies.py``) is enumerated into every plan of up to two
steps that the passes accept (:func:`hydropy.passes.explore.candidate_plans`), and each
design point runs in the simulator under a few seeds; the sinks must be explained by a
single-node schedule (:mod:`hydropy.targets.sim`). A failure notes the program's source.
"""
from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, note, settings

from hydropy.passes.explore import candidate_plans
from strategies import assert_rewrites_keep_sinks, programs

#: derandomized so that CI sees the same 120 programs every run (within its time budget);
#: explore further with ``HYPOTHESIS_RANDOM=1 pytest tests/test_random_programs.py`` (a new
#: draw each run)
SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    derandomize=not os.environ.get("HYPOTHESIS_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_every_accepted_rewrite_keeps_the_sinks(program):
    note(f"program:\n{program}")
    assert_rewrites_keep_sinks(program, seeds=range(2))


def test_generated_programs_exercise_what_rewrites_must_respect():
    """The generator is not vacuous: state, point-in-time reads, loops and multi-member
    design points all occur."""
    seen: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(programs())
    def probe(program):
        graph = program.flow.graph()
        seen.update({n.kind for n in graph.nodes()})
        for _, design in candidate_plans(graph).plans:
            seen["partitioned or replicated"] += any(m > 1 for m in design.members.values())

    probe()
    for kind in ("join", "anti_join", "snapshot", "fold_keyed", "lattice_fold_keyed", "cycle", "unique",
                 "partitioned or replicated"):
        assert seen[kind] >= 2, (kind, seen)
