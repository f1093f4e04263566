"""The re-send confirmation page lists, a page at a time, every entry its click takes, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus
from analytics.catalog import CATALOG
from analytics.messages import build_message

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
_RUN_AXE = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(
    v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join("; ")})`)"""


def _failed_entries(app: Flask, count: int) -> list[str]:
    """Entries as a failed delivery leaves them: recorded pending, then the endpoint's 500."""
    from webapp.extensions import analytics_client

    ids = []
    with app.app_context():
        store = analytics_client.store()
        for _ in range(count):
            message = build_message(CATALOG.event("ProjectCreate").example_spec())
            store.record(message, status=AuditStatus.PENDING, source="application")
            store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=500, error="boom")
            ids.append(message["messageId"])
    return ids


def test_show_the_next_entries_a_click_re_sends(live_server: str, page: Page, app: Flask) -> None:
    """The page listed the first 20 of 25 and said no more of the other 5 than that they existed."""
    ids = _failed_entries(app, 25)
    page.goto(live_server + "/audit/replay/?status=failed")
    rows = page.locator("table.replay-preview tbody tr:not(:has(th))")
    expect(rows).to_have_count(20)
    said = page.locator("#replay-more")
    expect(said).to_have_text(
        "The first 20 of the 25 entries the button re-sends are listed. Show the next 5"
    )
    said.get_by_role("link", name="Show the next 5").click()
    expect(rows).to_have_count(25)
    expect(said).to_have_text("All 25 entries the button re-sends are listed.")
    # The focus goes to where the added rows start, for a keyboard or a screen reader.
    expect(page.get_by_role("rowheader", name="Entries 21 to 25 of 25")).to_be_focused()
    listed = [
        title
        for title in rows.locator('td[data-label="Message id"] a').evaluate_all("a => a.map(e => e.title)")
    ]
    assert listed == ids
    expect(page.get_by_role("button", name="Re-send them")).to_be_visible()
    # The added rows pass axe-core's rules as the first ones do (injected through DevTools, which the CSP
    # does not govern).
    page.evaluate(AXE.read_text())
    assert page.evaluate(_RUN_AXE) == []
