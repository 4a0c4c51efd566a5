"""What stage code prints, captured in the member's process to be shown by the driver.

A Ray member's ``sys.stdout`` and ``sys.stderr`` are replaced by :class:`CapturedStream`
objects for the life of its process (an actor owns its worker process), before the program
copy is imported: ``print``, ``sys.stderr.write``, and ``logging`` (a handler that
``logging.basicConfig`` makes at import holds this stream; with no handler, Python's
last-resort handler writes warnings to ``sys.stderr``, as in a local run) all land here.
The host hands the lines over with each tick's status (:func:`drain`), so they reach the
driver in round order, never after the run; the driver prints them prefixed with the stage
and member (:mod:`hydropy.targets.progress`).
"""
from __future__ import annotations

import io
import sys
import threading

#: lines kept per member between two drains; beyond, lines are counted, not kept
MAX_LINES = 10_000


class CapturedStream(io.TextIOBase):
    """A text stream that keeps what is written as lines, to be drained."""

    def __init__(self, name: str, sink: "Captured"):
        self.name, self.sink = name, sink
        self.partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self.sink.lock:
            *lines, self.partial = (self.partial + text).split("\n")
            for line in lines:
                self.sink.add(self.name, line)
        return len(text)

    def flush_partial(self) -> None:
        with self.sink.lock:
            if self.partial:
                self.sink.add(self.name, self.partial)
                self.partial = ""

    @property
    def encoding(self) -> str:
        return "utf-8"

    def isatty(self) -> bool:
        return False


class Captured:
    """The lines a member printed since the last drain: (stream name, line) pairs."""

    def __init__(self):
        self.lock = threading.RLock()
        self.lines: list[tuple[str, str]] = []
        self.dropped = 0

    def add(self, stream: str, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append((stream, line.rstrip("\r")))
        else:
            self.dropped += 1


_CAPTURED: Captured | None = None


def install() -> None:
    """Capture this process's ``sys.stdout`` and ``sys.stderr`` (once per process)."""
    global _CAPTURED
    if _CAPTURED is not None:
        return
    _CAPTURED = Captured()
    sys.stdout = CapturedStream("stdout", _CAPTURED)
    sys.stderr = CapturedStream("stderr", _CAPTURED)


def drain() -> list[tuple[str, str]]:
    """The lines printed since the last drain (a line not ended yet counts as one)."""
    if _CAPTURED is None:
        return []
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, CapturedStream):
            stream.flush_partial()
    with _CAPTURED.lock:
        lines, _CAPTURED.lines = _CAPTURED.lines, []
        if _CAPTURED.dropped:
            lines.append(("stderr", f"... {_CAPTURED.dropped} more lines not shown"))
            _CAPTURED.dropped = 0
    return lines
