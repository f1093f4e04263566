"""A client's life across processes and restarts: fork, multiprocessing workers, init and shutdown.

Each test forks real processes and bounds every wait, so that a regression (a child stuck on a lock
or a queue its parent owns) fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from sqlalchemy import Engine, func, select

from analytics import AnalyticsClient, AuditStore
from analytics.audit import AuditEntry
from analytics.catalog import CATALOG
from analytics.tracks import TrackSpec

CHILD_SECONDS = 30
"""How long a child may take before the test kills it and fails: far beyond what a working one needs."""


def _spec() -> TrackSpec:
    spec = CATALOG.event("ProjectCreate").example_spec()
    assert isinstance(spec, TrackSpec)
    return spec


def _fork(child: Callable[[], bool]) -> int:
    """Run `child` in a forked process, which exits 0 when it returns True; return its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            ok = child()
        finally:
            os._exit(0 if ok else 1)
    return pid


def _exit_code(pid: int, timeout: float = CHILD_SECONDS) -> int | None:
    """The child's exit code, or None when it had not ended after `timeout` seconds (it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _entries(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_client_carried_across_fork_does_not_share_the_parents_postgresql_connection(
    postgres_engine: Engine,
) -> None:
    """Both processes wrote through the one pooled connection: their statements interleaved on one
    socket and audit writes failed in the parent as well as in the child ("can't change 'autocommit'
    now: connection in transaction status INTRANS", "server closed the connection unexpectedly")."""
    calls = 20
    client = AnalyticsClient(None, store=AuditStore(postgres_engine), strict=True)
    try:
        assert client.track(_spec()).ok  # the pool now holds a connection to the server
        child = _fork(lambda: all(client.track(_spec()).ok for _ in range(calls)))
        parent = [client.track(_spec()) for _ in range(calls)]
        assert _exit_code(child) == 0
        assert [receipt.error for receipt in parent] == [None] * calls
        assert client.track(_spec()).ok
    finally:
        client.shutdown()
    assert _entries(postgres_engine) == 2 + 2 * calls
