"""A keyboard-only walk in a real browser: every control that redraws a part of a page leaves the focus
where the person can go on, and Enter does what the field beside it is for."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auditlog import record
from browser_helpers import wait_until_htmx_has
from playwright.sync_api import Page, expect

from analytics.audit import AuditStore
from analytics.collector import Collector
from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement.id"))


def test_the_first_tab_offers_to_skip_to_the_content(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert _focused_id(page) == "main"
    page.keyboard.press("Tab")  # past the header: the catalog's first tab
    expect(page.get_by_role("link", name="Events", exact=True)).to_be_focused()


def test_enter_in_the_preset_name_saves_the_preset_and_sends_nothing(
    live_server: str, page: Page, collector: Collector
) -> None:
    """Enter there pressed the form's first button, Send: the message went to the destination."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#f-scope-user_id").fill("5")
    page.locator("#f-scope-project_id").fill("12")
    page.get_by_text("Save these ids as a preset").click()
    page.locator("#f-preset_name").fill("user five")
    page.locator("#f-preset_name").press("Enter")
    expect(page.locator("#tester-notice")).to_have_text("Saved the preset 'user five'.")
    # Back on the box it was saved from, closed; the status region says the notice (focusing the notice
    # too made a screen reader read it twice).
    expect(page.locator("#save-preset-summary")).to_be_focused()
    expect(page.locator("#tester-status")).to_have_text("Saved the preset 'user five'.")
    expect(page.get_by_role("link", name="user five")).to_be_visible()
    expect(page.locator("#send-outcome")).to_have_text("")
    assert collector.received() == []


def test_the_tester_s_redraws_keep_the_keyboard_where_it_was(
    live_server: str, page: Page, collector: Collector
) -> None:
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#mode-raw").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#f-raw")).to_be_focused()  # where the JSON is typed
    page.locator("#mode-fields").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#mode-raw")).to_be_focused()  # the way back, where Fields was
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#fill-example").focus()
    scrolled = page.evaluate("window.scrollY")
    # Space, as on the form's other buttons: it scrolled the page by a screen while the example was a link.
    page.keyboard.press("Space")
    expect(page.locator("#f-prop-infra_id")).to_have_value("9")
    expect(page.locator("#fill-example")).to_be_focused()
    assert page.evaluate("window.scrollY") == scrolled
    # Enter in a field still sends: the example's button is not the tester form's first button.
    page.locator("#f-prop-infra_id").press("Enter")
    expect(page.locator("#result-status")).to_have_text("delivered")
    assert len(collector.received()) == 1


def test_the_history_s_refresh_keeps_the_focus_on_its_link(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    """It redrew itself every 5 s and dropped the focus to the page: no one could tab through it."""
    message_id = record(
        sqlite_store,
        "ProjectCreate",
        scope={"user_id": 1, "project_id": 12},
        status="delivered",
        source="tester",
    )
    page.goto(live_server + "/tester/history")
    link = page.locator(f"#history-audit-{message_id}")
    link.focus()
    with page.expect_response(lambda response: "/tester/history" in response.url):
        page.evaluate("document.body.dispatchEvent(new Event('tester-sent'))")
    page.wait_for_timeout(200)  # the swap settles after the answer
    assert _focused_id(page) == f"history-audit-{message_id}"


def test_sorting_the_catalog_keeps_the_focus_on_the_sort_link(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    page.locator("#sort-name").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server + "/?sort=name")
    expect(page.locator("#sort-name")).to_be_focused()


def test_a_corrected_catalog_filter_loses_its_error(live_server: str, page: Page) -> None:
    page.goto(live_server + "/?category=bogus")
    error, category = page.locator("#category-error"), page.locator("#category")
    expect(error).to_contain_text("“bogus” is not a category")
    expect(category).to_have_attribute("aria-invalid", "true")
    category.select_option("Onboarding")
    expect(page).to_have_url(live_server + "/?category=Onboarding")
    expect(error).to_have_text("")
    expect(category).not_to_have_attribute("aria-invalid", "true")


def test_the_audit_pager_opens_the_next_page_at_its_start(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    for _ in range(55):
        record(sqlite_store, "ProjectCreate", scope={"user_id": 1, "project_id": 12}, status="delivered")
    page.goto(live_server + "/audit/")
    older = page.locator("#pager-older")
    older.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#audit-rows tr")).to_have_count(5)
    expect(page.locator("#audit-results")).to_be_focused()
    # The window no longer stays at the bottom, below the new page's start (a short page scrolls less).
    top = page.evaluate("document.getElementById('audit-results').getBoundingClientRect().top")
    assert top > -5, top


def test_a_refused_full_page_form_puts_the_focus_on_the_field_to_fix(live_server: str, page: Page) -> None:
    page.goto(live_server + "/account/tokens")
    page.get_by_role("button", name="Create the token").click()
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()


def test_two_different_passwords_put_the_focus_on_the_first_field_to_type_again(
    live_server: str, page: Page, account_password: str
) -> None:
    """Every password field came back empty with the focus on "New password again": the person retyped it
    alone, pressed Enter and got three errors."""
    page.goto(live_server + "/account/password")
    page.get_by_label("Current password").fill(account_password)
    page.get_by_label("New password", exact=True).fill("brand new password 1")
    page.get_by_label("New password again").fill("brand new password 2")
    page.keyboard.press("Enter")
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    expect(page.get_by_label("Current password")).to_be_focused()
    for field in page.locator("input[type=password]").all():
        expect(field).to_have_value("")


def test_the_actions_that_ask_first_leave_the_focus_on_their_outcome(
    live_server: str, page: Page, make_account: Callable[..., str]
) -> None:
    """Disable, Revoke and Delete ask through htmx, which swaps the page they land on into the body: the focus
    fell to <body>, the next Tab went to "Skip to content", and their notice was not reliably read out."""
    make_account(Role.VIEWER)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(live_server + "/account/tokens")
    page.get_by_label("Name").fill("release CI")
    page.get_by_role("button", name="Create the token").click()
    page.goto(live_server + "/tester/presets")
    page.locator("#p-name").fill("staging")
    page.locator("#p-user_id").fill("5")
    page.get_by_role("button", name="Save preset").click()
    expect(page.locator("main .flash")).to_have_text("Saved the preset 'staging'.")  # a boosted save

    for path, row, button, said in (
        ("/users/", "viewer@example.com", "Disable", "viewer@example.com is disabled."),
        ("/users/", "admin@example.com", "Disable", "admin@example.com is the last active admin"),
        # Enable and a role's Save, in the same rows, reloaded the page with the focus at its top.
        ("/users/", "viewer@example.com", "Enable", "viewer@example.com may sign in again."),
        ("/account/tokens", "release CI", "Revoke release CI", "Revoked the token “release CI”"),
        ("/tester/presets", "staging", "Delete the preset staging", "Deleted the preset 'staging'."),
    ):
        page.goto(live_server + path)
        page.locator("tr", has_text=row).get_by_role("button", name=button).focus()
        page.keyboard.press("Enter")
        outcome = page.locator("main :is(.flash, .field-errors)")
        expect(outcome).to_contain_text(said)
        expect(outcome).to_be_focused()
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('main').contains(document.activeElement)"), path
    page.goto(live_server + "/users/")
    page.get_by_label("Role of viewer@example.com").select_option("engineer")
    page.get_by_role("button", name="Save the role of viewer@example.com").focus()
    page.keyboard.press("Enter")
    outcome = page.locator("main .flash")
    expect(outcome).to_have_text("viewer@example.com is now engineer.")
    expect(outcome).to_be_focused()
    # Saving a preset reloaded the page silently, the focus at its top; a refused one still focuses its field.
    page.goto(live_server + "/tester/presets")
    page.locator("#p-name").fill("Acme staging")
    page.locator("#p-name").press("Enter")
    expect(page.locator("#p-user_id")).to_be_focused()
    expect(page.locator("#error-p-user_id")).to_have_text("Enter the user id: a whole number of 1 or more.")
    page.locator("#p-user_id").fill("5")
    page.keyboard.press("Enter")
    expect(outcome).to_have_text("Saved the preset 'Acme staging'.")
    expect(outcome).to_be_focused()


def test_a_failed_sign_in_says_so_in_the_title_and_puts_the_focus_on_why(
    live_server: str, anonymous_page: Page, make_account: Callable[..., str]
) -> None:
    """The page came back with the same title and the focus at the document's start; its one message was
    an alert already in the page as it loaded, which screen readers do not reliably read out."""
    page = anonymous_page
    email = make_account(Role.VIEWER)
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password at all")
    page.keyboard.press("Enter")
    expect(page).to_have_title("Error: Sign in · event-catalog")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_role("alert")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()


def test_only_mine_says_what_the_history_now_lists(live_server: str, page: Page) -> None:
    page.goto(live_server + "/tester/history")
    page.locator("#history-mine").focus()
    page.keyboard.press("Space")
    expect(page.locator("#history-status")).to_have_text("You have not sent anything from the tester yet.")
    expect(page.locator("#history-mine")).to_be_focused()
