"""A refused htmx action says so where it was made, in a real browser.

htmx swaps nothing in for a 4xx answer: a Save preset, Disable, Revoke, Delete or re-send refused
because the role was lowered in the meantime, or because the page is from before the latest
sign-in, left the page as it was, as if the action had been done.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from browser_helpers import wait_until_htmx_has
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from analytics.audit import AuditStatus
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp.auth import accounts
from webapp.auth.identity import SIGNED_OUT
from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e


def _lower_role(app: Flask, email: str, role: Role) -> None:
    """What an admin does meanwhile, from the command line."""
    with app.app_context():
        accounts.set_role(email, role, actor="cli:test")


def _refusal_said(page: Page, slot: str, said: str, region: str | None = None) -> None:
    """The refusal is in `slot`, beside the control, and is read out: by the page's status `region`
    (the tester's, the audit search's), or on a page without one by the slot itself, an alert."""
    expect(page.locator(slot)).to_have_text(said)
    if region is not None:
        expect(page.get_by_role("status").and_(page.locator(region))).to_have_text(said)
    else:
        expect(page.get_by_role("alert").and_(page.locator(slot))).to_have_text(said)


def _token_page_signed_out_in_another_tab(page: Page, live_server: str) -> Page:
    """`page` left on the tokens page listing a new token, "release CI", while another tab signs the
    session out; that other tab."""
    page.goto(live_server + "/account/tokens")
    page.get_by_label("Name").fill("release CI")
    page.get_by_role("button", name="Create the token").click()
    page.goto(live_server + "/account/tokens")
    other = page.context.new_page()
    other.goto(live_server + "/")
    other.get_by_role("button", name="Sign out").click()
    return other


def test_save_preset_refused_for_a_lowered_role_says_so_under_its_name(
    app: Flask,
    live_server: str,
    anonymous_page: Page,
    make_account: Callable[..., str],
    sign_in: Callable[..., None],
) -> None:
    from webapp.extensions import db
    from webapp.tester.models import ScopePreset

    engineer = make_account(Role.ENGINEER, "eng@example.com")
    page = anonymous_page
    sign_in(page, engineer)
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#f-scope-user_id").fill("5")
    page.locator("#f-scope-project_id").fill("12")
    page.get_by_text("Save these ids as a preset").click()
    page.locator("#f-preset_name").fill("staging twelve")
    _lower_role(app, engineer, Role.VIEWER)
    page.get_by_role("button", name="Save preset").click()
    _refusal_said(
        page,
        "#error-f-preset_name",
        "Not saved: Your role (viewer) cannot do this; it needs engineer. An admin can change roles.",
        region="#tester-status",
    )
    expect(page.locator("#f-scope-project_id")).to_have_value("12")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ScopePreset)) == 0


def test_disable_refused_for_a_lowered_role_says_so_in_its_row(
    app: Flask, live_server: str, page: Page, make_account: Callable[..., str]
) -> None:
    make_account(Role.ADMIN, "other-admin@example.com")
    viewer = make_account(Role.VIEWER)
    page.goto(live_server + "/users/")
    row = page.get_by_role("row", name=re.compile(re.escape(viewer)))
    _lower_role(app, "admin@example.com", Role.ENGINEER)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disable").click()
    said = "Not disabled: Your role (engineer) cannot do this; it needs admin. An admin can change roles."
    _refusal_said(page, f"#{row.get_attribute('id')} .refusal", said)
    expect(row).to_contain_text("active")


def test_revoke_refused_for_a_page_from_before_the_latest_sign_in_says_so_and_the_token_stays(
    app: Flask, live_server: str, page: Page, sign_in: Callable[..., None]
) -> None:
    other = _token_page_signed_out_in_another_tab(page, live_server)
    # Signed in again there: this page's form token is the earlier session's.
    sign_in(other, "admin@example.com")
    row = page.get_by_role("row", name=re.compile("release CI"))
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke release CI").click()
    said = (
        "Not revoked: This page was loaded before your latest sign-in (in this or another tab or window), "
        "so its forms are not accepted any more. Reload the page and try again."
    )
    _refusal_said(page, f"#{row.get_attribute('id')} .refusal", said)
    expect(row).to_contain_text("active")
    other.goto(live_server + "/account/tokens")
    expect(other.get_by_role("row", name=re.compile("release CI"))).to_contain_text("active")


def test_revoke_after_signing_out_in_another_tab_leads_to_sign_in_and_says_why(
    live_server: str, page: Page
) -> None:
    """The refusal of a form whose session is gone said "The form expired or was sent from another site"."""
    _token_page_signed_out_in_another_tab(page, live_server)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke release CI").click()
    expect(page).to_have_url(live_server + "/login?next=/account/tokens")
    expect(page.get_by_role("status")).to_have_text(SIGNED_OUT)


def test_delete_preset_refused_for_a_lowered_role_says_so_in_its_row(
    app: Flask,
    live_server: str,
    anonymous_page: Page,
    make_account: Callable[..., str],
    sign_in: Callable[..., None],
) -> None:
    engineer = make_account(Role.ENGINEER, "eng@example.com")
    page = anonymous_page
    sign_in(page, engineer)
    page.goto(live_server + "/tester/presets")
    page.locator("#p-name").fill("staging twelve")
    page.locator("#p-user_id").fill("5")
    page.get_by_role("button", name="Save preset").click()
    row = page.get_by_role("row", name=re.compile("staging twelve"))
    expect(row).to_be_visible()  # the save is boosted: its answer is in before the role is lowered
    _lower_role(app, engineer, Role.VIEWER)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete the preset staging twelve").click()
    said = "Not deleted: Your role (viewer) cannot do this; it needs engineer. An admin can change roles."
    _refusal_said(page, "table.presets-table .refusal", said)
    expect(row).to_be_visible()


def test_resend_refused_for_a_lowered_role_says_so_in_the_widget(
    app: Flask,
    live_server: str,
    anonymous_page: Page,
    make_account: Callable[..., str],
    sign_in: Callable[..., None],
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=500, error="boom")
    engineer = make_account(Role.ENGINEER, "eng@example.com")
    page = anonymous_page
    sign_in(page, engineer)
    page.goto(live_server + "/audit/?status=failed")
    button = page.get_by_role("button", name="Re-send 1 entry not delivered")
    expect(button).to_be_visible()
    _lower_role(app, engineer, Role.VIEWER)
    button.click()
    said = "Not re-sent: Your role (viewer) cannot do this; it needs engineer. An admin can change roles."
    _refusal_said(page, "#audit-replay .refusal", said, region="#audit-status")
    expect(page.locator("#audit-rows .audit-status")).to_have_text(["failed"])
