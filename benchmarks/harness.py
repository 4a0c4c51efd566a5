"""The protocol every benchmark case follows: one registry, one way to time, one digest.

A case is a function ``case(n, repeats, **params) -> dict`` registered with :func:`case`;
it returns ``{"times": [seconds per repeat], "first": seconds of the first run, "check": a
digest of its result, ...}``. The first run is not among ``times``: it pays for compiling
kernels (or loading them from the disk cache). ``benchmarks/cases.py`` runs one case per
process.
"""
from __future__ import annotations

import hashlib
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")
CASES = {}


def case(fn):
    """Registers ``fn`` as the case of its name."""
    CASES[fn.__name__] = fn
    return fn


def timed(fn, repeats: int, inner: bool = False) -> dict:
    """Time one first run, then ``repeats`` runs. With ``inner``, ``fn`` returns
    ``(seconds, result)``: the seconds it measured itself (e.g. from actors ready to results),
    and ``setup`` holds the rest of each run (e.g. starting actors). ``cpu``: this process's
    CPU seconds per run (without ``inner``: a local case's work, less moved by load)."""
    times, setup, cpu = [], [], []
    result = None
    for _ in range(repeats + 1):
        result = None  # the previous run's result freed before the next is built
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        total = time.perf_counter() - start
        cpu.append(time.process_time() - start_cpu)
        if inner:
            seconds, result = result
            setup.append(total - seconds)
        times.append(seconds if inner else total)
    out = {"times": times[1:], "first": times[0], "result": result}
    return {**out, "setup": setup[1:]} if inner else {**out, "cpu": cpu[1:]}


def digest(value) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:12]


def program(name: str, plan: str | None = None):
    from hydropy.loader import load_flow
    flow = load_flow(os.path.join(PROGRAMS, name + ".py"))
    return flow, plan and os.path.join(PROGRAMS, plan)
