"""Shared fixtures: the repository root, golden snapshots, and an opt-in Ray session.

``pytest --snapshot-update`` rewrites golden files under ``tests/snapshots/`` instead of
comparing against them; review the diff before committing.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"


def pytest_addoption(parser):
    parser.addoption("--snapshot-update", action="store_true", default=False,
                     help="rewrite golden snapshot files under tests/snapshots/ instead of comparing")


@pytest.fixture
def repo_root() -> Path:
    """The repository root (the directory holding examples/ and tests/)."""
    return REPO_ROOT


class Snapshot:
    """Compare text with a golden file ``tests/snapshots/<relpath>``, or rewrite it in update mode."""

    def __init__(self, update: bool):
        self.update = update

    def path(self, relpath: str) -> Path:
        return SNAPSHOT_DIR / relpath

    def assert_match(self, text: str, relpath: str) -> None:
        path = self.path(relpath)
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"missing snapshot {path.relative_to(REPO_ROOT)}; "
                        f"run pytest --snapshot-update to create it")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (f"output differs from snapshot {path.relative_to(REPO_ROOT)} "
                                  f"(run pytest --snapshot-update to accept the change)")


@pytest.fixture
def snapshot(request) -> Snapshot:
    return Snapshot(request.config.getoption("--snapshot-update"))


@pytest.fixture(scope="session")
def ray_session():
    """A fresh local Ray shared by the whole session (opt-in: not autouse), started as hydropy
    starts one (its workers hash str under hydropy's PYTHONHASHSEED)."""
    import ray

    from hydropy.targets.ray import start_local_ray
    start_local_ray(num_cpus=2)
    try:
        yield ray
    finally:
        ray.shutdown()
