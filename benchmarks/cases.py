"""Runs one measured case of ``benchmarks/run.py`` in this process and prints its JSON result.

    python benchmarks/cases.py NAME N REPEATS [key=value...]

The cases live in one module per benchmark family (``cases_one_core.py``: B1, B5;
``cases_pipeline.py``: B2; ``cases_scaling.py``: B3, B6; ``cases_startup.py``: B4;
``cases_recovery.py``: B7; ``cases_wordcount.py``: B8; ``cases_join.py``: B9; ``cases_wire.py``: B10) and follow the protocol of
``harness.py``.
"""
from __future__ import annotations

import sys

from harness import CASES, PROGRAMS


def main(argv: list[str]) -> None:
    """``cases.py NAME N REPEATS [key=value...]``: run one case, print its JSON result."""
    import json
    import resource
    name, n, repeats, *extra = argv
    params = {k: int(v) for k, v in (kv.split("=") for kv in extra)}
    sys.path.insert(0, PROGRAMS)
    import cases_one_core, cases_pipeline, cases_recovery  # noqa: F401,E401  (they register their cases)
    import cases_join, cases_scaling, cases_startup, cases_wire, cases_wordcount  # noqa: F401,E401
    out = CASES[name](int(n), int(repeats), **params)
    out.setdefault("peak_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
