"""How much each event is really being sent, read off the audit log with indexed queries.

The catalog pages show, next to what an event should carry, whether it is sent at all: when it
was last seen, how often in the last days, and its latest messages. Every query here is served by
`ix_audit_entries_event_recorded_at` (event, recorded_at): the event list's figures come from one
statement for the whole catalog, never one query per event.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, String, column, func, select, values
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from analytics.audit import AuditEntry, Source

RECENT_DAYS = 7
"""The window of the event list's count: a week evens out weekday and weekend traffic."""

SPARKLINE_DAYS = 30

TRAFFIC_SOURCES = (Source.APPLICATION.value, Source.REPLAY.value)
"""What counts as an event being sent: applications and replays. Tester sends prove an event can be
built, not that the product sends it, so they never make an event look alive (nor does `drift`)."""


class utc_day(FunctionElement[date]):  # noqa: N801  (reads as the SQL function it renders)
    """The UTC calendar day of a timestamp column, in each dialect's own words."""

    type = Date()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps these timestamps as UTC text, which its date() reads directly.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    # A timestamptz cast to date would use the session's time zone; pin it to UTC.
    return f"date(timezone('UTC', {compiler.process(element.clauses, **kw)}))"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive (they are stored in UTC); PostgreSQL hands them back aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class EventActivity:
    """What the audit log says about one event.

    Attributes:
        last_seen: when its latest message was recorded, or None when it was never sent.
        recent: how many messages were recorded in the last `RECENT_DAYS` days.
        latest: the latest message as stored, to check it against today's schema.
    """

    last_seen: datetime | None = None
    recent: int = 0
    latest: dict[str, Any] | None = None

    def is_stale(self, threshold: timedelta, now: datetime) -> bool:
        """Whether it was sent once but not within `threshold` of `now`."""
        return self.last_seen is not None and now - self.last_seen > threshold


NEVER_SENT = EventActivity()


def activity_query(
    events: Collection[str], since: datetime
) -> Select[str, datetime | None, int, dict[str, Any] | None]:
    """Each event's last-seen time and its count since `since`: the whole list in one statement.

    The event strings come in as a constant table, and each one's two figures are correlated
    subqueries that seek into the (event, recorded_at) index: the max is a single index probe and
    the count reads only the window's entries. So the cost follows the last days' traffic, not the
    log's whole history (a GROUP BY over the log scans every entry ever recorded: 50 times slower
    on a million rows).

    Args:
        events: the event strings to report on, in the order the rows come back.
        since: start of the counted window.
    """
    names = values(column("event", String), name="names").data([(event,) for event in events]).cte("names")
    sent = (AuditEntry.event == names.c.event, AuditEntry.source.in_(TRAFFIC_SOURCES))
    last_seen = select(func.max(AuditEntry.recorded_at)).where(*sent)
    recent = select(func.count()).where(*sent, AuditEntry.recorded_at >= since)
    latest = (
        select(AuditEntry.payload)
        .where(*sent)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    return select(
        names.c.event, last_seen.scalar_subquery(), recent.scalar_subquery(), latest.scalar_subquery()
    )


def activity_by_event(rows: Iterable[Any]) -> dict[str, EventActivity]:
    """`activity_query` rows keyed by event string."""
    return {
        event: EventActivity(as_utc(last_seen) if last_seen is not None else None, recent, latest)
        for event, last_seen, recent, latest in rows
    }


def daily_counts_query(event: str, since: datetime) -> Select[date, int]:
    """One event's message count per UTC day since `since` (days without messages are absent)."""
    day: ColumnElement[date] = utc_day(AuditEntry.recorded_at).label("day")
    return (
        select(day, func.count())
        .where(
            AuditEntry.event == event, AuditEntry.source.in_(TRAFFIC_SOURCES), AuditEntry.recorded_at >= since
        )
        .group_by(day)
        .order_by(day)
    )


def daily_series(rows: Iterable[Any], today: date, days: int = SPARKLINE_DAYS) -> list[tuple[date, int]]:
    """Fill `daily_counts_query` rows into one count per day, oldest first, ending today."""
    counts = {day if isinstance(day, date) else date.fromisoformat(str(day)): count for day, count in rows}
    first = today - timedelta(days=days - 1)
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(days)]


def latest_entries_query(event: str, limit: int = 5) -> Select[AuditEntry]:
    """An event's most recent audit entries, newest first."""
    return (
        select(AuditEntry)
        .where(AuditEntry.event == event)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
