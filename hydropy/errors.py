"""The one exceptions module: every error a user can cause is a HydropyError.

Each carries the user's source location where there is one; ``str(err)`` is a
single line ``file:line: message`` that the CLI prints without a traceback.
"""
from __future__ import annotations


class HydropyError(Exception):
    """Base of every error a user can cause (bad program, bad input, refused rewrite)."""

    #: the CLI's exit code for this error: 2 for bad input or a refused request
    exit_code = 2

    def __init__(self, message: str, loc=None):
        self.message = message
        self.loc = loc
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


class ProgramError(HydropyError):
    """The dataflow program is malformed (bad operator use, cycle, duplicate sink)."""


class InputError(HydropyError):
    """Run-time inputs do not fit the program (unknown name, wrong record shape, bad file)."""


class LoadError(HydropyError):
    """A PROGRAM, plan or compiled directory cannot be found or loaded."""


class PlanError(HydropyError):
    """A plan file or plan step is malformed (unknown step, missing operator or stage)."""


class RewriteRefused(HydropyError):
    """A rewrite's precondition does not hold; the message names operator, line and reason."""


class CompileError(HydropyError):
    """The program cannot be emitted as stage code (named operator, file:line, reason)."""


class LatticeLawError(HydropyError):
    """A merge violates a lattice law; the message names class, law and counterexample."""


class PassFailed(HydropyError):
    """A rewrite step returned a graph that does not verify: a bug in hydropy, not the user's."""

    exit_code = 1


class UserCodeError(HydropyError):
    """A user function raised while the program ran."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM while a run holds resources: unwinds like Ctrl-C; the CLI exits 143."""

    exit_code = 143
