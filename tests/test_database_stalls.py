"""A PostgreSQL audit database that holds a lock or stops answering must not hold the host.

Another session locks `audit_entries` (`LOCK TABLE … IN ACCESS EXCLUSIVE MODE`, as a migration or a
partition detach does) for as long as a test needs. Every call must still return, with what became
of each message said in its receipt, to `on_error` or in the log: never lost silently. Waits are
generous against the bounds configured, and only "it returned at all" is checked, never how fast,
except where the README promises a bound to deployments (`shutdown(timeout)` within a `docker stop`):
there the margin is wide, and only a wait that adds up several timeouts fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, select, text

import analytics
from analytics import AnalyticsClient, AuditStatus, AuditStore, AuditWriteError
from analytics.audit import AuditEntry, create_audit_engine
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.patience import SHUTDOWN_TIMEOUT
from analytics.tracks import TrackSpec

RETURNS_WITHIN = 120
"""Seconds a call may take before the test takes it for hung: far beyond the 3 s lock timeout."""

UNBOUNDED = "?options=-c%20lock_timeout%3D0"
"""A URL query that lets a write wait for a lock as long as it lasts: what a database that stopped
answering looks like to the library, for as long as the test holds the lock."""

STALL_SECONDS = 60
"""An injected latency that outlasts every wait of these tests: an endpoint that hangs."""

SHARED_TIMEOUT = 5
"""The timeout of the tests of one budget for a whole flush or shutdown: stages that each waited it
took at least twice as long, which the bound of `1.6 × SHARED_TIMEOUT` they are held to refuses."""

T = TypeVar("T")


def _spec() -> TrackSpec:
    spec = CATALOG.event("ProjectCreate").example_spec()
    assert isinstance(spec, TrackSpec)
    return spec


@contextmanager
def _locked(database_url: str) -> Iterator[None]:
    """Another session holds `audit_entries` locked against every write until the block ends."""
    with psycopg.connect(database_url) as other:
        other.execute("LOCK TABLE audit_entries IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            other.rollback()


def _returned(call: Callable[[], T]) -> T:
    """What `call` returned on another thread, which must end within `RETURNS_WITHIN` seconds."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    thread.join(RETURNS_WITHIN)
    assert not thread.is_alive(), "the call is still waiting on the audit database"
    [result] = results
    return result


def _seconds_until_returned(call: Callable[[], object]) -> float:
    """How long `call` took, on another thread, which must end within `RETURNS_WITHIN` seconds."""
    started = time.monotonic()
    _returned(call)
    return time.monotonic() - started


def _audited(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(AuditEntry.message_id)))


@pytest.mark.parametrize(
    ("query", "lock_timeout", "connect_timeout", "application_name"),
    [
        ("", "3s", "5", ""),
        ("?options=-c%20lock_timeout%3D750ms&connect_timeout=2", "750ms", "2", ""),
        ("?options=-c%20application_name%3Dsvc", "3s", "5", "svc"),
    ],
    ids=["defaults", "overridden", "own-options-kept"],
)
def test_postgres_connections_have_timeouts_that_the_url_overrides(
    empty_postgres_url: str, query: str, lock_timeout: str, connect_timeout: str, application_name: str
) -> None:
    engine = create_audit_engine(empty_postgres_url + query)
    try:
        with engine.connect() as connection:
            shown = connection.execute(
                text("SELECT current_setting('lock_timeout'), current_setting('application_name')")
            )
            [(lock, name)] = shown.all()
            dbapi_connection: Any = connection.connection.dbapi_connection
            parameters = dbapi_connection.info.get_parameters()
    finally:
        engine.dispose()
    assert (lock, name) == (lock_timeout, application_name)
    assert parameters["connect_timeout"] == connect_timeout
    assert parameters["tcp_user_timeout"] == "10000"
    assert parameters["keepalives_idle"] == "5"


def test_the_dashboard_s_connections_have_the_timeouts_but_wait_for_locks(empty_postgres_url: str) -> None:
    """The dashboard's engine runs the migrations and `audit purge`, whose locks must be waited for;
    a host that vanishes must not hold its requests any more than the library's."""
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_postgres_url})
    with app.app_context(), db.engine.connect() as connection:
        lock = connection.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
        dbapi_connection: Any = connection.connection.dbapi_connection
        parameters = dbapi_connection.info.get_parameters()
    with app.app_context():
        db.engine.dispose()
    assert lock == "0"
    assert (parameters["connect_timeout"], parameters["tcp_user_timeout"]) == ("5", "10000")


def test_a_strict_write_on_a_locked_table_fails_in_its_receipt(
    empty_postgres_url: str, postgres_engine: Engine
) -> None:
    client = AnalyticsClient(None, store=AuditStore(postgres_engine), strict=True)
    try:
        with _locked(empty_postgres_url):
            receipt = _returned(lambda: client.track(_spec()))
    finally:
        client.shutdown()
    assert receipt.status is None
    assert isinstance(receipt.error, AuditWriteError)
    assert "lock timeout" in str(receipt.error)
    assert receipt.message_id not in _audited(postgres_engine)


def test_batched_calls_on_a_locked_table_return_and_every_message_is_accounted_for(
    empty_postgres_url: str, postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the writer's queue is full, calls are written on the caller's thread: each waits for the
    lock timeout rather than for the lock, and says so in its receipt; the writer gives its batches
    up to `on_error` and the log. Every other message is audited once the lock is gone."""
    lost: list[tuple[Exception, list[dict[str, Any]]]] = []
    client = AnalyticsClient(
        None,
        store=AuditStore(postgres_engine),
        max_queue_size=3,
        audit_retry_delays=(),
        on_error=lambda error, messages: lost.append((error, messages)),
    )
    try:
        with _locked(empty_postgres_url):
            receipts = _returned(lambda: [client.track(_spec()) for _ in range(8)])
        client.flush()
    finally:
        client.shutdown()
    refused = [receipt for receipt in receipts if not receipt.ok]
    assert refused, "no call was written on the caller's thread"
    assert all(isinstance(r.error, AuditWriteError) and "lock timeout" in str(r.error) for r in refused)
    assert lost, "the writer gave no batch up"
    assert all(isinstance(error, AuditWriteError) for error, _ in lost)
    assert "not audited, not sent" in caplog.text
    queued = {r.message_id for r in receipts if r.ok and r.status is AuditStatus.DISABLED}
    given_up = [message["messageId"] for _, messages in lost for message in messages]
    audited = _audited(postgres_engine)
    assert len(queued) + len(refused) == len(receipts)
    assert sorted([*audited, *given_up]) == sorted(queued)


def test_shutdown_gives_up_on_a_writer_the_database_does_not_answer_and_counts_what_it_left(
    empty_postgres_url: str, postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_audit_engine(empty_postgres_url + UNBOUNDED)
    client = AnalyticsClient(None, store=AuditStore(engine))
    assert client.writer is not None
    try:
        with _locked(empty_postgres_url):
            receipts = [client.track(_spec()) for _ in range(5)]
            _returned(lambda: client.shutdown(timeout=1))
            assert "5 messages not audited yet, not sent" in caplog.text
        # Left behind, not dropped: once the database answers, the writer still writes them.
        client.writer._thread.join(RETURNS_WITHIN)
    finally:
        engine.dispose()  # after the writer let go of its connection, which disposing leaves open
    assert _audited(postgres_engine) == {receipt.message_id for receipt in receipts}


def test_shutdown_waits_for_a_backlog_being_written_however_long_it_takes(
    sqlite_store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The timeout is for a writer that stopped: a total one cut short a burst that was being written,
    and what it had not written yet was lost at exit."""
    client = AnalyticsClient(None, store=sqlite_store, max_queue_size=30_000)
    receipts = [client.track(_spec()) for _ in range(15_000)]
    assert client.audit_queue_depth() > 0
    _returned(lambda: client.shutdown(timeout=1))
    assert "not audited yet" not in caplog.text
    assert _audited(sqlite_store.engine) == {receipt.message_id for receipt in receipts}


@dataclass(frozen=True)
class Exited:
    """How a child program's end went: the seconds from "go" to its exit, and what it logged."""

    seconds: float
    errors: str


@contextmanager
def _exiting(program: str, *args: str) -> Iterator[tuple[str, Callable[[], Exited]]]:
    """Run `program` in a process of its own until it prints its first line; yield that line, and a
    function that lets it go on to its end and its exit (without `shutdown()`), which must be 0."""
    child = subprocess.Popen(
        [sys.executable, "-c", program, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "APP_ENV": "development"},
    )

    def finish() -> Exited:
        started = time.monotonic()
        _, errors = child.communicate("go\n", timeout=RETURNS_WITHIN)
        assert child.returncode == 0, errors
        return Exited(time.monotonic() - started, errors)

    try:
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.readline().strip()
        assert first, child.stderr.read()
        yield first, finish
    finally:
        child.kill()
        child.wait()


EXIT_PROGRAM = """
import sys
import analytics
from analytics.catalog import CATALOG

analytics.init(database_url=sys.argv[1])
print("initialised", flush=True)
sys.stdin.readline()
for _ in range(3):
    analytics.track(CATALOG.event("ProjectCreate").example_spec())
"""


def test_the_drain_at_exit_gives_up_on_a_database_that_does_not_answer(
    empty_postgres_url: str, postgres_engine: Engine
) -> None:
    """A process that ended without `shutdown()` waited at exit for its audit writer, for ever."""
    with _exiting(EXIT_PROGRAM, empty_postgres_url + UNBOUNDED) as (first, finish):
        assert first == "initialised"
        with _locked(empty_postgres_url):
            ended = finish()
    assert "3 messages not audited yet, not sent" in ended.errors


SENDING_EXIT_PROGRAM = """
import sys
import analytics
from analytics.catalog import CATALOG

analytics.init("test-key", host=sys.argv[1], database_url=sys.argv[2], upload_interval=0.05, timeout=120)
receipt = analytics.track(CATALOG.event("ProjectCreate").example_spec())
analytics.flush(timeout=0.5)  # written and handed on: a sending thread now waits on the endpoint
print(receipt.message_id, flush=True)
sys.stdin.readline()
"""


def test_an_exit_without_shutdown_does_not_wait_for_a_batch_the_endpoint_holds(
    collector: Collector, sqlite_url: str, sqlite_store: AuditStore
) -> None:
    """Segment's exit hook joined each sending thread without a limit: a process that ended without
    `shutdown()` waited at exit for a request to an endpoint that did not answer (its HTTP timeout,
    here 120 s, and 60 s until this endpoint answers)."""
    collector.inject(latency=STALL_SECONDS)
    with _exiting(SENDING_EXIT_PROGRAM, collector.url, sqlite_url) as (message_id, finish):
        ended = finish()
    assert ended.seconds < 2 * SHUTDOWN_TIMEOUT, f"the exit took {ended.seconds:.1f}s"
    assert (
        "the Segment client was still sending at exit: 1 messages not sent yet, "
        "pending in the audit log for `event-catalog replay`"
    ) in ended.errors
    entry = sqlite_store.entry(message_id)
    assert entry is not None and entry.status == AuditStatus.PENDING


QUEUED_EXIT_PROGRAM = """
import sys
import analytics
from analytics.catalog import CATALOG

analytics.init("test-key", host=sys.argv[1], database_url=sys.argv[2], upload_size=1, thread=1)
print("initialised", flush=True)
sys.stdin.readline()
for _ in range(10):
    analytics.track(CATALOG.event("ProjectCreate").example_spec())
"""


def test_an_exit_without_shutdown_counts_what_it_leaves_in_the_segment_queue(
    collector: Collector, sqlite_url: str, sqlite_store: AuditStore
) -> None:
    """The sending threads stopped between two batches at exit and left the rest queued, pending for
    `replay`, without a word: after a burst, thousands of messages, found an hour later."""
    collector.inject(latency=0.5)
    with _exiting(QUEUED_EXIT_PROGRAM, collector.url, sqlite_url) as (first, finish):
        assert first == "initialised"
        ended = finish()
    left = re.search(
        r"(\d+) messages were still queued for the Segment client at exit, not sent: pending", ended.errors
    )
    assert left is not None, ended.errors
    assert int(left.group(1)) + len(collector.received()) == 10


BOTH_STALLED_EXIT_PROGRAM = """
import sys
import analytics
from analytics.catalog import CATALOG

analytics.init("test-key", host=sys.argv[1], database_url=sys.argv[2], upload_interval=0.05, timeout=120)
analytics.track(CATALOG.event("ProjectCreate").example_spec())
analytics.flush(timeout=0.5)  # written and handed on: a sending thread now waits on the endpoint
print("sending", flush=True)
sys.stdin.readline()
for _ in range(3):
    analytics.track(CATALOG.event("ProjectCreate").example_spec())
"""


def test_an_exit_with_the_database_and_the_endpoint_stalled_waits_one_timeout(
    collector: Collector, empty_postgres_url: str, postgres_engine: Engine
) -> None:
    """The audit writer's exit hook and the sending threads' each waited `SHUTDOWN_TIMEOUT`, one after
    the other: 16 s, past `docker stop`'s 10 s, which `shutdown()` already kept to one budget."""
    collector.inject(latency=STALL_SECONDS)
    url = empty_postgres_url + UNBOUNDED
    with _exiting(BOTH_STALLED_EXIT_PROGRAM, collector.url, url) as (first, finish):
        assert first == "sending"
        with _locked(empty_postgres_url):
            ended = finish()
    assert ended.seconds < 1.6 * SHUTDOWN_TIMEOUT, f"the exit took {ended.seconds:.1f}s"
    assert "3 messages not audited yet, not sent" in ended.errors
    assert "the Segment client was still sending at exit: 1 messages not sent yet" in ended.errors


def test_shutdown_gives_up_on_a_batch_the_endpoint_holds_and_it_stays_pending(
    sqlite_store: AuditStore, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.inject(latency=5)
    client = AnalyticsClient(
        "test-key", store=sqlite_store, host=collector.url, upload_interval=0.05, timeout=30
    )
    receipt = client.track(_spec())
    assert client.writer is not None and client.segment is not None
    client.writer.flush()
    _returned(lambda: client.shutdown(timeout=0.5))
    assert (
        "the Segment client stopped making progress during the shutdown: 1 messages not sent yet, "
        "pending in the audit log for `event-catalog replay`, except those with personal data, which "
        "replay cannot re-send: without AUDIT_ENCRYPTION_KEY it is stored masked only"
    ) in caplog.messages
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == AuditStatus.PENDING
    [consumer] = client.segment.consumers
    consumer.join(RETURNS_WITHIN)


def test_shutdown_waits_its_timeout_once_however_many_threads_the_endpoint_holds(
    sqlite_store: AuditStore, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """`shutdown(timeout)` waited `timeout` for the Segment queue, then `timeout` again for each of
    its threads held by the endpoint: 16 s by default with one thread, past the 10 s `docker stop`
    grants, which the default was chosen to fit in. Here three threads each hold one message."""
    collector.inject(latency=STALL_SECONDS, times=3)
    client = AnalyticsClient(
        "test-key",
        store=sqlite_store,
        host=collector.url,
        thread=3,
        upload_size=1,
        upload_interval=0.05,
        timeout=2 * STALL_SECONDS,
    )
    assert client.writer is not None and client.segment is not None
    receipts = [client.track(_spec()) for _ in range(3)]
    client.writer.flush()
    took = _seconds_until_returned(lambda: client.shutdown(timeout=2))
    assert took < 3 * 2, f"shutdown(timeout=2) took {took:.1f}s against an endpoint that hangs"
    assert "during the shutdown: 3 messages not sent yet" in caplog.text
    collector.stop()  # answers the held requests, so the threads end
    for consumer in client.segment.consumers:
        consumer.join(RETURNS_WITHIN)
    assert {sqlite_store.entry(r.message_id).status for r in receipts} == {AuditStatus.DELIVERED}


@pytest.mark.parametrize("call", ["flush", "shutdown"])
def test_a_stalled_database_and_a_stalled_endpoint_share_one_timeout(
    call: str,
    empty_postgres_url: str,
    postgres_engine: Engine,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The audit writer's wait and the Segment client's each took the whole timeout, one after the
    other: the timeout bounds the seconds without progress of the whole call, whatever stalls."""
    engine = create_audit_engine(empty_postgres_url + UNBOUNDED)
    collector.inject(latency=STALL_SECONDS)
    client = AnalyticsClient(
        "test-key",
        store=AuditStore(engine),
        host=collector.url,
        upload_interval=0.05,
        timeout=2 * STALL_SECONDS,
    )
    assert client.writer is not None and client.segment is not None
    try:
        held = client.track(_spec())
        client.writer.flush()
        with _locked(empty_postgres_url):
            waiting = [client.track(_spec()) for _ in range(5)]
            took = _seconds_until_returned(lambda: getattr(client, call)(timeout=SHARED_TIMEOUT))
        assert f"the audit writer made no progress for {SHARED_TIMEOUT}s: 5 messages" in caplog.text
        assert ": 1 messages not sent yet" in caplog.text
    finally:
        client.shutdown(timeout=0.1)
        collector.stop()  # answers the held request, so the thread ends
        client.writer._thread.join(RETURNS_WITHIN)
        for consumer in client.segment.consumers:
            consumer.join(RETURNS_WITHIN)
        engine.dispose()
    assert took < 1.6 * SHARED_TIMEOUT, f"{call}(timeout={SHARED_TIMEOUT}) took {took:.1f}s"
    assert _audited(postgres_engine) == {held.message_id, *(r.message_id for r in waiting)}


def test_flush_gives_up_on_a_writer_the_database_does_not_answer_and_counts_what_it_left(
    empty_postgres_url: str, postgres_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """`flush()` waited for ever on an audit database that stopped answering, and held the host with
    it; by default it now gives up as `shutdown()` does, after `SHUTDOWN_TIMEOUT` s without progress."""
    engine = create_audit_engine(empty_postgres_url + UNBOUNDED)
    client = AnalyticsClient(None, store=AuditStore(engine))
    try:
        with _locked(empty_postgres_url):
            receipts = [client.track(_spec()) for _ in range(5)]
            _returned(client.flush)
            assert "the audit writer made no progress for 8.0s: 5 messages not audited yet" in caplog.text
        # Left to the writer, not dropped: once the database answers, it writes them.
        client.shutdown()
    finally:
        engine.dispose()
    assert _audited(postgres_engine) == {receipt.message_id for receipt in receipts}


def test_flush_gives_up_on_a_batch_the_endpoint_holds_and_sending_goes_on(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.inject(latency=5)
    analytics.init("test-key", host=collector.url, database_url=sqlite_url, upload_interval=0.05, timeout=30)
    try:
        receipt = analytics.track(_spec())
        _returned(lambda: analytics.flush(timeout=0.5))
        # Not given up to `replay` as after a shutdown: the thread goes on, as this test sees.
        assert (
            "the Segment client stopped making progress during a flush: 1 messages not sent yet, "
            "left to its threads, which go on sending them"
        ) in caplog.messages
        entry = sqlite_store.entry(receipt.message_id)
        assert entry is not None and entry.status == AuditStatus.PENDING
        _returned(lambda: analytics.flush(timeout=None))
    finally:
        analytics.shutdown()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == AuditStatus.DELIVERED
