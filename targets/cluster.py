"""Connecting to a Ray cluster that ``ray start`` made, as Ray's own tools do.

**Token authentication.** Since Ray 2.59, ``ray start`` makes a token-authenticated cluster
whenever a token is available, and Ray reads the token from ``RAY_AUTH_TOKEN``, else the file
``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token`` (where ``ray start`` and ``ray
get-auth-token --generate`` write it; Ray's ``AuthenticationTokenLoader``). ``ray.init``
turns token mode on by itself only for ``address="auto"``; for an explicit address it needs
``RAY_AUTH_MODE=token``. :func:`use_available_token` does for every address what Ray does for
``auto`` (``maybe_enable_token_auth_if_token_available``): when ``RAY_AUTH_MODE`` is unset
and a token is available there, token mode is on for this process.

**Failing fast and quietly.** While ``ray.init`` connects, the C++ core writes its retries and
warnings straight to file descriptor 2; :func:`quiet_fd2` sends them to a temporary file, so a
failed connection is hydropy's one line. The connection is bounded: ``ray.init`` tries to
reach the GCS once a second, ``RAY_gcs_server_port_wait_time_s`` times (20 by default; set
here to :data:`CONNECT_TIMEOUT` unless the environment sets it).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

#: attempts (about a second each) ray.init makes to reach a cluster's GCS before the run fails
CONNECT_TIMEOUT = 3


def use_available_token() -> bool:
    """Turn on Ray's token mode when ``RAY_AUTH_MODE`` is unset and a token is where Ray looks
    for one; True when token mode is on. Older Ray (no token authentication): False."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:
        return False
    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        return False
    _enable_token_auth()  # RAY_AUTH_MODE=token for this process (and the config Ray cached)
    return True


def failure_text(exc: BaseException) -> str:
    """What went wrong in a failed ``ray.init``, on one line: the exception's first line and,
    when Ray wraps the cause, the cause's last line (the error its retries ended with)."""
    text = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        if lines and lines[-1] not in text:
            text += f": {lines[-1]}"
    return text[:300]


def token_source() -> str:
    """Where Ray reads the token from, for messages."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    return os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join("~", ".ray", "auth_token")


@contextlib.contextmanager
def quiet_fd2():
    """File descriptor 2 goes to a temporary file while the block runs (Ray's C++ output);
    ``sys.stderr`` is flushed before and after, so Python's own messages keep their order."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to save: nothing to quiet
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def bounded_connect():
    """The GCS connection of ``ray.init`` gives up after :data:`CONNECT_TIMEOUT` attempts."""
    name = "RAY_gcs_server_port_wait_time_s"
    before = os.environ.get(name)
    if before is None:
        os.environ[name] = str(CONNECT_TIMEOUT)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
