"""The audit search in a browser: an outcome with a status it cannot have is said next to the field."""

from __future__ import annotations

import pytest
from auditlog import record_outage
from playwright.sync_api import Page, expect

from analytics.audit import AuditStore

pytestmark = pytest.mark.e2e


def test_an_outcome_beside_pending_is_refused_next_to_the_outcome_field(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    """Ticking `pending` beside failed under an outcome listed the failed entries only, as if there were
    no pending one; the search now says so next to Outcome and keeps the filters as they were set."""
    ids = record_outage(sqlite_store)
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    page.goto(f"{live_server}/audit/?outcome=refused&status=failed")
    expect(rows).to_have_count(2)  # the dropped one is not ticked
    outcome_error = page.locator("#error-outcome")
    expect(outcome_error).to_have_text("")

    page.get_by_role("checkbox", name="pending", exact=True).check()
    expect(outcome_error).to_have_text(
        "narrows failed and dropped entries only: 'pending' in status would be left out; "
        "drop it from status, or drop outcome"
    )
    expect(page.get_by_label("Outcome")).to_have_value("refused")
    expect(page.get_by_role("checkbox", name="failed", exact=True)).to_be_checked()
    expect(page.get_by_role("checkbox", name="pending", exact=True)).to_be_checked()
    expect(page.locator("#audit-replay-send")).to_have_count(0)

    page.get_by_role("checkbox", name="pending", exact=True).uncheck()
    page.get_by_role("checkbox", name="dropped", exact=True).check()
    expect(outcome_error).to_have_text("")
    expect(rows).to_have_count(len(ids["refused"]))
