"""Migration 0022's index builds on PostgreSQL: application hosts keep writing while they run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import Result
from flask.testing import FlaskCliRunner
from pg_activity import someone_waits_for_a_lock
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from analytics import partitions
from analytics.audit import AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp import create_app
from webapp.extensions import db
from webapp.index_builds import partition_index_name

BEFORE = "0021_audit_erasures"
ENTRIES = "ix_audit_entries_http_status_recorded_at"
ATTEMPTS = "ix_delivery_attempts_outcome_attempted_at"

# Locks an INSERT or UPDATE of the table waits behind (everything from SHARE up).
_BLOCKING = (
    "SELECT l.relation::regclass::text, l.mode FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE a.datname = current_database() AND l.granted AND l.locktype = 'relation' "
    "AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock') "
    "AND (l.relation::regclass::text LIKE 'audit_entries%' OR l.relation = 'delivery_attempts'::regclass)"
)


@pytest.fixture
def runner(empty_postgres_url: str) -> Iterator[FlaskCliRunner]:
    """The dashboard's commands on a PostgreSQL database migrated up to the revision before 0022."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_postgres_url, "TESTING": True})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", BEFORE]).exit_code == 0
    yield runner
    with app.app_context():
        db.engine.dispose()


def _write(store: AuditStore) -> None:
    """What an application host writes for one message: its entry, then its delivery's outcome (an
    attempt, and the entry updated)."""
    message = build_message(CATALOG.event("ProjectCreate").example_spec())
    store.record(message, status=AuditStatus.PENDING, source="application")
    store.record_outcome([message["messageId"]], AuditStatus.DELIVERED, http_status=200)


def _current_partition() -> str:
    return partitions.partition_name(partitions.Interval.MONTH.start(datetime.now(UTC)))


def _assert_built(connection: Connection) -> None:
    """Both indexes valid, and every partition of the log with a valid copy attached to the parent's."""
    valid = dict(
        connection.execute(
            text(
                "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
                "WHERE indexrelid IN (to_regclass(:entries), to_regclass(:attempts))"
            ),
            {"entries": ENTRIES, "attempts": ATTEMPTS},
        ).all()
    )
    assert valid == {ENTRIES: True, ATTEMPTS: True}
    attached = dict(
        connection.execute(
            text(
                "SELECT x.indrelid::regclass::text, x.indisvalid FROM pg_inherits i "
                "JOIN pg_index x ON x.indexrelid = i.inhrelid WHERE i.inhparent = to_regclass(:parent)"
            ),
            {"parent": ENTRIES},
        ).all()
    )
    assert attached == {partition.name: True for partition in partitions.partitions(connection)}


@pytest.mark.parametrize("held", ["delivery_attempts", "partition", "audit_entries"])
def test_migration_0022_builds_its_indexes_while_hosts_write_both_tables(
    empty_postgres_url: str, runner: FlaskCliRunner, held: str
) -> None:
    """A plain CREATE INDEX holds a SHARE lock that every write of the table waited behind until the
    upgrade committed; the library's writers gave up after their 3 s lock timeout. A write transaction
    in progress (on the attempts, on the partition writes go to, on the log) holds the builds up: while
    they wait for it, the migration holds no lock a write waits for, and a host records a message and
    its outcome (library engine, its own lock timeout)."""
    engine = create_audit_engine(empty_postgres_url)
    store = AuditStore(engine)
    _write(store)
    table = _current_partition() if held == "partition" else held
    holder = engine.connect()
    transaction = holder.begin()
    # The lock every INSERT or UPDATE of the table takes, held as a host's write in progress holds it.
    holder.execute(text(f'LOCK TABLE "{table}" IN ROW EXCLUSIVE MODE'))
    results: list[Result] = []
    finished = threading.Event()

    def upgrade() -> None:
        results.append(runner.invoke(args=["db", "upgrade"]))
        finished.set()

    migration = threading.Thread(target=upgrade)
    migration.start()
    try:
        for _ in range(600):
            if finished.is_set() or someone_waits_for_a_lock(engine):
                break
            finished.wait(0.05)
        assert not finished.is_set(), results[0].output
        with engine.connect() as connection:
            assert connection.execute(text(_BLOCKING)).all() == []
        _write(store)
    finally:
        transaction.rollback()
        holder.close()
        migration.join(timeout=120)
    [result] = results
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        _assert_built(connection)
        assert connection.scalar(text("SELECT count(*) FROM delivery_attempts")) == 2
    engine.dispose()


def test_migration_0022_run_again_rebuilds_what_an_interrupted_build_left(
    empty_postgres_url: str, runner: FlaskCliRunner
) -> None:
    """An interrupted `CREATE INDEX CONCURRENTLY` leaves an invalid index under the name the next run
    looks for, and the parent's index unattached: `IF NOT EXISTS` alone would keep the broken one.
    The run again drops it, builds it, attaches it; and the downgrade drops both indexes."""
    engine = create_audit_engine(empty_postgres_url)
    store = AuditStore(engine)
    _write(store)
    _write(store)
    partition = _current_partition()
    child = partition_index_name(partition, ["http_status", "recorded_at"])
    with engine.connect() as connection:
        connection.execute(
            text(
                f'CREATE INDEX "{ENTRIES}" ON ONLY audit_entries (http_status, recorded_at) '
                "WHERE http_status IS NOT NULL"
            )
        )
        connection.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # A concurrent build that fails part-way (here on its unique check) leaves its index invalid.
        with pytest.raises(IntegrityError, match="could not create unique index"):
            connection.execute(text(f'CREATE UNIQUE INDEX CONCURRENTLY "{child}" ON "{partition}" ((1))'))
        assert (
            connection.scalar(text(f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{child}'::regclass"))
            is False
        )
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        _assert_built(connection)
        definition = connection.scalar(text("SELECT pg_get_indexdef(to_regclass(:i))"), {"i": child})
        assert definition.endswith("(http_status, recorded_at) WHERE (http_status IS NOT NULL)")
    # Through 0025, whose downgrade deletes the change times: asked for --yes.
    downgrade = runner.invoke(args=["db", "downgrade", "0021_audit_erasures", "--yes"])
    assert downgrade.exit_code == 0, downgrade.output
    with engine.connect() as connection:
        left = connection.scalars(
            text(
                "SELECT relname FROM pg_class WHERE relname LIKE '%http_status_recorded_at%' "
                "OR relname = :attempts"
            ),
            {"attempts": ATTEMPTS},
        ).all()
        assert left == []
    engine.dispose()
