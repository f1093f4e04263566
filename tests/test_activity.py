"""Audit-log figures for the catalog: last seen, recent counts, days and latest entries, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.engine.default import CacheStats
from sqlalchemy.orm import Session

from analytics.activity import (
    TRAFFIC_SOURCES,
    EventActivity,
    activity_query,
    daily_counts_query,
    daily_series,
    latest_entries_query,
    read_activity,
)
from analytics.audit import AuditEntry, EventDay, EventHour
from analytics.catalog import CATALOG
from webapp.catalog.sparkline import sparkline

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_one_query_gives_every_events_last_seen_and_recent_count(engine: Engine, record_sent) -> None:  # type: ignore[no-untyped-def]
    record_sent("UserCreate", NOW - timedelta(days=1))
    record_sent("UserCreate", NOW - timedelta(hours=1))
    record_sent("UserCreate", NOW - timedelta(days=9))
    record_sent("ProjectCreate", NOW - timedelta(days=30))
    with Session(engine) as session:
        activity = read_activity(session, list(CATALOG.events), NOW - timedelta(days=7))
    assert list(activity) == list(CATALOG.events)
    assert activity["Stack Deletion"] == EventActivity(None, 0)
    assert activity["New User"].last_seen == NOW - timedelta(hours=1)
    assert activity["New User"].recent == 2
    assert (activity["New Project Event"].last_seen, activity["New Project Event"].recent) == (
        NOW - timedelta(days=30),
        0,
    )
    with Session(engine) as session:
        only = read_activity(session, ["New Project Event"], NOW - timedelta(days=7))
    assert set(only) == {"New Project Event"}


def test_the_list_query_reads_counts_and_index_ranges_never_the_whole_log(engine: Engine) -> None:
    since = NOW - timedelta(days=7, minutes=30)
    query = activity_query(["New User", "New Project Event"], since, engine.dialect.name)
    literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}"))
            assert "SCAN audit_entries" not in plan
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN {literal}"))
            assert "Seq Scan on audit_entries" not in plan
    assert "audit_event_days" in plan and "audit_event_hours" in plan
    if engine.dialect.name == "sqlite":
        # The counts come from the index alone, not a lookup into the table per count row.
        for table in ("audit_event_hours", "audit_event_days"):
            assert f"USING COVERING INDEX ix_{table}_start_source_event_messages" in plan


def test_the_list_statement_is_compiled_once_whatever_the_events_and_window(engine: Engine) -> None:
    """Every page load builds the statement anew: it must find the first one's compiled form (a
    statement that spelled the events out was compiled again each time, slower than running it)."""
    since = NOW - timedelta(days=7)
    with engine.connect() as connection:
        connection.execute(activity_query(["New User"], since, engine.dialect.name)).all()
        query = activity_query(list(CATALOG.events), since + timedelta(minutes=1), engine.dialect.name)
        again = connection.execute(query)
        assert len(again.all()) == len(CATALOG.events)
    assert again.context.cache_hit == CacheStats.CACHE_HIT


def _counted_by_hand(engine: Engine, event: str, since: datetime) -> int:
    """What the 7-day count must say: the log's entries of the event since `since`, counted one by one."""
    query = select(func.count()).where(
        AuditEntry.event == event,
        AuditEntry.source.in_(TRAFFIC_SOURCES),
        AuditEntry.recorded_at >= since,
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def test_counts_stay_exact_through_inserts_moves_and_deletes(engine: Engine, record_sent) -> None:  # type: ignore[no-untyped-def]
    # Around the edges the count is assembled from: whole days, whole hours, the part-hour.
    moments = [
        NOW - timedelta(days=7, hours=1),
        NOW - timedelta(days=7, minutes=1),
        NOW - timedelta(days=7),
        NOW - timedelta(days=6, hours=23, minutes=59),
        NOW - timedelta(days=6, hours=12, minutes=30),
        NOW - timedelta(days=6, hours=12),
        NOW - timedelta(days=2, hours=12, seconds=1),
        NOW - timedelta(hours=12),
        NOW - timedelta(minutes=1),
    ]
    ids = [record_sent("UserCreate", moment) for moment in moments]
    record_sent("UserCreate", NOW - timedelta(hours=2), source="tester")
    with engine.begin() as connection:
        connection.execute(delete(AuditEntry).where(AuditEntry.message_id.in_(ids[2:4])))
        # One statement moving two entries to another event, and a status change that moves nothing.
        moved = AuditEntry.message_id.in_(ids[5:7])
        connection.execute(update(AuditEntry).where(moved).values(event="New Project Event"))
        connection.execute(update(AuditEntry).where(AuditEntry.message_id.in_(ids)).values(status="failed"))
    windows = [NOW - timedelta(days=7, minutes=m) for m in (0, 1, 30, 60, -1, -30, -12 * 60 - 30)]
    events = ["New User", "New Project Event"]
    for since in windows:
        with Session(engine) as session:
            activity = read_activity(session, events, since)
        for event in events:
            assert activity[event].recent == _counted_by_hand(engine, event, since), (event, since)
    with engine.connect() as connection:
        for table in (EventHour, EventDay):
            emptied = select(func.count()).where(table.messages < 1)
            assert connection.scalar(emptied) == 0, "a count that falls to 0 is deleted"


def test_daily_counts_bucket_by_utc_day(engine: Engine, record_sent) -> None:  # type: ignore[no-untyped-def]
    late = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
    record_sent("UserCreate", late)
    record_sent("UserCreate", late + timedelta(minutes=45))
    record_sent("UserCreate", late + timedelta(minutes=50))
    record_sent("UserCreate", NOW - timedelta(days=40))
    record_sent("ProjectCreate", late)
    with Session(engine) as session:
        rows = session.execute(daily_counts_query("New User", NOW - timedelta(days=30))).all()
    series = daily_series(rows, NOW.date())
    assert len(series) == 30 and series[-1][0] == NOW.date()
    counts = {day: count for day, count in series if count}
    assert counts == {date(2026, 11, 18): 1, date(2026, 11, 19): 2}


def test_latest_entries_are_newest_first_and_limited(engine: Engine, record_sent) -> None:  # type: ignore[no-untyped-def]
    ids = [record_sent("UserCreate", NOW - timedelta(minutes=m)) for m in range(7)]
    record_sent("ProjectCreate", NOW)
    with Session(engine) as session:
        entries = session.scalars(latest_entries_query("New User", limit=5)).all()
    assert [entry.message_id for entry in entries] == ids[:5]


def test_sparkline_scales_bars_and_reads_out_the_numbers() -> None:
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(4)]
    chart = sparkline(list(zip(days, [0, 2, 8, 1], strict=True)), width=40, height=20)
    assert (chart.total, chart.peak, chart.peak_day) == (11, 8, days[2])
    assert [bar.height for bar in chart.bars] == [0.0, 4.5, 18.0, 2.25]
    assert chart.bars[2].y == 2.0 and chart.bars[1].x == 10.0
    empty = sparkline([(days[0], 0)])
    assert (empty.total, empty.peak_day) == (0, None)
