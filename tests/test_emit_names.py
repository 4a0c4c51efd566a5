"""Hostile operator, source, sink, stage and flow names compile to code that runs the right
functions: identifiers unique in their module and never a keyword, builtin, import or Stage
attribute; user strings repr'd or comment-safe (issue 10, "Generated Python names collide").

Programs are two maps with colliding names doing different things, decoupled from a third
map and a keyed fold; each is compiled and run in-process (fast, many examples) and on Ray
(few), and compared with the single-node run.
"""
from __future__ import annotations

import ast
import os

import networkx as nx
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hydropy.errors import ProgramError
from hydropy.loader import load_flow
from hydropy.runtime.batch import pack
from hydropy.runtime.stage import merge_results
from hydropy.runtime.host import load_stage_class
from hydropy.targets.compile import compile_flow
from hydropy.targets.references import RUNTIME_NAMES
from hydropy.targets.stage_code import stage_attributes
from hydropy.targets.local import canonical
from hydropy.targets.names import KEYWORDS, Namespace, comment_text, doc_repr, identifier

FUNCTIONS = ["double", "inc", "pair", "add", "prog", "hp"]   # the program's globals and module
TRICKY = [
    "x y", "x_y", "x-y", "step-1", "step_1", "map 1", "map_1", "map_2", "fold_keyed_1",
    "member", "members", "tick", "ticks", "emit", "results", "run_tick", "warm_up", "streams",
    "NAME", "INPUTS", "SINKS", "CYCLES", "CHANNELS_OUT", "pending", "sent", "quiescent",
    "self", "ops", "Stage", "STAGE", "np", "njit", "kernels", "probe", "MainStage", "AggStage",
    "class", "def", "match", "case", "_", "type", "None", "print", "int", "__init__", "__class__",
    "__dict__", "_x", "__", 'wc"""', "it's", 'a"b', "a'b\"c", "back\\slash", "trail\\",
    "new\nline", "cr\rline", "tab\there", "nul\x00", "x²", "x2", "ﬁle", "file", "é", "e\u0301",
    "σ", "1abc", "_1abc", "#hash", "a # b", "'''", '"""', "x\u2028y", "\\n", "A", "a",
    *FUNCTIONS, *(f"{f}_fn" for f in FUNCTIONS), "double_kernel", "x_y_fn", "x_y_kernel",
]
names = st.one_of(st.sampled_from(TRICKY), st.text(min_size=1, max_size=6)).filter(
    lambda s: not s.startswith("sink_"))
STAGES = ["agg", "Agg", "AGG", "main2", "tick", "map", "member", "Stage", "STAGE", "ops", "_", "a1"]

PROGRAM = '''
import hydropy as hp


def double(x):
    return x * 2


def inc(x):
    return x + 1


def pair(x):
    return (x % 3, x)


def add(total, x):
    return total + x


flow = hp.Flow({flow!r})
xs = flow.source({source!r}{dtype})
first = xs.map(double, name={m1!r})
second = first.map(inc, name={m2!r})
second.map(pair, name={m3!r}).fold_keyed(int, add, name={fold!r}).sink({s1!r})
first.sink({s2!r})
xs.map(inc, name={m4!r}).sink({s3!r})
'''


@st.composite
def hostile_programs(draw, dtype: bool = False):
    """(program text, plan text): maps named to collide, decoupled into two stages."""
    ops = draw(st.lists(names, min_size=5, max_size=5, unique=True))
    ops = [draw(st.sampled_from([op, None])) if i in (1, 4) else op for i, op in enumerate(ops)]
    sinks = draw(st.lists(names, min_size=3, max_size=3, unique=True))
    source = draw(names.filter(lambda s: s not in ops))
    text = PROGRAM.format(flow=draw(names), source=source, dtype=", dtype='int64'" if dtype else "",
                          m1=ops[0], m2=ops[1], m3=ops[2], fold=ops[3], m4=ops[4],
                          s1=sinks[0], s2=sinks[1], s3=sinks[2])
    stage = draw(st.sampled_from(STAGES))
    return text, stage, [ops[2], ops[3]]


def build(tmp_path, text, stage, movers):
    """The flow, the compiled directory and the inputs, or ``assume(False)`` when the program
    is refused for its names by the Flow API itself (names used twice)."""
    program = tmp_path / "prog.py"
    program.write_text(text, encoding="utf-8")
    try:
        flow = load_flow(str(program))
    except ProgramError:
        assume(False)  # names the Flow API itself refuses (used twice)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"steps": [{"decouple": {"operators": movers, "to": stage}}]}))
    out = tmp_path / "out"
    compile_flow(flow, str(out), plan=str(plan), force=True)
    return flow, out, {graph_source(flow): list(range(-3, 9))}


def graph_source(flow) -> str:
    return next(n.params["name"] for n in flow.graph().nodes() if n.kind == "source")


def run_in_process(out, inputs) -> dict:
    """Every stage of ``out`` (one member each) for one tick, in pipeline order."""
    deploy = yaml.safe_load((out / "deploy.yaml").read_text(encoding="utf-8"))
    order = nx.DiGraph()
    order.add_nodes_from(st["name"] for st in deploy["stages"])
    order.add_edges_from((c["from"], c["to"]) for c in deploy["channels"])
    stages = {st["name"]: st for st in deploy["stages"]}
    arrived: dict[str, dict[str, list]] = {}
    for src, records in inputs.items():
        stage = next(st["name"] for st in deploy["stages"] if src in [s["name"] for s in st["sources"]])
        arrived.setdefault(stage, {})[src] = [pack(records)]
    parts = []
    for name in nx.lexicographical_topological_sort(order):
        cls = load_stage_class(str(out), stages[name]["file"], stages[name]["class"])
        stage = cls(0, 1, {c["name"]: 1 for c in deploy["channels"] if c["from"] == name})
        routed = stage.run_tick(arrived.get(name, {}))
        for c in deploy["channels"]:
            if c["from"] == name:
                arrived.setdefault(c["to"], {})[c["name"]] = routed[c["name"]]
        parts.append(stage.results())
    merged = merge_results(parts)
    return {sink: merged.get(sink, []) for sink in deploy["sinks"]}


def assert_clean_module(path) -> None:
    """The file compiles; every identifier it defines is defined once and is not a keyword;
    operator attributes never shadow the Stage base class; comments end on their own line."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(compile(text, str(path), "exec", ast.PyCF_ONLY_AST))
    top = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            top += [a.asname or a.name for a in node.names]
        elif isinstance(node, ast.Import):
            top += [a.asname or a.name.split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.append(node.name)
        elif isinstance(node, ast.Assign):
            top += [t.id for t in node.targets if isinstance(t, ast.Name)]
    assert len(top) == len(set(top)), f"module-level names defined twice: {sorted(top)}"
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    attrs = [t.attr for s in ast.walk(init) if isinstance(s, ast.Assign) for t in s.targets
             if isinstance(t, ast.Attribute)]
    assert len(attrs) == len(set(attrs)) and not set(attrs) & stage_attributes()
    assert not set(attrs) & set(top) and not {a for a in attrs if a.startswith("__")}
    tick = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "tick")
    params = [a.arg for a in tick.args.args[1:]]
    assert len(params) == len(set(params)) and not set(params) & (set(top) | KEYWORDS)
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert line.isprintable()


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(case=hostile_programs())
def test_hostile_names_compile_to_clean_modules_that_run_like_the_program(tmp_path_factory, case):
    tmp_path = tmp_path_factory.mktemp("names")
    flow, out, inputs = build(tmp_path, *case)
    for stage in os.listdir(out / "stages"):
        if stage.endswith(".py"):
            assert_clean_module(out / "stages" / stage)
    expected = flow.run(inputs)
    assert canonical(flow.graph(), run_in_process(out, inputs)) == canonical(flow.graph(), expected)
    assert any(expected.values())


@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(case=hostile_programs(dtype=True))
def test_hostile_names_of_kernels_run_the_right_functions(tmp_path_factory, case):
    """Typed maps become one fused Numba loop and the fold a keyed kernel: their jitted
    functions ('x y' and 'x_y' both sanitise to x_y_fn) must stay apart."""
    tmp_path = tmp_path_factory.mktemp("kernels")
    flow, out, inputs = build(tmp_path, *case)
    assert "njit" in (out / "stages" / "main.py").read_text(encoding="utf-8")
    expected = flow.run(inputs)
    assert canonical(flow.graph(), run_in_process(out, inputs)) == canonical(flow.graph(), expected)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(case=hostile_programs())
def test_hostile_names_on_ray_equal_the_local_run(ray_session, tmp_path_factory, case):
    from hydropy.targets.ray import run_compiled
    tmp_path = tmp_path_factory.mktemp("ray")
    flow, out, inputs = build(tmp_path, *case)
    got = run_compiled(str(out), inputs)
    assert canonical(flow.graph(), got) == canonical(flow.graph(), flow.run(inputs))


def test_colliding_maps_keep_their_own_functions(tmp_path):
    """A user 'map 1' beside the automatic map_1, a source 'x_y' beside a map 'x y', a fold
    named like a Stage attribute, sinks named to break the file."""
    import re
    text = PROGRAM.format(flow='wc"""', source="x_y", dtype="", m1="map 1", m2=None, m3="x_y_2",
                          fold="member", m4="x y", s1="tick", s2='wc"""', s3="new\nline")
    flow, out, inputs = build(tmp_path, text, "agg", ["x_y_2", "member"])
    stage = (out / "stages" / "main.py").read_text(encoding="utf-8")
    built = dict(re.findall(r"self\.(\w+) = ops\.Map\((\w+)", stage))
    assert sorted(built) == ["map_1", "map_1_2", "x_y_2"] and sorted(built.values()) == ["double", "inc", "inc"]
    assert "def tick(self, x_y):" in stage
    agg = (out / "stages" / "agg.py").read_text(encoding="utf-8")
    assert "self.x_y_2 = ops.Map(pair" in agg and "self.member_2 = ops.FoldKeyed(int, add" in agg
    expected = flow.run(inputs)
    assert run_in_process(out, inputs) == expected
    assert expected['wc"""'] == [2 * x for x in inputs["x_y"]]
    assert expected["new\nline"] == [x + 1 for x in inputs["x_y"]]


def test_names_are_deterministic(tmp_path):
    text = PROGRAM.format(flow="f", source="s", dtype="", m1="a b", m2="a_b", m3="a-b", fold="tick",
                          m4="a.b", s1="o1", s2="o2", s3="o3")
    texts = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        _, out, _ = build(tmp_path / run, text, "agg", ["a-b", "tick"])
        texts.append([(out / "stages" / f).read_text() for f in ("main.py", "agg.py")])
    assert texts[0] == texts[1]


def test_stage_files_and_classes_stay_apart(tmp_path):
    """Stages 'Agg' and 'agg' need two files even on a case-insensitive file system."""
    program = tmp_path / "prog.py"
    program.write_text(PROGRAM.format(flow="f", source="s", dtype="", m1="a", m2="b", m3="c",
                                      fold="d", m4="e", s1="o1", s2="o2", s3="o3"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"steps": [{"decouple": {"operators": ["c", "d"], "to": "Agg"}},
                                              {"decouple": {"operators": ["d"], "to": "agg"}}]}))
    flow = load_flow(str(program))
    compile_flow(flow, str(tmp_path / "out"), plan=str(plan))
    deploy = yaml.safe_load((tmp_path / "out" / "deploy.yaml").read_text())
    files = [s["file"] for s in deploy["stages"]]
    assert len({f.casefold() for f in files}) == 3
    inputs = {"s": [1, 2, 3]}
    assert run_in_process(tmp_path / "out", inputs) == flow.run(inputs)


@pytest.mark.parametrize("name, wanted", [
    ("x y", "x_y"), ("step-1", "step_1"), ("1abc", "_1abc"), ("x²", "x2"), ("ﬁle", "file"),
    ("__init__", "_init__"), ("", "_op"), ("_", "_op"), ("__", "_op"), ("é", "é"), ("a\nb", "a_b"),
])
def test_identifier(name, wanted):
    assert identifier(name) == wanted and wanted.isidentifier()


def test_namespace_suffixes_keywords_and_numbers_collisions():
    names = Namespace(["tick"])
    got = [names.fresh(n) for n in ["map 1", "map_1", "class", "tick", "ﬁle", "file", "print", "_", "__"]]
    assert got == ["map_1", "map_1_2", "class_", "tick_2", "file", "file_2", "print_", "_op", "_op_2"]
    assert len(set(got)) == len(got) and all(g.isidentifier() for g in got)
    folded = Namespace(casefold=True)
    assert [folded.fresh(n) for n in ["Agg", "agg", "AGG"]] == ["Agg", "agg_2", "AGG_3"]


def test_stage_attributes_are_read_from_the_class():
    attrs = stage_attributes()
    assert {"member", "members", "tick", "ticks", "emit", "results", "warm_up", "run_tick",
            "streams", "sent", "quiescent", "__init__"} <= attrs
    assert set(RUNTIME_NAMES) >= {"ops", "Stage", "STAGE"}


def test_user_strings_in_comments_and_docstrings_cannot_end_them():
    assert comment_text("a\nb\r\x00c\u2028") == "a\\nb\\r\\x00c\\u2028"
    doc = f'"""{doc_repr(chr(39) + "wc" + chr(34) * 3)}"""'
    assert ast.literal_eval(doc) == repr("'wc" + '"' * 3)


def test_mutant_without_unique_names_is_caught(tmp_path, monkeypatch):
    """Identifiers made one by one (the old ident()): 'map 1' and map_1 become one attribute."""
    monkeypatch.setattr(Namespace, "fresh", lambda self, name: identifier(name))
    with pytest.raises(AssertionError):
        test_colliding_maps_keep_their_own_functions(tmp_path)


def test_mutant_without_comment_escaping_is_caught(tmp_path, monkeypatch):
    from hydropy.targets import stage_code
    monkeypatch.setattr(stage_code, "comment_text", lambda text: text)
    text = PROGRAM.format(flow="f", source="s", dtype="", m1="a\nimport os", m2="b", m3="c",
                          fold="d", m4="e", s1="o1", s2="o2", s3="o3")
    program = tmp_path / "prog.py"
    program.write_text(text)
    out = tmp_path / "out"
    compile_flow(load_flow(str(program)), str(out))
    with pytest.raises((AssertionError, SyntaxError)):
        assert_clean_module(out / "stages" / "main.py")
