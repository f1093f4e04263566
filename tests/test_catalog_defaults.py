"""An optional property with a default is sent as that default: the catalog says so next to "optional"."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient
from nested_specs import nested_catalog  # noqa: F401  (a fixture)

from analytics.catalog import CATALOG
from analytics.exports import spec_document


def _required_cell(page: str, name: str) -> str:
    row = re.search(rf'<tr id="prop-{name}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {name}"
    cell = re.search(r'<td data-label="Required">(.*?)</td>', row.group(1), re.S)
    assert cell
    return cell.group(1)


@pytest.mark.usefixtures("nested_catalog")
def test_an_optional_property_with_a_default_shows_the_default_it_is_sent_as(client: FlaskClient) -> None:
    """`tags: list[str] = prop(..., default=[])` read "optional", yet every message carries `"tags": []`."""
    response = client.get("/events/OrderPlace")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _required_cell(page, "tags") == "optional, default <code>[]</code>"
    # A default of None leaves the property out of the message: plain optional.
    assert _required_cell(page, "coupon") == "optional"
    assert _required_cell(page, "line_items") == "<strong>required</strong>"
    # The catalog's JSON (`/api/catalog`, `events.json`) carries it in each property's row too.
    [row] = [row for row in spec_document(CATALOG.event("OrderPlace"))["properties"] if row["name"] == "tags"]
    assert row["default"] == [] and json.loads(json.dumps(row)) == row
