"""An email or a preset name that would look like another is refused next to its field, in a real
browser: a zero-width space made a second `ada@example.com` account, and `Café` typed with a
combining accent a second `Café` chip (the intl walk, findings F4 and F7)."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.extensions import db
from webapp.tester.models import ScopePreset

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough password"


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_look_alike_email_is_refused_beside_the_email_field(
    app: Flask, live_server: str, page: Page
) -> None:
    page.goto(live_server + "/users/")
    page.locator("#email").fill("admin\u200b@example.com")
    page.locator("#password").fill(PASSWORD)
    page.locator("#confirm").fill(PASSWORD)
    page.get_by_role("button", name="Add the account").click()
    expect(page.locator("#email-errors")).to_have_text(
        "'admin\\u200b@example.com' is not an email address: it holds an invisible character (U+200B) "
        "that makes it read as another address."
    )
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    assert _count(app, User) == 1


def test_a_look_alike_preset_name_is_refused_beside_the_name_field(
    app: Flask, live_server: str, page: Page
) -> None:
    page.goto(live_server + "/tester/presets")
    page.locator("#p-name").fill("Café")
    page.locator("#p-user_id").fill("5")
    page.get_by_role("button", name="Save preset").click()
    expect(page.get_by_role("cell", name="Café", exact=True)).to_be_visible()
    page.locator("#p-name").fill("CAFE\u0301")
    page.locator("#p-user_id").fill("6")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("#error-p-name")).to_have_text("A preset named 'CAFÉ' already exists.")
    page.locator("#p-name").fill("東京\u200b")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("#error-p-name")).to_have_text(
        "a name cannot hold an invisible character (U+200B): it makes the name look like another"
    )
    assert _count(app, ScopePreset) == 1
