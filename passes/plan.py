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

import yaml

from hydropy.errors import HydropyError, PassFailed, PlanError
from hydropy.ir import Graph, verify
from hydropy.ir.source import SourceLoc

from .decouple import decouple
from .fuse import fuse
from .lattice import to_lattice
from .partition import partition
from .push_fold import push_fold
from .reorder import reorder
from .replicate import replicate
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


def load_plan(path: str) -> list[Step]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror}") from None
    return parse_plan(text, path)


def parse_plan(text: str, path: str = "<plan>") -> list[Step]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PlanError(f"malformed plan: {getattr(exc, 'problem', None) or exc}",
                        SourceLoc(path, mark.line + 1) if mark else None) from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise PlanError("a plan is a mapping with a list under 'steps:' (see the README)",
                        SourceLoc(path, 1))
    extra = sorted(set(data) - {"steps"})
    if extra:
        raise PlanError(f"unknown plan key '{extra[0]}'; a plan has only 'steps:'", SourceLoc(path, 1))
    step_nodes = next(v for k, v in root.value if k.value == "steps").value
    return [_step(item, node, path) for item, node in zip(data["steps"], step_nodes)]


def _step(item: Any, node, path: str) -> Step:
    loc = SourceLoc(path, node.start_mark.line + 1)
    if not isinstance(item, dict) or len(item) != 1:
        raise PlanError("each step is a one-key mapping such as "
                        "'- decouple: {operators: [NAME], to: STAGE}'", loc)
    (kind, args), = item.items()
    spec = STEP_KINDS.get(kind)
    if spec is None:
        raise PlanError(f"unknown step '{kind}'; steps are: {', '.join(sorted(STEP_KINDS))}", loc)
    if not isinstance(args, dict):
        raise PlanError(f"step '{kind}' takes a mapping of arguments, got {args!r}", loc)
    for key, types in {**spec.required, **spec.optional}.items():
        if key in args and not isinstance(args[key], types):
            names = " or ".join(t.__name__ for t in types)
            raise PlanError(f"step '{kind}': '{key}' must be a {names}, got {args[key]!r}", loc)
    missing = [k for k in spec.required if k not in args]
    unknown = [k for k in args if k not in spec.required and k not in spec.optional]
    if missing or unknown:
        what = f"lacks '{missing[0]}'" if missing else f"has no argument '{unknown[0]}'"
        allowed = ", ".join([*spec.required, *spec.optional])
        raise PlanError(f"step '{kind}' {what}; it takes: {allowed}", loc)
    return Step(kind, dict(args), loc)


def apply_plan(graph: Graph, steps: list[Step], *, verify_steps: bool = True) -> list[tuple[Step, Graph]]:
    """The graph after each step, in order. A failing step's error gets the step's plan line.

    Contract of every step (as xDSL's passes): the graph is valid before and after it. With
    ``verify_steps`` (the default; turn it off only for speed), the graph a step returns is
    verified, and a step that breaks it is hydropy's bug, reported as :class:`PassFailed`."""
    history = []
    for step in steps:
        try:
            graph = STEP_KINDS[step.kind].apply(graph, **step.args)
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
