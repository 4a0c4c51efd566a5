"""Splitting a global fold into partial folds before a channel plus a final merge.

Mechanism: the fold ``F`` (count, fold, reduce or lattice_fold) becomes a ``partial_*``
operator in F's stage, which folds each tick's records and keeps nothing across ticks,
and a final merge under F's name in stage ``to`` (with every operator of F's stage that
reads F, directly or downstream), which folds the partial results. Since a partial keeps
no state, partitioning F's stage afterwards is accepted: every member sends its partials
to the one final merge.

Invariant: the final value equals F's, because the merge function is associative and
commutative, so folding any grouping of the records in any order gives the same value.

Precondition, checked first: F is a global fold whose merge is provably associative and
commutative on its data (:func:`.fold_algebra.why_not_commutative`: count, lattice folds whose
lattice obeys the laws (:mod:`.laws`), ``max`` / ``min`` over integers, and ``a + b`` over
integers from an ``init()`` of integer 0; element types from declared dtypes, see
:func:`.fold_algebra.element_type`), and ``to`` is not F's own stage.
"""
from __future__ import annotations

import networkx as nx

from hydropy.errors import RewriteRefused
from hydropy.lattices import Lattice
from hydropy.ir import Graph, Node, UserFn
from hydropy.ir.ops import FOLDS, SPECS, output_collection
from hydropy.runtime.ops import add_counts

from .decouple import check_stage_name
from .fold_algebra import element_type, why_not_commutative
from .laws import check_state_laws
from .delays import check_no_divergent_delays
from .stages import insert_channels

#: the global folds split_fold splits, and the per-tick partial each becomes
PARTIAL = {k: spec.partial for k, spec in SPECS.items() if spec.partial}


def split_fold(graph: Graph, operator: str, to: str = "merge") -> Graph:
    """A copy of ``graph`` with the global fold ``operator`` split into per-tick partials in
    its stage and a final merge in stage ``to`` (see module docstring)."""
    check_stage_name(to)
    g = graph.copy()
    node = g.by_name(operator)
    if node is None:
        folds = ", ".join(n.name for n in g.nodes() if n.kind in PARTIAL) or "none"
        raise RewriteRefused(f"no operator named '{operator}'; global folds are: {folds}")
    if node.kind not in PARTIAL:
        why = ("keeps its state per key, so partitioning by that key needs no split"
               if node.kind in FOLDS and node.spec.state_key else
               "is not a global fold")
        raise RewriteRefused(f"{node.where()} {why}; split_fold splits count, fold, reduce and "
                             f"lattice_fold", node.loc)
    if to == node.location:
        raise RewriteRefused(f"the final merge of {node.where()} must run in a stage of its own, "
                             f"not in its stage '{to}'", node.loc)
    why = why_not_commutative(node, element_type(g, node)) or _why_not_mergeable(node)
    if why:
        raise RewriteRefused(f"{node.where()} cannot be split into partial folds: {why}", node.loc)

    check_state_laws(g, [node.id], "split_fold merges partial values of it folded from "
                     "different groupings of its records")
    source = g.node(node.inputs[0])
    partial = Node(g.fresh_id(), PARTIAL[node.kind], g.fresh_name(f"{node.name}_partial"),
                   node.inputs, dict(node.params), node.fns, node.loc,
                   output_collection(PARTIAL[node.kind], (source.coll,)), node.location)
    g.add(partial)
    fns = (UserFn.wrap(int), UserFn.wrap(add_counts)) if node.kind == "count" else node.fns
    final = node.copy(kind="fold" if node.kind == "count" else node.kind, fns=fns,
                      inputs=(partial.id,), location=to)
    g.replace(final)
    for nid in nx.descendants(g.tick_dag(), node.id):
        reader = g.node(nid)
        if reader.location == node.location and reader.kind != "sink":
            g.replace(reader.copy(location=to))
    g = insert_channels(g)
    check_no_divergent_delays(g)
    return g


def _why_not_mergeable(node: Node) -> str:
    """Partials of a lattice fold merge into the fold's value only when the lattice folds a
    record as a merge of ``of(record)``; one with its own ``update`` (RecordCount counts into
    one slot) would lose records in the merge."""
    lattice = node.params.get("lattice")
    if node.kind == "lattice_fold" and lattice.update is not Lattice.update:
        return (f"its lattice {lattice.__name__} folds records with its own update, not as a merge "
                f"of {lattice.__name__}.of(record), so merging partial values would not give the "
                f"fold's value")
    return ""

