"""What `track` costs the application, and how fast audited messages reach the collector.

Both clients post to the same local collector with the same payloads: the bare
`segment.analytics.Client` is the baseline, `AnalyticsClient` (audit on, `track` returning after
the audit commit) is ours. One run of each gives both rows: the per-call times (the caller's cost)
and the time until `flush()` returns (the end-to-end throughput).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segment.analytics import Client as SegmentClient
from sqlalchemy import func, select

from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message
from bench.harness import Row, median, percentile

WRITE_KEY = "bench-key"
WARM_UP = 200


@dataclass(frozen=True)
class Run:
    """One client's run: per-call seconds and the seconds until everything was delivered."""

    calls: list[float]
    total: float

    @property
    def throughput(self) -> float:
        """Messages delivered per second, from the first call until `flush()` returned."""
        return len(self.calls) / self.total


def _specs(count: int) -> list[Any]:
    events = list(CATALOG.events.values())
    return [events[n % len(events)].example_spec() for n in range(count)]


def _run(track: Callable[[Any], Any], flush: Callable[[], None], items: list[Any]) -> Run:
    for item in items[:WARM_UP]:
        track(item)
    flush()
    calls = []
    started = time.perf_counter()
    for item in items[WARM_UP:]:
        before = time.perf_counter()
        track(item)
        calls.append(time.perf_counter() - before)
    flush()
    return Run(calls, time.perf_counter() - started)


def bare_run(collector: Collector, count: int) -> Run:
    """The bare Segment client, fed the messages our client would build for the same specs.

    The first `WARM_UP` messages open the connection and fill the caches, unmeasured.
    """
    messages = [build_message(spec) for spec in _specs(count + WARM_UP)]
    client = SegmentClient(WRITE_KEY, host=collector.url, max_queue_size=count + WARM_UP)

    def track(message: dict[str, Any]) -> None:
        client.track(
            user_id=message["userId"],
            event=message["event"],
            properties=message["properties"],
            context=message["context"],
            message_id=message["messageId"],
        )

    try:
        return _run(track, client.flush, messages)
    finally:
        client.join()


def audited_run(database_url: str, collector: Collector, count: int) -> tuple[Run, int]:
    """Our client on a migrated database; also returns how many entries ended `delivered`."""
    engine = create_audit_engine(database_url)
    store = AuditStore(engine)
    client = AnalyticsClient(WRITE_KEY, store=store, host=collector.url, max_queue_size=count + WARM_UP)
    try:
        run = _run(client.track, client.flush, _specs(count + WARM_UP))
    finally:
        client.shutdown()
    with engine.connect() as connection:
        delivered = connection.scalar(
            select(func.count()).where(AuditEntry.status == str(AuditStatus.DELIVERED))
        )
    engine.dispose()
    return run, int(delivered or 0)


def rows(database: str, database_url: str, count: int) -> list[Row]:
    """The caller-cost and throughput rows on one database."""
    # The counters are what is checked; keeping few messages keeps the collector's memory flat.
    with Collector(max_messages=1000) as collector:
        bare = bare_run(collector, count)
        bare_received = collector.stats.messages
        collector.reset()
        ours, delivered = audited_run(database_url, collector, count)
    expected = count + WARM_UP
    print(
        f"  [{database}] bare: {bare_received}/{expected} received, {bare.throughput:,.0f} msg/s; "
        f"audited: {delivered}/{expected} delivered, {ours.throughput:,.0f} msg/s"
    )
    if bare_received != expected or delivered != expected:
        raise RuntimeError(f"[{database}] not every message arrived: the throughput rows would lie")
    return [
        Row(
            f"track() caller cost, median, {count:,} calls [{database}]",
            median(bare.calls) * 1e6,
            median(ours.calls) * 1e6,
            "µs",
            1.25,
        ),
        Row(
            f"track() caller cost, p99, {count:,} calls [{database}]",
            percentile(bare.calls, 0.99) * 1e6,
            percentile(ours.calls, 0.99) * 1e6,
            "µs",
            1.25,
        ),
        Row(
            f"end-to-end throughput, audited + delivered [{database}]",
            bare.throughput,
            ours.throughput,
            "msg/s",
            0.8,
            higher_is_better=True,
        ),
    ]
