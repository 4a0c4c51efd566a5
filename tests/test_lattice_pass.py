"""The lattice step: folds become lattice folds that show the sink the same value, only where
the precondition holds; the new lattices obey the laws (issue 4, lattice-type transformations)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydropy import RewriteRefused, ir
from hydropy.lattices import BoundedPrefix, RecordCount, SealedSet, SetUnion
from hydropy.testing import check_laws, lattice_strategy
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.lattice import to_lattice
from hydropy.passes.plan import apply_plan, parse_plan
from hydropy.targets.local import run

SESSIONS_INPUTS = load_inputs(str(Path(__file__).resolve().parent / "programs" / "sessions.yaml"))


@pytest.fixture
def sessions(repo_root):
    return load_flow(str(repo_root / "tests" / "programs" / "sessions.py"))


@pytest.fixture
def cart(repo_root):
    return load_flow(str(repo_root / "examples" / "shopping_cart_indexed.py"))


def program(tmp_path, body: str):
    path = tmp_path / "prog.py"
    path.write_text("import hydropy as hp\n" + textwrap.dedent(body))
    return load_flow(str(path))


@pytest.mark.parametrize("operator", ["tags_per_user", "all_tags"])
def test_set_inserts_become_set_union_and_sinks_agree(sessions, operator):
    graph = sessions.graph()
    after = to_lattice(graph, operator, "set_union")
    node = after.by_name(operator)
    assert node.kind.startswith("lattice_fold") and node.params["lattice"] is SetUnion
    assert graph.by_name(operator).kind.startswith("fold")  # the argument is untouched
    assert run(after, SESSIONS_INPUTS) == sessions.run(SESSIONS_INPUTS)


@pytest.mark.parametrize("example, operator, inputs", [
    ("wordcount", "total_words", {"lines": ["a b a", "c", ""]}),
    ("voting", "tally", {"requests": [("c1", 1, "x"), ("c2", 7, "y"), ("c1", 2, "z")]}),
])
def test_counts_become_gcounters_and_sinks_agree(repo_root, example, operator, inputs):
    flow = load_flow(str(repo_root / "examples" / f"{example}.py"))
    after = to_lattice(flow.graph(), operator, "gcounter")
    assert after.by_name(operator).params["lattice"] is RecordCount
    assert run(after, inputs) == flow.run(inputs)
    assert run(after, {}) == flow.run({})  # a count of nothing is 0, as before


def test_a_gcounter_replicates_but_refuses_duplicating_channels(repo_root):
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'count_per_word': its fn add returns total "
                                             r"\+ n, not acc \+ 1"):
        to_lattice(flow.graph(), "count_per_word", "gcounter")
    plan = ("steps:\n  - lattice: {operator: total_words, as: gcounter}\n"
            "  - decouple: {operators: [total_words], to: counter}\n"
            "  - replicate: {stage: counter, n: 2}\n")
    replicated = apply_plan(flow.graph(), parse_plan(plan))[-1][1]
    inputs = {"lines": ["a b a", "c"]}
    assert run(replicated, inputs) == flow.run(inputs)
    reordered = apply_plan(replicated, parse_plan("steps:\n  - reorder: {channel: words_to_counter}\n"))
    assert "unordered" in ir.to_text(reordered[-1][1])  # order does not matter to a count
    with pytest.raises(RewriteRefused, match=r"RecordCount, which counts every record it receives, but "
                                             r"the channel 'words_to_counter' \(declared: reorder, "
                                             r"duplicates\) may deliver a record twice"):
        apply_plan(replicated, parse_plan("steps:\n  - reorder: {channel: words_to_counter, "
                                          "duplicates: true}\n"))


def test_sealed_set_keeps_what_the_fold_showed(sessions):
    after = to_lattice(sessions.graph(), "log", "sealed_set", [0, 0])
    assert after.by_name("log").params["lattice"].__name__.startswith("SealedSet")
    assert run(after, SESSIONS_INPUTS) == sessions.run(SESSIONS_INPUTS)


@pytest.mark.parametrize("body, operator, kind, match", [
    ("""
     flow = hp.Flow("p")
     flow.source("xs").fold(set, lambda acc, x: acc | {x + 1}, name="f").sink("s")
     """, "f", "set_union", r"prog.py:4: fold 'f': its fn lambda@4 returns acc \| \{x \+ 1\}, which is not acc"),
    ("""
     flow = hp.Flow("p")
     flow.source("xs").fold(list, lambda acc, x: acc | {x}, name="f").sink("s")
     """, "f", "set_union", r"its init list is not seen to make an empty set"),
    ("""
     def grow(acc, x):
         acc.add(x)
         return acc
     flow = hp.Flow("p")
     flow.source("xs").fold(set, grow, name="f").sink("s")
     """, "f", "set_union", r"its fn grow is not a single return statement"),
    ("""
     flow = hp.Flow("p")
     flow.source("xs").count(name="n").sink("s")
     """, "n", "set_union", r"prog.py:4: count 'n' is not a fold"),
    ("""
     flow = hp.Flow("p")
     flow.source("xs").fold(set, lambda acc, x: acc | {x}, name="f").sink("s")
     """, "f", "max", r"unknown lattice kind 'max'"),
    ("""
     flow = hp.Flow("p")
     flow.source("xs").fold_keyed(tuple, lambda acc, x: acc + (x,), name="f").sink("s")
     """, "f", "sealed_set", r"sealed_set needs 'index'"),
])
def test_refusals_name_the_operator_and_reason(tmp_path, body, operator, kind, match):
    graph = program(tmp_path, body).graph()
    with pytest.raises(RewriteRefused, match=match):
        to_lattice(graph, operator, kind, [0] if kind == "sealed_set" and "index" not in match else None)


def test_a_position_computed_in_the_program_is_refused(tmp_path):
    graph = program(tmp_path, """
        def renumber(r):
            client, (seq, op) = r
            return (client, (seq + 1, seq, op))
        flow = hp.Flow("p")
        logs = flow.source("xs").map(renumber, name="renumber")
        logs.fold_keyed(tuple, lambda acc, x: acc + (x,), name="log").sink("s")
    """).graph()
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'log': its value\[0\] \(the position\) is "
                                             r"computed in the program"):
        to_lattice(graph, "log", "sealed_set", [0])
    accepted = to_lattice(graph, "log", "sealed_set", [1])  # seq itself comes unchanged
    assert accepted.by_name("log").kind == "lattice_fold_keyed"


def test_bounded_prefix_is_refused_behind_a_reordering_channel_in_either_order(cart):
    dp3 = parse_plan("steps:\n  - decouple: {operators: [cart], to: server}\n"
                     "  - reorder: {channel: tag_with_class_to_server}\n")
    reordered = apply_plan(cart.graph(), dp3)[-1][1]
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'cart'|lattice_fold_keyed 'cart'"):
        to_lattice(reordered, "cart", "bounded_prefix", [0, 0])
    assert to_lattice(reordered, "cart", "sealed_set", [0, 0])  # order-insensitive: accepted


def test_sealed_set_is_order_insensitive_and_bounded_prefix_is_not(cart, repo_root):
    from hydropy.loader import load_inputs
    inputs = load_inputs(str(repo_root / "examples" / "shopping_cart_indexed.yaml"))
    expected = cart.run(inputs)
    shuffled = dict(inputs, requests=list(reversed(inputs["requests"])))
    sealed = to_lattice(cart.graph(), "cart", "sealed_set", [0, 0])
    prefix = to_lattice(cart.graph(), "cart", "bounded_prefix", [0, 0])
    assert run(sealed, shuffled) == expected
    assert run(prefix, inputs) == expected
    assert run(prefix, shuffled) != expected  # why bounded_prefix needs in-order delivery


def _first(acc, x):
    return acc + (x[1],)


def _init():
    return ()


SEALED = SealedSet.over((0,), _init, _first)
PREFIX = BoundedPrefix.over((0,), _init, _first)
records = st.lists(st.integers(0, 5).map(lambda i: (i, f"r{i}")), max_size=6)


def test_record_count_laws_and_its_update_only_inflates():
    check_laws(RecordCount, lattice_strategy(RecordCount), max_examples=100)
    value = RecordCount({"count": 2, "other": 1})
    before = value.copy()
    assert value.update("any record") and before.leq(value) and value.reveal() == 4


def test_sealed_set_laws():
    check_laws(SEALED, records.map(lambda rs: SEALED(rs)), max_examples=100)


def test_bounded_prefix_laws_on_the_prefixes_of_one_sequence():
    check_laws(PREFIX, st.integers(0, 5).map(lambda n: PREFIX([(i, f"r{i}") for i in range(n)])),
               max_examples=100)


@settings(max_examples=60, deadline=None, database=None)
@given(st.permutations([(i, f"r{i}") for i in range(6)]))
def test_sealed_set_reveals_the_in_order_fold_in_any_delivery_order(order):
    value = SEALED.bottom()
    for r in order:
        value.merge(SEALED.of(r))
    assert value.reveal() == tuple(f"r{i}" for i in range(6))
    assert value.sealed(5)


def test_a_replicated_gcounter_on_ray(ray_session, repo_root, tmp_path):
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - lattice: {operator: total_words, as: gcounter}\n"
                    "  - decouple: {operators: [total_words], to: counter}\n"
                    "  - replicate: {stage: counter, n: 2}\n")
    graph = compile_flow(flow, str(tmp_path / "out"), plan=str(plan))
    assert graph.members_of("counter") == 2
    lines = [f"w{i % 7} x" for i in range(50)]
    assert run_compiled(str(tmp_path / "out"), {"lines": lines}, tick_size=9) == flow.run({"lines": lines})
