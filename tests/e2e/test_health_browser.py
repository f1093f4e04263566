"""The admins' delivery health page in a real browser: the header link, and the window filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from auditlog import record_delivery
from browser_helpers import wait_until_htmx_has
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus, AuditStore, create_audit_engine

pytestmark = pytest.mark.e2e


def test_health_page_follows_the_window_and_explains_a_bad_one(
    live_server: str, page: Page, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    record_delivery(store, AuditStatus.DELIVERED)
    record_delivery(store, AuditStatus.FAILED, http_status=503, error="upstream unavailable")
    record_delivery(
        store,
        AuditStatus.FAILED,
        recorded=datetime.now(UTC) - timedelta(days=3),
        http_status=400,
        error="a failure three days ago",
    )
    store.engine.dispose()

    page.goto(live_server + "/audit/")
    page.get_by_role("link", name="Health", exact=True).click()
    expect(page).to_have_title("Delivery health · event-catalog")
    section = page.get_by_role("region", name="application client")
    expect(section).to_contain_text("50.0 %")
    expect(section.get_by_role("table")).to_contain_text("upstream unavailable")
    expect(section).not_to_contain_text("a failure three days ago")

    window = page.get_by_label("Window")
    wait_until_htmx_has(page, "form.filters")
    window.fill("7d")
    expect(section).to_contain_text("a failure three days ago")
    expect(section).to_contain_text("33.3 %")
    expect(page).to_have_url(re.compile(r"/health\?window=7d$"))

    window.fill("soon")
    expect(page.locator("#window-error")).to_contain_text("'soon' is not a duration")
    window.fill("24h")
    expect(page.locator("#window-error")).to_be_empty()
    expect(section).not_to_contain_text("a failure three days ago")
