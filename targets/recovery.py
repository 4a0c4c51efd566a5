"""The Ray driver's rounds, and bringing a dead stage member back so that each record takes
effect once.

Rounds are numbered from 1. In round ``r`` every member ticks once, in stage order, on the
r-th tick of the inputs routed to it and on the batches its upstream members produced in
round ``r`` (object refs: the batches go from actor to actor through Ray's object store).
The driver keeps the refs of what every member produced in a round (and Ray keeps the
objects while a ref lives) until every member has a checkpoint at or after that round, so
whatever a restarted member needs again is still there; the inputs it holds anyway.

When a member dies (its process killed, its node lost) Ray fails its calls and every call
that takes its batches (``RayActorError`` naming it). The driver then

1. lets every submitted call finish or fail, and learns per member how many rounds it has
   applied (calls of one actor run in order, and a call whose input failed does not run);
2. starts a new actor for the member (same stage, same member index; Ray places it on a
   live node) which loads its newest checkpoint (round ``c``) of a round whose outputs the
   driver has (it may have checkpointed a round whose reply it died before sending);
3. submits again, round by round, every round a member has not applied: the new member
   re-runs rounds ``c+1..``, getting the same batches again; what it re-sends for a round its
   receivers have applied is not routed to them (the batches they applied are kept), and a
   member asked for a round it has applied drops it (:class:`MemberRecovery.takes`).

So every member applies every round once, in order, on the same batches: its state and its
sinks (member state too) are those of a run without the fault, when the stage code gives
the same output for the same input. The driver prints one line per recovery, and ends the
run when a member dies three times in a row at the same round.
"""
from __future__ import annotations

import sys
import time
from typing import Any

from hydropy.errors import HydropyError, PlanError
from hydropy.runtime.batch import pack, route, wire
from hydropy.runtime.stage import merge_results

MAX_DRAIN_ROUNDS = 10_000
#: rounds of input ticks are sent to a member in one call until they hold this many records
#: (Ray's cost per call, 5-8 ms of driver and member on 2 cores, is then small against the
#: work of the call even where a record costs a kernel ~0.1 us: benchmarks/README.md, B2) ...
RECORDS_PER_CALL = 1_000_000
#: ... or this many rounds; and only as many that the run still has ``max_inflight`` calls
#: per member (stages downstream work on a call's rounds while upstream runs the next)
MAX_ROUNDS_PER_CALL = 64
#: calls submitted to a member and not yet applied, at most (the run's backpressure)
DEFAULT_MAX_INFLIGHT = 4
#: deaths of one member in a row at the same round that end the run
MAX_DEATHS_AT_ONE_ROUND = 3


class Rounds:
    """Runs the rounds of one Ray run on ``driver`` (targets.ray._Driver); with ``recover``
    False a dead member ends the run (nothing is kept for a replay). ``per_call``: rounds
    per call (None: :func:`rounds_per_call`)."""

    def __init__(self, driver, ticks: list[dict[str, list]], sources: dict[str, str],
                 max_inflight: int, recover: bool, checkpoint_dir: str | None, log=None,
                 per_call: int | None = None):
        self.d, self.ray = driver, driver.ray
        self.ticks, self.sources, self.max_inflight = ticks, sources, max_inflight
        self.recover, self.checkpoint_dir = recover, checkpoint_dir
        self.log = log or sys.stderr
        self.labels = [(s, m) for s in driver.order for m in range(len(driver.hosts[s]))]
        self.incoming = {s: [c for c in driver.channels if c["to"] == s] for s in driver.order}
        self.slot_of = {s: {slot: i for i, slot in enumerate(driver.slots[s])} for s in driver.order}
        # (round, stage, member) -> (ref, index in its call's list): per slot, and its status
        self.outputs: dict[tuple, list] = {}
        self.status: dict[tuple, Any] = {}
        self.applied = {label: 0 for label in self.labels}      # rounds the member has applied
        self.submitted = {label: 0 for label in self.labels}    # rounds submitted to its actor
        self.done = {label: 0 for label in self.labels}         # rounds whose outputs are good
        self.checkpointed = {label: 0 for label in self.labels}
        self.quiet = {label: True for label in self.labels}     # after its last settled round
        self.rounds = 0                                          # rounds begun
        self.deaths: dict[tuple, tuple[int, int]] = {}           # member -> (round, times)
        self.reports: list[tuple] = []                            # recoveries to print
        self._external: dict[int, dict] = {}
        self._statuses: dict = {}     # status ref -> (member, last round, each round's status)
        self.released = 0                                        # rounds whose refs are dropped
        self.per_call = per_call or rounds_per_call(tick_records(ticks), len(ticks), max_inflight)

    # -- submitting ----------------------------------------------------------------------
    def external(self, r: int) -> dict[str, dict[str, list]]:
        """stage -> source -> one packed part per member: the r-th tick of the inputs."""
        if r not in self._external:
            ext: dict[str, dict[str, list]] = {}
            for src, part in (self.ticks[r - 1] if r <= len(self.ticks) else {}).items():
                stage = self.sources[src]
                routing, key = self.d.source_routes[src]
                try:
                    parts = route(part, routing, len(self.d.hosts[stage]), key, r - 1)
                except PlanError as exc:
                    raise PlanError(f"source '{src}' to stage '{stage}': {exc.message}") from None
                ext.setdefault(stage, {})[src] = [wire(pack(p)) for p in parts]
            self._external[r] = ext
        return self._external[r]

    def submit(self, r: int, label: tuple[str, int]) -> None:
        """Submit round ``r`` of one member on the batches its upstream members made in ``r``."""
        self.submit_rounds([r], label)

    def submit_rounds(self, rounds: list[int], label: tuple[str, int]) -> None:
        """Submit ``rounds`` (consecutive) of one member in one call (``StageHost.ticks``) on
        the batches its upstream members made in them. The call returns one object per
        outgoing slot and one of statuses, each a list over ``rounds``: the driver keeps, per
        round, (ref, index) of each of its batches and of its status."""
        from .ray import _unpicklable_input
        stage, m = label
        names, layout, exts = [], [], []
        args: dict = {}   # each distinct upstream output object once, by its ref
        for r in rounds:
            places = []
            for c in self.incoming[stage]:
                slot = self.slot_of[c["from"]][(c["name"], m)]
                for i in range(len(self.d.hosts[c["from"]])):
                    if r == rounds[0]:
                        names.append(c["name"])
                    ref, j = self.outputs[(r, c["from"], i)][slot]
                    places.append((args.setdefault(ref, len(args)), j))
            layout.append(places)
            exts.append({src: parts[m] for src, parts in self.external(r).get(stage, {}).items()})
        slots = len(self.d.slots[stage])
        try:
            result = self.d.hosts[stage][m].ticks.options(num_returns=slots + 1).remote(
                rounds, self.done[label], names, layout, exts, *args)
        except TypeError as exc:  # an input record Ray cannot serialize
            raise _unpicklable_input(exts[0], exc) from None
        result = result if slots else [result]
        for j, r in enumerate(rounds):
            if r > self.done[label]:  # else its receivers applied the batches it made before
                self.outputs[(r, stage, m)] = [(ref, j) for ref in result[:-1]]
            self.status[(r, stage, m)] = (result[-1], j)
        self.submitted[label] = rounds[-1]

    def status_of(self, r: int, label: tuple[str, int], timeout: float | None = None):
        """What member ``label`` reported for round ``r`` (``StageHost.tick``'s status)."""
        ref, j = self.status[(r, *label)]
        if ref not in self._statuses:
            self.keep_statuses(ref, r - j, label, self.ray.get(ref, timeout=timeout))
        return self._statuses[ref][2][j]

    def keep_statuses(self, ref, first: int, label: tuple[str, int], values: list) -> None:
        """Keep what a call (its first round ``first``) of member ``label`` reported, until
        the member has applied its rounds."""
        self._statuses[ref] = (label, first + len(values) - 1, values)

    def begin_rounds(self, count: int = 1) -> None:
        rounds = list(range(self.rounds + 1, self.rounds + count + 1))
        self.rounds += count
        for label in self.labels:  # in pipeline order: upstream outputs exist before they are read
            self.submit_rounds(rounds, label)

    # -- waiting ---------------------------------------------------------------------------
    def settled(self) -> int:
        return min(self.applied.values())

    def settle(self, upto: int) -> None:
        """Wait until every member has applied round ``upto``, bringing back dead ones."""
        while self.settled() < upto:
            r = self.settled() + 1
            pending = [label for label in self.labels if self.applied[label] < r]
            what = f"running round {r}"
            calls = [(self.status[(r, *label)][0], label) for label in pending]
            calls = [(ref, label) for ref, label in calls if ref not in self._statuses]
            if calls:  # (a call's status, once here, tells each of its rounds)
                failure, values = self.wait_all([ref for ref, _ in calls], [label for _, label in calls], what)
                if failure is not None:
                    self.recover_from(failure, what)
                    continue
                for (ref, label), statuses in zip(calls, values):
                    self.keep_statuses(ref, r - self.status[(r, *label)][1], label, statuses)
            for label in pending:
                self.applied_round(label, r, self.status_of(r, label))
            self.d.monitor.round_settled()
            self.report(r)
            self.release()

    def applied_round(self, label, r: int, status) -> None:
        """Member ``label`` applied round ``r``; ``status`` is what its tick returned
        (``StageHost.tick``)."""
        quiescent, checkpointed = status[1], status[-1]
        self.d.monitor.member_done(status, label)
        self.applied[label] = r
        self.done[label] = max(self.done[label], r)
        self.checkpointed[label] = max(self.checkpointed[label], checkpointed)
        self.quiet[label] = quiescent

    def wait_all(self, refs: list, labels: list, what: str, timeout: float | None = None):
        """Wait for ``refs`` (bounded by the timeout: a member that hangs ends the run):
        (None, their values) when all succeeded, else ((exception, stage, member) of the first
        failure in pipeline order, None)."""
        from .ray import RunFault
        ray = self.ray
        self.wait_settled(refs, labels, what, timeout)
        try:
            return None, ray.get(list(refs))
        except ray.exceptions.RayError:
            pass
        for ref, (stage, m) in zip(refs, labels):
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                return (exc, stage, m), None
        raise RunFault(f"Ray failed while {what}")

    def wait_settled(self, refs: list, labels: list, what: str, timeout: float | None = None) -> None:
        """Wait until each of ``refs`` has a value or an error; a member whose call takes
        longer than the timeout ends the run."""
        from .ray import RunFault
        timeout = timeout or self.d.timeout
        unique = list(dict.fromkeys(refs))  # (a call's status serves each of its rounds)
        _, pending = self.ray.wait(unique, num_returns=len(unique), timeout=timeout)
        if pending:
            stuck = set(pending)
            stage, m = next(label for ref, label in zip(refs, labels) if ref in stuck)
            raise RunFault(f"{self.d.member(stage, m)} did not answer within {timeout:g} s while "
                           f"{what}: a user function that does not return, or an overloaded "
                           f"machine (--timeout SECONDS waits longer)")

    def release(self) -> None:
        """Drop the refs of rounds no member can need again: every member has checkpointed
        after them (without recovery: every member has applied them); and the statuses of
        calls whose member has applied all their rounds."""
        settled = self.settled()
        keep_after = min(self.checkpointed.values()) if self.recover else settled
        for r in range(self.released + 1, keep_after + 1):
            for label in self.labels:
                self.status.pop((r, *label), None)
                self.outputs.pop((r, *label), None)
        self.released = max(self.released, keep_after)
        for ref in [ref for ref, (label, last, _) in self._statuses.items() if last <= self.applied[label]]:
            del self._statuses[ref]
        for r in [r for r in self._external if r <= settled]:
            del self._external[r]

    # -- recovering ------------------------------------------------------------------------
    def recover_from(self, failure: tuple, what: str) -> None:
        exc, stage, m = failure
        if not (self.recover and isinstance(exc, self.ray.exceptions.RayActorError)
                and exc.actor_id in self.d.by_actor):
            raise self.d.explain(exc, stage, m, what) from None
        noticed = time.perf_counter()
        dead = self.find_dead()
        if self.current(exc.actor_id):  # (a member that died between rounds: its own call)
            dead.setdefault(self.d.by_actor[exc.actor_id], _reason(exc))
        if not dead:
            raise self.d.explain(exc, stage, m, what) from None
        for label, reason in dead.items():
            self.count_death(label, reason)
        for label in dead:
            self.restart(label)
        for r in range(self.settled() + 1, self.rounds + 1):
            for label in self.labels:
                if self.applied[label] < r:
                    self.submit(r, label)
        for label, reason in dead.items():
            at = self.deaths[label][0]
            while_ = f"running round {at}" if at <= self.rounds else what
            self.reports.append((label, at, while_, reason, self.applied[label], noticed))

    def find_dead(self) -> dict[tuple, str]:
        """After every submitted call finished or failed: each member's applied rounds, and
        the dead members (with Ray's reason)."""
        pairs = [(self.status[(r, *label)][0], label) for label in self.labels
                 for r in range(self.applied[label] + 1, self.submitted[label] + 1)]
        self.wait_settled([ref for ref, _ in pairs], [label for _, label in pairs], "recovering")
        dead: dict[tuple, str] = {}
        for label in self.labels:
            stage, m = label
            for r in range(self.applied[label] + 1, self.submitted[label] + 1):
                try:
                    status = self.status_of(r, label, timeout=0)
                except self.ray.exceptions.RayActorError as exc:
                    if self.current(exc.actor_id):
                        dead.setdefault(self.d.by_actor[exc.actor_id], _reason(exc))
                    break
                except self.ray.exceptions.RayError as exc:
                    raise self.d.explain(exc, stage, m, f"running round {r}") from None
                self.applied_round(label, r, status)
            self.submitted[label] = self.applied[label]
        return dead

    def current(self, actor_id: str) -> bool:
        """Whether ``actor_id`` is a member's actor now (not one it had before a restart)."""
        who = self.d.by_actor.get(actor_id)
        return who is not None and self.d.hosts[who[0]][who[1]]._actor_id.hex() == actor_id

    def count_death(self, label, reason: str) -> None:
        from .ray import RunFault
        at = self.applied[label] + 1
        last, times = self.deaths.get(label, (None, 0))
        times = times + 1 if last == at else 1
        self.deaths[label] = (at, times)
        if times >= MAX_DEATHS_AT_ONE_ROUND:
            where = (f"; its checkpoints are in {self.checkpoint_dir}" if self.checkpoint_dir else "")
            fault = RunFault(f"{self.d.member(*label)} died {times} times in a row while running "
                             f"round {at}: {reason}{where}")
            fault.keep_checkpoints = True
            raise fault

    def restart(self, label) -> None:
        """A new actor for a dead member, restored from its newest checkpoint (again while
        the new one dies as it starts: three deaths at one round end the run)."""
        from .ray import MIN_START_TIMEOUT, RunFault
        stage, m = label
        while True:
            try:
                self.ray.kill(self.d.hosts[stage][m])
            except Exception:  # already gone
                pass
            restored = self.d.new_host(stage, m).restore.remote(self.done[label])
            failure, _ = self.wait_all([restored], [label], "restarting",
                                       max(self.d.timeout, MIN_START_TIMEOUT))
            if failure is None:
                break
            if not isinstance(failure[0], self.ray.exceptions.RayActorError):
                raise self.d.explain(failure[0], stage, m, "restarting") from None
            self.count_death(label, _reason(failure[0]))
        c = self.ray.get(restored)
        if c < self.checkpointed[label]:
            raise RunFault(f"{self.d.member(stage, m)} was restarted but found no checkpoint of "
                           f"round {self.checkpointed[label]} in {self.checkpoint_dir} (on a cluster, "
                           f"--checkpoint-dir must be a directory every node reads)")
        self.applied[label] = self.submitted[label] = self.checkpointed[label] = c

    def report(self, r: int) -> None:
        """One line per recovered member once it has applied again the round it died in."""
        for item in [i for i in self.reports if i[1] <= r]:
            self.reports.remove(item)
            (stage, m), _, while_, reason, restored, noticed = item
            origin = f"its checkpoint of round {restored}" if restored else "its start"
            print(f"hydropy: {self.d.member(stage, m)} died while {while_} ({reason}); restarted "
                  f"from {origin}, {time.perf_counter() - noticed:.2f} s lost", file=self.log)

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> dict[str, list]:
        window = self.max_inflight * self.per_call  # rounds in flight at most
        while self.rounds < len(self.ticks):
            self.begin_rounds(min(self.per_call, len(self.ticks) - self.rounds))
            self.d.monitor.queues({label: self.submitted[label] - self.applied[label]
                                   for label in self.labels})
            if self.rounds - self.settled() >= window:
                self.settle(self.rounds - window + self.per_call)
        self.settle(self.rounds)
        # a round consumes what it sends (stages run in pipeline order), so only records
        # waiting in a cycle call for another round, as ticks of the local target
        for _ in range(MAX_DRAIN_ROUNDS):
            if all(self.quiet.values()):
                break
            self.begin_rounds()
            self.settle(self.rounds)
        else:
            raise HydropyError(f"the program did not settle after {MAX_DRAIN_ROUNDS} rounds")
        while True:
            refs = [self.d.hosts[s][m].results.remote() for s, m in self.labels]
            failure, values = self.wait_all(refs, self.labels, "sending its sinks")
            if failure is None:
                merged = merge_results(values)
                return {sink: merged.get(sink, []) for sink in self.d.sinks}
            self.recover_from(failure, "sending its sinks")
            self.settle(self.rounds)
            self.report(self.rounds + 1)


def rounds_per_call(records: int, rounds: int, max_inflight: int = DEFAULT_MAX_INFLIGHT) -> int:
    """How many of ``rounds`` input ticks (``records`` in all) go to a member in one call:
    enough that a call holds :data:`RECORDS_PER_CALL` records (the mean tick's), at most
    :data:`MAX_ROUNDS_PER_CALL`, and few enough that the run has ``max_inflight`` calls per
    member, so the stages of a pipeline still overlap. Each round is still one tick: only the
    calls are fewer."""
    mean = max(records / max(rounds, 1), 1)
    by_records = -(-RECORDS_PER_CALL // int(mean))
    return max(1, min(by_records, MAX_ROUNDS_PER_CALL, rounds // max_inflight))


def tick_records(ticks: list[dict[str, list]]) -> int:
    """The records of all ``ticks``."""
    return sum(len(part) for tick in ticks for part in tick.values())


def _reason(exc) -> str:
    """Ray's reason an actor died, in a few words (``its worker process has died``)."""
    reason = str(getattr(exc, "error_msg", "") or exc).strip().splitlines()[-1]
    return reason.removeprefix("The actor is dead because ").split(". ")[0].rstrip(".")
