"""What `track` costs the application, and how fast audited messages reach the collector.

All clients post to the same local collector, running in a process of its own as the endpoint
does in production, with the same payloads: the bare `segment.analytics.Client` is the baseline;
`AnalyticsClient` runs in its default batched mode (the rows with a target) and in strict mode
(printed for comparison: `track` returns after its own audit commit). Each run gives both
rows: the per-call times (the caller's cost) and the time until `flush()` returns (the end-to-end
throughput).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from segment.analytics import Client as SegmentClient
from sqlalchemy import Engine, func, select

from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.messages import build_message
from bench import payload
from bench.harness import Row, median, percentile

WRITE_KEY = "bench-key"
WARM_UP = 200
ROUNDS = 3
"""Turns each of the bare and the batched client takes; their figures are medians over these."""


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


@dataclass(frozen=True)
class CollectorProcess:
    """The collector child process's address, and its counters read over HTTP."""

    url: str

    def received(self) -> int:
        """Messages accepted since the last reset."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return int(json.load(response)["messages"])

    def reset(self) -> None:
        """Forget messages and counters."""
        request = urllib.request.Request(f"{self.url}/messages", method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()


@contextlib.contextmanager
def collector_process() -> Iterator[CollectorProcess]:
    """Start `bench.collector_child`, yield its address, stop it by closing its stdin."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.collector_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield CollectorProcess(child.stdout.readline().strip())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def bare_run(collector: CollectorProcess, count: int) -> Run:
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


def audited_run(
    database_url: str, collector: CollectorProcess, count: int, *, strict: bool
) -> tuple[Run, int]:
    """Our client on a migrated database; also returns how many entries ended `delivered`."""
    engine = create_audit_engine(database_url)
    before = _delivered(engine)
    store = AuditStore(engine)
    client = AnalyticsClient(
        WRITE_KEY, store=store, host=collector.url, strict=strict, max_queue_size=count + WARM_UP
    )
    try:
        run = _run(client.track, client.flush, _specs(count + WARM_UP))
    finally:
        client.shutdown()
    delivered = _delivered(engine) - before
    engine.dispose()
    return run, delivered


def _delivered(engine: Engine) -> int:
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).where(AuditEntry.status == str(AuditStatus.DELIVERED)))
    return int(count or 0)


@dataclass(frozen=True)
class Figures:
    """One client's figures, each the median over the rounds it ran."""

    median_us: float
    p99_us: float
    throughput: float

    @classmethod
    def of(cls, runs: list[Run]) -> Figures:
        """The medians of the runs' own median, p99 and throughput."""
        return cls(
            median([median(run.calls) * 1e6 for run in runs]),
            median([percentile(run.calls, 0.99) * 1e6 for run in runs]),
            median([run.throughput for run in runs]),
        )


def _checked_bare_run(database: str, collector: CollectorProcess, count: int) -> Run:
    collector.reset()
    run = bare_run(collector, count)
    received = collector.received()
    if received != count + WARM_UP:
        raise RuntimeError(f"[{database}] bare: {received}/{count + WARM_UP} received: the rows would lie")
    return run


def _checked_audited_run(
    database: str, url: str, collector: CollectorProcess, count: int, *, strict: bool
) -> Run:
    collector.reset()
    run, delivered = audited_run(url, collector, count, strict=strict)
    if delivered != count + WARM_UP:
        mode = "strict" if strict else "batched"
        raise RuntimeError(
            f"[{database}] {mode}: {delivered}/{count + WARM_UP} delivered: the rows would lie"
        )
    return run


def rows(database: str, database_url: str, count: int) -> list[Row]:
    """The caller-cost and throughput rows on one database, batched (targets) and strict (shown).

    The bare and batched clients take turns for `ROUNDS` rounds and each figure is the median over
    its rounds, so that a burst of load from elsewhere on the machine during one run moves a
    baseline and its comparison alike rather than one of them.
    """
    bare_runs: list[Run] = []
    batched_runs: list[Run] = []
    with collector_process() as collector:
        for _ in range(ROUNDS):
            bare_runs.append(_checked_bare_run(database, collector, count))
            batched_runs.append(_checked_audited_run(database, database_url, collector, count, strict=False))
        # Strict mode commits once per call: a tenth of the calls, once, measures it well enough.
        strict = _checked_audited_run(database, database_url, collector, max(count // 10, 500), strict=True)
    bare, batched = Figures.of(bare_runs), Figures.of(batched_runs)
    print(
        f"  [{database}] {ROUNDS} rounds; msg/s delivered: bare {bare.throughput:,.0f}, "
        f"batched {batched.throughput:,.0f}, strict {strict.throughput:,.0f}"
    )
    return [
        Row(
            f"track() caller cost, median, {count:,} calls [{database}]",
            bare.median_us,
            batched.median_us,
            "µs",
            1.25,
        ),
        Row(
            f"track() caller cost, p99, {count:,} calls [{database}]", bare.p99_us, batched.p99_us, "µs", 1.25
        ),
        Row(
            f"end-to-end throughput, audited + delivered [{database}]",
            bare.throughput,
            batched.throughput,
            "msg/s",
            0.8,
            higher_is_better=True,
        ),
        Row(
            f"strict mode: track() caller cost, median [{database}]",
            bare.median_us,
            median(strict.calls) * 1e6,
            "µs",
            None,
        ),
        Row(
            f"strict mode: end-to-end throughput [{database}]",
            bare.throughput,
            strict.throughput,
            "msg/s",
            None,
            higher_is_better=True,
        ),
        *payload.rows(database),
    ]
