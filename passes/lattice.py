"""Lattice-type transformations: a fold becomes a lattice fold that shows the sink the same value.

A plain fold's value depends on the order its records arrive in, so it cannot cross a
reordering network or be replicated; a lattice fold's value does not. ``to_lattice`` swaps
the fold's state type and puts a ``map`` revealing the lattice after it, so every reader
sees what the original fold showed. The fold keeps its name (later plan steps refer to it).

Kinds (``as``), each with its precondition, checked first:

* ``gcounter``: a ``count``, or a fold or keyed fold whose ``init`` makes 0 and whose ``fn``
  returns ``acc + 1`` (read from its AST) -> RecordCount, a GCounter of the records seen:
  order-insensitive, but it needs each record once (refused behind a channel declared to
  deliver duplicates).
* ``set_union``: a fold or keyed fold whose ``init`` makes an empty set and whose ``fn``
  only inserts its record (``acc | {x}``, ``acc.union({x})``, ``{x} | acc``, read from its
  AST) -> SetUnion: the union of the inserted records, in any order.
* ``sealed_set``: an ordered fold (any ``fn``) whose records carry their position in their
  sequence (``index``: a path in the fold's record, or in a keyed fold's value) -> SealedSet:
  the set of (position, record), replayed in position order. The position must be a field of
  one external input, unchanged (the sender numbered it: 0, 1, 2, ... per sequence, in the order
  sent, the contract the ``index`` declares), and each of its records must reach the fold exactly
  once (one path, only map / inspect / channels between), so the program adds no gap and no
  repeat; a position computed in the program, or from two inputs (each numbered from 0), is
  refused. Order-insensitive: it survives any reordering channel.
* ``bounded_prefix``: the same precondition -> BoundedPrefix, which accepts only the next
  position of each sequence: refused (now, and by every later step) where a channel feeding
  it can reorder (:func:`hydropy.passes.stages.check_delivery_requirements`).
"""
from __future__ import annotations

import ast
import builtins

import networkx as nx

from hydropy import lattices
from hydropy.errors import RewriteRefused
from hydropy.ir import KEYED, Graph, Node, UserFn
from hydropy.ir.ops import SOURCES, SPECS, output_collection

from .keys import Same, record_lineage, walk
from .stages import check_delivery_requirements
from .udf import global_value, returned_expression

FOLDS = frozenset(k for k, spec in SPECS.items() if spec.lattices)
SEQUENCES = {"sealed_set": lattices.SealedSet, "bounded_prefix": lattices.BoundedPrefix}
#: every lattice kind some fold can become (the op specs' ``lattices``), in spec order
KINDS = tuple(dict.fromkeys(kind for spec in SPECS.values() for kind in spec.lattices))


def to_lattice(graph: Graph, operator: str, as_: str, index: list[int] | None = None) -> Graph:
    """A copy of ``graph`` with fold ``operator`` turned into a lattice fold of kind ``as_``."""
    if as_ not in KINDS:
        raise RewriteRefused(f"unknown lattice kind '{as_}'; kinds are: {', '.join(KINDS)}")
    fold = graph.by_name(operator)
    if fold is None:
        known = ", ".join(n.name for n in graph.nodes() if n.kind in FOLDS) or "none"
        raise RewriteRefused(f"no operator named '{operator}'; folds are: {known}")
    if as_ not in fold.spec.lattices:
        kinds = "count, fold or fold_keyed" if as_ == "gcounter" else "fold or fold_keyed"
        raise RewriteRefused(f"{fold.kind} '{fold.name}' is not a {kinds}, so it has no {as_} "
                             f"form", fold.loc)
    if index is not None and as_ not in SEQUENCES:
        raise RewriteRefused(f"{as_} takes no index (only sealed_set and bounded_prefix keep positions)")
    if as_ == "gcounter":
        if fold.kind != "count":
            _check_counts(fold)
        lattice = lattices.RecordCount
    elif as_ == "set_union":
        _check_set_insert(fold)
        lattice = lattices.SetUnion
    else:
        if index is None:
            raise RewriteRefused(f"{as_} needs 'index': the path of each record's position in its "
                                 f"sequence (e.g. [0, 0])", fold.loc)
        path = tuple(index)
        _check_position(graph, fold, path)
        lattice = SEQUENCES[as_].over(path, fold.fn("init").obj, fold.fn("fn").obj)
    g = graph.copy()
    replace_with_lattice(g, fold, lattice, lattices.reveal)
    check_delivery_requirements(g)
    return g  # verified by apply_plan: an invalid graph here is hydropy's bug (PassFailed)


def replace_with_lattice(g: Graph, fold: Node, lattice, reveal_fn) -> Node:
    """In place: ``fold`` becomes a lattice fold of ``lattice`` (same id and name) and a ``map``
    of ``reveal_fn`` after it takes over its readers. Returns the map."""
    kind = "lattice_fold_keyed" if fold.coll.kind == KEYED else "lattice_fold"
    coll = output_collection(kind, (g.node(fold.inputs[0]).coll,))
    readers = g.consumers(fold.id)
    g.replace(fold.copy(kind=kind, params={"lattice": lattice}, fns=(), coll=coll))
    view = Node(g.fresh_id(), "map", g.fresh_name(f"{fold.name}_value"), (fold.id,), {},
                (UserFn.wrap(reveal_fn),), fold.loc, coll, fold.location)
    g.add(view)
    for reader in readers:
        g.replace(reader.copy(inputs=tuple(view.id if i == fold.id else i for i in reader.inputs)))
    return view


# -- counts ---------------------------------------------------------------------------------

def _check_counts(fold: Node) -> None:
    init, fn = fold.fn("init"), fold.fn("fn")
    found = _returns(init)
    zero = init.obj is int or (not isinstance(found, str) and isinstance(found[1], ast.Constant)
                                and found[1].value == 0 and type(found[1].value) is int)
    if not zero:
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its init {init.label} is not seen to make 0 "
                             f"(int, or a function returning 0), so its value is not a count", fold.loc)
    found = _returns(fn)
    if isinstance(found, str):
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its fn {fn.label} {found}", fold.loc)
    params, e = found

    def one(a: ast.expr) -> bool:
        return isinstance(a, ast.Constant) and type(a.value) is int and a.value == 1

    def acc(a: ast.expr) -> bool:
        return isinstance(a, ast.Name) and a.id == params[0]

    if not (len(params) == 2 and isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add) and
            ((acc(e.left) and one(e.right)) or (one(e.left) and acc(e.right)))):
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its fn {fn.label} returns {ast.unparse(e)}, "
                             f"not acc + 1, so it is not a count of its records", fold.loc)


# -- set inserts ----------------------------------------------------------------------------

def _check_set_insert(fold: Node) -> None:
    init, fn = fold.fn("init"), fold.fn("fn")
    if not _makes_empty_set(init):
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its init {init.label} is not seen to make an empty "
                             f"set (set, frozenset, or a function returning set() / frozenset()), "
                             f"so its value is not a set union", fold.loc)
    why = _inserts_record(fn)
    if why:
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its fn {fn.label} {why}; only a fold that inserts "
                             f"each record into a set (acc | {{x}}) is a SetUnion", fold.loc)


def _returns(fn: UserFn) -> tuple[list[str], ast.expr] | str:
    """(parameter names, the one returned expression) of ``fn``, or why it has no such form."""
    found = returned_expression(fn.obj)
    return "is not a single return statement" if found is None else found


def _is_builtin_call(e: ast.expr, names: tuple[str, ...], fn: UserFn) -> bool:
    """``e`` calls one of the builtins ``names``, not shadowed where ``fn`` was defined."""
    return (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in names
            and global_value(fn.obj, e.func.id) is getattr(builtins, e.func.id))


def _makes_empty_set(init: UserFn) -> bool:
    if init.obj in (set, frozenset):
        return True
    found = _returns(init)
    if isinstance(found, str):
        return False
    _, e = found
    return _is_builtin_call(e, ("set", "frozenset"), init) and not e.args and not e.keywords


def _inserts_record(fn: UserFn) -> str:
    """"" when ``fn(acc, x)`` returns ``acc`` with exactly ``x`` inserted, else why not."""
    found = _returns(fn)
    if isinstance(found, str):
        return found
    params, e = found
    if len(params) != 2:
        return "does not take (acc, x)"
    acc, x = params

    def singleton_of_x(s: ast.expr) -> bool:
        if isinstance(s, ast.Set):
            elts = s.elts
        elif _is_builtin_call(s, ("set", "frozenset"), fn) and len(s.args) == 1 and \
                isinstance(s.args[0], (ast.List, ast.Tuple, ast.Set)):
            elts = s.args[0].elts
        else:
            return False
        return len(elts) == 1 and isinstance(elts[0], ast.Name) and elts[0].id == x

    def is_acc(a: ast.expr) -> bool:
        return isinstance(a, ast.Name) and a.id == acc

    if isinstance(e, ast.BinOp) and isinstance(e.op, ast.BitOr):
        if (is_acc(e.left) and singleton_of_x(e.right)) or (is_acc(e.right) and singleton_of_x(e.left)):
            return ""
    if (isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "union"
            and is_acc(e.func.value) and len(e.args) == 1 and not e.keywords
            and (singleton_of_x(e.args[0]) or isinstance(e.args[0], (ast.List, ast.Tuple)) and
                 len(e.args[0].elts) == 1 and isinstance(e.args[0].elts[0], ast.Name)
                 and e.args[0].elts[0].id == x)):
        return ""
    return f"returns {ast.unparse(e)}, which is not {acc} with {{{x}}} inserted"


# -- positions of ordered folds ------------------------------------------------------------

def _check_position(graph: Graph, fold: Node, index: tuple[int, ...]) -> None:
    """The position at ``index`` (in the record; in the value for a keyed fold) is an external
    input's field, carried unchanged to the fold."""
    if not index or not all(isinstance(i, int) and i >= 0 for i in index):
        raise RewriteRefused(f"index {list(index)!r} must be a non-empty list of field numbers", fold.loc)
    full = (1, *index) if fold.kind == "fold_keyed" else index
    value = walk(record_lineage(graph)[fold.inputs[0]], full)
    origins = value.origins if isinstance(value, Same) else frozenset()
    where = "value" if fold.kind == "fold_keyed" else "record"
    field = "".join(f"[{i}]" for i in index)
    if not origins:
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its {where}{field} (the position) is computed in the "
                             f"program, so it need not follow the order the sender sent; the "
                             f"position must be a field of an input, numbered by the sender", fold.loc)
    for node_id, _ in origins:
        origin = graph.node(node_id)
        if origin.kind not in SOURCES:
            raise RewriteRefused(f"{fold.kind} '{fold.name}': its {where}{field} (the position) comes from "
                                 f"{origin.where(short=True)}, not from an input's records as the "
                                 f"sender numbered them", fold.loc)
    if len(origins) > 1:
        names = ", ".join(sorted(f"'{graph.node(n).name}'{''.join(f'[{i}]' for i in p)}"
                                 for n, p in origins))
        raise RewriteRefused(f"{fold.kind} '{fold.name}': its {where}{field} (the position) comes from "
                             f"{names}: each sender numbers its records from 0, so two records "
                             f"could share a position, which the fold sees twice and a set of "
                             f"positions once", fold.loc)
    _check_one_to_one(graph, fold, next(iter(origins))[0], where + field)


#: operators that pass each record on exactly once (changed or not): a path of them neither
#: drops a numbered record (a gap the sequence would stop at) nor repeats one
ONE_TO_ONE = frozenset(k for k, spec in SPECS.items() if spec.one_to_one)


def _check_one_to_one(graph: Graph, fold: Node, source_id: int, what: str) -> None:
    """Every record the sender numbered reaches ``fold`` exactly once: one path from the input,
    through one-to-one operators only. A filter (or flat_map, join, unique...) would leave
    positions out, so the replay would stop at the first gap while the fold goes on; two paths
    (a union of the input with itself) would repeat positions the fold counts twice. A join on
    the fold's key (the sequence's) is allowed: it passes a sequence's records all or none (a key
    with several table values gives two records at one position, which SealedSet refuses loudly)."""
    paths = list(nx.all_simple_paths(graph.nx, source_id, fold.id))
    source = graph.node(source_id)
    if len(paths) != 1:
        raise RewriteRefused(f"{fold.kind} '{fold.name}': the records of '{source.name}' reach it "
                             f"along {len(paths)} paths, so a position could arrive twice (the "
                             f"fold sees both records, a set of positions one)", fold.loc)
    lineage = record_lineage(graph)
    fold_key = walk(lineage[fold.inputs[0]], (0,)) if fold.kind == "fold_keyed" else None
    for nid in paths[0][1:-1]:
        node = graph.node(nid)
        if node.kind == "join" and isinstance(fold_key, Same) and \
                walk(lineage[nid], (0,)) == fold_key:
            continue  # keyed by the sequence: it keeps or holds back a whole sequence, no part
        if node.kind not in ONE_TO_ONE:
            raise RewriteRefused(f"{fold.kind} '{fold.name}': between input '{source.name}' and the "
                                 f"fold, {node.where(short=True)} may drop or repeat records, leaving "
                                 f"gaps or repeats among the positions ({what}) that a sequence "
                                 f"replayed in position order cannot follow; only map, inspect and "
                                 f"channels may come between", fold.loc)
