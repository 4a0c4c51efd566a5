"""Facts about op kinds are written once, on their spec in ``ir/ops.py``; every other module
derives its sets from the spec (``kinds(...)``, ``PER_RECORD``, ``spec.state_key``...). A list
of op kinds written anywhere else is a copy that can disagree with the spec, which is how
soundness bugs are born (issue 15): this test reads the tree and finds them."""
from __future__ import annotations

import ast
from pathlib import Path

from hydropy.ir.ops import SPECS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hydropy", "ir", "passes", "targets")


def _kind_collections(path: Path, names=frozenset(SPECS)):
    """(line, kinds) of every tuple, list, set or dict literal holding two or more of ``names``
    (op kinds by default). A rule table (a dict from kinds to functions or classes, as JAX's
    rule tables) is code, not a fact."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and \
                all(isinstance(v, (ast.Lambda, ast.Name, ast.Attribute)) for v in node.values):
            continue
        items = node.keys if isinstance(node, ast.Dict) else \
            node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else []
        kinds = [i.value for i in items if isinstance(i, ast.Constant) and i.value in names]
        if len(kinds) >= 2:
            yield node.lineno, kinds


def _found_outside_ops(names=frozenset(SPECS)) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {kinds}"
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if path != ROOT / "ir" / "ops.py"
            for line, kinds in _kind_collections(path, names)]


def test_no_module_keeps_its_own_list_of_op_kinds():
    found = _found_outside_ops()
    assert not found, "lists of op kinds outside ir/ops.py:\n" + "\n".join(found)


def test_no_module_keeps_its_own_list_of_lattice_kinds():
    """Which lattices a fold can become is on its spec (``spec.lattices``); the lattice pass
    derives its kinds from it and explore asks it which need an index."""
    lattice_kinds = frozenset(k for spec in SPECS.values() for k in spec.lattices)
    assert lattice_kinds == {"gcounter", "set_union", "sealed_set", "bounded_prefix"}
    found = _found_outside_ops(lattice_kinds)
    assert not found, "lists of lattice kinds outside ir/ops.py:\n" + "\n".join(found)


def test_one_function_reads_user_functions_source():
    """``ir.source.source_text`` is the one place a user function's source is read
    (``inspect.getsource``); analyses, the lattice pass, lifting and the emitter parse it through
    ``function_ast``, so what one of them can read the others can too."""
    readers = [f"{path.relative_to(ROOT)}:{node.lineno}"
               for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Attribute) and node.attr in ("getsource", "getsourcelines")]
    assert [r.split(":")[0] for r in readers] == ["ir/source.py"], readers
