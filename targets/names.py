"""How user names and strings land in generated Python source.

Every identifier an emitted module defines (operator variables and attributes, ``tick``
parameters, kernel globals, the stage class) comes from one :class:`Namespace` per module:
unique within it (after the NFKC normalisation the parser applies), never a keyword, soft
keyword, builtin or name the namespace reserves, never starting with ``__`` (no name
mangling), and the same for the same program. Every other user string in source text is
written with ``repr`` (:func:`doc_repr` inside docstrings) or :func:`comment_text` in comments.
"""
from __future__ import annotations

import builtins
import keyword
import unicodedata

KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"_", "case", "match", "type"}
SUFFIXED = KEYWORDS | frozenset(dir(builtins)) | {"self"}


def identifier(name: str) -> str:
    """``name`` as a valid identifier close to it: NFKC-normalised, other characters ``_``,
    a leading digit prefixed with ``_``, a leading ``__`` shortened to ``_``, ``_`` alone
    (a soft keyword) as ``_op``."""
    text = unicodedata.normalize("NFKC", name)
    out = "".join(c if ("a" + c).isidentifier() else "_" for c in text)
    if not out or not out[0].isidentifier():
        out = "_" + out
    if out.startswith("__"):
        out = "_" + out.lstrip("_")
    if out == "_":
        out = "_op"
    return unicodedata.normalize("NFKC", out)


class Namespace:
    """The identifiers of one generated module.

    ``fresh(name)`` gives :func:`identifier` of ``name``, with ``_`` appended when that is a
    keyword or builtin, then ``_2``, ``_3``... until it is not taken. With ``casefold``, names
    differing only in case count as taken (file names on case-insensitive file systems).
    """

    def __init__(self, reserved=(), *, casefold: bool = False):
        self.casefold = casefold
        self.taken: set[str] = set()
        for name in reserved:
            self.taken.add(self._key(name))

    def _key(self, name: str) -> str:
        return name.casefold() if self.casefold else name

    def reserve(self, name: str) -> None:
        self.taken.add(self._key(name))

    def fresh(self, name: str) -> str:
        base = identifier(name)
        if base in SUFFIXED:
            base += "_"
        candidate, k = base, 2
        while self._key(candidate) in self.taken or candidate in SUFFIXED:
            candidate, k = f"{base}_{k}", k + 1
        self.taken.add(self._key(candidate))
        return candidate


def comment_text(text: str) -> str:
    """``text`` safe inside a ``#`` comment: every character that is not printable (line
    breaks, NUL, surrogates) written as its escape, so the comment ends where it should."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def doc_repr(value) -> str:
    """``repr(value)`` inside a triple-double-quoted docstring: backslashes and quotes escaped,
    so the docstring cannot end early and reads back as exactly ``repr(value)``."""
    return repr(value).replace("\\", "\\\\").replace('"', '\\"')


def doc_text(text: str) -> str:
    """``text`` as is inside a docstring when that is safe, else :func:`doc_repr`."""
    plain = text.isprintable() and '"' not in text and "\\" not in text
    return text if plain else doc_repr(text)


#: the types a closure value may have to be written into stage code (containers of these too)
CLOSURE_SCALARS = (bool, int, float, complex, str, bytes, type(None))


def closure_literal(value) -> str | None:
    """Python text that reads back as exactly ``value`` (same types all the way down, same
    repr: ``-0.0`` stays negative), for numbers, strings, bytes, None, and tuples and
    frozensets of these; else None (NaN, infinities, lists, objects...). The text depends on
    the value only: a frozenset's elements are written sorted by their text, not in the
    iteration order of one process (which varies with its hash seed and history)."""
    if not _simple(value):
        return None
    text = _text(value)
    try:
        back = eval(compile(text, "<closure>", "eval"), {"__builtins__": {"frozenset": frozenset}})
    except Exception:
        return None
    return text if _same(back, value) else None


def _text(value) -> str:
    if type(value) is tuple:
        items = [_text(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if type(value) is frozenset:
        return f"frozenset({{{', '.join(sorted(_text(v) for v in value))}}})" if value else "frozenset()"
    return repr(value)


def _simple(value) -> bool:
    if type(value) in CLOSURE_SCALARS:
        return True
    if type(value) in (tuple, frozenset):
        return all(_simple(v) for v in value)
    return False


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is frozenset:
        return a == b and all(any(_same(x, y) for y in b) for x in a)
    return repr(a) == repr(b) and a == b
