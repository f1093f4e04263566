"""A PostgreSQL audit database that holds a lock or stops answering must not hold the host.

Another session locks `audit_entries` (`LOCK TABLE … IN ACCESS EXCLUSIVE MODE`, as a migration or a
partition detach does) for as long as a test needs. Every call must still return, with what became
of each message said in its receipt, to `on_error` or in the log: never lost silently. Waits are
generous against the bounds configured, and only "it returned at all" is checked, never how fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, select, text

from analytics import AnalyticsClient, AuditStatus, AuditStore, AuditWriteError
from analytics.audit import AuditEntry, create_audit_engine
from analytics.catalog import CATALOG
from analytics.tracks import TrackSpec

RETURNS_WITHIN = 120
"""Seconds a call may take before the test takes it for hung: far beyond the 3 s lock timeout."""

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
