"""The Ray target computes what the single-node program computes where processes differ:
str hashing (one PYTHONHASHSEED for every process of a run), the ticks whole inputs are cut
into (``split_ticks``, the same on every target), sink values of the program's own classes
read by the driver, and a program whose file is named like a library. One Ray per session.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from hydropy.loader import load_flow
from hydropy.targets import ray as ray_target
from hydropy.targets import ray_session as session_setup  # (ray_session: the fixture)
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import canonical, run
from hydropy.targets.ray import hash_seed, run_compiled

HASH_KEYS = '''
import hydropy as hp


def tag(name):
    return (hash(name), name)


def keyed(record):
    return (hash(record[0]), record[1])


def pair(joined):
    return joined[1]


flow = hp.Flow("hashkeys")
names = flow.source("names").map(tag, name="tag")
scores = flow.source("scores").map(keyed, name="keyed")
names.join(scores, name="matched").map(pair, name="pair").sink("out")
'''

#: the keys are hashed on the 2 members of main (2 processes) and met by the join on the
#: 2 members of j, routed by the hash value: all of them must hash str alike
HASH_PLAN = '''
steps:
  - decouple: {operators: [matched, pair], to: j}
  - partition: {stage: j, n: 2}
  - partition: {stage: main, n: 2}
'''


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_every_member_hashes_str_under_hydropys_seed(ray_session, tmp_path, monkeypatch):
    """Both ways hydropy seeds workers (the raylet's environment when it starts Ray, the
    actor's runtime_env otherwise) reach the interpreter's start: a member's hash('hydropy')
    is a fresh interpreter's under PYTHONHASHSEED=hash_seed()."""
    program = write(tmp_path, "hashkeys.py", HASH_KEYS)
    compile_flow(load_flow(program), str(tmp_path / "out"), plan=write(tmp_path, "p.yaml", HASH_PLAN))
    expected = int(subprocess.run([sys.executable, "-c", "print(hash('hydropy'))"], capture_output=True,
                                  text=True, env={**os.environ, "PYTHONHASHSEED": hash_seed()},
                                  check=True).stdout)
    seen = []
    original = ray_target._Driver.start

    def start(self):
        refs, labels = self.all_members("start_info")
        seen.append({h for _, h in self.ray.get(refs)})
        return original(self)

    monkeypatch.setattr(ray_target._Driver, "start", start)
    run_compiled(str(tmp_path / "out"), {"names": ["a"], "scores": [("a", 1)]})
    monkeypatch.setattr(session_setup, "_SEEDED_SESSIONS", set())  # a Ray hydropy did not start
    run_compiled(str(tmp_path / "out"), {"names": ["a"], "scores": [("a", 1)]})
    assert seen == [{expected}, {expected}]


def test_keys_made_with_hash_of_str_meet_in_a_partitioned_join(ray_session, tmp_path):
    flow = load_flow(write(tmp_path, "hashkeys.py", HASH_KEYS))
    compile_flow(flow, str(tmp_path / "out"), plan=write(tmp_path, "p.yaml", HASH_PLAN))
    names = [f"user-{i}" for i in range(60)]
    inputs = {"names": names, "scores": [(n, i) for i, n in enumerate(reversed(names))]}
    got = run_compiled(str(tmp_path / "out"), inputs, tick_size=7)
    expected = flow.run(inputs, tick_size=7)
    assert len(expected["out"]) == 60
    assert sorted(got["out"]) == sorted(expected["out"])


def test_members_that_hash_differently_end_the_run(ray_session, tmp_path, monkeypatch):
    """Mutant: members started with random hash seeds. The join then matches almost nothing
    (the differential test above catches it); the start check names the cause instead."""
    from hydropy.errors import HydropyError
    flow = load_flow(write(tmp_path, "hashkeys.py", HASH_KEYS))
    compile_flow(flow, str(tmp_path / "out"), plan=write(tmp_path, "p.yaml", HASH_PLAN))
    names = [f"user-{i}" for i in range(60)]
    inputs = {"names": names, "scores": [(n, i) for i, n in enumerate(reversed(names))]}
    monkeypatch.setattr(ray_target, "actor_options", lambda ray: {
        "num_cpus": 0, "runtime_env": {"env_vars": {"PYTHONHASHSEED": "random"}}})
    with pytest.raises(HydropyError, match="hash str differently"):
        run_compiled(str(tmp_path / "out"), inputs)
    original = ray_target._Driver.start
    monkeypatch.setattr(ray_target._Driver, "start", lambda self: 0.0 if original else None)
    got = run_compiled(str(tmp_path / "out"), inputs)
    assert sorted(got["out"]) != sorted(flow.run(inputs)["out"])


# -- ticks -----------------------------------------------------------------------------------

#: a point-in-time read: a score passes while its name has not been banned so far, so what
#: passes depends on which tick each ban and score falls in
BANS = '''
import hydropy as hp

flow = hp.Flow("bans")
flow.source("scores").anti_join(flow.source("bans"), name="allowed").sink("out")
'''


def ban_inputs():
    names = [f"n{i}" for i in range(23)]
    return {"bans": names, "scores": [(n, i) for i, n in enumerate(reversed(names))]}


def test_ray_and_local_cut_whole_inputs_into_the_same_ticks(ray_session, tmp_path):
    flow = load_flow(write(tmp_path, "bans.py", BANS))
    compile_flow(flow, str(tmp_path / "out"))
    inputs = ban_inputs()
    by_size = {size: flow.run(inputs, tick_size=size)["out"] for size in (4, 5, 10_000)}
    assert len({repr(v) for v in by_size.values()}) == 3  # the tick split shows in the sinks
    assert by_size[10_000] == []  # one tick: every ban is seen before any score passes
    for size in (4, 5):
        assert run_compiled(str(tmp_path / "out"), inputs, tick_size=size)["out"] == by_size[size]


def test_the_cli_takes_one_tick_size_for_every_target(ray_session, tmp_path, capsys):
    import yaml

    from hydropy.cli import main
    program = write(tmp_path, "bans.py", BANS)
    data = tmp_path / "in.yaml"
    data.write_text(yaml.safe_dump({k: [list(r) if isinstance(r, tuple) else r for r in v]
                                    for k, v in ban_inputs().items()}))
    outputs = {}
    for target in ("local", "ray"):
        assert main(["run", program, "--inputs", str(data), "--target", target, "--tick-size", "4",
                     "--format", "json", *(["--check"] if target == "ray" else [])]) == 0
        outputs[target] = capsys.readouterr().out.splitlines()[0]
    assert outputs["local"] == outputs["ray"] != '{"out": []}'
    assert main(["run", program, "--inputs", str(data), "--tick-size", "0"]) == 2
    assert "tick size must be a positive" in capsys.readouterr().err


# -- the program's module in the driver and in the actors --------------------------------------

USER_LATTICE = '''
import hydropy as hp
from hydropy.lattices import Lattice


class Longest(Lattice):
    """The longest string seen (ties: the larger)."""

    def __init__(self, value=""):
        self.value = value

    @classmethod
    def bottom(cls):
        return cls()

    def merge(self, other):
        best = max(self.value, other.value, key=lambda s: (len(s), s))
        changed = best != self.value
        self.value = best
        return changed

    def reveal(self):
        return self.value

    def __eq__(self, other):
        return type(other) is type(self) and other.value == self.value

    def __repr__(self):
        return f"Longest({self.value!r})"


def lift(word):
    return Longest(word)


flow = hp.Flow("longest")
flow.source("words").map(lift, name="lift").lattice_fold(Longest, name="best").sink("best")
'''


def test_hydropy_run_dir_reads_sinks_holding_the_programs_own_lattice(ray_session, tmp_path):
    """The driver of ``hydropy run DIR`` has no copy of the program on its path: it imports the
    compiled directory's copy, under the stages' module name, to read such a sink."""
    import json

    program = write(tmp_path, "longest_words.py", USER_LATTICE)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "hydropy", "compile", program, "-o", str(out)],
                   check=True, capture_output=True, cwd=tmp_path)
    (tmp_path / "in.json").write_text(json.dumps({"words": ["a", "ccc", "bb", "ddd"]}))
    proc = subprocess.run([sys.executable, "-m", "hydropy", "run", str(out), "--inputs",
                           str(tmp_path / "in.json")], capture_output=True, text=True,
                          cwd=str(tmp_path.parent), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["best (1 record)", "  Longest('ddd')"]


def test_flow_run_on_ray_returns_the_users_own_lattice_class(ray_session, tmp_path):
    flow = load_flow(write(tmp_path, "longest_words.py", USER_LATTICE))
    got = flow.run({"words": ["a", "ccc", "bb"]}, target="ray")
    assert got == flow.run({"words": ["a", "ccc", "bb"]})
    assert type(got["best"][0]) is type(flow.run({"words": ["x"]})["best"][0])


LIBRARY_NAMED = '''
import hydropy as hp


def shout(word):
    return word.upper()


flow = hp.Flow("shadow")
flow.source("words").map(shout, name="shout").count(name="n").sink("n")
flow.source("more").map(shout, name="shout_more").sink("loud")
'''


@pytest.mark.parametrize("name", ["networkx", "yaml", "numpy", "json"])
def test_a_program_named_like_a_library_runs_on_ray_as_locally(ray_session, tmp_path, name):
    """Stages import such a program under a private name, loaded from its file: the library
    (which hydropy imports in every actor) is not shadowed, the program not mistaken for it."""
    directory = tmp_path / "prog"
    directory.mkdir()
    flow = load_flow(write(directory, f"{name}.py", LIBRARY_NAMED))
    compile_flow(flow, str(tmp_path / "out"), plan=write(tmp_path, "p.yaml",
                 "steps:\n  - decouple: {operators: [n], to: counter}\n"))
    stage = (tmp_path / "out" / "stages" / "main.py").read_text()
    assert f"from hydropy_program_{name} import shout" in stage
    inputs = {"words": ["a", "b"], "more": ["c"]}
    assert run_compiled(str(tmp_path / "out"), inputs) == flow.run(inputs) == {"n": [2], "loud": ["C"]}


def test_a_program_copy_under_a_taken_name_is_refused_in_one_line(tmp_path):
    """Mutant of the private name: a compiled directory whose stages import the program as
    'networkx' is refused when loaded, instead of running networkx's functions (or failing)."""
    from hydropy.errors import LoadError
    from hydropy.runtime.host import load_program
    copy = tmp_path / "networkx.py"
    copy.write_text(textwrap.dedent(LIBRARY_NAMED))
    with pytest.raises(LoadError, match="cannot be imported as 'networkx'.*recompile"):
        load_program("networkx", str(copy))


def test_local_run_of_whole_inputs_is_split_into_ticks():
    """``run(graph, inputs)`` is ``run(graph, ticks=split_ticks(inputs))``, not one tick."""
    import hydropy as hp
    flow = hp.Flow("peek")
    flow.source("xs").count(name="n").snapshot(name="peek").sink("seen")
    assert run(flow.graph(), {"xs": list(range(5))}, tick_size=2) == {"seen": [2, 4, 5]}
    assert canonical(flow.graph(), flow.run({"xs": list(range(5))})) == {"seen": [5]}


HASH_SINK = '''
import hydropy as hp


def hashed(word):
    return (word, hash(word))


flow = hp.Flow("hashes")
flow.source("words").map(hashed, name="hashed").sink("out")
'''


@pytest.mark.parametrize("seed", [None, "12345"])
def test_hydropy_run_hashes_as_its_actors_for_check(tmp_path, seed):
    """The command restarts itself under the run's seed (the environment's when it is a
    number), so the single-node run of ``--check`` in the driver hashes str as the members."""
    import json
    program = tmp_path / "hashes.py"
    program.write_text(textwrap.dedent(HASH_SINK))
    (tmp_path / "in.json").write_text(json.dumps({"words": ["apple", "pear"]}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "RAY_ADDRESS")}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "hydropy"), "run",
                           str(program), "--target", "ray", "--inputs", str(tmp_path / "in.json"),
                           "--check", "--format", "json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "check: same sinks" in proc.stderr
    expected = subprocess.run([sys.executable, "-c", "print(hash('apple'))"], text=True,
                              capture_output=True, env={**env, "PYTHONHASHSEED": seed if seed and
                                                        seed.isdigit() else "0"}).stdout
    assert json.loads(proc.stdout)["out"][0] == ["apple", int(expected)]
