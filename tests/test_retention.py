"""Retention: purging old entries in batches, recording the purge, keeping `verify` green."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, func, insert, select, text

from analytics.audit import PURGE_TYPE, AuditCheckpoint, AuditEntry, AuditStatus, AuditStore, DeliveryAttempt
from analytics.catalog import CATALOG
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.retention import _record_purge, _write_checkpoints, plan, purge

KEY = b"event-catalog"
NINETY_DAYS = timedelta(days=90)


def _record(store: AuditStore, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        store.record_outcome([message["messageId"]], AuditStatus.DELIVERED, http_status=200)
        ids.append(message["messageId"])
    return ids


def _message_ids(engine: Engine, *, purges: bool = False) -> list[str]:
    kind = AuditEntry.type == PURGE_TYPE if purges else AuditEntry.type != PURGE_TYPE
    with engine.connect() as connection:
        return list(connection.scalars(select(AuditEntry.message_id).where(kind).order_by(AuditEntry.id)))


def _after_everything() -> datetime:
    """A cutoff later than every entry recorded so far."""
    return datetime.now(UTC) + timedelta(days=1)


def _as_of(moment: datetime) -> datetime:
    """The `now` at which entries recorded before `moment` are exactly 90 days old."""
    return moment + NINETY_DAYS


def test_purge_deletes_old_entries_and_attempts_and_records_itself(store: AuditStore) -> None:
    old = _record(store, 5)
    boundary = datetime.now(UTC)
    kept = _record(store, 3)
    report = purge(store, boundary, period=NINETY_DAYS, actor="cli:ops", now=_as_of(boundary), batch=2)
    assert (report.entries, report.attempts) == (5, 5)
    assert _message_ids(store.engine) == kept
    with store.engine.connect() as connection:
        attempts = connection.scalar(select(func.count()).select_from(DeliveryAttempt))
        remaining_old = connection.scalar(
            select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(old))
        )
    assert (attempts, remaining_old) == (3, 0)
    [purge_id] = _message_ids(store.engine, purges=True)
    assert purge_id == report.message_id
    entry = store.entry(purge_id)
    assert entry is not None
    assert (entry.type, entry.source, entry.status, entry.actor, entry.event) == (
        "purge",
        "retention",
        "recorded",
        "cli:ops",
        None,
    )
    assert entry.payload["deleted"]["entries"] == 5 and entry.payload["deleted"]["attempts"] == 5
    assert entry.payload["olderThan"] == "90d" and entry.payload["actor"] == "cli:ops"
    assert entry.payload["deleted"]["recordedFrom"] <= entry.payload["deleted"]["recordedTo"]
    assert report.summary().startswith("deleted 5 entries and 5 delivery attempts recorded ")


def test_the_purge_record_states_its_cutoff_and_range_to_the_microsecond(store: AuditStore) -> None:
    """The record said cutoff 07:06:52 while entries of 07:06:52.675 to .921 were gone: it was in seconds."""
    _record(store, 1)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET recorded_at = '2020-01-01 07:06:52.675123'"))
    cutoff = datetime(2020, 1, 1, 7, 6, 52, 675124, tzinfo=UTC)
    report = purge(store, cutoff, actor="ops")
    assert _message_ids(store.engine) == [] and report.message_id is not None
    entry = store.entry(report.message_id)
    assert entry is not None
    assert entry.payload["cutoff"] == "2020-01-01T07:06:52.675124+00:00"
    assert entry.payload["deleted"]["recordedFrom"] == "2020-01-01T07:06:52.675123+00:00"
    assert entry.payload["deleted"]["recordedTo"] == "2020-01-01T07:06:52.675123+00:00"
    assert "recorded 2020-01-01T07:06:52.675123+00:00 to 2020-01-01T07:06:52.675123+00:00" in report.summary()
    nothing = purge(store, cutoff, actor="ops", dry_run=True).summary()
    assert nothing == "nothing recorded before 2020-01-01T07:06:52.675124+00:00"


def test_purge_keeps_verify_green_through_a_checkpoint(store: AuditStore) -> None:
    _record(store, 4)
    boundary = datetime.now(UTC)
    kept = _record(store, 2)
    report = purge(store, boundary, actor="ops")
    assert [(c.seq) for c in report.checkpoints] == [4]
    result = verify(store.engine, KEY)
    assert result.ok, result.findings
    assert result.checkpoints == 1 and result.entries == 3
    assert result.summary() == (
        "verified 3 entries in 1 writer chain; 1 gap left by a purge, vouched for by its checkpoint"
    )
    first_kept = store.entry(kept[0])
    assert first_kept is not None and first_kept.seq == 5


def test_a_deletion_after_a_purge_is_still_caught(store: AuditStore) -> None:
    _record(store, 3)
    boundary = datetime.now(UTC)
    kept = _record(store, 3)
    purge(store, boundary, actor="ops")
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE message_id = :m"), {"m": kept[1]})
    assert [(f.kind, f.message_ids) for f in verify(store.engine, KEY).findings] == [
        ("gap", (kept[0], kept[2]))
    ]


def test_a_forged_checkpoint_does_not_cover_a_deletion(store: AuditStore) -> None:
    _record(store, 3)
    purge(store, _after_everything(), actor="ops")
    [purge_id] = _message_ids(store.engine, purges=True)
    record = store.entry(purge_id)
    assert record is not None and record.seq == 4  # the same writer's chain, after the purged three
    assert verify(store.engine, KEY).ok
    # Replace the genuine checkpoint by one right in every field but its keyed hash.
    forged = {
        "writer_id": record.writer_id,
        "seq": 3,
        "entry_hash": record.prev_hash,
        "purge_message_id": purge_id,
        "created_at": datetime.now(UTC),
        "checkpoint_hash": "f" * 64,
    }
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_checkpoints"))
        connection.execute(insert(AuditCheckpoint), [forged])
    assert [(f.kind, f.message_ids) for f in verify(store.engine, KEY).findings] == [("gap", (purge_id,))]


def test_an_interrupted_purge_stays_verifiable_and_a_rerun_finishes_it(store: AuditStore) -> None:
    _record(store, 6)
    boundary = datetime.now(UTC)
    kept = _record(store, 2)
    now = _as_of(boundary)
    # The purge's own steps, stopped after its first batch of two.
    planned = plan(store, now - NINETY_DAYS)
    purge_id = _record_purge(store, planned, NINETY_DAYS, "ops", now)
    _write_checkpoints(store, planned.checkpoints, purge_id)
    with store.engine.begin() as connection:
        newest_old = connection.scalars(
            select(AuditEntry.id)
            .where(AuditEntry.recorded_at < boundary, AuditEntry.type != PURGE_TYPE)
            .order_by(AuditEntry.recorded_at.desc())
            .limit(2)
        ).all()
        connection.execute(AuditEntry.__table__.delete().where(AuditEntry.id.in_(newest_old)))
    assert verify(store.engine, KEY).ok
    interrupted = store.entry(purge_id)
    assert interrupted is not None and interrupted.status == "pending"
    report = purge(store, boundary, actor="ops", now=now)
    assert report.entries == 4
    assert _message_ids(store.engine) == kept
    assert verify(store.engine, KEY).ok


def test_purge_records_survive_later_purges(store: AuditStore) -> None:
    _record(store, 2)
    first = purge(store, _after_everything(), actor="ops")
    _record(store, 2)
    second = purge(store, _after_everything(), actor="ops")
    assert second.entries == 2
    assert _message_ids(store.engine, purges=True) == [first.message_id, second.message_id]
    assert _message_ids(store.engine) == []
    assert verify(store.engine, KEY).ok


def test_purge_across_interleaved_writers_keeps_every_chain_verifiable(engine: Engine) -> None:
    host_a, host_b = AuditStore(engine), AuditStore(engine)
    for _ in range(3):
        _record(host_a, 1)
        _record(host_b, 1)
    boundary = datetime.now(UTC)
    for _ in range(2):
        _record(host_a, 1)
        _record(host_b, 1)
    report = purge(AuditStore(engine), boundary, actor="ops")
    assert report.entries == 6 and len(report.checkpoints) == 2
    result = verify(engine, KEY)
    assert result.ok and result.checkpoints == 2
    assert result.summary().endswith("; 2 gaps left by purges, each vouched for by its checkpoint")


def test_a_writer_that_keeps_writing_through_purges_stays_verifiable(store: AuditStore) -> None:
    # One long-lived process: its chain holds its own purge records between purged entries.
    _record(store, 2)
    purge(store, _after_everything(), actor="ops")
    _record(store, 2)
    purge(store, _after_everything(), actor="ops")
    _record(store, 1)
    result = verify(store.engine, KEY)
    assert result.ok, result.findings


def test_nothing_old_enough_records_nothing(store: AuditStore) -> None:
    _record(store, 2)
    report = purge(store, datetime.now(UTC) - NINETY_DAYS, actor="ops")
    assert report.entries == 0 and report.message_id is None
    assert report.summary().startswith("nothing recorded before ")
    assert _message_ids(store.engine, purges=True) == []


def test_dry_run_counts_and_deletes_nothing(store: AuditStore) -> None:
    ids = _record(store, 3)
    report = purge(store, _after_everything(), actor="ops", dry_run=True)
    assert report.entries == 3 and report.summary().startswith("would delete 3 entries")
    assert _message_ids(store.engine) == ids
    assert _message_ids(store.engine, purges=True) == []


def test_purge_command_deletes_and_reports(runner: FlaskCliRunner, app: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        _record(store, 2)
        with store.engine.begin() as connection:
            # Make them old: the purge deletes by recorded time.
            connection.execute(text("UPDATE audit_entries SET recorded_at = '2020-01-01 00:00:00'"))
    dry = runner.invoke(args=["audit", "purge", "--older-than", "90d", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith("would delete 2 entries and 2 delivery attempts")
    result = runner.invoke(args=["audit", "purge", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "deleted 2 entries and 2 delivery attempts recorded 2020-01-01T00:00:00.000000+00:00"
    )
    with app.app_context():
        purge_entry = analytics_client.store().entry(_message_ids(store.engine, purges=True)[0])
    assert purge_entry is not None and purge_entry.actor is not None and purge_entry.actor.startswith("cli:")


def test_purge_command_asks_for_yes_before_keeping_less_than_a_day(runner: FlaskCliRunner, app: Any) -> None:
    """`1m` is one minute, not a month: without --yes it would delete the whole log but its last minute."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = _record(store, 1)
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE audit_entries SET recorded_at = '2020-01-01 00:00:00'"))
    refused = runner.invoke(args=["audit", "purge", "--older-than", "1m"])
    assert refused.exit_code == 2
    assert refused.output == (
        "error: --older-than: '1m' keeps less than a day of the log (m is minutes, d days, w weeks): "
        "see what it would delete with --dry-run, and pass --yes if you mean it\n"
    )
    assert _message_ids(store.engine) == ids
    dry = runner.invoke(args=["audit", "purge", "--older-than", "23h", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith(
        "would delete 1 entry and 1 delivery attempt recorded "
    )
    confirmed = runner.invoke(args=["audit", "purge", "--older-than", "1m", "--yes"])
    assert confirmed.exit_code == 0 and confirmed.output.startswith("deleted 1 entry and 1 delivery attempt ")
    assert _message_ids(store.engine) == []


def test_purge_command_refuses_a_bad_duration_in_one_line(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "purge", "--older-than", "ninety days"])
    assert result.exit_code == 2
    assert result.output == (
        "error: --older-than: 'ninety days' is not a duration: use a positive number and a unit, "
        "like 15m, 24h, 30d or 2w\n"
    )
    missing = runner.invoke(args=["audit", "purge"])
    assert missing.exit_code == 2 and missing.output == (
        "error: give --older-than (a retention period like 90d) or --before (a time like 2026-03-01T14:00)\n"
    )


def test_purge_command_before_a_dry_runs_cutoff_deletes_what_the_dry_run_counted(
    runner: FlaskCliRunner, app: Any
) -> None:
    """A dry run said neither its cutoff nor how to reuse it, and --older-than run a few seconds later
    deleted 55 more entries: `--before` takes the cutoff the dry run prints."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        counted_id, later_id = _record(store, 2)
    dry = runner.invoke(args=["audit", "purge", "--older-than", "2d", "--dry-run"])
    assert dry.exit_code == 0 and dry.output.startswith("nothing recorded before ")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET recorded_at = '2020-01-01 00:00:00'"))
    dry = runner.invoke(args=["audit", "purge", "--older-than", "2d", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    summary, again = dry.output.splitlines()
    assert summary.startswith("would delete 2 entries and 2 delivery attempts recorded ")
    cutoff = summary.rsplit("(cutoff ", 1)[1].rstrip(")")
    assert again == f"to delete what this counted: event-catalog audit purge --before {cutoff}"
    # Recorded a microsecond after the dry run's cutoff: a later --older-than 2d would take it.
    with store.engine.begin() as connection:
        after_cutoff = datetime.fromisoformat(cutoff) + timedelta(microseconds=1)
        connection.execute(
            text("UPDATE audit_entries SET recorded_at = :t WHERE message_id = :m"),
            {"t": after_cutoff.replace(tzinfo=None), "m": later_id},
        )
    result = runner.invoke(args=["audit", "purge", "--before", cutoff])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted 1 entry and 1 delivery attempt recorded ")
    assert f"(cutoff {cutoff}); recorded as " in result.output
    assert _message_ids(store.engine) == [later_id]
    [purge_id] = _message_ids(store.engine, purges=True)
    with app.app_context():
        record = analytics_client.store().entry(purge_id)
    assert record is not None and record.payload["cutoff"] == cutoff and "olderThan" not in record.payload
    assert counted_id not in _message_ids(store.engine)


def test_purge_command_before_asks_for_yes_and_refuses_both_options(runner: FlaskCliRunner, app: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        ids = _record(analytics_client.store(), 1)
        engine = analytics_client.store().engine
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET recorded_at = :t"), {"t": two_hours_ago})
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = runner.invoke(args=["audit", "purge", "--before", an_hour_ago])
    assert refused.exit_code == 2
    assert refused.output == (
        f"error: --before: {an_hour_ago!r} keeps less than a day of the log: "
        "see what it would delete with --dry-run, and pass --yes if you mean it\n"
    )
    # The dry run is not refused, but says that the real run needs --yes, and how to give it.
    dry = runner.invoke(args=["audit", "purge", "--before", an_hour_ago, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    summary, again = dry.output.splitlines()
    cutoff = summary.rsplit("(cutoff ", 1)[1].rstrip(")")
    assert again == (
        "to delete what this counted, keeping less than a day of the log (so --yes): "
        f"event-catalog audit purge --before {cutoff} --yes"
    )
    assert _message_ids(engine) == ids
    both = runner.invoke(args=["audit", "purge", "--before", an_hour_ago, "--older-than", "90d"])
    assert both.exit_code == 2
    assert both.output == "error: --older-than and --before: give one of them, not both\n"
    bad = runner.invoke(args=["audit", "purge", "--before", "yesterday"])
    assert bad.exit_code == 2 and bad.output.startswith("error: --before: 'yesterday' is not a time: ")
    assert _message_ids(engine) == ids
