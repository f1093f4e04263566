"""The catalog shows the fields of nested models as rows of their own, by path (`payment_method.kind`,
`line_items[].quantity`), on the event and identify pages, in the exports and to the search.

The nested specs are test-only (`nested_specs`); the pages read them through the shipped catalog,
which the `nested_catalog` fixture joins them to for the test.
"""

from __future__ import annotations

import csv
import io
import re

import nested_specs
import pytest
from flask.testing import FlaskClient
from nested_specs import EVENT, IDENTIFY, nested_catalog  # noqa: F401  (a fixture)

from analytics.exports import markdown_plan, spec_document, specs_csv

HTMX = {"HX-Request": "true"}


def _row(page: str, name: str) -> str:
    match = re.search(rf'<tr id="prop-{re.escape(name)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {name}"
    return " ".join(match.group(1).split())


def test_a_nested_model_s_fields_are_rows_after_their_property() -> None:
    info = nested_specs.CATALOG.event(EVENT)
    assert [p.name for p in info.properties] == [
        "proj_id",
        "line_items",
        "payment_method",
        "discounts",
        "tags",
        "coupon",
    ]
    rows = {row.name: row for row in info.rows}
    assert list(rows) == [
        "proj_id",
        "line_items",
        "line_items[].sku",
        "line_items[].quantity",
        "line_items[].note",
        "payment_method",
        "payment_method.kind",
        "payment_method.last4",
        "discounts",
        "tags",
        "coupon",
    ]
    quantity = rows["line_items[].quantity"]
    assert (quantity.type, quantity.required, quantity.bounds, quantity.example) == (
        "integer",
        True,
        "1 ≤ value ≤ 10000",
        3,
    )
    assert (quantity.holder, quantity.in_items) == ("line_items", True)
    kind = rows["payment_method.kind"]
    assert (kind.allowed_values, kind.holder, kind.in_items) == (
        ("card", "sepa"),
        "payment_method",
        False,
    )
    assert (rows["payment_method.last4"].required, rows["payment_method.last4"].pattern) == (
        False,
        "^[0-9]{4}$",
    )
    assert rows["payment_method"].fields == ("kind", "last4")
    assert rows["line_items"].fields == ("sku", "quantity", "note")
    assert rows["coupon"].fields is None and rows["coupon"].holder is None
    # A mapping declares no fields: its keys are any.
    assert rows["discounts"].fields is None
    # A field without an example of its own shows its part of the model's example.
    city = {row.name: row for row in nested_specs.CATALOG.identifier(IDENTIFY).rows}["address.city"]
    assert (city.example, city.required) == ("Berlin", False)


@pytest.mark.usefixtures("nested_catalog")
def test_the_event_page_lists_nested_fields_and_never_calls_a_model_any_object(client: FlaskClient) -> None:
    response = client.get("/events/OrderPlace")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # A mapping (`discounts: dict[str, int]`) is one; a model, or a list of them, is not.
    assert "any object" in _row(page, "discounts")
    assert "any object" not in _row(page, "line_items") + _row(page, "payment_method")
    assert "each item with the fields <code>sku</code>, <code>quantity</code>, <code>note</code> (below)" in (
        _row(page, "line_items")
    )
    assert "with the fields <code>kind</code>, <code>last4</code> (below)" in _row(page, "payment_method")
    kind = _row(page, "payment_method.kind")
    assert "a field of <code>payment_method</code>" in kind
    assert "<strong>required</strong>" in kind
    assert "<code>card</code>, <code>sepa</code>" in kind
    assert "Payment method kind." in kind and '<code>"card"</code>' in kind
    quantity = _row(page, "line_items[].quantity")
    assert "a field of each item of <code>line_items</code>" in quantity
    assert "1 ≤ value ≤ 10000" in quantity and "How many units." in quantity
    last4 = _row(page, "payment_method.last4")
    assert "optional" in last4 and 'matches <code class="pattern">^[0-9]{4}$</code>' in last4


@pytest.mark.usefixtures("nested_catalog")
def test_the_identify_page_lists_a_nested_trait_s_fields(client: FlaskClient) -> None:
    response = client.get("/identifiers/BillingProfile")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "any object" not in page
    country = _row(page, "address.country")
    assert "a field of <code>address</code>" in country and "^[A-Z]{2}$" in country


def test_the_exports_list_nested_fields_as_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(specs_csv(nested_specs.CATALOG.events.values()))))
    by_name = {row["property"]: row for row in rows}
    assert by_name["payment_method.kind"]["allowed_values"] == "card | sepa"
    assert by_name["line_items[].quantity"]["bounds"] == "1 ≤ value ≤ 10000"
    assert by_name["line_items[].quantity"]["required"] == "yes"
    assert "| `line_items[].quantity` | integer | yes | 1 ≤ value ≤ 10000 | `3` | How many units." in (
        markdown_plan(nested_specs.CATALOG)
    )
    document = spec_document(nested_specs.CATALOG.event(EVENT))
    kind = next(row for row in document["properties"] if row["name"] == "payment_method.kind")
    assert kind["holder"] == "payment_method" and kind["allowed_values"] == ("card", "sepa")


def _listed(client: FlaskClient, query: str) -> tuple[list[str], list[str]]:
    """The events and identify calls a catalog search lists."""
    response = client.get(f"/?{query}", headers=HTMX)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    events = re.findall(r'class="event-name" href="/events/\w+">([^<]+)</a>', page)
    identify = re.findall(r'class="identify-name" href="/identifiers/\w+">([^<]+)</a>', page)
    return events, identify


@pytest.mark.usefixtures("nested_catalog")
@pytest.mark.parametrize(
    ("query", "events", "identify"),
    [
        ("q=sku", [EVENT], []),
        ("q=sepa", [EVENT], []),
        ("q=remark+printed", [EVENT], []),
        ("q=last+four+digits", [EVENT], []),
        ("q=line_items[].quantity", [EVENT], []),
        ("q=country", [], [IDENTIFY]),
    ],
)
def test_the_search_finds_nested_fields_names_descriptions_and_allowed_values(
    client: FlaskClient, query: str, events: list[str], identify: list[str]
) -> None:
    assert _listed(client, query) == (events, identify)
