"""Plans: a YAML file whose ``steps:`` list rewrites applied in order.

    steps:
      - decouple: {operators: [count_per_word], to: agg}

Each step is a one-key mapping from a registered step name to its arguments. Applying a
plan returns the graph after every step, so ``explain --plan`` can show each one; a step
whose precondition fails raises its refusal, located at the step's line in the plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hydropy import yamlio
from hydropy.errors import HydropyError, PassFailed, PlanError, RewriteRefused
from hydropy.ir import Graph, verify
from hydropy.ir.ops import ENTRIES
from hydropy.ir.source import SourceLoc

from .combine import combine
from .decouple import decouple
from .fuse import fuse
from .lattice import to_lattice
from .partition import partition
from .push_fold import push_fold
from .reorder import reorder
from .replicate import replicate
from .route_keys import check_route_keys, record_shape  # noqa: F401  (record_shape: the API)
from .split_fold import split_fold


@dataclass(frozen=True)
class StepKind:
    """A registered plan step: the pass to call and its arguments (name -> accepted types)."""

    name: str
    apply: Callable[..., Graph]
    required: dict[str, tuple[type, ...]]
    optional: dict[str, tuple[type, ...]]


STEP_KINDS: dict[str, StepKind] = {}


def register_step(name: str, apply: Callable[..., Graph], required: dict, optional: dict | None = None):
    STEP_KINDS[name] = StepKind(name, apply, required, optional or {})


register_step("decouple", decouple, {"operators": (list,), "to": (str,)})
register_step("partition", partition, {"stage": (str,), "n": (int,)}, {"key": (list, str)})
register_step("replicate", replicate, {"stage": (str,), "n": (int,)})
register_step("split_fold", split_fold, {"operator": (str,)}, {"to": (str,)})
register_step("combine", combine, {"operator": (str,)})


def _lattice(graph: Graph, operator: str, index: list | None = None, **kind) -> Graph:
    """The plan's ``as:`` is a Python keyword, so it arrives in ``kind``."""
    return to_lattice(graph, operator, kind["as"], index)


register_step("lattice", _lattice, {"operator": (str,), "as": (str,)}, {"index": (list,)})
register_step("fuse", fuse, {"operators": (list,)})
register_step("push_fold", push_fold, {"operator": (str,)})
register_step("reorder", reorder, {"channel": (str,)}, {"duplicates": (bool,)})


@dataclass(frozen=True)
class Step:
    kind: str
    args: dict[str, Any]
    loc: SourceLoc | None = None

    def __str__(self) -> str:
        args = ", ".join(f"{k}: {v}" for k, v in self.args.items())
        return f"{self.kind} {{{args}}}"


#: the longest stage name a plan may give (stage names become file and class names)
MAX_STAGE_NAME = 64
#: the most members a plan may give one stage (on Ray, ``hydropy run`` also caps the total
#: by the cluster's CPUs)
MAX_MEMBERS = 1024


def load_plan(path: str) -> list[Step]:
    return parse_plan(yamlio.read_text(path, PlanError, "plan"), path)


def parse_plan(text: str, path: str = "<plan>") -> list[Step]:
    """The steps of a plan's text, read strictly (:mod:`hydropy.yamlio`) and checked: each
    a known step with arguments of the right types and values, located at its line."""
    data, root = yamlio.parse_yaml(text, path, PlanError, "plan")
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise PlanError("a plan is a mapping with a list under 'steps:' (see the README)",
                        yamlio.line_of(root, path))
    extra = sorted((k for k in data if k != "steps"), key=str)
    if extra:
        raise PlanError(f"unknown plan key {extra[0]!r}; a plan has only 'steps:'",
                        yamlio.key_line(root, extra[0], path))
    step_nodes = yamlio.value_node(root, "steps").value
    return [_step(item, node, path) for item, node in zip(data["steps"], step_nodes)]


def _step(item: Any, node, path: str) -> Step:
    loc = SourceLoc(path, node.start_mark.line + 1)
    if not isinstance(item, dict) or len(item) != 1:
        raise PlanError("each step is a one-key mapping such as "
                        "'- decouple: {operators: [NAME], to: STAGE}'", loc)
    (kind, args), = item.items()
    spec = STEP_KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise PlanError(f"unknown step {kind!r}; steps are: {', '.join(sorted(STEP_KINDS))}", loc)
    if not isinstance(args, dict):
        raise PlanError(f"step '{kind}' takes a mapping of arguments, got {args!r}", loc)
    for key, types in {**spec.required, **spec.optional}.items():
        if key in args and (not isinstance(args[key], types) or
                            (isinstance(args[key], bool) and bool not in types)):
            names = " or ".join({"int": "an integer", "str": "a string", "list": "a list",
                                 "bool": "true or false"}.get(t.__name__, t.__name__) for t in types)
            raise PlanError(f"step '{kind}': '{key}' must be {names}, got {args[key]!r}", loc)
    missing = [k for k in spec.required if k not in args]
    unknown = [k for k in args if k not in spec.required and k not in spec.optional]
    if missing or unknown:
        what = f"lacks '{missing[0]}'" if missing else f"has no argument {unknown[0]!r}"
        allowed = ", ".join([*spec.required, *spec.optional])
        raise PlanError(f"step '{kind}' {what}; it takes: {allowed}", loc)
    for key, value in args.items():
        problem = ARGUMENT_CHECKS.get(key, lambda v: None)(value)
        if problem:
            raise PlanError(f"step '{kind}': '{key}' {problem}", loc)
    return Step(kind, dict(args), loc)


def _stage_name(value: str) -> str | None:
    if not value or len(value) > MAX_STAGE_NAME:
        return (f"must be a stage name of 1 to {MAX_STAGE_NAME} characters, got one of "
                f"{len(value)}")
    if not all(c.isascii() and (c.isalnum() or c in "_-") for c in value) or value[0] == "-":
        return (f"must be a stage name of letters, digits, '_' and '-' (it names files and "
                f"classes), got {value!r}")
    return None


def _names(value: list) -> str | None:
    """(A name that is not a string is refused by the step itself, which explains YAML's booleans.)"""
    return None if value else "must name at least one operator"


def _members(value: int) -> str | None:
    if not 1 <= value <= MAX_MEMBERS:
        return f"must be between 1 and {MAX_MEMBERS} members, got {value}"
    return None


def _key(value) -> str | None:
    if isinstance(value, str):
        return None if value == "auto" else f"must be auto or a list of field indices, got {value!r}"
    return _indices(value)


def _indices(value: list) -> str | None:
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
        return f"must be a list of field indices (integers >= 0), got {value!r}"
    return None


def _text(value: str) -> str | None:
    return None if value else "must not be empty"


ARGUMENT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "to": _stage_name, "stage": _stage_name, "operators": _names, "n": _members, "key": _key,
    "index": _indices, "operator": _text, "channel": _text, "as": _text,
}


def apply_plan(graph: Graph, steps: list[Step], *, verify_steps: bool = True) -> list[tuple[Step, Graph]]:
    """The graph after each step, in order. A failing step's error gets the step's plan line.

    Contract of every step (as xDSL's passes): the graph is valid before and after it. With
    ``verify_steps`` (the default; turn it off only for speed), the graph a step returns is
    verified, and a step that breaks it is hydropy's bug, reported as :class:`PassFailed`."""
    history = []
    for step in steps:
        try:
            graph = STEP_KINDS[step.kind].apply(graph, **step.args)
            check_route_keys(graph)
        except PassFailed:
            raise
        except HydropyError as exc:
            where = f"{exc.loc}: " if exc.loc else ""
            raise type(exc)(f"plan step '{step.kind}' refused: {where}{exc.message}", step.loc) from exc
        if verify_steps:
            try:
                verify(graph)
            except HydropyError as exc:
                raise PassFailed(f"plan step '{step.kind}' produced an invalid graph ({exc}); "
                                 f"this is a bug in hydropy, please report it", step.loc) from exc
        history.append((step, graph))
    return history
