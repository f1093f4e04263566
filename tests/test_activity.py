"""Audit-log figures for the catalog: last seen, recent counts, days and latest entries, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.activity import (
    EventActivity,
    activity_by_event,
    activity_query,
    daily_counts_query,
    daily_series,
    latest_entries_query,
)
from analytics.catalog import CATALOG
from webapp.catalog.sparkline import sparkline

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_one_query_gives_every_events_last_seen_and_recent_count(engine: Engine, record_sent) -> None:  # type: ignore[no-untyped-def]
    record_sent("UserCreate", NOW - timedelta(days=1))
    record_sent("UserCreate", NOW - timedelta(hours=1))
    record_sent("UserCreate", NOW - timedelta(days=9))
    record_sent("ProjectCreate", NOW - timedelta(days=30))
    with Session(engine) as session:
        query = activity_query(list(CATALOG.events), NOW - timedelta(days=7))
        activity = activity_by_event(session.execute(query))
    assert list(activity) == list(CATALOG.events)
    assert activity["Stack Deletion"] == EventActivity(None, 0)
    assert activity["New User"].last_seen == NOW - timedelta(hours=1)
    assert activity["New User"].recent == 2
    assert (activity["New Project Event"].last_seen, activity["New Project Event"].recent) == (
        NOW - timedelta(days=30),
        0,
    )
    with Session(engine) as session:
        only = activity_by_event(
            session.execute(activity_query(["New Project Event"], NOW - timedelta(days=7)))
        )
    assert set(only) == {"New Project Event"}


def test_the_list_query_seeks_the_event_index_instead_of_scanning_the_log(engine: Engine) -> None:
    query = activity_query(["New User", "New Project Event"], NOW)
    literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}"))
            assert plan.count("USING COVERING INDEX ix_audit_entries_event_source_recorded_at (event=?") == 2
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN {literal}"))
            assert "ix_audit_entries_event_source_recorded_at" in plan
        assert "GROUP BY" not in literal


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
