"""An entry an older catalog version recorded with its email in clear, opened in a real browser: the
viewer reads the mask, an admin the stored value and why erasure cannot reach it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auditlog import record, record_catalog_version, without_personal_data
from playwright.sync_api import Page, expect

from analytics.audit import AuditStore
from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e

EMAIL = "bob@example.com"
OLD_VERSION = "0123456789ab"


def _old_host_sends(store: AuditStore) -> str:
    record_catalog_version(store, OLD_VERSION, without_personal_data("New User", "email"))
    return record(
        store,
        "UserCreate",
        scope={"user_id": 7},
        properties={"email": EMAIL},
        version=OLD_VERSION,
        masked=False,
    )


def test_a_viewer_reads_the_mask_of_an_email_recorded_in_clear(
    live_server: str,
    anonymous_page: Page,
    sign_in: Callable[[Page, str], None],
    make_account: Callable[..., str],
    sqlite_store: AuditStore,
) -> None:
    message_id = _old_host_sends(sqlite_store)
    sign_in(anonymous_page, make_account(Role.VIEWER))
    anonymous_page.goto(f"{live_server}/audit/entries/{message_id}")
    message = anonymous_page.locator("section[aria-labelledby=message-heading]")
    expect(message).to_contain_text("Personal data is masked for your role")
    expect(message).to_contain_text('"email": "masked:')
    expect(message).not_to_contain_text(EMAIL)
    expect(message).not_to_contain_text("Stored in clear")


def test_an_admin_reads_the_stored_email_and_that_erasure_cannot_reach_it(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    message_id = _old_host_sends(sqlite_store)
    page.goto(f"{live_server}/audit/entries/{message_id}")
    message = page.locator("section[aria-labelledby=message-heading]")
    expect(message).to_contain_text(EMAIL)
    note = message.get_by_role("note").filter(has_text="Stored in clear")
    expect(note).to_contain_text(
        f"recorded under catalog version {OLD_VERSION}, before it was marked personal data"
    )
    expect(note).to_contain_text("an erasure request cannot remove it")
