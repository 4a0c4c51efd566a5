"""The user's program file as the emitted code sees it: copied beside the stages, imported by them.

Invariant: a :class:`Program`'s ``stem`` is a Python identifier (:func:`find_program` refuses
any other file name), so the stages can import the copy under :attr:`Program.import_name`.
"""
from __future__ import annotations

import keyword
import os
import sys
from dataclasses import dataclass, field

from hydropy.errors import LoadError

from .names import identifier


@dataclass
class Program:
    """The user's program file as the emitted code sees it: copied to ``program/<stem>.py`` and
    imported by the stages as ``stem``."""

    path: str
    module: str                       # the name it is loaded under in this process
    namespace: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    @property
    def import_name(self) -> str:
        """The module name the stages import the program under (not a library's name)."""
        from hydropy.runtime.host import program_module_name
        return program_module_name(self.stem, os.path.dirname(self.path))


def find_program(flow) -> Program:
    """The module that built ``flow``: its file is copied beside the stages."""
    module = sys.modules.get(flow.module or "")
    path = getattr(module, "__file__", None)
    if not path:
        raise LoadError(f"flow '{flow.name}' was not built by a program file; hydropy compiles "
                        f"programs defined in a .py file")
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isidentifier() or keyword.iskeyword(stem) or identifier(stem) != stem:
        raise LoadError(f"program file name {os.path.basename(path)} must be a Python identifier "
                        f"to be imported by the stages")
    return Program(os.path.abspath(path), flow.module, vars(module))
