"""The tester's fields and `event-catalog send --prop` for nested objects and lists of them (typed as JSON).

The shipped catalog is flat: these tests add test-only nested specs to it (`nested_specs`).
"""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from nested_specs import nested_catalog  # noqa: F401  (a fixture)
from tester_helpers import HTMX, error_slot, form_values, send_form

from analytics.collector import Collector

pytestmark = pytest.mark.usefixtures("nested_catalog")

ORDER = {
    "line_items": [{"quantity": 3, "sku": "pro-seat"}, {"quantity": 1000, "sku": "build-minutes"}],
    "payment_method": {"kind": "card", "last4": "4242"},
    "discounts": {"SPRING": 500},
    "tags": ["q3-campaign", 'it\'s "quoted"'],
    "coupon": "SPRING24",
}


def _fields(page: str) -> dict[str, str]:
    """The form's scope and property fields as a browser submits them."""
    return {key: value for key, value in form_values(page).items() if key.startswith(("scope.", "prop."))}


@pytest.mark.parametrize(
    ("query", "payload"),
    [
        ("event=OrderPlace", ORDER),
        ("identify=BillingProfile", {"seats": 5, "address": {"city": "Berlin", "country": "DE"}}),
    ],
)
def test_fill_with_example_types_objects_as_json_and_sends_them(
    client: FlaskClient, collector: Collector, query: str, payload: dict[str, object]
) -> None:
    """The example filled a list of objects as Python's repr, one per line, and an object as JSON text
    that went to the spec as a string: the form then refused its own example."""
    page = client.get(f"/tester/?{query}&example=1").get_data(as_text=True)
    fields = _fields(page)
    for name, value in payload.items():
        if isinstance(value, dict) or (isinstance(value, list) and isinstance(value[0], dict)):
            assert json.loads(fields[f"prop.{name}"]) == value, name
            assert f'<textarea id="f-prop-{name}" name="prop.{name}"' in page
    assert "As JSON." in page
    status, sent = send_form(client, query, fields)
    assert status == 200, sent
    [received] = collector.received()
    own = received.get("properties") or received["traits"]
    assert {key: own[key] for key in payload} == payload


def test_the_example_placeholder_of_a_json_field_is_json(client: FlaskClient) -> None:
    page = client.get("/tester/?event=OrderPlace").get_data(as_text=True)
    placeholder = json.dumps(ORDER["line_items"]).replace('"', "&#34;")
    assert f'placeholder="e.g. {placeholder}"' in page
    assert "{&#39;" not in page  # no Python repr


def test_raw_json_with_nested_values_switches_to_fields_and_sends_the_same(
    client: FlaskClient, collector: Collector
) -> None:
    query = {"spec": "OrderPlace", "mode": "raw", "raw": json.dumps(ORDER), "switch": "fields"}
    page = client.get("/tester/", query_string=query, headers=HTMX).get_data(as_text=True)
    assert 'name="mode" value="fields"' in page
    fields = _fields(page)
    assert json.loads(fields["prop.payment_method"]) == ORDER["payment_method"]
    assert fields["prop.tags"] == 'q3-campaign\nit\'s "quoted"'
    status, sent = send_form(
        client, "event=OrderPlace", {**fields, "scope.user_id": "1", "scope.project_id": "2"}
    )
    assert status == 200, sent
    [received] = collector.received()
    assert {key: received["properties"][key] for key in ORDER} == ORDER
    # And back: the raw editor gets the objects, not their text.
    back = client.get(
        "/tester/",
        query_string={"spec": "OrderPlace", "mode": "fields", "switch": "raw", **fields},
        headers=HTMX,
    ).get_data(as_text=True)
    assert json.loads(form_values(back)["raw"]) == ORDER


def test_an_object_where_a_text_field_is_stays_in_the_raw_editor(client: FlaskClient) -> None:
    raw = json.dumps({**ORDER, "coupon": {"code": "SPRING24"}})
    query = {"spec": "OrderPlace", "mode": "raw", "raw": raw, "switch": "fields"}
    page = client.get("/tester/", query_string=query, headers=HTMX).get_data(as_text=True)
    assert 'name="mode" value="raw"' in page
    assert error_slot(page, "raw").startswith("Fields cannot show coupon (a value its field cannot hold)")


def test_edit_and_send_fills_json_fields_that_send_again(client: FlaskClient, collector: Collector) -> None:
    page = client.get("/tester/?event=OrderPlace&example=1").get_data(as_text=True)
    assert send_form(client, "event=OrderPlace", _fields(page))[0] == 200
    first = collector.received()[0]
    again = client.get(f"/tester/?from={first['messageId']}").get_data(as_text=True)
    assert "Pre-filled from message" in again
    fields = _fields(again)
    assert json.loads(fields["prop.line_items"]) == ORDER["line_items"]
    status, sent = send_form(client, "event=OrderPlace", fields)
    assert status == 200, sent
    second = collector.received()[1]
    assert second["messageId"] != first["messageId"]
    assert second["properties"] == first["properties"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "{'kind': 'card'}",
            "Not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
        ),
        ('{"kind": "cash"}', "kind: Input should be 'card' or 'sepa'"),
        (
            '{"kind": "card", "kind": "sepa"}',
            'The key "kind" appears twice in one object: give each key once',
        ),
        ('{"kind": "card", "last4": "\\u0000"}', "last4: text cannot contain a NUL character (\\u0000)"),
    ],
)
def test_a_json_field_that_does_not_hold_its_value_says_why_next_to_it(
    client: FlaskClient, collector: Collector, text: str, said: str
) -> None:
    page = client.get("/tester/?event=OrderPlace&example=1").get_data(as_text=True)
    status, sent = send_form(
        client, "event=OrderPlace", {**_fields(page), "prop.payment_method": text}, htmx=False
    )
    assert status == 422
    assert error_slot(sent, "prop.payment_method") == said
    assert collector.received() == []
    # While typing too: the preview says it, rather than "required" or nothing.
    typing = {"spec": "OrderPlace", "mode": "fields", **_fields(page), "prop.payment_method": text}
    preview = client.post("/tester/preview", data=typing, headers=HTMX).get_data(as_text=True)
    assert error_slot(preview, "prop.payment_method") == said


def test_a_nested_item_s_error_names_its_place_in_the_list(client: FlaskClient) -> None:
    page = client.get("/tester/?event=OrderPlace&example=1").get_data(as_text=True)
    items = '[{"sku": "pro-seat", "quantity": 3}, {"sku": "x", "quantity": 0}]'
    status, sent = send_form(
        client, "event=OrderPlace", {**_fields(page), "prop.line_items": items}, htmx=False
    )
    assert status == 422
    assert error_slot(sent, "prop.line_items") == "1.quantity: Input should be greater than or equal to 1"


def test_a_json_field_s_text_that_is_not_json_goes_to_the_raw_editor_as_text(client: FlaskClient) -> None:
    page = client.get("/tester/?event=OrderPlace&example=1").get_data(as_text=True)
    fields = {**_fields(page), "prop.payment_method": "card, I think"}
    back = client.get(
        "/tester/",
        query_string={"spec": "OrderPlace", "mode": "fields", "switch": "raw", **fields},
        headers=HTMX,
    ).get_data(as_text=True)
    assert json.loads(form_values(back)["raw"])["payment_method"] == "card, I think"


def test_cli_send_takes_an_object_and_a_list_of_objects_as_json(
    runner: FlaskCliRunner, collector: Collector
) -> None:
    identify = runner.invoke(
        args=[
            *"send BillingProfile --scope user=1 --prop seats=2".split(),
            "--prop",
            'address={"country": "DE"}',
        ]
    )
    assert identify.exit_code == 0, identify.output
    order = runner.invoke(
        args=[
            *"send OrderPlace --scope user=1,project=2 --prop tags=a --prop tags=b".split(),
            *("--prop", f"line_items={json.dumps(ORDER['line_items'])}"),
            *("--prop", 'payment_method={"kind": "sepa"}'),
        ]
    )
    assert order.exit_code == 0, order.output
    traits, properties = (message.get("traits") or message["properties"] for message in collector.received())
    assert traits["address"] == {"country": "DE"}
    assert properties["line_items"] == ORDER["line_items"] and properties["tags"] == ["a", "b"]
    assert properties["payment_method"] == {"kind": "sepa"}


@pytest.mark.parametrize(
    ("props", "said"),
    [
        (
            ["address={country: DE}"],
            "error: not sent: --prop address: Not valid JSON: Expecting property name enclosed in double "
            "quotes (line 1, column 2)\n",
        ),
        (
            ['address={"country": "DE"}', 'address={"country": "FR"}'],
            '--prop address is given 2 times ({"country": "DE"}, {"country": "FR"}): it holds one JSON value '
            "(a list as one JSON array)\n",
        ),
    ],
)
def test_cli_json_that_is_not_one_json_value_is_one_line_and_exit_2(
    runner: FlaskCliRunner, collector: Collector, props: list[str], said: str
) -> None:
    args = "send BillingProfile --scope user=1 --prop seats=2".split()
    for prop in props:
        args += ["--prop", prop]
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert result.stderr.endswith(said)
    assert collector.received() == []
