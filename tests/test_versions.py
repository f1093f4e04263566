"""Catalog versions: recorded once per version, by the library and the dashboard, on both databases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg_roles import temporary_role
from sqlalchemy import Engine, make_url, select

import analytics
from analytics.audit import AuditStore, CatalogVersion
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.durations import as_utc
from analytics.errors import AuditDatabaseError
from analytics.versions import bundle_query, record_version, versions_query


class _Past:
    """An older catalog as `record_version` reads it."""

    version = "000000000old"

    def schema_bundle(self) -> dict:  # type: ignore[type-arg]
        return {"events": {}, "identifiers": {}}


def test_record_version_is_idempotent(engine: Engine) -> None:
    assert record_version(engine, CATALOG) is True
    assert record_version(engine, CATALOG) is False
    with engine.connect() as connection:
        rows = connection.execute(select(CatalogVersion.version)).scalars().all()
        bundle = connection.execute(bundle_query(CATALOG.version)).scalar_one()
    assert rows == [CATALOG.version]
    assert bundle == CATALOG.schema_bundle()


def test_versions_are_listed_newest_first_and_keep_when_they_were_first_seen(engine: Engine) -> None:
    then = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    record_version(engine, _Past(), now=then)  # type: ignore[arg-type]
    record_version(engine, CATALOG)
    record_version(engine, _Past(), now=then + timedelta(days=100))  # type: ignore[arg-type]
    with engine.connect() as connection:
        listed = [(version, as_utc(seen)) for version, seen in connection.execute(versions_query())]
    assert [version for version, _ in listed] == [CATALOG.version, "000000000old"]
    assert listed[1][1] == then


def test_init_records_the_running_version(database_url: str, collector: Collector, engine: Engine) -> None:
    analytics.init("key", host=collector.url, database_url=database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(select(CatalogVersion.version)).scalars().all() == [CATALOG.version]
    finally:
        analytics.shutdown()


@pytest.mark.parametrize(
    ("grants", "denied"),
    [
        (
            ["GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"],
            "permission denied for table catalog_versions",
        ),
        (
            # As on a standby: every right, but no transaction may write.
            [
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
                "ALTER ROLE {role} SET default_transaction_read_only = on",
            ],
            "cannot execute INSERT in a read-only transaction",
        ),
    ],
)
def test_init_refuses_a_postgresql_role_that_may_only_read(
    postgres_engine: Engine, caplog: pytest.LogCaptureFixture, grants: list[str], denied: str
) -> None:
    """It started, then lost every message to "permission denied"; its warning quoted the 50 KB INSERT."""
    with temporary_role(postgres_engine, "ec_reader", grants) as url:
        reader = make_url(url)
        with pytest.raises(AuditDatabaseError) as refused:
            analytics.init("key", database_url=url)
        where = reader.set(drivername="postgresql").render_as_string(hide_password=True)
        [warning] = [r.getMessage() for r in caplog.records if r.name == "analytics.versions"]
        assert warning == f"could not record catalog version {CATALOG.version}: {denied}"
        assert str(refused.value) == f"the audit database {where} cannot be used: {denied}"


def test_init_refuses_a_read_only_sqlite_file(sqlite_store: AuditStore, tmp_path: Path) -> None:
    """In a child process: root writes to any file, so as root the child drops that capability."""
    sqlite_store.engine.dispose()
    database = tmp_path / "audit.db"
    database.chmod(0o444)
    command = [
        sys.executable,
        "-c",
        f"import analytics; analytics.init('key', database_url='sqlite:///{database}')",
    ]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")  # util-linux, essential on Debian
        assert setpriv is not None, "setpriv (util-linux) drops root's CAP_DAC_OVERRIDE for this test"
        dropped = "-dac_override,-dac_read_search"
        command = [setpriv, f"--inh-caps={dropped}", f"--bounding-set={dropped}", *command]
    done = subprocess.run(
        command, env={**os.environ, "APP_ENV": "development"}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    # The warning is one line: it quoted the 50 KB statement.
    readonly = "attempt to write a readonly database"
    assert lines[:2] == [
        f"could not record catalog version {CATALOG.version}: {readonly}",
        "Traceback (most recent call last):",
    ]
    refused = f"the audit database sqlite:///{database} cannot be used: {readonly}"
    assert lines[-1] == f"analytics.errors.AuditDatabaseError: {refused}"
