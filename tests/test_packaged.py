"""A program that imports its own helper modules runs on Ray as it does locally (issue 11,
"Packaged"): the modules it imported from its directory (a sibling module, a package) are
shipped in the compiled directory's program/ and importable by their names in the members."""
from __future__ import annotations

import subprocess
import sys

import pytest

from hydropy.loader import load_flow
from hydropy.targets.compile import compile_flow
from hydropy.targets.ray import run_compiled

FILES = {
    "helpers.py": "def double(x):\n    return 2 * x\n",
    "shapes/__init__.py": "from .area import square\n",
    "shapes/area.py": "def square(x):\n    return x * x\n",
    "unused.py": "raise RuntimeError('never imported, never shipped')\n",
    "app.py": ("import hydropy as hp\n\nfrom helpers import double\nfrom shapes import square\n\n\n"
               "def work(x):\n    return (double(x), square(x))\n\n\n"
               "flow = hp.Flow('app')\nflow.source('xs').map(work, name='work').sink('out')\n"),
}
PLAN = "steps:\n  - decouple: {operators: [work], to: w}\n"


@pytest.fixture
def app(tmp_path):
    src = tmp_path / "src"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (tmp_path / "plan.yaml").write_text(PLAN)
    return load_flow(str(src / "app.py")), tmp_path


def loads_in_a_fresh_process(out) -> subprocess.CompletedProcess:
    code = ("import sys; from hydropy.runtime.host import load_stage_class; "
            f"cls = load_stage_class({str(out)!r}, 'stages/w.py', 'WStage'); "
            "print('loaded')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")


def test_helper_modules_are_shipped_and_run_on_ray(app, ray_session):
    flow, tmp = app
    out = tmp / "out"
    compile_flow(flow, str(out), plan=str(tmp / "plan.yaml"))
    shipped = sorted(str(p.relative_to(out / "program")) for p in (out / "program").rglob("*.py"))
    assert shipped == ["app.py", "helpers.py", "shapes/__init__.py", "shapes/area.py"]
    assert loads_in_a_fresh_process(out).stdout.strip() == "loaded"
    assert run_compiled(str(out), {"xs": [1, 2, 3]})["out"] == [(2, 1), (4, 4), (6, 9)]


def test_without_shipping_the_members_cannot_import_them(app, monkeypatch):
    """Mutant: the helper modules left out, the stage cannot be loaded outside this process."""
    import hydropy.targets.emit as emit
    monkeypatch.setattr(emit, "helper_modules", lambda program: {})
    flow, tmp = app
    compile_flow(flow, str(tmp / "out"), plan=str(tmp / "plan.yaml"))
    r = loads_in_a_fresh_process(tmp / "out")
    assert "No module named 'helpers'" in r.stderr


def test_only_what_the_program_imports_is_shipped(app, tmp_path):
    """A module of the program's directory loaded in this process for another reason (another
    program, a test) is not the program's: only the imports of the program are followed."""
    import importlib.util
    flow, tmp = app
    spec = importlib.util.spec_from_file_location("bystander", tmp / "src" / "bystander.py")
    (tmp / "src" / "bystander.py").write_text("X = 1\n")
    sys.modules["bystander"] = importlib.util.module_from_spec(spec)
    try:
        compile_flow(flow, str(tmp / "out"), plan=str(tmp / "plan.yaml"))
    finally:
        del sys.modules["bystander"]
    shipped = sorted(str(p.relative_to(tmp / "out" / "program"))
                     for p in (tmp / "out" / "program").rglob("*.py"))
    assert shipped == ["app.py", "helpers.py", "shapes/__init__.py", "shapes/area.py"]


def test_a_sibling_named_like_a_loaded_library_is_not_shipped(tmp_path):
    """The program imports the library there (it was imported first), so the members must too."""
    from hydropy.targets.emit import Program, helper_modules
    (tmp_path / "yaml.py").write_text("raise RuntimeError('shadow')\n")
    (tmp_path / "mine.py").write_text("X = 1\n")
    (tmp_path / "prog.py").write_text("import yaml\nimport mine\nfrom . import nothing\n")
    found = helper_modules(Program(str(tmp_path / "prog.py"), "prog"))
    assert list(found) == ["mine.py"]
