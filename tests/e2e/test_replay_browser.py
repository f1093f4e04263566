"""Re-sending from the audit view in a real browser, and the entry page's integrity badge."""

from __future__ import annotations

import re

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
        "Re-sent 2 entries: 2 delivered."
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


def test_the_live_tail_redraws_the_resend_offer_and_keeps_a_result(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    """Under the live tail the widget kept "Re-send 60 entries not delivered" while 40 more failed
    entries were listed above it, and its click re-sent 100. Then the offer's redraw wiped the
    result's "Not delivered 3: HTTP 503 …", which was drawn inside the offer."""
    _failed_entries(app, 2)
    page.goto(live_server + "/audit/?status=failed&live=1")
    widget = page.locator("#audit-replay")
    expect(widget.get_by_role("button")).to_have_text("Re-send 2 entries not delivered")
    arrived = _failed_entries(app, 1)
    expect(page.locator("#audit-rows tr")).to_have_count(3)
    expect(widget.get_by_role("button")).to_have_text("Re-send 3 entries not delivered")
    collector.inject(503, times=10_000)
    widget.get_by_role("button").click()
    result = widget.get_by_role("status")
    expect(result).to_have_text("Re-sent 3 entries: 0 delivered, 3 failed.")
    why = widget.locator(".replay-failed")
    expect(why).to_have_text(re.compile(r"^Not delivered 3: HTTP 503 "))
    assert collector.stats.requests > 0 and not collector.received()
    # The offer is read again as more arrive; the result of the click, all of it, stays above it.
    _failed_entries(app, 1)
    expect(widget.get_by_role("button")).to_have_text("Re-send 4 entries not delivered")
    expect(result).to_have_text("Re-sent 3 entries: 0 delivered, 3 failed.")
    expect(why).to_have_text(re.compile(r"^Not delivered 3: HTTP 503 "))
    collector.reset()
    widget.get_by_role("button").click()
    expect(result).to_have_text("Re-sent 4 entries: 4 delivered.")
    assert arrived[0] in {m["messageId"] for m in collector.received()}


def test_resend_one_entry_from_its_page_without_javascript_help(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    [message_id] = _failed_entries(app, 1)
    page.goto(f"{live_server}/audit/entries/{message_id}")
    page.get_by_role("button", name="Re-send unchanged").click()
    expect(page).to_have_title("Re-send undelivered entries · Audit log · event-catalog")
    expect(page.get_by_role("status")).to_have_text("Re-sent 1 entry: 1 delivered.")
    page.get_by_role("link", name="Back to the entry").click()
    expect(page.locator("h1 .audit-status")).to_have_text("delivered")


def test_the_which_ones_page_shows_user_and_last_error_on_a_laptop_screen(
    live_server: str, page: Page, app: Flask
) -> None:
    """Who was affected and why, on a 1366×768 screen without scrolling sideways, a long error included."""
    from webapp.extensions import analytics_client

    _failed_entries(app, 2)
    with app.app_context():
        store = analytics_client.store()
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        token = "x" * 300  # an error body with no space to wrap at
        store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=502, error=token)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/audit/replay/?status=failed")
    rows = page.locator("table.replay-preview tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator('td[data-label="User"]')).to_have_text("1")
    expect(rows.locator('td[data-label="Last error"]')).to_have_text(
        ["HTTP 500 boom", "HTTP 500 boom", f"HTTP 502 {'x' * 90}…"]
    )
    expect(rows.first).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
