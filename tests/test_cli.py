"""The ``hydropy`` command line, end to end in a subprocess (cwd = repository root).

Expected outputs are worked out by hand from the examples' YAML inputs, not computed with
the library. Every bad input of issue 2 section 7 must give exit code 2, one line on stderr
naming the problem (and the user's file:line where there is one), no traceback unless
``--debug``, and nothing on stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

EXAMPLES = ["wordcount", "shopping_cart", "kvstore", "voting"]


@pytest.fixture
def hydropy(repo_root):
    """Run ``python -m hydropy ARGS`` from the repository root."""
    def call(*args, env=None):
        return subprocess.run([sys.executable, "-m", "hydropy", *map(str, args)], cwd=repo_root,
                              capture_output=True, text=True, timeout=120,
                              env=None if env is None else {**os.environ, **env})
    return call


def write(path, text: str):
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path, needle: str) -> int:
    """1-based line number of the only line of ``path`` containing ``needle``."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def assert_refused(proc, *fragments, code=2):
    """Exit ``code``, exactly one line on stderr containing every fragment, nothing on stdout."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("hydropy: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_json(hydropy, program, inputs):
    proc = hydropy("run", program, "--inputs", inputs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


WORDCOUNT_PROGRAM = """
import hydropy as hp

flow = hp.Flow("user_wc")
lines = flow.source("lines")
lines.flat_map(str.split, name="words").count(name="n").sink("n")
"""


# -- run: the examples ---------------------------------------------------------------------------

def test_run_wordcount(hydropy):
    out = run_json(hydropy, "examples/wordcount.py", "examples/wordcount.yaml")
    # "the quick brown fox" / "jumps over the lazy dog" / "The dog barks", lower-cased
    assert out == {
        "counts": [["barks", 1], ["brown", 1], ["dog", 2], ["fox", 1], ["jumps", 1],
                   ["lazy", 1], ["over", 1], ["quick", 1], ["the", 3]],
        "total": [12],
    }


def test_run_shopping_cart(hydropy):
    out = run_json(hydropy, "examples/shopping_cart.py", "examples/shopping_cart.yaml")
    # alice (gold): apple 2 + fig 1 + apple 1, then checkout -> 0.9; bob (basic): pear 1 + 4, open
    assert out == {"carts": [
        ["alice", [[["apple", 3], ["fig", 1]], "checked_out", 0.9]],
        ["bob", [[["pear", 5]], "open", 0.0]],
    ]}


def test_run_kvstore(hydropy):
    out = run_json(hydropy, "examples/kvstore.py", "examples/kvstore.yaml")
    # x: timestamps 1 apple, 3 cherry, 2 banana -> cherry; y: pear; get z -> absent
    assert out == {
        "store": [["x", "cherry"], ["y", "pear"]],
        "get_results": [[101, "x", "cherry"], [102, "z", None]],
    }


def test_run_voting(hydropy):
    out = run_json(hydropy, "examples/voting.py", "examples/voting.yaml")
    # three requests, each voted for by p1, p2, p3: every request gets exactly one reply
    assert sorted(out) == ["replies"]
    assert sorted(out["replies"]) == [["c1", 1], ["c1", 2], ["c2", 1]]


def test_run_text_format_lists_each_sink_with_its_records(hydropy):
    proc = hydropy("run", "examples/wordcount.py", "--inputs", "examples/wordcount.yaml")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "counts (9 records)" in lines
    assert "total (1 record)" in lines
    assert "  ('the', 3)" in lines
    assert "  12" in lines


def test_run_without_inputs_runs_on_empty_inputs(hydropy):
    proc = hydropy("run", "examples/wordcount.py", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"counts": [], "total": [0]}


def test_run_accepts_a_json_inputs_file(hydropy, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"lines": ["b a", "a"]}))
    out = run_json(hydropy, "examples/wordcount.py", inputs)
    assert out == {"counts": [["a", 2], ["b", 1]], "total": [3]}


def test_run_turns_inner_lists_into_pairs(hydropy, tmp_path):
    inputs = write(tmp_path / "in.yaml", """
        client_classes: [[carol, basic]]
        requests:
          - [carol, [add, kiwi, 2]]
          - [carol, [checkout, 1]]
    """)
    out = run_json(hydropy, "examples/shopping_cart.py", inputs)
    assert out == {"carts": [["carol", [[["kiwi", 2]], "checked_out", 1.0]]]}


# -- explain ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot", "json"])
def test_explain_every_format(hydropy, name, fmt):
    proc = hydropy("explain", f"examples/{name}.py", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    head = {"text": f"flow {name}\n", "mermaid": "flowchart", "dot": "digraph"}
    if fmt == "json":
        assert json.loads(proc.stdout)["flow"] == name
    else:
        assert proc.stdout.startswith(head[fmt])


def test_explain_defaults_to_text(hydropy):
    proc = hydropy("explain", "examples/wordcount.py")
    assert proc.returncode == 0
    assert proc.stdout.startswith("flow wordcount\nstage main:\n")
    assert "count_per_word = fold_keyed" in proc.stdout


# -- bad inputs: exit 2, one line, no traceback, nothing on stdout ---------------------------------

def test_unknown_input_name(hydropy, tmp_path):
    inputs = write(tmp_path / "in.yaml", "linez: [hello]\n")
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", inputs), "linez")


def test_record_of_the_wrong_shape_for_a_keyed_operator_in_an_example(hydropy, repo_root, tmp_path):
    inputs = write(tmp_path / "in.yaml", """
        client_classes: [[alice, gold]]
        requests: [5]
    """)
    line = line_of(repo_root / "examples" / "shopping_cart.py", "requests.join(")
    assert_refused(hydropy("run", "examples/shopping_cart.py", "--inputs", inputs),
                   "tag_with_class", f"shopping_cart.py:{line}", "5")


def test_record_of_the_wrong_shape_for_a_keyed_operator_in_a_user_file(hydropy, tmp_path):
    prog = write(tmp_path / "keyed.py", """
        import hydropy as hp

        flow = hp.Flow("keyed")
        pairs = flow.source("pairs")
        pairs.fold_keyed(int, lambda acc, v: acc + v, name="sum_per_key").sink("sums")
    """)
    inputs = write(tmp_path / "in.yaml", "pairs: [[a, 1], [a, 2, 3]]\n")
    line = line_of(prog, "fold_keyed")
    assert_refused(hydropy("run", prog, "--inputs", inputs),
                   "sum_per_key", f"keyed.py:{line}")


def test_user_function_that_is_not_callable(hydropy, tmp_path):
    prog = write(tmp_path / "notcallable.py", """
        import hydropy as hp

        flow = hp.Flow("bad")
        lines = flow.source("lines")
        lines.map("upper").sink("out")
    """)
    line = line_of(prog, '.map("upper")')
    assert_refused(hydropy("run", prog), "callable", f"notcallable.py:{line}")


def test_user_function_with_the_wrong_number_of_parameters(hydropy, tmp_path):
    prog = write(tmp_path / "arity.py", """
        import hydropy as hp


        def add(a, b, c):
            return a + b + c


        flow = hp.Flow("bad")
        nums = flow.source("nums")
        nums.fold(int, add).sink("total")
    """)
    line = line_of(prog, "nums.fold(")
    assert_refused(hydropy("run", prog), "add", "2 argument", f"arity.py:{line}")


def test_sink_name_used_twice(hydropy, tmp_path):
    prog = write(tmp_path / "twosinks.py", """
        import hydropy as hp

        flow = hp.Flow("bad")
        lines = flow.source("lines")
        lines.sink("out")
        lines.map(len).sink("out")
    """)
    first, second = line_of(prog, "lines.sink("), line_of(prog, "map(len)")
    message = assert_refused(hydropy("run", prog), "'out'", "twice", f"twosinks.py:{second}")
    assert f"twosinks.py:{first}" in message  # also says where it was first used


def test_cycle_that_never_crosses_a_tick(hydropy, tmp_path):
    prog = write(tmp_path / "selfloop.py", """
        import hydropy as hp

        flow = hp.Flow("bad")
        handle, later = flow.forward_ref()
        derived = later.map(lambda x: x + 1)
        handle.complete(derived)
        derived.sink("out")
    """)
    lines = {line_of(prog, "forward_ref()"), line_of(prog, "later.map")}
    for command in (("run", prog), ("explain", prog)):
        message = assert_refused(hydropy(*command), "cycle", "never crosses a tick")
        assert any(f"selfloop.py:{n}" in message for n in lines), message


def test_inputs_file_with_bad_yaml_syntax(hydropy, tmp_path):
    inputs = write(tmp_path / "bad.yaml", """
        lines:
          - one
          - [unclosed
    """)
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", inputs),
                   "malformed inputs file", "bad.yaml:")


def test_inputs_file_with_a_list_at_top_level(hydropy, tmp_path):
    inputs = write(tmp_path / "list.yaml", """
        - the quick brown fox
        - jumps
    """)
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", inputs),
                   "list.yaml", "list")


def test_inputs_file_with_a_name_not_mapping_to_a_list(hydropy, tmp_path):
    inputs = write(tmp_path / "scalar.yaml", "lines: just one line\n")
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", inputs), "lines")


def test_inputs_file_with_bad_json(hydropy, tmp_path):
    inputs = tmp_path / "bad.json"
    inputs.write_text('{"lines": ["a",\n  ]}\n')
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", inputs),
                   "malformed inputs file", "bad.json:2")


def test_inputs_file_that_does_not_exist(hydropy, tmp_path):
    assert_refused(hydropy("run", "examples/wordcount.py", "--inputs", tmp_path / "missing.yaml"),
                   "missing.yaml")


def test_program_file_that_does_not_exist(hydropy, tmp_path):
    assert_refused(hydropy("run", tmp_path / "nowhere.py"), "nowhere.py")
    assert_refused(hydropy("explain", "examples/nowhere.py"), "nowhere.py")


def test_program_module_that_does_not_exist(hydropy):
    assert_refused(hydropy("run", "no_such_package_xyz.module:flow"), "no_such_package_xyz")


def test_program_with_a_syntax_error(hydropy, tmp_path):
    prog = write(tmp_path / "syntax.py", """
        import hydropy as hp

        flow = hp.Flow("bad"
        def oops(:
            pass
    """)
    message = assert_refused(hydropy("run", prog), "SyntaxError", "syntax.py:")
    assert any(f"syntax.py:{n}" in message for n in (3, 4)), message


def test_program_that_raises_at_import(hydropy, tmp_path):
    prog = write(tmp_path / "raises.py", """
        import hydropy as hp

        flow = hp.Flow("fine so far")
        settings = {}
        port = settings["port"]
    """)
    line = line_of(prog, 'settings["port"]')
    assert_refused(hydropy("run", prog), "KeyError", "port", f"raises.py:{line}")


def test_program_importing_a_missing_module(hydropy, tmp_path):
    prog = write(tmp_path / "missingdep.py", """
        import hydropy as hp
        import not_a_real_dependency_xyz
    """)
    assert_refused(hydropy("run", prog), "not_a_real_dependency_xyz", "missingdep.py:2")


def test_program_that_holds_no_flow(hydropy, tmp_path):
    prog = write(tmp_path / "empty.py", """
        import hydropy as hp

        def build():
            return 3
    """)
    assert_refused(hydropy("run", prog), "no hydropy Flow")
    assert_refused(hydropy("run", f"{prog}:build"), "build", "not a hydropy Flow")
    assert_refused(hydropy("run", f"{prog}:missing"), "missing")


def test_program_that_holds_several_flows(hydropy, tmp_path):
    prog = write(tmp_path / "two.py", """
        import hydropy as hp

        first = hp.Flow("first")
        first.source("xs").map(lambda x: x + 1).sink("plus_one")

        second = hp.Flow("second")
        second.source("xs").map(lambda x: x * 2).sink("doubled")
    """)
    assert_refused(hydropy("run", prog), "several", "first", "second")
    inputs = write(tmp_path / "in.yaml", "xs: [1, 2]\n")
    for attr, expected in (("first", {"plus_one": [2, 3]}), ("second", {"doubled": [2, 4]})):
        proc = hydropy("run", f"{prog}:{attr}", "--inputs", inputs, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == expected


def test_program_attr_naming_a_function_that_builds_a_flow(hydropy, tmp_path):
    prog = write(tmp_path / "factory.py", """
        import hydropy as hp

        def build():
            flow = hp.Flow("built")
            flow.source("xs").count().sink("n")
            return flow
    """)
    inputs = write(tmp_path / "in.yaml", "xs: [a, b, c]\n")
    proc = hydropy("run", f"{prog}:build", "--inputs", inputs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": [3]}


def test_program_as_package_module_attr(hydropy, tmp_path):
    pkg = tmp_path / "pkgs" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    write(pkg / "progs.py", WORDCOUNT_PROGRAM + textwrap.dedent("""

        other = hp.Flow("other")
        other.source("lines").sink("echo")
    """))
    inputs = write(tmp_path / "in.yaml", "lines: [a b c, d e]\n")
    env = {"PYTHONPATH": str(tmp_path / "pkgs")}
    proc = hydropy("run", "mypkg.progs:flow", "--inputs", inputs, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": [5]}
    proc = hydropy("run", "mypkg.progs:other", "--inputs", inputs, "--format", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"echo": ["a b c", "d e"]}
    proc = hydropy("explain", "mypkg.progs:flow", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("flow user_wc")
    assert_refused(hydropy("run", "mypkg.progs:nothing", env=env), "nothing")


def test_user_file_with_one_flow_needs_no_attr(hydropy, tmp_path):
    prog = write(tmp_path / "one.py", WORDCOUNT_PROGRAM)
    inputs = write(tmp_path / "in.yaml", "lines: [a b, c]\n")
    proc = hydropy("run", prog, "--inputs", inputs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": [3]}


def test_debug_shows_the_traceback(hydropy, tmp_path):
    inputs = write(tmp_path / "in.yaml", "linez: [hello]\n")
    proc = hydropy("--debug", "run", "examples/wordcount.py", "--inputs", inputs)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("hydropy: error:")
    assert "linez" in proc.stderr.splitlines()[-1]


def test_debug_shows_the_traceback_of_a_build_error(hydropy, tmp_path):
    prog = write(tmp_path / "notcallable.py", """
        import hydropy as hp

        flow = hp.Flow("bad")
        flow.source("lines").map(None).sink("out")
    """)
    proc = hydropy("--debug", "run", prog)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert "notcallable.py:4" in proc.stderr.splitlines()[-1]


def test_user_function_raising_at_run_time_exits_1_naming_the_operator(hydropy, tmp_path):
    prog = write(tmp_path / "crash.py", """
        import hydropy as hp

        flow = hp.Flow("crash")
        flow.source("xs").map(lambda x: 10 // x, name="divide").sink("out")
    """)
    inputs = write(tmp_path / "in.yaml", "xs: [5, 0]\n")
    assert_refused(hydropy("run", prog, "--inputs", inputs), "divide", "ZeroDivisionError",
                   "crash.py:4", code=1)


def test_bad_command_line_usage_exits_2(hydropy):
    proc = hydropy("run", "examples/wordcount.py", "--format", "yaml")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(repo_root):
    """``hydropy explain ... | head -1``: the closed pipe ends the command quietly, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "hydropy", "explain", "examples/voting.py",
                             "--analysis"], cwd=repo_root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert first.startswith("flow voting")
    assert stderr == ""


def test_run_check_compares_nan_as_nan():
    """``run --check`` on sinks that crossed a channel: their NaNs are other objects, equal to
    nothing by ``==``; found by a hostile-user trial (``check: DIFFERENT`` on identical sinks)."""
    import pickle

    import hydropy as hp
    from hydropy.commands import check_against_single_node
    flow = hp.Flow("doubles")
    xs = flow.source("xs")
    xs.map(lambda r: r * 2, name="dbl").sink("out")
    xs.map(lambda r: (r > 1, r), name="tag").sink("tagged")
    inputs = {"xs": [1.5, float("nan"), 2.0]}
    results = pickle.loads(pickle.dumps(flow.run(inputs)))
    assert check_against_single_node(flow, inputs, results).startswith("check: same sinks")
    results["out"][0] = 4.0
    assert "DIFFERENT" in check_against_single_node(flow, inputs, results)
