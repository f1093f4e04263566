"""How much each event is really being sent, read off the audit log with indexed queries.

The catalog pages show, next to what an event should carry, whether it is sent at all: when it
was last seen, how often in the last days, and its latest messages. Every query here is an index
seek (on `(event, recorded_at)`, `(event, source, recorded_at)` or the hourly counts' key), and the
event list's figures come from one statement for the whole catalog, never one query per event.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Select,
    Subquery,
    and_,
    cast,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql.expression import ColumnElement

from analytics.audit import AuditEntry, EventDay, EventHour, Source
from analytics.durations import as_utc
from analytics.queries import identify_call
from analytics.sql_functions import bound_strings, dialect_function

RECENT_DAYS = 7
"""The window of the event list's count: a week evens out weekday and weekend traffic."""

SPARKLINE_DAYS = 30

TRAFFIC_SOURCES = (Source.APPLICATION.value, Source.REPLAY.value)
"""What counts as an event being sent: applications and replays. Tester sends prove an event can be
built, not that the product sends it, so they never make an event look alive (nor does `drift`)."""


utc_day = dialect_function(
    "utc_day",
    Date(),
    # SQLite keeps these timestamps as UTC text, which its date() reads directly.
    sqlite="date({0})",
    # A timestamptz cast to date would use the session's time zone; pin it to UTC.
    postgresql="date(timezone('UTC', {0}))",
    doc="The UTC calendar day of a timestamp column.",
)


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


def _ceiling(moment: datetime, unit: timedelta) -> datetime:
    """The first whole UTC hour (`unit` one hour) or day (one day) at or after `moment`."""
    moment = as_utc(moment)
    start = moment.replace(minute=0, second=0, microsecond=0)
    if unit == timedelta(days=1):
        start = start.replace(hour=0)
    return start if start == moment else start + unit


def count_since(since: datetime) -> Subquery:
    """Each sent event's entry count since `since`, from the hourly and daily counts: `event`, `messages`.

    The window is the whole days from the first midnight after `since` (`EventDay`, at most 8 rows
    a week per event and source), the whole hours before that midnight (`EventHour`, at most 23),
    and the entries of the part-hour before those (one range of the (source, recorded_at) index).
    """
    first_hour = _ceiling(since, timedelta(hours=1))
    first_day = _ceiling(since, timedelta(days=1))
    parts = union_all(
        select(EventDay.event, EventDay.messages).where(
            EventDay.start >= first_day, EventDay.source.in_(TRAFFIC_SOURCES)
        ),
        select(EventHour.event, EventHour.messages).where(
            EventHour.start >= first_hour, EventHour.start < first_day, EventHour.source.in_(TRAFFIC_SOURCES)
        ),
        select(AuditEntry.event, literal(1, BigInteger)).where(
            AuditEntry.recorded_at >= since,
            AuditEntry.recorded_at < first_hour,
            AuditEntry.source.in_(TRAFFIC_SOURCES),
        ),
    ).subquery("parts")
    return (
        select(parts.c.event, cast(func.sum(parts.c.messages), BigInteger).label("messages"))
        .group_by(parts.c.event)
        .subquery("counted")
    )


def activity_query(
    events: Collection[str], since: datetime, dialect: str
) -> Select[str, datetime | None, int, dict[str, Any] | None]:
    """Each event's last-seen time, count since `since` and latest payload: the whole list in one statement.

    The event strings come in as a constant table. The latest entry of each event is an index
    probe into (event, source, recorded_at); the counts come from `count_since`, which adds up
    hourly and daily counts rather than entries. So the cost is the same at any size of log:
    counting a week's entries instead grows with the traffic (a quarter of a million entries a
    week at a million in the log), and a GROUP BY over the log scans every entry ever recorded.

    On PostgreSQL the latest entry is a LATERAL subquery giving its time and its payload from one
    probe (a Merge Append over the partitions); two correlated subqueries made two, a fifth of the
    list's time at a million entries. SQLite has no LATERAL, and its two probes are one index each.

    Args:
        events: the event strings to report on, in the order the rows come back.
        since: start of the counted window.
        dialect: the database's dialect name (`sqlite`, `postgresql`).
    """
    names = bound_strings(events, dialect, "names")
    counted = count_since(since)
    sent = (AuditEntry.event == names.c.value, AuditEntry.source.in_(TRAFFIC_SOURCES))
    newest_first = (AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
    recent = func.coalesce(counted.c.messages, 0)
    if dialect == "postgresql":
        latest = (
            select(AuditEntry.recorded_at, AuditEntry.payload)
            .where(*sent)
            .order_by(*newest_first)
            .limit(1)
            .lateral("latest")
        )
        return (
            select(names.c.value, latest.c.recorded_at, recent, latest.c.payload)
            .select_from(names)
            .outerjoin(latest, true())
            .outerjoin(counted, counted.c.event == names.c.value)
            .order_by(names.c.position)
        )
    last_seen = select(func.max(AuditEntry.recorded_at)).where(*sent)
    latest_payload = select(AuditEntry.payload).where(*sent).order_by(*newest_first).limit(1)
    return (
        select(names.c.value, last_seen.scalar_subquery(), recent, latest_payload.scalar_subquery())
        .outerjoin(counted, counted.c.event == names.c.value)
        .order_by(names.c.position)
    )


def read_activity(
    session: Session | scoped_session[Session] | Connection, events: Collection[str], since: datetime
) -> dict[str, EventActivity]:
    """What the audit log says about each of `events` (`activity_query`, run), keyed by event string."""
    bind = session if isinstance(session, Connection) else session.get_bind()
    return activity_by_event(session.execute(activity_query(events, since, bind.dialect.name)))


def activity_by_event(rows: Iterable[Any]) -> dict[str, EventActivity]:
    """`activity_query` rows keyed by event string."""
    return {
        event: EventActivity(as_utc(last_seen) if last_seen is not None else None, recent, latest)
        for event, last_seen, recent, latest in rows
    }


def daily_counts_query(event: str, since: datetime) -> Select[date, int]:
    """One event's message count per UTC day, from the day of `since` (days without messages are absent).

    Read from the trigger-kept daily counts (`EventDay`): a month of a busy event is ~30 rows per
    source and writer, where counting its entries would read every one of them.
    """
    day: ColumnElement[date] = utc_day(EventDay.start).label("day")
    first_day = as_utc(since).replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        select(day, cast(func.sum(EventDay.messages), BigInteger))
        .where(EventDay.event == event, EventDay.source.in_(TRAFFIC_SOURCES), EventDay.start >= first_day)
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


def identify_activity(session: Session, spec: str, since: datetime) -> EventActivity:
    """What the audit log says about one identify call (`spec`: its class name), counted as the
    event list counts events: the application's calls, not the tester's."""
    called = and_(identify_call(spec), AuditEntry.source == Source.APPLICATION)
    latest = session.execute(
        select(AuditEntry.recorded_at, AuditEntry.payload)
        .where(called)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return NEVER_SENT
    recent = session.scalar(select(func.count()).where(called, AuditEntry.recorded_at >= since)) or 0
    return EventActivity(as_utc(latest.recorded_at), recent, latest.payload)
