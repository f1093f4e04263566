"""Catalog versions: recorded once per version, by the library and the dashboard, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

import analytics
from analytics.audit import CatalogVersion
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.queries import as_utc
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
