"""hydropy writes, replaces and removes only files it generated (issue 10, "Data loss"), fails
cleanly on output locations it cannot write, and runs a compiled directory only with the
program copy inside it ("A compiled directory whose program/ is missing")."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hydropy.errors import LoadError
from hydropy.loader import load_flow
from hydropy.targets import output
from hydropy.deploy import read_manifest
from hydropy.runtime.host import load_stage_class
from hydropy.targets.compile import compile_flow
from hydropy.targets.output import MANIFEST, sha256

REPO_ROOT = Path(__file__).resolve().parent.parent
PLANS = {"one": None, "two": "examples/plans/wordcount_2stage.yaml"}


def cli(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "hydropy", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def tree(root) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), __pycache__ aside."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


def leftovers(parent) -> list[str]:
    return [p for _, dirs, files in os.walk(parent) for p in dirs + files if p.startswith(".hydropy-")
            and p != MANIFEST]


@pytest.fixture(scope="module")
def wordcount():
    return load_flow(str(REPO_ROOT / "examples" / "wordcount.py"))


def compile_wc(flow, root, out, plan="one", force=False):
    p = PLANS[plan]
    compile_flow(flow, str(out), plan=str(root / p) if p else None, force=force,
                 program_arg="examples/wordcount.py")


# -- the manifest and what a recompile may touch ----------------------------------------------

def test_the_manifest_records_every_generated_file(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    files = json.loads((out / MANIFEST).read_text())["files"]
    on_disk = tree(out)
    assert set(files) == set(on_disk) - {MANIFEST}
    assert {"deploy.yaml", "main.py", "program/wordcount.py", "stages/main.py", "stages/agg.py"} == set(files)
    assert all(sha256(on_disk[rel]) == digest for rel, digest in files.items())


def test_recompiling_keeps_user_files_and_removes_stale_generated_ones(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    mine = {"notes.txt": b"mine", "stages/helper.py": b"x = 1\n", "program/data.csv": b"1,2\n",
            "inputs.yaml": b"lines: [a]\n"}
    for rel, data in mine.items():
        (out / rel).write_bytes(data)
    compile_wc(wordcount, repo_root, out, "one")
    after = tree(out)
    assert "stages/agg.py" not in after  # hydropy's, no longer generated
    assert all(after[rel] == data for rel, data in mine.items())
    compile_wc(wordcount, repo_root, out, "two", force=True)
    assert all(tree(out)[rel] == data for rel, data in mine.items())


def test_force_keeps_an_edited_generated_file_as_orig(wordcount, repo_root, tmp_path, capsys):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    for rel in ("stages/main.py", "program/wordcount.py"):
        (out / rel).write_text((out / rel).read_text() + "# my change\n")
    with pytest.raises(LoadError, match=r"hand-edited files \(program/wordcount.py, stages/main.py\)"):
        compile_wc(wordcount, repo_root, out, "two")
    assert (out / "stages" / "main.py").read_text().endswith("# my change\n")
    capsys.readouterr()
    compile_wc(wordcount, repo_root, out, "two", force=True)
    assert (out / "stages" / "main.py.orig").read_text().endswith("# my change\n")
    assert (out / "program" / "wordcount.py.orig").read_text().endswith("# my change\n")
    assert not (out / "stages" / "main.py").read_text().endswith("# my change\n")
    err = capsys.readouterr().err
    assert "kept the edited copy as" in err and "main.py.orig" in err
    (out / "stages" / "main.py").write_text("edited again\n")
    compile_wc(wordcount, repo_root, out, "two", force=True)
    assert (out / "stages" / "main.py.orig2").read_text() == "edited again\n"  # never overwritten


def test_an_edited_stale_file_is_kept_not_removed(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    (out / "stages" / "agg.py").write_text("mine now\n")
    with pytest.raises(LoadError, match="hand-edited files"):
        compile_wc(wordcount, repo_root, out, "one")
    compile_wc(wordcount, repo_root, out, "one", force=True)
    assert not (out / "stages" / "agg.py").exists()
    assert (out / "stages" / "agg.py.orig").read_text() == "mine now\n"


def test_a_user_file_where_hydropy_would_write_is_refused_even_with_force(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "one")
    (out / "stages" / "agg.py").write_text("my own agg\n")
    before = tree(out)
    for force in (False, True):
        with pytest.raises(LoadError, match=r"files hydropy did not write .*\(stages/agg.py\)"):
            compile_wc(wordcount, repo_root, out, "two", force=force)
        assert tree(out) == before


def test_a_foreign_directory_needs_force_and_keeps_its_files(wordcount, repo_root, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "x.py").write_text("x")
    with pytest.raises(LoadError, match="holds no compiled program"):
        compile_wc(wordcount, repo_root, tmp_path, "one")
    assert sorted(tree(tmp_path)) == ["notes.txt", "stages/x.py"]
    compile_wc(wordcount, repo_root, tmp_path, "one", force=True)
    got = tree(tmp_path)
    assert got["notes.txt"] == b"mine" and got["stages/x.py"] == b"x" and "stages/main.py" in got


def test_the_programs_own_directory_needs_force_and_the_program_is_never_touched(repo_root, tmp_path):
    shutil.copy(repo_root / "examples" / "wordcount.py", tmp_path / "wordcount.py")
    (tmp_path / "wordcount.yaml").write_text("lines: [a b]\n")
    before = tree(tmp_path)
    r = cli("compile", "wordcount.py", "-o", ".", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "holds the program" in r.stderr and "--force" in r.stderr and "Traceback" not in r.stderr
    assert tree(tmp_path) == before
    r = cli("compile", "wordcount.py", "-o", ".", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = tree(tmp_path)
    assert all(after[rel] == data for rel, data in before.items())
    assert "stages/main.py" in after and "program/wordcount.py" in after
    r = cli("compile", "wordcount.py", "-o", ".", "--force", cwd=tmp_path)  # again: only its own
    assert r.returncode == 0, r.stderr and tree(tmp_path) == after


def test_a_program_inside_the_output_where_its_copy_goes_is_never_overwritten(repo_root, tmp_path):
    (tmp_path / "program").mkdir()
    program = tmp_path / "program" / "wordcount.py"
    shutil.copy(repo_root / "examples" / "wordcount.py", program)
    text = program.read_bytes()
    r = cli("compile", str(program), "-o", str(tmp_path), "--force", cwd=repo_root)
    assert r.returncode == 2 and "program/wordcount.py" in r.stderr
    assert program.read_bytes() == text and sorted(tree(tmp_path)) == ["program/wordcount.py"]


def test_an_earlier_output_without_manifest_is_recognised_by_its_headers(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    os.remove(out / MANIFEST)
    (out / "notes.txt").write_text("mine")
    compile_wc(wordcount, repo_root, out, "one")
    got = tree(out)
    assert "stages/agg.py" not in got and got["notes.txt"] == b"mine" and MANIFEST in got


def test_a_manifest_naming_paths_outside_the_directory_is_refused(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "one")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / MANIFEST).write_text(json.dumps({"files": {"../victim.txt": sha256(b"keep")}}))
    with pytest.raises(LoadError, match="is not a hydropy manifest"):
        compile_wc(wordcount, repo_root, out, "one")
    compile_wc(wordcount, repo_root, out, "one", force=True)
    assert victim.read_text() == "keep"


# -- all or nothing -------------------------------------------------------------------------

def test_a_failure_halfway_through_leaves_the_directory_as_it_was(wordcount, repo_root, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "one")
    (out / "notes.txt").write_text("mine")
    (out / "stages" / "main.py").write_text("edited\n")
    before = tree(out)
    real_rename, calls = os.rename, []

    def failing_rename(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(28, "No space left on device", dst)
        return real_rename(src, dst)

    monkeypatch.setattr(output.os, "rename", failing_rename)
    with pytest.raises(LoadError, match="No space left on device"):
        compile_wc(wordcount, repo_root, out, "two", force=True)
    monkeypatch.undo()
    assert len(calls) > 4 and tree(out) == before and not leftovers(tmp_path)  # renames undone


@pytest.mark.parametrize("where", ["proc", "under_file", "read_only"])
def test_an_unwritable_output_location_is_one_line_and_leaves_nothing(repo_root, tmp_path, where):
    if where == "proc":
        out = "/proc/hydropy-out/wc"
    elif where == "under_file":
        (tmp_path / "file").write_text("x")
        out = str(tmp_path / "file" / "sub" / "wc")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o555)
        out = str(tmp_path / "ro" / "wc")
    before = sorted(os.listdir(tmp_path))
    r = cli("compile", "examples/wordcount.py", "-o", out, cwd=repo_root)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the compiled program" in lines[0] and "Traceback" not in r.stderr
    assert sorted(os.listdir(tmp_path)) == before and not leftovers(tmp_path)
    assert not os.path.exists(out)


def test_a_read_only_existing_output_is_refused_cleanly(wordcount, repo_root, tmp_path, monkeypatch):
    """As root a chmod'ed directory stays writable, so mkdtemp is made to fail as it would."""
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "one")
    before = tree(out)

    def read_only(*args, **kwargs):
        raise PermissionError(30, "Read-only file system", kwargs.get("dir"))

    monkeypatch.setattr(output.tempfile, "mkdtemp", read_only)
    with pytest.raises(LoadError, match="Read-only file system"):
        compile_wc(wordcount, repo_root, out, "two")
    assert tree(out) == before and not leftovers(tmp_path)


# -- a compiled directory runs only with its own pieces ---------------------------------------

@pytest.fixture
def compiled(wordcount, repo_root, tmp_path):
    out = tmp_path / "out"
    compile_wc(wordcount, repo_root, out, "two")
    return out


@pytest.mark.parametrize("damage, message", [
    (lambda out: shutil.rmtree(out / "program"), "program/wordcount.py is missing"),
    (lambda out: os.remove(out / "stages" / "agg.py"), "stages/agg.py is missing"),
    (lambda out: (out / "stages" / "agg.py").write_text("def broken(:\n"), r"stages/agg.py:1: .*does not parse"),
    (lambda out: (out / "program" / "wordcount.py").write_text("x = (\n"), "program/wordcount.py:1: the program copy does not parse"),
])
def test_a_damaged_compiled_directory_is_one_line_before_ray_starts(compiled, tmp_path, damage, message):
    damage(compiled)
    decoy = tmp_path / "wordcount.py"  # a same-named module in the working directory
    decoy.write_text("open('DECOY_IMPORTED', 'w').close()\nraise SystemExit(3)\n")
    r = cli("run", str(compiled), "--inputs", "/dev/null", cwd=tmp_path, timeout=60)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    import re
    assert re.search(message, r.stderr), r.stderr
    assert not (tmp_path / "DECOY_IMPORTED").exists()


def test_a_stage_imports_the_program_only_from_its_directory(compiled, tmp_path, monkeypatch):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "wordcount.py").write_text("raise RuntimeError('the decoy was imported')\n")
    monkeypatch.syspath_prepend(str(decoy))
    monkeypatch.chdir(decoy)
    monkeypatch.delitem(sys.modules, "wordcount", raising=False)
    cls = load_stage_class(str(compiled), "stages/main.py", "MainStage")
    assert sys.modules["wordcount"].__file__ == str(compiled / "program" / "wordcount.py")
    assert cls.NAME == "main"
    shutil.rmtree(compiled / "program")
    monkeypatch.delitem(sys.modules, "wordcount", raising=False)
    with pytest.raises(LoadError, match="program/wordcount.py is missing"):
        load_stage_class(str(compiled), "stages/main.py", "MainStage")


def test_a_manifest_naming_a_stage_file_outside_the_directory_is_refused(compiled):
    deploy = compiled / "deploy.yaml"
    deploy.write_text(deploy.read_text().replace("stages/main.py", "../../etc/passwd"))
    with pytest.raises(LoadError, match="must be stages/NAME.py inside the compiled directory"):
        read_manifest(str(compiled))


# -- any sequence of actions keeps every file hydropy did not write ----------------------------

USER_PATHS = ["notes.txt", "stages/helper.py", "program/data.csv", "stages/agg.py", "deep/dir/x",
              "main.py.orig", "stages/__init__.py"]
actions = st.lists(st.one_of(
    st.tuples(st.just("compile"), st.sampled_from(sorted(PLANS)), st.booleans()),
    st.tuples(st.just("edit_generated"), st.integers(0, 9), st.binary(max_size=8)),
    st.tuples(st.just("add_user"), st.sampled_from(USER_PATHS), st.binary(max_size=8)),
    st.tuples(st.just("edit_user"), st.integers(0, 9), st.binary(max_size=8)),
), min_size=1, max_size=10)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_any_sequence_of_actions_keeps_every_file_hydropy_did_not_write(wordcount, tmp_path_factory,
                                                                       steps):
    run_actions(wordcount, tmp_path_factory.mktemp("seq") / "out", steps)


def run_actions(wordcount, out, steps) -> None:
    """Applies ``steps``; after each, every user file is byte for byte as the user left it and
    every hand edit of a generated file is still somewhere in the directory."""
    user: dict[str, bytes] = {}      # files hydropy did not write: path -> bytes
    edits: list[bytes] = []          # contents of hand-edited generated files: kept somewhere
    for step in steps:
        manifest = out / MANIFEST
        generated = sorted(rel for rel in json.loads(manifest.read_text())["files"]
                           if (out / rel).exists()) if manifest.exists() else []
        if step[0] == "compile":
            try:
                compile_wc(wordcount, REPO_ROOT, out, step[1], force=step[2])
            except LoadError:
                pass
        elif step[0] == "edit_generated" and generated:
            rel = generated[step[1] % len(generated)]
            if (out / rel).read_bytes() in edits:  # the user's own earlier edit, now replaced
                edits.remove((out / rel).read_bytes())
            data = (out / rel).read_bytes() + b"# edit " + step[2]
            (out / rel).write_bytes(data)
            edits.append(data)
        elif step[0] == "add_user" and out.exists() and not (out / step[1]).exists():
            (out / step[1]).parent.mkdir(parents=True, exist_ok=True)
            (out / step[1]).write_bytes(step[2])
            user[step[1]] = step[2]
        elif step[0] == "edit_user" and user:
            rel = sorted(user)[step[1] % len(user)]
            user[rel] = step[2] + b"!"
            (out / rel).write_bytes(user[rel])
        files = tree(out) if out.exists() else {}
        assert all(files.get(rel) == data for rel, data in user.items()), step
        assert all(data in files.values() for data in edits), step
        assert not leftovers(out.parent)


def test_mutant_replacing_the_whole_directory_is_caught(wordcount, tmp_path, monkeypatch):
    """The old write_compiled: the new output swapped in for the whole directory."""
    def swap(out, data, force, protect):
        shutil.rmtree(out)
        output._write_new(out, data)
        return []

    monkeypatch.setattr(output, "_update", swap)
    with pytest.raises(AssertionError):
        run_actions(wordcount, tmp_path / "out", [("compile", "one", False),
                                                  ("add_user", "notes.txt", b"mine"),
                                                  ("compile", "one", False)])


def test_mutant_dropping_the_edited_copy_under_force_is_caught(wordcount, tmp_path, monkeypatch):
    monkeypatch.setattr(output, "_backup_name", lambda path: path + ".gone")
    monkeypatch.setattr(output.shutil, "rmtree", _rmtree_and_backups(shutil.rmtree))
    with pytest.raises(AssertionError):
        run_actions(wordcount, tmp_path / "out", [("compile", "two", False),
                                                  ("edit_generated", 3, b"x"),
                                                  ("compile", "two", True)])


def _rmtree_and_backups(rmtree):
    def run(path, *args, **kwargs):
        for dirpath, _, files in os.walk(os.path.dirname(path)):
            for f in files:
                if f.endswith(".gone"):
                    os.remove(os.path.join(dirpath, f))
        return rmtree(path, *args, **kwargs)
    return run


def test_mutant_importing_the_program_from_sys_path_is_caught(compiled, tmp_path, monkeypatch):
    """The old loader put program/ on sys.path: a deleted copy fell back on any same-named module."""
    import importlib

    from hydropy.runtime import host
    monkeypatch.setattr(host, "load_program", lambda module, path: importlib.import_module(module))
    with pytest.raises(RuntimeError, match="the decoy was imported"):
        test_a_stage_imports_the_program_only_from_its_directory(compiled, tmp_path, monkeypatch)
