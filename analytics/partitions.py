"""Time-range partitions of the audit log on PostgreSQL: created ahead, drained, dropped whole.

On PostgreSQL `audit_entries` is declaratively partitioned by `RANGE (recorded_at)` (migration
`0007_audit_partitions`), one partition per month unless `AUDIT_PARTITION_INTERVAL` says `week`
or `day`. Each partition is named after the first day it holds (`audit_entries_p20261101`), so
names sort by time and never depend on the interval in force when they were made.

Partitions are created ahead, like pg_partman's maintenance does: `ensure` creates the current
period's and the next `AUDIT_PARTITIONS_AHEAD` periods' partitions. It runs in the migration, at
every start of an application's client (`analytics.init()`), at the dashboard's start (the
container's start script) and from `event-catalog audit partitions ensure`, which a daily cron job
should run next to the retention purge, so a process that runs for months never outlives its
partitions. A `DEFAULT` partition is the safety net: a row whose period has no partition still
lands there (an insert never fails for want of DDL), and the next `ensure` creates its period's
partition and moves it there, as pg_partman's `partition_data_proc` would, then vacuums and
analyzes what the move touched (`tidy_after_move`).

Retention (`analytics.retention`) drops a partition that lies wholly before its cut-off with
`drop` instead of deleting its rows; rows it must keep (the log's purge records) are moved to a
fresh partition of the same range first.

SQLite keeps one plain table: every function here sees no partitions there and does nothing.
All DDL runs under one transaction-scoped advisory lock, so replicas starting together take turns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import EventDay, EventHour
from analytics.audit_failures import reason
from analytics.durations import format_instant
from analytics.event_counts import recount
from analytics.wording import counted

log = logging.getLogger(__name__)

PARENT = "audit_entries"
"""The partitioned table."""

DEFAULT_PARTITION = f"{PARENT}_default"
"""The partition that holds rows no range partition covers yet."""

DEFAULT_AHEAD = 3
"""Periods created beyond the current one: three months covers a quarter without maintenance."""

# Any fixed 64-bit number, the same in every process: "audit partitions".
PARTITION_LOCK_KEY = 0x6175_6470_6172_7473

_PARTITION_NAME = re.compile(rf"^{PARENT}_(p\d{{8}}|default)$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


class Interval(StrEnum):
    """How much time one partition covers (`AUDIT_PARTITION_INTERVAL`)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @classmethod
    def parse(cls, raw: str) -> Interval:
        """The interval named `raw`.

        Raises:
            ValueError: one line naming the allowed values.
        """
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError(f"{raw!r} is not an interval: use day, week or month") from None

    def start(self, moment: datetime) -> datetime:
        """The start of the period that holds `moment` (UTC; weeks start on Monday)."""
        moment = moment.astimezone(UTC)
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self is Interval.DAY:
            return day
        if self is Interval.WEEK:
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def next(self, start: datetime) -> datetime:
        """The start of the period after the one starting at `start`."""
        if self is Interval.DAY:
            return start + timedelta(days=1)
        if self is Interval.WEEK:
            return start + timedelta(weeks=1)
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def parse_ahead(raw: str) -> int:
    """`AUDIT_PARTITIONS_AHEAD`: a whole number of periods, 1 to 120.

    Raises:
        ValueError: one line saying what is allowed.
    """
    try:
        ahead = int(raw)
    except ValueError:
        ahead = 0
    if not 1 <= ahead <= 120:
        raise ValueError(f"{raw!r} is not a number of periods: use a whole number from 1 to 120")
    return ahead


def partition_name(start: datetime) -> str:
    """The name of the partition whose range starts at `start`."""
    return f"{PARENT}_p{start.astimezone(UTC):%Y%m%d}"


def include_name(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Alembic's `include_name` hook: autogenerate compares the parent table, not its partitions.

    Partitions are created by `ensure`, not by migrations, so they are never schema drift.
    """
    return not (type_ == "table" and name is not None and _PARTITION_NAME.match(name))


@dataclass(frozen=True)
class Partition:
    """One partition of the audit log.

    Attributes:
        name: the table's name.
        start: the first instant it holds; None for the default partition.
        end: the first instant it does not hold; None for the default partition.
    """

    name: str
    start: datetime | None
    end: datetime | None

    def before(self, cutoff: datetime) -> bool:
        """Whether every row it can hold was recorded before `cutoff`."""
        return self.end is not None and self.end <= cutoff

    def describe(self) -> str:
        """The partition and its range, in one line."""
        if self.start is None or self.end is None:
            return f"{self.name} (default: rows no other partition covers)"
        return f"{self.name} {format_instant(self.start)} to {format_instant(self.end)}"


@dataclass
class EnsureReport:
    """What `ensure` did.

    Attributes:
        partitioned: whether the database partitions the audit log at all (False on SQLite).
        created: partitions created.
        moved: rows moved out of the default partition into them.
        through: where the partitions that run on without a gap from the current period end.
        gap_until: the start of the next partition after `through`, when a later one exists
            (one made for a row from far ahead): no partition covers the time in between yet.
    """

    partitioned: bool
    created: list[str] = field(default_factory=list)
    moved: int = 0
    through: datetime | None = None
    gap_until: datetime | None = None

    def summary(self) -> str:
        """One line for people."""
        if not self.partitioned:
            return "the audit log is one plain table on this database (SQLite): nothing to partition"
        done = f"created {', '.join(self.created)}" if self.created else "no partition to create"
        moved = f", moved {counted(self.moved, 'row')} out of {DEFAULT_PARTITION}" if self.moved else ""
        gap = f", none from there to {format_instant(self.gap_until)}" if self.gap_until else ""
        return f"{done}{moved}; partitions reach {format_instant(self.through)}{gap}"


def _literal(moment: datetime) -> str:
    # DDL cannot take bound parameters; the value is a datetime we formatted, never user text.
    return f"'{moment.astimezone(UTC).isoformat()}'"


def is_partitioned(connection: Connection) -> bool:
    """Whether the audit log is a partitioned table here (PostgreSQL after migration 0007)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT})
    return bool(kind == "p")


def partitions(connection: Connection) -> list[Partition]:
    """The audit log's partitions, oldest first, the default one last; none on SQLite."""
    if not is_partitioned(connection):
        return []
    # Bounds are printed in the session's time zone: read them in UTC.
    connection.execute(text("SET LOCAL TIME ZONE 'UTC'"))
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match:
            start, end = (datetime.fromisoformat(value) for value in match.groups())
            found.append(Partition(name, start, end))
        else:
            found.append(Partition(name, None, None))
    return sorted(found, key=lambda p: (p.start is None, p.start or datetime.min.replace(tzinfo=UTC)))


def lock(connection: Connection) -> None:
    """Take the partition-maintenance lock until the transaction ends."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK_KEY})


def create(connection: Connection, start: datetime, end: datetime) -> int:
    """Create the partition for `[start, end)`, moving in the default partition's rows of that range.

    The new table is filled while still detached, then attached: PostgreSQL checks at ATTACH that
    the default partition no longer holds rows of the range, which the same transaction moved.

    Returns:
        How many rows were moved out of the default partition.
    """
    name = partition_name(start)
    bounds = f"FROM ({_literal(start)}) TO ({_literal(end)})"
    connection.execute(text(f'CREATE TABLE "{name}" (LIKE "{PARENT}" INCLUDING DEFAULTS)'))
    moved = 0
    if _exists(connection, DEFAULT_PARTITION):
        range_ = {"start": start, "end": end}
        moved = connection.execute(
            text(
                f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" '
                "WHERE recorded_at >= :start AND recorded_at < :end RETURNING *) "
                f'INSERT INTO "{name}" SELECT * FROM moved'
            ),
            range_,
        ).rowcount
    connection.execute(text(f'ALTER TABLE "{PARENT}" ATTACH PARTITION "{name}" FOR VALUES {bounds}'))
    if moved:
        recount(connection, start, end)
        log.info("created partition %s (%s moved from the default)", name, counted(moved, "row"))
    else:
        log.info("created partition %s", name)
    return moved


def _exists(connection: Connection, table: str) -> bool:
    """Whether `table` exists."""
    return bool(connection.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}))


def create_default(connection: Connection) -> None:
    """Create the default partition, if it is missing.

    Looked up first: `CREATE TABLE IF NOT EXISTS` needs CREATE on the schema even when the table
    exists, which an application's role usually lacks, and every start would then warn falsely.
    """
    if not _exists(connection, DEFAULT_PARTITION):
        connection.execute(text(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF "{PARENT}" DEFAULT'))


def periods(interval: Interval, first: datetime, last: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The periods from the one holding `first` to the one holding `last`, as (start, end)."""
    start = interval.start(first)
    while start <= last:
        end = interval.next(start)
        yield start, end
        start = end


def _waiting_periods(connection: Connection, interval: Interval) -> list[tuple[datetime, datetime]]:
    """The periods of the rows in the default partition (normally none: it is a safety net)."""
    oldest, newest = connection.execute(
        text(f'SELECT min(recorded_at), max(recorded_at) FROM "{DEFAULT_PARTITION}"')
    ).one()
    if oldest is None:
        return []
    in_range = "recorded_at >= :start AND recorded_at < :end"
    holds = text(f'SELECT EXISTS (SELECT 1 FROM "{DEFAULT_PARTITION}" WHERE {in_range})')
    return [
        (start, end)
        for start, end in periods(interval, oldest, newest)
        if connection.scalar(holds, {"start": start, "end": end})
    ]


def _ranges(found: list[Partition]) -> list[tuple[datetime, datetime]]:
    """The ranges of the range partitions in `found`, oldest first."""
    return sorted((p.start, p.end) for p in found if p.start is not None and p.end is not None)


def _uncovered(
    ranges: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of `[start, end)` that none of `ranges` (oldest first) covers."""
    gaps = []
    cursor = start
    for covered_start, covered_end in ranges:
        if covered_start >= end:
            break
        if covered_start > cursor:
            gaps.append((cursor, covered_start))
        cursor = max(cursor, covered_end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def _reach(ranges: list[tuple[datetime, datetime]], start: datetime) -> tuple[datetime, datetime | None]:
    """Where coverage without a gap from `start` ends, and where the next partition after it starts."""
    cursor = start
    for covered_start, covered_end in ranges:
        if covered_start > cursor:
            return cursor, covered_start
        cursor = max(cursor, covered_end)
    return cursor, None


def extend(connection: Connection, *, interval: Interval, ahead: int, now: datetime) -> EnsureReport:
    """`ensure` inside the caller's transaction (the migration's); takes the maintenance lock."""
    if not is_partitioned(connection):
        return EnsureReport(partitioned=False)
    lock(connection)
    create_default(connection)
    ranges = _ranges(partitions(connection))
    report = EnsureReport(partitioned=True)
    last = interval.start(now)
    for _ in range(ahead):
        last = interval.next(last)
    wanted = _waiting_periods(connection, interval) + list(periods(interval, now, last))
    for period_start, period_end in sorted(set(wanted)):
        # After a change of interval, a period can overlap partitions of the old one: its part
        # they leave uncovered gets a partition of its own, so no day is left to the default.
        for start, end in _uncovered(ranges, period_start, period_end):
            report.moved += create(connection, start, end)
            report.created.append(partition_name(start))
            ranges = sorted([*ranges, (start, end)])
    report.through, report.gap_until = _reach(ranges, interval.start(now))
    return report


def ensure(
    engine: Engine,
    *,
    interval: Interval = Interval.MONTH,
    ahead: int = DEFAULT_AHEAD,
    now: datetime | None = None,
) -> EnsureReport:
    """Create the partitions of the current period and of the `ahead` periods after it.

    Rows waiting in the default partition get the partitions of their periods too (past ones
    included, when a writer outran its partitions) and are moved into them. A period that overlaps
    existing partitions gets a partition for the part they leave uncovered (from the old
    partitions' end to the period's end, after a change of interval), so coverage stays continuous
    and the old partitions are never touched.

    Args:
        engine: the audit database.
        interval: how much time one partition covers.
        ahead: how many periods after the current one to create.
        now: the reference time; the current time by default.

    Returns:
        What was created; on SQLite, a report that says nothing is partitioned.
    """
    with engine.begin() as connection:
        report = extend(connection, interval=interval, ahead=ahead, now=now or datetime.now(UTC))
    if report.moved:
        tidy_after_move(engine, report.created)
    return report


def tidy_after_move(engine: Engine, created: Collection[str]) -> None:
    """Vacuum what moving rows out of the default partition left behind, and analyze where they went.

    The move leaves every moved row dead in the default partition (and the recount its count rows
    in the count tables), and the partitions that received them have no statistics yet. Until
    autovacuum gets there, if it runs at all, every read that probes the default partition walks
    the dead rows' index entries and plans its reads of the new partitions blind: at a million
    entries the catalog's event list took three times as long (pg_partman advises the same
    VACUUM ANALYZE after `partition_data_proc`). VACUUM cannot run in a transaction, so this runs
    after the move has committed; it blocks no writer.
    """
    tables = [DEFAULT_PARTITION, EventHour.__tablename__, EventDay.__tablename__, *created]
    names = ", ".join(f'"{name}"' for name in tables)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"VACUUM (ANALYZE) {names}"))
    except SQLAlchemyError as exc:
        log.warning(
            "moved rows out of %s but could not vacuum it (%s); autovacuum will",
            DEFAULT_PARTITION,
            reason(exc),
        )


def ensure_safely(engine: Engine, *, interval: Interval, ahead: int) -> None:
    """`ensure` at a writer's start, where a failure must not stop the host application.

    Without the partitions, rows go to the default partition and nothing is lost; the warning says
    which command catches up.
    """
    try:
        report = ensure(engine, interval=interval, ahead=ahead)
    except SQLAlchemyError as exc:
        log.warning(
            "could not create audit partitions ahead (%s); rows go to %s until "
            "`event-catalog audit partitions ensure` succeeds",
            reason(exc),
            DEFAULT_PARTITION,
        )
        return
    if report.created:
        log.info("audit partitions: %s", report.summary())


def drop(connection: Connection, partition: Partition, *, keep_types: Collection[str] = ()) -> int:
    """Detach and drop a range partition, keeping its rows of `keep_types` in a fresh one.

    Must run inside a transaction that holds `lock`. Kept rows are copied, unchanged (ids and
    hashes included), into a new partition of the same range that replaces the dropped one.

    Returns:
        How many rows were dropped (the partition's rows less the kept ones).
    """
    if partition.start is None or partition.end is None:
        raise ValueError("the default partition is never dropped")
    name = partition.name
    kept = list(keep_types)
    total = connection.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0
    connection.execute(text(f'ALTER TABLE "{PARENT}" DETACH PARTITION "{name}"'))
    keeping = 0
    if kept:
        count_kept = text(f'SELECT count(*) FROM "{name}" WHERE type = ANY(:types)')
        keeping = connection.scalar(count_kept, {"types": kept}) or 0
    if keeping:
        dropped_name = f"{name}_dropped"
        connection.execute(text(f'ALTER TABLE "{name}" RENAME TO "{dropped_name}"'))
        connection.execute(text(f'CREATE TABLE "{name}" (LIKE "{PARENT}" INCLUDING DEFAULTS)'))
        connection.execute(
            text(f'INSERT INTO "{name}" SELECT * FROM "{dropped_name}" WHERE type = ANY(:types)'),
            {"types": kept},
        )
        connection.execute(text(f'DROP TABLE "{dropped_name}"'))
        bounds = f"FROM ({_literal(partition.start)}) TO ({_literal(partition.end)})"
        connection.execute(text(f'ALTER TABLE "{PARENT}" ATTACH PARTITION "{name}" FOR VALUES {bounds}'))
    else:
        connection.execute(text(f'DROP TABLE "{name}"'))
    recount(connection, partition.start, partition.end)
    log.info("dropped partition %s (%s rows, %s kept)", name, total - keeping, keeping)
    return int(total - keeping)
