"""The IR: verification, build-time errors with the user's file:line, JSON round-trip,
printers (text snapshot, mermaid, DOT)."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

import pytest

import hydropy as hp
from hydropy import ir
from hydropy.ir import Graph, Node, verify
from hydropy.loader import load_flow

HERE = os.path.basename(__file__)
EXAMPLES = ["wordcount", "shopping_cart", "kvstore", "voting"]


def next_line() -> int:
    """The line number just after the caller's line."""
    return sys._getframe(1).f_lineno + 1


@pytest.fixture
def in_repo(repo_root, monkeypatch):
    """Run with the repository root as cwd, so ``examples/NAME.py`` resolves as on the CLI."""
    monkeypatch.chdir(repo_root)
    return repo_root


def example_graph(name: str) -> Graph:
    return load_flow(f"examples/{name}.py").graph()


def small_flow() -> hp.Flow:
    flow = hp.Flow("small")
    xs = flow.source("xs")
    evens = xs.filter(lambda x: x % 2 == 0, name="evens")
    evens.map(lambda x: x // 2, name="halve").sink("halves")
    xs.fold(int, lambda a, x: a + x, name="total").sink("total")
    return flow


# -- verify -----------------------------------------------------------------------------------

def test_verify_accepts_a_traced_graph_and_returns_it():
    graph = small_flow().graph()
    assert verify(graph) is graph


def test_verify_rejects_an_edge_that_is_not_an_input():
    graph = small_flow().graph()
    halve, xs = graph.by_name("halve"), graph.by_name("xs")
    graph.nx.add_edge(xs.id, halve.id, key=1)  # halve has a single input
    with pytest.raises(hp.ProgramError, match="halve"):
        verify(graph)


def test_verify_rejects_a_missing_edge():
    graph = small_flow().graph()
    halve = graph.by_name("halve")
    graph.nx.remove_edge(halve.inputs[0], halve.id, key=0)
    with pytest.raises(hp.ProgramError, match="halve"):
        verify(graph)


def test_verify_rejects_an_edge_on_the_wrong_port():
    flow = hp.Flow("j")
    flow.source("a").join(flow.source("b"), name="pairs").sink("out")
    graph = flow.graph()
    join = graph.by_name("pairs")
    a, b = join.inputs
    graph.nx.remove_edge(a, join.id, key=0)
    graph.nx.remove_edge(b, join.id, key=1)
    graph.nx.add_edge(a, join.id, key=1)
    graph.nx.add_edge(b, join.id, key=0)
    with pytest.raises(hp.ProgramError, match="pairs"):
        verify(graph)


def test_verify_rejects_an_input_of_the_wrong_collection_kind():
    graph = small_flow().graph()
    halve, total = graph.by_name("halve"), graph.by_name("total")
    graph.replace(graph.by_name("evens").copy(inputs=(total.id,)))  # filter of a singleton
    with pytest.raises(hp.ProgramError, match="evens") as err:
        verify(graph)
    assert "singleton" in str(err.value)
    assert halve.name  # the rest of the graph is untouched


def test_verify_rejects_a_sink_used_as_an_input():
    graph = small_flow().graph()
    sink = next(n for n in graph.sinks() if n.params["name"] == "halves")
    graph.replace(graph.by_name("halve").copy(inputs=(sink.id,)))
    with pytest.raises(hp.ProgramError, match="halve"):
        verify(graph)


def test_verify_rejects_the_wrong_number_of_inputs():
    graph = small_flow().graph()
    xs = graph.by_name("xs")
    graph.replace(graph.by_name("halve").copy(inputs=(graph.by_name("evens").id, xs.id)))
    with pytest.raises(hp.ProgramError, match="halve"):
        verify(graph)


def test_a_node_of_an_unknown_kind_cannot_be_built():
    halve = small_flow().graph().by_name("halve")
    with pytest.raises(hp.ProgramError, match="frobnicate"):
        halve.copy(kind="frobnicate")


@pytest.mark.parametrize("change, message", [
    ({"params": {}}, "lacks parameter"),                  # a sink without its name
    ({"fns": ()}, None),                                  # checked on the map below
    ({"name": ""}, "non-empty name"),
    ({"inputs": [1]}, "tuple of node ids"),
])
def test_a_node_is_checked_against_its_spec_when_built(change, message):
    graph = small_flow().graph()
    node = graph.sinks()[0] if "params" in change else graph.by_name("halve")
    with pytest.raises(hp.ProgramError, match=message or "needs 1 function"):
        node.copy(**change)


def test_verify_rejects_a_node_reading_a_node_not_in_the_graph():
    graph = small_flow().graph()
    halve = graph.by_name("halve")
    graph.remove(halve.inputs[0])  # the filter and its edges disappear; halve still names it
    with pytest.raises(hp.ProgramError, match="halve"):
        verify(graph)


def test_verify_rejects_a_hand_built_graph_with_a_dangling_input():
    loc = ir.SourceLoc("prog.py", 3)
    coll = ir.Collection(ir.STREAM, False, True)
    graph = Graph("dangling", [
        Node(0, "source", "xs", (), {"name": "xs"}, (), loc, coll),
        Node(1, "map", "m", (7,), {}, (ir.UserFn.wrap(abs),), loc, coll),
    ])
    with pytest.raises(hp.ProgramError, match="m"):
        verify(graph)


def test_verify_rejects_duplicate_names_in_a_hand_corrupted_graph():
    graph = small_flow().graph()
    graph.replace(graph.by_name("halve").copy(name="evens"))
    with pytest.raises(hp.ProgramError, match="'evens' is used twice"):
        verify(graph)


def test_verify_rejects_duplicate_sink_names_in_a_hand_corrupted_graph():
    graph = small_flow().graph()
    sink = next(n for n in graph.sinks() if n.params["name"] == "total")
    graph.replace(sink.copy(params={"name": "halves"}))
    with pytest.raises(hp.ProgramError, match="'halves' is used twice"):
        verify(graph)


def test_verify_rejects_a_cycle_that_does_not_cross_a_tick():
    graph = small_flow().graph()
    evens, halve = graph.by_name("evens"), graph.by_name("halve")
    graph.replace(evens.copy(kind="union", fns=(), inputs=(graph.by_name("xs").id, halve.id)))
    with pytest.raises(hp.ProgramError, match="never crosses a tick"):
        verify(graph)


def test_verify_accepts_a_cycle_through_a_cycle_node():
    flow = hp.Flow("loop")
    handle, back = flow.cycle()
    current = flow.source("xs").union(back)
    handle.complete(current.filter(lambda n: n > 0).map(lambda n: n - 1))
    current.sink("out")
    assert verify(flow.graph()) is not None


# -- build-time errors carry the user's file:line ------------------------------------------------

def test_duplicate_operator_name_is_rejected_at_build_time_with_file_and_line():
    flow = hp.Flow("dup")
    xs = flow.source("xs")
    first = next_line()
    xs.map(abs, name="same")
    with pytest.raises(hp.ProgramError) as err:
        second = next_line()
        xs.map(abs, name="same")
    message = str(err.value)
    assert "'same'" in message and "twice" in message
    assert f"{HERE}:{second}" in message
    assert f"{HERE}:{first}" in message  # where the name was first used
    assert err.value.loc.line == second
    assert os.path.basename(err.value.loc.file) == HERE


def test_operator_name_may_not_clash_with_a_source_name():
    flow = hp.Flow("dup")
    flow.source("xs")
    with pytest.raises(hp.ProgramError, match="'xs'"):
        flow.source_iter([1], name="xs")


def test_duplicate_sink_name_is_rejected_at_build_time_with_file_and_line():
    flow = hp.Flow("dup")
    xs = flow.source("xs")
    first = next_line()
    xs.sink("out")
    with pytest.raises(hp.ProgramError) as err:
        second = next_line()
        xs.map(abs).sink("out")
    message = str(err.value)
    assert "sink name 'out' is used twice" in message
    assert f"{HERE}:{second}" in message
    assert f"{HERE}:{first}" in message


def test_duplicate_source_name_is_rejected_at_build_time():
    flow = hp.Flow("dup")
    flow.source("xs")
    with pytest.raises(hp.ProgramError) as err:
        line = next_line()
        flow.source("xs")
    assert f"{HERE}:{line}" in str(err.value)


def test_non_callable_and_wrong_arity_functions_are_rejected_at_build_time():
    flow = hp.Flow("bad")
    xs = flow.source("xs")
    with pytest.raises(hp.ProgramError) as err:
        line = next_line()
        xs.map(42)
    assert f"{HERE}:{line}" in str(err.value) and "callable" in str(err.value)
    with pytest.raises(hp.ProgramError) as err:
        line = next_line()
        xs.fold(int, lambda acc: acc)
    assert f"{HERE}:{line}" in str(err.value) and "2 argument" in str(err.value)
    with pytest.raises(hp.ProgramError) as err:
        line = next_line()
        xs.fold(0, lambda acc, x: acc)
    assert f"{HERE}:{line}" in str(err.value) and "init" in str(err.value)


def test_wrong_collection_kind_is_rejected_at_build_time():
    flow = hp.Flow("bad")
    total = flow.source("xs").count()
    with pytest.raises(hp.ProgramError) as err:
        line = next_line()
        flow.source("ys").join(total)
    assert f"{HERE}:{line}" in str(err.value)


def test_collections_of_two_flows_cannot_be_mixed():
    a, b = hp.Flow("a"), hp.Flow("b")
    with pytest.raises(hp.ProgramError, match="two different flows"):
        a.source("xs").union(b.source("ys"))


def test_nodes_record_the_users_line():
    flow = hp.Flow("lines")
    line = next_line()
    flow.source("xs").map(abs, name="absolute").sink("out")
    node = flow.graph().by_name("absolute")
    assert node.loc.line == line
    assert os.path.basename(node.loc.file) == HERE
    assert node.location == ir.MAIN


# -- JSON round-trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_json_round_trip_is_a_fixed_point(in_repo, name):
    graph = example_graph(name)
    text = ir.to_json(graph)
    loaded = ir.from_json(text)
    assert ir.to_json(loaded) == text
    assert loaded.same_as(graph)
    assert verify(loaded) is loaded
    assert ir.to_text(loaded) == ir.to_text(graph)


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_is_plain_json_with_every_operator(in_repo, name):
    graph = example_graph(name)
    data = json.loads(ir.to_json(graph))
    assert {n["name"] for n in data["nodes"]} == {n.name for n in graph}


def test_json_round_trip_reimports_module_level_functions(in_repo):
    loaded = ir.from_json(ir.to_json(example_graph("wordcount")))
    split = loaded.by_name("words").fn("fn")
    assert callable(split.obj)
    assert split.obj("The quick  fox") == ["the", "quick", "fox"]
    add = loaded.by_name("count_per_word").fn("fn")
    assert add.obj(2, 3) == 5
    assert loaded.by_name("count_per_word").fn("init").obj() == 0


def test_json_round_tripped_graph_runs_like_the_original(in_repo):
    from hydropy.targets.local import run
    graph = example_graph("shopping_cart")
    loaded = ir.from_json(ir.to_json(graph))
    inputs = {"client_classes": [("ann", "gold")],
              "requests": [("ann", ("add", "tea", 2)), ("ann", ("checkout", 1))]}
    assert run(loaded, inputs) == run(graph, inputs)
    assert run(loaded, inputs) == {"carts": [("ann", ((("tea", 2),), "checked_out", 0.9))]}


def test_json_round_trip_keeps_lattice_classes_and_literal_values(in_repo):
    from hydropy.lattices import LWW
    kv = ir.from_json(ir.to_json(example_graph("kvstore")))
    assert kv.by_name("store").params["lattice"] is LWW
    flow = hp.Flow("literal")
    flow.source_iter(("p1", "p2", "p3"), name="participants").sink("out")
    literal = ir.from_json(ir.to_json(flow.graph()))
    assert literal.by_name("participants").params["values"] == ("p1", "p2", "p3")


def test_json_round_trip_in_a_fresh_process_reimports_functions(repo_root):
    """The JSON of ``hydropy explain --format json`` is loadable where the program's module
    is importable, and its named functions run."""
    dumped = subprocess.run([sys.executable, "-m", "hydropy", "explain", "examples/wordcount.py",
                             "--format", "json"], cwd=repo_root, capture_output=True, text=True,
                            timeout=60)
    assert dumped.returncode == 0, dumped.stderr
    code = ("import sys, json; from hydropy import ir; g = ir.from_json(sys.stdin.read()); "
            "print(json.dumps(g.by_name('words').fn('fn').obj('A b')))")
    env = dict(os.environ, PYTHONPATH=str(repo_root / "examples"))
    loaded = subprocess.run([sys.executable, "-c", code], input=dumped.stdout, cwd=repo_root,
                            env=env, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == ["a", "b"]


def test_json_of_unimportable_functions_loads_without_them():
    flow = hp.Flow("local_fns")
    flow.source("xs").map(lambda x: x + 1, name="inc").sink("out")
    text = ir.to_json(flow.graph())
    loaded = ir.from_json(text)
    inc = loaded.by_name("inc").fn("fn")
    assert inc.obj is None
    assert "x + 1" in inc.source
    assert ir.to_json(loaded) == text


# -- printers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_mermaid_and_dot_name_every_operator_and_stage(in_repo, name):
    graph = example_graph(name)
    mermaid, dot = ir.to_mermaid(graph), ir.to_dot(graph)
    assert mermaid.startswith("flowchart")
    assert dot.startswith("digraph")
    assert re.search(r'subgraph stage\d+\["main"\]', mermaid)
    assert re.search(r'subgraph cluster_\w+ \{ label="main"', dot)
    for node in graph:
        assert node.name in mermaid
        assert node.name in dot
    edges = sum(len(n.inputs) for n in graph)
    assert mermaid.count("-->") + mermaid.count("-.->") == edges
    assert dot.count(" -> ") == edges


def test_exports_show_every_stage_of_a_multi_stage_graph():
    graph = small_flow().graph()
    for name in ("halve", "total"):
        graph.replace(graph.by_name(name).copy(location="backend"))
    assert graph.locations() == ["main", "backend"]
    mermaid, dot, text = ir.to_mermaid(graph), ir.to_dot(graph), ir.to_text(graph)
    assert '["main"]' in mermaid and '["backend"]' in mermaid
    assert 'label="main"' in dot and 'label="backend"' in dot
    assert "stage main:" in text and "stage backend:" in text
    backend = text.split("stage backend:")[1]
    assert "halve = " in backend and "total = " in backend
    assert "evens = " not in backend


def test_exports_mark_the_feedback_edge_of_a_cycle():
    flow = hp.Flow("loop")
    handle, back = flow.cycle(name="loop")
    current = flow.source("xs").union(back)
    handle.complete(current.filter(lambda n: n > 0, name="positive"))
    current.sink("out")
    graph = flow.graph()
    assert "next tick" in ir.to_mermaid(graph)
    assert "next tick" in ir.to_dot(graph)


def test_text_names_inputs_and_functions():
    text = ir.to_text(small_flow().graph())
    assert text.startswith("flow small\nstage main:\n")
    assert re.search(r"halve = map\[fn=lambda@\d+\]\(evens\)", text)
    assert re.search(r"total = fold\[init=int, fn=lambda@\d+\]\(xs\)", text)
    assert f"# {HERE}:" in text


@pytest.mark.parametrize("name", ["wordcount", "shopping_cart"])
def test_text_snapshot(in_repo, snapshot, name):
    text = ir.to_text(example_graph(name))
    # no machine-specific paths: locations print as basename:line
    assert str(in_repo) not in text
    assert os.path.expanduser("~") not in text
    for comment in re.findall(r"#\s*(\S+)\s*$", text, flags=re.M):
        assert re.fullmatch(rf"{name}\.py:\d+", comment), comment
    snapshot.assert_match(text, f"ir/{name}.txt")


# -- function_ast: the one reader of user functions -------------------------------------------

PAIR = (lambda r: r[0], lambda r: r[1])  # two lambdas on one line, told apart by their code
SAME = (lambda r: r[0], lambda r: r[0])  # the same text twice: one function for any reader
OFFSET = 10


def _shifted(r):
    """A def reading a module constant."""
    return r[0] + OFFSET


def test_function_ast_tells_apart_lambdas_on_one_line():
    from hydropy.ir.source import function_ast
    first, second = (function_ast(f) for f in PAIR)
    assert ast.unparse(first.body[0].value) == "r[0]"
    assert ast.unparse(second.body[0].value) == "r[1]"
    assert ast.unparse(function_ast(SAME[1]).node) == "lambda r: r[0]"


def test_function_ast_reads_defs_and_their_free_names():
    from hydropy.ir.source import function_ast
    found = function_ast(_shifted)
    assert found.params == ["r"] and found.closure["OFFSET"] == 10
    y = 5
    assert function_ast(lambda x: x + y).closure["y"] == 5
    assert function_ast(len) == "has no source code (a builtin or a callable object)"


def test_every_reader_reads_the_same_function():
    """lineage (keys), udf (algebra) and the emitter agree on which lambda a node holds."""
    from hydropy.ir.source import UserFn
    from hydropy.passes.lineage import output_lineage
    from hydropy.passes.udf import returned_expression
    fn = PAIR[1]
    assert str(output_lineage(UserFn.wrap(fn))) == "r[1]"
    params, body = returned_expression(fn)
    assert params == ["r"] and ast.unparse(body) == "r[1]"
