"""Pushing a keyed fold through a join (eager aggregation): fold first, join the table after.

Before: ``join(L, R) -> lattice_fold_keyed(cart) -> map(reveal)``, the fold replaying
``fn`` over ``(x, y)`` pairs. After: ``L -> lattice_fold_keyed(cart) -> join_table(., R) ->
map(reveal_joined)``: the fold keeps only L's records, and each key's table value y meets
them when the value is revealed. The join's state (every record of L, remembered to pair
with R) becomes the fold's state, so the join runs once per key instead of once per record.

Precondition, checked first: the fold is a sequence lattice (``sealed_set`` or
``bounded_prefix``: run the ``lattice`` step first), so ``fn`` can be applied after the join;
it reads the join's output alone; its positions come from the join's left side; and nothing
else reads the join or the fold's state. The same y must meet every record of a key, so R is a
table with one value per key: ``join_table`` checks that at run time (an input error naming
the key otherwise).
"""
from __future__ import annotations

from hydropy import lattices
from hydropy.errors import RewriteRefused
from hydropy.ir import Graph, Node, UserFn
from hydropy.ir.ops import output_collection

from .stages import check_delivery_requirements


def push_fold(graph: Graph, operator: str) -> Graph:
    """A copy of ``graph`` with keyed fold ``operator`` moved before the join that feeds it."""
    fold = graph.by_name(operator)
    if fold is None:
        raise RewriteRefused(f"no operator named '{operator}'")
    check_sequence_lattice(fold)
    check_not_pushed(fold)
    join = check_reads_a_join(graph, fold)
    check_join_feeds_only(graph, join, fold)
    check_position_on_left(fold)
    views = graph.consumers(fold.id)
    check_views_reveal(fold, views)
    lattice = fold.params["lattice"]

    g = graph.copy()
    left, table = join.inputs
    pushed = lattice.over(lattice.index[1:], lattice.init, lattice.fn, True)
    coll = output_collection("lattice_fold_keyed", (g.node(left).coll,))
    g.replace(fold.copy(inputs=(left,), params={"lattice": pushed}, coll=coll))
    g.remove(join.id)
    joined = Node(join.id, "join_table", join.name, (fold.id, table), {}, (), join.loc,
                  output_collection("join_table", (coll, g.node(table).coll)), fold.location)
    g.add(joined)
    for view in views:
        g.replace(view.copy(inputs=(joined.id,), fns=(UserFn.wrap(lattices.reveal_joined),),
                            coll=joined.coll))
    check_delivery_requirements(g)
    return g  # verified by apply_plan: an invalid graph here is hydropy's bug (PassFailed)


# -- the precondition, one named check per condition (each has a mutant in
#    tests/test_precondition_mutants.py) ------------------------------------------------------

def check_sequence_lattice(fold: Node) -> None:
    """``fold`` is a keyed fold of a sequence lattice, whose records can be replayed through
    ``fn`` after the join (``over`` and ``index`` exist only there)."""
    lattice = fold.params.get("lattice")
    if fold.kind == "fold_keyed":
        raise RewriteRefused(f"{fold.kind} '{fold.name}' is a plain fold: its fn needs the joined value at "
                             f"every step, in arrival order; make it a sequence lattice first "
                             f"(step lattice with as: sealed_set), which keeps the records so the "
                             f"joined value can be applied after", fold.loc)
    if fold.kind != "lattice_fold_keyed" or not (isinstance(lattice, type) and
                                                 issubclass(lattice, lattices.SequenceLattice)):
        raise RewriteRefused(f"{fold.kind} '{fold.name}' is not a keyed fold of a sequence lattice "
                             f"(sealed_set or bounded_prefix), so its fn cannot be replayed "
                             f"after a join", fold.loc)


def check_not_pushed(fold: Node) -> None:
    """``fold`` was not pushed already (its records lack the table value a second push would
    need). Redundant for soundness: a pushed fold's one reader is its ``join_table``, which
    :func:`check_views_reveal` refuses; kept for the clearer message."""
    if fold.params["lattice"].joined:
        raise RewriteRefused(f"{fold.kind} '{fold.name}' is already pushed through its join", fold.loc)


def check_reads_a_join(graph: Graph, fold: Node) -> Node:
    """``fold`` reads a join, whose right side becomes the table; returns the join."""
    join = graph.node(fold.inputs[0])
    if join.kind != "join":
        raise RewriteRefused(f"{fold.kind} '{fold.name}' reads {join.where(short=True)}, not a join", fold.loc)
    return join


def check_join_feeds_only(graph: Graph, join: Node, fold: Node) -> None:
    """Nothing but ``fold`` reads ``join``: the rewrite removes the joined records."""
    others = [c for c in graph.consumers(join.id) if c.id != fold.id]
    if others:
        raise RewriteRefused(f"{join.kind} '{join.name}' also feeds {others[0].where(short=True)}, which still "
                             f"needs the joined records", join.loc)


def check_position_on_left(fold: Node) -> None:
    """The records' positions lie in the join's left side, the records the pushed fold keeps."""
    lattice = fold.params["lattice"]
    if lattice.index[:1] != (0,):
        raise RewriteRefused(f"{fold.kind} '{fold.name}': the position {list(lattice.index)} is not in the "
                             f"join's left side, whose records the fold would keep", fold.loc)


def check_views_reveal(fold: Node, views: list[Node]) -> None:
    """Every reader of ``fold``'s state only reveals it (``map(reveal)``), which the rewrite
    turns into ``reveal_joined`` of the join_table's pairs; any other reader would see the
    state without the table value."""
    bad = [v for v in views if not (v.kind == "map" and v.fns and v.fns[0].obj is lattices.reveal)]
    if bad:
        raise RewriteRefused(f"{bad[0].where()} reads the state of {fold.kind} '{fold.name}', which "
                             f"after the push no longer holds the joined value", bad[0].loc)
