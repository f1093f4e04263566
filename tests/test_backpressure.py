"""Back-pressure: the collector is down for long while the application keeps calling `track`.

The client must hold at most its queue's worth of messages in memory, refuse the rest, and say so
in the audit log (`dropped`, with the reason) rather than lose anything silently. Once the collector
is back, a flush and `event-catalog replay` deliver every message the log holds, exactly once.

"Down for long" is modelled by retry budgets rather than by waiting: the Segment client's consumer
may retry its one batch for ten minutes, so while the collector is down it holds that batch and no
more, the queue fills, and whatever does not fit is refused, however fast or slow this machine is.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, Row, select

from analytics import AnalyticsClient
from analytics.audit import (
    MESSAGE_TYPES,
    AuditEntry,
    AuditStatus,
    AuditStore,
    DeliveryAttempt,
    create_audit_engine,
)
from analytics.catalog import CATALOG
from analytics.collector import Collector
from webapp import create_app

MAX_QUEUE_SIZE = 50
UPLOAD_SIZE = 10
HELD = MAX_QUEUE_SIZE + UPLOAD_SIZE
"""The most messages the client can hold while the collector is down: a full queue, one batch."""

ROUND = 2 * MAX_QUEUE_SIZE
ROUNDS = 3
"""Calls made once the queue is full, in rounds: each round kept in memory would cost two queues."""

QUEUE_FULL = "the Segment client's queue is full"

BUDGETS: dict[str, Any] = {
    "max_queue_size": MAX_QUEUE_SIZE,
    "upload_size": UPLOAD_SIZE,
    "upload_interval": 0.05,
    "timeout": 1,
    # The consumer retries one batch rather than give it up while the collector is down.
    "max_retries": 100,
    "max_total_backoff_duration": 600,
}


def _fire(client: AnalyticsClient, count: int) -> Counter[tuple[str | None, str | None]]:
    """Track `count` catalog examples; how many receipts said what (nothing per call is kept)."""
    events = list(CATALOG.events.values())
    said: Counter[tuple[str | None, str | None]] = Counter()
    for number in range(count):
        receipt = client.track(events[number % len(events)].example_spec())
        said[(receipt.status, None if receipt.error is None else str(receipt.error))] += 1
        assert client.queue_depth() <= MAX_QUEUE_SIZE
        assert client.audit_queue_depth() <= MAX_QUEUE_SIZE
    return said


def _written(client: AnalyticsClient) -> AnalyticsClient:
    """The client once its audit writer has committed and handed on what it queued (batched mode).

    Not `client.flush()`: that also waits for the Segment client, which retries for minutes.
    """
    if client.writer is not None:
        client.writer.flush()
    return client


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    """Silence warnings while memory is measured: pytest keeps every log record of a test.

    Each refused message logs two warnings; held by pytest's capture, those records would be the
    harness's growth, not the client's. The audit log, checked below, is the record that counts.
    """
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _retained(client: AnalyticsClient) -> int:
    """Bytes allocated since tracing started and still reachable, with the audit writer idle.

    Measured between calls, so that what is compared is what the client keeps; its queues'
    depths are checked on every call.
    """
    _written(client)
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _flood_while_tracing(
    client: AnalyticsClient,
) -> tuple[Counter[tuple[str | None, str | None]], int, list[int]]:
    """Fill the queue, then flood it; the receipts, one queue's cost, and the growth after each round."""
    said = _fire(client, 5)  # the first calls build the client's caches, not its queue
    tracemalloc.start()
    try:
        with _quiet_warnings():
            start = _retained(client)
            said += _fire(client, HELD - 5)
            queue_cost = _retained(client) - start
            said += _fire(client, ROUND)  # the first refusals build the drop path's caches
            settled = _retained(client)
            growth = []
            for _ in range(ROUNDS):
                said += _fire(client, ROUND)
                growth.append(_retained(client) - settled)
    finally:
        tracemalloc.stop()
    return said, queue_cost, growth


def _entries(engine: Engine) -> dict[str, Row[Any]]:
    with engine.connect() as connection:
        return {row.message_id: row for row in connection.execute(select(AuditEntry))}


def _attempt_reasons(engine: Engine) -> Counter[tuple[str, str | None]]:
    query = select(DeliveryAttempt.outcome, DeliveryAttempt.error)
    with engine.connect() as connection:
        return Counter((outcome, error) for outcome, error in connection.execute(query))


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "batched"])
def test_a_long_outage_bounds_memory_and_drops_with_a_reason_then_replay_delivers_all(
    strict: bool, database_url: str, collector: Collector
) -> None:
    encryption_key = Fernet.generate_key().decode()
    engine = create_audit_engine(database_url)
    store = AuditStore(engine, encryption_key=encryption_key)
    port = int(collector.url.rsplit(":", 1)[1])
    collector.stop()  # down: connections to its port are refused
    host = f"http://127.0.0.1:{port}"
    client = AnalyticsClient("test-key", store=store, host=host, strict=strict, **BUDGETS)
    try:
        said, queue_cost, growth = _flood_while_tracing(client)
        during = _entries(engine)
        reasons = _attempt_reasons(engine)
    finally:
        # The collector comes back; on a failure too, or shutdown would wait out the retry budget.
        collector.port = port
        collector.start()
        # However long the consumer's back-off takes to reach it, past the default bound.
        client.shutdown(timeout=None)
    calls = sum(said.values())

    # Memory: the flood kept nothing beyond what holding one queue costs.
    assert max(growth) < queue_cost, f"memory grew by {growth} bytes; a full queue costs {queue_cost}"

    # While it was down every call was logged; what the client could not hold says why, in its
    # entry and in an attempt.
    assert len(during) == calls
    statuses = Counter(entry.status for entry in during.values())
    assert set(statuses) == {AuditStatus.PENDING, AuditStatus.DROPPED}
    assert statuses[AuditStatus.PENDING] <= HELD
    dropped = [entry for entry in during.values() if entry.status == AuditStatus.DROPPED]
    assert len(dropped) >= calls - HELD
    assert {entry.error for entry in dropped} == {QUEUE_FULL}
    assert reasons == {(AuditStatus.DROPPED, QUEUE_FULL): len(dropped)}
    # The receipts said so: in strict mode each one; in batched mode a refusal on the writer's
    # thread comes after its receipt said `pending` (queued), so only those refused at once do.
    assert set(said) <= {(AuditStatus.PENDING, None), (AuditStatus.DROPPED, QUEUE_FULL)}
    if strict:
        assert said[(AuditStatus.DROPPED, QUEUE_FULL)] == len(dropped)
    else:
        assert said[(AuditStatus.DROPPED, QUEUE_FULL)] <= len(dropped)

    # Back up: the flush delivered what the client held; the dropped wait for a replay.
    statuses = Counter(entry.status for entry in _entries(engine).values())
    assert statuses == {AuditStatus.DELIVERED: calls - len(dropped), AuditStatus.DROPPED: len(dropped)}

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
            "AUDIT_ENCRYPTION_KEY": encryption_key,
        }
    )
    try:
        result = app.test_cli_runner().invoke(args=["replay"])
    finally:
        from webapp.extensions import db

        with app.app_context():
            db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert result.output == f"re-sent {len(dropped)} entries: {len(dropped)} delivered\n"

    entries = _entries(engine)
    engine.dispose()
    messages = {mid for mid, entry in entries.items() if entry.type in MESSAGE_TYPES}
    assert len(messages) == calls
    assert {entries[mid].status for mid in messages} == {AuditStatus.DELIVERED}
    # Exactly once each: the collector de-duplicates by messageId and counted no second copy.
    assert Counter(message["messageId"] for message in collector.received()) == Counter(messages)
    assert collector.stats.duplicates == 0
