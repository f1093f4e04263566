"""Under the live tail, the re-send offer takes in a pending entry once it turns stuck, in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog import record_delivery
from flask import Flask
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus
from analytics.collector import Collector

pytestmark = pytest.mark.e2e


def test_the_offer_under_the_live_tail_takes_in_an_entry_that_turned_stuck(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    """The offer kept saying "not stuck yet" of a pending entry long after it was stuck: it changes no
    row, so the tail never asked the offer to read itself again."""
    from webapp.extensions import analytics_client

    app.config["AUDIT_STUCK_AFTER"] = timedelta(seconds=6)
    with app.app_context():
        store = analytics_client.store()
        failed = record_delivery(store, AuditStatus.FAILED, http_status=500)
        pending = record_delivery(store, AuditStatus.PENDING)
    page.goto(live_server + "/audit/?live=1")
    widget = page.locator("#audit-replay")
    expect(widget.get_by_role("button")).to_have_text("Re-send 1 entry not delivered")
    expect(widget.locator(".replay-waiting")).to_contain_text("Not stuck yet: 1 pending entry")
    # Nothing arrives and no row changes; the entry only passes the threshold.
    expect(widget.get_by_role("button")).to_have_text("Re-send 2 entries not delivered")
    expect(widget.locator(".replay-waiting")).to_have_count(0)
    widget.get_by_role("button").click()
    expect(widget.get_by_role("status")).to_have_text("Re-sent 2 entries: 2 delivered.")
    assert {message["messageId"] for message in collector.received()} == {failed, pending}


def test_a_pending_row_under_the_live_tail_gets_its_stuck_badge_without_a_reload(
    live_server: str, page: Page, app: Flask
) -> None:
    """The live redraw left it a plain pending row, while the page loaded afresh marked it stuck."""
    from webapp.extensions import analytics_client

    app.config["AUDIT_STUCK_AFTER"] = timedelta(seconds=4)
    with app.app_context():
        pending = record_delivery(analytics_client.store(), AuditStatus.PENDING)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/audit/?live=1")
    row = page.locator("#audit-rows tr").filter(has=page.locator(f'a[href="/audit/entries/{pending}"]'))
    expect(row.locator(".badge.audit-status")).to_have_text("pending")
    expect(row.locator(".badge.audit-stuck")).to_have_count(0)
    expect(row.locator(".badge.audit-stuck")).to_have_text("stuck")
    expect(row.locator(".badge.audit-stuck")).to_be_visible()
