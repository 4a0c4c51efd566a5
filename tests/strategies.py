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
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from hypothesis import strategies as st

import hydropy as hp
from hydropy.lattices import Max, SetUnion

# -- the functions programs may call ---------------------------------------------------------


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


def empty():
    return ()


def append(acc, x):
    """Order-sensitive: the fold's value records its input order."""
    return acc + (x,)


NAMESPACE = {f.__name__: f for f in (inc, double, is_even, small, spread, halve_even, to_pair, key_of,
                                     value_of, bump, rekey, join_sum, lookup_found, add, empty, append,
                                     user_part, join_ck, mixed_key, tag_user, untag, bucket_key,
                                     group_key, width_key, string_hash_key)}
NAMESPACE.update(hp=hp, Max=Max, SetUnion=SetUnion, max=max)

INT, PAIR, FOLD, KEYED_FOLD = "int", "pair", "fold", "keyed"
#: composite-key pairs ``((a, b), v)``, their keyed folds, and pairs keyed by ``("user", k)``
COMPOSITE, COMPOSITE_FOLD, BUILT = "composite", "composite_fold", "built"
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
]
#: a fold whose result depends on its input's order: only over ordered streams (over an
#: unordered one its result is unspecified, so no program is well-formed that way)
ORDER_SENSITIVE = ("{0}.fold_keyed(empty, append)",)
#: drawn twice as often: the operators whose state or timing rewrites must respect
STATEFUL_AGAIN = [op for op in OPERATORS if op[0].split("(")[0].split(".")[-1] in
                  ("join", "anti_join", "snapshot", "lookup", "fold_keyed")]
#: sources and the shape of their records
SOURCES = {"xs": INT, "kv": PAIR, "ck": COMPOSITE, "bk": BUILT}
LOOP = ["back_handle, back = flow.cycle(name='back')",
        "{v} = {0}.union(back, name='{v}_in').unique(name='{v}')",
        "back_handle.complete({v}.filter(small, name='{v}_small').map(inc, name='{v}_next'))"]


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
    return module.flow


@st.composite
def programs(draw, max_ops: int = 6) -> Program:
    inputs = draw(st.sampled_from([("xs",), ("kv",), ("xs", "kv"), ("xs", "kv"), ("kv", "ck"),
                                   ("ck", "bk"), ("kv", "bk"), ("xs", "ck", "bk")]))
    lines = ["flow = hp.Flow('random')"]
    streams: list[tuple[str, str]] = []  # (variable, shape)
    for name in inputs:
        lines.append(f"{name} = flow.source('{name}')")
        streams.append((name, SOURCES[name]))
    read: set[str] = set()
    unordered: set[str] = set()  # streams whose order the program leaves open (union, join, ...)
    looped = False
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
               "bk": st.tuples(st.tuples(st.just("user"), st.integers(0, 3)), st.integers(0, 7))}
    data = {name: draw(st.lists(records[name], max_size=8)) for name in inputs}
    return Program(source, build(source), data)


def assert_rewrites_keep_sinks(program: Program, seeds=range(2)) -> None:
    """Every plan the passes accept for ``program`` runs in the simulator, per seed, with sinks
    that a single-node schedule explains."""
    from hydropy.passes.explore import candidate_plans
    from hydropy.targets.sim import check_run
    graph = program.flow.graph()
    for steps, design in candidate_plans(graph).plans:
        for seed in seeds:
            mismatch = check_run(graph, design, program.inputs, seed)
            assert mismatch is None, f"plan: {'; '.join(map(str, steps))}\n{mismatch}"
