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
"""

from __future__ import annotations

import hashlib
import hmac
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
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry

from analytics.errors import SchemaError

log = logging.getLogger(__name__)

SCHEMA_REVISION = "0005_users"
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


class Source(StrEnum):
    """The path a message was sent by."""

    APPLICATION = "application"
    TESTER = "tester"
    REPLAY = "replay"
    DASHBOARD = "dashboard"


class AuditEntry(Base):
    """One message, as it was handed to the Segment client, and its current status.

    Attributes:
        message_id: Segment's `messageId`; unique, so a replay can never add a second entry.
        recorded_at: when the entry was written (what time filters use).
        timestamp: the message's own `timestamp` (kept by replays).
        payload: the whole message, personal data masked unless configured otherwise.
        destination: where a tester send went, as `name:key-fingerprint` (never the key itself);
            None for the application's own client.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_recorded_at_id", "recorded_at", "id"),
        Index("ix_audit_entries_event_recorded_at", "event", "recorded_at"),
        # The catalog's activity figures count application traffic only (not tester sends).
        Index("ix_audit_entries_event_source_recorded_at", "event", "source", "recorded_at"),
        Index("ix_audit_entries_status_recorded_at", "status", "recorded_at"),
        Index("ix_audit_entries_user_id_recorded_at", "user_id", "recorded_at"),
        Index("ix_audit_entries_project_id_recorded_at", "project_id", "recorded_at"),
        Index("ix_audit_entries_cluster_id_recorded_at", "cluster_id", "recorded_at"),
        Index("ix_audit_entries_source_recorded_at", "source", "recorded_at"),
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


class DeliveryAttempt(Base):
    """One delivery outcome for one message: the batch's HTTP answer, or why it was given up.

    Keyed by `message_id` rather than a foreign key to the entry's row id, so the two tables can
    later be partitioned or distributed independently (issue notes in README "Growing").
    """

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)


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


def mask_value(value: Any, key: bytes) -> str:
    """A keyed fingerprint of a personal value: not reversible, yet the same value masks the same.

    That lets a reviewer check "did we send this email?" by masking the email they have.
    """
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:16]
    return f"masked:{digest}"


def _now() -> datetime:
    return datetime.now(UTC)


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class AuditStore:
    """Writes and reads the audit log.

    Args:
        engine: the audit database.
        mask_personal_data: store personal-data values masked (the default) rather than in clear.
        mask_key: the key of the masking fingerprint; set it per deployment.
    """

    def __init__(
        self, engine: Engine, *, mask_personal_data: bool = True, mask_key: bytes = b"event-catalog"
    ) -> None:
        self.engine = engine
        self.mask_personal_data = mask_personal_data
        self.mask_key = mask_key

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
        """Write a new entry for a message, in its own transaction.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused it (the caller must not send).
        """
        properties = message.get("properties") or {}
        now = _now()
        row = {
            "message_id": message["messageId"],
            "recorded_at": now,
            "timestamp": datetime.fromisoformat(message["timestamp"]),
            "type": message["type"],
            "event": message.get("event"),
            "user_id": message.get("userId"),
            "project_id": _as_int(properties.get("proj_id")),
            "cluster_id": _as_int(properties.get("cluster_id")),
            "status": str(status),
            "status_changed_at": now,
            "source": str(source),
            "actor": actor,
            "destination": destination,
            "catalog_version": (message.get("context", {}).get("eventCatalog") or {}).get("version"),
            "error": error,
            "payload": self.stored_form(message, personal_data_keys),
        }
        with self.engine.begin() as connection:
            connection.execute(insert(AuditEntry), [row])

    def record_outcome(
        self,
        message_ids: Iterable[str],
        status: AuditStatus,
        *,
        http_status: int | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
    ) -> None:
        """Record what happened to a batch: the entries' new status and one attempt each.

        A `delivered` entry never goes back: a late failure report for a message that was
        delivered by another path (a replay, a retry) is kept as an attempt only.
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
