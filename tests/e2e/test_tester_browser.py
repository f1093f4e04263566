"""The tester in a real browser: choose, apply a preset, watch the preview, send, see what really happened."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import requests
from auditlog import record
from browser_helpers import raw_editor_with_example, wait_until_htmx_has
from flask import Flask
from playwright.sync_api import Page, Route, expect
from sqlalchemy import text

from analytics.audit import AuditStore
from analytics.collector import Collector
from webapp.extensions import db
from webapp.tester.models import ScopePreset

pytestmark = pytest.mark.e2e

BAD = "rgb(180, 35, 24)"
"""The stylesheet's `--bad` colour, as the browser reports a computed border colour."""
PROJECT_ID_MISSING = "Enter the project id: a whole number of 1 or more."
"""What the form says of an empty project id (not pydantic's "Field required")."""


@pytest.fixture
def preset(app: Flask) -> str:
    """A project-and-cluster preset the team saved earlier."""
    with app.app_context():
        db.session.add(
            ScopePreset(
                name="staging · project 12 · cluster 4",
                ids={"user_id": 3, "project_id": 12, "cluster_id": 4},
                created_by="ada",
                created_at=datetime.now(UTC),
            )
        )
        db.session.commit()
    return "staging · project 12 · cluster 4"


def preview(page: Page) -> dict:  # type: ignore[type-arg]
    return json.loads(page.locator("#preview-json").text_content() or "")


def test_choose_apply_preset_preview_send_and_fail(
    live_server: str, page: Page, collector: Collector, preset: str
) -> None:
    page.goto(live_server + "/tester/")
    expect(page).to_have_title("Tester · event-catalog")
    page.select_option("#pick", "ClusterProvisioningSuccess")
    expect(page.get_by_role("heading", level=2, name="Cluster Provisioning Success")).to_be_visible()
    expect(page).to_have_url(live_server + "/tester/?event=ClusterProvisioningSuccess")

    page.get_by_role("link", name=preset).click()
    expect(page.locator("#f-scope-user_id")).to_have_value("3")
    expect(page.locator("#f-scope-project_id")).to_have_value("12")
    expect(page.locator("#f-scope-cluster_id")).to_have_value("4")
    # The preset redrew the form: its fields ask for previews once htmx has taken them over.
    wait_until_htmx_has(page, "#tester-form")

    page.select_option("#f-prop-cluster_type", "gke")
    page.locator("#f-prop-infra_id").fill("9")
    expect(page.locator("#preview-json")).to_contain_text('"infra_id": 9')
    page.locator("#f-prop-infra_id").fill("31")
    expect(page.locator("#preview-json")).to_contain_text('"infra_id": 31')
    assert preview(page)["properties"] == {
        "cluster_id": 4,
        "cluster_type": "gke",
        "infra_id": 31,
        "proj_id": 12,
    }

    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(page.locator(".send-outcome")).to_contain_text("delivered")
    [received] = collector.received()
    assert received["properties"] == {"proj_id": 12, "cluster_id": 4, "cluster_type": "gke", "infra_id": 31}
    assert json.loads(page.locator("#sent-json").text_content() or "") == received
    # The collector's copy arrives after the outcome, compared with what was sent.
    assert json.loads(page.locator("#collector-json").text_content() or "") == received
    expect(page.locator("#send-result")).to_contain_text("identical to what was sent")
    expect(page.locator("#history")).to_contain_text("Cluster Provisioning Success")
    # The ids just sent are suggested by their inputs from now on.
    expect(page.locator('#recent-project_id option[value="12"]')).to_have_count(1)
    cluster_suggestion = page.locator('#recent-cluster_id option[value="4"]')
    expect(cluster_suggestion).to_contain_text("Cluster Provisioning Success")
    # The form stays as filled in; the preview is already the next message, with a new id.
    expect(page.locator("#f-prop-infra_id")).to_have_value("31")
    expect(page.locator("#send-result")).to_have_count(1)
    assert preview(page)["messageId"] != received["messageId"]

    answer = requests.post(f"{collector.url}/faults", json={"status": 500, "times": 5}, timeout=5)
    assert answer.status_code == 200
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("failed")
    outcome = page.locator(".send-outcome")
    expect(outcome).to_contain_text("HTTP 500")
    expect(outcome).to_contain_text("injected_fault")
    expect(page.get_by_role("alert").filter(has_text="The endpoint's error")).to_be_visible()
    assert len(collector.received()) == 1


def test_a_collector_copy_that_cannot_be_loaded_says_so(
    live_server: str, page: Page, collector: Collector
) -> None:
    # The dashboard fails the panel's second request (the copy), not the send itself.
    page.route("**/received?*", lambda route: route.fulfill(status=503, body="unavailable"))
    page.goto(live_server + "/tester/?event=ProjectCreate")
    page.locator("#f-scope-user_id").fill("3")
    expect(page.locator("#error-f-scope-user_id")).to_have_text("")
    expect(page.locator("#f-scope-user_id")).not_to_have_css("border-top-color", BAD)
    page.locator("#f-scope-project_id").fill("12")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    failed = page.locator("#collector-asking")
    said = "Could not load the collector's copy: the dashboard answered 503."
    expect(failed).to_have_text(said)
    expect(page.get_by_role("status").and_(page.locator("#tester-status"))).to_have_text(said)
    assert len(collector.received()) == 1


def test_a_link_clicked_while_a_preview_is_in_flight_is_followed(
    live_server: str, page: Page, collector: Collector
) -> None:
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    # The production confirmation is for production destinations only.
    expect(page.locator(".confirm-production")).to_be_hidden()
    page.locator("#f-prop-infra_id").fill("5")
    # Leaving the field sends a preview request; the click comes while it is in flight.
    page.get_by_role("link", name="Raw JSON").click()
    expect(page.locator("#f-raw")).to_be_visible()
    assert json.loads(page.locator("#f-raw").input_value())["infra_id"] == 5
    # The JSON box spans its card rather than a narrow form field's width.
    box, card = page.locator("#f-raw").bounding_box(), page.locator("fieldset.properties").bounding_box()
    assert box is not None and card is not None and box["width"] > 0.85 * card["width"]


def test_sending_while_a_preview_is_in_flight_waits_for_it_without_console_errors(
    live_server: str, page: Page, collector: Collector
) -> None:
    """Requests are queued one after another, never cancelled: a cancelled request is an error on
    the console (htmx logs `htmx:sendAbort`), which engineers would take for a fault."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#f-prop-infra_id")).not_to_have_value("")
    for infra_id in ("5", "6"):
        page.locator("#f-prop-infra_id").fill(infra_id)
        # Leaving the field sends a preview request; the click comes while it is in flight.
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#result-status")).to_have_text("delivered")
        expect(page.locator("#sent-json")).to_contain_text(f'"infra_id": {infra_id}')
    assert [message["properties"]["infra_id"] for message in collector.received()] == [5, 6]
    assert errors == []


def test_field_errors_appear_next_to_their_fields_as_you_type(
    live_server: str, page: Page, collector: Collector
) -> None:
    page.goto(live_server + "/tester/?event=ProjectCreate")
    page.locator("#f-scope-user_id").fill("0")
    expect(page.locator("#error-f-scope-user_id")).to_have_text(
        "Enter the user id as a whole number of 1 or more: ids start at 1."
    )
    expect(page.locator("#f-scope-user_id")).to_have_css("border-top-color", BAD)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#error-f-scope-project_id")).to_have_text(PROJECT_ID_MISSING)
    expect(page.locator("#f-scope-user_id")).to_have_value("0")
    # The note beside Send leads to the first field to fix, which takes the focus: typing fixes it.
    page.get_by_role("link", name="show the first").click()
    expect(page.locator("#f-scope-user_id")).to_be_focused()

    # Fixed and sent: the form that showed errors is drawn again without them.
    page.locator("#f-scope-user_id").fill("3")
    page.locator("#f-scope-project_id").fill("12")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(page.locator("#error-f-scope-project_id")).to_have_text("")
    expect(page.locator("#error-f-scope-user_id")).to_have_text("")
    expect(page.locator(".field.invalid")).to_have_count(0)
    assert len(collector.received()) == 1


def test_a_production_confirmation_holds_for_one_send(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    from webapp.tester.destinations import Destination

    app.config["TESTER_DESTINATIONS"] = (Destination("prod", collector.url, True, "production-key"),)
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#f-prop-infra_id")).not_to_have_value("")
    page.select_option("#f-destination", "prod")
    confirm = page.get_by_label("I mean to send this test message to a production destination.")
    confirm.check()
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(confirm).not_to_be_checked()
    # Sending again without ticking it again is refused next to the box, and nothing is sent.
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#error-f-confirm_production")).to_contain_text("production destination")
    assert len(collector.received()) == 1


def _send_the_example(page: Page, url: str) -> None:
    """Open the tester at `url`, fill the event's example, send it and wait until it is delivered."""
    page.goto(url)
    # Marked, so that the wait below is for the example's form rather than the one it replaces.
    page.evaluate("document.getElementById('tester-form').dataset.replaced = 'yes'")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#tester-form:not([data-replaced])")).to_have_count(1)
    # The example form was just swapped in: htmx takes it over when it settles.
    wait_until_htmx_has(page, "#tester-form")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")


def test_a_keyboard_send_leaves_the_focus_on_send(live_server: str, page: Page, collector: Collector) -> None:
    """Sending disables the button for the request, which took the focus away to the page."""
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#f-prop-infra_id")).not_to_have_value("")
    # The example form was just swapped in: htmx takes it over when it settles (an Enter before
    # that would post the form natively, as without JavaScript, and load a new page).
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#send-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(page.locator("#send-button")).to_be_focused()
    expect(page.locator("#history tbody tr")).to_have_count(1)
    page.keyboard.press("Enter")
    # The history lists each send once its answer is in.
    expect(page.locator("#history tbody tr")).to_have_count(2)
    expect(page.locator("#send-button")).to_be_focused()
    assert len(collector.received()) == 2


def test_a_refused_keyboard_send_also_keeps_the_focus_on_send(live_server: str, page: Page) -> None:
    """A refused send redraws the whole form, Send button included."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#send-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#error-f-scope-project_id")).to_have_text(PROJECT_ID_MISSING)
    expect(page.locator("#send-button")).to_be_focused()


def test_arrowing_through_the_picker_is_one_back_and_back_runs_cleanly(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    page.goto(live_server + "/tester/?event=ProjectCreate")
    start = page.evaluate("history.length")
    chosen = page.locator("#pick").input_value()
    for _ in range(3):
        # Each step redraws the form, picker included: htmx takes the new one over when it settles.
        wait_until_htmx_has(page, "#pick")
        before = page.url
        page.locator("#pick").focus()
        page.keyboard.press("ArrowDown")
        expect(page).not_to_have_url(before)
    assert page.evaluate("history.length") == start + 1
    page.go_back()
    expect(page.locator("#pick")).to_have_value(chosen)
    page.go_back()
    expect(page).to_have_url(live_server + "/")


def test_holding_an_arrow_on_the_picker_loads_the_form_once_for_the_event_it_stops_on(
    live_server: str, page: Page
) -> None:
    """Each arrow key loaded a form, and one still loading replaced the picker moved on since."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#pick")
    options = page.locator("#pick option").evaluate_all("options => options.map(o => o.value)")
    landing = options[options.index("ProjectCreate") + 4]
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if r.method == "POST" else None)
    page.locator("#pick").focus()
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(f"event={landing}"))
    page.wait_for_timeout(600)
    expect(page.locator("#pick")).to_have_value(landing)
    assert len(loads) == 1


def test_an_arrow_pressed_while_a_pick_loads_is_not_lost(live_server: str, page: Page) -> None:
    """htmx drops a pick made while another loads, and the late answer put the picker back on it."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    wait_until_htmx_has(page, "#pick")
    options = page.locator("#pick option").evaluate_all("options => options.map(o => o.value)")
    landing = options[options.index("ProjectCreate") + 3]

    def slowly(route: Route) -> None:
        page.wait_for_timeout(1000)
        route.continue_()

    page.route(re.compile(r"/tester/$"), slowly)
    page.locator("#pick").focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(450)  # the first pick's form is loading
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(f"event={landing}"), timeout=10_000)
    expect(page.locator("#pick")).to_have_value(landing)
    expect(page.locator("#tester-form input[name=spec]")).to_have_value(landing)


def test_the_picker_keeps_its_search_and_never_shows_an_event_the_form_is_not_for(
    live_server: str, page: Page
) -> None:
    page.goto(live_server + "/tester/?event=UserCreate")
    wait_until_htmx_has(page, "#pick")
    search = page.get_by_role("searchbox", name="Search events")
    # A search that leaves out the event on show: the picker says to choose, rather than show a match.
    with page.expect_response(lambda response: "/tester/specs" in response.url):
        search.fill("cluster prov")
    expect(page.locator("#pick")).to_have_value("")
    expect(page.locator("#pick option:checked")).to_have_text("Choose one of the matches…")
    listed = "options => options.map(o => o.value)"
    matches = page.locator("#pick option:not([disabled])").evaluate_all(listed)
    assert "ClusterProvisioningSuccess" in matches and "UserCreate" not in matches
    # A pick keeps the search: the options are still the matches, and the next arrow moves among them.
    page.locator("#pick").focus()
    page.keyboard.press("ArrowDown")
    expect(page).to_have_url(re.compile(f"event={matches[0]}"))
    wait_until_htmx_has(page, "#pick")
    expect(search).to_have_value("cluster prov")
    assert page.locator("#pick option").evaluate_all(listed) == matches
    # As the audit log's Find an event box: the count is said as the list narrows, Enter with several
    # matches sends nothing, and Enter picks the only match (it did nothing, with one match or many).
    status = page.locator("#pick-search-status")
    search.focus()
    search.press("End")
    with page.expect_response(lambda response: "/tester/specs" in response.url):
        page.keyboard.type("i")
    expect(status).to_have_text(f"{len(matches)} matches")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.keyboard.press("Enter")
    page.wait_for_timeout(600)  # past the select's 300 ms pause before it loads a pick
    assert posts == []
    expect(search).to_be_focused()
    with page.expect_response(lambda response: "/tester/specs" in response.url):
        search.fill("ClusterProvisioningSuccess")
    expect(status).to_have_text("1 match: Enter picks it")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("event=ClusterProvisioningSuccess"))
    expect(page.locator("#tester-form input[name=spec]")).to_have_value("ClusterProvisioningSuccess")
    expect(search).to_be_focused()
    # Enter pressed before the list caught up with the typing picks once it has.
    search.fill("CostConsentOpened")
    page.keyboard.press("Enter")
    expect(page.locator("#tester-form input[name=spec]")).to_have_value("CostConsentOpened")
    expect(page).to_have_url(re.compile("event=CostConsentOpened"))


def test_a_form_over_the_request_limit_says_it_was_not_sent(
    live_server: str, page: Page, collector: Collector
) -> None:
    raw = raw_editor_with_example(page, live_server + "/tester/?event=ProjectCreate", "#f-scope-project_id")
    raw.fill(json.dumps({"note": "x" * 1_100_000}))
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_have_text(
        "Not sent: the form is larger than the 1 MB a request may carry."
    )
    assert collector.received() == []


def test_a_refused_preview_or_send_says_the_dashboards_words_next_to_the_field(
    app: Flask, live_server: str, page: Page, collector: Collector
) -> None:
    """A NUL character or the send limit refuses the request before the tester's views: the page
    said only "the dashboard answered 400" (or 429), beside Send, with nothing next to the field."""
    page.goto(live_server + "/tester/?event=ApplicationLaunchSuccess")
    page.get_by_role("button", name="Fill with example").click()
    expect(page.locator("#f-scope-app_name")).not_to_have_value("")
    wait_until_htmx_has(page, "#tester-form")
    page.locator("#f-scope-app_name").fill("x\u0000y")
    said = "The field 'app_name' holds a NUL character (\\u0000), which cannot be stored."
    expect(page.locator("#error-f-scope-app_name")).to_have_text(said)
    expect(page.locator("#send-outcome")).to_have_text(f"No preview: {said}")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_have_text(f"Not sent: {said}")
    # Fixed, the field's preview empties its slot.
    page.locator("#f-scope-app_name").fill("web")
    expect(page.locator("#error-f-scope-app_name")).to_have_text("")
    app.config["TESTER_LIMIT_PER_PERSON"] = "1 per minute"
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#send-outcome")).to_have_text(
        re.compile(r"^Not sent: You have sent too many test events\. Try again in \d+ seconds\.$")
    )
    assert len(collector.received()) == 1


def test_switching_to_raw_json_after_a_send_keeps_its_result(
    live_server: str, page: Page, collector: Collector
) -> None:
    """The switch redraws the whole form; the result panel used to go with it."""
    _send_the_example(page, live_server + "/tester/?event=ClusterProvisioningSuccess")
    sent = collector.received()[-1]["messageId"]
    page.get_by_role("link", name="Raw JSON").click()
    expect(page.locator("#f-raw")).to_be_visible()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(page.locator("#send-result")).to_contain_text(sent)
    page.get_by_role("link", name="Fields").click()
    expect(page.locator("#f-prop-infra_id")).to_be_visible()
    expect(page.locator("#send-result")).to_contain_text(sent)
    assert len(collector.received()) == 1


def test_an_emptied_raw_json_box_is_refused_as_you_type_and_on_send(
    live_server: str, page: Page, collector: Collector
) -> None:
    """An emptied box was read as `{}`: the preview showed an off-schema message without the
    required properties, and Send delivered it."""
    raw = raw_editor_with_example(
        page, live_server + "/tester/?event=ClusterProvisioningSuccess", "#f-prop-infra_id"
    )
    wait_until_htmx_has(page, "#tester-form")
    raw.fill("   ")
    empty = "Raw JSON is empty: write {} to send no properties."
    expect(page.locator("#error-f-raw")).to_have_text(empty)
    expect(page.locator("#preview-json")).to_have_count(0)
    typed_into = page.locator("#f-raw").element_handle()
    page.get_by_role("button", name="Send").click()
    # The preview already marked the box: wait for the send's answer to replace the form, or "{}"
    # typed into the old box is drawn over by the answer's (the test failed so now and then).
    typed_into.wait_for_element_state("hidden")
    wait_until_htmx_has(page, "#tester-form")
    expect(page.locator("#f-raw")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-f-raw")).to_have_text(empty)
    raw.fill("{}")
    expect(page.locator("#error-f-raw")).to_have_text("")
    expect(page.locator("#preview-json")).to_be_visible()
    assert collector.received() == []


def test_reload_and_back_bring_back_what_was_typed_and_the_result(
    live_server: str, page: Page, collector: Collector
) -> None:
    """Pages are not cached and htmx keeps no snapshots: a reload, or Back from the audit entry,
    drew an empty form without the result. The address after a send draws both again."""
    raw = raw_editor_with_example(
        page, live_server + "/tester/?event=ClusterProvisioningSuccess", "#f-prop-infra_id"
    )
    wait_until_htmx_has(page, "#tester-form")
    raw.fill('{"cluster_type": "aks", "infra_id": 9, "note": "custom"}')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    sent = collector.received()[-1]["messageId"]
    expect(page).to_have_url(re.compile(f"sent={sent}"))
    for leave in ("reload", "audit entry and back"):
        if leave == "reload":
            page.reload()
        else:
            page.get_by_role("link", name=f"/audit/entries/{sent}").click()
            expect(page).to_have_url(re.compile(f"/audit/entries/{sent}"))
            page.go_back()
        expect(page.locator("#f-raw")).to_have_value(re.compile('"note": "custom"'))
        expect(page.locator("#f-scope-cluster_id")).to_have_value("4")
        expect(page.locator("#result-status")).to_have_text("delivered")
        expect(page.locator("#send-result")).to_contain_text(sent)
    assert len(collector.received()) == 1


def test_picking_an_event_retitles_the_page_and_its_trail_and_drops_the_last_result(
    live_server: str, page: Page, collector: Collector
) -> None:
    """The picker swaps the form only: the title and breadcrumb kept naming the previous event."""
    _send_the_example(page, live_server + "/tester/?event=StackBuildSuccess")
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    expect(breadcrumb).to_contain_text("Stack Build Success")
    page.select_option("#pick", "ClusterProvisioningSuccess")
    # The address names the picked event and the ids the form carries over, not the last send.
    expect(page).to_have_url(re.compile(r"/tester/\?event=ClusterProvisioningSuccess&mode=fields&scope\."))
    assert "sent=" not in page.url
    expect(page).to_have_title("Cluster Provisioning Success · Tester · event-catalog")
    expect(breadcrumb).to_contain_text("Cluster Provisioning Success")
    expect(breadcrumb).not_to_contain_text("Stack Build Success")
    # The last send was another event's: neither its panel nor its outcome beside Send stays.
    expect(page.locator("#send-result")).to_have_count(0)
    expect(page.locator("#send-outcome")).to_have_text("")


def test_redrawing_the_form_keeps_the_page_where_it_was(
    live_server: str, page: Page, collector: Collector
) -> None:
    """A redraw swaps the whole form for one of another height; the browser's scroll anchoring kept
    what it had picked in place and moved the page by the difference (up to ~1,000 px)."""
    page.set_viewport_size({"width": 1280, "height": 720})
    url = live_server + "/tester/?event=ClusterProvisioningSuccess"
    for _ in range(3):
        _send_the_example(page, url)
    page.goto(url)
    wait_until_htmx_has(page, "#tester-form")
    expect(page.locator("#history tbody tr")).to_have_count(3)
    for switch in ("Raw JSON", "Fields", "Fill with example"):
        page.locator("fieldset.properties").evaluate("element => element.scrollIntoView()")
        before = page.evaluate("window.scrollY")
        page.evaluate("document.getElementById('tester-form').dataset.replaced = 'yes'")
        page.get_by_role("button" if switch == "Fill with example" else "link", name=switch).click()
        expect(page.locator("#tester-form:not([data-replaced])")).to_have_count(1)
        wait_until_htmx_has(page, "#tester-form")
        assert abs(page.evaluate("window.scrollY") - before) < 50, switch


@pytest.mark.parametrize("path", ["/tester/", "/tester/history"])
def test_at_150_percent_zoom_the_history_fits_the_page(
    live_server: str, page: Page, sqlite_store: AuditStore, path: str
) -> None:
    """Its actions cell did not wrap: the table was 939 px on 853, and "Edit and send" was cut off."""
    message_id = record(
        sqlite_store,
        "ProjectCreate",
        scope={"user_id": 123456, "project_id": 1234567},
        status="delivered",
        source="tester",
        actor="engineer@example.com",
        destination="local:0123456789ab",
    )
    page.set_viewport_size({"width": 853, "height": 533})
    page.goto(live_server + path)
    edit = page.locator(f"#history-edit-{message_id}")
    edit.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= 853
    table, card = (page.locator(selector).bounding_box() for selector in (".history-table", "#history"))
    assert table is not None and card is not None and table["x"] + table["width"] <= card["x"] + card["width"]
    box = edit.bounding_box()
    assert box is not None and box["x"] + box["width"] <= card["x"] + card["width"], box


@pytest.mark.parametrize("path", ["/tester/", "/tester/history"])
def test_on_a_laptop_the_history_keeps_ids_and_key_fingerprints_whole(
    live_server: str, page: Page, sqlite_store: AuditStore, path: str
) -> None:
    """It broke "default:a4eb94d / 71354" and "project / 9" across lines at 1366 px."""
    record(
        sqlite_store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 5, "project_id": 5, "cluster_id": 5},
        properties={"cluster_type": "eks", "infra_id": 9},
        status="delivered",
        source="tester",
        actor="pm@example.com",
        destination="default:a4eb94d71354",
    )
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + path)
    row = page.locator("#history tbody tr").first
    expect(row.locator('td[data-label="Scope"]')).to_have_text("user 5 · project 5 · cluster 5")
    # How many lines each token's own text spans (a range over it has a box per line).
    lines = row.evaluate(
        """(row, words) => Object.fromEntries(words.map(word => {
            const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
            while (walker.nextNode()) {
                const at = walker.currentNode.data.indexOf(word);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(walker.currentNode, at);
                range.setEnd(walker.currentNode, at + word.length);
                return [word, new Set([...range.getClientRects()].map(box => Math.round(box.top))).size];
            }
            return [word, 0];
        }))""",
        ["user 5", "project 5", "cluster 5", "a4eb94d71354"],
    )
    assert lines == {"user 5": 1, "project 5": 1, "cluster 5": 1, "a4eb94d71354": 1}


def test_many_presets_the_ones_for_the_scope_first_the_rest_folded_and_a_filter(
    app: Flask, live_server: str, page: Page
) -> None:
    """Twelve presets over two chains: the cluster event shows the two that fill its scope; the filter
    finds one of the folded ten by name, opens them, asks no preview, and Enter in it sends nothing."""
    with app.app_context():
        for number in range(12):
            ids = {"user_id": 3, "project_id": 12} | ({"cluster_id": number} if number < 2 else {})
            name = f"{'cluster' if number < 2 else 'project'} {number}"
            db.session.add(ScopePreset(name=name, ids=ids, created_by="ada", created_at=datetime.now(UTC)))
        db.session.commit()
    page.goto(live_server + "/tester/?event=ClusterProvisioningSuccess")
    chips = page.locator("fieldset.scope .chip")
    expect(chips.filter(has_text="cluster 1")).to_be_visible()
    expect(chips.filter(has_text="project 7")).to_be_hidden()
    expect(page.get_by_text("10 presets for other scopes")).to_be_visible()
    previews: list[str] = []
    page.on("request", lambda request: previews.append(request.url) if "/tester/" in request.url else None)
    page.get_by_label("Filter presets by name").fill("project 7")
    expect(chips.filter(has_text="project 7")).to_be_visible()
    expect(chips.filter(has_text="cluster 1")).to_be_hidden()
    expect(chips.filter(has_text="project 8")).to_be_hidden()
    page.keyboard.press("Enter")
    page.get_by_label("Filter presets by name").fill("nothing like it")
    expect(page.get_by_text("No preset matches.")).to_be_visible()
    page.wait_for_timeout(500)
    assert previews == []


def test_on_a_laptop_the_event_picker_shows_every_name_whole(live_server: str, page: Page) -> None:
    """At 1366 px the list shared a line with the search and cut "Stack Launch Complete — deprecated"."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/tester/?event=StackLaunchComplete")
    # The room the closed list leaves its text (less its padding and arrow) against the widest option's text.
    room, widest = page.locator("#pick").evaluate(
        """select => {
            const style = getComputedStyle(select);
            const probe = document.createElement("span");
            probe.style.font = style.font;
            probe.style.whiteSpace = "pre";
            document.body.append(probe);
            const widths = [...select.options].map(option => {
                probe.textContent = option.text;
                return probe.getBoundingClientRect().width;
            });
            probe.remove();
            const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
            return [select.clientWidth - padding - 24, Math.max(...widths)];
        }"""
    )
    assert widest <= room


def test_a_send_whose_form_cannot_be_drawn_again_still_shows_its_outcome(
    live_server: str, page: Page, app: Flask, collector: Collector
) -> None:
    """Another release migrated the database under this replica (a column it reads folded away): the
    send was delivered, and its answer was a bare 500, so the engineer sent it again."""
    page.goto(live_server + "/tester/?event=ProjectCreate")
    page.locator("#f-scope-user_id").fill("3")
    page.get_by_role("button", name="Send").click()  # refused: the form shows errors, so a send redraws it
    expect(page.locator("#error-f-scope-project_id")).to_have_text(PROJECT_ID_MISSING)
    page.locator("#f-scope-project_id").fill("12")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scope_presets RENAME COLUMN ids TO ids_folded"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    expect(page.locator("#result-rest-not-drawn")).to_contain_text(
        "This send was made and its outcome is above, but the rest of the tester could not be drawn after "
        "it: The database is at schema revision 0099_future"
    )
    assert len(collector.received()) == 1
