"""``flow.run(target="ray")`` from a Python session: a program that calls ``hash()`` runs on Ray
only when this process hashes str as the run's actors do (``PYTHONHASHSEED``), since the
single-node run here and the Ray run would otherwise compute with different hashes. The
``hydropy`` command restarts itself under the run's seed (tests/test_ray_semantics.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PROGRAM = '''
import sys
import hydropy as hp
from hydropy.targets import check_hash_seed

def add(a, b):
    return a + b

def bucket_of(word):
    return hash(word) % 7

flow = hp.Flow("buckets")
flow.source("words").map(lambda w: (bucket_of(w), 1), name="bucket") \\
    .fold_keyed(int, add, name="per_bucket").sink("per_bucket")
if sys.argv[1] == "check":
    try:
        check_hash_seed(flow.graph())
        print("accepted")
    except hp.HydropyError as exc:
        print("refused:", exc)
else:
    print(flow.run({"words": [f"user-{i}" for i in range(200)]})["per_bucket"])
'''


def run(tmp_path, seed: str, what: str) -> str:
    path = tmp_path / "buckets.py"
    path.write_text(textwrap.dedent(PROGRAM))
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, str(path), what], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_session_that_hashes_otherwise_than_the_actors_is_refused_naming_the_function(tmp_path):
    out = run(tmp_path, "random", "check")
    assert out.startswith("refused: ") and "buckets.py:13: lambda@13 calls hash()" in out
    assert "PYTHONHASHSEED=0" in out


def test_a_session_under_the_runs_seed_is_accepted(tmp_path):
    assert run(tmp_path, "0", "check") == "accepted"
    assert run(tmp_path, "12345", "check") == "accepted"  # the run then seeds its actors with it


def test_what_the_check_guards_against_is_real(tmp_path):
    """Without the check: the single-node run under another seed gives other sinks than the
    actors' seed gives, which is what a Ray run would show."""
    assert run(tmp_path, "1", "run") != run(tmp_path, "0", "run")
