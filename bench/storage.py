"""Audit search, the catalog's event list and the export, at a large log against a small one.

The event list is timed as people meet it: the page, served by the dashboard under gunicorn on each
log, loaded by a signed-in person (the baseline's log is empty). Its one query is also timed alone
and shown for comparison: against an empty log that query costs a fifth of a millisecond, so its
ratio says how much the log's size adds rather than whether the list stays quick.

The log is seeded with bulk INSERTs of realistic messages (every catalog event's example, spread
over 30 days, statuses and users varied) because recording them one by one through the client
would take hours at a million rows and measure the write path, which `bench.caller` already does.
The chain columns are filled with placeholders: nothing here verifies the chain. The database's
triggers keep the catalog's hourly and daily counts for these INSERTs as for any other. Each seed
ends with ANALYZE, as autovacuum's analyze would after a bulk load, so that the plans measured are
those of a known table. On PostgreSQL it first VACUUMs the two count tables, whose rows are
updated by every INSERT statement: autovacuum visits such small, busy tables every few hundred
updates, but a server may run with autovacuum off (this machine's does), and the bench measures
what a maintained database serves, not the dead row versions of the load.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from sqlalchemy import Engine, func, insert, select, text

from analytics.activity import RECENT_DAYS, activity_query
from analytics.audit import AuditEntry, EventDay, EventHour, claim_message_ids, create_audit_engine
from analytics.catalog import CATALOG
from analytics.messages import build_message
from analytics.partitions import ensure
from analytics.queries import AuditFilter, newest_first
from bench.dashboard import served, signed_in
from bench.harness import DATABASES, Row, percentile, timed

PAGE = 50
REPEATS = 200
"""Timings per query (per filter set for the search): the p95 of 20 was the second-slowest sample,
and a passing hiccup of the machine moved it by half; of 200, a few stray samples do not."""
ROUNDS = 5
"""Turns the baseline's log and the large one take at each query (`interleaved_p95`)."""
SEED_BATCH = 5000
SPREAD = timedelta(days=30)
STATUSES = ("delivered",) * 17 + ("pending", "failed", "dropped")
SOURCES = ("application",) * 9 + ("tester",)
SMALL = 10_000
COUNT_TABLES = (EventHour.__tablename__, EventDay.__tablename__)
NO_COLLECTOR = "http://127.0.0.1:9"


def _templates() -> list[dict[str, Any]]:
    return [build_message(info.example_spec()) for info in CATALOG.events.values()]


def seed(engine: Engine, count: int, now: datetime) -> None:
    """Append `count` realistic entries, recorded over the 30 days before `now`.

    On PostgreSQL the partitions of those 30 days exist first, as in a deployment that has run for
    a month: otherwise the entries of last month land in the default partition, and the
    dashboard's start moves them out as the bench begins.
    """
    ensure(engine, now=now - SPREAD)
    templates = _templates()
    with engine.connect() as connection:
        start = int(connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)
    writer = uuid.uuid4().hex
    for first in range(start, start + count, SEED_BATCH):
        batch = []
        for n in range(first, min(first + SEED_BATCH, start + count)):
            message = dict(templates[n % len(templates)])
            message["messageId"] = str(uuid.uuid4())
            message["userId"] = str(n % 5000)
            recorded = now - SPREAD * ((n * 7919) % 1_000_003) / 1_000_003
            batch.append(
                {
                    "message_id": message["messageId"],
                    "recorded_at": recorded,
                    "timestamp": recorded,
                    "status_changed_at": recorded,
                    "type": "track",
                    "event": message["event"],
                    "user_id": message["userId"],
                    "project_id": n % 2000,
                    "cluster_id": n % 7000,
                    "status": STATUSES[n % len(STATUSES)],
                    "source": SOURCES[n % len(SOURCES)],
                    "catalog_version": message["context"]["eventCatalog"]["version"],
                    "payload": message,
                    "writer_id": writer,
                    "seq": n,
                    "prev_hash": "0" * 64,
                    "entry_hash": "0" * 64,
                }
            )
        with engine.begin() as connection:
            claim_message_ids(connection, batch)
            connection.execute(insert(AuditEntry), batch)
    if engine.dialect.name == "postgresql":
        # VACUUM cannot run inside a transaction block.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"VACUUM {', '.join(COUNT_TABLES)}"))
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    settle(engine)


def settle(engine: Engine) -> None:
    """Let a bulk load finish landing on disk before anything is timed.

    Right after a million rows the kernel is still writing back a gigabyte or more of dirty pages
    (and SQLite's WAL waits for its checkpoint); queries timed then measure that write-back, not
    the log's size.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()


def filter_sets(now: datetime) -> list[AuditFilter]:
    """Five searches a reviewer makes: the newest entries, one event, failures, a user, a project today."""
    event = next(iter(CATALOG.events))
    return [
        AuditFilter(),
        AuditFilter(event=event),
        AuditFilter(statuses=("failed", "dropped")),
        AuditFilter(user_id="42"),
        AuditFilter(project_id=7, since=now - timedelta(days=1)),
    ]


def search_samples(engine: Engine, now: datetime, repeats: int) -> list[float]:
    """Seconds per newest-first page, `repeats` timings of every filter set."""
    samples = []
    with engine.connect() as connection:
        for filters in filter_sets(now):
            query = newest_first(filters, limit=PAGE + 1)
            connection.execute(query).all()
            samples += [timed(lambda q=query: connection.execute(q).all()) for _ in range(repeats)]
    return samples


def activity_samples(engine: Engine, now: datetime, repeats: int) -> list[float]:
    """Seconds per read of the catalog event list's activity figures for every event (its one query)."""
    query = activity_query(list(CATALOG.events), now - timedelta(days=RECENT_DAYS), engine.dialect.name)
    with engine.connect() as connection:
        connection.execute(query).all()
        return [timed(lambda: connection.execute(query).all()) for _ in range(repeats)]


@dataclass(frozen=True)
class SignedIn:
    """A person signed in to a dashboard served on one database."""

    session: requests.Session
    url: str

    def open_event_list(self) -> None:
        """Load the catalog's event list, as opening the dashboard does."""
        self.session.get(f"{self.url}/", timeout=30).raise_for_status()


@contextlib.contextmanager
def event_list_reader(database_url: str) -> Iterator[SignedIn]:
    """The dashboard under gunicorn on `database_url`, and a person signed in to it.

    Nothing here sends, so the collector's address is one nobody listens on.
    """
    with served(database_url, NO_COLLECTOR) as url:
        yield SignedIn(signed_in(url), url)


def event_list_samples(reader: SignedIn, now: datetime, repeats: int) -> list[float]:  # noqa: ARG001
    """Seconds per load of the event list page (every event, its last-seen time and 7-day count)."""
    reader.open_event_list()
    return [timed(reader.open_event_list) for _ in range(repeats)]


Measured = TypeVar("Measured")


def interleaved_p95(
    sample: Callable[[Measured, datetime, int], list[float]],
    baseline: Measured,
    ours: Measured,
    now: datetime,
) -> tuple[float, float]:
    """The p95 of `sample` on the baseline's log and on ours, timed in turns.

    `ROUNDS` turns each of `REPEATS // ROUNDS` timings, so that a slow minute of the machine (this
    is a shared virtual machine) lands on both sides of the ratio rather than on one.
    """
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS):
        for engine, taken in zip((baseline, ours), samples, strict=True):
            taken += sample(engine, now, REPEATS // ROUNDS)
    return percentile(samples[0], 0.95), percentile(samples[1], 0.95)


@dataclass(frozen=True)
class ExportRun:
    """One export in a child process: rows, seconds and the child's peak RSS in KiB."""

    rows: int
    seconds: float
    max_rss_kib: int

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds


def export_run(database_url: str) -> ExportRun:
    """Export the whole log as NDJSON to /dev/null in a fresh process, so its peak RSS is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_child", database_url],
        check=True,
        capture_output=True,
        text=True,
    )
    return ExportRun(**json.loads(done.stdout))


DUMP_COLUMNS = "id, message_id, recorded_at, type, event, user_id, status, source, payload"


def dump_seconds(database_url: str) -> tuple[int, float]:
    """The database's own CLI dumping the same rows, newest first: rows and seconds."""
    order = "ORDER BY recorded_at DESC, id DESC"
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        command = ["sqlite3", "-json", path, f"SELECT {DUMP_COLUMNS} FROM audit_entries {order}"]
    else:
        copy = f"COPY (SELECT {DUMP_COLUMNS} FROM audit_entries {order}) TO STDOUT"
        command = ["psql", "-X", "-q", "-d", database_url, "-c", copy]
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE) as dump:
        assert dump.stdout is not None
        lines = sum(1 for _ in dump.stdout)
    if dump.returncode:
        raise RuntimeError(f"{command[0]} failed with status {dump.returncode}")
    return lines, time.perf_counter() - started


def rows(database: str, database_url: str, count: int) -> list[Row]:
    """The search, event-list and export rows on one database: `count` entries against fewer.

    The baselines live in databases of their own (an empty log, a log of `SMALL` entries), so that
    they are timed in turns with the large log rather than minutes before it.
    """
    now = datetime.now(UTC)
    with DATABASES[database]() as empty_url, DATABASES[database]() as small_url:
        empty, small, large = (create_audit_engine(url) for url in (empty_url, small_url, database_url))
        seed(small, SMALL, now)
        seed(large, count, now)
        small_search, large_search = interleaved_p95(search_samples, small, large, now)
        empty_query, large_query = interleaved_p95(activity_samples, empty, large, now)
        for engine in (empty, small, large):
            engine.dispose()
        with event_list_reader(empty_url) as on_empty, event_list_reader(database_url) as on_large:
            empty_list, large_list = interleaved_p95(event_list_samples, on_empty, on_large, now)
        small_export = export_run(small_url)
    large_export = export_run(database_url)
    dumped, dump_time = dump_seconds(database_url)
    print(
        f"  [{database}] export {large_export.rows:,} rows in {large_export.seconds:.1f} s, "
        f"peak RSS {large_export.max_rss_kib / 1024:.0f} MiB ({small_export.max_rss_kib / 1024:.0f} MiB "
        f"at {small_export.rows:,}); CLI dump {dumped:,} lines in {dump_time:.1f} s"
    )
    return [
        Row(
            f"audit search p95, {count:,} vs {SMALL:,} rows [{database}]",
            small_search * 1e3,
            large_search * 1e3,
            "ms",
            1.5,
        ),
        Row(
            f"catalog event list p95 (the page, under gunicorn), {count:,} vs 0 rows [{database}]",
            empty_list * 1e3,
            large_list * 1e3,
            "ms",
            2.0,
        ),
        Row(
            f"its activity query alone, p95, {count:,} vs 0 rows [{database}]",
            empty_query * 1e3,
            large_query * 1e3,
            "ms",
            None,
        ),
        Row(
            f"export NDJSON rows/s vs CLI dump, {count:,} rows [{database}]",
            count / dump_time,
            large_export.rate,
            "rows/s",
            0.5,
            higher_is_better=True,
        ),
        Row(
            f"export peak RSS, {count:,} vs {SMALL:,} rows [{database}]",
            small_export.max_rss_kib / 1024,
            large_export.max_rss_kib / 1024,
            "MiB",
            1.2,
        ),
    ]
