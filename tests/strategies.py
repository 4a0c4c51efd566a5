"""Random well-formed programs for property tests, built as readable source text.

``programs()`` draws a program from a small grammar: one to three inputs (``xs``: ints,
``kv``: ``(key, value)`` pairs, ``ck``: pairs with a composite key ``((a, b), v)``, ``bk``: pairs
whose key ``("user", k)`` another input builds with a map), then a few named operators (stateless, keyed and unkeyed
folds, lattice folds, join, unique, anti_join, snapshot, lookup, now and then a loop; keys
computed by helpers, methods, module constants and ``hash``), each
applied to a stream of the right shape, with a sink on every result nobody reads. Programs
are well-formed: a fold whose result depends on order reads only ordered streams. The
program is generated as Python source that calls the module-level functions below (so
lineage analysis can read them) and executed to build the Flow; a failing example shows the
source, which Hypothesis shrinks to a short program.
"""
from __future__ import annotations

import atexit
import re
import hashlib
import importlib.util
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import strategies as st

import hydropy as hp
from hydropy.lattices import Lattice, Max, SetUnion

# -- the functions programs may call ---------------------------------------------------------


@st.composite
def cut_into_ticks(draw, batch: dict[str, list], max_cuts: int | None = None) -> list[dict[str, list]]:
    """``batch``'s records permuted and cut into ticks (empty ticks included; at most
    ``max_cuts`` cuts, default one per record and one more)."""
    events = [(name, rec) for name, recs in batch.items() for rec in recs]
    order = draw(st.permutations(events))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)),
                                max_size=len(order) + 1 if max_cuts is None else max_cuts)))
    ticks, start = [], 0
    for end in cuts + [len(order)]:
        tick: dict[str, list] = {}
        for name, rec in order[start:end]:
            tick.setdefault(name, []).append(rec)
        ticks.append(tick)
        start = end
    return ticks


def inc(x):
    return x + 1


def double(x):
    return x * 2


def is_even(x):
    return x % 2 == 0


def small(x):
    return x < 6


def spread(x):
    return [x, x + 1]


def halve_even(x):
    return x // 2 if x % 2 == 0 else None


def to_pair(x):
    return (x % 3, x)


def key_of(kv):
    return kv[0]


def value_of(kv):
    return kv[1]


def bump(kv):
    return (kv[0], kv[1] + 1)


def rekey(kv):
    return (kv[1] % 3, kv[0])


def join_sum(kv):
    return (kv[0], kv[1][0] + kv[1][1])


def lookup_found(kv):
    return (kv[0], kv[1][0], kv[1][1] is not None)


def add(acc, x):
    return acc + x


# composite keys ``((a, b), v)`` and keys built by a map ``(("user", k), v)``

def user_part(ck):
    """A composite key's first part: a fold by it shares routes with a join by the whole key."""
    return (ck[0][0], ck[1])


def join_ck(kv):
    return (kv[0], kv[1][0] + kv[1][1])


def mixed_key(ck):
    """A key computed from both parts of a composite key."""
    return (ck[0][0] * 3 + ck[0][1], ck[1])


def tag_user(kv):
    """Builds the key that ``bk`` records arrive with already built."""
    return (("user", kv[0]), kv[1])


def untag(bk):
    return (bk[0][1], bk[1])


GROUPS = {0: 1, 1: 1, 2: 0, 3: 2, 4: 0, 5: 2, 6: 1, 7: 0}


def bucket(k):
    return k % 2


def bucket_key(kv):
    """A key computed by a helper function."""
    return (bucket(kv[0]), kv[1])


def group_key(kv):
    """A key looked up in a module constant."""
    return (GROUPS[kv[0]], kv[1])


def width_key(kv):
    """A key computed by a method of the record's field."""
    return (kv[0].bit_length(), kv[1])


def string_hash_key(kv):
    """A key computed by hash() of a str (one PYTHONHASHSEED per run)."""
    return (hash(str(kv[0])) % 3, kv[1])


def lower_key(sk):
    """A key computed by a method of a str field: r[0].lower()."""
    return (sk[0].lower(), sk[1])


def tagged_key(sk):
    """A key built by an f-string."""
    return (f"u-{sk[0]}", sk[1])


def length_key(sk):
    """An int key computed from a str field: len(r[0]) % 3."""
    return (len(sk[0]) % 3, sk[1])


# -- user lattices: one lawful, two breaking a law (the passes must check, not trust) ---------

class UserMax(Lattice):
    """A lawful user lattice: the largest int seen (None below all)."""

    def __init__(self, value=None):
        self.value = value

    def merge(self, other):
        if other.value is not None and (self.value is None or other.value > self.value):
            self.value = other.value
            return True
        return False

    def reveal(self):
        return self.value


class FirstWins(Lattice):
    """Not commutative: keeps the first value merged into it (order-sensitive, like a fold
    recording its input order: programs fold it over ordered streams only)."""

    def __init__(self, value=None):
        self.value = value

    def merge(self, other):
        if self.value is None and other.value is not None:
            self.value = other.value
            return True
        return False

    def reveal(self):
        return self.value


class Summed(Lattice):
    """Not idempotent: merging adds (a value merged twice counts twice)."""

    def __init__(self, value=0):
        self.value = value

    def merge(self, other):
        self.value += other.value
        return other.value != 0

    def reveal(self):
        return self.value


def empty():
    return ()


def append(acc, x):
    """Order-sensitive: the fold's value records its input order."""
    return acc + (x,)


NAMESPACE = {f.__name__: f for f in (inc, double, is_even, small, spread, halve_even, to_pair, key_of,
                                     value_of, bump, rekey, join_sum, lookup_found, add, empty, append,
                                     user_part, join_ck, mixed_key, tag_user, untag, bucket_key,
                                     group_key, width_key, string_hash_key, lower_key, tagged_key,
                                     length_key, UserMax, FirstWins, Summed)}
NAMESPACE.update(hp=hp, Max=Max, SetUnion=SetUnion, max=max)

INT, PAIR, FOLD, KEYED_FOLD = "int", "pair", "fold", "keyed"
#: composite-key pairs ``((a, b), v)``, their keyed folds, and pairs keyed by ``("user", k)``
COMPOSITE, COMPOSITE_FOLD, BUILT = "composite", "composite_fold", "built"
#: pairs keyed by short strings ``("Ab", v)``, and their keyed folds
TEXT, TEXT_FOLD = "text", "text_fold"
#: a snapshot's pairs (values: whatever the fold holds), and their keys: repeated once per tick,
#: so only unique() turns them into records whose count means something
SNAPSHOT, SNAPSHOT_KEYS = "snapshot", "snapshot_keys"

#: (template, input shapes, output shape); {0}, {1} are the inputs' variables
OPERATORS = [
    ("{0}.map(inc)", (INT,), INT),
    ("{0}.map(double)", (INT,), INT),
    ("{0}.filter(is_even)", (INT,), INT),
    ("{0}.filter(small)", (INT,), INT),
    ("{0}.flat_map(spread)", (INT,), INT),
    ("{0}.filter_map(halve_even)", (INT,), INT),
    ("{0}.map(to_pair)", (INT,), PAIR),
    ("{0}.map(key_of)", (PAIR,), INT),
    ("{0}.map(value_of)", (PAIR,), INT),
    ("{0}.map(bump)", (PAIR,), PAIR),
    ("{0}.map(rekey)", (PAIR,), PAIR),
    ("{0}.union({1})", (INT, INT), INT),
    ("{0}.union({1})", (PAIR, PAIR), PAIR),
    ("{0}.unique()", (INT,), INT),
    ("{0}.unique()", (PAIR,), PAIR),
    ("{0}.join({1}).map(join_sum)", (PAIR, PAIR), PAIR),
    ("{0}.anti_join({1})", (PAIR, INT), PAIR),
    ("{0}.fold(int, add)", (INT,), FOLD),
    ("{0}.count()", (INT,), FOLD),
    ("{0}.lattice_fold(Max)", (INT,), FOLD),
    ("{0}.fold_keyed(int, add)", (PAIR,), KEYED_FOLD),
    ("{0}.fold_keyed(empty, append)", (PAIR,), KEYED_FOLD),
    ("{0}.reduce_keyed(max)", (PAIR,), KEYED_FOLD),
    ("{0}.lattice_fold_keyed(Max)", (PAIR,), KEYED_FOLD),
    ("{0}.lattice_fold_keyed(SetUnion)", (PAIR,), KEYED_FOLD),
    ("{0}.snapshot()", (KEYED_FOLD,), SNAPSHOT),
    ("{0}.map(key_of)", (SNAPSHOT,), SNAPSHOT_KEYS),
    ("{0}.unique()", (SNAPSHOT_KEYS,), INT),
    ("{0}.lookup({1}).map(lookup_found)", (PAIR, KEYED_FOLD), None),
    # composite and computed keys, on several inputs
    ("{0}.map(user_part)", (COMPOSITE,), PAIR),
    ("{0}.map(mixed_key)", (COMPOSITE,), PAIR),
    ("{0}.join({1}).map(join_ck)", (COMPOSITE, COMPOSITE), COMPOSITE),
    ("{0}.unique()", (COMPOSITE,), COMPOSITE),
    ("{0}.fold_keyed(int, add)", (COMPOSITE,), COMPOSITE_FOLD),
    ("{0}.lattice_fold_keyed(Max)", (COMPOSITE,), COMPOSITE_FOLD),
    ("{0}.lookup({1}).map(lookup_found)", (COMPOSITE, COMPOSITE_FOLD), None),
    ("{0}.map(tag_user)", (PAIR,), BUILT),
    ("{0}.map(untag)", (BUILT,), PAIR),
    ("{0}.join({1}).map(join_sum)", (BUILT, BUILT), BUILT),
    ("{0}.fold_keyed(int, add)", (BUILT,), None),
    ("{0}.map(bucket_key)", (PAIR,), PAIR),
    ("{0}.map(group_key)", (PAIR,), PAIR),
    ("{0}.map(width_key)", (PAIR,), PAIR),
    ("{0}.map(string_hash_key)", (PAIR,), PAIR),
    # keys computed by methods and f-strings of str fields, on several inputs
    ("{0}.map(lower_key)", (TEXT,), TEXT),
    ("{0}.map(tagged_key)", (TEXT,), TEXT),
    ("{0}.map(length_key)", (TEXT,), PAIR),
    ("{0}.join({1}).map(join_sum)", (TEXT, TEXT), TEXT),
    ("{0}.union({1})", (TEXT, TEXT), TEXT),
    ("{0}.fold_keyed(int, add)", (TEXT,), TEXT_FOLD),
    ("{0}.lattice_fold_keyed(UserMax)", (TEXT,), TEXT_FOLD),
    ("{0}.lookup({1}).map(lookup_found)", (TEXT, TEXT_FOLD), None),
    # user lattices, lawful or not
    ("{0}.lattice_fold(UserMax)", (INT,), FOLD),
    ("{0}.lattice_fold_keyed(UserMax)", (PAIR,), KEYED_FOLD),
    ("{0}.lattice_fold(Summed)", (INT,), FOLD),
    ("{0}.lattice_fold_keyed(Summed)", (PAIR,), KEYED_FOLD),
    ("{0}.lattice_fold_keyed(FirstWins)", (PAIR,), KEYED_FOLD),
    ("{0}.lattice_fold(FirstWins)", (INT,), FOLD),
]
#: a fold whose result depends on its input's order: only over ordered streams (over an
#: unordered one its result is unspecified, so no program is well-formed that way)
ORDER_SENSITIVE = ("{0}.fold_keyed(empty, append)", "{0}.lattice_fold_keyed(FirstWins)",
                   "{0}.lattice_fold(FirstWins)")
#: drawn twice as often: the operators whose state or timing rewrites must respect
STATEFUL_AGAIN = [op for op in OPERATORS if op[0].split("(")[0].split(".")[-1] in
                  ("join", "anti_join", "snapshot", "lookup", "fold_keyed")]
#: sources and the shape of their records
SOURCES = {"xs": INT, "kv": PAIR, "ck": COMPOSITE, "bk": BUILT, "sk": TEXT}
LOOP = ["back_handle, back = flow.cycle(name='back')",
        "{v} = {0}.union(back, name='{v}_in').unique(name='{v}')",
        "back_handle.complete({v}.filter(small, name='{v}_small').map(inc, name='{v}_next'))"]
#: a cycle into an anti_join: the pairs whose key no earlier tick passed (its keys come back
#: around the loop one tick later)
LOOP_ANTI = ["{v}_handle, {v}_back = flow.cycle(name='{v}_back')",
             "{v} = {0}.anti_join({v}_back, name='{v}')",
             "{v}_handle.complete({v}.map(key_of, name='{v}_keys'))"]


@dataclass
class Program:
    source: str
    flow: hp.Flow
    inputs: dict[str, list]

    def __str__(self) -> str:
        return f"{self.source}\ninputs = {self.inputs!r}"


#: where generated programs are written: a program is a real module file, so that hydropy
#: check can emit its stages as ``hydropy compile`` would (removed at exit)
PROGRAM_DIR = tempfile.mkdtemp(prefix="hydropy-random-programs-")
atexit.register(shutil.rmtree, PROGRAM_DIR, True)


def build(source: str) -> hp.Flow:
    """Write ``source`` (after imports of the names above) to a module file and import it."""
    header = (f"from strategies import {', '.join(sorted(f for f in NAMESPACE if f not in ('hp', 'max')))}\n"
              "import hydropy as hp\n")
    name = f"random_program_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    path = os.path.join(PROGRAM_DIR, f"{name}.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if name in _LOADED:
        _LOADED.remove(name)
    _LOADED.append(name)
    while len(_LOADED) > KEEP_LOADED:  # a long run draws thousands: each would stay loaded
        sys.modules.pop(_LOADED.pop(0), None)
    return module.flow


#: the generated program modules kept loaded (the newest: the one under test and a few before)
KEEP_LOADED = 32
_LOADED: list[str] = []


@st.composite
def programs(draw, max_ops: int = 6, input_sets: list[tuple[str, ...]] | None = None) -> Program:
    """A random program over one of ``input_sets`` (default: every combination below)."""
    inputs = draw(st.sampled_from(input_sets or [
        ("xs",), ("kv",), ("xs", "kv"), ("xs", "kv"), ("kv", "ck"), ("ck", "bk"), ("kv", "bk"),
        ("xs", "ck", "bk"), ("sk", "kv"), ("sk",), ("xs", "sk")]))
    lines = ["flow = hp.Flow('random')"]
    streams: list[tuple[str, str]] = []  # (variable, shape)
    for name in inputs:
        lines.append(f"{name} = flow.source('{name}')")
        streams.append((name, SOURCES[name]))
    read: set[str] = set()
    unordered: set[str] = set()  # streams whose order the program leaves open (union, join, ...)
    looped = looped_anti = False
    for k in range(1, draw(st.integers(1, max_ops)) + 1):
        var = f"op{k}"
        ints = [v for v, shape in streams if shape == INT]
        if ints and not looped and draw(st.integers(0, 9)) == 0:
            looped = True
            src = draw(st.sampled_from(ints))
            lines += [line.format(src, v=var) for line in LOOP]
            read.add(src)
            streams.append((var, INT))
            unordered.add(var)
            continue
        pairs = [v for v, shape in streams if shape == PAIR]
        if pairs and not looped_anti and draw(st.integers(0, 9)) == 0:
            looped_anti = True
            src = draw(st.sampled_from(pairs))
            lines += [line.format(src, v=var) for line in LOOP_ANTI]
            read.add(src)
            streams.append((var, PAIR))
            if src in unordered:
                unordered.add(var)
            continue

        def candidates(template, shape):
            return [v for v, s in streams if s == shape
                    and not (template in ORDER_SENSITIVE and v in unordered)]

        usable = [op for op in OPERATORS + STATEFUL_AGAIN
                  if all(candidates(op[0], shape) for shape in op[1])]
        template, shapes, out = draw(st.sampled_from(usable))
        args = [draw(st.sampled_from(candidates(template, shape))) for shape in shapes]
        read.update(args)
        call = template.format(*args)
        call = call[:-1] + ("" if call.endswith("()") else ", ") + f"name='{var}')"
        if out is None:
            lines.append(f"{call}.sink('{var}')")
        else:
            lines.append(f"{var} = {call}")
            streams.append((var, out))
            if any(word in template for word in ("union", "join(", "snapshot")) or unordered & set(args):
                unordered.add(var)
    for var, _ in streams:
        if var not in read and var not in inputs:
            lines.append(f"{var}.sink('{var}')")
    source = "\n".join(lines) + "\n"
    records = {"xs": st.integers(0, 7), "kv": st.tuples(st.integers(0, 3), st.integers(0, 7)),
               "ck": st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.integers(0, 7)),
               "bk": st.tuples(st.tuples(st.just("user"), st.integers(0, 3)), st.integers(0, 7)),
               "sk": st.tuples(st.sampled_from(["a", "A", "b", "B", "ab", "Ab"]), st.integers(0, 7))}
    data = {name: draw(st.lists(records[name], max_size=8)) for name in inputs}
    return Program(source, build(source), data)


def extensions(design) -> list[tuple[str, dict]]:
    """Third steps the explorer does not propose, tried on each plan it accepts: ``reorder`` of
    each channel (with and without duplicates), and, once a stage has several members, two
    members for each other stage (a partitioned stage feeding another: a relay)."""
    out = [("reorder", {"channel": n.name, "duplicates": dup}) for n in design.nodes()
           if n.kind == "network" and not n.params.get("reorder") for dup in (False, True)]
    if any(m > 1 for m in design.members.values()):
        out += [(kind, {"stage": s, "n": 2}) for s in design.locations() if design.members_of(s) == 1
                for kind in ("partition", "replicate")]
    return out


@dataclass
class Tally:
    """What the property test saw: programs, plans accepted, refusals by reason, mismatches."""

    programs: int = 0
    accepted: int = 0
    refused: "Counter[str]" = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{self.programs} programs, {self.accepted} plans accepted, "
                 f"{sum(self.refused.values())} refused, {len(self.mismatches)} mismatches"]
        lines += [f"  {n:6d}  {why}" for why, n in self.refused.most_common()]
        return "\n".join(lines)


def reason(kind: str, message: str) -> str:
    """A refusal's reason without the program's file, names and numbers (for tallies)."""
    text = re.sub(r"^\S+:\d+: ", "", message)
    text = re.sub(r"'[^']*'|\S+\.py:\d+|\b\d+\b", "_", text)
    return f"{kind}: {' '.join(text.split())[:100]}"


#: how many third steps (:func:`extensions`) to try per program, drawn from all plans' (each
#: program has tens; trying all would multiply the test's time by ten)
EXTENDED = int(os.environ.get("HYDROPY_EXTENDED", "4"))


def accepted_plans(graph, tally: Tally | None = None) -> list[tuple[list, object]]:
    """Every plan of up to two proposed steps the passes accept
    (:func:`hydropy.passes.explore.candidate_plans`), and :data:`EXTENDED` of them, drawn by a
    seed from the program, with a third step of :func:`extensions` when the passes accept it and
    the design point is complete (:func:`hydropy.passes.reorder.check_reordered_folds`)."""
    from hydropy.errors import HydropyError
    from hydropy.passes.explore import candidate_plans, signature
    from hydropy.passes.plan import STEP_KINDS, Step
    from hydropy.passes.reorder import check_reordered_folds
    exploration = candidate_plans(graph)
    refusals = list(exploration.refusals)
    plans, seen = [], set()
    extended = [(steps, design, ext) for steps, design in exploration.plans for ext in extensions(design)]
    chosen = random.Random(signature(graph).__repr__()).sample(extended, min(EXTENDED, len(extended)))
    for steps, design in exploration.plans:
        tries = [(steps, design)]
        for kind, args in (ext for s, d, ext in chosen if d is design):
            try:
                tries.append((steps + [Step(kind, args)], STEP_KINDS[kind].apply(design, **args)))
            except HydropyError as err:
                refusals.append((kind, str(err)))
        for plan, result in tries:
            sig = (signature(result), tuple(sorted((n.name, bool(n.params.get("reorder")),
                                                    bool(n.params.get("duplicates")))
                                                   for n in result.nodes() if n.kind == "network")))
            if sig in seen:
                continue
            seen.add(sig)
            try:
                check_reordered_folds(result)
            except HydropyError as err:
                refusals.append((plan[-1].kind, str(err)))
                continue
            plans.append((plan, result))
    if tally is not None:
        tally.programs += 1
        tally.accepted += len(plans)
        tally.refused.update(reason(kind, message) for kind, message in refusals)
    return plans


def assert_rewrites_keep_sinks(program: Program, seeds=range(2), tally: Tally | None = None) -> None:
    """Every plan :func:`accepted_plans` gives for ``program`` runs in the simulator, per seed,
    with sinks that a single-node schedule explains."""
    from hydropy.targets.sim import check_run
    graph = program.flow.graph()
    for steps, design in accepted_plans(graph, tally):
        for seed in seeds:
            mismatch = check_run(graph, design, program.inputs, seed)
            if mismatch is not None and tally is not None:
                tally.mismatches.append(f"{program}\nplan: {'; '.join(map(str, steps))}\n{mismatch}")
            assert mismatch is None, f"plan: {'; '.join(map(str, steps))}\n{mismatch}"
