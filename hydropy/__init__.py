"""hydropy: a Hydro-style dataflow compiler for Python.

Write a single-node dataflow program with :class:`Flow`; hydropy lifts it into an IR,
rewrites it into distributed design points and runs them, each producing what the
single-node program produces.
"""
from hydropy import lattices
from hydropy.errors import (HydropyError, InputError, LoadError, PlanError, ProgramError, RewriteRefused,
                            UserCodeError)
from hydropy.flow import Collection, Flow, KeyedSingleton, Placeholder, Singleton, Stream
from hydropy.lift import lift
from hydropy.runtime.columns import Columns

__all__ = ["Flow", "lift", "Columns", "Stream", "Singleton", "KeyedSingleton", "Collection", "Placeholder", "lattices",
           "HydropyError", "InputError", "LoadError", "PlanError", "ProgramError", "RewriteRefused",
           "UserCodeError"]
