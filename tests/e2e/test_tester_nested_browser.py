"""The tester's fields for nested objects and lists of them, in a real browser: typed as JSON, filled
from the example, from Raw JSON and from a sent message, and sent (test-only specs, `nested_specs`)."""

from __future__ import annotations

import json

import pytest
from browser_helpers import wait_until_htmx_has
from nested_specs import nested_catalog  # noqa: F401  (a fixture)
from playwright.sync_api import Page, expect

from analytics.collector import Collector

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("nested_catalog")]

EXAMPLE = {
    "proj_id": 12,
    "line_items": [{"quantity": 3, "sku": "pro-seat"}, {"quantity": 1000, "sku": "build-minutes"}],
    "payment_method": {"kind": "card", "last4": "4242"},
    "discounts": {"SPRING": 500},
    "tags": ["q3-campaign", 'it\'s "quoted"'],
    "coupon": "SPRING24",
}


def _send(page: Page, sends: int) -> None:
    """Press Send and wait for its answer: the history then lists `sends` sends (a result already
    on show stays while the form is switched, so the outcome alone cannot tell)."""
    # A form just swapped in: htmx takes it over when it settles (a click before that posts natively).
    wait_until_htmx_has(page, "#tester-form")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#history tbody tr")).to_have_count(sends)
    expect(page.locator("#result-status")).to_have_text("delivered")


def test_the_example_raw_json_and_edit_and_send_all_send_nested_values(
    live_server: str, page: Page, collector: Collector
) -> None:
    page.goto(live_server + "/tester/?event=OrderPlace")
    expect(page.locator("#f-prop-payment_method")).to_have_attribute(
        "placeholder", "e.g. " + json.dumps(EXAMPLE["payment_method"])
    )
    page.get_by_role("button", name="Fill with example").click()
    items = page.locator("#f-prop-line_items")
    expect(items).to_have_value(json.dumps(EXAMPLE["line_items"]))
    expect(page.locator("#help-f-prop-line_items")).to_contain_text("As JSON.")
    _send(page, 1)
    [first] = collector.received()
    assert first["properties"] == EXAMPLE

    # Raw JSON and back to the fields: the objects go there as JSON, and send as they were.
    page.get_by_role("link", name="Raw JSON").click()
    expect(page.locator("#f-raw")).to_be_visible()
    page.get_by_role("link", name="Fields").click()
    expect(items).to_have_value(json.dumps(EXAMPLE["line_items"]))
    expect(page.locator("#error-f-raw")).to_have_count(0)
    _send(page, 2)
    assert collector.received()[1]["properties"] == EXAMPLE

    # Edit and send: the stored message fills the fields, which send it again.
    page.goto(f"{live_server}/tester/?from={first['messageId']}")
    expect(page.locator("#f-prop-payment_method")).to_have_value(json.dumps(EXAMPLE["payment_method"]))
    _send(page, 3)
    assert collector.received()[2]["properties"] == EXAMPLE


def test_text_that_is_not_json_is_said_next_to_its_field_as_it_is_typed(
    live_server: str, page: Page, collector: Collector
) -> None:
    page.goto(live_server + "/tester/?event=OrderPlace")
    page.get_by_role("button", name="Fill with example").click()
    method = page.locator("#f-prop-payment_method")
    expect(method).not_to_have_value("")
    wait_until_htmx_has(page, "#tester-form")
    method.fill("{'kind': 'card'}")
    error = page.locator("#error-f-prop-payment_method")
    expect(error).to_have_text(
        "Not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"
    )
    method.fill('{"kind": "wire"}')
    expect(error).to_have_text("kind: Input should be 'card' or 'sepa'")
    # The refusal is awaited, so that its error is read before the fix is typed (a fix typed while the
    # send is in flight is kept over the form it draws again: test_tester_typing_browser.py).
    with page.expect_response(lambda response: response.url.endswith("/tester/send")):
        page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_count(0)
    expect(error).to_have_text("kind: Input should be 'card' or 'sepa'")
    method.fill('{"kind": "sepa"}')
    expect(error).to_have_text("")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#result-status")).to_have_text("delivered")
    [received] = collector.received()
    assert received["properties"]["payment_method"] == {"kind": "sepa"}
