"""B10, lists on the wire: a batch of Python records put into Ray's object store and read back
(what a channel between two members costs), as the plain list Ray serializes element by
element, and in hydropy's wire form (``hydropy.runtime.batch.wire``: the list as one pickle)."""
from __future__ import annotations

import random

from harness import case, digest, timed
from ray_harness import ray_up


def records_of(kind: str, n: int) -> list:
    rng = random.Random(0)
    if kind == "pairs":  # a combined word count's (word, count)
        return [(f"w{rng.randrange(10_000)}", rng.randrange(1, 9)) for _ in range(n)]
    return [(f"c{rng.randrange(500)}", ("add", rng.choice(["apple", "pear", "fig"]), rng.randrange(1, 6)))
            for _ in range(n)]  # shopping-cart requests


@case
def b10_wire(n: int, repeats: int, wired: int = 1, nested: int = 0, **_) -> dict:
    from hydropy.runtime.batch import pack, wire
    batch = records_of("requests" if nested else "pairs", n)
    ray, _ = ray_up()
    try:
        def round_trip():
            sent = wire(pack(batch)) if wired else pack(batch)
            return ray.get(ray.put(sent))
        out = timed(round_trip, repeats)
    finally:
        ray.shutdown()
    if out.pop("result") != batch:
        raise SystemExit("a batch came back from Ray other than it went")
    return {**out, "check": digest(batch)}
