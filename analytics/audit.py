"""The audit log: every track and identify message, written before it leaves the process.

The tables are plain SQLAlchemy 2.0 models on one declarative `Base`, which the dashboard's
Flask-SQLAlchemy wraps too, so the library and the dashboard share one set of models and one
migration history (`migrations/`). SQLite (WAL) serves one host; several hosts share PostgreSQL
through `DATABASE_URL`.

Statuses move `pending` → `delivered` | `failed`, or start as `dropped` / `disabled`; each delivery
outcome is also kept as a `DeliveryAttempt`, so an entry shows its whole history. `CatalogVersion`
keeps the schema bundle of every catalog version a process has run with, so that what a release
changed can be shown long after the code moved on (`analytics.versions`). Entries of type
`action` (`analytics.actions`) record what a person did — a sign-in failure, a role change — with
status `recorded`: they are never sent anywhere.


Every entry is also a link in its writer's hash chain (`analytics.chain`), which
`analytics.integrity` checks; the log's own actions (a retention purge) are entries too, with a type
and source of their own, so that nothing happens to the log without leaving a trace in it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry

from analytics.chain import DEFAULT_MAX_WRITERS, WriterPool
from analytics.errors import SchemaError
from analytics.personal_data import PersonalDataCipher
from analytics.personal_data import mask_value as mask_value

log = logging.getLogger(__name__)

SCHEMA_REVISION = "0006_audit_integrity"
"""The Alembic revision these models match; `init` refuses a database at any other revision."""

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

    Attributes:
        message_id: Segment's `messageId`; unique, so a replay can never add a second entry.
        recorded_at: when the entry was written (what time filters use).
        timestamp: the message's own `timestamp` (kept by replays).
        payload: the whole message, personal data masked unless configured otherwise.
        destination: where a tester send went, as `name:key-fingerprint` (never the key itself);
            None for the application's own client.
        encrypted_personal_data: the masked values in clear, encrypted (`analytics.personal_data`),
            so that replay can send the real values; None without `AUDIT_ENCRYPTION_KEY`.
        writer_id, seq, prev_hash, entry_hash: the entry's link in its writer's hash chain
            (`analytics.chain`).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("writer_id", "seq"),
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
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
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
    destination: Mapped[str | None] = mapped_column(String(64))
    catalog_version: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    encrypted_personal_data: Mapped[str | None] = mapped_column(Text)
    writer_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class DeliveryAttempt(Base):
    """One delivery outcome for one message: the batch's HTTP answer, or why it was given up.

    Keyed by `message_id` rather than a foreign key to the entry's row id, so the two tables can
    later be partitioned or distributed independently (issue notes in README "Growing").

    Attributes:
        source: the path that made the attempt (`replay` for a re-send); None on older rows.
        actor: who started it, for person-initiated attempts (a replay).
    """

    __tablename__ = "delivery_attempts"

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


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the dashboard read while applications write; the busy timeout queues writers."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (`postgres://`, driverless) and pick our drivers.

    Also creates the folder of a SQLite file, so a fresh checkout needs no manual step.
    """
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def create_audit_engine(url: str) -> Engine:
    """An engine for the audit database at `url`."""
    return create_engine(normalise_database_url(url), pool_pre_ping=True)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has never been migrated."""
    with engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
        return revision


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite keeps a time's wall clock and drops its offset: store every time in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class AuditStore:
    """Writes and reads the audit log.

    Each store is a set of writers (`analytics.chain.WriterPool`): the chains it extends live in
    its memory, so keep one store per process rather than one per call.

    Args:
        engine: the audit database.
        mask_personal_data: store personal-data values masked (the default) rather than in clear.
        mask_key: the key of the masking fingerprint; set it per deployment.
        chain_key: the key of the entries' chain hashes (`AUDIT_CHAIN_KEY`); set a secret per
            deployment, the same on every host, and keep it out of the database.
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
        encryption_key: str | None = None,
        max_writers: int = DEFAULT_MAX_WRITERS,
    ) -> None:
        self.engine = engine
        self.mask_personal_data = mask_personal_data
        self.mask_key = mask_key
        self.chain_key = chain_key
        self.cipher = PersonalDataCipher.from_setting(encryption_key)
        self.writers = WriterPool(max_writers)

    def check_schema(self) -> None:
        """Refuse a database that is not at this library's schema revision.

        Raises:
            SchemaError: with the one command that fixes it.
        """
        current = schema_revision(self.engine)
        where = self.engine.url.render_as_string(hide_password=True)
        if current is None:
            raise SchemaError(
                f"the audit database {where} has no schema: "
                "run `event-catalog db upgrade` with DATABASE_URL set to it"
            )
        if current != SCHEMA_REVISION:
            raise SchemaError(
                f"the audit database {where} is at schema revision {current}, this library needs "
                f"{SCHEMA_REVISION}: run `event-catalog db upgrade` with DATABASE_URL set to it"
            )

    def stored_form(self, message: dict[str, Any], personal_data_keys: Collection[str]) -> dict[str, Any]:
        """The message as the audit log keeps it: personal-data values masked unless configured off."""
        if not self.mask_personal_data or not personal_data_keys:
            return message
        section = "properties" if message.get("type") == "track" else "traits"
        values = message.get(section) or {}
        masked = {
            k: mask_value(v, self.mask_key) if k in personal_data_keys else v for k, v in values.items()
        }
        return {**message, section: masked}

    def _sealed(self, message: dict[str, Any], personal_data_keys: Collection[str]) -> str | None:
        """The personal-data values that masking hides, encrypted for replay; None if none or no key."""
        if self.cipher is None or not self.mask_personal_data or not personal_data_keys:
            return None
        values = message.get("properties" if message.get("type") == "track" else "traits") or {}
        originals = {key: values[key] for key in personal_data_keys if key in values}
        return self.cipher.seal(originals) if originals else None

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
    ) -> None:
        """Write a new entry for a message, in its own transaction: one INSERT, chained.

        The writer is held across the insert (the next entry's hash depends on this one), so
        concurrent threads use different writers of the pool rather than queueing on one.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused it (the caller must not send).
        """
        properties = message.get("properties") or {}
        row = {
            "message_id": message["messageId"],
            "timestamp": _utc(datetime.fromisoformat(message["timestamp"])),
            "type": message["type"],
            "event": message.get("event"),
            "user_id": message.get("userId"),
            "project_id": _as_int(properties.get("proj_id")),
            "cluster_id": _as_int(properties.get("cluster_id")),
            "status": str(status),
            "source": str(source),
            "actor": actor,
            "destination": destination,
            "catalog_version": (message.get("context", {}).get("eventCatalog") or {}).get("version"),
            "error": error,
            "payload": self.stored_form(message, personal_data_keys),
            "encrypted_personal_data": self._sealed(message, personal_data_keys),
        }
        with self.writers.writer() as writer:
            row["recorded_at"] = row["status_changed_at"] = writer.stamp(_now())
            row.update(writer.link(self.chain_key, row))
            with self.engine.begin() as connection:
                connection.execute(insert(AuditEntry), [row])
            writer.advance(row)

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
        attempts = [
            {
                "message_id": message_id,
                "attempted_at": now,
                "outcome": str(status),
                "http_status": http_status,
                "error": error,
                "latency_ms": latency_ms,
                "source": None if source is None else str(source),
                "actor": actor,
            }
            for message_id in ids
        ]
        change = (
            update(AuditEntry)
            .where(AuditEntry.message_id.in_(ids), AuditEntry.status != AuditStatus.DELIVERED)
            .values(status=str(status), status_changed_at=now, http_status=http_status, error=error)
        )
        with self.engine.begin() as connection:
            connection.execute(change)
            connection.execute(insert(DeliveryAttempt), attempts)

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
