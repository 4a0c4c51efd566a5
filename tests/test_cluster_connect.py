"""Connecting to a running cluster with token authentication (issue 11, "Packaged"): the
token where Ray keeps it (~/.ray/auth_token) is used without RAY_AUTH_MODE, and a refused
connection is one line within seconds, without Ray's C++ output above it.

The cluster is the test session's Ray (Ray >= 2.59 starts it with token authentication); the
runs are ``hydropy`` processes whose HOME holds the token, or a wrong one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydropy.targets import cluster


def session_token() -> str | None:
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return None
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return path.read_text().strip() if path.is_file() else None


def run_with_home(home: Path, *args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "hydropy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def compiled(repo_root, tmp_path):
    from hydropy.loader import load_flow
    from hydropy.targets.compile import compile_flow
    flow = load_flow(str(repo_root / "examples" / "wordcount.py"))
    compile_flow(flow, str(tmp_path / "out"))
    return tmp_path / "out"


def test_a_token_auth_cluster_with_the_token_and_with_a_wrong_one(ray_session, compiled, tmp_path,
                                                                  repo_root):
    token = session_token()
    if token is None:
        pytest.skip("the session's Ray does not use token authentication (Ray < 2.59 or disabled)")
    address = ray_session.get_runtime_context().gcs_address
    inputs = str(repo_root / "examples" / "wordcount.yaml")
    good, bad = tmp_path / "good", tmp_path / "bad"
    (good / ".ray").mkdir(parents=True)
    (good / ".ray" / "auth_token").write_text(token)
    (bad / ".ray").mkdir(parents=True)
    (bad / ".ray" / "auth_token").write_text("0" * 32)
    r = run_with_home(good, "run", str(compiled), "--inputs", inputs, "--address", address,
                      "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"total": [12]' in r.stdout
    r = run_with_home(bad, "run", str(compiled), "--inputs", inputs, "--address", address, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr  # one line: no C++ warnings above it
    assert r.stderr.startswith(f"hydropy: error: cannot connect to the Ray cluster at {address}")
    assert "the token from ~/.ray/auth_token was used" in r.stderr


def test_no_token_leaves_the_mode_alone(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert cluster.use_available_token() is False
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert cluster.use_available_token() is True


def test_quiet_fd2_hides_what_is_written_to_the_descriptor(capfd):
    with cluster.quiet_fd2():
        os.write(2, b"C++ warning\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
