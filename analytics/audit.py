"""The audit log: every track and identify message, written before it leaves the process.

The tables are plain SQLAlchemy 2.0 models on one declarative `Base`, which the dashboard's
Flask-SQLAlchemy wraps too, so the library and the dashboard share one set of models and one
migration history (`webapp/migrations/`). SQLite (WAL) serves one host; several hosts share PostgreSQL
through `DATABASE_URL`, where `audit_entries` is partitioned by time (`analytics.partitions`) and
message ids are kept unique by `audit_message_ids`.

A message's entry is written `pending` (`disabled` without a write key); its delivery outcome moves
it to `delivered`, `failed` or `dropped` (refused before sending: a full queue, over 32 KB), and a
replay moves an undelivered one back to `pending` (`analytics.replay`). Each outcome is also kept as
a `DeliveryAttempt`, so an entry shows its whole history. `CatalogVersion` keeps the schema bundle of
every catalog version a process has run with, so that what a release changed can be shown long
after the code moved on (`analytics.versions`). Entries of type `action` (`analytics.actions`)
record what a person did — a sign-in failure, a role change — and the log's own actions (a retention
purge, `analytics.retention`) end `recorded`: they are never sent anywhere.

Every entry is also a link in its writer's hash chain (`analytics.chain`), which
`analytics.integrity` checks; the log's own actions (a retention purge) are entries too, with a type
and source of their own, so that nothing happens to the log without leaving a trace in it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    inspect,
    literal,
    literal_column,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, Session, mapped_column, registry
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from analytics.chain import DEFAULT_MAX_WRITERS, WriterPool
from analytics.errors import SchemaError
from analytics.interrupted_pings import let_interrupted_pings_stop
from analytics.personal_data import (
    CONTEXT_SECTION,
    PersonalDataCipher,
    mask_paths,
    masked_originals,
    personal_section,
)
from analytics.personal_data import mask_value as mask_value
from analytics.sql_functions import bound_strings, dialect_function
from analytics.utc_sessions import pin_utc_sessions

log = logging.getLogger(__name__)

SCHEMA_REVISION = "0025_audit_changes"
"""The Alembic revision these models match: where `event-catalog db upgrade` brings a database, and
the only one the dashboard serves from."""

WRITABLE_REVISIONS = frozenset(
    {
        "0009_tester_request_digest",
        "0010_destination_index",
        "0011_writer_compatibility",
        "0012_api_tokens",
        "0013_password_reset_nonce",
        "0014_event_count_reads",
        "0015_identify_spec_index",
        "0016_ended_sessions",
        "0017_api_token_expiry",
        "0018_scope_preset_ids",
        "0019_scope_preset_autoincrement",
        "0020_scope_preset_name_key",
        "0021_audit_erasures",
        "0022_http_status_index",
        "0023_replay_attempts_index",
        "0024_event_days_event_index",
        SCHEMA_REVISION,
    }
)
"""The revisions whose tables this library writes exactly as its own, so that an application host
may be upgraded before its database: 0010 only added an index, 0011 a table the library reads and
0012 one it never touches (the dashboard's API tokens), 0013 a column of that kind (`users`), 0014
and 0015 indexes, 0016 another table it never touches (ended sessions), 0017 a column of the API
tokens' table (their expiry), 0018 the columns of another (the tester's presets' ids), 0019 the
way SQLite numbers that table's rows, 0020 a column of that table (its names' compared form), 0021
a table only `audit erase` writes (erasures of personal data), 0022 two indexes (HTTP statuses,
failed attempts), 0023 another (replays' attempts), 0024 another (the daily counts by event), 0025 a
column the database's triggers keep (`changed_at`, which the library never reads or writes). Its
oldest member is the `oldest_writer` migration 0011 records (a test holds them together)."""

# Stable constraint names, so that Alembic's autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for large logs.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def partial_index(
    name: str,
    *columns: str | ColumnElement[Any] | InstrumentedAttribute[Any],
    where: str,
    unique: bool = False,
) -> Index:
    """An index of only the rows `where` holds for, on SQLite and PostgreSQL alike: each dialect reads
    its own `*_where` argument, and an index given one of them indexes every row on the other."""
    condition = text(where)
    return Index(name, *columns, unique=unique, sqlite_where=condition, postgresql_where=condition)


class Base(DeclarativeBase):
    """Declarative base shared by the library's and the dashboard's models."""

    # One explicit registry (rather than class attributes) so that Flask-SQLAlchemy's subclass
    # of this base shares it instead of tripping over a second type map.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={
            dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
            datetime: DateTime(timezone=True),
        },
    )


class AuditStatus(StrEnum):
    """Where a message stands; see the module docstring for the transitions."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DROPPED = "dropped"
    DISABLED = "disabled"
    RECORDED = "recorded"
    """Not a message: a record of the log's own maintenance (a purge), complete."""


FAILED_OUTCOMES = (AuditStatus.FAILED.value, AuditStatus.DROPPED.value)
"""The outcomes of a delivery that did not deliver, as an attempt records them and an entry's status
says: what the health page counts against the rate and what the audit search's `refused` and
`attempts=failed` read."""


class Source(StrEnum):
    """The path a message was sent by."""

    APPLICATION = "application"
    TESTER = "tester"
    REPLAY = "replay"
    DASHBOARD = "dashboard"
    RETENTION = "retention"
    """The retention command's record of what it purged (entry type `purge`)."""


MESSAGE_TYPES = ("track", "identify")
"""Entry types that are Segment messages; other types record the log's own actions."""

PURGE_TYPE = "purge"
"""The entry type of a retention purge's record (source `retention`, status `recorded`)."""


class AuditEntry(Base):
    """One message, as it was handed to the Segment client, and its current status.

    On PostgreSQL the table is partitioned by `recorded_at` (`analytics.partitions`), whose keys
    must include the partition key: there the primary key is (id, recorded_at), while `id` stays
    unique by its sequence. The model names `id` alone, which is what SQLAlchemy needs to identify
    a row and what SQLite (one plain table, no partitions) has.

    Attributes:
        message_id: Segment's `messageId`; unique through `AuditMessageId`, so a replay can never
            add a second entry.
        recorded_at: when the entry was written (what time filters use, and the partition key).
        timestamp: the message's own `timestamp` (kept by replays).
        payload: the whole message, personal data masked unless configured otherwise.
        destination: where a tester send went, as `name:key-fingerprint` (never the key itself);
            None for the application's own client.
        encrypted_personal_data: the masked values in clear, encrypted (`analytics.personal_data`),
            so that replay can send the real values; None without `AUDIT_ENCRYPTION_KEY`.
        writer_id, seq, prev_hash, entry_hash: the entry's link in its writer's hash chain
            (`analytics.chain`).
        changed_at: when its outcome last changed (status, HTTP status, error, a re-send claimed,
            sealed personal data erased), by the database's clock; None until then. Database triggers
            keep it on every UPDATE, whoever writes (migration `0025_audit_changes`), so it is deferred:
            the library neither reads nor writes it, and still writes a database from before it.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        # With the partition key, as PostgreSQL requires of a partitioned table's unique keys; a
        # writer's times never go back, so a second entry at one (writer, seq) is still caught by
        # `verify` as a duplicate.
        UniqueConstraint("writer_id", "seq", "recorded_at"),
        Index("ix_audit_entries_recorded_at_id", "recorded_at", "id"),
        Index("ix_audit_entries_event_recorded_at", "event", "recorded_at"),
        # The catalog's activity figures count application traffic only (not tester sends).
        Index("ix_audit_entries_event_source_recorded_at", "event", "source", "recorded_at"),
        Index("ix_audit_entries_status_recorded_at", "status", "recorded_at"),
        Index("ix_audit_entries_user_id_recorded_at", "user_id", "recorded_at"),
        Index("ix_audit_entries_project_id_recorded_at", "project_id", "recorded_at"),
        Index("ix_audit_entries_cluster_id_recorded_at", "cluster_id", "recorded_at"),
        Index("ix_audit_entries_source_recorded_at", "source", "recorded_at"),
        Index("ix_audit_entries_type_recorded_at", "type", "recorded_at"),
        Index("ix_audit_entries_actor_recorded_at", "actor", "recorded_at"),
        Index("ix_audit_entries_catalog_version_recorded_at", "catalog_version", "recorded_at"),
        # The audit search's HTTP status filter (the endpoint's answer, 500, 429…); entries without an
        # outcome yet (every entry as it is written) stay out of it.
        partial_index(
            "ix_audit_entries_http_status_recorded_at",
            "http_status",
            "recorded_at",
            where="http_status IS NOT NULL",
        ),
        # Only tester sends name a destination: the application's entries, nearly all of the log,
        # stay out of this index and cost nothing more to write.
        partial_index(
            "ix_audit_entries_destination_recorded_at",
            "destination",
            "recorded_at",
            where="destination IS NOT NULL",
        ),
        # The changes feed's keyset (`/api/audit/entries?order=changed`); entries whose outcome never
        # changed stay out of it.
        Index(
            "ix_audit_entries_changed_at_id",
            "changed_at",
            "id",
            sqlite_where=text("changed_at IS NOT NULL"),
            postgresql_where=text("changed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    recorded_at: Mapped[datetime]
    timestamp: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    cluster_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    status_changed_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(255))
    # Bytewise on PostgreSQL whatever the database's collation: the destination filter reads a
    # name's keys as the range `name` to `name;`, which a language's collation orders otherwise.
    destination: Mapped[str | None] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql")
    )
    catalog_version: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    encrypted_personal_data: Mapped[str | None] = mapped_column(Text)
    writer_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime | None] = mapped_column(deferred=True)


class _EventCount:
    """How many entries of one event, sent by one path, were recorded in one UTC hour or day.

    The catalog's "last 7 days" counts add up these rows rather than counting entries, so the event
    list costs the same at a thousand entries and at a billion (`analytics.activity`). Database
    triggers keep them (migration `0008_event_counts`): every INSERT into `audit_entries` adds to
    its hour and its day, every DELETE (a retention purge) takes away, an UPDATE that moves an
    entry moves its count, in the same transaction, whoever writes. Entries without an event
    (identify, the log's own records) are not counted.

    Attributes:
        start: the start of the UTC hour or day; it leads the key, because the event list reads
            one range of them for every event at once.
        event: the event string.
        source: the path that sent them (`application`, `tester`, `replay`).
        writer_id: the writer (hash chain) that recorded them. A writer records in one transaction
            at a time, so concurrent transactions never update the same row: no lock waits, no
            deadlocks between batches. The event list adds up the writers' rows.
        messages: how many entries.
    """

    start: Mapped[datetime] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    writer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger)


called_spec = dialect_function(
    "called_spec",
    String(),
    # The catalog marker's key (`analytics.messages.CONTEXT_KEY`) is spelled out: an index on an
    # expression serves only queries that spell the same expression, constant for constant.
    sqlite="json_extract({0}, '$.context.eventCatalog.spec')",
    postgresql="(({0} -> 'context') -> 'eventCatalog') ->> 'spec'",
    doc="The spec class that built a stored message: what tells one identify call from another.",
)

IDENTIFY_TYPE: ColumnElement[str] = literal_column("'identify'")
"""`type = 'identify'` with the constant in the SQL: SQLite uses a partial index only for a query
whose condition names the index's own constant, never a bound parameter."""

# An identify call carries no event string; its spec is in the payload's catalog marker. Without an
# index, its catalog page and the audit search for it read every identify entry's JSON (seconds at a
# million entries, most of them for a call never made). Partial: track entries cost nothing more.
# (spec, recorded_at) and the row id: newest-first pages come in index order, whatever SQLite knows
# of the table's statistics (with `source` in the key, it preferred the `type` index and a scan).
partial_index(
    "ix_audit_entries_identify_spec_recorded_at",
    called_spec(AuditEntry.payload),
    AuditEntry.recorded_at,
    where="type = 'identify'",
)


def _window_index(table: str) -> Index:
    """What the event list reads of a count table, in one index: a range of `start`, without
    visiting the table's rows (migration `0014_event_count_reads`)."""
    return Index(f"ix_{table}_start_source_event_messages", "start", "source", "event", "messages")


class EventHour(_EventCount, Base):
    """Entries per event, source and UTC hour: the part-day at the start of a counted window."""

    __tablename__ = "audit_event_hours"
    __table_args__ = (_window_index(__tablename__),)


class EventDay(_EventCount, Base):
    """Entries per event, source and UTC day: the whole days of a counted window."""

    __tablename__ = "audit_event_days"
    # By event: whether the log holds an event outside the catalog, asked at every live-tail poll of
    # its search, is one probe (migration `0024_event_days_event_index`).
    __table_args__ = (_window_index(__tablename__), Index("ix_audit_event_days_event", "event"))


class AuditMessageId(Base):
    """Every `messageId` the log holds, once: what keeps message ids unique across partitions.

    A partitioned table's unique constraints must include the partition key, so `audit_entries`
    cannot itself refuse a second entry with the same `messageId` recorded at another time. This
    narrow table can; `AuditStore.record` inserts into it in the entry's own transaction, and
    retention deletes the ids of what it purges. SQLite has it too, so that both databases refuse a
    duplicate the same way (an `IntegrityError` from this table) and run one write path.

    Attributes:
        message_id: Segment's `messageId`.
    """

    __tablename__ = "audit_message_ids"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class DeliveryAttempt(Base):
    """One delivery outcome for one message: the batch's HTTP answer, or why it was given up.

    Keyed by `message_id` rather than a foreign key to the entry's row id, so the two tables can
    later be partitioned or distributed independently (issue notes in README "Growing").

    Attributes:
        source: the path that made the attempt (`replay` for a re-send); None on older rows.
        actor: who started it, for person-initiated attempts (a replay).
    """

    __tablename__ = "delivery_attempts"
    # The failed attempts of a time range (the audit search's `attempts=failed`, the health page's
    # latest errors), without reading the delivered ones, nearly all of the table; and the re-sends of
    # one (`attempts=replayed`), partial: the application's own attempts, nearly all, cost it nothing.
    __table_args__ = (
        Index("ix_delivery_attempts_outcome_attempted_at", "outcome", "attempted_at"),
        partial_index("ix_delivery_attempts_replay_attempted_at", "attempted_at", where="source = 'replay'"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(255))


class AuditCheckpoint(Base):
    """Where a purge cut a writer's chain: the hash of the last entry it deleted before a kept one.

    The entry after a purged stretch still names that hash as its predecessor, so with this row
    the chain verifies across the hole; without it the hole reads as a deletion. Each row is keyed
    with the chain key too, so a checkpoint cannot be forged to cover a deletion, and names the
    purge entry that created it.

    Attributes:
        writer_id: the chain.
        seq: the sequence number of the last purged entry before the kept part.
        entry_hash: that entry's hash.
        purge_message_id: the purge's own audit entry.
        checkpoint_hash: HMAC over the four fields above (`analytics.chain.checkpoint_hash`).
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_writer_id_seq", "writer_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    writer_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))
    purge_message_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    checkpoint_hash: Mapped[str] = mapped_column(String(64))


class AuditErasure(Base):
    """One entry whose sealed personal data an erasure request removed, and what vouches for it.

    Erasing clears the entry's `encrypted_personal_data`, which its chain hash covers, so the
    entry alone no longer matches its hash. This row does instead: `erasure_hash` is keyed with the
    chain key over the entry as erased (its place in the chain, its original hash and every
    immutable field, the cleared one as null), the digest of what was removed and the erasure, so
    `verify` still reports any other change to the entry, and deleting this row shows the entry as
    edited. An entry that no longer matched its hash when it was erased gets no `erasure_hash`: the
    erasure does not vouch for an edit it found.

    Attributes:
        message_id: the erased entry (one erasure each: erased data cannot be erased again).
        erasure_message_id: the *Personal Data Erased* action that records the request.
        erased_at: when its personal data was cleared.
        removed_digest: SHA-256 of the ciphertext removed (it reveals nothing of the values; a backup
            that still holds the ciphertext can be matched to the erasure by it).
        erasure_hash: HMAC over the above (`analytics.chain.erasure_hash`), or None (see above).
    """

    __tablename__ = "audit_erasures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    erasure_message_id: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime]
    removed_digest: Mapped[str] = mapped_column(String(64))
    erasure_hash: Mapped[str | None] = mapped_column(String(64))


class WriterCompatibility(Base):
    """What a database promises libraries older than its schema: the oldest library revision that
    still writes it correctly.

    Migrations are numbered in order (`0011_…`). A library at revision N accepts a database at a
    later revision M when this row's `oldest_writer` is N or older: M only added what N does not
    write (an index, a table, a nullable column). A migration that changes what writers must write
    (a new required column, a new constraint on their rows) sets `oldest_writer` to itself, and
    older libraries then refuse the database rather than write it wrong. One row.

    Attributes:
        id: always 1.
        oldest_writer: an Alembic revision id.
    """

    __tablename__ = "audit_writer_compatibility"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    oldest_writer: Mapped[str] = mapped_column(String(64))


class CatalogVersion(Base):
    """The JSON Schema bundle of one catalog version, recorded the first time a process ran with it.

    Messages carry only the version hash (`context.eventCatalog.version`); this row keeps what the
    hash stood for, so two versions can be compared after the code that built them is gone.

    Attributes:
        version: the catalog's content hash (`Catalog.version`).
        first_seen: when a library host or the dashboard first recorded it.
        bundle: `Catalog.schema_bundle()` of that version.
    """

    __tablename__ = "catalog_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(index=True)
    bundle: Mapped[dict[str, Any]]


_SQLITE_FILE = "sqlite_file"
"""Where a SQLite connection's info keeps the identity of the file it opened (`_same_file`)."""


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, record: Any) -> None:
    """WAL lets the dashboard read while applications write; the busy timeout queues writers."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        [(_, _, filename)] = [
            row for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main"
        ]
        if filename:
            record.info[_SQLITE_FILE] = (Path(filename), _file_identity(Path(filename)))
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@event.listens_for(Engine, "do_connect")
def _refuse_unusable_sqlite_file(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    """Never let a connection create a SQLite file: SQLite makes an empty one for any path it opens.

    A mistyped `DATABASE_URL` then read as a database that only needs `db upgrade` (which would
    have migrated the typo) and left a stray file behind. Only migrations create the file
    (`webapp/migrations/env.py`); every other connection to a missing one fails with what to do,
    as does one to a directory or to a file of something else (`sqlite_file_problem`).
    """
    path = _database_file(dialect.name, cparams.get("database", cargs[0] if cargs else None))
    problem = sqlite_file_problem(path) if path is not None else None
    if problem is not None:
        raise sqlite3.OperationalError(problem)


_URL_EXAMPLE = "expected e.g. postgresql://user@host/db or sqlite:///path"


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (`postgres://`, driverless) and pick our drivers.

    A relative SQLite path is made absolute from the working directory, as the library has always
    read it: Flask-SQLAlchemy would otherwise read it from the dashboard's instance folder, and one
    `DATABASE_URL` would name two files. Nothing is created here: only a migration makes a
    SQLite file and its folder (`webapp/migrations/env.py`), so a mistyped path is refused as
    missing (`sqlite_problem`) instead of becoming an empty database.

    Raises:
        ValueError: not a URL, or a database other than the two the audit log is built and tested
            for (SQLite, PostgreSQL); the message never shows the password.
    """
    try:
        parsed = make_url(
            url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
        )
    except ArgumentError:
        raise ValueError(f"cannot parse the database URL: {_URL_EXAMPLE}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise ValueError(f"{shown!r} is neither SQLite nor PostgreSQL: {_URL_EXAMPLE}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ):
        parsed = parsed.set(database=str(Path(database).absolute()))
    return parsed.render_as_string(hide_password=False)


def _database_file(dialect: str, database: str | None) -> Path | None:
    if dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database on disk; None for PostgreSQL and for in-memory or URI databases."""
    return _database_file(engine.dialect.name, engine.url.database)


def sqlite_file_problem(path: Path) -> str | None:
    """What is wrong with `path` as a SQLite database, said before SQLite is asked: that it does not
    exist, is a directory or holds something else (SQLite's own "unable to open database file" or
    "file is not a database" read like a server that is down). None when it may be a database."""
    if not path.exists():
        return (
            f"no SQLite database at {path}: check DATABASE_URL, or create it with `event-catalog db upgrade`"
        )
    if path.is_dir():
        return f"{path} is a directory, not an SQLite database: check DATABASE_URL"
    return f"{path} is not an SQLite database: check DATABASE_URL" if _not_a_database(path) else None


def _not_a_database(path: Path) -> bool:
    """Whether SQLite says the file holds something else, asked read-only through SQLite itself.

    Never by opening the file in Python: closing any descriptor of a file drops every POSIX lock this
    process holds on it, those of its open SQLite connections included, and another process's
    SQLite then takes itself for the last user, checkpoints and deletes the WAL under them
    ("database disk image is malformed" until a restart). SQLite shares one descriptor per file
    among a process's connections and keeps it open while they hold locks.
    """
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        probe.execute("PRAGMA schema_version")
    except sqlite3.DatabaseError as exc:
        return "not a database" in str(exc)
    finally:
        probe.close()
    return False


def sqlite_problem(engine: Engine) -> str | None:
    """What is wrong with the SQLite file `engine` names (connecting to it is refused); None for
    PostgreSQL, in-memory and URI databases, and for a file that may be a database."""
    path = sqlite_file(engine)
    return sqlite_file_problem(path) if path is not None else None


def database_label(engine: Engine) -> str:
    """The database's URL as people wrote it in `DATABASE_URL`: no password, no driver name."""
    url = engine.url
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
"""The engines `create_audit_engine` made that are still in use, for `_forget_parent_connections`."""


POSTGRES_CONNECTION_DEFAULTS = {
    # Seconds for the server to accept a connection (per address): `init()` and a reconnect after
    # an outage fail then instead of after the operating system's minutes.
    "connect_timeout": "5",
    # A peer that stops acknowledging (a host gone, a lost NAT entry, a network partition) closes
    # the connection after 10 s of unacknowledged data, or about 11 s of silence while a statement
    # waits, instead of the kernel's 15 minutes of retransmissions or 2 hours before keepalive.
    "tcp_user_timeout": "10000",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}
"""libpq settings of the library's PostgreSQL connections, each unless `DATABASE_URL`'s query sets it."""

LOCK_TIMEOUT = "3s"
"""How long a statement of the library waits for a lock (`lock_timeout`), unless the URL's `options`
set one: a table another session locks (a migration, a partition detach, a hand-run `LOCK TABLE`)
then fails the write, said as an `AuditWriteError`, instead of holding the host's request threads
for as long as the lock lasts. Three seconds outlast the short locks of routine maintenance."""


def create_audit_engine(url: str) -> Engine:
    """An engine for the audit database at `url`; a forked child starts it without connections.

    PostgreSQL connections get `POSTGRES_CONNECTION_DEFAULTS` and `LOCK_TIMEOUT`, so that no wait
    the library imposes on its host lasts as long as the database or the network does, and a
    session in UTC (`pin_utc_sessions`); a signal handler's exit during a ping stops the host
    (`let_interrupted_pings_stop`).
    """
    normalised = make_url(normalise_database_url(url))
    engine = create_engine(normalised, **engine_options(normalised))
    pin_utc_sessions(engine)
    let_interrupted_pings_stop(engine)
    _ENGINES.add(engine)
    return engine


def engine_options(url: str | URL, *, lock_timeout: bool = True) -> dict[str, Any]:
    """The `create_engine` options of an engine on the audit database at `url`.

    Every pooled connection is pinged as it is checked out: one the server closed meanwhile (a
    restart, a failover, a proxy that drops idle connections) is replaced then, instead of failing
    the statement, the request or the write that drew it. PostgreSQL connections also get
    `POSTGRES_CONNECTION_DEFAULTS` the URL's query does not set.

    Args:
        url: the database's URL.
        lock_timeout: also bound waits for locks (`LOCK_TIMEOUT`), unless the URL's `options` set
            it. The dashboard's engine leaves it out: it runs the migrations, `audit purge` and
            `audit partitions ensure`, which take table locks that must be waited for.
    """
    parsed = make_url(url)
    connect_args = (
        _postgres_connect_args(parsed, lock_timeout) if parsed.get_backend_name() == "postgresql" else {}
    )
    return {"pool_pre_ping": True, "connect_args": connect_args}


def _postgres_connect_args(url: URL, lock_timeout: bool) -> dict[str, str]:
    """The defaults `url` does not set itself; its own `options` are kept, the lock timeout added."""
    args = {name: value for name, value in POSTGRES_CONNECTION_DEFAULTS.items() if name not in url.query}
    options = " ".join(url.normalized_query.get("options", ()))
    if lock_timeout and "lock_timeout" not in options:
        args["options"] = f"{options} -c lock_timeout={LOCK_TIMEOUT}".strip()
    return args


def _forget_parent_connections() -> None:
    # A child that used the connections its parent's pool holds would share their sessions with
    # the parent: both processes' statements would interleave on one socket and break each other's
    # transactions. It opens its own; `close=False` leaves the parent's alone (SQLAlchemy's advice
    # for os.fork and multiprocessing).
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has never been migrated.

    Read from Alembic's table directly: configuring a migration context for it logged two INFO
    lines about the dialect on every check, into every command's output.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision: str | None = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return revision


def oldest_writer(engine: Engine) -> str | None:
    """The oldest library revision the database says still writes it (`WriterCompatibility`), or
    None for a database from before migration 0011 or without its row."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(WriterCompatibility.__tablename__):
            return None
        return connection.execute(select(WriterCompatibility.oldest_writer)).scalar()


def revision_number(revision: str) -> int | None:
    """The order of a revision id (`0011_writer_compatibility` is 11); None when it has none."""
    number, _, _ = revision.partition("_")
    return int(number) if number.isdigit() else None


def is_newer_revision(revision: str) -> bool:
    """Whether a database's revision is not one this code's migrations lead up to: a later one, or
    one without our numbering. `event-catalog db upgrade` cannot help there; a newer release can."""
    ours, theirs = revision_number(SCHEMA_REVISION), revision_number(revision)
    return ours is None or theirs is None or theirs > ours


def claim_message_ids(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Reserve the entries' message ids, in the transaction that inserts the entries.

    Raises:
        sqlalchemy.exc.IntegrityError: one of them is already in the log (the whole insert fails).
    """
    prepared_insert(connection.dialect, AuditMessageId, _message_id_rows(rows))(connection)


def _message_id_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"message_id": row["message_id"]} for row in rows]


def insert_rows(connection: Connection, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert a batch of rows (all with the same keys) into `model`'s table; see `prepared_insert`."""
    prepared_insert(connection.dialect, model, rows)(connection)


SQLITE_ROWS_PER_STATEMENT = 50
"""Rows per SQLite INSERT: binding a statement's values holds the interpreter lock (a 500-row
statement of audit entries binds 8,500 values, about half a millisecond that application threads
wait); 50 rows keep each hold to tens of microseconds, and full chunks reuse one cached statement."""


def prepared_insert(
    dialect: Dialect, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> Callable[[Connection], None]:
    """An insert of a batch of rows (all with the same keys), encoded now, run on a connection later.

    SQLite's driver releases and retakes the interpreter lock for every row of an `executemany`;
    the audit writer's batches would hand it back and forth with the application's threads a
    thousand times each, which is what made `track`'s slowest calls slow. On SQLite the rows go
    in multi-row `VALUES` statements of `SQLITE_ROWS_PER_STATEMENT` rows: one step, one release
    each, and no text for the database to parse per row. Values are converted by the columns' own
    SQLAlchemy types first, so what is stored is exactly what an ORM insert stores. Other
    databases take SQLAlchemy's `executemany`.

    Encoding is done here, before the caller opens its transaction, so that the write lock (the
    process's and the SQLite file's) is held for the statement only, not for the encoding.
    """
    table = cast(Table, model.__table__)
    if not rows:
        return lambda connection: None
    if dialect.name != "sqlite":
        batch = list(rows)

        def execute_many(connection: Connection) -> None:
            connection.execute(insert(table), batch)

        return execute_many
    columns = [column for column in table.columns if column.name in rows[0]]
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    per_statement = max(1, min(SQLITE_ROWS_PER_STATEMENT, _sqlite_variable_limit() // len(columns)))
    names = ", ".join(column.name for column in columns)
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    statements = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = tuple(
            row[column.name] if process is None else process(row[column.name])
            for row in chunk
            for column, process in zip(columns, processors, strict=True)
        )
        sql = f"INSERT INTO {table.name} ({names}) VALUES " + ", ".join([placeholders] * len(chunk))
        statements.append((sql, values))

    def execute_statements(connection: Connection) -> None:
        for sql, values in statements:
            connection.exec_driver_sql(sql, values)

    return execute_statements


@cache
def _sqlite_variable_limit() -> int:
    """How many values one SQLite statement may bind (32,766 since SQLite 3.32, 999 before)."""
    connection = sqlite3.connect(":memory:")
    try:
        return connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        connection.close()


_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(engine: Engine) -> threading.Lock | None:
    """The lock of this process's writers to a SQLite file (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    key = str(engine.url.database)
    with _SQLITE_WRITE_LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(key, threading.Lock())


def _same_file(connection: Connection) -> None:
    """Refuse to write through a SQLite connection whose file was deleted or replaced since it opened.

    Its writes would go on succeeding into a file no path leads to any more, gone when the process
    ends, while the messages went on to Segment: an audit log that holds nothing. The connection is
    dropped, so the next one opens what the path holds now (refused if nothing: `sqlite_file_problem`).

    Raises:
        OperationalError: it was.
    """
    opened = connection.info.get(_SQLITE_FILE)
    if opened is None:
        return
    path, identity = opened
    if _file_identity(path) == identity:
        return
    connection.invalidate()
    problem = f"the SQLite database {path} was deleted or replaced while this process had it open"
    raise OperationalError("audit write", None, sqlite3.OperationalError(problem))


def _forget_sqlite_write_locks() -> None:
    # A forked child inherits the locks as they were: one that a thread of the parent held at the
    # fork (the audit writer mid-batch) would never be released in the child, and every write
    # there would wait for it forever. The child's threads start with fresh locks.
    global _SQLITE_WRITE_LOCKS_GUARD
    _SQLITE_WRITE_LOCKS.clear()
    _SQLITE_WRITE_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_sqlite_write_locks)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite keeps a time's wall clock and drops its offset: store every time in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_BIGINT = range(-(2**63), 2**63)
"""What the filter columns (`project_id`, `cluster_id`) hold: a 64-bit integer on both databases."""


def _as_int(value: Any) -> int | None:
    """An id for a filter column, or None: the payload keeps any value as sent.

    A hand-built message's id beyond 64 bits must not make the database refuse the entry, and
    with it the audit writer's whole batch.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value in _BIGINT:
        return value
    return None


def _project_key(entry_type: str) -> str:
    """The property an entry's project id is read from for the Project filter.

    A Segment message sends it by the original Go package's name (`proj_id`, as the warehouse
    expects); the log's own records (a tester preset saved or deleted) describe their ids by the
    scope's field names (`project_id`), as the pages and the command line name them.
    """
    return "proj_id" if entry_type in MESSAGE_TYPES else "project_id"


class AuditRecord(NamedTuple):
    """What a new entry is made of: the message as built, and how it is being sent.

    A named tuple rather than a dataclass: one is made on every `track` call's path, and a tuple
    is built at a third of a frozen dataclass's cost.

    Attributes:
        message: the message (personal data in clear; the store masks it).
        status: the entry's first status (`pending`, `disabled`, …).
        source: the sending path.
        actor: who fired it, for person-initiated sends.
        error: why it starts as `dropped`, if it does.
        personal_data_keys: paths of the payload values to mask (`analytics.nested`).
        destination: the named destination of a tester send.
        personal_context_keys: paths of the host context's values to mask, from the context
            (`ip`, `traits.email`; `analytics.catalog.personal_context_paths`).
    """

    message: dict[str, Any]
    status: AuditStatus
    source: Source | str
    actor: str | None = None
    error: str | None = None
    personal_data_keys: frozenset[str] = frozenset()
    destination: str | None = None
    personal_context_keys: frozenset[str] = frozenset()


class AuditStore:
    """Writes and reads the audit log.

    Each store is a set of writers (`analytics.chain.WriterPool`): the chains it extends live in
    its memory, so keep one store per process rather than one per call.

    Args:
        engine: the audit database.
        mask_personal_data: store personal-data values masked (the default) rather than in clear.
        mask_key: the key of the masking fingerprint; set it per deployment.
        chain_key: the key of the entries' chain hashes (`AUDIT_CHAIN_KEY`); set a secret per
            deployment, the same on every host, and keep it out of the database. It is the store's for
            its life: its writers' chains are each hashed with one key, and a store built with a new
            key (a restart) starts new chains.
        retired_chain_keys: former chain keys (`AUDIT_CHAIN_KEYS_RETIRED`), in the order given: they
            only verify the chains written with them (`analytics.integrity`), never write.
        encryption_key: `AUDIT_ENCRYPTION_KEY`; when set, masked values are also kept encrypted so
            that replay can send them (`analytics.personal_data`).
        max_writers: how many chains this store extends at once (threads recording in parallel).

    Raises:
        ValueError: `encryption_key` is not a valid key.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        mask_personal_data: bool = True,
        mask_key: bytes = b"event-catalog",
        chain_key: bytes = b"event-catalog",
        retired_chain_keys: Sequence[bytes] = (),
        encryption_key: str | None = None,
        max_writers: int = DEFAULT_MAX_WRITERS,
    ) -> None:
        self.engine = engine
        self.mask_personal_data = mask_personal_data
        self.mask_key = mask_key
        self.chain_key = chain_key
        self.retired_chain_keys = tuple(retired_chain_keys)
        self.cipher = PersonalDataCipher.from_setting(encryption_key)
        self.writers = WriterPool(max_writers)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; on SQLite, threads of this process take turns for it.

        SQLite has one writer at a time, and a thread that finds the database locked sleeps in
        growing steps (the busy timeout) rather than queueing: the audit writer and the delivery
        threads of one process would keep waking each other late. A lock per database file makes
        them queue instead; other processes still meet the busy timeout.
        """
        lock = _sqlite_write_lock(self.engine)
        if lock is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with lock, self.engine.connect() as connection:
            _same_file(connection)
            with connection.begin():
                yield connection

    def check_schema(self) -> None:
        """Refuse a database whose tables this library would not write correctly.

        It writes its own revision and the older ones in `WRITABLE_REVISIONS`, and a later one
        whose database names this revision or an older one as `oldest_writer`: application hosts
        and the database can be upgraded in either order when a migration only adds.

        Raises:
            SchemaError: with the one thing to do about it.
        """
        current = schema_revision(self.engine)
        where = database_label(self.engine)
        if current is None:
            raise SchemaError(
                f"the audit database {where} has no schema: "
                "run `event-catalog db upgrade` with DATABASE_URL set to it"
            )
        if current in WRITABLE_REVISIONS:
            return
        if not is_newer_revision(current):
            raise SchemaError(
                f"the audit database {where} is at schema revision {current}, this library needs "
                f"{SCHEMA_REVISION}: run `event-catalog db upgrade` with DATABASE_URL set to it"
            )
        oldest = oldest_writer(self.engine)
        if oldest is None or is_newer_revision(oldest):
            raise SchemaError(
                f"the audit database {where} is at schema revision {current}, which this library "
                f"({SCHEMA_REVISION}) cannot write: upgrade the application's event-catalog to the "
                "dashboard's version"
            )

    def stored_form(
        self,
        message: dict[str, Any],
        personal_data_keys: Collection[str],
        personal_context_keys: Collection[str] = (),
    ) -> dict[str, Any]:
        """The message as the audit log keeps it: personal-data values masked unless configured off.

        `personal_data_keys` are paths (`analytics.nested`): a value inside a nested object, or in
        each item of a list, is masked where it is. `personal_context_keys` are paths of the host's
        own `context` (`ip`), masked alike. This form is what the entry's chain hash covers.
        """
        if not self.mask_personal_data or not (personal_data_keys or personal_context_keys):
            return message
        stored = dict(message)
        for section, paths in (
            (personal_section(message), personal_data_keys),
            (CONTEXT_SECTION, personal_context_keys),
        ):
            if paths:
                values = message.get(section) or {}
                stored[section] = mask_paths(values, paths, lambda value: mask_value(value, self.mask_key))
        return stored

    def _sealed(self, message: dict[str, Any], stored: dict[str, Any]) -> str | None:
        """The personal-data values that masking hid, encrypted for replay; None if none or no key.

        Each top-level property (context key) that a mask went into is sealed whole, so that `unmask`
        puts nested values back by replacing it.
        """
        if self.cipher is None or stored is message:
            return None
        originals = masked_originals(message, stored, personal_section(message))
        context = masked_originals(message, stored, CONTEXT_SECTION)
        return self.cipher.seal(originals, context) if originals or context else None

    def record(
        self,
        message: dict[str, Any],
        *,
        status: AuditStatus,
        source: Source | str,
        actor: str | None = None,
        error: str | None = None,
        personal_data_keys: Collection[str] = (),
        destination: str | None = None,
        personal_context_keys: Collection[str] = (),
    ) -> None:
        """Write a new entry for one message, in its own transaction; see `record_many`.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused it (the caller must not send).
        """
        self.record_many(
            [
                AuditRecord(
                    message,
                    status=status,
                    source=source,
                    actor=actor,
                    error=error,
                    personal_data_keys=frozenset(personal_data_keys),
                    destination=destination,
                    personal_context_keys=frozenset(personal_context_keys),
                )
            ]
        )

    def record_many(self, records: Sequence[AuditRecord]) -> None:
        """Write new entries for a batch of messages: one chained INSERT, one transaction.

        All or nothing: when the database refuses the batch (a duplicate `messageId`, an outage),
        none of it is written. The writer is held across the insert (the next entry's hash depends
        on this batch), so concurrent threads use different writers of the pool rather than
        queueing on one.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused it (the caller must not send).
        """
        if not records:
            return
        rows = [self._row(record) for record in records]
        with self.writers.writer() as writer:
            recorded_at = writer.stamp(_now())
            for row in rows:
                row["recorded_at"] = row["status_changed_at"] = recorded_at
            writer.link(self.chain_key, rows)
            claim = prepared_insert(self.engine.dialect, AuditMessageId, _message_id_rows(rows))
            entries = prepared_insert(self.engine.dialect, AuditEntry, rows)
            with self.transaction() as connection:
                claim(connection)
                entries(connection)
            writer.advance(rows[-1])

    def _row(self, record: AuditRecord) -> dict[str, Any]:
        """The entry's columns, except the time and chain columns its writer fills in."""
        message = record.message
        properties = message.get("properties") or {}
        stored = self.stored_form(message, record.personal_data_keys, record.personal_context_keys)
        return {
            "message_id": message["messageId"],
            "timestamp": _utc(datetime.fromisoformat(message["timestamp"])),
            "type": message["type"],
            "event": message.get("event"),
            "user_id": message.get("userId"),
            "project_id": _as_int(properties.get(_project_key(message["type"]))),
            "cluster_id": _as_int(properties.get("cluster_id")),
            "status": str(record.status),
            "source": str(record.source),
            "actor": record.actor,
            "destination": record.destination,
            "catalog_version": (message.get("context", {}).get("eventCatalog") or {}).get("version"),
            "error": record.error,
            "payload": stored,
            "encrypted_personal_data": self._sealed(message, stored),
        }

    def record_outcome(
        self,
        message_ids: Iterable[str],
        status: AuditStatus,
        *,
        http_status: int | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        source: Source | str | None = None,
        actor: str | None = None,
    ) -> None:
        """Record what happened to a batch: the entries' new status and one attempt each.

        A `delivered` entry never goes back: a late failure report for a message that was
        delivered by another path (a replay, a retry) is kept as an attempt only.

        Args:
            message_ids: the batch's messages.
            status: the outcome.
            http_status: the endpoint's answer, if it answered.
            error: why it failed or was dropped.
            latency_ms: how long the request took.
            source: the path that made the attempt (`replay` for a re-send).
            actor: who started it, for person-initiated attempts.
        """
        ids = list(message_ids)
        if not ids:
            return
        now = _now()
        # One statement whatever the batch's size: the database makes the attempts from the
        # entries, rather than this process binding a row of parameters per message.
        attempt = {
            "attempted_at": literal(now, DeliveryAttempt.attempted_at.type),
            "outcome": literal(str(status), DeliveryAttempt.outcome.type),
            "http_status": literal(http_status, DeliveryAttempt.http_status.type),
            "error": literal(error, DeliveryAttempt.error.type),
            "latency_ms": literal(latency_ms, DeliveryAttempt.latency_ms.type),
            "source": literal(None if source is None else str(source), DeliveryAttempt.source.type),
            "actor": literal(actor, DeliveryAttempt.actor.type),
        }
        found = self._entries_of(ids)
        attempts = insert(DeliveryAttempt).from_select(
            ["message_id", *attempt], select(found.c.message_id, *attempt.values())
        )
        change = (
            update(AuditEntry)
            .where(
                tuple_(AuditEntry.id, AuditEntry.recorded_at).in_(select(found.c.id, found.c.recorded_at)),
                AuditEntry.status != AuditStatus.DELIVERED,
            )
            .values(status=str(status), status_changed_at=now, http_status=http_status, error=error)
        )
        with self.transaction() as connection:
            connection.execute(attempts)
            connection.execute(change)

    def _entries_of(self, ids: list[str]) -> Subquery:
        """The entries (id, recorded_at, message_id) of these message ids, found one index probe each.

        One bound parameter however many ids there are: an expanded IN list binds, casts and
        renders a parameter per id on every execution. PostgreSQL takes the ids as one array and
        looks each one up (`LATERAL … LIMIT 1`, a message id has one entry): a plain `= ANY`
        leaves the choice to the planner, which, on a partition whose statistics lag behind its
        growth (a new month's, or a server without autovacuum), scans the whole partition for every
        batch. SQLite takes them as one JSON array that it unpacks itself (`json_each`) and always
        probes the index.
        """
        wanted = bound_strings(ids, self.engine.dialect.name, "wanted")
        if self.engine.dialect.name == "postgresql":
            entry = (
                select(AuditEntry.id, AuditEntry.recorded_at, AuditEntry.message_id)
                .where(AuditEntry.message_id == wanted.c.value)
                .limit(1)
                .lateral("entry")
            )
            return select(entry).select_from(wanted).join(entry, true()).subquery("found")
        return (
            select(AuditEntry.id, AuditEntry.recorded_at, AuditEntry.message_id)
            .where(AuditEntry.message_id.in_(select(wanted.c.value)))
            .subquery("found")
        )

    def entry(self, message_id: str) -> AuditEntry | None:
        """The entry of a message, detached from any session."""
        with Session(self.engine) as session:
            return session.scalars(select(AuditEntry).where(AuditEntry.message_id == message_id)).first()

    def attempts(self, message_id: str) -> list[DeliveryAttempt]:
        """A message's delivery attempts, oldest first."""
        query = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.id)
        )
        with Session(self.engine) as session:
            return list(session.scalars(query))
