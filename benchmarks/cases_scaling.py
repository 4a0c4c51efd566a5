"""B3 (a CPU-bound and a 1 ms-per-record stage, 1 member against several) and B6 (two-phase
commit in three stages of 1 and of 3 members): scaling by partitioning on Ray (see
``harness.py`` for the protocol)."""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from harness import HERE, PROGRAMS, case, digest, program
from ray_harness import on_ray


# -- B3: scaling by partitioning --------------------------------------------------------------

@case
def b3_cpu(n: int, repeats: int, members: int = 1, **_) -> dict:
    import hydropy as hp
    flow, plan = program("cpu_stage", f"cpu_stage_{members}.yaml")
    out = on_ray(flow, plan, {"xs": hp.Columns(np.arange(n, dtype=np.int64))}, repeats, 2_000)
    result = out.pop("result")
    return {**out, "check": digest(sorted(result["kept"]))}


@case
def b3_io(n: int, repeats: int, members: int = 1, **_) -> dict:
    flow, plan = program("io_stage", f"io_stage_{members}.yaml")
    out = on_ray(flow, plan, {"requests": list(range(n))}, repeats, 200)
    result = out.pop("result")
    return {**out, "check": digest(sorted(result["served"]))}


# -- B6: two-phase commit partitioned (a fixed service time per logged vote) -----------------

@case
def b6_twopc(n: int, repeats: int, members: int = 1, **_) -> dict:
    """examples/twopc.py with each vote's log write standing as 2 ms of sleep, in three stages
    of ``members`` members each (partitioned on the transaction id)."""
    import re

    from hydropy.loader import load_flow
    work = tempfile.mkdtemp(prefix="hydropy-bench-")
    with open(os.path.join(os.path.dirname(HERE), "examples", "twopc.py"), encoding="utf-8") as fh:
        text = re.sub(r"^LOG_SECONDS = .*$", "LOG_SECONDS = 0.002", fh.read(), flags=re.M)
    path = os.path.join(work, "twopc.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    txns = [(f"t{i}", ("balance", "audit") if i % 10 == 0 else ("balance",)) for i in range(n)]
    out = on_ray(load_flow(path), os.path.join(PROGRAMS, f"twopc_{members}.yaml"), {"txns": txns},
                 repeats, 200)
    shutil.rmtree(work, ignore_errors=True)
    result = out.pop("result")
    return {**out, "check": digest({sink: sorted(rows) for sink, rows in result.items()})}
