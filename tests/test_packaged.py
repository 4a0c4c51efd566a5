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
