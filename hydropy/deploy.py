"""Reading and validating the ``deploy.yaml`` of a compiled directory, before anything starts.

A compiled directory is user-editable, so its manifest is checked against the schema that
``hydropy compile`` writes (every refusal names deploy.yaml and the line):

* ``stages``: a non-empty list of ``{name, file, class, members, sources}``, names unique;
  ``file`` a ``stages/*.py`` file of the directory that exists and parses; ``members`` an
  integer >= 1; ``sources`` a list of ``{name, routing, key}`` and, for a source that declares
  one, its ``dtype`` (a non-empty string: the inputs of `hydropy run DIR` are checked against it);
* ``channels``: a list of ``{name, from, to, routing, key}`` between known stages;
* ``sinks``: a mapping ``name -> {stage, kind, ordered}``;
* ``routing`` one of :data:`ROUTINGS`; ``key`` null or a list of integers >= 0 (required by
  ``hash`` routing);
* ``program/<module>.py`` exists.

Members: the compiler marks a stage ``resizable: true`` when a plan partitioned or
replicated it (its preconditions hold for any number of members: every input is routed by
hash, dealt round robin to stateless operators, or broadcast to lattice replicas). Any
other stage reads every record on one member (``direct`` routing, global state, loops,
literal sources), so its ``members`` must stay 1. Unknown keys are ignored.
"""
from __future__ import annotations

import os
from typing import Any

from hydropy import yamlio
from hydropy.errors import LoadError
from hydropy.ir.source import SourceLoc, display_path
from hydropy.runtime.host import program_file

ROUTINGS = ("direct", "hash", "round_robin", "broadcast", "any")
SINK_KINDS = ("stream", "singleton", "keyed")

#: stage members (Ray actors, each a process) allowed per CPU of the machine or cluster
MEMBERS_PER_CPU = 8


class _Checker:
    """Type checks of manifest entries, each failure at the line of the offending node."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, message: str, node) -> None:
        raise LoadError(f"invalid deploy.yaml: {message}", yamlio.line_of(node, self.path))

    def mapping(self, data: Any, node, what: str, keys: tuple[str, ...]) -> dict:
        if not isinstance(data, dict):
            self.fail(f"{what} must be a mapping, got {_kind(data)}", node)
        missing = [k for k in keys if k not in data]
        if missing:
            self.fail(f"{what} lacks '{missing[0]}'", node)
        return data

    def listing(self, data: Any, node, what: str) -> list:
        if not isinstance(data, list):
            self.fail(f"{what} must be a list, got {_kind(data)}", node)
        return data

    def text(self, value: Any, node, what: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(f"{what} must be a non-empty string, got {value!r}", node)
        return value

    def routing(self, entry: dict, node, what: str) -> None:
        routing, key = entry["routing"], entry["key"]
        if routing not in ROUTINGS:
            self.fail(f"{what} has routing {routing!r}; routings are: {', '.join(ROUTINGS)}",
                      yamlio.value_node(node, "routing"))
        key_node = yamlio.value_node(node, "key")
        if key is not None and not (isinstance(key, list) and all(
                isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in key)):
            self.fail(f"{what} has key {key!r}; a key is null or a list of field indices >= 0",
                      key_node)
        if routing == "hash" and key is None:
            self.fail(f"{what} is routed by hash but has no key", key_node)


def validate_manifest(data: Any, root, path: str) -> dict:
    """``data`` (deploy.yaml read by :mod:`hydropy.yamlio`, ``root`` its node) if it is a
    runnable manifest of the directory holding ``path``; otherwise a LoadError at the line."""
    check = _Checker(path)
    compiled_dir = os.path.dirname(path)
    check.mapping(data, root, "the manifest", ("flow", "module", "stages", "channels", "sinks"))
    module = check.text(data["module"], yamlio.value_node(root, "module"), "'module'")
    if not module.isidentifier():
        check.fail(f"'module' must be a Python module name, got {module!r}", yamlio.value_node(root, "module"))
    copy = program_file(compiled_dir, module)
    if not os.path.isfile(copy):
        raise LoadError(f"the compiled program is incomplete: program/{os.path.basename(copy)} is missing "
                        f"(recompile with hydropy compile)", SourceLoc(path, yamlio.line_of(
                            yamlio.value_node(root, "module"), path).line))
    _parses(copy, "the program copy")
    stages_node = yamlio.value_node(root, "stages")
    stages = check.listing(data["stages"], stages_node, "'stages'")
    if not stages:
        check.fail("'stages' is empty", stages_node)
    names: set[str] = set()
    for stage, node in zip(stages, stages_node.value):
        _check_stage(check, stage, node, compiled_dir, names)
    channels_node = yamlio.value_node(root, "channels")
    channel_names: set[str] = set()
    for channel, node in zip(check.listing(data["channels"], channels_node, "'channels'"),
                             getattr(channels_node, "value", [])):
        check.mapping(channel, node, "a channel", ("name", "from", "to", "routing", "key"))
        name = check.text(channel["name"], node, "a channel's name")
        if name in channel_names:
            check.fail(f"channel '{name}' is listed twice", node)
        channel_names.add(name)
        for end in ("from", "to"):
            if channel[end] not in names:
                check.fail(f"channel '{name}' {end} unknown stage {channel[end]!r}",
                           yamlio.value_node(node, end))
        check.routing(channel, node, f"channel '{name}'")
    sinks_node = yamlio.value_node(root, "sinks")
    sinks = check.mapping(data["sinks"], sinks_node, "'sinks'", ())
    for sink, entry in sinks.items():
        node = yamlio.value_node(sinks_node, sink)
        if not isinstance(sink, str):
            check.fail(f"sink names are strings, got {sink!r}", node)
        check.mapping(entry, node, f"sink {sink!r}", ("stage", "kind"))
        if entry["stage"] not in names:
            check.fail(f"sink {sink!r} is on unknown stage {entry['stage']!r}", node)
        if entry["kind"] not in SINK_KINDS:
            check.fail(f"sink {sink!r} has kind {entry['kind']!r}; kinds are: {', '.join(SINK_KINDS)}",
                       node)
    _check_members(check, data, stages_node)
    if "checkpoint_dir" in data:  # optional: where Ray runs keep their checkpoints
        check.text(data["checkpoint_dir"], yamlio.value_node(root, "checkpoint_dir"), "'checkpoint_dir'")
    return data


def _check_stage(check: _Checker, stage: Any, node, compiled_dir: str, names: set[str]) -> None:
    check.mapping(stage, node, "a stage", ("name", "file", "class", "members", "sources"))
    name = check.text(stage["name"], node, "a stage's name")
    if name in names:
        check.fail(f"stage '{name}' is listed twice", node)
    names.add(name)
    members = stage["members"]
    if not isinstance(members, int) or isinstance(members, bool) or members < 1:
        check.fail(f"stage '{name}' has members: {members!r}; members is an integer >= 1",
                   yamlio.value_node(node, "members"))
    if not check.text(stage["class"], node, f"stage '{name}' class").isidentifier():
        check.fail(f"stage '{name}' class {stage['class']!r} is not a Python name",
                   yamlio.value_node(node, "class"))
    file_node = yamlio.value_node(node, "file")
    rel = check.text(stage["file"], file_node, f"stage '{name}' file")
    parts = rel.replace("\\", "/").split("/")
    if os.path.isabs(rel) or len(parts) != 2 or parts[0] != "stages" or not rel.endswith(".py"):
        check.fail(f"stage '{name}' file must be stages/NAME.py inside the compiled directory, "
                   f"got {rel!r}", file_node)
    stage_path = os.path.join(compiled_dir, rel)
    if not os.path.isfile(stage_path):
        check.fail(f"stage '{name}' file {rel} is missing{_through_link(compiled_dir, rel)} "
                   f"(recompile with hydropy compile)", file_node)
    _parses(_real(compiled_dir, rel), f"stage '{name}'")
    sources_node = yamlio.value_node(node, "sources")
    for source, src_node in zip(check.listing(stage["sources"], sources_node,
                                              f"stage '{name}' sources"),
                                getattr(sources_node, "value", [])):
        check.mapping(source, src_node, f"a source of stage '{name}'", ("name", "routing", "key"))
        check.text(source["name"], src_node, "a source's name")
        check.routing(source, src_node, f"source '{source['name']}'")
        if "dtype" in source:
            check.text(source["dtype"], yamlio.value_node(src_node, "dtype"), f"source '{source['name']}' dtype")


def _check_members(check: _Checker, data: dict, stages_node) -> None:
    """A stage the compiler did not partition or replicate runs on exactly one member."""
    for stage, node in zip(data["stages"], stages_node.value):
        if stage["members"] != 1 and stage.get("resizable") is not True:
            check.fail(f"stage '{stage['name']}' cannot run on {stage['members']} members: it was "
                       f"compiled for one (a plan step that partitions or replicates it checks "
                       f"that its state allows several; recompile with such a plan)",
                       yamlio.value_node(node, "members"))


def read_manifest(compiled_dir: str) -> dict:
    """The validated manifest of ``compiled_dir`` (LoadError naming deploy.yaml:line otherwise)."""
    path = os.path.join(compiled_dir, "deploy.yaml")
    if not os.path.isfile(path):
        raise LoadError(f"{display_path(compiled_dir)} is not a compiled program (no deploy.yaml); "
                        f"make one with: hydropy compile PROGRAM --target ray -o "
                        f"{display_path(compiled_dir)}")
    data, root = yamlio.load(path, LoadError, "deploy.yaml")
    return validate_manifest(data, root, path)


def check_capacity(manifest: dict, cpus: float | None, allow_oversubscribe: bool = False) -> None:
    """Refuse to start more stage members than :data:`MEMBERS_PER_CPU` per CPU of ``cpus``."""
    total = sum(stage["members"] for stage in manifest["stages"])
    cpus = cpus or 1
    limit = int(cpus * MEMBERS_PER_CPU)
    if total > limit and not allow_oversubscribe:
        biggest = max(manifest["stages"], key=lambda s: s["members"])
        raise LoadError(f"the design needs {total} stage members (stage '{biggest['name']}' has "
                        f"{biggest['members']}), more than the {limit} that {cpus:g} CPUs hold "
                        f"({MEMBERS_PER_CPU} per CPU); use fewer members or pass "
                        f"--allow-oversubscribe")


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _through_link(compiled_dir: str, rel: str) -> str:
    """Where ``rel`` really is when a symbolic link of the directory leads there ('' if not)."""
    from hydropy.targets.output import link_on_the_way
    link = link_on_the_way(compiled_dir, rel)
    if link is None:
        return ""
    real = os.path.realpath(os.path.join(compiled_dir, rel))
    return (f": {display_path(os.path.join(compiled_dir, link))} is a symbolic link, and "
            f"{display_path(real)} {'is not a file' if os.path.lexists(real) else 'does not exist'}")


def _real(compiled_dir: str, rel: str) -> str:
    """The path of ``rel``, or where it really is when a symbolic link leads there (what the
    user can open and edit)."""
    from hydropy.targets.output import link_on_the_way
    path = os.path.join(compiled_dir, rel)
    return os.path.realpath(path) if link_on_the_way(compiled_dir, rel) else path


def _parses(path: str, what: str) -> None:
    """A file of the compiled directory is valid Python, else a LoadError at its line."""
    try:
        with open(path, "rb") as fh:
            compile(fh.read(), path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise LoadError(f"{what} does not parse: {exc.msg}", SourceLoc(path, exc.lineno or 1)) from None
    except (ValueError, OSError) as exc:  # NUL bytes, unreadable
        raise LoadError(f"{what} cannot be read: {exc}", SourceLoc(path, 1)) from None
