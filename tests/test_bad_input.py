"""Bad input, table-driven: programs, inputs, plans, compiled directories, output locations.

Every case is a small set of files written into a fresh directory plus one ``hydropy``
command, run in-process through ``hydropy.cli.main``. Each must end with exit code 2,
exactly one line on stderr naming the problem and the place (file and, where the file has
lines, the line), no traceback, nothing on stdout, and every file in the directory byte for
byte as it was (nothing written, replaced or removed).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from hydropy.cli import main

# -- fixtures: a word count program, its inputs and plans ------------------------------------

WC = """
import hydropy as hp


def split_words(line):
    return line.lower().split()


def add(total, n):
    return total + n


flow = hp.Flow("wc")
lines = flow.source("lines")
words = lines.flat_map(split_words, name="words")
ones = words.map(lambda word: (word, 1), name="ones")
ones.fold_keyed(int, add, name="count_per_word").sink("counts")
words.count(name="total_words").sink("total")
"""

PAIRS = """
import hydropy as hp

flow = hp.Flow("pairs")
readings = flow.source("readings", dtype=("int64", "float64"))
readings.filter(lambda r: r[1] > 0, name="positive").sink("positive")
"""

TAGGED = """
import hydropy as hp

flow = hp.Flow("tagged")
xs = flow.source("xs")
tagged = xs.map(lambda x: (x, 1), name="tag")
tagged.map(lambda p: p, name="copy").sink("out")
"""

INPUTS = "lines:\n  - the quick brown fox\n  - the lazy dog\n"
PLAN = "steps:\n  - decouple: {operators: [count_per_word], to: agg}\n"


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass
class Case:
    """``files`` (name -> text or bytes) written into the case's directory; ``argv`` with
    ``{d}`` for that directory; ``expect`` fragments of the one error line."""

    id: str
    argv: list[str]
    expect: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    compiled: Callable[[Path], None] | None = None   # edits a compiled copy of WC at {d}/out


def run_case(case_id, argv, expect, files=None):
    return Case(case_id, argv, expect, {"wc.py": WC, **(files or {})})


def inputs_case(case_id, text, *expect, name="in.yaml"):
    """The word count run with an inputs file ``name`` holding ``text``."""
    return run_case(case_id, ["run", "{d}/wc.py", "--inputs", f"{{d}}/{name}"], expect, {name: text})


def plan_case(case_id, text, *expect, command="run", program="wc.py", source=WC):
    argv = [command, f"{{d}}/{program}", "--plan", "{d}/plan.yaml"]
    if command == "compile":
        argv += ["-o", "{d}/out"]
    if command == "check":
        argv += ["--inputs", "{d}/in.yaml", "--seeds", "1"]
    return Case(case_id, argv, expect, {program: source, "plan.yaml": text, "in.yaml": INPUTS})


def program_case(case_id, text, *expect, attr="", command="run"):
    return Case(case_id, [command, "{d}/prog.py" + attr], expect, {"prog.py": dedent(text)})


def compiled_case(case_id, edit, *expect, argv=None):
    return Case(case_id, argv or ["run", "{d}/out"], expect, {"wc.py": WC}, edit)


def edit_deploy(old: str, new: str, count: int = 1):
    def apply(out: Path):
        path = out / "deploy.yaml"
        text = path.read_text()
        assert old in text, (old, text)
        path.write_text(text.replace(old, new, count))
    return apply


def write_file(rel: str, data: str | bytes):
    def apply(out: Path):
        path = out / rel
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return apply


def remove(rel: str):
    def apply(out: Path):
        target = out / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return apply


LAUGHS = dedent("""
    a: &a [x, x, x, x, x, x, x, x, x]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    lines: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
""")

INPUT_CASES = [
    inputs_case("inputs-duplicate-key", "lines: [a]\nlines: [b]\n", "in.yaml:2", "duplicate key 'lines'"),
    inputs_case("inputs-duplicate-key-in-record", "lines:\n  - {a: 1, a: 2}\n", "in.yaml:2", "duplicate"),
    inputs_case("inputs-duplicate-key-far-apart", "lines:\n  - x\n  - y\n\nlines:\n  - z\n", "in.yaml:5",
                "first at line 1"),
    inputs_case("inputs-alias", "base: &b [a]\nlines: *b\n", "in.yaml:2", "alias"),
    inputs_case("inputs-billion-laughs", LAUGHS, "in.yaml:2", "alias"),
    inputs_case("inputs-recursive-alias", "lines: &a [*a]\n", "in.yaml:1", "alias"),
    inputs_case("inputs-merge-key", "lines:\n  - {<<: {a: 1}, b: 2}\n", "in.yaml:2", "merge"),
    inputs_case("inputs-deep-flow-nesting", "lines: " + "[" * 5000 + "]" * 5000 + "\n", "in.yaml:1",
                "nesting"),
    inputs_case("inputs-deep-block-nesting", "lines:\n" + "".join("  " * i + "- \n" for i in range(1, 300))
                + "  " * 300 + "- x\n", "in.yaml:", "nesting"),
    inputs_case("inputs-deep-mapping-nesting", "lines: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
                "in.yaml:1", "nesting"),
    inputs_case("inputs-binary-garbage", bytes(range(256)) * 4, "in.yaml:2", "not UTF-8"),
    inputs_case("inputs-utf16-bom", "lines: [a]\n".encode("utf-16"), "in.yaml:1", "UTF-16"),
    inputs_case("inputs-utf16-be-bom", "\ufefflines: [a]\n".encode("utf-16-be"), "in.yaml:1", "UTF-16"),
    inputs_case("inputs-utf32-bom", "lines: [a]\n".encode("utf-32"), "in.yaml:1", "UTF-32"),
    inputs_case("inputs-invalid-utf8-line-3", b"lines:\n  - ok\n  - bad \xc3\x28 byte\n", "in.yaml:3",
                "not UTF-8"),
    inputs_case("inputs-nul-byte", b"lines:\n  - a\x00b\n", "in.yaml:2", "NUL"),
    inputs_case("inputs-control-character", "lines:\n  - a\x07b\n", "in.yaml:2", "not allowed"),
    inputs_case("inputs-integer-key", "lines: [a]\n1: [b]\n", "in.yaml:2", "strings", "1"),
    inputs_case("inputs-boolean-key", "lines: [a]\nyes: [b]\n", "in.yaml:2", "strings"),
    inputs_case("inputs-null-key", "~: [b]\n", "in.yaml:1", "strings"),
    inputs_case("inputs-float-key", "lines: [a]\n1.5: [b]\n", "in.yaml:2", "strings"),
    inputs_case("inputs-unhashable-key", "? [a, b]\n: [c]\n", "in.yaml:1", "plain value"),
    inputs_case("inputs-unknown-name", "lines: [a]\nlinez: [b]\n", "in.yaml:2", "unknown input 'linez'"),
    inputs_case("inputs-value-not-a-list", "lines: just one line\n", "in.yaml:1", "'lines'", "list"),
    inputs_case("inputs-value-a-mapping", "lines:\n  a: 1\n", "in.yaml:1", "list"),
    inputs_case("inputs-top-level-list", "- a\n- b\n", "in.yaml:1", "list"),
    inputs_case("inputs-top-level-scalar", "hello\n", "in.yaml:1", "str"),
    inputs_case("inputs-unclosed-bracket", "lines:\n  - one\n  - [unclosed\n", "in.yaml:", "malformed"),
    inputs_case("inputs-tab-indentation", "lines:\n\t- a\n", "in.yaml:2", "malformed"),
    inputs_case("inputs-python-tag", "lines: !!python/object/apply:os.system ['touch pwned']\n",
                "in.yaml:1", "tag"),
    inputs_case("inputs-unknown-local-tag", "lines: !thing [a]\n", "in.yaml:1", "tag"),
    inputs_case("inputs-two-documents", "lines: [a]\n---\nlines: [b]\n", "in.yaml:2", "malformed"),
    inputs_case("inputs-json-duplicate-key", '{"lines": ["a"],\n "lines": ["b"]}\n', "in.json:1",
                "duplicate key 'lines'", name="in.json"),
    inputs_case("inputs-json-nested-duplicate", '{"lines": [\n  {"a": 1, "a": 2}]}\n', "in.json:2",
                "duplicate", name="in.json"),
    inputs_case("inputs-json-syntax", '{"lines": ["a",\n  ]}\n', "in.json:2", "malformed",
                name="in.json"),
    inputs_case("inputs-json-deep", '{"lines": ' + "[" * 5000 + "]" * 5000 + "}", "in.json:1",
                "nest", name="in.json"),
    inputs_case("inputs-json-moderately-deep", '{"lines": ' + "[" * 150 + "]" * 150 + "}", "in.json:1",
                "nesting deeper", name="in.json"),
    inputs_case("inputs-json-top-level-list", '["a"]', "in.json:1", "list", name="in.json"),
    inputs_case("inputs-json-value-not-list", '{"lines": 3}', "in.json:1", "list", name="in.json"),
    inputs_case("inputs-json-unknown-name", '{"lines": [], "nope": []}', "in.json", "unknown input 'nope'",
                name="in.json"),
    inputs_case("inputs-json-binary", bytes(range(128, 256)), "in.json:1", "not UTF-8", name="in.json"),
    inputs_case("inputs-json-utf16", '{"lines": []}'.encode("utf-16"), "in.json:1", "UTF-16",
                name="in.json"),
    inputs_case("inputs-json-extra-data", '{"lines": []}\n{"lines": []}\n', "in.json:2", "Extra data",
                name="in.json"),
    run_case("inputs-missing-file", ["run", "{d}/wc.py", "--inputs", "{d}/missing.yaml"],
             ("missing.yaml", "cannot read")),
    Case("inputs-a-directory", ["run", "{d}/wc.py", "--inputs", "{d}/sub"], ("sub", "cannot read"),
         {"wc.py": WC, "sub/keep.txt": "x"}),
    Case("check-inputs-duplicate-key", ["check", "{d}/wc.py", "--plan", "{d}/plan.yaml", "--inputs",
                                        "{d}/in.yaml"], ("in.yaml:2", "duplicate"),
         {"wc.py": WC, "plan.yaml": PLAN, "in.yaml": "lines: [a]\nlines: [b]\n"}),
    Case("check-default-inputs-alias", ["check", "{d}/wc.py", "--plan", "{d}/plan.yaml"],
         ("wc.yaml:2", "alias"), {"wc.py": WC, "plan.yaml": PLAN, "wc.yaml": "x: &x [a]\nlines: *x\n"}),
    Case("inputs-record-does-not-fit-its-dtype", ["run", "{d}/pairs.py", "--inputs", "{d}/in.yaml"],
         ("in.yaml:3", "input 'readings' is declared (int64, float64); its record 2 does not fit", "oops"),
         {"pairs.py": PAIRS, "in.yaml": "readings:\n  - [1, 2.5]\n  - [2, oops]\n"}),
    Case("inputs-tick-record-does-not-fit-its-dtype", ["run", "{d}/pairs.py", "--inputs", "{d}/in.yaml"],
         ("in.yaml:4", "input 'readings' is declared", "record 1"),
         {"pairs.py": PAIRS, "in.yaml": "ticks:\n  - readings: [[1, 2.5]]\n  - readings:\n    - [x, 1.0]\n"}),
    Case("check-inputs-record-does-not-fit-its-dtype",
         ["check", "{d}/pairs.py", "--plan", "{d}/plan.yaml", "--inputs", "{d}/in.json"],
         ("in.json:1", "input 'readings' is declared", "record 2"),
         {"pairs.py": PAIRS, "plan.yaml": "steps:\n  - decouple: {operators: [positive], to: b}\n",
          "in.json": '{"readings": [[1, 2.5], [2, "x"]]}'}),
    Case("check-inputs-unknown-name", ["check", "{d}/wc.py", "--plan", "{d}/plan.yaml", "--inputs",
                                       "{d}/in.yaml"], ("in.yaml:1", "unknown input 'words'"),
         {"wc.py": WC, "plan.yaml": PLAN, "in.yaml": "words: [a]\n"}),
]

PLAN_CASES = [
    plan_case("plan-duplicate-steps-key", PLAN + "steps: []\n", "plan.yaml:3", "duplicate key 'steps'"),
    plan_case("plan-duplicate-argument", "steps:\n  - decouple: {operators: [words], to: a, to: b}\n",
              "plan.yaml:2", "duplicate key 'to'"),
    plan_case("plan-merge-key", "defaults: &d {to: agg}\nsteps:\n  - decouple: {<<: *d, operators: [x]}\n",
              "plan.yaml:3", "alias"),
    plan_case("plan-merge-key-inline", "steps:\n  - decouple:\n      <<: {to: agg}\n      operators: [x]\n",
              "plan.yaml:3", "merge"),
    plan_case("plan-alias", "steps: &s\n  - decouple: {operators: [x], to: a}\nmore: *s\n", "plan.yaml:3",
              "alias"),
    plan_case("plan-binary", bytes(range(256)) * 8, "plan.yaml:2", "not UTF-8"),
    plan_case("plan-utf16", PLAN.encode("utf-16"), "plan.yaml:1", "UTF-16"),
    plan_case("plan-deep-nesting", "steps: " + "[" * 4000 + "]" * 4000 + "\n", "plan.yaml:1", "nesting"),
    plan_case("plan-yaml-syntax", "steps:\n  - decouple: {operators: [x], to: a\n", "plan.yaml:", "malformed"),
    plan_case("plan-python-tag", "steps: !!python/object/apply:os.system ['touch pwned']\n",
              "plan.yaml:1", "tag"),
    plan_case("plan-empty-file", "", "plan.yaml:1", "'steps:'"),
    plan_case("plan-top-level-list", "- decouple: {operators: [x], to: a}\n", "plan.yaml:1", "'steps:'"),
    plan_case("plan-steps-not-a-list", "steps: {decouple: {}}\n", "plan.yaml:1", "'steps:'"),
    plan_case("plan-unknown-top-key", PLAN + "stepz: []\n", "plan.yaml:3", "unknown plan key 'stepz'"),
    plan_case("plan-unknown-step", "steps:\n  - shard: {n: 2}\n", "plan.yaml:2", "unknown step 'shard'"),
    plan_case("plan-step-kind-integer", "steps:\n  - 5: {n: 2}\n", "plan.yaml:2", "unknown step 5"),
    plan_case("plan-step-not-a-mapping", "steps:\n  - decouple\n", "plan.yaml:2", "one-key mapping"),
    plan_case("plan-step-two-keys", "steps:\n  - decouple: {operators: [x], to: a}\n    fuse: {}\n",
              "plan.yaml:2", "one-key mapping"),
    plan_case("plan-arguments-not-a-mapping", "steps:\n  - decouple: [x, a]\n", "plan.yaml:2", "mapping"),
    plan_case("plan-missing-argument", "steps:\n  - decouple: {operators: [x]}\n", "plan.yaml:2", "lacks 'to'"),
    plan_case("plan-unknown-argument", "steps:\n  - decouple: {operators: [x], to: a, n: 3}\n",
              "plan.yaml:2", "no argument 'n'"),
    plan_case("plan-operators-not-a-list", "steps:\n  - decouple: {operators: words, to: a}\n",
              "plan.yaml:2", "'operators' must be a list"),
    plan_case("plan-operators-integer", "steps:\n  - decouple: {operators: [words, 3], to: a}\n",
              "plan.yaml:2", "operator name 3 is not a string"),
    plan_case("plan-operators-boolean", "steps:\n  - decouple: {operators: [yes], to: a}\n",
              "plan.yaml:2", "quote"),
    plan_case("plan-operators-empty", "steps:\n  - decouple: {operators: [], to: a}\n", "plan.yaml:2",
              "at least one"),
    plan_case("plan-stage-integer", "steps:\n  - decouple: {operators: [count_per_word], to: 7}\n",
              "plan.yaml:2", "'to' must be a string"),
    plan_case("plan-stage-name-300-chars",
              f"steps:\n  - decouple: {{operators: [count_per_word], to: {'s' * 300}}}\n",
              "plan.yaml:2", "1 to 64 characters", "300"),
    plan_case("plan-stage-name-path", "steps:\n  - decouple: {operators: [count_per_word], to: ../evil}\n",
              "plan.yaml:2", "letters, digits"),
    plan_case("plan-stage-name-space", "steps:\n  - decouple: {operators: [count_per_word], to: 'a b'}\n",
              "plan.yaml:2", "letters, digits"),
    plan_case("plan-stage-name-empty", "steps:\n  - decouple: {operators: [count_per_word], to: ''}\n",
              "plan.yaml:2", "1 to 64"),
    plan_case("plan-stage-name-dash-first", "steps:\n  - partition: {stage: -x, n: 2}\n", "plan.yaml:2",
              "letters, digits"),
    plan_case("plan-n-string", PLAN + "  - partition: {stage: agg, n: two}\n", "plan.yaml:3",
              "'n' must be an integer"),
    plan_case("plan-n-boolean", PLAN + "  - partition: {stage: agg, n: true}\n", "plan.yaml:3",
              "'n' must be an integer"),
    plan_case("plan-n-float", PLAN + "  - partition: {stage: agg, n: 2.5}\n", "plan.yaml:3", "'n'"),
    plan_case("plan-n-zero", PLAN + "  - partition: {stage: agg, n: 0}\n", "plan.yaml:3", "between 1 and"),
    plan_case("plan-n-negative", PLAN + "  - partition: {stage: agg, n: -1}\n", "plan.yaml:3", "between 1"),
    plan_case("plan-n-ten-thousand", PLAN + "  - partition: {stage: agg, n: 10000}\n", "plan.yaml:3",
              "1024"),
    plan_case("plan-replicate-n-huge", PLAN + "  - replicate: {stage: agg, n: 100000}\n", "plan.yaml:3",
              "1024"),
    plan_case("plan-key-bogus", PLAN + "  - partition: {stage: agg, n: 2, key: bogus}\n", "plan.yaml:3",
              "auto or a list"),
    plan_case("plan-key-negative", PLAN + "  - partition: {stage: agg, n: 2, key: [-1]}\n",
              "plan.yaml:3", "field indices"),
    plan_case("plan-key-boolean", PLAN + "  - partition: {stage: agg, n: 2, key: [true]}\n",
              "plan.yaml:3", "field indices"),
    plan_case("plan-key-strings", PLAN + "  - partition: {stage: agg, n: 2, key: [word]}\n",
              "plan.yaml:3", "field indices"),
    plan_case("plan-key-mapping", PLAN + "  - partition: {stage: agg, n: 2, key: {a: 0}}\n",
              "plan.yaml:3", "'key' must be"),
    plan_case("plan-key-beyond-declared-tuple", "steps:\n  - partition: {stage: main, n: 2, key: [2]}\n",
              "plan.yaml:2", "'readings'", "2-tuple", program="pairs.py", source=PAIRS),
    plan_case("plan-key-beyond-declared-tuple-check", "steps:\n  - partition: {stage: main, n: 2, key: [0, 1]}\n",
              "plan.yaml:2", "scalar", program="pairs.py", source=PAIRS, command="explain"),
    plan_case("plan-key-beyond-built-tuple",
              "steps:\n  - decouple: {operators: [copy], to: b}\n  - partition: {stage: b, n: 2, key: [4]}\n",
              "plan.yaml:3", "2-tuple", program="tagged.py", source=TAGGED),
    plan_case("plan-key-beyond-built-tuple-compile",
              "steps:\n  - decouple: {operators: [copy], to: b}\n  - partition: {stage: b, n: 2, key: [4]}\n",
              "plan.yaml:3", "2-tuple", program="tagged.py", source=TAGGED, command="compile"),
    plan_case("plan-key-beyond-a-keyed-state", PLAN + "  - partition: {stage: agg, n: 2, key: [5]}\n",
              "plan.yaml:3", "routing key [5] of 'ones_to_agg' is beyond its records",
              "key index 5 is beyond the records' width 2"),
    plan_case("plan-index-bogus", "steps:\n  - lattice: {operator: count_per_word, as: sealed_set, "
              "index: [a]}\n", "plan.yaml:2", "field indices"),
    plan_case("plan-duplicates-not-bool", PLAN + "  - reorder: {channel: ones_to_agg, duplicates: maybe}\n",
              "plan.yaml:3", "'duplicates' must be true or false"),
    plan_case("plan-unknown-operator", "steps:\n  - decouple: {operators: [nope], to: a}\n", "plan.yaml:2",
              "no operator named 'nope'"),
    plan_case("plan-unknown-stage", "steps:\n  - partition: {stage: nowhere, n: 2}\n", "plan.yaml:2",
              "nowhere"),
    plan_case("plan-refused-partition", "steps:\n  - partition: {stage: main, n: 2}\n", "plan.yaml:2",
              "total_words"),
    plan_case("plan-explain-duplicate", PLAN + "steps: []\n", "plan.yaml:3", "duplicate", command="explain"),
    plan_case("plan-compile-duplicate", PLAN + "steps: []\n", "plan.yaml:3", "duplicate", command="compile"),
    plan_case("plan-check-duplicate", PLAN + "steps: []\n", "plan.yaml:3", "duplicate", command="check"),
    plan_case("plan-compile-stage-name-long",
              f"steps:\n  - decouple: {{operators: [count_per_word], to: {'x' * 300}}}\n", "plan.yaml:2",
              "64", command="compile"),
    plan_case("plan-check-key-bogus", PLAN + "  - partition: {stage: agg, n: 2, key: bogus}\n",
              "plan.yaml:3", "auto", command="check"),
    run_case("plan-missing-file", ["run", "{d}/wc.py", "--plan", "{d}/nope.yaml"], ("nope.yaml", "cannot read")),
]

PROGRAM_CASES = [
    program_case("program-syntax-error", """
        import hydropy as hp

        flow = hp.Flow("bad"
        def oops(:
            pass
    """, "prog.py:", "SyntaxError"),
    program_case("program-raises-at-import", """
        import hydropy as hp
        settings = {}
        port = settings["port"]
    """, "prog.py:3", "KeyError"),
    program_case("program-missing-dependency", """
        import hydropy as hp
        import not_a_real_dependency_xyz
    """, "prog.py:2", "not_a_real_dependency_xyz"),
    program_case("program-exits-at-import", """
        import sys
        sys.exit(3)
    """, "prog.py:2", "SystemExit"),
    program_case("program-no-flow", "import hydropy as hp\nx = 3\n", "prog.py:1", "no hydropy Flow"),
    program_case("program-several-flows", """
        import hydropy as hp
        a = hp.Flow("a")
        b = hp.Flow("b")
    """, "prog.py:3", "several"),
    program_case("program-attr-missing", "import hydropy as hp\nf = hp.Flow('f')\n", "prog.py:1", "'nope'",
                 attr=":nope"),
    # a function taking arguments is read as a plain function to lift: this one has no loop
    program_case("program-attr-needs-arguments", """
        import hydropy as hp

        def build(n, m):
            return hp.Flow("f")
    """, "prog.py:3", "build", "no loop over its inputs", attr=":build"),
    program_case("program-attr-raises", """
        import hydropy as hp

        def build():
            config = {}
            return hp.Flow(config["name"])
    """, "prog.py:5", "KeyError", attr=":build"),
    program_case("program-attr-raises-deeper", """
        import hydropy as hp

        def helper():
            return 1 / 0

        def build():
            helper()
    """, "prog.py:4", "ZeroDivisionError", attr=":build"),
    program_case("program-attr-not-a-flow", "def build():\n    return 3\n", "prog.py:1", "is an int, not a hydropy Flow",
                 attr=":build"),
    program_case("program-attr-a-number", "y = 2\nx = 3\n", "prog.py:2", "not a hydropy Flow", attr=":x"),
    program_case("program-attr-class-needing-arguments", """
        class Builder:
            def __init__(self, n):
                self.n = n
    """, "prog.py:1", "arguments", attr=":Builder"),
    program_case("program-attr-build-error", """
        import hydropy as hp

        def build():
            flow = hp.Flow("f")
            flow.source("xs").map(None).sink("out")
            return flow
    """, "prog.py:5", "callable", attr=":build"),
    program_case("program-not-callable-function", """
        import hydropy as hp

        flow = hp.Flow("bad")
        flow.source("lines").map("upper").sink("out")
    """, "prog.py:4", "callable"),
    program_case("program-wrong-arity", """
        import hydropy as hp

        def add(a, b, c):
            return a + b + c

        flow = hp.Flow("bad")
        flow.source("nums").fold(int, add).sink("total")
    """, "prog.py:7", "add"),
    program_case("program-sink-twice", """
        import hydropy as hp

        flow = hp.Flow("bad")
        lines = flow.source("lines")
        lines.sink("out")
        lines.map(len).sink("out")
    """, "prog.py:6", "twice"),
    program_case("program-operator-name-twice", """
        import hydropy as hp

        flow = hp.Flow("bad")
        lines = flow.source("lines")
        lines.map(len, name="m").sink("a")
        lines.map(str, name="m").sink("b")
    """, "prog.py:6", "'m'"),
    program_case("program-cycle-without-tick", """
        import hydropy as hp

        flow = hp.Flow("bad")
        handle, later = flow.forward_ref()
        derived = later.map(lambda x: x + 1)
        handle.complete(derived)
        derived.sink("out")
    """, "prog.py:", "never crosses a tick"),
    program_case("program-explain-raises", "raise RuntimeError('boom')\n", "prog.py:1", "boom",
                 command="explain"),
    Case("program-check-syntax", ["check", "{d}/prog.py", "--all-plans"], ("prog.py:1", "SyntaxError"),
         {"prog.py": "def (:\n"}),
    Case("program-binary-file", ["run", "{d}/prog.py"], ("prog.py",), {"prog.py": bytes(range(256))}),
    Case("program-missing-file", ["run", "{d}/nowhere.py"], ("nowhere.py",)),
    Case("program-missing-module", ["run", "no_such_package_xyz.module:flow"], ("no_such_package_xyz",)),
    Case("program-multiline-exception", ["run", "{d}/prog.py"], ("prog.py:1", "first | second"),
         {"prog.py": "raise ValueError('first\\nsecond')\n"}),
    Case("program-keyed-record-shape", ["run", "{d}/prog.py", "--inputs", "{d}/in.yaml"],
         ("prog.py:4", "sum_per_key"),
         {"prog.py": dedent("""
             import hydropy as hp

             flow = hp.Flow("keyed")
             flow.source("pairs").fold_keyed(int, lambda a, v: a + v, name="sum_per_key").sink("s")
         """), "in.yaml": "pairs: [[a, 1], [a, 2, 3]]\n"}),
]

COMPILED_CASES = [
    compiled_case("compiled-deploy-binary", write_file("deploy.yaml", bytes(range(256))), "deploy.yaml:2",
                  "not UTF-8"),
    compiled_case("compiled-deploy-utf16", lambda out: (out / "deploy.yaml").write_bytes(
        (out / "deploy.yaml").read_text().encode("utf-16")), "deploy.yaml:1", "UTF-16"),
    compiled_case("compiled-deploy-malformed", write_file("deploy.yaml", "stages: [\n  {name: x\n"),
                  "deploy.yaml:", "malformed"),
    compiled_case("compiled-deploy-a-list", write_file("deploy.yaml", "- a\n- b\n"), "deploy.yaml:1",
                  "mapping"),
    compiled_case("compiled-deploy-empty", write_file("deploy.yaml", ""), "deploy.yaml:1", "mapping"),
    compiled_case("compiled-deploy-duplicate-key", edit_deploy("flow: wc\n", "flow: wc\nflow: other\n"),
                  "deploy.yaml:3", "duplicate key 'flow'"),
    compiled_case("compiled-deploy-alias", edit_deploy("sources: []", "sources: *s"), "deploy.yaml:",
                  "alias"),
    compiled_case("compiled-members-zero", edit_deploy("members: 2", "members: 0"), "deploy.yaml:17",
                  "members: 0"),
    compiled_case("compiled-members-negative", edit_deploy("members: 2", "members: -1"), "deploy.yaml:17",
                  "integer >= 1"),
    compiled_case("compiled-members-string", edit_deploy("members: 2", "members: two"), "deploy.yaml:17",
                  "integer"),
    compiled_case("compiled-members-boolean", edit_deploy("members: 2", "members: true"), "deploy.yaml:17",
                  "integer"),
    compiled_case("compiled-members-float", edit_deploy("members: 2", "members: 1.5"), "deploy.yaml:17",
                  "integer"),
    compiled_case("compiled-members-of-unpartitioned-stage", edit_deploy("members: 1", "members: 2"),
                  "deploy.yaml:9", "'main' cannot run on 2 members"),
    compiled_case("compiled-members-resizable-removed", edit_deploy("  resizable: true\n", ""),
                  "deploy.yaml:", "cannot run on 2 members"),
    compiled_case("compiled-members-beyond-cpus", edit_deploy("members: 2", "members: 100000"),
                  "stage 'agg' has 100000", "--allow-oversubscribe"),
    compiled_case("compiled-stage-file-deleted", remove("stages/agg.py"), "deploy.yaml:", "stages/agg.py",
                  "missing"),
    compiled_case("compiled-stages-dir-deleted", remove("stages"), "deploy.yaml:", "missing"),
    compiled_case("compiled-stage-syntax-error", (lambda out: (out / "stages" / "agg.py")
                  .write_text((out / "stages" / "agg.py").read_text() + "\ndef broken(:\n")),
                  "agg.py:", "does not parse"),
    compiled_case("compiled-stage-binary", write_file("stages/agg.py", b"\x00\x01\x02"), "agg.py:1",
                  "stage 'agg'"),
    compiled_case("compiled-stage-file-escapes", edit_deploy("file: stages/agg.py", "file: ../../agg.py"),
                  "deploy.yaml:", "stages/NAME.py"),
    compiled_case("compiled-stage-class-bogus", edit_deploy("class: AggStage", "class: 'not a name'"),
                  "deploy.yaml:", "not a Python name"),
    compiled_case("compiled-stages-empty", lambda out: _rewrite_manifest(out, stages=[]), "deploy.yaml:",
                  "'stages' is empty"),
    compiled_case("compiled-stages-not-a-list", lambda out: _rewrite_manifest(out, stages="main"),
                  "deploy.yaml:", "'stages' must be a list"),
    compiled_case("compiled-missing-channels", lambda out: _rewrite_manifest(out, channels=None),
                  "deploy.yaml:", "lacks 'channels'"),
    compiled_case("compiled-stage-missing-members", edit_deploy("  members: 2\n", ""), "deploy.yaml:",
                  "lacks 'members'"),
    compiled_case("compiled-duplicate-stage", edit_deploy("name: total", "name: agg"), "deploy.yaml:",
                  "listed twice"),
    compiled_case("compiled-channel-unknown-stage", edit_deploy("to: total", "to: nowhere"),
                  "deploy.yaml:", "unknown stage 'nowhere'"),
    compiled_case("compiled-channel-routing-bogus", edit_deploy("routing: hash", "routing: magic"),
                  "deploy.yaml:", "routing 'magic'"),
    compiled_case("compiled-hash-without-key", edit_deploy("  key:\n  - 0\n", "  key: null\n"),
                  "deploy.yaml:", "no key"),
    compiled_case("compiled-key-bogus", edit_deploy("  - 0\n", "  - zero\n"), "deploy.yaml:",
                  "field indices"),
    compiled_case("compiled-sink-unknown-stage", edit_deploy("stage: total", "stage: gone"),
                  "deploy.yaml:", "unknown stage 'gone'"),
    compiled_case("compiled-sink-kind-bogus", edit_deploy("kind: singleton", "kind: heap"),
                  "deploy.yaml:", "kind 'heap'"),
    compiled_case("compiled-program-missing", remove("program"), "deploy.yaml:", "program/wc.py"),
    compiled_case("compiled-module-bogus", edit_deploy("module: wc", "module: 'os; rm'"), "deploy.yaml:",
                  "module name"),
    compiled_case("compiled-no-deploy", remove("deploy.yaml"), "out", "not a compiled program"),
    compiled_case("compiled-unknown-input", write_file("../in.yaml", "lines: [a]\nwords: [b]\n"),
                  "in.yaml:2", "unknown input 'words'", argv=["run", "{d}/out", "--inputs", "{d}/in.yaml"]),
    compiled_case("compiled-inputs-duplicate", write_file("../in.yaml", "lines: [a]\nlines: [b]\n"),
                  "in.yaml:2", "duplicate", argv=["run", "{d}/out", "--inputs", "{d}/in.yaml"]),
    compiled_case("compiled-with-plan", lambda out: None, "--plan",
                  argv=["run", "{d}/out", "--plan", "{d}/plan.yaml"]),
]

OUTPUT_CASES = [
    Case("output-is-a-file", ["compile", "{d}/wc.py", "-o", "{d}/wc.py"], ("wc.py", "not a directory"),
         {"wc.py": WC}),
    Case("output-holds-user-files", ["compile", "{d}/wc.py", "-o", "{d}/mine"], ("mine", "--force"),
         {"wc.py": WC, "mine/notes.txt": "mine"}),
    Case("compile-unknown-program", ["compile", "{d}/nope.py", "-o", "{d}/out"], ("nope.py",)),
]

CASES = INPUT_CASES + PLAN_CASES + PROGRAM_CASES + COMPILED_CASES + OUTPUT_CASES


def _rewrite_manifest(out: Path, **changes):
    import yaml
    data = yaml.safe_load((out / "deploy.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    (out / "deploy.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


# -- the harness ------------------------------------------------------------------------------

COMPILE_PLAN = dedent("""
    steps:
      - decouple: {operators: [count_per_word], to: agg}
      - split_fold: {operator: total_words, to: total}
      - partition: {stage: agg, n: 2}
""")


@pytest.fixture(scope="module")
def compiled_wc(tmp_path_factory) -> Path:
    """WC compiled with COMPILE_PLAN: stages main, agg x2 (hash on field 0), total."""
    d = tmp_path_factory.mktemp("compiled")
    (d / "wc.py").write_text(WC)
    (d / "plan.yaml").write_text(COMPILE_PLAN)
    assert main(["compile", str(d / "wc.py"), "--plan", str(d / "plan.yaml"), "-o", str(d / "out")]) == 0
    return d / "out"


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and a marker for every directory) under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_the_table_is_large():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, monkeypatch, compiled_wc):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing a program writes nothing
    monkeypatch.chdir(tmp_path)
    for rel, data in case.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    if case.compiled:
        shutil.copytree(compiled_wc, tmp_path / "out")
        case.compiled(tmp_path / "out")
    before = tree(tmp_path)
    capsys.readouterr()
    code = main([arg.replace("{d}", str(tmp_path)) for arg in case.argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hydropy: error: "), lines[0]
    for fragment in case.expect:
        assert fragment in lines[0], (fragment, lines[0])
    if os.environ.get("HYDROPY_SHOW_ERRORS"):
        print(f"{case.id}: {lines[0]}", file=sys.__stderr__)
    assert tree(tmp_path) == before


# -- strict reading: mechanisms ------------------------------------------------------------------

def test_tags_are_never_executed(tmp_path, monkeypatch):
    """A python tag is refused, not run (the table checks the message; here, its effect)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.yaml").write_text("lines: !!python/object/apply:os.system ['touch pwned']\n")
    from hydropy.errors import InputError
    from hydropy.loader import load_inputs
    with pytest.raises(InputError):
        load_inputs(str(tmp_path / "in.yaml"))
    assert not (tmp_path / "pwned").exists()


def test_billion_laughs_is_refused_without_expanding(tmp_path):
    """Ten levels of ten aliases (10^10 strings) is refused at the first alias, quickly."""
    from hydropy.errors import InputError
    from hydropy.loader import load_inputs
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    (tmp_path / "in.yaml").write_text(text)
    with pytest.raises(InputError, match="alias"):
        load_inputs(str(tmp_path / "in.yaml"))


def test_a_mapping_key_the_user_wrote_once_is_read_once(tmp_path):
    from hydropy.loader import load_inputs
    (tmp_path / "in.yaml").write_text("lines:\n  - {a: 1, b: 2}\n  - [x, [y, z]]\nother: []\n")
    assert load_inputs(str(tmp_path / "in.yaml")) == {"lines": [{"a": 1, "b": 2}, ("x", ("y", "z"))],
                                                      "other": []}


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    from hydropy.loader import load_inputs
    (tmp_path / "in.yaml").write_bytes("lines: [é]\n".encode("utf-8-sig"))
    assert load_inputs(str(tmp_path / "in.yaml")) == {"lines": ["é"]}


def test_depth_limit_accepts_what_records_need(tmp_path):
    from hydropy.loader import load_inputs
    from hydropy.yamlio import MAX_DEPTH
    nested = "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)
    (tmp_path / "in.yaml").write_text(f"lines: [{nested}]\n")
    (tmp_path / "in.json").write_text(f'{{"lines": [{nested}]}}')
    assert load_inputs(str(tmp_path / "in.yaml")) == load_inputs(str(tmp_path / "in.json"))


def test_duplicate_key_mutant_is_caught(tmp_path, monkeypatch):
    """Without the duplicate check (the mutant), the plan's second steps: silently wins."""
    from hydropy.errors import PlanError
    from hydropy.passes.plan import parse_plan
    from hydropy.yamlio import StrictLoader
    text = PLAN + "steps: []\n"
    with pytest.raises(PlanError, match="duplicate"):
        parse_plan(text, "p.yaml")
    monkeypatch.setattr(StrictLoader, "construct_mapping", StrictLoader.__mro__[1].construct_mapping)
    assert parse_plan(text, "p.yaml") == []


def test_alias_mutant_is_caught(monkeypatch):
    """Without the alias refusal, a recursive alias reaches the program as a self-containing list."""
    from hydropy.errors import InputError
    from hydropy.yamlio import StrictLoader, parse_yaml
    with pytest.raises(InputError, match="alias"):
        parse_yaml("lines: &a [*a]\n", "in.yaml", InputError, "inputs file")
    monkeypatch.setattr(StrictLoader, "compose_node", StrictLoader.__mro__[1].compose_node)
    data, _ = parse_yaml("lines: &a [*a]\n", "in.yaml", InputError, "inputs file")
    assert data["lines"][0] is data["lines"]


# -- plans: key paths checked against what is known of the records --------------------------------

def test_key_within_a_declared_tuple_is_accepted(tmp_path):
    from hydropy.loader import load_flow
    from hydropy.passes.plan import apply_plan, parse_plan
    (tmp_path / "pairs.py").write_text(PAIRS)
    flow = load_flow(str(tmp_path / "pairs.py"))
    steps = parse_plan("steps:\n  - partition: {stage: main, n: 2, key: [0]}\n")
    graph = apply_plan(flow.graph(), steps)[-1][1]
    assert graph.members_of("main") == 2


def test_key_check_mutant_is_caught(tmp_path, monkeypatch):
    """Without check_route_keys (and partition's own check of an explicit key), a key beyond a
    known tuple is accepted by the plan (and would fail on Ray); the table's plan-key-beyond-*
    cases catch the mutant."""
    from hydropy.errors import HydropyError
    from hydropy.loader import load_flow
    from hydropy.passes import partition as partition_module
    from hydropy.passes import plan as plan_module
    (tmp_path / "tagged.py").write_text(TAGGED)
    graph = load_flow(str(tmp_path / "tagged.py")).graph()
    steps = plan_module.parse_plan("steps:\n  - decouple: {operators: [copy], to: b}\n"
                                   "  - partition: {stage: b, n: 2, key: [4]}\n")
    with pytest.raises(HydropyError, match="2-tuple"):
        plan_module.apply_plan(graph, steps)
    monkeypatch.setattr(plan_module, "check_route_keys", lambda g: None)
    monkeypatch.setattr(partition_module, "check_key_fits", lambda *args: None)
    plan_module.apply_plan(graph, steps)


def test_key_beyond_an_unknown_record_fails_cleanly_in_the_simulator(tmp_path, capsys, monkeypatch):
    """Where the record shape cannot be told statically, the run fails in one line naming the key."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wc.py").write_text(WC)
    (tmp_path / "in.yaml").write_text(INPUTS)
    (tmp_path / "plan.yaml").write_text(PLAN + "  - partition: {stage: agg, n: 2, key: [0, 9]}\n")
    code = main(["check", "wc.py", "--plan", "plan.yaml", "--inputs", "in.yaml", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "routing key [0, 9]" in err and len(err.splitlines()) == 1


def test_routing_key_error_names_the_channel_in_a_stage():
    from hydropy.errors import PlanError
    from hydropy.runtime.stage import Stage

    class One(Stage):
        NAME = "a"
        CHANNELS_OUT = {"a_to_b": ("hash", (3,))}

        def tick(self):
            return {"a_to_b": [(1, 2)]}

    with pytest.raises(PlanError, match=r"channel 'a_to_b' from stage 'a'.*\[3\].*\(1, 2\)"):
        One(0, 1, {"a_to_b": 2}).run_tick({})


# -- compiled directories: members ----------------------------------------------------------------

def test_a_partitioned_stage_may_change_its_members(compiled_wc, tmp_path):
    """agg is hash-partitioned: 1 or 5 members are valid; the manifest validates."""
    from hydropy.deploy import read_manifest
    for n in (1, 5):
        out = tmp_path / f"n{n}"
        shutil.copytree(compiled_wc, out)
        edit_deploy("members: 2", f"members: {n}")(out)
        assert [s["members"] for s in read_manifest(str(out))["stages"]] == [1, n, 1]


def test_members_mutant_is_caught(compiled_wc, tmp_path, monkeypatch):
    from hydropy import deploy
    from hydropy.errors import LoadError
    out = tmp_path / "out"
    shutil.copytree(compiled_wc, out)
    edit_deploy("members: 1", "members: 2")(out)   # main: direct, one member
    with pytest.raises(LoadError, match="cannot run on 2 members"):
        deploy.read_manifest(str(out))
    monkeypatch.setattr(deploy, "_check_members", lambda *a: None)
    assert deploy.read_manifest(str(out))["stages"][0]["members"] == 2


def test_capacity_is_members_per_cpu_and_overridable():
    from hydropy.deploy import MEMBERS_PER_CPU, check_capacity
    from hydropy.errors import LoadError
    manifest = {"stages": [{"name": "a", "members": 2 * MEMBERS_PER_CPU}, {"name": "b", "members": 1}]}
    check_capacity(manifest, 3)
    with pytest.raises(LoadError, match=r"needs 17 stage members \(stage 'a' has 16\).*2 CPUs"):
        check_capacity(manifest, 2)
    check_capacity(manifest, 2, allow_oversubscribe=True)


def test_oversubscribed_design_on_ray_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch):
    """n within the plan limit but beyond this machine: refused with the flag named; Ray not started."""
    import ray
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    (tmp_path / "wc.py").write_text(WC)
    (tmp_path / "plan.yaml").write_text(PLAN + "  - partition: {stage: agg, n: 1000}\n")
    was_running = ray.is_initialized()
    code = main(["run", "wc.py", "--target", "ray", "--plan", "plan.yaml"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--allow-oversubscribe" in err and len(err.splitlines()) == 1
    assert ray.is_initialized() == was_running


# -- --format json is strict JSON -------------------------------------------------------------

def test_json_output_encodes_nan_and_infinities_as_strings(tmp_path, capsys):
    import json
    (tmp_path / "f.py").write_text(dedent("""
        import hydropy as hp

        flow = hp.Flow("floats")
        flow.source("xs").map(lambda x: float(x), name="as_float").sink("out")
    """))
    (tmp_path / "in.yaml").write_text("xs: [nan, inf, -inf, '1.5']\n")
    assert main(["run", str(tmp_path / "f.py"), "--inputs", str(tmp_path / "in.yaml"),
                 "--format", "json"]) == 0
    text = capsys.readouterr().out

    def strict(name):
        raise ValueError(f"non-standard JSON constant {name}")
    assert json.loads(text, parse_constant=strict) == {"out": ["NaN", "Infinity", "-Infinity", 1.5]}


def test_json_output_encodes_numpy_non_finite():
    import numpy as np

    from hydropy.commands import format_results
    text = format_results({"s": [np.float64("nan"), (np.float32("inf"), 1)]}, "json")
    assert text == '{"s": ["NaN", ["Infinity", 1]]}'


# -- compiled directories: every example design point validates; a resized one runs -------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _programs_for(plan: Path) -> list[str]:
    """Example programs (``file.py`` or ``file.py:flow``) a plan may be written for, by name."""
    from test_examples import PROGRAMS
    stem = plan.stem.removesuffix("_dp" + plan.stem.rpartition("_dp")[2]) if "_dp" in plan.stem else plan.stem
    found = [p for p in PROGRAMS if stem.startswith(Path(p.split(":")[0]).stem)]
    return found + [p for p in PROGRAMS if "_dp" in plan.stem and Path(p.split(":")[0]).stem == stem + "_indexed"]


@pytest.mark.parametrize("plan", sorted((EXAMPLES / "plans").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_design_point_compiles_to_a_valid_manifest(plan, tmp_path):
    from hydropy.deploy import read_manifest
    from hydropy.errors import HydropyError
    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    compiled = []
    for spec in _programs_for(plan):
        out = tmp_path / str(len(compiled))
        try:
            graph = compile_flow(load_flow(str(EXAMPLES.parent / spec)), str(out), plan=str(plan))
        except HydropyError:
            continue
        manifest = read_manifest(str(out))
        assert {s["name"]: s["members"] for s in manifest["stages"]} == \
            {s: graph.members_of(s) for s in graph.locations()}
        assert all(s.get("resizable", False) == (s["members"] > 1) for s in manifest["stages"])
        compiled.append(spec)
    assert compiled, f"no example program takes {plan.name}"


def test_a_partitioned_stage_resized_in_deploy_yaml_runs_as_the_single_node_program(
        ray_session, compiled_wc, tmp_path):
    from hydropy.loader import load_flow
    from hydropy.targets.ray import run_compiled
    out = tmp_path / "out"
    shutil.copytree(compiled_wc, out)
    edit_deploy("members: 2", "members: 3")(out)
    inputs = {"lines": ["the quick brown fox", "the lazy dog", "a b c d e f g the"] * 7}
    (tmp_path / "wc.py").write_text(WC)
    expected = load_flow(str(tmp_path / "wc.py")).run(inputs)
    got = run_compiled(str(out), inputs)
    assert sorted(got["counts"]) == sorted(expected["counts"]) and got["total"] == expected["total"]


def test_steps_given_as_python_objects_may_share_lists():
    """assert_equivalent writes Python steps as YAML: a list used twice must not become an alias."""
    import hydropy as hp
    from hydropy.testing import design_point
    flow = hp.Flow("shared")
    flow.source("xs").map(lambda x: (x, 1), name="a").fold_keyed(int, lambda s, v: s + v, name="f").sink("s")
    ops = ["f"]
    _, graph = design_point(flow, [{"decouple": {"operators": ops, "to": "b"}},
                                   {"decouple": {"operators": ops, "to": "c"}}])
    assert graph.by_name("f").location == "c"


# -- a compiled directory whose stages/ is a symbolic link -------------------------------------

def _linked_stages(tmp_path, compiled_wc) -> Path:
    """A copy of the compiled WC whose stages/ is a link to ``real_stages`` beside it."""
    shutil.copytree(compiled_wc, tmp_path / "out")
    shutil.move(tmp_path / "out" / "stages", tmp_path / "real_stages")
    (tmp_path / "out" / "stages").symlink_to(tmp_path / "real_stages", target_is_directory=True)
    return tmp_path / "out"


def _one_error(argv, capsys) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_stage_missing_behind_a_linked_stages_directory_names_where_it_really_is(tmp_path, capsys,
                                                                                     compiled_wc):
    out = _linked_stages(tmp_path, compiled_wc)
    (tmp_path / "real_stages" / "agg.py").unlink()
    err = _one_error(["run", out], capsys)
    assert "stages/agg.py is missing" in err and "stages is a symbolic link" in err
    assert str(tmp_path / "real_stages" / "agg.py") in err and "does not exist" in err


def test_a_stage_that_does_not_parse_behind_a_link_is_named_at_its_real_path(tmp_path, capsys, compiled_wc):
    out = _linked_stages(tmp_path, compiled_wc)
    with open(tmp_path / "real_stages" / "agg.py", "a") as fh:
        fh.write("\ndef broken(:\n")
    err = _one_error(["run", out], capsys)
    assert f"{tmp_path / 'real_stages' / 'agg.py'}:" in err and "does not parse" in err


def test_compiling_into_a_linked_stages_directory_refuses_the_link(tmp_path, capsys, compiled_wc):
    """Not 'files hydropy did not write' (it wrote them): the link, where it leads, what to do."""
    out = _linked_stages(tmp_path, compiled_wc)
    (tmp_path / "wc.py").write_text(WC)
    (tmp_path / "plan.yaml").write_text(COMPILE_PLAN)
    before = tree(tmp_path / "real_stages")
    err = _one_error(["compile", tmp_path / "wc.py", "--plan", tmp_path / "plan.yaml", "-o", out, "--force"],
                     capsys)
    assert f"{out / 'stages'} is a symbolic link (to {tmp_path / 'real_stages'})" in err
    assert "never through a link" in err and "did not write" not in err
    assert tree(tmp_path / "real_stages") == before


def test_a_compiled_directory_checks_its_inputs_against_the_declared_dtypes(tmp_path, capsys, monkeypatch):
    """deploy.yaml keeps each source's declared dtype, so `hydropy run DIR` refuses a record that
    does not fit where the inputs file holds it, before Ray starts (as `hydropy run PROGRAM`)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    (tmp_path / "pairs.py").write_text(PAIRS)
    (tmp_path / "in.yaml").write_text("readings:\n  - [1, 2.5]\n  - [2, oops]\n")
    assert main(["compile", str(tmp_path / "pairs.py"), "-o", str(tmp_path / "out")]) == 0
    manifest = yaml.safe_load((tmp_path / "out" / "deploy.yaml").read_text())
    assert [src.get("dtype") for st in manifest["stages"] for src in st["sources"]] == ["(int64, float64)"]
    capsys.readouterr()
    assert main(["run", str(tmp_path / "out"), "--inputs", str(tmp_path / "in.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "in.yaml:3" in err and "input 'readings' is declared (int64, float64)" in err, err
    assert len(err.splitlines()) == 1
