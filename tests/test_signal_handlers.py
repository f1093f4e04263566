"""`track()` from a signal handler, which Python runs in the main thread between two steps of a call
that may itself be a `track()`: it hung the process for good on a lock the interrupted call held.

A child sends a burst from its main loop while a timer signal, every few milliseconds, calls
`track()` from its handler. It must finish, and every call that returned, the handler's included,
must reach the audit log and the collector exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import Engine, select

from analytics.audit import AuditEntry, AuditStore
from analytics.catalog import CATALOG
from analytics.client import AnalyticsClient
from analytics.collector import Collector

BURST = 3_000
FINISHES_WITHIN = 120
"""Seconds: the burst takes a few on a loaded machine; a hung child never ends."""
PSYCOPG = str(Path(psycopg.__file__).parent)


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A collector that keeps every message: on a loaded machine the burst runs long and the timer fires
    a handler's `track` every 2 ms throughout, past the default store's 10,000 (it evicted the oldest)."""
    with Collector(max_messages=1_000_000) as running:
        yield running


CHILD_PROGRAM = """
import json, os, signal, sys
import analytics
from analytics.catalog import CATALOG

spec = CATALOG.event("ProjectCreate").example_spec()
analytics.init("signal-key", host=os.environ["SEGMENT_HOST"], database_url=os.environ["DATABASE_URL"],
               strict=sys.argv[1] == "strict")
returned, from_handler = [], []

def on_alarm(signum, frame):
    receipt = analytics.track(spec)
    assert receipt.ok, receipt.error
    from_handler.append(receipt.message_id)

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
for _ in range(int(sys.argv[2])):
    returned.append(analytics.track(spec).message_id)
signal.setitimer(signal.ITIMER_REAL, 0)
analytics.shutdown(timeout=30)
print(json.dumps({"main": returned, "handler": from_handler}))
"""


@pytest.mark.parametrize("mode", ["batched", "strict"])
def test_track_from_a_signal_handler_is_made_after_the_call_it_interrupted(
    sqlite_url: str, sqlite_store: AuditStore, collector: Collector, mode: str
) -> None:
    env = {**os.environ, "APP_ENV": "development", "SEGMENT_HOST": collector.url, "DATABASE_URL": sqlite_url}
    done = subprocess.run(
        [sys.executable, "-c", CHILD_PROGRAM, mode, str(BURST)],
        capture_output=True,
        text=True,
        env=env,
        timeout=FINISHES_WITHIN,
    )
    assert done.returncode == 0, done.stderr
    sent = json.loads(done.stdout)
    assert len(sent["main"]) == BURST and sent["handler"], "the timer fired no handler"
    returned = sent["main"] + sent["handler"]
    with sqlite_store.engine.connect() as connection:
        audited = connection.execute(select(AuditEntry.message_id, AuditEntry.status)).all()
    assert sorted(message_id for message_id, _ in audited) == sorted(returned)
    assert {status for _, status in audited} == {"delivered"}
    received = [message["messageId"] for message in collector.received()]
    assert sorted(received) == sorted(returned)


class ExitWhileAnswerAwaited:
    """A trace function that raises `SystemExit` once, at the first line of psycopg's own code run
    while a statement was sent and its answer not read: where a signal handler's `sys.exit` lands when
    the signal comes between the two (psycopg cancels the statement for one that lands while it
    waits on the socket, and the ping's clean-up then succeeds)."""

    def __init__(self) -> None:
        self.raised_in: str | None = None

    def __call__(self, frame: FrameType, event: str, arg: object) -> ExitWhileAnswerAwaited | None:
        if event == "line" and self.raised_in is None and frame.f_code.co_filename.startswith(PSYCOPG):
            owner = frame.f_locals.get("self")
            pgconn = getattr(getattr(owner, "_conn", owner), "pgconn", None)
            if pgconn is not None and pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                self.raised_in = frame.f_code.co_name
                raise SystemExit(0)
        return self


def test_an_exit_raised_while_the_audit_database_is_pinged_stops_the_track_call(
    postgres_engine: Engine, make_client: Callable[..., AnalyticsClient]
) -> None:
    """A signal handler's `sys.exit` (the README's, for a host that stops on SIGTERM) that came while
    the pool pinged a PostgreSQL connection was replaced by "can't change 'autocommit' now", raised by
    the ping's clean-up: the host did not stop, and the strict `track` that was writing returned
    "audit log unavailable" (`test_crash`'s SIGTERM test failed once so). SQLite's ping is no
    statement sent to a server."""
    client = make_client(AuditStore(postgres_engine), strict=True)
    spec = CATALOG.event("ProjectCreate").example_spec()
    assert client.track(spec).ok  # the connection is pooled now: the next checkout pings it
    exit_once = ExitWhileAnswerAwaited()
    sys.settrace(exit_once)
    try:
        with pytest.raises(SystemExit):
            client.track(spec)
    finally:
        sys.settrace(None)
    assert exit_once.raised_in is not None
    assert client.track(spec).ok, "the interrupted connection was put back in the pool"
