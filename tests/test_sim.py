"""The simulator (issue 5): deterministic per seed, explores delays and batching, runs every
example's design points without false alarms, and finds designs that break the program."""
from __future__ import annotations

from dataclasses import replace

import pytest

import hydropy as hp
from hydropy.ir import AT_LEAST_ONCE
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.decouple import decouple
from hydropy.passes.partition import partition
from hydropy.targets.compile import design_point
from hydropy.targets.local import canonical, run
from hydropy.targets.sim import check_run, simulate

EXAMPLES = ["wordcount", "shopping_cart", "kvstore", "voting"]


def example(repo_root, name):
    flow = load_flow(str(repo_root / "examples" / f"{name}.py"))
    return flow.graph(), load_inputs(str(repo_root / "examples" / f"{name}.yaml"))


def plan_graph(repo_root, name, plan):
    graph, inputs = example(repo_root, name)
    return graph, design_point(graph, str(repo_root / "examples" / "plans" / f"{name}_{plan}.yaml")), inputs


def test_same_seed_same_run_other_seed_other_run(repo_root):
    _, design, inputs = plan_graph(repo_root, "kvstore", "3stage")
    a, b = simulate(design, inputs, 7), simulate(design, inputs, 7)
    assert a.trace == b.trace and a.results == b.results
    assert len({tuple(simulate(design, inputs, s).trace) for s in range(10)}) > 5


@pytest.mark.parametrize("plan", ["2stage", "3stage"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_plans_agree_with_single_node(repo_root, name, plan):
    graph, design, inputs = plan_graph(repo_root, name, plan)
    for seed in range(20):
        assert check_run(graph, design, inputs, seed) is None


def test_point_in_time_reads_are_explained_by_the_arrival_order(repo_root):
    """kvstore's gets race its puts: many runs differ from the one-tick run, none is wrong."""
    graph, design, inputs = plan_graph(repo_root, "kvstore", "3stage")
    one_tick = canonical(graph, run(graph, inputs))
    differ = [s for s in range(40) if canonical(graph, simulate(design, inputs, s).results) != one_tick]
    assert len(differ) > 5
    assert all(check_run(graph, design, inputs, s) is None for s in differ)


def counting_flow():
    flow = hp.Flow("counts")
    flow.source("words").map(lambda w: (w, 1), name="ones").fold_keyed(int, lambda a, b: a + b,
                                                                        name="per_word").sink("counts")
    return flow


def test_a_broken_routing_is_caught_with_seed_sink_and_trace():
    graph = counting_flow().graph()
    design = partition(decouple(graph, ["per_word"], "agg"), "agg", 2)
    net = next(n for n in design.nodes() if n.kind == "network")
    broken = design.copy()
    broken.replace(net.copy(params=dict(net.params, routing="round_robin", key=None)))
    inputs = {"words": ["a", "b", "a", "c", "a", "b"]}
    assert all(check_run(graph, design, inputs, s) is None for s in range(10))
    found = [m for m in (check_run(graph, broken, inputs, s) for s in range(10)) if m]
    assert found
    text = str(found[0])
    assert "sink 'counts'" in text and f"seed {found[0].seed}" in text and "missing:" in text
    assert "receives" in text  # the trace names the deliveries


def positive(n):
    return n > 0


def dec(n):
    return n - 1


def test_a_loop_inside_a_stage_drains():
    flow = hp.Flow("countdown")
    handle, back = flow.cycle(name="back")
    alive = flow.source("start").union(back, name="alive")
    alive.count(name="n").sink("n")
    handle.complete(alive.filter(positive, name="positive").map(dec, name="dec"))
    graph = flow.graph()
    design = decouple(graph, ["alive", "positive", "dec", "back", "n"], "loop")
    for seed in range(5):
        assert simulate(design, {"start": [3, 2]}, seed).results == {"n": [7]}
        assert check_run(graph, design, {"start": [3, 2]}, seed) is None


def test_at_least_once_channels_duplicate_and_compare_as_sets():
    flow = hp.Flow("dups")
    flow.source("xs").map(lambda x: x + 1, name="inc").sink("out")
    graph = flow.graph()
    design = decouple(graph, ["inc"], "b")
    net = next(n for n in design.nodes() if n.kind == "network")
    lossy = design.copy()
    lossy.replace(net.copy(coll=replace(net.coll, retry=AT_LEAST_ONCE)))
    inputs = {"xs": list(range(12))}
    runs = [simulate(lossy, inputs, s) for s in range(20)]
    assert any(len(r.results["out"]) > 12 for r in runs)
    assert all(set(r.results["out"]) == set(range(1, 13)) for r in runs)
    assert all(check_run(graph, lossy, inputs, s) is None for s in range(20))
    assert all(len(simulate(design, inputs, s).results["out"]) == 12 for s in range(20))


def test_stateless_members_crash_and_restart_without_changing_the_sinks(repo_root):
    graph, design, inputs = plan_graph(repo_root, "wordcount", "3stage")  # ingest keeps no state
    runs = [simulate(design, inputs, s) for s in range(60)]
    crashed = [r for r in runs if any("ingest[0] crashes and restarts" in line for _, line in r.trace)]
    assert crashed and all(check_run(graph, design, inputs, r.seed) is None for r in crashed)
    # main counts: it never restarts from scratch, it recovers its state (tests/test_recovery.py)
    assert not any("main[0] crashes and restarts" in line for r in runs for _, line in r.trace)


def test_unknown_input_is_the_oracles_error(repo_root):
    _, design, _ = plan_graph(repo_root, "wordcount", "2stage")
    with pytest.raises(hp.InputError, match="unknown input 'nope'"):
        simulate(design, {"nope": [1]}, 0)


def test_decouple_refuses_a_channel_into_a_partitioned_stage():
    flow = hp.Flow("cart")
    left, right = flow.source("left"), flow.source("right")
    left.map(lambda kv: kv, name="pass_left").join(right, name="pair").sink("pairs")
    graph = partition(flow.graph(), "main", 2)
    with pytest.raises(hp.RewriteRefused, match="has 2 members, without a routing"):
        decouple(graph, ["left"], "ingest")


def test_decouple_refuses_to_split_two_readers_of_the_same_inputs():
    """Found by the random-program property test: two anti_joins of the same streams, one
    moved to another stage, could disagree (one sees the keys late), which no single-node run
    does. The simulator shows it; the precondition now refuses it."""
    flow = hp.Flow("twins")
    kv, xs = flow.source("kv"), flow.source("xs")
    kv.anti_join(xs, name="moved").sink("moved")
    kv.anti_join(xs, name="stays").sink("stays")
    graph = flow.graph()
    with pytest.raises(hp.RewriteRefused, match="'(stays|moved)' and anti_join '(moved|stays)'"):
        decouple(graph, ["moved"], "b")
    inputs = {"kv": [(0, "a"), (1, "b")], "xs": [0]}
    from hydropy.passes import stages
    unchecked = stages.insert_channels(graph.copy())
    for node in unchecked.nodes():
        if node.name == "moved":
            unchecked.replace(node.copy(location="b"))
    unchecked = stages.insert_channels(unchecked)
    found = [m for m in (check_run(graph, unchecked, inputs, s) for s in range(30)) if m]
    assert found and all(m.sink in ("moved", "stays") for m in found)


def test_merged_batches_are_explained_by_the_senders_ticks():
    """Found by the property test: a receiver that merges two batches of a union sees
    ``x, x, y, y``, which a single-node run gives with x and y in separate ticks."""
    flow = hp.Flow("doubled")
    kv = flow.source("kv")
    kv.union(kv, name="twice").fold_keyed(tuple, lambda acc, v: acc + (v,), name="seen").sink("seen")
    graph = flow.graph()
    design = decouple(graph, ["seen"], "b")
    inputs = {"kv": [(0, 0), (0, 1), (0, 2)]}
    orders = {str(simulate(design, inputs, s).results["seen"]) for s in range(30)}
    assert len(orders) > 1
    assert all(check_run(graph, design, inputs, s) is None for s in range(30))


def test_partitioned_stage_feeding_two_channels_keeps_one_order():
    """Found by the random-program property test. stage2 (the input and a union) partitioned
    round robin would send its members' batches to main on two channels, merged in different
    orders, so the per-key fold could say 0 came before 7 while the snapshot shows a set with
    7 and not 0: no single-node run shows both. Partition refuses it: the fold downstream
    depends on the order the members interleave."""
    from hydropy.lattices import SetUnion
    flow = hp.Flow("two_orders")
    kv = flow.source("kv")
    kv.fold_keyed(tuple, lambda acc, v: acc + (v,), name="order").sink("order")
    sets = kv.union(kv, name="twice").lattice_fold_keyed(SetUnion, name="sets")
    sets.snapshot(name="seen").sink("seen")
    with pytest.raises(hp.RewriteRefused, match="fold_keyed 'order' .* interleaved"):
        partition(decouple(flow.graph(), ["kv", "twice"], "stage2"), "stage2", 2)


# -- what the channel contract allows (issue 9, class 5) ---------------------------------------

def empty():
    return ()


def append(acc, x):
    return acc + (x,)


def two_observers():
    """The order of ``xs`` seen twice: by a fold here, and by a fold behind a channel."""
    flow = hp.Flow("two_observers")
    xs = flow.source("xs")
    xs.fold(empty, append, name="order_here").sink("here")
    xs.fold(empty, append, name="order_there").sink("there")
    return flow


def test_a_reordering_channel_into_an_order_sensitive_fold_is_caught_only_when_reordering():
    """A channel declared ``reorder`` delivers batches in any order; the fold behind it then
    disagrees with the fold that saw the input order, which no single-node run shows. With the
    same design delivered FIFO (what the old simulator did on every channel) nothing is found."""
    from hydropy.passes import reorder as reorder_module
    from hydropy.passes.pipeline import design_point
    graph = two_observers().graph()
    fifo = decouple(graph, ["order_there"], "b")
    channel = next(n.name for n in fifo.nodes() if n.kind == "network")
    steps = [{"decouple": {"operators": ["order_there"], "to": "b"}}, {"reorder": {"channel": channel}}]
    with pytest.raises(hp.RewriteRefused, match=r"fold 'order_there' \(.*\) would receive the records of channel"):
        design_point(graph, steps)  # the precondition refuses this design point
    reordering = reorder_module.reorder(fifo, channel)  # the step alone (the mutant) is caught:
    inputs = {"xs": list(range(8))}
    assert not [s for s in range(30) if check_run(graph, fifo, inputs, s)]
    found = [m for m in (check_run(graph, reordering, inputs, s) for s in range(30)) if m]
    assert found and {m.sink for m in found} <= {"here", "there"}
    runs = [simulate(reordering, inputs, s).results["there"][0] for s in range(30)]
    assert any(list(r) != sorted(r) for r in runs) and all(sorted(r) == list(range(8)) for r in runs)


def answer(kq):
    return (kq[1][0], kq[1][1].reveal() if kq[1][1] else None)


def two_writers():
    """Two inputs write one keyed set; reads look it up."""
    from hydropy.lattices import SetUnion
    flow = hp.Flow("two_writers")
    writes = flow.source("writes_a").union(flow.source("writes_b"), name="writes")
    store = writes.lattice_fold_keyed(SetUnion, name="store")
    flow.source("gets").lookup(store, name="read").map(answer, name="answer").sink("answers")
    return flow


TWO_WRITERS = {"writes_a": [(0, "a1"), (0, "a2"), (0, "a3")], "writes_b": [(0, "b1"), (0, "b2"), (0, "b3")],
               "gets": [(0, i) for i in range(6)]}


def test_replicas_apart_expose_a_design_that_assumes_lockstep(monkeypatch):
    """Replicas take the two write inputs each at its own pace, so one replica can hold a1 but
    not b1 while the other holds b1 but not a1, and reads served by both show states no single
    order of the writes gives. Delivered in lockstep (every member takes everything waiting
    in every tick, as Ray's rounds and the old simulator did) the replicas never drift apart."""
    from hydropy.passes import replicate as replicate_module
    from hydropy.targets.sim import Simulator
    graph = two_writers().graph()
    with pytest.raises(hp.RewriteRefused, match="'writes_a' and 'writes_b' write it"):
        replicate_module.replicate(graph, "main", 2)  # the precondition refuses this design
    monkeypatch.setattr(replicate_module, "check_one_write_order", lambda *args: None)
    design = replicate_module.replicate(graph, "main", 2)  # the mutant accepts it: caught
    found = [m for m in (check_run(graph, design, TWO_WRITERS, s) for s in range(40)) if m]
    assert found and all(m.sink == "answers" for m in found)
    monkeypatch.setattr(Simulator, "_take", lambda self, waiting: waiting)
    assert not [s for s in range(40) if check_run(graph, design, TWO_WRITERS, s)]


def test_members_of_a_partitioned_stage_lag_each_other(repo_root):
    """Each member takes its share of an input in its own ticks: in some step one member of
    'main' takes records while the other takes none (the old simulator handed every member its
    share in the same tick), and every such run is still explained."""
    graph, design, inputs = plan_graph(repo_root, "wordcount", "partitioned")
    assert design.members_of("main") == 2
    lagged = []
    for seed in range(20):
        sim = simulate(design, inputs, seed)
        if any(("main[0] takes" in line) != ("main[1] takes" in line) for _, line in sim.trace):
            lagged.append(seed)
    assert len(lagged) > 5
    assert all(check_run(graph, design, inputs, s) is None for s in lagged)


def two_inputs_relayed():
    """Two inputs merged by a stateless stage and counted per key by two members."""
    flow = hp.Flow("two_inputs_relayed")
    both = flow.source("xs").union(flow.source("ys"), name="both").map(to_pair, name="pairs")
    both.fold_keyed(int, add, name="sums").sink("sums")
    return flow


def test_a_stateless_stage_sends_each_piece_on_its_own(monkeypatch):
    """A member of a stage without state that takes several pieces in one tick runs them one
    after another, so each send derives from one event and its pieces reach the receiving
    members apart (issue 9: pieces travel alone). Without that (one run_tick for the tick),
    some sends derive from two events and their pieces travel together."""
    from hydropy.targets.emit import find_program
    from hydropy.targets.sim import Simulator, emitted_stages
    flow = two_inputs_relayed()
    graph = flow.graph()
    design = partition(decouple(graph, ["sums"], "agg"), "agg", 2)
    inputs = {"xs": [1, 2, 3, 4, 5, 6], "ys": [7, 8, 9, 10]}
    classes = emitted_stages(design, find_program(flow))

    class Recording(Simulator):
        """Records, for stage main, how many events each run_tick's pieces derive from."""

        def _tick_member(self, stage, m, member, batches, carried):
            if stage == "main":
                widths.append(len(set().union(*carried.values())))
            super()._tick_member(stage, m, member, batches, carried)

    widths, merged = [], 0
    for seed in range(6):
        sim = Recording(design, inputs, seed, classes)
        sim.run()
        merged += sum(line.count("main[0] takes") > 1 for stage, line in sim.trace if stage == "main")
        assert check_run(graph, design, inputs, seed) is None
    assert merged > 0                # some ticks of main took a piece of xs and one of ys
    assert max(widths) == 1          # yet every send of main derives from one event


# -- the criterion relaxes only the paths that repeat (issue 9, class 6) -----------------------

def inc(x):
    return x + 1


def double(x):
    return x * 2


def to_pair(x):
    return (x % 2, x)


def add(a, b):
    return a + b


def key_of(kv):
    return kv[0]


def two_paths():
    """The keys of a per-tick snapshot (repeated once per tick) and the doubled inputs, in one sink."""
    flow = hp.Flow("two_paths")
    xs = flow.source("xs")
    now = xs.map(to_pair, name="pairs").fold_keyed(int, add, name="sums").snapshot(name="now")
    now.map(key_of, name="keys").union(xs.map(double, name="b"), name="both").sink("out")
    return flow


def test_records_tripled_where_no_repetition_reaches_them_are_rejected():
    """The snapshot's keys reach the sink once per tick, so they compare as a set; the doubled
    inputs do not repeat, so they compare exactly. A design that triples them (a broadcast into
    three members) passed while the criterion compared the whole sink as a set because a
    snapshot was upstream; now only the snapshot's records are relaxed, and the verdict says so."""
    graph = two_paths().graph()
    design = decouple(decouple(graph, ["xs"], "ingest"), ["b"], "right")
    inputs = {"xs": [1, 2, 3, 4]}
    assert all(check_run(graph, design, inputs, s) is None for s in range(20))
    into_right = next(n for n in design.nodes() if n.kind == "network" and n.location == "right")
    tripled = design.copy()
    tripled.members["right"] = 3
    tripled.replace(into_right.copy(params=dict(into_right.params, routing="broadcast")))
    got = simulate(tripled, inputs, 0).results["out"]
    expected = run(graph, inputs)["out"]
    assert sorted(got).count(4) == 3 and set(got) == set(expected)  # equal as sets
    found = check_run(graph, tripled, inputs, 0)
    assert found is not None and found.sink == "out" and sorted(found.extra) == [2, 2, 4, 4, 6, 6, 8, 8]
    assert "as a set for the records from snapshot 'now', exactly for the rest" in str(found)


def add(total, n):
    return total + n


@pytest.mark.parametrize("plan, where", [
    ([{"partition": {"stage": "main", "n": 2}}], "source 'kv' to stage 'main'"),
    ([{"decouple": {"operators": ["total"], "to": "agg"}}, {"partition": {"stage": "agg", "n": 2}}],
     "from stage 'main'"),
])
def test_a_key_that_cannot_be_routed_is_a_user_error_naming_where(plan, where):
    """A routing key whose values have no process-independent hash (a date) is the user's
    error (exit 2, one line) naming the source or channel and stage, not a TypeError."""
    import datetime

    from hydropy.errors import PlanError
    from hydropy.runtime.batch import stable_hash
    from hydropy.testing import assert_equivalent
    flow = hp.Flow("dates")
    flow.source("kv").fold_keyed(int, add, name="total").sink("totals")
    day = datetime.date(2024, 1, 1)
    with pytest.raises(PlanError) as info:
        assert_equivalent(flow, plan, {"kv": [(day, 1), (day, 2)]}, seeds=range(3))
    message = str(info.value)
    assert where in message and "cannot route by the key datetime.date(2024, 1, 1)" in message
    assert "\n" not in message and info.value.exit_code == 2
    with pytest.raises(PlanError, match="a value of type date has no hash"):
        stable_hash((1, day))
