"""What a compiled directory ships besides the program file: the program's own modules.

The modules the program's ``import`` statements (and theirs) name that live in its directory
are copied into ``program/`` at the same relative paths; in the members and the driver,
:class:`hydropy.runtime.host.HelperFinder` imports exactly those names from there.
"""
from __future__ import annotations

import ast
import os
import sys


def helper_modules(program) -> dict[str, str]:
    """The program's own modules (``program``: an :class:`~.program.Program`), shipped beside its copy: the modules its ``import``
    statements (and theirs, transitively) name that live in the program's directory, as the
    program imports its siblings (``helpers.py`` as ``helpers``, ``lib/util.py`` as
    ``lib.util`` with ``lib/__init__.py``); not a standard or installed module this process
    has loaded under that name (a library imported first wins there too). Relative path -> file."""
    root = os.path.dirname(os.path.realpath(program.path))
    installed = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    found: dict[str, str] = {}
    todo = [(os.path.realpath(program.path), "")]
    seen = set()
    while todo:
        file, package = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        for name in _imported_names(file, package):
            parts = name.split(".")
            for k in range(1, len(parts) + 1):
                module = ".".join(parts[:k])
                path = _module_file(root, parts[:k])
                loaded = sys.modules.get(module)
                file = getattr(loaded, "__file__", None)
                library = loaded is not None and (module in sys.stdlib_module_names or not file
                                                  or os.path.realpath(file).startswith(installed))
                if path is None or library:
                    break
                if path == os.path.realpath(program.path):
                    continue
                found[os.path.relpath(path, root)] = path
                is_package = os.path.basename(path) == "__init__.py"
                todo.append((path, module if is_package else ".".join(parts[:k - 1])))
    return dict(sorted(found.items()))


def _module_file(root: str, parts: list[str]) -> str | None:
    base = os.path.join(root, *parts)
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return os.path.realpath(path)
    return None


def _imported_names(file: str, package: str) -> list[str]:
    """The module names the ``import`` statements of ``file`` name (``from a import b`` names
    ``a`` and ``a.b``; a relative import resolved against ``package``)."""
    try:
        with open(file, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                if not base and node.level:
                    continue  # a relative import outside a package
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module:
                names.append(module)
                names += [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names
