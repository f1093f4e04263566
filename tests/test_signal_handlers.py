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
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStore
from analytics.collector import Collector

BURST = 3_000
FINISHES_WITHIN = 120
"""Seconds: the burst takes a few on a loaded machine; a hung child never ends."""


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
