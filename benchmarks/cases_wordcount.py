"""B8, the word count: 200,000 lines of 8 words counted by a ``collections.Counter`` loop, by
hydropy's local target and partitioned on Ray (see ``harness.py`` for the protocol)."""
from __future__ import annotations

import os
import random
from collections import Counter

from harness import PROGRAMS, case, digest, timed
from ray_harness import on_ray


def lines_of(n: int, words: int = 8, vocabulary: int = 10_000) -> list[str]:
    """``n`` lines of ``words`` words drawn from ``vocabulary`` distinct words (fixed seed)."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                    for _ in range(vocabulary)})
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n)]


def check(counts) -> str:
    return digest(sorted(counts))


@case
def b8_counter(n: int, repeats: int, **_) -> dict:
    lines = lines_of(n)

    def run():
        counts = Counter()
        for line in lines:
            for word in line.split():
                counts[word] += 1
        return counts

    out = timed(run, repeats)
    return {**out, "check": check(out.pop("result").items())}


def flow():
    from hydropy.loader import load_flow
    return load_flow(os.path.join(PROGRAMS, "word_count.py") + ":word_count")


@case
def b8_local(n: int, repeats: int, **_) -> dict:
    lines, wc = lines_of(n), flow()
    out = timed(lambda: wc.run({"lines": lines}), repeats)
    return {**out, "check": check(out.pop("result")["counts"])}


@case
def b8_ray(n: int, repeats: int, combined: int = 1, batch: int = 10_000, **_) -> dict:
    plan = "word_count_partitioned.yaml" if combined else "word_count_uncombined.yaml"
    out = on_ray(flow(), os.path.join(PROGRAMS, plan), {"lines": lines_of(n)}, repeats, batch)
    return {**out, "check": check(out.pop("result")["counts"])}
