"""What a Ray run shows while it runs: stage code's output, a live progress display, a summary.

* **Output of stage code.** Each member's printed lines (``print``, ``logging``, anything
  written to ``sys.stdout``/``sys.stderr``; captured in its process by
  :mod:`hydropy.runtime.capture`) come back with the status of each tick and are written to
  the driver's stderr as ``[stage member] line``, in round order, as the driver learns of
  each round. They go to stderr whichever stream the stage code used: stdout carries the sinks.
* **Live display.** While the run is on, when stderr is a terminal, a table on stderr (drawn
  with ``rich``, redrawn a few times a second and removed at the end) shows per stage the
  records in and out so far, the rounds and the records per second.
* **Summary.** At the end, per stage: members, records in (inputs and channels) and out
  (channels and stream sinks), busy seconds (the members' time inside ``run_tick``, summed)
  and the largest queue (the most rounds submitted to one member and not yet finished, seen
  each time the driver submitted a round); plus the rounds and the run's seconds.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class RunMonitor:
    """Collects the statuses of a run's rounds (see ``StageHost.tick``) and shows them."""

    REFRESH = 0.25  # seconds between two redraws of the live display

    def __init__(self, members: dict[str, int], *, live: bool | None = None,
                 stream: TextIO | None = None):
        self.members = dict(members)
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.stats = {s: {"members": n, "records_in": 0, "records_out": 0, "busy_seconds": 0.0,
                          "largest_queue": 0} for s, n in self.members.items()}
        self.rounds = 0
        self.start = time.perf_counter()
        self.display = None
        self.last_draw = 0.0

    # -- the run ---------------------------------------------------------------------------
    def __enter__(self) -> "RunMonitor":
        if self.live:
            from rich.console import Console
            from rich.live import Live
            console = Console(file=self.stream, force_terminal=True)
            self.display = Live(self.table(), console=console, transient=True, auto_refresh=False)
            self.display.start()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> bool:
        if self.display is not None:
            self.display.stop()
            self.display = None
        return False

    def printed(self, label: tuple[str, int], lines: list[tuple[str, str]]) -> None:
        """Show lines a member printed, prefixed by its stage and member."""
        stage, m = label
        text = "".join(f"[{stage} {m}] {line}\n" for _, line in lines)
        if not text:
            return
        if self.display is not None:
            self.display.console.print(text, end="", markup=False, highlight=False,
                                       emoji=False, soft_wrap=True)
        else:
            self.stream.write(text)
            self.stream.flush()

    def round_done(self, statuses: list, labels: list[tuple[str, int]]) -> None:
        """Take the statuses of one round of every member."""
        for status, label in zip(statuses, labels):
            self.member_done(status, label)
        self.round_settled()

    def round_settled(self) -> None:
        """Every member has applied one more round."""
        self.rounds += 1
        self.redraw()

    def member_done(self, status, label: tuple[str, int]) -> None:
        """Take one member's status of one round (``StageHost.tick``)."""
        (records_in, records_out, busy), lines = status[2], status[3]
        stats = self.stats[label[0]]
        stats["records_in"] += records_in
        stats["records_out"] += records_out
        stats["busy_seconds"] += busy
        self.printed(label, lines)

    def queues(self, waiting: dict[tuple[str, int], int]) -> None:
        """Rounds submitted to each member and not yet finished, now."""
        for (stage, _), n in waiting.items():
            self.stats[stage]["largest_queue"] = max(self.stats[stage]["largest_queue"], n)

    # -- what is shown -----------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The run in numbers: ``{"rounds", "seconds", "stages": {stage: {members, records_in,
        records_out, busy_seconds, largest_queue}}}``."""
        return {"rounds": self.rounds, "seconds": round(time.perf_counter() - self.start, 6),
                "stages": {s: {**v, "busy_seconds": round(v["busy_seconds"], 6)}
                           for s, v in self.stats.items()}}

    def redraw(self) -> None:
        now = time.perf_counter()
        if self.display is not None and now - self.last_draw >= self.REFRESH:
            self.last_draw = now
            self.display.update(self.table(), refresh=True)

    def table(self):
        from rich.table import Table
        seconds = max(time.perf_counter() - self.start, 1e-9)
        table = Table(title=f"hydropy on Ray: round {self.rounds}, {seconds:.1f} s",
                      title_justify="left", box=None)
        for column in ("stage", "members", "records in", "records out", "records/s"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        for stage, v in self.stats.items():
            table.add_row(stage, str(v["members"]), f"{v['records_in']:,}", f"{v['records_out']:,}",
                          f"{v['records_in'] / seconds:,.0f}")
        return table


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as a few lines of text (what ``hydropy run`` prints on stderr)."""
    rows = [("stage", "members", "records in", "records out", "busy s", "largest queue")]
    for stage, v in summary["stages"].items():
        rows.append((stage, str(v["members"]), f"{v['records_in']:,}", f"{v['records_out']:,}",
                     f"{v['busy_seconds']:.3f}", str(v["largest_queue"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rounds = summary["rounds"]
    lines = [f"summary: {rounds} round{'s' if rounds != 1 else ''} in {summary['seconds']:.2f} s"]
    lines += ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join(lines)
