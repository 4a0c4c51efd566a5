"""The analysis's verdict must be true: a program it finds free of points of order shows the same
sinks (as multisets) whatever the order of its inputs and however they are cut into ticks.

Two generators feed the property: the random programs of ``strategies.py`` (joins, anti_joins,
lookups, snapshots, folds, cycles) and threshold pipelines drawn here (a lattice fold per key,
its snapshot, then a chain of steps, some of which read the lattice's value again). Programs the
analysis flags may or may not disagree; the ones it clears must agree. A mutant (the check that
a later step decides by the value again, removed) shows the property finds what it guards.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hydropy.passes import thresholds
from hydropy.passes.monotonicity import points_of_order
from hydropy.targets.local import run
from strategies import PROGRAM_DIR, cut_into_ticks, programs

#: CI draws a fixed sample; ``HYPOTHESIS_RANDOM=1`` draws new programs, ``HYDROPY_LONG=1`` many
#: more (``HYDROPY_LONG=1 HYPOTHESIS_RANDOM=1 pytest tests/test_verdicts.py``)
SETTINGS = settings(max_examples=1500 if os.environ.get("HYDROPY_LONG") else 60, deadline=None,
                    database=None, derandomize=not os.environ.get("HYPOTHESIS_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow])

# -- threshold pipelines -------------------------------------------------------------------------

#: lattice -> (fold call, its revealed value as a number of ``kv``, bounds that only grow, the
#: other side, exact tests)
LATTICES = {
    "Max": ("lattice_fold_keyed(Max", "kv[1].reveal()", [">= 3", "> 5"], ["< 4"], ["== 4"]),
    "Min": ("lattice_fold_keyed(Min", "kv[1].reveal()", ["<= 2", "< 4"], [">= 3"], ["== 3"]),
    "SetUnion": ("lattice_fold_keyed(SetUnion", "len(kv[1].reveal())", [">= 2", "> 2"], ["< 3"],
                 ["== 2"]),
    "GCounter": ("map(as_count, name='counts').lattice_fold_keyed(GCounter", "kv[1].reveal()",
                 [">= 6", "> 9"], ["< 8"], ["== 7"]),
}
HEADER = '''import hydropy as hp
from hydropy.lattices import Bool, GCounter, Max, Min, SetUnion


def as_count(kv):
    return kv[0], (kv[1] % 2, kv[1])


def odd_value_keys(kv):
    if {value} % 2 == 1:
        return [kv[0]]
    return []


def key_if_even_value(kv):
    if {value} % 2 == 0:
        return kv[0]
    return None


flow = hp.Flow('verdicts')
'''


@st.composite
def threshold_programs(draw):
    """Source text of ``kv -> lattice fold per key -> snapshot -> steps -> [unique] -> sink``."""
    lattice = draw(st.sampled_from(sorted(LATTICES) + ["Bool"]))
    if lattice == "Bool":
        fold, value, grow, other, exact = "lattice_fold_keyed(Bool", "int(kv[1].reveal())", [], [], []
        threshold = ["kv[1].reveal()", "not kv[1].reveal()", "kv[1].reveal() >= 1"]
    else:
        fold, value, grow, other, exact = LATTICES[lattice]
        threshold = [f"{value} {b}" for b in grow + other + exact]
    lines = [HEADER.format(value=value),
             f"r = flow.source('kv').{fold}, name='state').snapshot(name='peek')"]
    shape = "pair"  # (key, lattice) -> "plain" (key, revealed number) -> "key"
    for k in range(draw(st.integers(1, 3))):
        if shape == "pair":
            steps = [f"filter(lambda kv: {t}" for t in threshold] + [
                "filter(lambda kv: kv[0] != 1", f"filter(lambda kv: {value} % 2 == 0",
                "flat_map(odd_value_keys", "filter_map(key_if_even_value", "map(lambda kv: kv[0]",
                f"map(lambda kv: (kv[0], {value})", "inspect(lambda kv: None"]
        elif shape == "plain":
            steps = ["filter(lambda kv: kv[1] < 4", "filter(lambda kv: kv[1] >= 3",
                     "filter(lambda kv: kv[0] != 1", "map(lambda kv: kv[0]"]
        else:
            steps = ["filter(lambda k: k != 1", "map(lambda k: k * 2", "flat_map(lambda k: [k, k + 10]"]
        if k == 0 and draw(st.booleans()):
            steps = steps[:len(threshold)]  # most programs worth drawing start with a threshold
        step = draw(st.sampled_from(steps))
        lines.append(f"r = r.{step}, name='step{k}')")
        if step.startswith(("flat_map(odd", "filter_map", "map(lambda kv: kv[0]")):
            shape = "key"
        elif step.startswith("map(lambda kv: (kv[0]"):
            shape = "plain"
    if shape != "key" and draw(st.booleans()):
        lines.append("r = r.map(lambda kv: kv[0], name='key')")
    if draw(st.booleans()) or draw(st.booleans()):
        lines.append("r = r.unique(name='once')")
    lines.append("r.sink('out')")
    return "\n".join(lines) + "\n"


def load(source: str):
    """The flow of ``source``, imported from a real module file (functions keep their source)."""
    name = f"verdict_program_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    path = os.path.join(PROGRAM_DIR, f"{name}.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.flow


pairs = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 9)), max_size=10)


schedules = cut_into_ticks  # the confluence tests' cutting (test_properties.schedules)


def multisets(results: dict[str, list]) -> dict[str, list]:
    return {name: sorted(rows, key=repr) for name, rows in results.items()}


def agrees_or_is_flagged(graph, batch: dict[str, list], ticks: list[dict]) -> None:
    """The verdict holds: no point of order means the same sinks under ``ticks`` as in one tick."""
    if points_of_order(graph):
        return
    split = multisets(run(graph, ticks=ticks))
    assert split == multisets(run(graph, batch)), f"ticks: {ticks}"


def threshold_pipeline_verdict_holds(data) -> None:
    source = data.draw(threshold_programs(), label="program")
    batch = {"kv": data.draw(pairs, label="kv")}
    agrees_or_is_flagged(load(source).graph(), batch, data.draw(schedules(batch), label="ticks"))


test_threshold_pipelines_cleared_by_the_analysis_agree_under_any_split = \
    SETTINGS(given(st.data())(threshold_pipeline_verdict_holds))


@SETTINGS
@given(st.data())
def test_random_programs_cleared_by_the_analysis_agree_under_any_order_and_split(data):
    program = data.draw(programs(max_ops=5), label="program")
    agrees_or_is_flagged(program.flow.graph(), program.inputs,
                         data.draw(schedules(program.inputs), label="ticks"))


def test_without_the_second_read_check_the_property_fails(monkeypatch):
    """Mutant: a step after a threshold filter may decide by the value again. The property
    (on the programs only the mutant clears, a few schedules each) finds a disagreement."""
    real = thresholds._decides_by_the_value

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def mutant_run(data):
        graph = load(data.draw(threshold_programs(), label="program")).graph()
        if not points_of_order(graph):
            return
        monkeypatch.setattr(thresholds, "_decides_by_the_value", lambda step, record, keyed: False)
        try:
            cleared = not points_of_order(graph)
        finally:
            monkeypatch.setattr(thresholds, "_decides_by_the_value", real)
        for _ in range(20 if cleared else 0):  # the mutant's verdict: "no point of order"
            batch = {"kv": data.draw(pairs, label="kv")}
            ticks = data.draw(schedules(batch), label="ticks")
            assert multisets(run(graph, ticks=ticks)) == multisets(run(graph, batch))

    with pytest.raises(AssertionError):
        mutant_run()


def test_the_generator_draws_cleared_and_flagged_programs():
    """Not vacuous: both verdicts occur among the threshold pipelines."""
    verdicts = set()

    @settings(max_examples=80, deadline=None, database=None, derandomize=True)
    @given(threshold_programs())
    def probe(source):
        verdicts.add(bool(points_of_order(load(source).graph())))

    probe()
    assert verdicts == {True, False}
