"""Tests for hydropy.passes.lineage (key lineage read from user functions' AST) and
hydropy.passes.analysis (monotonicity, points of order, boundedness, keys, state, report)."""
import datetime
import hashlib
import math
import operator
import os
import random
import secrets
import time
import uuid
from random import randint

import pytest

import hydropy as hp
from hydropy.ir import UserFn
from hydropy.lattices import GCounter, Max
from hydropy.loader import load_flow
from hydropy.passes import (boundedness, functional_dependencies, key_lineage, key_of_output,
                            monotonicity, points_of_order, report, state_inventory)
from hydropy.passes.lineage import (Const, Derived, Field, Record, Unknown, element_lineage,
                                    output_lineage)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFSET = 10
TABLE = {1: "a", 2: "b"}
cache = {}


def looping_helper(x):
    for _ in x:
        pass
    return x


def hash_free_id(x):
    return id(x)


def lin(fn, arity=1, **kw):
    return output_lineage(UserFn.wrap(fn), arity, **kw)


def example(name):
    return load_flow(os.path.join(ROOT, "examples", f"{name}.py")).graph()


# -- lineage: the forms that are followed ---------------------------------------------------

def test_tuple_indexing_swaps_fields():
    out = lin(lambda kv: (kv[1], kv[0]))
    assert out.at((0,)) == Field((1,)) and out.at((1,)) == Field((0,))
    assert str(out) == "(kv[1], kv[0])"


def test_nested_indexing_and_nested_output():
    out = lin(lambda r: ((r[1][0], r[2]), r[0]))
    assert out.at((0, 0)) == Field((1, 0))
    assert out.at((0,)) == Record((Field((1, 0)), Field((2,))))
    assert out.input_path((1,)) == (0,)


def test_whole_input_and_a_field_of_it():
    out = lin(lambda word: (word, 1))
    assert out.at((0,)) == Field(()) and out.at((1,)) == Const(1)


def test_unpacking_in_assignments():
    def swap(x):
        (a, b), c = x
        return (c, b, a)
    out = lin(swap)
    assert [v for _, v in out.positions()] == [Field((1,)), Field((0, 1)), Field((0, 0))]


def test_unpacking_then_returning_a_tuple():
    def f(x):
        a, b = x
        return (b, a)
    assert lin(f).at((0,)) == Field((1,))


def test_constants_and_constant_tuples():
    out = lin(lambda x: (x[0], (1, "a"), None))
    assert out.at((1, 1)) == Const("a") and out.at((2,)) == Const(None)


def test_pure_builtins_are_functions_of_their_arguments():
    out = lin(lambda x: (len(x[1]), str(x[0]), hash(x[0]), abs(x[2]), int(x[3][0])))
    assert [v for _, v in out.positions()] == [
        Derived(frozenset({(1,)})), Derived(frozenset({(0,)})), Derived(frozenset({(0,)})),
        Derived(frozenset({(2,)})), Derived(frozenset({(3, 0)}))]


def test_tuple_of_a_display_keeps_its_fields():
    assert lin(lambda x: tuple((x[1], x[0]))).at((0,)) == Field((1,))
    assert lin(lambda x: tuple(x[1])).at((0,)) == Derived(frozenset({(1,)}))


def test_attribute_and_constant_key_item_access_are_dependencies():
    out = lin(lambda x: (x[0].name, x[1]["k"], x[-1], x[1:]))
    assert [v for _, v in out.positions()] == [
        Derived(frozenset({(0,)})), Derived(frozenset({(1,)})), Derived(frozenset({()})),
        Derived(frozenset({()}))]


def test_negative_index_into_a_known_tuple():
    def f(x):
        t = (x[2], x[1])
        return (t[-1], t[0])
    assert lin(f).at((0,)) == Field((1,))


def test_operators_are_functions_of_their_operands():
    out = lin(lambda x: (x[0] * 2 + x[1], x[2] > 0, not x[3]))
    assert out.at((0,)) == Derived(frozenset({(0,), (1,)}))
    assert out.at((2,)) == Derived(frozenset({(3,)}))


def test_returns_that_agree_on_the_key():
    def f(x):
        if x[1] > 0:
            return (x[0], "pos")
        return (x[0], "neg")
    out = lin(f)
    assert out.at((0,)) == Field((0,))
    assert out.at((1,)) == Derived(frozenset({(1,)}))  # chosen by the sign of x[1]


def test_returns_that_disagree_are_not_a_field():
    def f(x):
        if x[2]:
            return (x[0], 1)
        else:
            return (x[1], 1)
    out = lin(f)
    assert out.at((0,)) == Derived(frozenset({(0,), (1,), (2,)}))
    assert out.input_path((0,)) is None


def test_variables_merged_after_an_if():
    def f(x):
        k = x[0]
        if x[1]:
            k = x[0]
            v = 1
        else:
            v = 2
        return (k, v)
    out = lin(f)
    assert out.at((0,)) == Field((0,)) and out.at((1,)) == Derived(frozenset({(1,)}))


def test_docstring_pass_and_raise_paths():
    def f(x):
        """A docstring."""
        if x[1] is None:
            raise ValueError("no value")
        pass
        return (x[0], x[1])
    assert lin(f).at((0,)) == Field((0,))


def test_a_function_of_two_arguments():
    out = lin(lambda acc, x: (acc[0], x[1]), arity=2)
    assert out.at((0,)) == Field((0, 0)) and out.at((1,)) == Field((1, 1))
    assert str(out) == "(acc[0], x[1])"


def test_itemgetter():
    assert lin(operator.itemgetter(1)).at(()) == Field((1,))
    assert lin(operator.itemgetter(1, 0)).at((1,)) == Field((0,))


def test_several_lambdas_on_one_line_are_told_apart():
    first, second = (lambda x: x[0]), (lambda y: y[1])
    third, fourth = (lambda x: (x[0], 0)), (lambda x: (x[1], 2))
    assert lin(first).at(()) == Field((0,))
    assert lin(second).at(()) == Field((1,))
    assert lin(third).at((0,)) == Field((0,))
    assert lin(fourth).at((0,)) == Field((1,))


def test_a_lambda_in_a_fragment_of_a_call():
    flow = hp.Flow("f")
    s = (flow.source("s")
         .map(lambda kv: (kv[1], kv[0]),
              name="swap"))
    assert lin(s.node.fn().obj).at((0,)) == Field((1,))


def test_filter_map_ignores_none_returns():
    def f(x):
        if x[1] is None:
            return None
        return (x[0], x[1])
    assert lin(f, skip_none=True).at((0,)) == Field((0,))
    assert lin(f).input_path((0,)) is None  # as a map: either None or the pair


def test_flat_map_elements():
    assert element_lineage(UserFn.wrap(lambda kv: [(kv[0], v) for v in kv[1]])).at((0,)) == Field((0,))
    assert element_lineage(UserFn.wrap(lambda x: ((x[0], 1), (x[0], 2)))).at((0,)) == Field((0,))
    pairs = element_lineage(UserFn.wrap(lambda kv: [(kv[0], v) for v in kv[1]]))
    assert isinstance(pairs.at((1,)), Unknown)  # an element is not a function of its list
    assert isinstance(element_lineage(UserFn.wrap(lambda s: s.split())).at(()), Unknown)


# -- lineage: conservative unknowns ---------------------------------------------------------

def helper(x):
    return x


def test_a_helper_is_read_recursively_and_a_method_of_a_value_is_a_function_of_it():
    out = lin(lambda x: (helper(x[0]), x[1]))
    assert out.at((0,)) == Field((0,)) and out.at((1,)) == Field((1,))
    assert lin(lambda x: (x[0].lower(), 1)).at((0,)) == Derived(frozenset({(0,)}))
    assert lin(lambda x: (x[0].append(1), 1)).at((0,)) == Unknown("calls method 'append'")


def test_a_helper_the_analysis_cannot_follow_is_unknown_naming_it():
    out = lin(lambda x: (looping_helper(x[0]), x[1]))
    assert isinstance(out.at((0,)), Unknown) and "looping_helper()" in out.at((0,)).reason


def test_module_constants_are_constants_and_mutable_globals_unknown():
    assert lin(lambda x: (x[0] + OFFSET, x[1])).at((0,)) == Derived(frozenset({(0,)}))
    assert lin(lambda x: (TABLE[x[0]], 1)).at((0,)) == Derived(frozenset({(0,)}))
    assert lin(lambda x: (TABLE.get(x[0], 0), 1)).at((0,)) == Derived(frozenset({(0,)}))
    out = lin(lambda x: (cache[x[0]], 1)).at((0,))
    assert isinstance(out, Unknown) and "'cache'" in out.reason


@pytest.mark.parametrize("fn, name", [
    (lambda x: (hash_free_id(x[0]), 1), "id()"),
    (lambda x: (random.randint(0, x[0]), 1), "random.randint()"),
    (lambda x: (randint(0, x[0]), 1), "randint()"),
    (lambda x: (time.time() + x[0], 1), "time.time()"),
    (lambda x: (uuid.uuid4(), x[0]), "uuid.uuid4()"),
    (lambda x: (os.urandom(x[0]), 1), "os.urandom()"),
    (lambda x: (secrets.token_hex(x[0]), 1), "secrets.token_hex()"),
    (lambda x: (datetime.datetime.now(), x[0]), "datetime.datetime.now()"),
    (lambda x: (id(x[0]), 1), "id()"),
])
def test_nondeterministic_functions_are_unknown_naming_the_function(fn, name):
    value = lin(fn).at((0,))
    assert isinstance(value, Unknown) and name in value.reason and "not a function of its arguments" in value.reason


def test_deterministic_standard_functions_and_hash_are_functions_of_their_arguments():
    assert lin(lambda x: (math.floor(x[0]), 1)).at((0,)) == Derived(frozenset({(0,)}))
    assert lin(lambda x: (hashlib.md5(x[0]).hexdigest(), 1)).at((0,)) == Derived(frozenset({(0,)}))
    assert lin(lambda x: (hash(x[0]), 1)).at((0,)) == Derived(frozenset({(0,)}))  # one seed per run


def test_an_if_expression_choosing_different_fields_is_not_a_field():
    out = lin(lambda x: (x[0] if x[2] else x[1], 1))
    assert not isinstance(out.at((0,)), Field)
    assert out.input_path((0,)) is None


def test_an_if_expression_on_a_mutable_global_is_unknown():
    assert isinstance(lin(lambda x: (x[0] if cache else x[1], 1)).at((0,)), Unknown)
    assert not isinstance(lin(lambda x: (x[0] if OFFSET else x[1], 1)).at((0,)), (Unknown, Field))


def test_a_shadowed_builtin_is_unknown():
    def make():
        len = helper  # noqa: A001 -- shadows the builtin for the lambda below
        return lambda x: (len(x[0]), x[1])
    assert isinstance(lin(make()).at((0,)), Unknown)


def test_loops_and_mutation_make_the_whole_function_unknown():
    def loop(x):
        for _ in x:
            pass
        return (x[0], 1)

    def mutate(x):
        d = {}
        d[x[0]] = 1
        return (x[0], d)
    assert isinstance(lin(loop).at((0,)), Unknown)
    assert isinstance(lin(mutate).at((0,)), Unknown)


def test_a_local_list_is_unknown():
    def f(x):
        keys = [x[0]]
        return (keys[0], 1)
    assert isinstance(lin(f).at((0,)), Unknown)


def test_no_source_code_is_unknown():
    assert isinstance(lin(int, arity=0).at(()), Unknown)


def test_lambdas_that_cannot_be_told_apart_are_unknown():
    first, _second = (lambda x: x[0] + 1), (lambda x: x[0] - 1)
    assert lin(first).at(()) == Unknown("cannot be told apart from another lambda on its line")


def test_key_of_output_per_operator():
    flow = hp.Flow("k")
    s = flow.source("s")
    swapped = s.map(lambda kv: (kv[1], kv[0]))
    kept = swapped.filter(lambda kv: kv[1] > 0)
    pairs = s.flat_map(lambda kv: [(kv[1], v) for v in kv[0]])
    opaque = s.map(helper)
    folded = s.fold_keyed(int, lambda a, v: a + v)
    assert key_of_output(swapped.node) == (1,)
    assert key_of_output(kept.node) == (0,)
    assert key_of_output(s.unique().node) == (0,)
    assert key_of_output(pairs.node) == (1,)
    assert key_of_output(opaque.node) == (0,)  # helper returns its input: x[0] is x[0]
    assert key_of_output(s.map(lambda x: (helper(x), 1)).node) == ()  # read through the helper
    assert key_of_output(s.map(lambda x: (looping_helper(x), 1)).node) is None
    assert key_of_output(folded.node) is None


# -- analyses on the examples ---------------------------------------------------------------

def test_kvstore_lookup_is_a_point_of_order():
    g = example("kvstore")
    [p] = points_of_order(g)
    assert (p.kind, p.name, p.loc.short) == ("lookup", "read_store", "kvstore.py:16")
    assert "lattice_fold_keyed 'store' (kvstore.py:14)" in p.reason and "'puts'" in p.reason
    assert "threshold" in p.hint
    labels = monotonicity(g)
    assert labels[g.by_name("read_store").id] == "N"
    assert labels[g.by_name("store").id] == "M"
    assert labels[g.by_name("puts").id] == "A"


def test_voting_snapshot_is_a_point_of_order_and_its_fold_is_unbounded():
    g = example("voting")
    assert [p.name for p in points_of_order(g)] == ["read_tally"]
    [finding] = boundedness(g)
    assert finding.name == "tally" and "never final" in finding.reason
    assert "snapshot 'read_tally' (voting.py:35)" in finding.reason
    tally = key_lineage(g)[g.by_name("tally").id]
    assert tally.kind == "tuple"
    assert {(o.name, o.path) for o in tally.determines} == {("requests", (0,)), ("requests", (1,))}


def test_wordcount_has_no_point_of_order_and_counts_by_word():
    g = example("wordcount")
    assert points_of_order(g) == [] and boundedness(g) == []
    words = g.by_name("words")
    for name in ("ones", "count_per_word"):
        key = key_lineage(g)[g.by_name(name).id]
        assert key.kind == "exact"
        assert [(o.node, o.path) for o in key.origins] == [(words.id, ())]
        assert key.source_fields is None  # split_words cannot be read through
        assert "split" in key.origins[0].note


def test_shopping_cart_is_keyed_by_client():
    g = example("shopping_cart")
    key = key_lineage(g)[g.by_name("cart").id]
    assert key.source_fields == {"requests": (0,), "client_classes": (0,)}
    stages = state_inventory(g)
    assert list(stages) == ["main"]
    join, fold = stages["main"]
    assert (join.kind, join.keyed_by, join.lattice) == ("join", (0,), False)
    assert "both sides" in join.holds
    assert (fold.kind, fold.name, fold.keyed_by) == ("fold_keyed", "cart", (0,))
    assert fold.key.source_fields == {"requests": (0,), "client_classes": (0,)}


def test_functional_dependencies_of_a_map():
    g = example("voting")
    deps = functional_dependencies(g)[g.by_name("vote").id]
    assert [(d.out, d.kind, d.inputs) for d in deps] == [
        ((0, 0), "copy", ((0, 0),)), ((0, 1), "copy", ((0, 1),)), ((1,), "copy", ((1,),))]
    fmt = functional_dependencies(example("kvstore"))
    assert [d.out for d in next(iter(fmt.values()))] == [(0,), (1,)]  # field 2 is unknown


def test_analyses_do_not_change_the_graph():
    g = example("shopping_cart")
    before = g.copy()
    report(g)
    assert g.same_as(before)


# -- analyses on small programs -------------------------------------------------------------

def test_a_fold_read_only_by_a_sink_is_fine_but_a_read_is_not():
    flow = hp.Flow("folds")
    s = flow.source("s", dtype="int64")
    total = s.fold(int, lambda a, x: a + x, name="total")
    total.map(lambda t: t * 2, name="double").sink("double")
    total.snapshot(name="peek").sink("peeks")
    g = flow.graph()
    assert [p.name for p in points_of_order(g)] == ["peek"]
    [finding] = boundedness(g)
    assert finding.name == "total" and "snapshot 'peek'" in finding.reason
    assert "map 'double'" not in finding.reason  # a map of the value, shown by a sink


def append(acc, x):
    return acc + (x,)


@pytest.mark.parametrize("dtype, init, fn, why", [
    (None, int, lambda a, x: a + x, "cannot see the type of its records"),
    ("float64", float, lambda a, x: a + x, "float"),
    ("int64", tuple, append, "append"),
    ("float64", float, max, "max"),
])
def test_a_fold_whose_value_depends_on_its_records_order_is_a_point_of_order(dtype, init, fn, why):
    """Its final value, read by a sink alone, may differ for another arrival order: a float
    sum rounds differently, ``append`` records the order, ``+`` of unknown records may
    concatenate, ``max`` over floats meets NaN."""
    flow = hp.Flow("order")
    flow.source("s", dtype=dtype).fold(init, fn, name="total").sink("total")
    [p] = points_of_order(flow.graph())
    assert p.name == "total" and "order of the records of 's'" in p.reason
    assert why in p.reason, p.reason


@pytest.mark.parametrize("build", [
    lambda s: s.fold(int, lambda a, x: a + x),
    lambda s: s.fold(int, lambda a, x: a + 1),
    lambda s: s.count(),
    lambda s: s.reduce(max),
    lambda s: s.map(lambda x: (x % 3, x)).fold_keyed(int, lambda a, v: a + v),
])
def test_order_insensitive_folds_of_integers_are_not_points_of_order(build):
    flow = hp.Flow("order")
    build(flow.source("s", dtype="int64")).sink("out")
    assert points_of_order(flow.graph()) == []


def test_a_fold_of_a_bounded_input_is_not_flagged():
    flow = hp.Flow("bounded")
    n = flow.source_iter([1, 2, 3]).count(name="n")
    n.snapshot(name="peek").sink("peeks")
    g = flow.graph()
    assert points_of_order(g) == [] and boundedness(g) == []


def test_a_lattice_fold_is_not_unbounded_but_its_threshold_read_without_unique_is_a_point_of_order():
    flow = hp.Flow("lattice")
    best = flow.source("s").lattice_fold(Max, name="best")
    best.snapshot(name="peek").filter(lambda m: m.reveal() >= 3, name="reached").sink("reached")
    g = flow.graph()
    assert boundedness(g) == []
    [p] = points_of_order(g)
    assert p.name == "peek"
    assert "filter 'reached' passes the value every tick it holds; add .unique()" in p.reason


def test_anti_join_is_a_point_of_order():
    flow = hp.Flow("neg")
    pending = flow.source("requests").anti_join(flow.source("done"), name="pending")
    pending.sink("pending")
    g = flow.graph()
    [p] = points_of_order(g)
    assert p.name == "pending" and "'done'" in p.reason
    key = state_inventory(g)["main"][0].key
    assert key.source_fields == {"requests": (0,), "done": ()}


def test_a_channel_between_stages_is_asynchronous():
    flow = hp.Flow("stages")
    counts = flow.source_iter([("a", 1)], name="items").fold_keyed(int, lambda a, v: a + 1,
                                                                   name="counts")
    counts.snapshot(name="peek").sink("peeks")
    g = flow.graph()
    assert points_of_order(g) == []
    moved = g.copy()
    for name in ("counts", "peek"):
        moved.replace(moved.by_name(name).copy(location="server"))
    labels = monotonicity(moved)
    assert labels[moved.by_name("items").id] == "M"
    assert labels[moved.by_name("counts").id] == "N"
    [p] = points_of_order(moved)
    assert p.causes == ("the channel from stage 'main' to stage 'server'",)
    assert list(state_inventory(moved)) == ["main", "server"]
    assert [e.name for e in state_inventory(moved)["server"]] == ["counts"]
    assert state_inventory(moved)["main"] == []


def test_a_monotone_operator_behind_a_channel_is_labelled_asynchronous():
    flow = hp.Flow("m")
    flow.source_iter([1], name="one").map(lambda x: (x, x), name="pair").sink("out")
    g = flow.graph()
    g.replace(g.by_name("pair").copy(location="b"))
    assert monotonicity(g)[g.by_name("pair").id] == "A"
    assert points_of_order(g) == []


def test_a_lookup_of_a_bounded_table_is_not_a_point_of_order():
    flow = hp.Flow("table")
    table = flow.source_iter([("a", 1)], name="rows").lattice_fold_keyed(Max, name="table")
    flow.source("queries").lookup(table, name="read").sink("answers")
    assert points_of_order(flow.graph()) == []


def test_union_keys_agree_or_stop_at_the_union():
    flow = hp.Flow("u")
    a, b = flow.source("a"), flow.source("b")
    a.union(b.map(lambda kv: (kv[0], 1)), name="agree")
    a.union(a.map(lambda kv: (kv[1], kv[0])), name="clash")
    g = flow.graph()
    keys = key_lineage(g)
    assert keys[g.by_name("agree").id].source_fields == {"a": (0,), "b": (0,)}
    clash_key = keys[g.by_name("clash").id]
    assert clash_key.source_fields is None
    assert [o.name for o in clash_key.origins] == ["clash"]
    assert "different fields" in clash_key.origins[0].note


def test_state_inventory_names_global_and_keyed_state():
    flow = hp.Flow("s")
    s = flow.source("s")
    s.count(name="n").sink("n")
    s.unique(name="seen").sink("seen")
    s.lattice_fold_keyed(GCounter, name="per_key").sink("per_key")
    entries = {e.name: e for e in state_inventory(flow.graph())["main"]}
    assert entries["n"].keyed_by is None and entries["n"].key is None
    assert entries["n"].holds == "global count"
    assert entries["seen"].keyed_by == () and entries["seen"].key.source_fields == {"s": ()}
    assert entries["per_key"].lattice and "GCounter lattice" in entries["per_key"].holds


# -- the report -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["kvstore", "voting", "wordcount", "shopping_cart"])
def test_report_has_every_section_and_no_absolute_path(name):
    text = report(example(name))
    for section in ("Monotonicity", "Points of order", "Boundedness", "Keys", "State"):
        assert f"\n{section}" in text
    assert ROOT not in text


def test_kvstore_report_snapshot(snapshot):
    """Golden file tests/snapshots/analysis/kvstore.txt (pytest --snapshot-update rewrites it)."""
    snapshot.assert_match(report(example("kvstore")), "analysis/kvstore.txt")


def test_a_read_of_state_that_grows_through_a_loop_is_a_point_of_order():
    """No channel and no asynchronous input feeds the table, but it grows tick by tick through
    a loop: a query's answer depends on the tick it arrives in (shown by two tick splits)."""
    from hydropy.targets.local import run
    graph = load_flow(os.path.join(ROOT, "tests", "programs", "loop_read.py")).graph()
    early = run(graph, ticks=[{"q": ["n"]}])["answers"]
    late = run(graph, ticks=[{}, {}, {}, {"q": ["n"]}])["answers"]
    assert early != late
    (found,) = points_of_order(graph)
    assert found.name == "read" and "loop 'again'" in found.reason and "loop 'again'" in found.causes


def test_a_loop_fed_table_read_by_literal_queries_is_not_a_point_of_order():
    """The same table queried by a literal source: every run asks in the same tick."""
    flow = hp.Flow("literal_queries")
    handle, again = flow.cycle(name="again")
    counter = flow.source_iter([0]).union(again.map(lambda x: x + 1).filter(lambda x: x < 5))
    handle.complete(counter)
    table = counter.map(lambda n: ("n", n)).lattice_fold_keyed(Max)
    flow.source_iter(["n"]).map(lambda q: (q, q)).lookup(table, name="read").sink("answers")
    assert points_of_order(flow.graph()) == []
