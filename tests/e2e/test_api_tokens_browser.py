"""API tokens in a real browser: create one from the header's link, see it once, use it, revoke it."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests
from browser_helpers import dismiss_then_accept
from playwright.sync_api import Page, expect

from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e


def _catalog_status(live_server: str, token: str) -> int:
    """What a script without a session gets from the catalog API with this token."""
    answer = requests.get(
        f"{live_server}/api/catalog", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code


def test_a_viewer_creates_a_token_sees_it_once_and_revokes_it(
    live_server: str,
    anonymous_page: Page,
    make_account: Callable[..., str],
    sign_in: Callable[[Page, str], None],
) -> None:
    page = anonymous_page
    sign_in(page, make_account(Role.VIEWER))
    page.goto(live_server + "/")
    page.locator("header .account").get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")
    expect(page.get_by_text("You have no API tokens yet.")).to_be_visible()

    page.get_by_role("button", name="Create the token").click()
    expect(
        page.get_by_text("Give the token a name, e.g. the script or CI job that will use it.")
    ).to_be_visible()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Name").fill("release CI")
    page.get_by_role("button", name="Create the token").click()
    shown = page.get_by_label("Token", exact=True)
    expect(shown).to_have_value(re.compile(r"^ect_[A-Za-z0-9_-]{43}$"))
    expect(shown).not_to_be_editable()
    expect(shown).to_be_focused()
    expect(page.locator("#new-token-note")).to_have_text(
        "Copy it now, it will not be shown again: only a fingerprint of it is kept."
    )
    token = shown.input_value()
    # Shown once, so copied in one click, as the tester's snippets are; the page's status says it.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy the token").click()
    expect(page.get_by_role("button", name="Copied the token")).to_be_visible()
    expect(page.locator("#copy-status")).to_have_text("Copied the token.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    expect(page.locator("pre.code")).to_contain_text(f"{live_server}/api/catalog")
    assert _catalog_status(live_server, token) == 200

    page.goto(live_server + "/account/tokens")
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)
    assert token not in page.content()
    row = page.get_by_role("row", name=re.compile("release CI"))
    expect(row).to_contain_text(f"{token[:8]}…")
    expect(row).to_contain_text("active")

    asked = dismiss_then_accept(page)
    row.get_by_role("button", name="Revoke release CI").click()
    expect(row).to_contain_text("active")  # dismissed: still works
    assert _catalog_status(live_server, token) == 200
    row.get_by_role("button", name="Revoke release CI").click()
    expect(page).to_have_url(live_server + "/account/tokens")
    assert asked[0] == "Revoke the token “release CI”? Whatever uses it is refused from its next call."
    expect(page.get_by_role("status")).to_have_text(f"Revoked the token “release CI” ({token[:8]}…).")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    assert _catalog_status(live_server, token) == 401
