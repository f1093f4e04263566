"""The dashboard shell in a real browser: the catalog home renders, htmx loads, health answers."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from analytics.catalog import CATALOG

pytestmark = pytest.mark.e2e


def test_home_shows_the_catalog_and_loads_htmx(live_server: str, page: Page) -> None:
    with page.expect_response(lambda r: r.url.endswith("/static/vendor/htmx.min.js")) as htmx:
        page.goto(live_server + "/")
    assert htmx.value.status == 200
    expect(page).to_have_title("Events · event-catalog")
    expect(page.get_by_role("heading", level=1)).to_have_text("Events")
    expect(page.locator("table.events tbody tr")).to_have_count(len(CATALOG.events))
    expect(page.get_by_role("row", name="Cluster Provisioning Success")).to_contain_text("Cluster")
    assert page.evaluate("typeof htmx") == "object"


def test_healthz_answers_ok_in_the_browser(live_server: str, page: Page) -> None:
    response = page.goto(live_server + "/healthz")
    assert response is not None and response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
