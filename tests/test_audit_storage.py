"""The audit store and its migrations, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
import signal
import threading
import warnings
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, insert, select, text

from analytics.audit import (
    SCHEMA_REVISION,
    WRITABLE_REVISIONS,
    AuditEntry,
    AuditMessageId,
    AuditStatus,
    AuditStore,
    Base,
    create_audit_engine,
    insert_rows,
    mask_value,
    oldest_writer,
    revision_number,
)
from analytics.catalog import CATALOG
from analytics.errors import SchemaError
from analytics.messages import build_message
from analytics.partitions import include_name
from analytics.queries import AuditFilter, identify_call, newest_first
from analytics.tracks import UserCreate


def _message(constant: str = "ClusterProvisioningSuccess") -> dict:  # type: ignore[type-arg]
    return build_message(CATALOG.event(constant).example_spec())


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLite's reflection cannot read an index on an expression, so neither SQLAlchemy nor
        # Alembic compares the identify index there (they say so); PostgreSQL compares it, and
        # `test_identify_calls_are_found_through_their_index` checks it on both.
        warnings.filterwarnings("ignore", message=r".*expression-based index.*identify_spec")
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_identify_calls_are_found_through_their_index(engine: Engine) -> None:
    """A call's page and its audit search read one range of the partial identify index, not every
    identify entry's JSON."""
    since = datetime(2026, 11, 1, tzinfo=UTC)
    queries = [
        newest_first(AuditFilter(identify_spec="LoginIdentify"), limit=51),
        select(func.count()).where(identify_call("LoginIdentify"), AuditEntry.recorded_at >= since),
    ]
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table is cheapest read whole; what matters is that the index can serve.
            connection.exec_driver_sql("SET enable_seqscan = off")
        for query in queries:
            literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
            plan = [str(row) for row in connection.exec_driver_sql(f"{explain} {literal}")]
            # PostgreSQL names each partition's copy of the index itself: the spec must be its condition.
            used = [
                row
                for row in plan
                if "identify_spec_recorded_at" in row or ("Index Cond" in row and "->> 'spec'" in row)
            ]
            assert used, plan


def test_migrations_head_is_the_revision_the_library_expects(engine: Engine) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from webapp import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]
    AuditStore(engine).check_schema()


def test_check_schema_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    engine = create_audit_engine(empty_database_url)
    try:
        with pytest.raises(SchemaError, match=r"has no schema: run `event-catalog db upgrade`") as refused:
            AuditStore(engine).check_schema()
    finally:
        engine.dispose()
    # Named as `DATABASE_URL` names it: without the driver this library picks, or a password.
    backend = empty_database_url.split(":", 1)[0].split("+")[0]
    assert f"the audit database {backend}://" in str(refused.value) and "+psycopg" not in str(refused.value)


def test_check_schema_refuses_a_database_at_another_revision(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    with pytest.raises(SchemaError, match="is at schema revision 0000_older, this library needs"):
        AuditStore(engine).check_schema()


def _at_revision(engine: Engine, revision: str, oldest: str | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        if oldest is None:
            connection.execute(text("DELETE FROM audit_writer_compatibility"))
        else:
            connection.execute(
                text("UPDATE audit_writer_compatibility SET oldest_writer = :o"), {"o": oldest}
            )


@pytest.mark.parametrize("revision", sorted(WRITABLE_REVISIONS))
def test_the_library_writes_the_older_revisions_it_declares(engine: Engine, revision: str) -> None:
    """Upgrading an application host before its database: the tables it writes are the same."""
    _at_revision(engine, revision)
    store = AuditStore(engine)
    store.check_schema()
    message = _message()
    store.record(message, status=AuditStatus.PENDING, source="application")
    assert store.entry(message["messageId"]) is not None


def test_a_later_database_is_written_while_it_names_this_library_as_a_writer(engine: Engine) -> None:
    """Upgrading the database (and the dashboard) before the application hosts."""
    _at_revision(engine, "9999_future", oldest=SCHEMA_REVISION)
    AuditStore(engine).check_schema()
    _at_revision(engine, "9999_future", oldest="9999_future")
    with pytest.raises(
        SchemaError, match=r"at schema revision 9999_future, which this library .* cannot write"
    ):
        AuditStore(engine).check_schema()
    _at_revision(engine, "9999_future", oldest=None)
    with pytest.raises(
        SchemaError, match="upgrade the application's event-catalog to the dashboard's version"
    ):
        AuditStore(engine).check_schema()


def test_the_migrations_record_the_oldest_revision_the_library_writes(engine: Engine) -> None:
    """A migration that moves `oldest_writer` must shrink `WRITABLE_REVISIONS` too, and back."""
    assert oldest_writer(engine) == min(WRITABLE_REVISIONS, key=lambda r: revision_number(r) or 0)
    assert SCHEMA_REVISION in WRITABLE_REVISIONS


def test_record_keeps_the_filter_columns_and_the_whole_message(store: AuditStore) -> None:
    message = _message()
    store.record(message, status=AuditStatus.PENDING, source="application")
    entry = store.entry(message["messageId"])
    assert entry is not None
    assert (entry.type, entry.event, entry.user_id, entry.project_id, entry.cluster_id) == (
        "track",
        "Cluster Provisioning Success",
        "1",
        12,
        4,
    )
    assert (entry.status, entry.source, entry.catalog_version) == ("pending", "application", CATALOG.version)
    assert entry.payload == message


def test_an_id_beyond_64_bits_is_kept_in_the_payload_not_in_the_filter_column(store: AuditStore) -> None:
    """A hand-built message's huge id must not make the database refuse the entry (and its batch)."""
    message = _message()
    message["properties"] = {**message["properties"], "proj_id": 10**23, "cluster_id": -(2**63) - 1}
    store.record(message, status=AuditStatus.PENDING, source="application")
    entry = store.entry(message["messageId"])
    assert entry is not None
    assert (entry.project_id, entry.cluster_id) == (None, None)
    assert entry.payload["properties"]["proj_id"] == 10**23


def test_message_id_is_unique(store: AuditStore) -> None:
    from sqlalchemy.exc import IntegrityError

    message = _message()
    store.record(message, status=AuditStatus.PENDING, source="application")
    with pytest.raises(IntegrityError):
        store.record(message, status=AuditStatus.PENDING, source="replay")


def test_outcomes_move_the_status_and_add_attempts(store: AuditStore) -> None:
    message = _message()
    store.record(message, status=AuditStatus.PENDING, source="application")
    store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=500, error="boom")
    failed = store.entry(message["messageId"])
    assert failed is not None and (failed.status, failed.http_status, failed.error) == ("failed", 500, "boom")
    store.record_outcome([message["messageId"]], AuditStatus.DELIVERED, http_status=200, latency_ms=12.5)
    store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=503, error="late")
    entry = store.entry(message["messageId"])
    assert entry is not None and (entry.status, entry.http_status, entry.error) == ("delivered", 200, None)
    attempts = store.attempts(message["messageId"])
    assert [(a.outcome, a.http_status) for a in attempts] == [
        ("failed", 500),
        ("delivered", 200),
        ("failed", 503),
    ]
    assert attempts[1].latency_ms == 12.5


def test_personal_data_is_masked_by_default_and_kept_when_configured(engine: Engine) -> None:
    spec = CATALOG.event("New User").example_spec()
    masked, clear = build_message(spec), build_message(spec)
    AuditStore(engine).record(
        masked, status=AuditStatus.PENDING, source="application", personal_data_keys={"email"}
    )
    AuditStore(engine, mask_personal_data=False).record(
        clear, status=AuditStatus.PENDING, source="application", personal_data_keys={"email"}
    )
    masked_entry, clear_entry = (
        AuditStore(engine).entry(masked["messageId"]),
        AuditStore(engine).entry(clear["messageId"]),
    )
    assert masked_entry is not None and clear_entry is not None
    assert masked_entry.payload["properties"]["email"] == mask_value("ada@example.com", b"event-catalog")
    assert "ada@example.com" not in str(masked_entry.payload)
    assert clear_entry.payload["properties"]["email"] == "ada@example.com"
    assert UserCreate.personal_data_keys() == {"email"}


def test_mask_is_keyed_and_deterministic() -> None:
    assert mask_value("a@b.c", b"k1") == mask_value("a@b.c", b"k1")
    assert mask_value("a@b.c", b"k1") != mask_value("a@b.c", b"k2")
    assert mask_value("a@b.c", b"k1").startswith("masked:")


def test_concurrent_upgrades_at_start_do_not_race(empty_database_url: str) -> None:
    """Replicas starting at once: a lock serialises them (PostgreSQL advisory lock, SQLite lock file)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).parent / "event-catalog"), "db", "upgrade"]
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    starts = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)
    ]
    results = [(process.wait(timeout=60), process.communicate()[1].decode()) for process in starts]
    assert [code for code, _ in results] == [0, 0, 0], results
    engine = create_audit_engine(empty_database_url)
    try:
        AuditStore(engine).check_schema()
    finally:
        engine.dispose()


def test_a_batch_insert_stores_exactly_what_an_orm_insert_stores(engine: Engine) -> None:
    """`insert_rows` (multi-row VALUES on SQLite) and SQLAlchemy's insert leave the same row."""
    now = datetime(2026, 11, 23, 18, 4, 5, 123456, tzinfo=UTC)
    payload = {"a": 1.1000000000000001, "b": 1e16, "c": 'é\u2028"x"', "d": None, "e": [1, {"f": True}]}
    row = {
        "recorded_at": now,
        "timestamp": now,
        "status_changed_at": now,
        "type": "track",
        "event": "Project Create",
        "user_id": "7",
        "project_id": 12,
        "cluster_id": None,
        "status": "pending",
        "source": "application",
        "actor": "ada@example.com",
        "destination": None,
        "catalog_version": "v1",
        "http_status": None,
        "error": None,
        "payload": payload,
        "encrypted_personal_data": None,
        "prev_hash": "0" * 64,
        "entry_hash": "1" * 64,
    }
    with engine.begin() as connection:
        connection.execute(insert(AuditEntry), [{**row, "message_id": "orm", "writer_id": "w", "seq": 1}])
        insert_rows(connection, AuditEntry, [{**row, "message_id": "batch", "writer_id": "w", "seq": 2}])
        stored = {
            found.message_id: found._mapping
            for found in connection.execute(text("SELECT * FROM audit_entries"))
        }
    differing = {"id", "message_id", "seq"}
    orm = {k: v for k, v in stored["orm"].items() if k not in differing}
    batch = {k: v for k, v in stored["batch"].items() if k not in differing}
    assert batch == orm


def test_a_batch_beyond_one_statements_bound_values_is_inserted_whole(engine: Engine) -> None:
    """More rows than SQLite binds in one statement go in several statements, none lost or doubled."""
    count = 40_000  # over SQLite's 32,766 values per statement, and many chunks of rows
    rows = [{"message_id": f"m{n}"} for n in range(count)]
    with engine.begin() as connection:
        insert_rows(connection, AuditMessageId, rows)
        stored = connection.execute(
            text("SELECT count(*), count(DISTINCT message_id) FROM audit_message_ids")
        ).one()
    assert tuple(stored) == (count, count)


def test_a_forked_child_does_not_inherit_a_held_sqlite_write_lock(sqlite_store: AuditStore) -> None:
    # A thread of the parent (say, the audit writer mid-batch) holds the process's write lock to
    # the file at the moment of the fork; no thread of the child will ever release that copy.
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sqlite_store.transaction():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        signal.alarm(5)  # a child stuck on the inherited lock dies of SIGALRM
        with sqlite_store.transaction():
            pass
        os._exit(0)
    release.set()
    holder.join(10)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_new_connection_keeps_the_locks_of_those_already_open(
    sqlite_url: str, sqlite_store: AuditStore
) -> None:
    """Checking a SQLite file by opening it in Python dropped this process's locks on it (closing any
    descriptor of a file drops them all): another process's SQLite then took itself for the last
    user, checkpointed and deleted the WAL under the dashboard's open connections, which answered
    "database disk image is malformed" until a restart."""
    import subprocess
    import sys
    from pathlib import Path

    path = Path(sqlite_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    with sqlite_store.engine.connect() as held:
        assert held.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 0
        assert wal.exists()
        second = create_audit_engine(sqlite_url)
        with second.connect() as connection:
            connection.execute(text("SELECT 1"))
        # Another process opens and closes the database: as the last user it would remove the WAL.
        other = (
            f"import sqlite3; c = sqlite3.connect({str(path)!r}); "
            "c.execute('SELECT count(*) FROM audit_entries').fetchall(); c.close()"
        )
        subprocess.run([sys.executable, "-c", other], check=True)
        assert wal.exists(), "another process deleted the WAL this one still uses"
        assert held.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 0
        second.dispose()
