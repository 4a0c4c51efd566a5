"""The one reader of every YAML (and JSON) file hydropy reads: plans, inputs, deploy.yaml.

Strict where PyYAML is lenient, so that what the user sees is what hydropy takes:

* a duplicate key in a mapping is refused (PyYAML keeps the last one silently);
* aliases (``*name``) are refused, so a "billion laughs" or recursive file cannot hang or
  exhaust memory; merge keys (``<<``) are refused (they rely on aliases and hide keys);
* nesting deeper than :data:`MAX_DEPTH` is refused before Python's recursion limit is hit;
* bytes that are not UTF-8 text (binary data, a UTF-16 byte-order mark) are refused.

Tags are never executed (``SafeLoader`` underneath). Every refusal is one ``error`` (a
:class:`~hydropy.errors.HydropyError` subclass chosen by the caller) naming the file and,
where the text has one, the line.
"""
from __future__ import annotations

import json
import json.scanner
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from hydropy.errors import HydropyError
from hydropy.ir.source import SourceLoc, display_path

#: deepest nesting of lists and mappings accepted in any file
MAX_DEPTH = 100

BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
        b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def read_text(path: str, error: type[HydropyError], what: str) -> str:
    """The file's text, decoded as UTF-8 (a UTF-8 byte-order mark is dropped)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise error(f"cannot read {what} {display_path(path)}: {exc.strerror or exc}") from None
    for bom, encoding in BOMS.items():
        if data.startswith(bom):
            raise error(f"{what} is {encoding} text (it starts with a {encoding} byte-order mark); "
                        f"save it as UTF-8", SourceLoc(path, 1))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                    f"is it a binary file?", SourceLoc(path, line)) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise error(f"{what} holds a NUL byte: is it a binary file?", SourceLoc(path, line))
    return text.removeprefix("\ufeff")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing aliases, merge keys, duplicate keys and deep nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, f"aliases ('*{event.anchor}') are not supported; write "
                                            f"the value out in full", event.start_mark)
        if self.check_event(yaml.ScalarEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise ConstructorError(None, None, "merge keys ('<<') are not supported; write "
                                                       "the entries out in full", key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise ConstructorError(None, None, f"a mapping key must be a plain value, got "
                                                       f"a {type(key).__name__}",
                                           key_node.start_mark) from None
                if first is not None:
                    raise ConstructorError(None, None, f"duplicate key {key!r} (first at line "
                                                       f"{first})", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, path: str, error: type[HydropyError], what: str) -> tuple[Any, Any]:
    """``(data, root node)`` of YAML ``text``; the node (None for an empty file) gives lines."""
    loader = None
    try:
        loader = StrictLoader(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        raise error(f"malformed {what}: {problem}", SourceLoc(path, mark.line + 1) if mark else
                    SourceLoc(path, 1)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise error(f"malformed {what}: character {exc.character:#x} is not allowed in YAML",
                    SourceLoc(path, line)) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed {what}: {exc}", SourceLoc(path, 1)) from None
    except RecursionError:
        raise error(f"malformed {what}: nested too deeply", SourceLoc(path, 1)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, root


def parse_json(text: str, path: str, error: type[HydropyError], what: str) -> Any:
    """JSON ``text``, refusing duplicate keys (naming the line of their object) and deep nesting.

    The C decoder reads the file; only when it finds a duplicate key does the pure-Python one
    read it again to find the object's line."""
    def pairs_hook(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise _Duplicate()
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except _Duplicate:
        _locate_duplicate(text, path, error, what)
        raise AssertionError("unreachable: the located reader refuses the duplicate") from None
    except json.JSONDecodeError as exc:
        raise error(f"malformed {what}: {exc.msg}", SourceLoc(path, exc.lineno)) from None
    except RecursionError:
        raise error(f"malformed {what}: nested too deeply", SourceLoc(path, 1)) from None
    if _depth(data) > MAX_DEPTH:
        raise error(f"malformed {what}: nesting deeper than {MAX_DEPTH} levels", SourceLoc(path, 1))
    return data


class _Duplicate(Exception):
    pass


def _locate_duplicate(text: str, path: str, error: type[HydropyError], what: str) -> None:
    """Read ``text`` with the pure-Python decoder, refusing the first duplicate key at the line
    where its object starts."""
    decoder = json.JSONDecoder()
    base_object = decoder.parse_object

    def parse_object(s_and_end, *args):
        s, start = s_and_end
        pairs, end = base_object(s_and_end, decoder.strict, scan, None, list, {})
        seen = set()
        for key, _ in pairs:
            if key in seen:
                line = s.count("\n", 0, start) + 1
                raise error(f"malformed {what}: duplicate key {key!r} in the object starting "
                            f"on this line", SourceLoc(path, line))
            seen.add(key)
        return dict(pairs), end

    decoder.parse_object = parse_object
    scan = json.scanner.py_make_scanner(decoder)
    decoder.scan_once = scan
    try:
        decoder.decode(text)
    except RecursionError:
        raise error(f"malformed {what}: duplicate key (too deeply nested to locate)",
                    SourceLoc(path, 1)) from None


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def load(path: str, error: type[HydropyError], what: str) -> tuple[Any, Any]:
    """``(data, root node or None)`` of a YAML file, or of a JSON file (``*.json``, no node)."""
    text = read_text(path, error, what)
    if path.endswith(".json"):
        return parse_json(text, path, error, what), None
    return parse_yaml(text, path, error, what)


def key_line(node, key: Any, path: str) -> SourceLoc:
    """The location of ``key`` in mapping ``node`` (the mapping's own line when not found)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and _scalar(key_node) == key:
                return SourceLoc(path, key_node.start_mark.line + 1)
    return SourceLoc(path, node.start_mark.line + 1 if node is not None else 1)


def value_node(node, key: Any):
    """The node under ``key`` in mapping ``node``, or None."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and _scalar(key_node) == key:
                return value
    return None


def _scalar(node) -> Any:
    return yaml.SafeLoader("").construct_object(node) if node.tag != "tag:yaml.org,2002:str" \
        else node.value


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump(data: Any) -> str:
    """YAML text of ``data`` that :func:`parse_yaml` reads back: an object used twice is written
    out twice instead of as an anchor and an alias."""
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)


def line_of(node, path: str) -> SourceLoc:
    return SourceLoc(path, node.start_mark.line + 1 if node is not None else 1)
