"""The seven design points of the shopping cart (ApPLIED 2023), each a plan in
examples/plans/shopping_cart_dp<N>.yaml: all give the single-node program's carts, locally and
on Ray; design point 2 is refused where a channel feeding the cart can reorder, 3 to 7 are
accepted there (even when it also duplicates records) and give the same carts whatever order
the requests arrive in."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydropy import RewriteRefused
from hydropy.loader import load_flow, load_inputs
from hydropy.passes.decouple import decouple
from hydropy.passes.plan import apply_plan, load_plan
from hydropy.passes.reorder import reorder
from hydropy.targets.compile import compile_flow
from hydropy.targets.local import run
from hydropy.targets.ray import run_compiled

DESIGN_POINTS = range(1, 8)


@pytest.fixture
def cart(repo_root):
    return load_flow(str(repo_root / "examples" / "shopping_cart_indexed.py"))


@pytest.fixture
def inputs(repo_root):
    return load_inputs(str(repo_root / "examples" / "shopping_cart_indexed.yaml"))


def design_point(repo_root, flow, n):
    steps = load_plan(str(repo_root / "examples" / "plans" / f"shopping_cart_dp{n}.yaml"))
    history = apply_plan(flow.graph(), steps)
    return history[-1][1] if history else flow.graph()


def many_requests(seed: int, clients: int = 12) -> dict[str, list]:
    """Numbered requests of several clients, interleaved; some check out, some do not."""
    rng = random.Random(seed)
    per_client = []
    for c in range(clients):
        lines = [(f"c{c}", (i, ("add", rng.choice("abcde"), rng.randint(1, 3))))
                 for i in range(rng.randint(0, 5))]
        if rng.random() < 0.7:
            lines.append((f"c{c}", (len(lines), ("checkout", len(lines)))))
        per_client.append(lines)
    requests = []
    while any(per_client):
        queue = rng.choice([q for q in per_client if q])
        requests.append(queue.pop(0))
    classes = [(f"c{c}", rng.choice(["gold", "basic"])) for c in range(clients)]
    return {"requests": requests, "client_classes": classes}


def test_the_indexed_program_gives_the_carts_of_the_original(repo_root, inputs):
    original = load_flow(str(repo_root / "examples" / "shopping_cart.py"))
    indexed = load_flow(str(repo_root / "examples" / "shopping_cart_indexed.py"))
    plain = dict(inputs, requests=[(c, op) for c, (_, op) in inputs["requests"]])
    assert indexed.run(inputs) == original.run(plain)
    big = many_requests(0)
    assert indexed.run(big) == original.run(dict(big, requests=[(c, op) for c, (_, op) in big["requests"]]))


@pytest.mark.parametrize("n", DESIGN_POINTS)
def test_design_point_gives_the_single_node_carts_locally(repo_root, cart, inputs, n):
    graph = design_point(repo_root, cart, n)
    for data in (inputs, many_requests(n)):
        expected = cart.run(data)
        assert run(graph, data) == expected
        assert any(status == "checked_out" for _, (_, status, _) in expected["carts"])


@pytest.mark.parametrize("n", DESIGN_POINTS)
def test_design_point_gives_the_single_node_carts_on_ray(ray_session, repo_root, tmp_path, cart, n):
    data = many_requests(100 + n)
    graph = compile_flow(cart, str(tmp_path / "out"),
                         plan=str(repo_root / "examples" / "plans" / f"shopping_cart_dp{n}.yaml"))
    assert run_compiled(str(tmp_path / "out"), data, tick_size=7) == cart.run(data)
    assert graph.members_of("server") == (3 if n == 7 else 1)


def behind_a_reordering_network(graph, duplicates=False):
    """The design with the cart's stage fed over channels that may reorder (and duplicate)
    records (decoupled first when the design has one stage)."""
    if not any(node.kind == "network" for node in graph.nodes()):
        graph = decouple(graph, ["cart"], "server")
    for channel in [node.name for node in graph.nodes() if node.kind == "network"]:
        graph = reorder(graph, channel, duplicates)
    return graph


def test_design_point_1_is_refused_behind_a_duplicating_network(repo_root, cart):
    with pytest.raises(RewriteRefused, match=r"fold_keyed 'cart' is not idempotent"):
        behind_a_reordering_network(design_point(repo_root, cart, 1), duplicates=True)


def test_design_point_2_is_refused_behind_a_reordering_network(repo_root, cart):
    with pytest.raises(RewriteRefused, match=r"lattice_fold_keyed 'cart' keeps a BoundedPrefix, which "
                                             r"accepts only the next position.*can reorder"):
        behind_a_reordering_network(design_point(repo_root, cart, 2))


@pytest.mark.parametrize("n", range(3, 8))
def test_design_points_3_to_7_are_accepted_behind_a_reordering_network(repo_root, cart, n):
    graph = behind_a_reordering_network(design_point(repo_root, cart, n), duplicates=True)
    assert any(node.params.get("duplicates") for node in graph.nodes())

    @settings(max_examples=25, deadline=None, database=None)
    @given(seed=st.integers(0, 10_000), delivery=st.randoms(use_true_random=False),
           tick=st.integers(1, 6))
    def same_carts_in_any_delivery(seed, delivery, tick):
        """What a reordering, retrying network may deliver: any order, repeats, any ticks."""
        data = many_requests(seed, clients=6)
        shuffled = list(data["requests"]) + delivery.sample(data["requests"], len(data["requests"]) // 3)
        delivery.shuffle(shuffled)
        ticks = [{"requests": shuffled[i:i + tick]} for i in range(0, len(shuffled), tick)] or [{}]
        ticks[delivery.randrange(len(ticks))]["client_classes"] = data["client_classes"] * 2
        assert run(graph, ticks=ticks) == cart.run(data)

    same_carts_in_any_delivery()


def test_bounded_prefix_would_lose_requests_under_reordering(repo_root, cart):
    """Why design point 2 is refused: the same shuffled delivery loses line items."""
    graph = design_point(repo_root, cart, 2)
    data = many_requests(7)
    shuffled = dict(data, requests=list(reversed(data["requests"])))
    assert run(graph, shuffled) != cart.run(data)


def test_cli_stops_at_the_refused_step_with_exit_2(repo_root, tmp_path):
    plan = tmp_path / "dp2_reordered.yaml"
    plan.write_text((repo_root / "examples" / "plans" / "shopping_cart_dp2.yaml").read_text()
                    + "  - decouple: {operators: [cart], to: server}\n"
                      "  - reorder: {channel: tag_with_class_to_server}\n")
    for command in (["compile", "--target", "ray", "-o", str(tmp_path / "out")], ["explain"]):
        done = subprocess.run([sys.executable, "-m", "hydropy", *command[:1],
                               "examples/shopping_cart_indexed.py", "--plan", str(plan), *command[1:]],
                              cwd=repo_root, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr
        assert "dp2_reordered.yaml:6: plan step 'reorder' refused: " in lines[0]
        assert "BoundedPrefix" in lines[0] and "shopping_cart_indexed.py:39" in lines[0]
    assert not (tmp_path / "out").exists()
