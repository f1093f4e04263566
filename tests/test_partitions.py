"""Time partitions of the audit log: the migration, partitions ahead, purge by partition (real PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from at_once import at_once
from flask.testing import FlaskCliRunner
from pg_roles import temporary_role
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

import analytics
from analytics import partitions
from analytics.audit import (
    PURGE_TYPE,
    AuditEntry,
    AuditMessageId,
    AuditStatus,
    AuditStore,
    Base,
    DeliveryAttempt,
    EventDay,
    EventHour,
    create_audit_engine,
)
from analytics.catalog import CATALOG
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.partitions import Interval
from analytics.retention import _delete, _drop, _record_purge, _write_checkpoints, plan, purge

KEY = b"event-catalog"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _record_at(store: AuditStore, monkeypatch: pytest.MonkeyPatch, when: datetime) -> str:
    """Record a delivered message with the store's clock at `when`, so its hash covers that time."""
    monkeypatch.setattr("analytics.audit._now", lambda: when)
    message = build_message(CATALOG.event("ProjectCreate").example_spec(), timestamp=when)
    store.record(message, status=AuditStatus.PENDING, source="application")
    store.record_outcome([message["messageId"]], AuditStatus.DELIVERED, http_status=200)
    return str(message["messageId"])


def _where(engine: Engine) -> dict[str, str]:
    """Each entry's message id and the table that holds it."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT message_id, tableoid::regclass::text FROM audit_entries"))
        return dict(rows.all())


def _assert_counts_match_entries(engine: Engine) -> None:
    """The catalog's hourly and daily counts say what the entries say, after rows moved or went."""
    entries = select(AuditEntry.event, func.count()).where(AuditEntry.event.is_not(None))
    with engine.connect() as connection:
        expected = dict(connection.execute(entries.group_by(AuditEntry.event)).all())
        for table in (EventHour, EventDay):
            counted = select(table.event, func.sum(table.messages)).group_by(table.event)
            assert dict(connection.execute(counted).all()) == expected, table.__tablename__


def _names(engine: Engine) -> list[str]:
    with engine.begin() as connection:
        return [p.name for p in partitions.partitions(connection)]


@pytest.mark.parametrize(
    ("interval", "moment", "start", "after"),
    [
        (Interval.MONTH, _utc(2026, 12, 31, 23, 59), _utc(2026, 12, 1), _utc(2027, 1, 1)),
        (Interval.WEEK, _utc(2026, 11, 29, 12), _utc(2026, 11, 23), _utc(2026, 11, 30)),
        (Interval.DAY, _utc(2026, 2, 28, 5), _utc(2026, 2, 28), _utc(2026, 3, 1)),
    ],
)
def test_periods_start_and_end_on_calendar_boundaries(
    interval: Interval, moment: datetime, start: datetime, after: datetime
) -> None:
    assert interval.start(moment) == start
    assert interval.next(start) == after


def test_the_settings_are_checked_with_one_line_each() -> None:
    from webapp.config import ConfigurationError, from_environment

    settings = from_environment({"AUDIT_PARTITION_INTERVAL": "Week", "AUDIT_PARTITIONS_AHEAD": "6"})
    assert (settings["AUDIT_PARTITION_INTERVAL"], settings["AUDIT_PARTITIONS_AHEAD"]) == (Interval.WEEK, 6)
    with pytest.raises(ConfigurationError) as raised:
        from_environment({"AUDIT_PARTITION_INTERVAL": "yearly", "AUDIT_PARTITIONS_AHEAD": "0"})
    assert raised.value.problems == [
        "AUDIT_PARTITION_INTERVAL: 'yearly' is not an interval: use day, week or month",
        "AUDIT_PARTITIONS_AHEAD: '0' is not a number of periods: use a whole number from 1 to 120",
    ]


def test_migration_converts_a_populated_log_keeping_ids_and_chains(empty_postgres_url: str) -> None:
    from flask_migrate import downgrade, upgrade

    from webapp import create_app
    from webapp.extensions import db

    recorded = ["2026-01-15 10:00:00+00", "2026-01-20 09:00:00+00", "2026-04-02 08:00:00+00"]
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_postgres_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0006_audit_integrity")
        with db.engine.begin() as connection:
            for index, when in enumerate(recorded):
                connection.execute(
                    text(
                        "INSERT INTO audit_entries (message_id, recorded_at, timestamp, type, event, status, "
                        "status_changed_at, source, payload, writer_id, seq, prev_hash, entry_hash) "
                        "VALUES (:m, :r, :r, 'track', 'Project Create', 'delivered', :r, 'application', "
                        "'{}', 'w', :s, '', '')"
                    ),
                    {"m": f"old-{index}", "r": when, "s": index + 1},
                )
            before = dict(connection.execute(text("SELECT message_id, id FROM audit_entries")).all())
        upgrade()
        db.engine.dispose()
    engine = create_audit_engine(empty_postgres_url)
    try:
        names = _names(engine)
        this_month = partitions.partition_name(Interval.MONTH.start(datetime.now(UTC)))
        # Every month from the oldest entry's to the newest's, then this one and three ahead.
        assert names[:4] == [f"audit_entries_p2026{month:02}01" for month in (1, 2, 3, 4)]
        assert this_month in names and len(names) - names.index(this_month) == 5
        assert names[-1] == partitions.DEFAULT_PARTITION
        assert _where(engine) == {
            "old-0": "audit_entries_p20260101",
            "old-1": "audit_entries_p20260101",
            "old-2": "audit_entries_p20260401",
        }
        with engine.connect() as connection:
            after = dict(connection.execute(select(AuditEntry.message_id, AuditEntry.id)).all())
            message_ids = set(connection.scalars(select(AuditMessageId.message_id)))
            key = connection.scalar(
                text(
                    "SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_index i JOIN pg_attribute a "
                    "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = 'audit_entries'::regclass AND i.indisprimary"
                )
            )
            differences = compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": partitions.include_name}),
                Base.metadata,
            )
        assert after == before and message_ids == set(before)
        assert key == "id,recorded_at" and differences == []
        store = AuditStore(engine)
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        new = store.entry(message["messageId"])
        assert new is not None and new.id > max(before.values())  # the id sequence carried on
        assert _where(engine)[message["messageId"]] == this_month
        with pytest.raises(IntegrityError):
            store.record({**message}, status=AuditStatus.PENDING, source="replay")
    finally:
        engine.dispose()
    with app.app_context():
        downgrade(revision="0006_audit_integrity")
        with db.engine.connect() as connection:
            kind = connection.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'audit_entries'"))
            count = connection.scalar(text("SELECT count(*) FROM audit_entries"))
        assert (kind, count) == ("r", 4)
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": partitions.include_name})
            assert compare_metadata(context, Base.metadata) == []
        db.engine.dispose()


def test_ensure_creates_periods_ahead_once_and_moves_waiting_rows(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AuditStore(postgres_engine)
    # A writer that outran its partitions: its rows wait in the default partition.
    late = _record_at(store, monkeypatch, _utc(2029, 6, 10))
    early = _record_at(store, monkeypatch, _utc(2030, 2, 10))
    assert {_where(postgres_engine)[m] for m in (late, early)} == {partitions.DEFAULT_PARTITION}
    report = partitions.ensure(postgres_engine, now=_utc(2030, 1, 15), ahead=2)
    assert report.created == [
        "audit_entries_p20290601",
        "audit_entries_p20300101",
        "audit_entries_p20300201",
        "audit_entries_p20300301",
    ]
    assert report.moved == 2 and report.through == _utc(2030, 4, 1)
    assert _where(postgres_engine)[late] == "audit_entries_p20290601"
    assert _where(postgres_engine)[early] == "audit_entries_p20300201"
    again = partitions.ensure(postgres_engine, now=_utc(2030, 1, 15), ahead=2)
    assert again.created == [] and again.summary() == (
        "no partition to create; partitions reach 2030-04-01T00:00:00+00:00"
    )
    # A shorter interval fills only what no partition covers yet.
    weekly = partitions.ensure(postgres_engine, interval=Interval.WEEK, now=_utc(2030, 3, 25), ahead=2)
    assert weekly.created == ["audit_entries_p20300401", "audit_entries_p20300408"]
    assert verify(postgres_engine, KEY).ok
    _assert_counts_match_entries(postgres_engine)


def test_a_change_of_interval_leaves_no_day_without_a_partition(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    partitions.ensure(postgres_engine, now=_utc(2031, 1, 15), ahead=2)
    # Between the last month's end (a Tuesday) and the next Monday: no weekly period starts there.
    between = _record_at(AuditStore(postgres_engine), monkeypatch, _utc(2031, 4, 3))
    weekly = partitions.ensure(postgres_engine, interval=Interval.WEEK, now=_utc(2031, 3, 31), ahead=3)
    assert weekly.created == [
        "audit_entries_p20310401",
        "audit_entries_p20310407",
        "audit_entries_p20310414",
        "audit_entries_p20310421",
    ]
    assert weekly.moved == 1 and _where(postgres_engine)[between] == "audit_entries_p20310401"
    with postgres_engine.begin() as connection:
        bounds = {p.name: (p.start, p.end) for p in partitions.partitions(connection)}
    assert bounds["audit_entries_p20310401"] == (_utc(2031, 4, 1), _utc(2031, 4, 7))
    # Back to months: the rest of April after the last week, then May.
    monthly = partitions.ensure(postgres_engine, now=_utc(2031, 4, 20), ahead=1)
    assert monthly.created == ["audit_entries_p20310428", "audit_entries_p20310501"]
    assert monthly.summary() == (
        "created audit_entries_p20310428, audit_entries_p20310501; partitions reach 2031-06-01T00:00:00+00:00"
    )
    again = partitions.ensure(postgres_engine, interval=Interval.DAY, now=_utc(2031, 4, 29), ahead=3)
    assert again.created == [] and again.through == _utc(2031, 6, 1)


def test_ensure_names_the_gap_before_a_later_partition(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A row from far ahead (a wrong clock) gets its own period's partition, leaving time uncovered.
    _record_at(AuditStore(postgres_engine), monkeypatch, _utc(2035, 7, 4))
    report = partitions.ensure(postgres_engine, now=_utc(2035, 1, 15), ahead=1)
    assert report.created == ["audit_entries_p20350101", "audit_entries_p20350201", "audit_entries_p20350701"]
    assert report.summary().endswith(
        "; partitions reach 2035-03-01T00:00:00+00:00, none from there to 2035-07-01T00:00:00+00:00"
    )


def test_moving_rows_out_of_the_default_partition_vacuums_it_and_analyzes_where_they_went(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AuditStore(postgres_engine)
    waiting = [_record_at(store, monkeypatch, _utc(2029, 6, day)) for day in (10, 11, 12)]
    report = partitions.ensure(postgres_engine, now=_utc(2030, 1, 15), ahead=1)
    assert report.moved == len(waiting)
    tidied = [partitions.DEFAULT_PARTITION, "audit_event_hours", "audit_event_days", *report.created]
    with postgres_engine.connect() as connection:
        stats = connection.execute(
            text(
                "SELECT relname, n_dead_tup, last_vacuum IS NOT NULL, last_analyze IS NOT NULL "
                "FROM pg_stat_user_tables WHERE relname = ANY(:names)"
            ),
            {"names": tidied},
        ).all()
    assert sorted(stats) == sorted((name, 0, True, True) for name in tidied)


def test_replicas_ensuring_at_once_create_each_partition_once(postgres_engine: Engine) -> None:
    reports = at_once(lambda: partitions.ensure(postgres_engine, now=_utc(2031, 6, 1), ahead=3), threads=3)
    assert sorted(len(r.created) for r in reports) == [0, 0, 4]


def test_init_creates_the_configured_periods_ahead(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIT_PARTITIONS_AHEAD", "6")
    analytics.init(database_url=postgres_engine.url.render_as_string(hide_password=False))
    try:
        with postgres_engine.begin() as connection:
            newest = max(p.end for p in partitions.partitions(connection) if p.end is not None)
        start = Interval.MONTH.start(datetime.now(UTC))
        for _ in range(7):
            start = Interval.MONTH.next(start)
        assert newest == start
    finally:
        analytics.shutdown()


def test_purge_drops_whole_partitions_and_deletes_the_rest(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_postgres = store.engine.dialect.name == "postgresql"
    partitions.ensure(store.engine, now=_utc(2026, 1, 1), ahead=3)
    early = [_record_at(store, monkeypatch, _utc(2026, 1, day)) for day in (10, 11)]
    monkeypatch.setattr("analytics.audit._now", lambda: _utc(2026, 1, 20))
    first = purge(store, _utc(2026, 1, 19), actor="ops", now=_utc(2026, 1, 20))
    assert first.entries == 2 and first.partitions == []
    dropped = [_record_at(store, monkeypatch, _utc(2026, 1, day)) for day in (25, 26)]
    deleted = _record_at(store, monkeypatch, _utc(2026, 2, 5))
    kept = [_record_at(store, monkeypatch, when) for when in (_utc(2026, 2, 25), _utc(2026, 3, 5))]
    monkeypatch.setattr("analytics.audit._now", lambda: _utc(2026, 3, 10))
    now = _utc(2026, 3, 10)
    dry = purge(store, _utc(2026, 2, 15), actor="ops", now=now, dry_run=True).summary()
    assert dry.startswith("would delete 3 entries and 3 delivery attempts recorded 2026-01-25")
    cutoff = "(cutoff 2026-02-15T00:00:00.000000+00:00"
    assert dry.endswith(
        f"{cutoff}; dropping whole partitions audit_entries_p20260101)" if on_postgres else f"{cutoff})"
    )
    report = purge(store, _utc(2026, 2, 15), actor="ops", now=now)

    assert (report.entries, report.attempts) == (3, 3)
    january = "audit_entries_p20260101"
    assert [p.name for p in report.partitions] == ([january] if on_postgres else [])
    assert report.partition_entries == (2 if on_postgres else 0)
    assert ("dropped whole partitions audit_entries_p20260101" in report.summary()) is on_postgres
    with store.engine.connect() as connection:
        remaining = list(connection.scalars(select(AuditEntry.message_id).order_by(AuditEntry.id)))
        message_ids = set(connection.scalars(select(AuditMessageId.message_id)))
        attempts = set(connection.scalars(select(DeliveryAttempt.message_id)))
        purge_records = connection.scalar(select(func.count()).where(AuditEntry.type == PURGE_TYPE))
    assert remaining == [first.message_id, *kept, report.message_id]
    assert message_ids == set(remaining) and attempts == set(kept)
    assert not set(early + dropped + [deleted]) & set(remaining) and purge_records == 2
    if on_postgres:
        # The first purge's record lived in January: it is kept, in a fresh January partition.
        assert _where(store.engine)[str(first.message_id)] == january
        assert january in _names(store.engine)
    result = verify(store.engine, KEY)
    assert result.ok, result.findings
    assert result.checkpoints == 2
    _assert_counts_match_entries(store.engine)


def test_purge_drops_empty_partitions_but_not_one_holding_only_purge_records(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0007 makes a partition for every month from the oldest entry to the newest, empty
    ones too; purge dropped only partitions holding entries to delete, so those stayed for ever."""
    store = AuditStore(postgres_engine)
    partitions.ensure(postgres_engine, now=_utc(2026, 1, 1), ahead=4)
    _record_at(store, monkeypatch, _utc(2026, 1, 10))
    monkeypatch.setattr("analytics.audit._now", lambda: _utc(2026, 1, 20))
    first = purge(store, _utc(2026, 1, 15), actor="ops", now=_utc(2026, 1, 20))
    _record_at(store, monkeypatch, _utc(2026, 3, 10))
    kept = _record_at(store, monkeypatch, _utc(2026, 4, 10))
    monkeypatch.setattr("analytics.audit._now", lambda: _utc(2026, 4, 20))
    report = purge(store, _utc(2026, 4, 1), actor="ops", now=_utc(2026, 4, 20))
    # January holds only the first purge's record; February is empty; March holds an entry.
    assert [p.name for p in report.partitions] == ["audit_entries_p20260201", "audit_entries_p20260301"]
    names = _names(postgres_engine)
    assert "audit_entries_p20260101" in names and "audit_entries_p20260201" not in names
    assert set(_where(postgres_engine)) == {first.message_id, kept, report.message_id}
    assert purge(store, _utc(2026, 4, 1), actor="ops", now=_utc(2026, 4, 20)).partitions == []
    assert verify(postgres_engine, KEY).ok


def test_partition_commands_say_sqlite_has_nothing_to_partition(runner: FlaskCliRunner) -> None:
    for command in ("ensure", "list"):
        result = runner.invoke(args=["audit", "partitions", command])
        assert result.exit_code == 0
        assert result.output == (
            "the audit log is one plain table on this database (SQLite): nothing to partition\n"
        )


def test_partition_commands_on_postgresql(postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp import create_app
    from webapp.extensions import db

    url = postgres_engine.url.render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    runner = app.test_cli_runner()
    try:
        bad = runner.invoke(args=["audit", "partitions", "ensure", "--ahead", "none"])
        assert bad.exit_code == 2
        assert bad.output == (
            "error: --ahead: 'none' is not a number of periods: use a whole number from 1 to 120\n"
        )
        _record_at(AuditStore(postgres_engine), monkeypatch, _utc(2040, 5, 1))
        waiting = runner.invoke(args=["audit", "partitions", "list"])
        assert waiting.exit_code == 0, waiting.output
        lines = waiting.output.splitlines()
        assert lines[-1] == (
            "audit_entries_default (default: rows no other partition covers), 1 row waiting for a partition"
        )
        assert len(lines) == 5 and all(line.startswith("audit_entries_p") for line in lines[:-1])
        created = runner.invoke(args=["audit", "partitions", "ensure", "--ahead", "5"])
        assert created.exit_code == 0, created.output
        assert created.output.startswith("created audit_entries_p")
        through = Interval.MONTH.start(datetime.now(UTC))
        for _ in range(6):
            through = Interval.MONTH.next(through)
        assert created.output.endswith(
            ", audit_entries_p20400501, moved 1 row out of audit_entries_default; "
            f"partitions reach {through.isoformat()}, none from there to 2040-05-01T00:00:00+00:00\n"
        )
        listed = runner.invoke(args=["audit", "partitions", "list"]).output.splitlines()
        assert listed[-1].endswith(", 0 rows waiting for a partition") and len(listed) == 8
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_purge_interrupted_between_partitions_stays_verifiable(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AuditStore(postgres_engine)
    partitions.ensure(postgres_engine, now=_utc(2025, 12, 1), ahead=3)
    for when in (_utc(2025, 12, 10), _utc(2026, 1, 10), _utc(2026, 2, 5)):
        _record_at(store, monkeypatch, when)
    kept = _record_at(store, monkeypatch, _utc(2026, 2, 25))
    now = _utc(2026, 2, 15) + timedelta(days=90)
    # The purge's own steps, stopped after the rows and the newest of its two partitions.
    planned = plan(store, now - timedelta(days=90))
    assert [p.name for p in planned.partitions] == ["audit_entries_p20251201", "audit_entries_p20260101"]
    purge_id = _record_purge(store, planned, timedelta(days=90), "ops", now)
    _write_checkpoints(store, planned.checkpoints, purge_id)
    assert _delete(store, planned.cutoff, 10, planned.partitions) == (1, 1)
    assert verify(postgres_engine, KEY).ok
    assert _drop(store, planned.partitions[1:]) == (1, 1)
    assert verify(postgres_engine, KEY).ok
    report = purge(store, now - timedelta(days=90), actor="ops", now=now)
    assert (report.entries, [p.name for p in report.partitions]) == (1, ["audit_entries_p20251201"])
    assert set(_where(postgres_engine)) == {kept, purge_id, report.message_id}
    assert verify(postgres_engine, KEY).ok


@pytest.fixture
def writer_url(postgres_engine: Engine) -> Iterator[str]:
    """The migrated database as an application's least-privilege role: rows, but no CREATE on the schema.

    The role is created for the test and dropped after it.
    """
    grants = [
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
    with temporary_role(postgres_engine, "ec_writer", grants) as url:
        yield url


def test_a_writer_without_ddl_rights_warns_and_still_records(
    postgres_engine: Engine, writer_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with postgres_engine.begin() as connection:
        newest = [p for p in partitions.partitions(connection) if p.start is not None][-1]
        connection.execute(text(f'ALTER TABLE audit_entries DETACH PARTITION "{newest.name}"'))
        connection.execute(text(f'DROP TABLE "{newest.name}"'))
    writer = create_audit_engine(writer_url)
    try:
        with caplog.at_level("WARNING", logger="analytics.partitions"):
            partitions.ensure_safely(writer, interval=Interval.MONTH, ahead=partitions.DEFAULT_AHEAD)
        assert "could not create audit partitions ahead (permission denied" in caplog.text
        assert "rows go to audit_entries_default until `event-catalog audit partitions ensure`" in caplog.text
        store = AuditStore(writer)
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        assert store.entry(message["messageId"]) is not None
        assert _names(postgres_engine).count(newest.name) == 0
    finally:
        writer.dispose()


def test_a_writer_without_ddl_rights_starts_quietly_when_every_partition_exists(
    postgres_engine: Engine, writer_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        analytics.init("key", database_url=writer_url)
        analytics.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
