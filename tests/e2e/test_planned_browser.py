"""A planned event in real Chromium: its badge, the Status filter, needs attention once sent, its page.

The planned specs are the test-only `planned_specs`, joined to the shipped catalog for these tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from planned_specs import (
    EVENT,
    planned_catalog,  # noqa: F401  (a fixture)
)
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("planned_catalog")]


def test_the_planned_badge_and_the_status_filter_find_a_planned_event(
    live_server: str, page: Page, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server + "/")
    names = page.locator("table.events tbody a.event-name")
    row = page.locator("table.events tbody tr").filter(has=page.get_by_role("link", name=EVENT, exact=True))
    badge = row.locator(".badge.status-planned")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("planned")
    expect(badge).to_have_attribute("title", "Declared in the catalog, not sent by any application yet")
    # The stylesheet tells it apart from active and deprecated: dashed, as a plan rather than a fault.
    assert badge.evaluate("badge => getComputedStyle(badge).borderTopStyle") == "dashed"
    expect(row.locator(".badge.never-sent")).to_have_count(0)

    page.get_by_label("Status").select_option("planned")
    expect(page).to_have_url(f"{live_server}/?status=planned")
    expect(names).to_have_text([EVENT])
    page.reload()
    expect(page.get_by_label("Status")).to_have_value("planned")
    expect(names).to_have_text([EVENT])

    # Sent by an application, it needs attention: the catalog should say it is active.
    app_record_sent("InvoiceSend", datetime.now(UTC) - timedelta(hours=1))
    page.get_by_label("Status").select_option("")
    expect(page).to_have_url(f"{live_server}/")
    page.get_by_label("Needs attention").check()
    expect(page).to_have_url(f"{live_server}/?attention=1")
    expect(names).to_have_text([EVENT])
    expect(page.locator(".badge.planned-sent")).to_have_text("planned, already sent")

    names.first.click()
    expect(page).to_have_url(f"{live_server}/events/InvoiceSend")
    expect(page.locator("#planned-note")).to_contain_text("no application is meant to send it yet")
    expect(page.locator("p.drift .badge.planned-sent")).to_be_visible()


def test_tab_and_enter_open_the_planned_badge_on_what_planned_means(live_server: str, page: Page) -> None:
    """It said so only in a tooltip, which the keyboard and touch never reach."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/?status=planned")
    row = page.locator("table.events tbody tr").filter(has=page.get_by_role("link", name=EVENT, exact=True))
    meaning = row.locator(".reason", has_text="Declared in the catalog, not sent by any application yet")
    expect(meaning).to_be_hidden()
    badge = row.locator("summary.badge.status-planned")
    badge.focus()
    expect(badge).to_be_focused()
    page.keyboard.press("Enter")
    expect(meaning).to_be_visible()
    assert meaning.bounding_box() is not None
