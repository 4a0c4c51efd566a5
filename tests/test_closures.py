"""User functions that close over simple values are emitted with those values (issue 11,
"Packaged"): lambdas and nested functions reading numbers, strings, tuples, frozensets of an
enclosing function, module-level constants and literal defaults; anything else is refused
naming the value."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydropy.errors import CompileError
from hydropy.loader import load_flow
from hydropy.targets.compile import compile_flow
from hydropy.targets.names import closure_literal
from hydropy.targets.sim import check_run
from hydropy.passes.pipeline import design_point

CLOSURES = '''
import hydropy as hp

SCALE = 3


def build(threshold=10, tags=frozenset({"a", "b"}), pair=(1, "x"), ratio=-0.0, name="it's"):
    def tagged(x):
        label = "big" if x > threshold else "small"
        return (x * SCALE, label, label in tags, pair, ratio, name)

    flow = hp.Flow("closures")
    xs = flow.source("xs")
    xs.filter(lambda x: x >= threshold - 8, name="keep").map(tagged, name="tag").sink("out")
    xs.map(lambda x, k=threshold: x + k, name="shift").sink("shifted")
    return flow


flow = build()
'''
PLAN = "steps:\n  - decouple: {operators: [tag], to: tagger}\n  - partition: {stage: tagger, n: 2, key: auto}\n"
INPUTS = {"xs": [1, 2, 5, 12, 20]}


@pytest.fixture
def closures(tmp_path):
    (tmp_path / "closures.py").write_text(CLOSURES)
    (tmp_path / "plan.yaml").write_text(PLAN)
    return load_flow(str(tmp_path / "closures.py")), str(tmp_path / "plan.yaml")


def test_closures_are_written_with_their_values(closures, tmp_path):
    flow, plan = closures
    compile_flow(flow, str(tmp_path / "out"), plan=plan)
    main = (tmp_path / "out" / "stages" / "main.py").read_text()
    tagger = (tmp_path / "out" / "stages" / "tagger.py").read_text()
    assert "(lambda threshold: (lambda x: x >= threshold - 8))(10)" in main
    assert "lambda x, k=10: x + k" in main
    assert "from closures import SCALE" in tagger
    assert "tagged = tagged(\"it's\", (1, 'x'), -0.0, frozenset({" in tagger


def test_closures_run_as_in_the_program(closures, ray_session):
    flow, plan = closures
    graph = flow.graph()
    assert check_run(graph, design_point(graph, plan), INPUTS, seed=0) is None
    expected = flow.run(INPUTS)
    assert expected["out"][0] == (6, "small", False, (1, "x"), -0.0, "it's")
    got = flow.run(INPUTS, target="ray", plan=plan)
    assert sorted(got["out"]) == sorted(expected["out"]) and got["shifted"] == expected["shifted"]
    assert all(str(r[4]) == "-0.0" for r in got["out"])


@pytest.mark.parametrize("value, what", [
    ("[3]", "a list [3]"),
    ("float('nan')", "a float nan"),
    ("object()", "a object <object object"),
    ("(1, [2])", "a tuple (1, [2])"),
])
def test_a_closure_over_another_value_is_refused(tmp_path, value, what):
    (tmp_path / "bad.py").write_text(textwrap.dedent(f'''
        import hydropy as hp

        def build():
            offset = {value}
            flow = hp.Flow("bad")
            flow.source("xs").map(lambda x: (x, offset), name="shift").sink("out")
            return flow

        flow = build()
    '''))
    flow = load_flow(str(tmp_path / "bad.py"))
    with pytest.raises(CompileError) as err:
        compile_flow(flow, str(tmp_path / "out"))
    assert f"reads offset, a variable of an enclosing function holding {what}" in str(err.value)
    assert "bad.py:7" in str(err.value.loc)


def test_a_closure_over_a_function_is_refused(tmp_path):
    (tmp_path / "fn.py").write_text(textwrap.dedent('''
        import hydropy as hp

        def build():
            def helper(x):
                return x + 1
            flow = hp.Flow("fn")
            flow.source("xs").map(lambda x: helper(x), name="shift").sink("out")
            return flow

        flow = build()
    '''))
    with pytest.raises(CompileError, match="reads helper, a variable of an enclosing function"):
        compile_flow(load_flow(str(tmp_path / "fn.py")), str(tmp_path / "out"))


def test_closure_literal_reads_back_exactly():
    for value in (1, -0.0, 1.5, "a'\"\n", b"x", None, True, (1, (2, "x")), frozenset({1, 2}),
                  frozenset(), 10 ** 30, 1 + 2j):
        text = closure_literal(value)
        assert text is not None and eval(text) == value and repr(eval(text)) == repr(value) or \
            type(value) is frozenset and eval(text) == value
    for value in (float("nan"), float("inf"), [1], {1: 2}, (1, [2]), object(), {1}):
        assert closure_literal(value) is None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.text(max_size=6), st.integers(), st.tuples(st.text(max_size=3), st.booleans())),
                max_size=12, unique=True), st.randoms(use_true_random=False))
def test_a_frozenset_is_written_the_same_whatever_its_iteration_order(items, rng):
    """The text of a frozenset depends on its value only (a set rebuilt in another order, or in
    a process with another hash seed, iterates in another order): compiling is deterministic."""
    shuffled = list(items)
    rng.shuffle(shuffled)
    a, b = frozenset(items), frozenset(shuffled)
    text = closure_literal(a)
    assert text is not None and text == closure_literal(b) and eval(text) == a


def test_a_frozenset_of_strings_is_written_the_same_under_another_hash_seed():
    code = ("from hydropy.targets.names import closure_literal\n"
            "print(closure_literal(frozenset({'a', 'b', 'ключ', 'zz', 'q'})))")
    texts = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert texts == {"frozenset({'a', 'b', 'q', 'zz', 'ключ'})\n"}


def test_the_check_is_the_mechanism(monkeypatch, tmp_path):
    """Mutant: with every value accepted, a closure over a list is emitted and the stage code
    then fails to load or computes with another object: the refusal is what prevents it."""
    import hydropy.targets.references as references
    monkeypatch.setattr(references, "closure_literal", lambda v: repr(v))
    (tmp_path / "obj.py").write_text(textwrap.dedent('''
        import hydropy as hp

        def build():
            marker = object()
            flow = hp.Flow("obj")
            flow.source("xs").map(lambda x: marker, name="shift").sink("out")
            return flow

        flow = build()
    '''))
    compile_flow(load_flow(str(tmp_path / "obj.py")), str(tmp_path / "out"))
    text = (tmp_path / "out" / "stages" / "main.py").read_text()
    with pytest.raises(SyntaxError):
        compile(text, "main.py", "exec")
