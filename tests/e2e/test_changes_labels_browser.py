"""The Changes page's version pickers at 1366x768: no label cut, whichever version is picked."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from browser_helpers import PICKER_CHROME, picker_room
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import update

from analytics.audit import CatalogVersion
from analytics.catalog import CATALOG
from analytics.versions import record_version

pytestmark = pytest.mark.e2e


def test_every_version_label_fits_its_picker_on_a_laptop(app: Flask, live_server: str, page: Page) -> None:
    """Versions first seen the same day are told apart by their seconds, and the dashboard's own
    label says so too: the two pickers shared the row equally, which cut "20:02:1" off the longest."""
    from webapp.extensions import db

    now = datetime.now(UTC).replace(hour=20, minute=2, second=10, microsecond=0)
    with app.app_context():
        for version, seconds in (("8d7226b8c1ef", 25), ("34bddcda411e", 35)):
            bundle = copy.deepcopy(CATALOG.schema_bundle())
            bundle["events"].pop("Stack Deletion" if seconds == 25 else "New User")
            record_version(
                db.engine,
                SimpleNamespace(version=version, schema_bundle=lambda bundle=bundle: bundle),
                now=now + timedelta(seconds=seconds),
            )  # type: ignore[arg-type]
        # Signing in may have recorded the dashboard's version already, at the real time.
        record_version(db.engine, CATALOG, now=now)
        with db.engine.begin() as connection:
            connection.execute(
                update(CatalogVersion).where(CatalogVersion.version == CATALOG.version).values(first_seen=now)
            )

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/changes")
    for select in ("#from", "#to"):
        room, widest, label = picker_room(page, select)
        assert "this dashboard's" in label and ":10 UTC" in label, label
        assert widest + PICKER_CHROME < room, (select, label, widest, room)
