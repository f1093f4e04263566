"""A link with a filter's word in capitals (`?status=Failed&outcome=Refused`, pasted from a chat or
typed) opens the search it names, its fields showing the lowercase words, and a change to the
search pushes an address with them lowercase."""

from __future__ import annotations

import pytest
import requests
from auditlog import network_error, record
from playwright.sync_api import Page, expect

from analytics.audit import AuditStatus, AuditStore

pytestmark = pytest.mark.e2e


def _failed(sqlite_store: AuditStore, project_id: int, error: str) -> str:
    """A failed entry of `project_id`, whose one attempt ended with `error`."""
    message_id = record(sqlite_store, "ProjectCreate", scope={"user_id": 1, "project_id": project_id})
    sqlite_store.record_outcome([message_id], AuditStatus.FAILED, error=error)
    return message_id


def test_a_link_with_capitals_opens_its_search_and_keeps_it_lowercase(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    refused = _failed(sqlite_store, 12, network_error(requests.ConnectionError))
    _failed(sqlite_store, 12, network_error(requests.ReadTimeout))
    _failed(sqlite_store, 13, network_error(requests.ConnectionError))
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    page.goto(live_server + "/audit/?status=Failed&outcome=Refused")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("checkbox", name="failed", exact=True)).to_be_checked()
    expect(page.get_by_label("Outcome", exact=True)).to_have_value("refused")
    page.get_by_label("Project", exact=True).fill("12")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/audit/?status=failed&project=12&outcome=refused")
    expect(rows.first.get_by_role("link").first).to_have_attribute("href", f"/audit/entries/{refused}")
