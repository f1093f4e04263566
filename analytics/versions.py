"""The catalog versions a database has seen, each with the schema bundle it stood for.

A message records only its catalog version's hash; to say what a release changed, the bundle
behind each hash must outlive the code that built it. Every process that runs the catalog
(`analytics.init()` in an application host, the dashboard on its first request) records its
version here once; `analytics.diff` then compares any two of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, Insert, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics.audit import CatalogVersion, database_label
from analytics.audit_failures import reason, refuses_writes
from analytics.catalog import Catalog
from analytics.durations import as_utc
from analytics.errors import AuditDatabaseError
from analytics.messages import catalog_marker
from analytics.own_version import OwnVersions

log = logging.getLogger(__name__)


def _insert_if_absent(dialect: str, row: dict[str, Any]) -> Insert:
    """An INSERT that does nothing when the version is already there, so racing hosts both succeed.

    It returns the version it added, if any: `rowcount` is not reliable for ON CONFLICT DO NOTHING.
    """
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CatalogVersion)
    return (
        statement.values(**row)
        .on_conflict_do_nothing(index_elements=[CatalogVersion.version])
        .returning(CatalogVersion.version)
    )


def record_version(engine: Engine, catalog: Catalog, *, now: datetime | None = None) -> bool:
    """Record the catalog's version and bundle unless the database already has it.

    Args:
        engine: a database migrated to this library's revision.
        catalog: the catalog this process runs with.
        now: when it was first seen (tests pass a time; now otherwise).

    Returns:
        Whether this call added the version (False when it was already recorded).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused the write.
    """
    row = {
        "version": catalog.version,
        "first_seen": now or datetime.now(UTC),
        "bundle": catalog.schema_bundle(),
    }
    with engine.begin() as connection:
        added = connection.execute(_insert_if_absent(engine.dialect.name, row)).first()
    return added is not None


def record_version_safely(engine: Engine, catalog: Catalog) -> SQLAlchemyError | None:
    """`record_version` for start-up paths: the catalog's history is not worth failing a host for.

    Returns:
        None once the version is recorded (or was already); otherwise the database's error, logged
        as a one-line warning in the database's words: SQLAlchemy's own text quotes the statement,
        whose bundle is some 50 KB.
    """
    try:
        if record_version(engine, catalog):
            log.info("recorded catalog version %s", catalog.version)
    except SQLAlchemyError as exc:
        log.warning("could not record catalog version %s: %s", catalog.version, reason(exc))
        return exc
    return None


def refuse_read_only(engine: Engine, catalog: Catalog) -> None:
    """`record_version_safely`, but a database that takes reads and refuses writes (a read-only
    SQLite file, a PostgreSQL role granted only SELECT) is refused: the version is the one write a
    host makes at start, so the one place where such a database shows before every message (or
    every sign-in) is lost to it. Any other failure stays a warning.

    Raises:
        AuditDatabaseError: the database refuses writes, in one line naming it and the reason.
    """
    refused = record_version_safely(engine, catalog)
    if refused is not None and refuses_writes(refused):
        where = database_label(engine)
        raise AuditDatabaseError(f"the audit database {where} cannot be used: {reason(refused)}") from refused


def versions_query() -> Select[str, datetime]:
    """Every recorded version with when it was first seen, newest first (bundles left out)."""
    return select(CatalogVersion.version, CatalogVersion.first_seen).order_by(
        CatalogVersion.first_seen.desc(), CatalogVersion.version
    )


@dataclass(frozen=True)
class LaterVersion:
    """A catalog version first seen after the reader's, with the bundle it recorded.

    When a version was first seen is all the database knows of it: not when its code was written. A
    host of an older release started late (a staging build, a host pinned to an old release) is
    first seen after the dashboard too. So a message of such a version is let off only when it
    validates against that version's own recorded schema (`analytics.own_version`): then the
    dashboard's older schema is what lags; a message invalid under its own version is drift.
    """

    first_seen: datetime
    bundle: Mapping[str, Any]


@dataclass(frozen=True)
class LaterVersions:
    """The recorded versions first seen after the reader's (`newer_versions`), with one `OwnVersions`
    over their bundles: a dashboard page's rows or a `drift` run share it, so that each recorded
    schema's validator is built once, not once per row.

    Attributes:
        versions: each version's `LaterVersion`, by name.
    """

    versions: Mapping[str, LaterVersion] = field(default_factory=dict)

    @cached_property
    def own(self) -> OwnVersions:
        """The checker of a message against its own version's recorded schema."""
        return OwnVersions({name: later.bundle for name, later in self.versions.items()})


def newer_versions(reader: Session | Connection, version: str) -> dict[str, LaterVersion]:
    """The recorded versions first seen after `version`, each with when and its bundle (UTC).

    Application hosts deploy before the dashboard (and `event-catalog drift` may run from an older
    checkout): a message a newer release built can carry what an older catalog does not know yet.
    That is the older reader lagging behind, not the message drifting, when the message is valid
    under its own version (`LaterVersion`); the dashboard and `drift` then say so instead.
    """
    seen = select(CatalogVersion.first_seen).where(CatalogVersion.version == version).scalar_subquery()
    rows = reader.execute(
        select(CatalogVersion.version, CatalogVersion.first_seen, CatalogVersion.bundle).where(
            CatalogVersion.first_seen > seen
        )
    )
    return {name: LaterVersion(as_utc(first), bundle) for name, first, bundle in rows}


def bundle_query(version: str) -> Select[dict[str, Any]]:
    """The schema bundle of one recorded version."""
    return select(CatalogVersion.bundle).where(CatalogVersion.version == version)


def bundle_has_spec(bundle: Mapping[str, Any], message: dict[str, Any]) -> bool:
    """Whether a recorded version's bundle describes a stored message: its event string, or the
    spec class that built it (an identify call's only name in the message).

    What the audit entry page says of a message today's catalog has no spec for: that version had
    one (declared outside the dashboard's catalog, or removed since), or no catalog had.
    """
    kind = message.get("type")
    section: Mapping[str, Any] = bundle.get("events" if kind == "track" else "identifiers") or {}
    if kind == "track" and message.get("event") in section:
        return True
    built_by = catalog_marker(message).get("spec")
    if not isinstance(built_by, str):
        return False
    # A bundle names an identify spec by its name, and every schema's `$id` ends with its class name.
    return built_by in section or any(
        isinstance(schema, Mapping) and str(schema.get("$id", "")).rpartition("/")[2] == built_by
        for schema in section.values()
    )
