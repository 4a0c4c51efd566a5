"""The benchmark command runs end to end (quick mode of B1 on tiny inputs); no timings asserted."""
from __future__ import annotations

import subprocess
import sys


def test_quick_b1_prints_its_tables_and_agreeing_results(repo_root):
    proc = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", "--only", "B1", "--repeats", "1"],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for row in ("B1 hydropy, local target", "B1 hand-written pure-Python dict loop",
                "B1 hand-written Numba kernel", "B1: >= 20x faster than pure Python",
                "B1: within 1.3x of hand-written Numba"):
        assert f"| {row} |" in out
    assert "DIFFER" not in out
