"""The catalog's explanations reach the keyboard: a drift badge's reason was a tooltip only a mouse saw."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.messages import build_message

pytestmark = pytest.mark.e2e


def test_tab_and_enter_open_a_drifting_badge_on_its_reason(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message["properties"]["infra_id"] = "nine"
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="application")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/?attention=1")
    page.get_by_role("link", name="Cluster Provisioning Success", exact=True).focus()
    reason = page.locator("details.explained .reason", has_text="infra_id")
    expect(reason).to_be_hidden()
    page.keyboard.press("Tab")
    expect(page.locator("summary.badge.drifting")).to_be_focused()
    page.keyboard.press("Enter")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("Its latest message no longer matches today's schema: infra_id")


PII_MEANING = "Carries personal data, stored masked in the audit log"


def test_tab_and_enter_open_a_personal_data_badge_on_what_it_means(live_server: str, page: Page) -> None:
    """Its meaning was a tooltip on a span: the keyboard never reached it, touch never showed it."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/")
    row = page.locator("table.events tbody tr").filter(
        has=page.get_by_role("link", name="New User", exact=True)
    )
    row.get_by_role("link", name="New User", exact=True).focus()
    meaning = row.locator("details.explained .reason", has_text=PII_MEANING)
    expect(meaning).to_be_hidden()
    page.keyboard.press("Tab")
    badge = row.locator("summary.badge.pii")
    expect(badge).to_be_focused()
    expect(badge).to_have_text("personal data")
    page.keyboard.press("Enter")
    expect(meaning).to_be_visible()
    # Open, it stays in its cell at 1366×768: the table does not scroll sideways.
    box, cell = meaning.bounding_box(), row.locator('th[scope="row"]').bounding_box()
    assert box is not None and cell is not None and box["x"] + box["width"] <= cell["x"] + cell["width"] + 1
    scroll_width, client_width = page.locator(".table-scroll").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert scroll_width <= client_width


def test_an_identify_call_s_row_header_is_its_name_and_its_summary_describes_its_link(
    live_server: str, page: Page
) -> None:
    """The row header a screen reader repeats before every cell held the whole description."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/identifiers")
    row = page.locator("table.identifiers tbody tr").filter(
        has=page.get_by_role("link", name="Register", exact=True)
    )
    summary = CATALOG.identifier("RegisterIdentify").spec.summary()
    # A disclosure (a group) adds nothing to a name computed from content: the badge is read in the cell.
    expect(row.get_by_role("rowheader")).to_have_accessible_name("Register")
    expect(row.get_by_role("link", name="Register", exact=True)).to_have_accessible_description(summary)
    expect(row.get_by_text(summary)).to_be_visible()
