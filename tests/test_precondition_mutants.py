"""Preconditions not covered by tests/test_mutants.py have teeth too: with a check removed
(monkeypatched), the design point the pass then accepts either computes something the
single-node program cannot, which the simulator (``hydropy check``'s machinery) finds, or is
not a valid graph, which ``apply_plan``'s verification reports as hydropy's own bug
(``PassFailed``). Each program is first refused by the real pass, so a failure can only come
from the mutant."""
from __future__ import annotations

import pytest

import hydropy as hp
from hydropy.errors import HydropyError, PassFailed, ProgramError
from hydropy.lattices import Max
from hydropy.passes import fuse as fuse_module
from hydropy.passes import replicate as replicate_module
from hydropy.passes.pipeline import design_point
from hydropy.passes.plan import parse_plan
from hydropy.targets.sim import check_run

PLAN = parse_plan("steps:\n  - replicate: {stage: main, n: 2}\n")
SEEDS = range(6)


def written_and_asked() -> hp.Flow:
    """Each put raises its key's maximum and asks for the maximum so far."""
    flow = hp.Flow("written_and_asked")
    puts = flow.source("puts")
    best = puts.lattice_fold_keyed(Max, name="best")
    puts.lookup(best, name="answer").sink("answers")
    return flow


PUTS = {"puts": [("a", 1), ("b", 4), ("a", 3), ("c", 2), ("b", 5)]}


def first_mismatch(flow: hp.Flow):
    graph = flow.graph()
    design = design_point(graph, PLAN)
    return next((m for seed in SEEDS if (m := check_run(graph, design, PUTS, seed)) is not None), None)


def test_the_real_pass_refuses():
    with pytest.raises(HydropyError, match="both writes the state and asks"):
        design_point(written_and_asked().graph(), PLAN)


def test_a_write_that_also_asks_a_lookup_is_caught_without_its_check(monkeypatch):
    monkeypatch.setattr(replicate_module, "check_writes_only_write", lambda *args: None)
    mismatch = first_mismatch(written_and_asked())
    assert mismatch is not None and mismatch.sink == "answers"  # every replica answers each put


# -- fuse: a chain whose links are not each other's only reader ----------------------------

def inc(x):
    return x + 1


def even(x):
    return x % 2 == 0


def also_read() -> hp.Flow:
    """'a' feeds 'b' and a sink of its own."""
    flow = hp.Flow("also_read")
    a = flow.source("xs").map(inc, name="a")
    a.sink("a_out")
    a.filter(even, name="b").sink("b_out")
    return flow


def not_adjacent() -> hp.Flow:
    """'c' reads 'b', which reads 'a': [a, c] is not a chain."""
    flow = hp.Flow("not_adjacent")
    flow.source("xs").map(inc, name="a").filter(even, name="b").map(inc, name="c").sink("out")
    return flow


@pytest.mark.parametrize("build, why", [(also_read, "also feeds"), (not_adjacent, "does not read 'a' alone")])
def test_fuse_without_its_link_check_is_caught_by_verification(monkeypatch, build, why):
    plan = parse_plan(f"steps:\n  - fuse: {{operators: [a, {'b' if build is also_read else 'c'}]}}\n")
    with pytest.raises(HydropyError, match=why):
        design_point(build().graph(), plan)
    monkeypatch.setattr(fuse_module, "check_link", lambda graph, prev, node: None)
    with pytest.raises(PassFailed, match="produced an invalid graph"):
        design_point(build().graph(), plan)


# -- push_fold: one mutant per condition (passes/push_fold.py) --------------------------------

from hydropy.lattices import SealedSet, reveal  # noqa: E402
from hydropy.passes import push_fold as push_fold_module  # noqa: E402


def no_entries():
    return ()


def log_event(log, record):
    """A session's log from joined records ``((seq, event), user)``."""
    (_seq, event), user = record
    return log + (f"{user}:{event}",)


def log_plain(log, record):
    return log + (record[1],)


def log_ranked(log, record):
    """From joined records ``((seq, event), (rank, user))``."""
    (_seq, event), (_rank, user) = record
    return log + (f"{user}:{event}",)


def sessions(extra=None) -> hp.Flow:
    """Events ``(session, (seq, event))`` joined with owners ``(session, user)``, each session's
    log folded from the joined records; ``extra(flow, joined)`` adds readers of the join."""
    flow = hp.Flow("sessions")
    joined = flow.source("events").join(flow.source("owners"), name="with_owner")
    joined.fold_keyed(no_entries, log_event, name="log").sink("logs")
    if extra:
        extra(flow, joined)
    return flow


SESSIONS = {"events": [("s1", (0, "open")), ("s2", (0, "open")), ("s1", (1, "buy")), ("s1", (2, "close"))],
            "owners": [("s1", "ann"), ("s2", "bo")]}


def sealed_then_pushed(index="[0, 0]", pushes=1) -> list:
    return parse_plan("steps:\n"
                      f"  - lattice: {{operator: log, as: sealed_set, index: {index}}}\n"
                      + "  - push_fold: {operator: log}\n" * pushes)


PUSH = parse_plan("steps:\n  - push_fold: {operator: log}\n")


def mismatch_of(flow: hp.Flow, plan, inputs, seeds=range(4)):
    graph = flow.graph()
    design = design_point(graph, plan)
    return next((m for seed in seeds if (m := check_run(graph, design, inputs, seed)) is not None), None)


def kept_whole() -> hp.Flow:
    """A keyed Max (not a sequence lattice) over joined records."""
    flow = hp.Flow("kept_whole")
    flow.source("events").join(flow.source("owners"), name="with_owner").lattice_fold_keyed(
        Max, name="log").sink("logs")
    return flow


def test_push_fold_of_a_non_sequence_fold_fails_inside_without_its_check(monkeypatch):
    """A domain guard, not a soundness one: only a sequence lattice has the ``index``, ``joined``
    and ``over`` the rewrite uses, so without the check no design comes out (hydropy fails inside)."""
    for flow, why in ((sessions(), "is a plain fold"), (kept_whole(), "not a keyed fold of a sequence")):
        with pytest.raises(HydropyError, match=why):
            design_point(flow.graph(), PUSH)
    monkeypatch.setattr(push_fold_module, "check_sequence_lattice", lambda fold: None)
    for flow in (sessions(), kept_whole()):
        with pytest.raises((KeyError, AttributeError)):  # no lattice; a lattice without `joined`
            design_point(flow.graph(), PUSH)


def devices_too() -> hp.Flow:
    """The left side of the join is itself a join, so a pushed fold reads a join again."""
    flow = hp.Flow("devices_too")
    events = flow.source("events").join(flow.source("devices"), name="with_device")
    log = events.join(flow.source("owners"), name="with_owner").lattice_fold_keyed(
        SealedSet.over((0, 0, 0), no_entries, log_plain), name="log")
    log.map(reveal, name="show").sink("logs")
    return flow


def test_push_fold_twice_is_refused_by_the_other_checks_without_its_own(monkeypatch):
    """check_not_pushed is redundant: after a push the fold reads the join's left side, and its
    one reader is its join_table, which check_views_reveal refuses (check_reads_a_join already
    does when that side is not a join)."""
    twice = parse_plan("steps:\n  - push_fold: {operator: log}\n  - push_fold: {operator: log}\n")
    with pytest.raises(HydropyError, match="already pushed"):
        design_point(sessions().graph(), sealed_then_pushed(pushes=2))
    with pytest.raises(HydropyError, match="already pushed"):
        design_point(devices_too().graph(), twice)
    monkeypatch.setattr(push_fold_module, "check_not_pushed", lambda fold: None)
    with pytest.raises(HydropyError, match="reads source 'events'.*not a join"):
        design_point(sessions().graph(), sealed_then_pushed(pushes=2))
    with pytest.raises(HydropyError, match=r"join_table 'with_owner' \(.*\) reads the state of"):
        design_point(devices_too().graph(), twice)


def merged_logs() -> hp.Flow:
    """A log folded from a union of two inputs (two inputs, not a join)."""
    flow = hp.Flow("merged_logs")
    events = flow.source("events").union(flow.source("late"), name="all_events")
    events.lattice_fold_keyed(SealedSet.over((0,), no_entries, log_plain), name="log").map(
        reveal, name="show").sink("logs")
    return flow


def test_push_fold_without_its_join_check_is_caught(monkeypatch):
    """Without the check, a union's second input becomes a table: its records' values are read
    as table values and the first input's as joined records, which have no position where the
    fold looks; the design fails at run time on inputs the program runs on."""
    inputs = {"events": [("s1", (0, "open")), ("s1", (1, "buy"))], "late": [("s2", (0, "open"))]}
    with pytest.raises(HydropyError, match="not a join"):
        design_point(merged_logs().graph(), PUSH)
    merged_logs().run(inputs)
    monkeypatch.setattr(push_fold_module, "check_reads_a_join", lambda graph, fold: graph.node(fold.inputs[0]))
    with pytest.raises(HydropyError, match="has no position"):
        mismatch_of(merged_logs(), PUSH, inputs)


def pairs_too(flow, joined):
    joined.sink("pairs")


def test_push_fold_without_its_other_readers_check_is_caught_by_verification(monkeypatch):
    """The join's other reader would read the join_table put in its place: not a valid graph."""
    with pytest.raises(HydropyError, match="also feeds"):
        design_point(sessions(pairs_too).graph(), sealed_then_pushed())
    monkeypatch.setattr(push_fold_module, "check_join_feeds_only", lambda graph, join, fold: None)
    with pytest.raises(PassFailed, match="produced an invalid graph"):
        design_point(sessions(pairs_too).graph(), sealed_then_pushed())


def size_of(state):
    return len(state.sequence())


def ranked(sizes=False) -> hp.Flow:
    """A user's sealed set positioned by the owner's rank (the table side); with ``sizes``
    positioned by the event's number and also read by a map that is not ``reveal``."""
    flow = hp.Flow("ranked")
    joined = flow.source("events").join(flow.source("owners"), name="with_owner")
    log = joined.lattice_fold_keyed(SealedSet.over((0, 0) if sizes else (1, 0), no_entries, log_ranked),
                                    name="log")
    log.map(reveal, name="show").sink("logs")
    if sizes:
        log.map(size_of, name="size").sink("sizes")
    return flow


RANKED = {"events": [("s1", (1, "open")), ("s2", (0, "open"))], "owners": [("s1", (0, "ann")), ("s2", (0, "bo"))]}


def test_push_fold_without_its_position_check_is_caught(monkeypatch):
    """Positions from the table side: after the push the kept events' own numbers would be read
    as positions (s1's event is numbered 1, so its log would look empty)."""
    with pytest.raises(HydropyError, match="not in the join's left side"):
        design_point(ranked().graph(), PUSH)
    monkeypatch.setattr(push_fold_module, "check_position_on_left", lambda fold: None)
    mismatch = mismatch_of(ranked(), PUSH, RANKED)
    assert mismatch is not None and mismatch.sink == "logs"


def test_push_fold_without_its_view_check_is_caught(monkeypatch):
    """A reader of the state other than reveal would be given reveal_joined's value instead."""
    inputs = {"events": [("s1", (0, "open")), ("s2", (0, "open"))], "owners": RANKED["owners"]}
    with pytest.raises(HydropyError, match="map 'size'.*reads the state of"):
        design_point(ranked(sizes=True).graph(), PUSH)
    monkeypatch.setattr(push_fold_module, "check_views_reveal", lambda fold, views: None)
    mismatch = mismatch_of(ranked(sizes=True), PUSH, inputs)
    assert mismatch is not None and mismatch.sink == "sizes"


# -- stage boundaries (passes/stages.py: check_stage_boundaries) -------------------------------

from hydropy.passes import stages as stages_module  # noqa: E402


def small(x):
    return x < 4


def twice(x):
    return 2 * x


def asked_elsewhere() -> hp.Flow:
    flow = hp.Flow("asked_elsewhere")
    best = flow.source("puts").lattice_fold_keyed(Max, name="best")
    flow.source("asks").lookup(best, name="answer").sink("answers")
    return flow


def looped() -> hp.Flow:
    """A loop: each x comes back as x + 1 while below 4."""
    flow = hp.Flow("looped")
    handle, back = flow.cycle(name="back")
    xs = flow.source("xs").union(back, name="all").map(inc, name="step")
    handle.complete(xs.filter(small, name="again"))
    xs.sink("out")
    return flow


def zigzag() -> hp.Flow:
    flow = hp.Flow("zigzag")
    flow.source("xs").map(inc, name="a").map(twice, name="b").map(inc, name="c").sink("out")
    return flow


def moved(*operators) -> list:
    return [{"decouple": {"operators": list(operators), "to": "s2"}}]


def test_a_state_read_across_stages_is_caught_by_verification_without_its_check(monkeypatch):
    with pytest.raises(HydropyError, match="can only be read in its own stage"):
        design_point(asked_elsewhere().graph(), moved("answer"))
    monkeypatch.setattr(stages_module, "check_state_read_in_place", lambda g: None)
    with pytest.raises(PassFailed, match="input 1 must be a keyed, got a stream"):
        design_point(asked_elsewhere().graph(), moved("answer"))


def test_a_loop_across_stages_is_refused_by_the_stage_order_check_without_its_own(monkeypatch):
    """check_loops_in_one_stage is implied by check_stages_form_dag."""
    with pytest.raises(HydropyError, match="would span stages main, s2"):
        design_point(looped().graph(), moved("again"))
    monkeypatch.setattr(stages_module, "check_loops_in_one_stage", lambda g: None)
    with pytest.raises(HydropyError, match=r"in a loop \((main -> s2 -> main|s2 -> main -> s2)\)"):
        design_point(looped().graph(), moved("again"))


@pytest.mark.parametrize("build, operator, inputs", [(zigzag, "b", {"xs": [1, 2, 3]}),
                                                     (looped, "again", {"xs": [0, 2, 5]})])
def test_stages_in_a_loop_are_what_ray_cannot_order_not_what_check_sees(monkeypatch, tmp_path, build,
                                                                        operator, inputs):
    """Without the stage-order checks a design whose stages form a loop is accepted; its
    answers are the program's (the simulator delivers asynchronously, and a channel's delay
    changes no answer of these monotone programs: anti_joins on such paths are refused by the
    divergent-delay check), but Ray's driver, which ticks a round's stages in topological
    order, cannot run it. So the check is a requirement of the target, which `hydropy check`
    cannot see (docs/rewrites.md)."""
    from hydropy.targets.compile import compile_flow
    from hydropy.targets.ray import _Driver, load_manifest
    import networkx as nx
    with pytest.raises(HydropyError, match="stages must form a pipeline|would span stages"):
        design_point(build().graph(), moved(operator))
    monkeypatch.setattr(stages_module, "check_loops_in_one_stage", lambda g: None)
    monkeypatch.setattr(stages_module, "check_stages_form_dag", lambda g: None)
    flow = build()
    graph = flow.graph()
    design = design_point(graph, moved(operator))
    assert all(check_run(graph, design, inputs, seed) is None for seed in range(4))
    compile_flow(flow, str(tmp_path / "out"), plan=_plan_file(tmp_path, operator))
    with pytest.raises(nx.NetworkXUnfeasible):
        _Driver(None, str(tmp_path / "out"), load_manifest(str(tmp_path / "out")), 1.0)


def _plan_file(tmp_path, operator) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(f"steps:\n  - decouple: {{operators: [{operator}], to: s2}}\n")
    return str(path)


# -- decouple: no unrouted channel into a stage of several members ------------------------------

from hydropy.passes import decouple as decouple_module  # noqa: E402


def same(kv):
    return kv


def add_value(total, n):
    return total + n


def two_feeds() -> hp.Flow:
    """Per-key sums over two inputs, one of them through a map that decouple moves out."""
    flow = hp.Flow("two_feeds")
    later = flow.source("b").map(same, name="bm")
    flow.source("a").union(later, name="both").fold_keyed(int, add_value, name="sums").sink("sums")
    return flow


def test_an_unrouted_channel_into_a_partitioned_stage_is_caught_without_its_check(monkeypatch):
    plan = [{"partition": {"stage": "main", "n": 2}}, {"decouple": {"operators": ["b", "bm"], "to": "pre"}}]
    inputs = {"a": [(k, 1) for k in "abcdef"], "b": [(k, 10) for k in "abcdef"]}
    with pytest.raises(HydropyError, match="without a routing"):
        design_point(two_feeds().graph(), plan)
    monkeypatch.setattr(decouple_module, "check_channels_routed", lambda g: None)
    mismatch = mismatch_of(two_feeds(), plan, inputs)
    assert mismatch is not None and mismatch.sink == "sums"  # a key's sums split over two members


# -- delivery: a bounded prefix needs in-order delivery (passes/stages.py: _check_order) ------

def test_a_bounded_prefix_behind_a_reordering_channel_is_caught_without_the_order_check(monkeypatch, repo_root):
    from hydropy.loader import load_flow
    cart = load_flow(str(repo_root / "examples" / "shopping_cart_indexed.py"))
    inputs = {"client_classes": [("alice", "gold")],
              "requests": [("alice", (i, ("add", f"item{i}", 1))) for i in range(8)]}
    plan = [{"lattice": {"operator": "cart", "as": "bounded_prefix", "index": [0, 0]}},
            {"decouple": {"operators": ["cart"], "to": "server"}},
            {"reorder": {"channel": "tag_with_class_to_server"}}]
    with pytest.raises(HydropyError, match="needs in-order delivery"):
        design_point(cart.graph(), plan)
    monkeypatch.setattr(stages_module, "_check_order", lambda g: None)
    mismatch = mismatch_of(cart, plan, inputs, seeds=range(20))
    assert mismatch is not None


# -- fuse: only stateless operators of a stream ------------------------------------------------

def pair_one(x):
    return (x, 1)


def counted() -> hp.Flow:
    flow = hp.Flow("counted")
    flow.source("xs").map(pair_one, name="ones").fold_keyed(int, add_value, name="per_x").sink("counts")
    return flow


def snapshot_shown() -> hp.Flow:
    flow = hp.Flow("snapshot_shown")
    flow.source("xs").fold(int, add_value, name="total").snapshot(name="now").map(inc, name="later").sink("out")
    return flow


@pytest.mark.parametrize("build, chain", [(counted, ["ones", "per_x"]), (snapshot_shown, ["now", "later"])])
def test_fuse_without_its_stateless_check_fails(monkeypatch, build, chain):
    """A fold or a snapshot fused into a chain: its functions would run as a map's and its
    state would be gone. No design comes out: the fused node's functions do not match its
    steps, which the IR's node check refuses inside the pass."""
    plan = parse_plan(f"steps:\n  - fuse: {{operators: [{', '.join(chain)}]}}\n")
    with pytest.raises(HydropyError, match="keeps state|is not a stateless operator"):
        design_point(build().graph(), plan)
    monkeypatch.setattr(fuse_module, "check_stateless", lambda graph, node: None)
    with pytest.raises(ProgramError, match=r"fused '.*' \(.*\) needs \d function\(s\), has \d"):
        design_point(build().graph(), plan)


# -- partition: the other conditions of _check_state (a loop, a literal source) ---------------

from hydropy.passes import partition as partition_module  # noqa: E402


def with_literal() -> hp.Flow:
    """The distinct values of xs and of a literal source: emitted by one member only."""
    flow = hp.Flow("with_literal")
    labels = flow.source_iter([1, 2, 3], name="labels")
    flow.source("xs").union(labels, name="both").unique(name="distinct").sink("distinct")
    return flow


def looped_distinct() -> hp.Flow:
    """Distinct values reached from xs by +1 steps below 4: the loop's records come back on
    the member that sent them, not on the member their value is routed to."""
    flow = hp.Flow("looped_distinct")
    handle, back = flow.cycle(name="back")
    seen = flow.source("xs").union(back, name="all").unique(name="seen")
    handle.complete(seen.filter(small, name="again").map(inc, name="next"))
    seen.sink("seen")
    return flow


@pytest.mark.parametrize("build, why", [(looped_distinct, "loop through cycle"),
                                        (with_literal, "literal source")])
def test_partition_loop_and_literal_conditions_are_implied_by_key_tracing(monkeypatch, build, why):
    """Redundant conditions of _check_state: a loop's and a literal source's records bypass
    the routing, so keyed state they reach cannot have its key traced to what enters the
    stage, which _requirements refuses; in a stage without keyed state they change nothing
    (a loop's records stay on their member, a literal is emitted once, as in the program)."""
    plan = [{"partition": {"stage": "main", "n": 2}}]
    with pytest.raises(HydropyError, match=why):
        design_point(build().graph(), plan)
    monkeypatch.setattr(partition_module, "_check_state", lambda g, members, shared: None)
    with pytest.raises(HydropyError, match="cannot be traced to a field of what enters stage 'main'"):
        design_point(build().graph(), plan)
    stateless = looped()
    graph = stateless.graph()
    design = design_point(graph, plan)
    assert all(check_run(graph, design, {"xs": [0, 1, 2, 5]}, seed) is None for seed in range(4))
