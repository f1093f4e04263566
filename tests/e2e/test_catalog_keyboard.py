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
