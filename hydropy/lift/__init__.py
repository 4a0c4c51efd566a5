"""Lifting plain single-node Python functions into the dataflow IR.

``lift(fn)`` reads ``fn``'s AST (through :func:`hydropy.ir.source.function_ast`) and builds
the Flow that computes what ``fn`` returns: each parameter a source named after it, each loop
over a parameter a stream, the accumulators it fills folds, its ``return`` the sinks. The
invariant, checked by the tests on random inputs: run with all inputs in one tick, the flow's
sinks are ``expected_sinks(flow, inputs)``, the function's own result in sink form. What
hydropy cannot lift with that guarantee is refused (:class:`LiftRefused`, naming file:line
and the construct), never guessed. docs/lifting.md lists the subset.
"""
from __future__ import annotations

from hydropy.lift.builder import LiftRefused, lift
from hydropy.lift.results import comparable, expected_sinks

__all__ = ["lift", "LiftRefused", "expected_sinks", "comparable"]
