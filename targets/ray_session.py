"""Ray sessions of a run: starting a fresh local Ray or connecting to a cluster, and the one
``PYTHONHASHSEED`` every process of a run hashes str under (:func:`hash_seed`).

Without an address the driver starts a fresh local Ray of its own (never one recorded by
``ray start``), whose raylet, and so every worker, inherits the seed; on a cluster the job's
runtime environment carries it, and :func:`actor_options` adds it to an actor's own
environment when the session is not known to be seeded.
"""
from __future__ import annotations

import os
import socket
import sys

from hydropy.errors import LoadError


def hash_seed() -> str:
    """The ``PYTHONHASHSEED`` of every process of a Ray run: the environment's when it is a
    number (so a driver started under it agrees), else ``0``."""
    seed = os.environ.get("PYTHONHASHSEED", "")
    return seed if seed.isdigit() and int(seed) <= 4294967295 else "0"


def reexec_under_hash_seed(argv: list[str]) -> None:
    """Restart this process (the ``hydropy`` command) under :func:`hash_seed` unless it already
    runs under it: a str's hash is fixed when the interpreter starts, and the driver runs the
    single-node program for ``--check`` and must hash as the actors do."""
    seed = hash_seed()
    if os.environ.get("PYTHONHASHSEED") == seed:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "hydropy", *argv],
              {**os.environ, "PYTHONHASHSEED": seed})


#: Ray sessions whose every worker process starts with PYTHONHASHSEED = hash_seed()
_SEEDED_SESSIONS: set[str] = set()


def _session(ray) -> str | None:
    node = getattr(ray._private.worker, "_global_node", None)
    return getattr(node, "session_name", None) or ray.get_runtime_context().gcs_address


def start_local_ray(**options) -> None:
    """Start a fresh local Ray for this process, never a cluster that ``ray start`` recorded on
    the machine (live or stale) nor ``RAY_ADDRESS``; its processes hash str under
    :func:`hash_seed` (they inherit the environment of its raylet, set here)."""
    import ray
    before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = hash_seed()
    try:
        ray.init(address="local", **{"include_dashboard": False, "log_to_driver": False,
                                     "logging_level": "ERROR", **options})
    except BaseException:
        ray.shutdown()  # a start cut short (Ctrl-C) leaves nothing running
        raise
    finally:
        if before is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = before
    _SEEDED_SESSIONS.add(_session(ray))


def connect(address: str | None, working_dir: str | None = None) -> bool:
    """Make sure Ray is up; returns True when this call started it (so the caller stops it).

    Without ``address``: a fresh local Ray (:func:`start_local_ray`). With ``address``,
    connects to that cluster and ships ``working_dir`` (the compiled directory) as the job's
    working directory, so members on other machines can load it; the job's processes get
    ``PYTHONHASHSEED``.
    """
    import ray
    if ray.is_initialized():
        return False
    if not address:
        start_local_ray()
        return True
    _check_reachable(address)
    from .cluster import bounded_connect, failure_text, quiet_fd2, token_source, use_available_token
    token = use_available_token()
    runtime_env = {"env_vars": {"PYTHONHASHSEED": hash_seed()}}
    if working_dir:
        runtime_env["working_dir"] = working_dir
    try:
        with bounded_connect(), quiet_fd2():
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                     logging_level="ERROR")
    except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError...
        ray.shutdown()
        hint = (f"the token from {token_source()} was used; it must be the cluster's" if token else
                "a cluster with token authentication needs its token in RAY_AUTH_TOKEN or "
                "~/.ray/auth_token")
        raise LoadError(f"cannot connect to the Ray cluster at {address}: "
                        f"{failure_text(exc)} ({hint})") from None
    _SEEDED_SESSIONS.add(_session(ray))
    return True


def actor_options(ray) -> dict:
    """Options of every member actor: no CPU reservation (members of a run share the CPUs);
    PYTHONHASHSEED in its runtime environment unless every worker of the session has it."""
    options: dict = {"num_cpus": 0}
    if _session(ray) not in _SEEDED_SESSIONS:
        options["runtime_env"] = {"env_vars": {"PYTHONHASHSEED": hash_seed()}}
    return options


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast (not hang) when ``host:port`` accepts no connection."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise LoadError(f"Ray address {address!r} is not host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise LoadError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None
