"""The catalog browser in real Chromium: search, filter, URL state, an event page, a schema download.

The same run takes the README's screenshots: `make screenshots` points `SCREENSHOT_DIR` at `docs/`.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
from browser_helpers import PICKER_CHROME, picker_room
from flask import Flask
from playwright.sync_api import Page, expect

from analytics.catalog import CATALOG
from analytics.versions import record_version

pytestmark = pytest.mark.e2e

PROVISIONING = "Provisioning and connections"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where this run's screenshots go: `SCREENSHOT_DIR` when set (the README's), else a temporary folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _seed_history(record_sent) -> None:  # type: ignore[no-untyped-def]
    """A month of traffic that reads like a real one: busy flows, quiet ones, a failure, unsent events."""
    now = datetime.now(UTC).replace(microsecond=0)
    chance = random.Random(4)
    daily = {
        "UserCreate": 6,
        "ProjectCreate": 4,
        "ClusterProvisioningStart": 5,
        "ClusterProvisioningSuccess": 4,
    }
    for constant, mean in daily.items():
        for day in range(30):
            for _ in range(chance.randint(0, mean)):
                record_sent(constant, now - timedelta(days=day, minutes=chance.randint(5, 1400)))
    record_sent("ApplicationLaunchSuccess", now - timedelta(days=12))
    record_sent("ClusterProvisioningSuccess", now - timedelta(minutes=4), status="failed")
    record_sent("ClusterProvisioningSuccess", now - timedelta(minutes=2), source="tester")


def _query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_search_filter_open_an_event_and_download_its_schema(
    live_server: str,
    page: Page,
    app_record_sent,  # type: ignore[no-untyped-def]
    screenshot_dir: Path,
) -> None:
    _seed_history(app_record_sent)
    page.goto(live_server + "/")
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(len(CATALOG.events))
    page.screenshot(path=str(screenshot_dir / "catalog-events.png"))

    page.get_by_label("Search").fill("provisioning")
    expect(page).to_have_url(f"{live_server}/?q=provisioning")
    searched = [info.name for info in CATALOG.events.values() if "provisioning" in _text(info)]
    expect(rows).to_have_count(len(searched))
    # Back to a search shows it in the search box, with its results (Enter ends one search's typing).
    page.get_by_label("Search").press("Enter")
    page.get_by_label("Search").fill("webhook")
    expect(page).to_have_url(f"{live_server}/?q=webhook")
    page.go_back()
    expect(page).to_have_url(f"{live_server}/?q=provisioning")
    expect(page.get_by_label("Search")).to_have_value("provisioning")
    expect(rows).to_have_count(len(searched))

    page.get_by_label("Category").select_option(PROVISIONING)
    expect(page).to_have_url(f"{live_server}/?q=provisioning&category=Provisioning+and+connections")
    expected = [
        info.name
        for info in CATALOG.events.values()
        if "provisioning" in _text(info) and info.spec.category == PROVISIONING
    ]
    expect(rows.locator("a.event-name")).to_have_text(expected)
    assert 0 < len(expected) < len(searched)
    assert _query(page) == {"q": ["provisioning"], "category": [PROVISIONING]}

    page.reload()
    expect(page.get_by_label("Search")).to_have_value("provisioning")
    expect(rows.locator("a.event-name")).to_have_text(expected)

    # The list's download holds exactly what it shows: the link follows the filters as they change.
    with page.expect_download() as listed_info:
        page.locator(".list-downloads").get_by_role("link", name="CSV").click()
    listed = listed_info.value
    assert listed.suggested_filename == (
        f"events-q-provisioning_category-Provisioning-and-connections-{CATALOG.version}.csv"
    )
    exported = csv.DictReader(io.StringIO(Path(listed.path()).read_text(encoding="utf-8-sig")))
    assert list(dict.fromkeys(row["event"] for row in exported)) == expected

    page.get_by_role("link", name="Cluster Provisioning Success").click()
    expect(page).to_have_url(f"{live_server}/events/ClusterProvisioningSuccess")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cluster Provisioning Success")
    expect(page.locator("table.entries tbody tr").first).to_contain_text("tester")
    page.screenshot(
        path=str(screenshot_dir / "catalog-event.png"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1366, "height": 1200},
    )

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download JSON Schema").click()
    download = download_info.value
    assert download.suggested_filename == "ClusterProvisioningSuccess.schema.json"
    schema = json.loads(Path(download.path()).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == CATALOG.event("ClusterProvisioningSuccess").json_schema


def test_sorting_and_the_never_sent_and_attention_filters_keep_the_url(
    live_server: str, page: Page, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    app_record_sent("UserCreate", datetime.now(UTC) - timedelta(hours=1))
    app_record_sent("ProjectCreate", datetime.now(UTC) - timedelta(days=40))
    page.goto(live_server + "/")
    page.get_by_label("Never sent").check()
    expect(page).to_have_url(f"{live_server}/?never_sent=1")
    expect(page.locator("table.events tbody tr")).to_have_count(len(CATALOG.events) - 2)
    page.get_by_label("Never sent").uncheck()
    expect(page).to_have_url(f"{live_server}/")
    page.get_by_label("Needs attention").check()
    expect(page).to_have_url(f"{live_server}/?attention=1")
    expect(page.locator("table.events tbody a.event-name")).to_have_text(["New Project Event"])
    page.get_by_label("Needs attention").uncheck()
    expect(page).to_have_url(f"{live_server}/")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(f"{live_server}/?sort=-recent")
    expect(page.locator("table.events tbody tr").first).to_contain_text("New User")
    page.get_by_label("Search").fill("zzz-nothing")
    expect(page.get_by_text("No event matches these filters.")).to_be_visible()
    assert _query(page) == {"q": ["zzz-nothing"], "sort": ["-recent"]}


def test_at_150_percent_zoom_the_list_fits_and_starts_on_the_first_screen(
    live_server: str, page: Page, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    """1280×720 at 150% zoom is 853×480 CSS px: an admin's header (the longest) stays one line, the
    table does not scroll sideways, the first event is on the first screen, the Event column is widest."""
    app_record_sent("StackLaunchComplete", datetime.now(UTC) - timedelta(hours=1))  # the widest verdict
    app_record_sent("UserCreate", datetime.now(UTC) - timedelta(days=47))
    page.set_viewport_size({"width": 853, "height": 480})
    page.goto(live_server + "/")
    header = page.locator("header.site").bounding_box()
    assert header is not None and header["height"] < 48, header
    scroll_width, client_width = page.locator(".table-scroll").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert scroll_width <= client_width
    name = page.locator("table.events tbody tr a.event-name").first.bounding_box()
    assert name is not None and name["y"] + name["height"] < 480, name
    widths = page.locator("table.events thead th").evaluate_all(
        "headings => headings.filter(th => th.offsetWidth).map(th => th.offsetWidth)"
    )
    assert widths[0] == max(widths), widths


def test_at_150_percent_zoom_the_changes_page_shows_each_version_whole(
    app: Flask, live_server: str, page: Page
) -> None:
    """The filter bar's five columns gave each version select a fifth (~145 px): "01de2f3a4b5" and
    no date, beside an empty half of the card."""
    from webapp.extensions import db

    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    with app.app_context():
        seen = datetime.now(UTC) - timedelta(days=3)
        record_version(
            db.engine, SimpleNamespace(version="01de2f3a4b5c", schema_bundle=lambda: older), now=seen
        )
    page.set_viewport_size({"width": 853, "height": 533})
    page.goto(live_server + "/changes")
    for select in ("#from", "#to"):
        room, widest, label = picker_room(page, select)
        assert widest + PICKER_CHROME < room, (select, label, widest, room)
    assert page.evaluate("document.documentElement.scrollWidth") <= 853
    compare = page.get_by_role("button", name="Compare").bounding_box()
    assert compare is not None and compare["y"] + compare["height"] < 533


def test_a_download_for_a_search_in_other_letters_is_saved_under_them(live_server: str, page: Page) -> None:
    """The file name dropped every letter outside ASCII (`events-q--ber-caf-…`); the browser now saves
    it under the UTF-8 name (RFC 5987's `filename*`)."""
    page.goto(live_server + "/")
    page.evaluate(
        """() => {
            const link = document.createElement("a");
            link.href = "/events.json?q=" + encodeURIComponent("über café");
            link.download = "";
            link.id = "unicode-download";
            link.textContent = "download";
            document.body.append(link);
        }"""
    )
    with page.expect_download() as download_info:
        page.locator("#unicode-download").click()
    assert download_info.value.suggested_filename == f"events-q-über-café-{CATALOG.version}.json"


def test_printing_the_list_prints_the_content_and_every_column(
    live_server: str, page: Page, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    """A4 portrait's printable width is about 718 CSS px: no navigation, filters or buttons on the
    paper, and the table wraps to fit rather than being cut off (paper has no scrollbar)."""
    app_record_sent("StackLaunchComplete", datetime.now(UTC) - timedelta(hours=1))
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})
    page.goto(live_server + "/")
    for hidden in ("header.site", "#filters", "nav.tabs", "button"):
        expect(page.locator(hidden).first).to_be_hidden()
    columns = page.locator("table.events thead th")
    expect(columns).to_have_count(7)
    for column in range(7):
        expect(columns.nth(column)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 718
    event_page = page.context.new_page()
    event_page.emulate_media(media="print")
    event_page.set_viewport_size({"width": 718, "height": 1000})
    event_page.goto(live_server + "/events/StackLaunchComplete")
    expect(event_page.locator("p.actions")).to_be_hidden()
    expect(event_page.locator("pre.code").first).to_have_css("white-space", "pre-wrap")


def _text(info) -> str:  # type: ignore[no-untyped-def]
    spec = info.spec
    facts = [str(spec.category), str(spec.owner), info.scope.label]
    return " ".join(
        [info.name, info.constant, spec.description(), *facts, *(p.name for p in info.properties)]
    ).lower()


def test_a_search_is_one_history_entry_however_it_is_typed(live_server: str, page: Page) -> None:
    page.goto(live_server + "/")
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(len(CATALOG.events))
    start = page.evaluate("history.length")
    search = page.get_by_label("Search")
    # Slow typing: a pause after each key long enough for a request each time.
    search.press_sequentially("cluster", delay=400)
    expect(page).to_have_url(f"{live_server}/?q=cluster")
    search.press("Enter")
    page.wait_for_timeout(500)
    assert page.evaluate("history.length") == start + 1
    # Trying one category, then another at once, is one adjustment of that select: one entry.
    page.get_by_label("Category").select_option("Apps")
    expect(page).to_have_url(f"{live_server}/?q=cluster&category=Apps")
    page.get_by_label("Category").select_option(PROVISIONING)
    expect(page).to_have_url(f"{live_server}/?q=cluster&category=Provisioning+and+connections")
    assert page.evaluate("history.length") == start + 2
    page.go_back()
    expect(page).to_have_url(f"{live_server}/?q=cluster")
    expect(search).to_have_value("cluster")
    page.go_back()
    expect(page).to_have_url(f"{live_server}/")


def test_the_changes_page_shows_a_shared_change_once_and_its_events_on_demand(
    app: Flask, live_server: str, page: Page
) -> None:
    """One change made in 18 events was 18 sections, one screen each; it is one line whose events
    open from a disclosure, and the per-event list stays one click away."""
    from webapp.extensions import db

    older = copy.deepcopy(CATALOG.schema_bundle())
    for event in older["events"].values():
        if "cluster_id" in event["properties"]:
            event["properties"]["legacy_code"] = {"type": "string", "description": "x"}
    with app.app_context():
        seen = datetime.now(UTC) - timedelta(days=3)
        record_version(
            db.engine, SimpleNamespace(version="01de2f3a4b5c", schema_bundle=lambda: older), now=seen
        )
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server + "/changes")
    assert page.locator("ul.by-change > li").count() == 1
    assert not page.locator("section.change-group").first.is_visible()
    assert page.evaluate("document.documentElement.scrollHeight") <= 800
    page.get_by_text("Which events").focus()
    page.keyboard.press("Enter")
    assert page.locator("ul.by-change details.affected a").first.is_visible()
    page.get_by_text("The same changes, event by event").click()
    assert page.locator("section.change-group").first.is_visible()


def test_the_identify_calls_list_sets_its_summaries_as_the_events_list_does(
    live_server: str, page: Page
) -> None:
    """The summary under each identify call was bold (it sits in the row header), the events list's is not."""
    weights: dict[str, list[str]] = {}
    for path, row in (("/", "table.events tbody tr"), ("/identifiers", "table.identifiers tbody tr")):
        page.goto(live_server + path)
        header = page.locator(row).first.locator('th[scope="row"]')
        weights[path] = [
            header.locator(selector).evaluate("element => getComputedStyle(element).fontWeight")
            for selector in ("a.event-name", ".muted.small >> nth=0")
        ]
    assert weights["/identifiers"] == weights["/"] == ["600", "400"]
