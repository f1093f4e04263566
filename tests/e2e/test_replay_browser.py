"""Re-sending from the audit view in a real browser, and the entry page's integrity badge."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message

pytestmark = pytest.mark.e2e


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


def test_resend_the_failed_entries_of_a_view_and_see_the_attempt(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    first, second = _failed_entries(app, 2)
    page.goto(live_server + "/audit/?status=failed")
    button = page.get_by_role("button", name="Re-send 2 entries not delivered")
    expect(button).to_be_visible()
    expect(page.locator("#audit-rows .audit-status")).to_have_text(["failed", "failed"])
    button.click()
    expect(page.locator("#audit-replay").get_by_role("status")).to_have_text(
        "Re-sent 2 entries: 2 delivered; 0 skipped."
    )
    # The rows above the widget say what the re-send did without another search.
    expect(page.locator("#audit-rows .audit-status")).to_have_text(["delivered", "delivered"])
    expect(page.locator("#audit-count")).to_have_text("0 entries")
    expect(page.locator("#audit-replay")).not_to_contain_text("Re-send 2")
    assert {m["messageId"] for m in collector.received()} == {first, second}

    page.goto(f"{live_server}/audit/entries/{first}")
    expect(page.locator(".badge.integrity-ok")).to_have_text("verifies")
    history = page.locator("table.delivery-attempts tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(1)).to_contain_text("delivered")
    expect(history.nth(1)).to_contain_text("replay · admin@example.com")
    expect(page.get_by_role("button", name="Re-send unchanged")).to_have_count(0)


def test_resend_one_entry_from_its_page_without_javascript_help(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    [message_id] = _failed_entries(app, 1)
    page.goto(f"{live_server}/audit/entries/{message_id}")
    page.get_by_role("button", name="Re-send unchanged").click()
    expect(page).to_have_title("Re-send undelivered entries · Audit log · event-catalog")
    expect(page.get_by_role("status")).to_have_text("Re-sent 1 entry: 1 delivered; 0 skipped.")
    page.get_by_role("link", name="Back to the entry").click()
    expect(page.locator("h1 .audit-status")).to_have_text("delivered")
