"""A laptop screen (1366x768) with a catalog version first seen after the dashboard's already sending."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from browser_helpers import PICKER_CHROME, picker_room
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import update

from analytics.audit import AuditStatus, CatalogVersion
from analytics.catalog import CATALOG
from analytics.messages import build_message
from analytics.versions import record_version

pytestmark = pytest.mark.e2e

NEWER = "34bddcda411e"


def test_a_newer_version_reads_as_news_on_the_changes_and_event_pages(
    app: Flask, live_server: str, page: Page
) -> None:
    """The event page said "drifting, no longer matches today's schema" of a message from a newer
    release; the Changes page never mentioned that release and cut its "To version" label off."""
    from webapp.extensions import analytics_client, db

    now = datetime.now(UTC)
    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    newer = copy.deepcopy(CATALOG.schema_bundle())
    newer["events"]["New Project Event"]["properties"]["template"] = {"type": ["string", "null"]}
    with app.app_context():
        record_version(
            db.engine,
            SimpleNamespace(version="8d7226b8c1ef", schema_bundle=lambda: older),
            now=now - timedelta(days=17),
        )  # type: ignore[arg-type]
        # Signing in recorded the dashboard's version already: as if it had been released last week.
        record_version(db.engine, CATALOG)
        with db.engine.begin() as connection:
            connection.execute(
                update(CatalogVersion)
                .where(CatalogVersion.version == CATALOG.version)
                .values(first_seen=now - timedelta(days=6))
            )
        record_version(
            db.engine,
            SimpleNamespace(version=NEWER, schema_bundle=lambda: newer),
            now=now - timedelta(hours=1),
        )  # type: ignore[arg-type]
    message = build_message(CATALOG.event("ProjectCreate").example_spec())
    message["properties"]["template"] = "django"
    message["context"]["eventCatalog"]["version"] = NEWER
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/changes")
    notice = page.get_by_role("note").filter(has_text="A catalog version first seen after this dashboard's")
    expect(notice).to_be_in_viewport()
    for select in ("#from", "#to"):
        room, widest, label = picker_room(page, select)
        assert widest + PICKER_CHROME < room, (select, label, widest, room)
    notice.get_by_role("link", name="See what it changes").click()
    expect(page.locator("p.count")).to_contain_text(f"{CATALOG.version}")
    expect(page.get_by_text('New Project Event: "template" added')).to_be_visible()

    page.goto(live_server + "/events/ProjectCreate")
    note = page.locator("p.drift").filter(has_text="later version")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"built by catalog version {NEWER}, first seen")
    expect(page.locator(".badge.drifting")).to_have_count(0)
