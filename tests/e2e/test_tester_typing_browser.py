"""What a person typed into the tester is not lost (static/tester-typing.js), in a real browser: a sign-out
in another tab sends the tester to the sign-in page, and signing in again brings the typing back; a send's
answer that draws the form again keeps what was typed while it was in flight."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_helpers import wait_until_htmx_has
from playwright.sync_api import Page, Route, expect

from analytics.collector import Collector
from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e

EVENT = "/tester/?event=ClusterProvisioningSuccess"
RESTORED = "Restored what you had typed before signing in."
DRAFT_KEY = "event-catalog.tester-draft"


def _type_a_cluster(page: Page, live_server: str) -> None:
    page.goto(live_server + EVENT)
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#f-scope-user_id").fill("3")
    page.locator("#f-scope-project_id").fill("12")
    page.locator("#f-scope-cluster_id").fill("4")
    page.select_option("#f-prop-cluster_type", "gke")
    page.locator("#f-prop-infra_id").fill("31")
    expect(page.locator("#preview-json")).to_contain_text('"infra_id": 31')


def _signed_out_in_another_tab(page: Page, live_server: str) -> None:
    """Sign out in another tab of the same browser: the tester's history, polled every 5 s, then takes
    its tab to the sign-in page, which comes back to the tester after."""
    other = page.context.new_page()
    other.goto(live_server + "/")
    other.get_by_role("button", name="Sign out").click()
    expect(other).to_have_url(live_server + "/login")
    other.close()
    expect(page).to_have_url(re.compile(r"/login\?next="), timeout=15_000)


def _sign_in_here(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_signing_in_again_brings_back_what_was_typed_and_sends_it(
    live_server: str,
    anonymous_page: Page,
    sign_in: Callable[[Page, str], None],
    make_account: Callable[..., str],
    account_password: str,
    collector: Collector,
) -> None:
    page = anonymous_page
    email = make_account(Role.ENGINEER)
    sign_in(page, email)
    _type_a_cluster(page, live_server)
    csrf_before = page.locator("#tester-form [name=csrf_token]").input_value()

    _signed_out_in_another_tab(page, live_server)
    _sign_in_here(page, email, account_password)

    expect(page).to_have_url(live_server + EVENT)
    expect(page.locator("#f-scope-user_id")).to_have_value("3")
    expect(page.locator("#f-scope-cluster_id")).to_have_value("4")
    expect(page.locator("#f-prop-cluster_type")).to_have_value("gke")
    expect(page.locator("#f-prop-infra_id")).to_have_value("31")
    expect(page.locator("#tester-restored")).to_contain_text(RESTORED)
    expect(page.get_by_role("button", name="Discard it")).to_be_visible()
    expect(page.get_by_role("status").and_(page.locator("#tester-status"))).to_have_text(RESTORED)
    # The live checks ran on the values put back; the focus was left where the page put it.
    expect(page.locator("#preview-json")).to_contain_text('"infra_id": 31')
    assert page.evaluate("document.activeElement === document.body")
    # Nothing was kept after its use, and the form's tokens are the new page's: the send goes through.
    assert page.evaluate(f"sessionStorage.getItem({DRAFT_KEY!r})") is None
    assert page.locator("#tester-form [name=csrf_token]").input_value() != csrf_before
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    [received] = collector.received()
    assert received["properties"] == {"proj_id": 12, "cluster_id": 4, "cluster_type": "gke", "infra_id": 31}
    expect(page.locator("#tester-restored")).to_have_count(0)


def test_restored_typing_can_be_discarded_and_is_only_for_its_own_account(
    live_server: str,
    anonymous_page: Page,
    sign_in: Callable[[Page, str], None],
    make_account: Callable[..., str],
    account_password: str,
) -> None:
    page = anonymous_page
    email = make_account(Role.ENGINEER)
    other = make_account(Role.ENGINEER, "grace@example.com")
    sign_in(page, email)
    _type_a_cluster(page, live_server)
    _signed_out_in_another_tab(page, live_server)
    _sign_in_here(page, email, account_password)
    expect(page.locator("#f-prop-infra_id")).to_have_value("31")

    page.get_by_role("button", name="Discard it").click()
    expect(page.locator("#f-prop-infra_id")).to_have_value("")
    expect(page.locator("#f-scope-user_id")).to_have_value("")
    expect(page.locator("#f-prop-cluster_type")).to_have_value("")
    expect(page.locator("#tester-restored")).to_have_text("Discarded what you had typed before signing in.")
    expect(page.locator("#tester-restored")).to_be_focused()
    expect(page.locator("#preview")).to_contain_text("The message appears here once its fields are valid.")

    # Someone else signing in on that sign-in page is not given what the first person typed.
    _type_a_cluster(page, live_server)
    _signed_out_in_another_tab(page, live_server)
    _sign_in_here(page, other, account_password)
    expect(page).to_have_url(live_server + EVENT)
    expect(page.locator("header .account")).to_contain_text("grace@example.com")
    # The page's script has read (and dropped) the draft before the form is looked at: the checks
    # below could otherwise pass on the page as drawn, before the script ran.
    page.wait_for_function(f"sessionStorage.getItem({DRAFT_KEY!r}) === null")
    expect(page.locator("#f-prop-infra_id")).to_have_value("")
    expect(page.locator("#tester-restored")).to_have_count(0)


def test_typing_kept_at_a_sign_out_never_overrides_an_edit_and_send_again(
    live_server: str,
    anonymous_page: Page,
    sign_in: Callable[[Page, str], None],
    make_account: Callable[..., str],
    collector: Collector,
) -> None:
    page = anonymous_page
    email = make_account(Role.ENGINEER)
    sign_in(page, email)
    _type_a_cluster(page, live_server)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    [sent] = collector.received()
    page.locator("#f-prop-infra_id").fill("77")

    _signed_out_in_another_tab(page, live_server)
    [back] = parse_qs(urlsplit(page.url).query)["next"]
    # Signed in again elsewhere, the person opens "Edit and send again" of the message sent before.
    sign_in(page, email)
    page.goto(f"{live_server}/tester/?from={sent['messageId']}")
    expect(page.locator("#tester-notice")).to_contain_text(f"Pre-filled from message {sent['messageId']}")
    expect(page.locator("#f-prop-infra_id")).to_have_value("31")
    expect(page.locator("#tester-restored")).to_have_count(0)
    # Read once: the page the sign-in would have come back to does not bring it back later either.
    page.goto(live_server + back)
    expect(page.locator("#f-prop-infra_id")).to_have_value("31")
    expect(page.locator("#tester-restored")).to_have_count(0)


def test_kept_typing_for_a_field_or_event_the_catalog_no_longer_has_is_left_out_without_errors(
    live_server: str,
    anonymous_page: Page,
    sign_in: Callable[[Page, str], None],
    make_account: Callable[..., str],
) -> None:
    """Typing kept under an older catalog (or a bad copy of it): what still has a place is put back,
    the rest is ignored; `anonymous_page` fails the test on any script error."""
    page = anonymous_page
    sign_in(page, make_account(Role.ENGINEER))
    page.goto(live_server + EVENT)
    account = page.locator("#tester-form").get_attribute("data-account")

    def keep(draft: object, path: str) -> None:
        page.evaluate("([key, value]) => sessionStorage.setItem(key, value)", [DRAFT_KEY, json.dumps(draft)])
        page.goto(live_server + path)

    kept = {"back": EVENT, "spec": "ClusterProvisioningSuccess", "mode": "fields", "account": account}
    keep({**kept, "values": [["prop.gone", "x"], ["prop.cluster_type", "no longer offered"], 7]}, EVENT)
    expect(page.locator("#f-prop-cluster_type")).to_have_value("")
    expect(page.locator("#tester-restored")).to_have_count(0)

    keep({**kept, "values": [["prop.gone", "x"], ["prop.infra_id", "9"]]}, EVENT)
    expect(page.locator("#f-prop-infra_id")).to_have_value("9")
    expect(page.locator("#tester-restored")).to_contain_text(RESTORED)

    keep(
        {**kept, "back": "/tester/?event=GoneEvent", "spec": "GoneEvent", "values": []},
        "/tester/?event=GoneEvent",
    )
    expect(page.locator("#error-f-spec")).not_to_have_text("")
    page.evaluate("([key]) => sessionStorage.setItem(key, '{not json')", [DRAFT_KEY])
    page.goto(live_server + EVENT)
    expect(page.locator("#tester-restored")).to_have_count(0)


def _send_held(page: Page, held: list[Route], meanwhile: Callable[[], None] = lambda: None) -> None:
    """Press Send, do `meanwhile` while the browser holds the send's request, then let it go and wait
    for its answer."""
    wait_until_htmx_has(page, "#tester-form")
    page.get_by_role("button", name="Send").click()
    for _ in range(250):
        if held:
            break
        page.wait_for_timeout(20)
    meanwhile()
    with page.expect_response(lambda response: response.url.endswith("/tester/send")):
        held.pop().continue_()


def test_what_is_typed_while_a_send_is_in_flight_stays_when_its_answer_draws_the_form_again(
    live_server: str, page: Page, collector: Collector
) -> None:
    """A send from a form that shows errors, and a refused one, answer with the whole form, drawn with
    what was sent: a field changed while the send was in flight went back to the value sent."""
    held: list[Route] = []
    page.route("**/tester/send", lambda route: held.append(route))
    page.goto(live_server + "/tester/?event=ProjectCreate")
    user, project = page.locator("#f-scope-user_id"), page.locator("#f-scope-project_id")
    user.fill("3")
    _send_held(page, held)
    expect(page.locator("#error-f-scope-project_id")).to_have_text(
        "Enter the project id: a whole number of 1 or more."
    )

    project.fill("12")
    _send_held(page, held, lambda: user.fill("35"))
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(user).to_have_value("35")
    expect(user).to_be_focused()
    expect(project).to_have_value("12")
    # The result shows what was sent; the preview, what the form now holds.
    [received] = collector.received()
    assert received["userId"] == json.loads(page.locator("#sent-json").text_content() or "")["userId"] == "3"
    expect(page.locator("#preview-json")).to_contain_text('"userId": "35"')
    expect(page.locator("#tester-status")).to_contain_text("Kept what you typed while it was being sent.")

    # Refused for a field that was fixed meanwhile: the fix stays, and its check takes back the error.
    project.fill("")
    _send_held(page, held, lambda: project.fill("13"))
    expect(page.locator("#tester-status")).to_contain_text("to fix before sending")
    expect(project).to_have_value("13")
    expect(page.locator("#preview-json")).to_contain_text('"proj_id": 13')
    expect(page.locator("#error-f-scope-project_id")).to_have_text("")
    assert len(collector.received()) == 1


def test_a_field_typed_in_while_a_send_is_in_flight_keeps_its_caret(
    live_server: str, page: Page, collector: Collector
) -> None:
    """The kept value is put into the field htmx gave the focus back to, which moved its caret to the
    end: the next key typed went there, not where the person was typing."""
    held: list[Route] = []
    page.route("**/tester/send", lambda route: held.append(route))
    page.goto(live_server + "/tester/?event=UserCreate")
    email = page.locator("#f-prop-email")
    page.locator("#f-scope-user_id").fill("3")
    _send_held(page, held)
    expect(page.locator("#error-f-prop-email")).to_have_text("Field required")

    email.fill("ada@example.com")

    def type_in_the_middle() -> None:
        email.focus()
        email.evaluate("field => field.setSelectionRange(3, 3)")
        page.keyboard.type("m")

    _send_held(page, held, type_in_the_middle)
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(email).to_have_value("adam@example.com")
    page.keyboard.type("s")
    expect(email).to_have_value("adams@example.com")
    assert len(collector.received()) == 1
