"""Faults and signals on Ray: one line naming what happened, the right exit code, and nothing
left running.

In-process tests use the session's Ray; tests of ``hydropy run`` run it in a subprocess with
its own ``RAY_TMPDIR`` (so its Ray processes, and any cluster recorded there, are found by
that directory and no other session's are touched).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from hydropy.errors import HydropyError, UserCodeError
from hydropy.loader import load_flow
from hydropy.targets.compile import compile_flow
from hydropy.targets.ray import RunFault, run_compiled

SLOW = '''
import os
import time

import hydropy as hp

MARK = {mark!r}


def slow(x):
    if not os.path.exists(MARK):
        with open(MARK, "w") as fh:
            fh.write(str(os.getpid()))
    if x == {stall!r}:
        time.sleep(600)
    if x == {kill!r}:  # the process dies in the middle of the round, every time
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep({pause!r})
    return x


flow = hp.Flow("slow")
flow.source("xs").map(slow, name="slow").count(name="n").sink("n")
'''


def slow_program(tmp_path, *, stall=None, kill=None, pause=0.05, name="slow.py"):
    mark = tmp_path / "started"
    program = tmp_path / name
    program.write_text(textwrap.dedent(SLOW.format(mark=str(mark), stall=stall, kill=kill, pause=pause)))
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [n], to: counter}\n")
    return str(program), str(plan), mark


def compiled_slow(tmp_path, **kw):
    program, plan, mark = slow_program(tmp_path, **kw)
    flow = load_flow(program)
    compile_flow(flow, str(tmp_path / "out"), plan=plan)
    return str(tmp_path / "out"), mark


def wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) or not open(path).read():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)
    return open(path).read()


# -- faults in-process ------------------------------------------------------------------------

def test_a_member_killed_mid_run_is_restarted_and_named_in_one_line(ray_session, tmp_path, capfd):
    out, mark = compiled_slow(tmp_path)
    outcome = {}

    def run():
        try:
            outcome["result"] = run_compiled(out, {"xs": list(range(400))}, tick_size=10,
                                             timeout=60, checkpoint_every=3)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    os.kill(int(wait_for(mark)), signal.SIGKILL)  # the member running the slow function
    worker.join(120)
    assert "error" not in outcome, outcome["error"]
    assert outcome["result"] == {"n": [400]}
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(r"hydropy: stage 'main' member 0 died while running round \d+ \(its worker "
                        r"process has died\); restarted from its (start|checkpoint of round \d+), "
                        r"\d+\.\d\d s lost", lines[0]), lines[0]


def test_a_member_that_dies_three_times_at_one_round_ends_the_run(ray_session, tmp_path):
    out, _ = compiled_slow(tmp_path, kill=25, pause=0)
    with pytest.raises(RunFault, match=r"^stage 'main' member 0 died 3 times in a row while running "
                                       r"round 3: its worker process has died; its checkpoints are "
                                       r"in .*hydropy-checkpoints-slow-\w+$") as caught:
        run_compiled(out, {"xs": list(range(60))}, tick_size=10, checkpoint_every=1)
    where = str(caught.value).rsplit(" ", 1)[1]
    kept = os.listdir(os.path.join(where, "main-0"))  # kept for a look (a .tmp: cut short)
    assert "round-2.pkl" in kept and all(re.fullmatch(r"round-\d+\.pkl(\.\d+\.tmp)?", name)
                                         for name in kept), kept
    shutil.rmtree(where)


def test_without_checkpoints_a_dead_member_ends_the_run(ray_session, tmp_path):
    out, _ = compiled_slow(tmp_path, kill=25, pause=0)
    with pytest.raises(RunFault, match=r"^stage 'main' member 0 died while running round 3: "
                                       r"its worker process has died$"):
        run_compiled(out, {"xs": list(range(60))}, tick_size=10, checkpoint_every=0)


def test_a_member_that_stops_answering_is_detected_within_the_timeout(ray_session, tmp_path):
    out, _ = compiled_slow(tmp_path, stall=12, pause=0)
    with pytest.raises(RunFault, match=r"^stage 'main' member 0 did not answer within 2 s while "
                                       r"running round 2: .*--timeout SECONDS"):
        run_compiled(out, {"xs": list(range(30))}, tick_size=10, timeout=2)


def test_the_timeout_must_be_positive(tmp_path):
    out, _ = compiled_slow(tmp_path)
    with pytest.raises(HydropyError, match="timeout must be a positive number"):
        run_compiled(out, {"xs": [1]}, timeout=0)


UNPICKLABLE = '''
import threading

import hydropy as hp


def guard(x):
    return (x, threading.Lock()) if x == 3 else (x, None)


def ident(x):
    return x


flow = hp.Flow("locks")
flow.source("xs").map(guard, name="guard").map(ident, name="after").sink("out")
'''


def test_a_record_that_cannot_be_pickled_names_its_operator_and_channel(ray_session, tmp_path):
    program = tmp_path / "locks.py"
    program.write_text(textwrap.dedent(UNPICKLABLE))
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - decouple: {operators: [after], to: b}\n")
    compile_flow(load_flow(str(program)), str(tmp_path / "out"), plan=str(plan))
    with pytest.raises(UserCodeError) as caught:
        run_compiled(str(tmp_path / "out"), {"xs": [1, 2, 3, 4]}, tick_size=2)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 1
    assert message.startswith("map 'guard' (locks.py:16) of stage 'main' member 0 sends a record "
                              "that cannot be pickled onto channel 'guard_to_b' (to stage 'b' "
                              "member 0): (3, <unlocked _thread.lock")
    assert "TypeError: cannot pickle '_thread.lock' object" in message


def test_a_sink_that_cannot_be_pickled_is_named(ray_session, tmp_path):
    program = tmp_path / "locks.py"
    program.write_text(textwrap.dedent(UNPICKLABLE))
    compile_flow(load_flow(str(program)), str(tmp_path / "out"))
    with pytest.raises(UserCodeError, match=r"^sink 'out' of stage 'main' member 0 holds a record "
                                            r"that cannot be pickled"):
        run_compiled(str(tmp_path / "out"), {"xs": [1, 2, 3, 4]})


# -- hydropy run in a subprocess: its own Ray, found by its RAY_TMPDIR ---------------------------

@pytest.fixture
def ray_tmpdir():
    """A private RAY_TMPDIR (short: Ray's socket paths have a length limit)."""
    path = tempfile.mkdtemp(prefix="hp-")
    try:
        yield path
    finally:
        deadline = time.monotonic() + 30
        while ray_processes(path) and time.monotonic() < deadline:
            time.sleep(0.5)  # processes told to stop may take a moment to exit
        leftovers = ray_processes(path)
        for pid in leftovers:  # only processes of this test's own Ray
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["rm", "-rf", path], check=False)
        assert not leftovers, f"Ray processes left running: {leftovers}"


def ray_processes(tmpdir: str) -> list[int]:
    """Processes whose command line names ``tmpdir`` (Ray's gcs, raylet and workers of a Ray
    whose RAY_TMPDIR it is), other than this test process."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{pid}/stat") as fh:
                zombie = fh.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if tmpdir.encode() in cmdline and not zombie:
            found.append(int(pid))
    return found


def hydropy_env(tmpdir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONHASHSEED")}
    return {**env, "RAY_TMPDIR": tmpdir}


def hydropy(*args) -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "hydropy"), *args]


def inputs_file(tmp_path, n):
    path = tmp_path / "xs.json"
    path.write_text('{"xs": [%s]}' % ", ".join(map(str, range(n))))
    return str(path)


@pytest.mark.parametrize("signals, code, said", [
    ([signal.SIGINT], 130, "hydropy: interrupted"),
    ([signal.SIGINT] * 3, 130, "hydropy: interrupted"),
    ([signal.SIGTERM], 143, "hydropy: terminated"),
])
def test_signals_stop_the_run_and_its_ray(tmp_path, ray_tmpdir, signals, code, said):
    program, plan, mark = slow_program(tmp_path, pause=0.2)
    proc = subprocess.Popen(hydropy("run", program, "--target", "ray", "--plan", plan, "--inputs",
                                    inputs_file(tmp_path, 2000)), env=hydropy_env(ray_tmpdir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for(mark)
        assert ray_processes(ray_tmpdir)  # the run's Ray is found by its directory
        for sig in signals:
            os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C: the whole process group
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == said
    assert "Traceback" not in stderr and stdout == ""
    deadline = time.monotonic() + 30
    while ray_processes(ray_tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)  # processes shut down by ray.shutdown() may take a moment to exit
    assert not ray_processes(ray_tmpdir)


def test_a_hung_member_ends_hydropy_run_with_one_line(tmp_path, ray_tmpdir):
    program, plan, _ = slow_program(tmp_path, stall=15, pause=0)
    proc = subprocess.run(hydropy("run", program, "--target", "ray", "--plan", plan, "--inputs",
                                  inputs_file(tmp_path, 40), "--tick-size", "10", "--timeout", "3"),
                          env=hydropy_env(ray_tmpdir), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "hydropy: error: stage 'main' member 0 did not answer within 3 s while running round 2: a "
        "user function that does not return, or an overloaded machine (--timeout SECONDS waits "
        "longer)"]
    assert not ray_processes(ray_tmpdir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WHERE = '''
import hydropy as hp


def where(x):
    import ray
    return ray.get_runtime_context().gcs_address


flow = hp.Flow("where")
flow.source("xs").map(where, name="where").sink("gcs")
'''


def test_without_address_a_fresh_local_ray_not_a_recorded_cluster(tmp_path, ray_tmpdir):
    """A cluster that ``ray start`` recorded on the machine (in RAY_TMPDIR) is not joined:
    the members report the address of a Ray other than that cluster's."""
    import json
    program = tmp_path / "where.py"
    program.write_text(textwrap.dedent(WHERE))
    port = free_port()
    env = hydropy_env(ray_tmpdir)
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        record = os.path.join(ray_tmpdir, "ray", "ray_current_cluster")
        assert wait_for(record).strip().endswith(f":{port}")
        proc = subprocess.run(hydropy("run", str(program), "--target", "ray", "--inputs",
                                      inputs_file(tmp_path, 2), "--format", "json"),
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        addresses = set(json.loads(proc.stdout)["gcs"])
        assert len(addresses) == 1 and not addresses.pop().endswith(f":{port}")
        assert head.poll() is None  # the recorded cluster was left alone
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_a_stale_cluster_record_is_not_waited_for(tmp_path, ray_tmpdir):
    os.makedirs(os.path.join(ray_tmpdir, "ray"))
    with open(os.path.join(ray_tmpdir, "ray", "ray_current_cluster"), "w") as fh:
        fh.write(f"127.0.0.1:{free_port()}")  # a cluster that died
    program, plan, _ = slow_program(tmp_path, pause=0)
    proc = subprocess.run(hydropy("run", program, "--target", "ray", "--inputs",
                                  inputs_file(tmp_path, 3)), env=hydropy_env(ray_tmpdir),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n (1 record)", "  3"]
    assert "127.0.0.1" not in proc.stderr


SENDS_ONCE = '''
import os
import signal
import sys

import hydropy as hp

MARK = {mark!r}


class Reading:
    """Kills its member's process the first time it is pickled other than for a checkpoint:
    when the member sends its sinks to the driver."""

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Reading) and other.x == self.x

    def __hash__(self):
        return hash(self.x)

    def __lt__(self, other):
        return self.x < other.x

    def __reduce__(self):
        frame, checkpointing = sys._getframe(), False
        while frame is not None:
            checkpointing |= frame.f_code.co_filename.endswith("checkpoint.py")
            frame = frame.f_back
        if not checkpointing and not os.path.exists(MARK):
            open(MARK, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return Reading, (self.x,)


def reading(x):
    return Reading(x)


flow = hp.Flow("sends_once")
flow.source("xs").map(reading, name="reading").sink("readings")
'''


def test_a_member_that_dies_sending_its_sinks_is_restarted_and_replayed(ray_session, tmp_path, capfd):
    program = tmp_path / "sends_once.py"
    program.write_text(textwrap.dedent(SENDS_ONCE.format(mark=str(tmp_path / "killed"))))
    compile_flow(load_flow(str(program)), str(tmp_path / "out"))
    got = run_compiled(str(tmp_path / "out"), {"xs": list(range(30))}, tick_size=10, checkpoint_every=2)
    assert sorted(r.x for r in got["readings"]) == list(range(30))  # each record once
    assert re.fullmatch(r"hydropy: stage 'main' member 0 died while sending its sinks \(.*\); "
                        r"restarted from its checkpoint of round 2, \d+\.\d\d s lost\n",
                        capfd.readouterr().err)
