"""Lifting plain functions (hydropy.lift, issue 14): the lifted flow, run with all inputs in
one tick, returns what the function returns; what cannot be lifted so is refused with the
file:line and the construct.

Differential tests call each example of examples/plain and run its lifted flow on the same
random inputs; refusal tests lift one function per refused construct, each marking the
refused line with ``# <- refused``; mutants remove a precondition and show a differential
test catches the wrong lift.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hydropy as hp
from hydropy.lift import LiftRefused, comparable, expected_sinks, lift
from hydropy.lift import builder, updates
from hydropy.loader import load_flow, load_inputs
from hydropy.testing import assert_equivalent
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLAIN = REPO_ROOT / "examples" / "plain"


def _module(name):
    spec = importlib.util.spec_from_file_location(f"plain_{name}", PLAIN / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TEXT, SHOP, SENSORS, REFUSED = (_module(m) for m in ("text", "shop", "sensors", "refused"))

# -- random inputs -------------------------------------------------------------------------
names = st.sampled_from(["ann", "bob", "cid", "dee"])
items = st.sampled_from(["apple", "pear", "fig"])
numbers = st.one_of(st.integers(-50, 50), st.floats(-1e3, 1e3, allow_nan=False, width=32))
sensors = st.sampled_from(["s1", "s2", "s3"])
lines = st.lists(st.text(alphabet="abAB \t", max_size=12), max_size=6)
visits = st.lists(st.tuples(names, st.sampled_from(["/", "/cart", "/buy"])), max_size=8)
orders = st.lists(st.tuples(names, items, st.integers(-5, 150)), max_size=8)
readings = st.lists(st.tuples(sensors, numbers), max_size=8)

EXAMPLES = {
    "word_count": (TEXT, dict(lines=lines)),
    "distinct_visitors": (TEXT, dict(visits=visits)),
    "pages_per_user": (TEXT, dict(visits=visits)),
    "pair_counts": (TEXT, dict(baskets=st.lists(st.lists(items, max_size=4).map(" ".join), max_size=5))),
    "clean_readings": (TEXT, dict(raw=st.lists(st.sampled_from(["1.5", " 2 ", "", "-3", "x", "1e3", "0.05"]),
                                               max_size=6))),
    "revenue": (SHOP, dict(orders=orders, prices=st.lists(st.tuples(items, st.integers(0, 9)), max_size=5))),
    "big_orders": (SHOP, dict(orders=orders)),
    "running_total": (SHOP, dict(payments=st.lists(st.tuples(names, numbers), max_size=8))),
    "reservations": (SHOP, dict(stock=st.lists(st.tuples(items, st.integers(0, 9)), max_size=4),
                                requests=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(
                                    ["apple", "pear", "kiwi"]), st.integers(1, 5)), max_size=6))),
    "orders_with_names": (SHOP, dict(customers=st.lists(st.tuples(names, st.text("xyz", max_size=3)),
                                                        max_size=4), orders=orders)),
    "items_by_customer": (SHOP, dict(orders=orders)),
    "max_per_sensor": (SENSORS, dict(readings=readings)),
    "silent_sensors": (SENSORS, dict(registered=st.lists(sensors, max_size=4), readings=readings)),
    "last_reading": (SENSORS, dict(readings=readings)),
}


def same_result(flow, inputs) -> None:
    """The differential check: the flow's sinks are the function's result; where the
    function raises, the flow's run raises too."""
    try:
        expected = expected_sinks(flow, inputs)
    except Exception:  # noqa: BLE001 - the function's own error on these inputs
        with pytest.raises(Exception):
            flow.run(inputs)
        return
    assert comparable(flow, flow.run(inputs)) == expected


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_lifted_example_returns_what_the_function_returns(name):
    module, strategies = EXAMPLES[name]
    flow = lift(getattr(module, name))

    @settings(max_examples=40, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.fixed_dictionaries(strategies))
    def check(inputs):
        same_result(flow, inputs)

    check()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_inputs_are_not_vacuous(name):
    """Each example's inputs file gives a non-empty result the function agrees with."""
    module, _ = EXAMPLES[name]
    flow = lift(getattr(module, name))
    inputs = load_inputs(str(PLAIN / f"{name}.yaml"))
    expected = expected_sinks(flow, inputs)
    assert all(expected.values())
    assert comparable(flow, flow.run(inputs)) == expected


def test_order_matters_where_the_function_keeps_it():
    """Lists, d[k] = v and group-by keep the loop's order: a reordering would be caught."""
    readings = [("s1", 1), ("s1", 2), ("s2", 3), ("s1", 0)]
    assert lift(SENSORS.last_reading).run({"readings": readings})["last"] == [("s1", 0), ("s2", 3)]
    flow = lift(SHOP.items_by_customer)
    got = flow.run({"orders": [("a", "x", 1), ("a", "y", 1), ("a", "x", 1)]})
    assert got["items"] == [("a", ["x", "y", "x"])]


def test_lifted_operators_point_at_the_users_lines():
    flow = lift(TEXT.word_count)
    src, first = inspect.getsourcelines(TEXT.word_count)
    loop = first + next(i for i, line in enumerate(src) if "for word" in line)
    g = flow.graph()
    assert g.by_name("for_word_" + str(loop)).kind == "flat_map"
    assert g.by_name("counts").kind == "fold_keyed" and g.by_name("counts").loc.line == loop + 1
    assert flow.module == TEXT.__name__


# -- combinations of constructs (test-local functions) ---------------------------------------
def lookups_continue_and_inner_loop(rows, table):
    lookup = {}
    for k, v in table:
        lookup[k] = v
    out = []
    hist = Counter()
    total = 0.0
    for a, b in rows:
        c = (lookup[a] if a in lookup else 0) + b
        if c % 2 == 0:
            continue
        for ch in str(c):
            hist[ch] += 1
            out.append((a, ch, c))
        total = total + c / 2
    return out, hist, total


def branches_update_different_accumulators(rows):
    best = {}
    seen = set()
    n = 0
    for a, b in rows:
        if a > b:
            best[a] = min(b, best.get(a, b))
        elif a == b:
            seen.add((a, b))
        else:
            n += 1
    return {"best": best, "seen": seen, "n": n}


def rebinding_and_group_sets(rows):
    groups = defaultdict(set)
    last = None
    for a, b in rows:
        x = a * 2
        x = x + b
        groups[x % 3].add(a)
        last = x
    return groups, last


small = st.integers(-3, 3)


@pytest.mark.parametrize("fn", [lookups_continue_and_inner_loop, branches_update_different_accumulators,
                                rebinding_and_group_sets], ids=lambda f: f.__name__)
def test_combined_constructs_return_what_the_function_returns(fn):
    flow = lift(fn)
    pairs = st.lists(st.tuples(small, small), max_size=7)
    strategies = {p: pairs for p in inspect.signature(fn).parameters}

    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(st.fixed_dictionaries(strategies))
    def check(inputs):
        same_result(flow, inputs)

    check()


# -- the CLI ------------------------------------------------------------------------------
def _hydropy(*args):
    return subprocess.run([sys.executable, "-m", "hydropy", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module,name", [("shop", "revenue"), ("text", "word_count"),
                                         ("sensors", "max_per_sensor")])
def test_cli_runs_a_plain_function(module, name):
    out = _hydropy("run", f"examples/plain/{module}.py:{name}", "--inputs",
                   f"examples/plain/{name}.yaml", "--format", "json")
    assert out.returncode == 0, out.stderr
    flow = lift(getattr({"shop": SHOP, "text": TEXT, "sensors": SENSORS}[module], name))
    expected = expected_sinks(flow, load_inputs(str(PLAIN / f"{name}.yaml")))
    got = {k: [tuple(r) if isinstance(r, list) else r for r in v] for k, v in json.loads(out.stdout).items()}
    got = {k: [tuple(tuple(x) if isinstance(x, list) else x for x in r) if isinstance(r, tuple) else r
               for r in v] for k, v in got.items()}
    assert got == expected


def test_cli_refuses_in_one_line_with_exit_2():
    out = _hydropy("run", "examples/plain/refused.py:reserve_in_order", "--inputs",
                   "examples/plain/reservations.yaml")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "refused.py:" in out.stderr and "cannot lift reserve_in_order" in out.stderr


def test_explain_shows_which_loop_became_which_operator():
    out = _hydropy("explain", "examples/plain/shop.py:revenue")
    assert out.returncode == 0, out.stderr
    assert "lookup_price_of_" in out.stdout and "# shop.py:" in out.stdout


# -- design points ------------------------------------------------------------------------
def test_lifted_word_count_partitioned_in_the_simulator():
    flow = load_flow(str(PLAIN / "text.py") + ":word_count")
    inputs = {"lines": ["the cat sat", "The dog", "the end of the cat"] * 3}
    assert assert_equivalent(flow, str(PLAIN / "plans" / "word_count_partitioned.yaml"), inputs,
                             seeds=range(15)) == 15


def test_lifted_word_count_on_ray_gives_the_functions_result(ray_session, tmp_path):
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import run_compiled
    flow = load_flow(str(PLAIN / "text.py") + ":word_count")
    inputs = load_inputs(str(PLAIN / "word_count.yaml"))
    graph = compile_flow(flow, str(tmp_path / "out"),
                         plan=str(PLAIN / "plans" / "word_count_partitioned.yaml"))
    assert len(graph.locations()) == 2
    got = run_compiled(str(tmp_path / "out"), inputs)
    assert comparable(flow, got) == expected_sinks(flow, inputs)


# -- the decorator ------------------------------------------------------------------------
@hp.lift
def decorated_totals(payments):
    total = 0
    for account, amount in payments:
        total += amount
    return total


def test_decorator_gives_the_flow_and_keeps_the_function():
    assert isinstance(decorated_totals, hp.Flow)
    assert decorated_totals.function([("a", 2), ("b", 3)]) == 5
    assert decorated_totals.run({"payments": [("a", 2), ("b", 3)]}) == {"total": [5]}


# -- refusals -----------------------------------------------------------------------------
def uses_while(xs):
    n = 0
    while n < 3:  # <- refused
        n += 1
    return n


def uses_break(xs):
    n = 0
    for x in xs:
        if x > 3:
            break  # <- refused
        n += 1
    return n


def uses_misplaced_continue(xs):
    n = 0
    for x in xs:
        if x > 3:
            if x > 5:
                continue  # <- refused
        n += 1
    return n


def recursive(xs):
    n = 0
    for x in xs:
        n += recursive(x)  # <- refused
    return n


def uses_try(xs):
    n = 0
    for x in xs:
        try:  # <- refused
            n += int(x)
        except ValueError:
            pass
    return n


def uses_with(xs):
    n = 0
    for x in xs:
        with open(x) as fh:  # <- refused
            n += len(fh.read())
    return n


def prints(xs):
    n = 0
    for x in xs:
        print(x)  # <- refused
        n += 1
    return n


def opens(xs):
    n = 0
    for x in xs:
        n += len(open(x).read())  # <- refused
    return n


def mutates_record(rows):
    n = 0
    for row in rows:
        row[0] = 1  # <- refused
        n += 1
    return n


def mutates_by_method(rows):
    n = 0
    for row in rows:
        row.append(1)  # <- refused
        n += 1
    return n


def plain_dict_increment(xs):
    d = {}
    for x in xs:
        d[x] += 1  # <- refused
    return d


def uses_global(xs):
    global COUNT  # <- refused
    for x in xs:
        COUNT = x
    return COUNT


def generator(xs):
    for x in xs:
        yield x


def no_loop(xs):
    return len(xs)


def reads_accumulator_in_its_loop(amounts):
    total = 0
    big = []
    for a in amounts:
        total += a
        if total > 10:  # <- refused
            big.append(a)
    return big


def updated_twice(xs, ys):
    n = 0
    for x in xs:
        n += x
    for y in ys:
        n += y  # <- refused
    return n


def loops_over_accumulator(xs):
    d = {}
    for x in xs:
        d[x] = d.get(x, 0) + 1
    top = set()
    for k in d:  # <- refused
        top.add(k)
    return top


def reads_scalar_later(xs, ys):
    total = 0
    for x in xs:
        total += x
    big = set()
    for y in ys:
        if y > total:  # <- refused
            big.add(y)
    return big


def returns_expression(xs):
    n = 0
    for x in xs:
        n += x
    return n * 2  # <- refused


def rebinds_in_branch(xs):
    total = 0
    for x in xs:
        y = x
        if x > 0:
            y = 2 * x
        total += y  # <- refused
    return total


def computed_default(xs):
    d = {}
    for k, v in xs:
        d[k] = d.get(k, v * 2) + v  # <- refused
    return d


def defaultdict_read(xs, ys):
    d = defaultdict(int)
    for x in xs:
        d[x] += 1
    out = []
    for y in ys:
        out.append(d[y])  # <- refused
    return out


def cross_product(xs, ys):
    n = 0
    for x in xs:
        for y in ys:  # <- refused
            n += x * y
    return n


class Holder:
    def method(self, xs):
        n = 0
        for x in xs:
            n += 1
        return n


REFUSALS = [
    (uses_while, "while loop"), (uses_break, "break"), (uses_misplaced_continue, "continue"),
    (recursive, "recursion"), (uses_try, "try statement"), (uses_with, "with statement"),
    (prints, "print()"), (opens, "open()"), (mutates_record, "mutation of row"),
    (mutates_by_method, ".append() that changes"), (plain_dict_increment, "plain dict"),
    (uses_global, "global declaration"), (reads_accumulator_in_its_loop, "inside the loop that updates it"),
    (updated_twice, "updated by two statements"), (loops_over_accumulator, "a loop over d"),
    (reads_scalar_later, "in a later loop"), (returns_expression, "the return of n * 2"),
    (rebinds_in_branch, "not bound on every path"), (computed_default, "default computed from the record"),
    (defaultdict_read, "inserts a missing key"), (cross_product, "cross() or join()"),
]


@pytest.mark.parametrize("fn,construct", REFUSALS, ids=[f.__name__ for f, _ in REFUSALS])
def test_refusal_names_the_construct_and_the_line(fn, construct):
    src, first = inspect.getsourcelines(fn)
    line = first + next(i for i, text in enumerate(src) if "# <- refused" in text)
    with pytest.raises(LiftRefused) as err:
        lift(fn)
    message = str(err.value)
    assert construct in message
    assert message.startswith(f"tests/test_lift.py:{line}: cannot lift {fn.__name__}")
    assert "\n" not in message


@pytest.mark.parametrize("fn,what", [
    (generator, "a generator"), (no_loop, "no loop over its inputs"), (lambda xs: xs, "a lambda"),
    (Holder().method, "a method"), (Holder.method, "a method"), (len, "not a Python function"),
])
def test_refused_kinds_of_function(fn, what):
    with pytest.raises(LiftRefused, match=what):
        lift(fn)


def test_examples_outside_the_subset_are_refused():
    for fn, construct in [(REFUSED.top_spenders, "accumulator's value"),
                          (REFUSED.reserve_in_order, "updated by two statements"),
                          (REFUSED.set_difference, "reading the accumulator 'seen_b'")]:
        with pytest.raises(LiftRefused, match=construct):
            lift(fn)


# -- mutants: each precondition removed, a differential test catches the wrong lift ---------
def rebinding(xs):
    total = 0
    for x in xs:
        y = x
        if x > 0:
            y = 2 * x
        total += y
    return total


def conditional_update(xs):
    best = 0
    for x in xs:
        best = best if x == 0 else max(best, 10 // x)
    return best


def _caught(fn, inputs) -> bool:
    """Whether the differential check fails (a different result, or an error where the
    function has none) for the lift of ``fn``."""
    fn(**inputs)  # the function itself returns on these inputs
    try:
        same_result(lift(fn), inputs)
    except Exception:  # noqa: BLE001 - any failure of the check
        return True
    return False


def test_mutant_without_forgetting_branch_bindings_is_caught(monkeypatch):
    monkeypatch.setattr(builder.Lifter, "forget", lambda self, scope, stmts: None)
    assert _caught(rebinding, {"xs": [1, -1, 2]})


def test_mutant_precomputing_conditional_parts_is_caught(monkeypatch):
    same_result(lift(conditional_update), {"xs": [2, 0, 5]})  # the real lift
    monkeypatch.setattr(updates, "LAZY", ())
    assert _caught(conditional_update, {"xs": [2, 0, 5]})


def test_mutant_continue_inside_a_branch_is_caught(monkeypatch):
    original = builder.Lifter.block
    monkeypatch.setattr(builder.Lifter, "block",
                        lambda self, stmts, scope, loop_body=False: original(self, stmts, scope, True))
    assert _caught(uses_misplaced_continue, {"xs": [1, 4, 6]})


@pytest.mark.parametrize("module,name", [("shop", "revenue"), ("text", "pair_counts"),
                                         ("shop", "running_total"), ("sensors", "silent_sensors")])
def test_flow_api_source_of_a_lift_runs_to_the_same_sinks(tmp_path, module, name):
    """flow_source (for ``hydropy lift -o``) writes a Flow API program that, run beside the
    user's module, gives the lifted flow's sinks."""
    import shutil
    from hydropy.lift.source import flow_source
    flow = load_flow(f"{PLAIN / module}.py:{name}")
    shutil.copy(PLAIN / f"{module}.py", tmp_path / f"{module}.py")
    (tmp_path / f"{name}_flow.py").write_text(flow_source(flow))
    written = load_flow(str(tmp_path / f"{name}_flow.py"))
    inputs = load_inputs(str(PLAIN / f"{name}.yaml"))
    assert written.run(inputs) == flow.run(inputs)
    assert [n.name for n in written.graph().nodes()] == [n.name for n in flow.graph().nodes()]


def test_written_source_replaces_only_its_own_unedited_file(tmp_path):
    from hydropy.lift.source import write_source
    flow = lift(TEXT.word_count)
    target = tmp_path / "wc_flow.py"
    target.write_text("# mine\n")
    with pytest.raises(hp.HydropyError, match="not written by hydropy"):
        write_source(flow, str(target))
    target.unlink()
    write_source(flow, str(target))
    write_source(flow, str(target))  # its own, unedited: replaced
    target.write_text(target.read_text() + "# edited\n")
    with pytest.raises(hp.HydropyError, match="--force"):
        write_source(flow, str(target))
    write_source(flow, str(target), force=True)
    assert "# edited" not in target.read_text()


def test_cli_lift_writes_a_flow_program(tmp_path):
    out = _hydropy("lift", "examples/plain/shop.py:revenue", "-o", str(tmp_path / "revenue_flow.py"))
    assert out.returncode == 0, out.stderr
    assert "price_of_update_14 = prices.map(" in (tmp_path / "revenue_flow.py").read_text()
    refused = _hydropy("lift", "examples/wordcount.py", "-o", str(tmp_path / "x.py"))
    assert refused.returncode == 2 and "nothing to lift" in refused.stderr
