"""The audit review pages: search, pages, histogram, live tail and entry detail, through the app."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import pytest
from auditlog import move, record
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from foreign_specs import record_boardly_signup
from sqlalchemy import update

from analytics.actions import record_action
from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import CATALOG, Catalog
from analytics.events import SegmentEvent
from analytics.messages import build_message, build_off_schema_message
from analytics.payload_drift import drift_of
from analytics.scopes import UserScope
from analytics.spec import Category, SpecRegistry, TrackSpec, prop
from analytics.versions import record_version
from webapp.audit.routes import TAIL_GRACE
from webapp.tester.destinations import Destination

CPS = "Cluster Provisioning Success"


def _cps(sqlite_store: AuditStore, **options: object) -> str:
    return record(
        sqlite_store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
        **options,  # type: ignore[arg-type]
    )


def test_the_summary_says_the_chart_s_span_not_the_matches(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """ "9 entries from 19:07:21 to 19:11:52 UTC" read as the matches' span, when the newest match was
    at 19:07:25 and 19:11:52 was now, the chart's end."""
    recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    move(sqlite_store, _cps(sqlite_store, status="failed"), recorded)
    page = client.get("/audit/?range=1h").get_data(as_text=True)
    assert '<strong id="audit-count">1 entry</strong>' in page
    span = re.search(r'<span class="muted" id="audit-chart-span">([^<]*)</span>', page)
    assert span is not None and span.group(1).startswith("· chart: ")
    assert f"{recorded:%H:%M:%S} UTC" not in span.group(1)  # the match is not where it ends


def _rows(page: str) -> list[str]:
    """The message ids of the result rows, in order."""
    return re.findall(r'<a id="audit-link-\d+" href="/audit/entries/([^"]+)"><time', page)


def _links(page: str, rel: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(rf'<a [^>]*rel="{rel}" href="([^"]+)"', page)]


def test_search_page_lists_entries_newest_first_with_count_histogram_and_exports(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    first = _cps(sqlite_store, status="delivered")
    second = record(sqlite_store, "ProjectCreate", scope={"user_id": 2, "project_id": 13}, status="failed")
    response = client.get("/audit/")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = response.get_data(as_text=True)
    assert "<title>Audit log · event-catalog</title>" in page
    assert '<nav aria-label="Breadcrumb"' in page
    assert '<a href="/audit/" aria-current="page">Audit log</a>' in page
    assert _rows(page) == [second, first]
    assert '<strong id="audit-count">2 entries</strong>' in page
    assert page.count('class="hist-bar status-delivered"') == 1
    assert page.count('class="hist-bar status-failed"') == 1
    assert 'href="/audit/export.csv"' in page and 'href="/audit/export.ndjson"' in page
    assert '<script src="/static/audit-tail.js" defer></script>' in page


def test_filters_narrow_the_list_and_the_form_keeps_their_state(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    failed = _cps(sqlite_store, status="failed")
    _cps(sqlite_store, status="delivered")
    record(sqlite_store, "ProjectCreate", scope={"user_id": 2, "project_id": 12}, status="failed")
    page = client.get("/audit/", query_string={"event": CPS, "status": "failed", "project": "12"}).get_data(
        as_text=True
    )
    assert _rows(page) == [failed]
    assert f'<option value="{CPS}" selected>' in page
    assert '<input type="checkbox" name="status" value="failed" checked>' in page
    assert '<input type="checkbox" name="status" value="delivered">' in page
    assert 'name="project" value="12"' in page
    assert "/audit/export.csv?event=Cluster+Provisioning+Success&amp;status=failed&amp;project=12" in page


def test_the_property_field_says_its_search_is_exact_and_takes_python_s_booleans(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """`github = True` found nothing where `true` found entries, and nothing said the search was exact."""
    register = record(
        sqlite_store, "Register", scope={"user_id": 3}, properties={"email": "a@b.co", "github": True}
    )
    page = client.get("/audit/", query_string={"prop": "github = True"}).get_data(as_text=True)
    assert _rows(page) == [register]
    assert '<small class="muted" id="hint-prop">key = value, an exact match</small>' in page
    exact = "<li>Exact, case included (eks does not find EKS); True and False are the booleans true and"
    assert exact in _property_help(page)


def _property_help(page: str) -> str:
    """The Property field's folded help: what follows its one-line hint, up to the end of the field."""
    field = page[page.index('id="hint-prop"') :]
    field = field[: field.index("</div>")]
    start = field.index('<details class="hint-more" id="more-prop">')
    return field[start : field.index("</details>")]


def test_the_property_field_s_hint_is_one_line_and_its_details_fold_under_it(client: FlaskClient) -> None:
    """Its hint ran nine lines under the field on a 1366×768 screen, pushing Message id below the fold."""
    page = client.get("/audit/").get_data(as_text=True)
    hint = re.search(r'<small class="muted" id="hint-prop">([^<]*)</small>', page)
    assert hint is not None and len(hint.group(1)) <= 30
    assert 'aria-describedby="hint-prop error-prop"' in page
    help_text = _property_help(page)
    assert '<summary>How to write it<span class="visually-hidden">: Property</span></summary>' in help_text
    for told in (
        "payment_method.kind, line_items[].sku",
        "&#34;E-Mail&#34; = x",
        "Personal data matches its masked form (engineers and admins).",
        "a time range makes it fast and counts every match; without one it stops at a page.",
    ):
        assert told in help_text


def test_a_filter_s_error_comes_right_after_its_field_before_its_hint(client: FlaskClient) -> None:
    """The property's error came after its nine-line hint, ~190 px under the field it is about."""
    page = client.get("/audit/", query_string={"prop": "cluster_type"}).get_data(as_text=True)
    field = page[page.index('id="filter-prop"') :]
    field = field[: field.index("</div>")]
    after_input = field[field.index(">") + 1 :].lstrip()
    assert after_input.startswith('<span class="field-error" id="error-prop">write the property search as')
    assert after_input.index('id="error-prop"') < after_input.index('id="hint-prop"')


def test_the_destination_filter_finds_a_tester_destination_s_sends_and_suggests_the_configured_ones(
    app: Flask, client: FlaskClient, sqlite_store: AuditStore
) -> None:
    app.config["TESTER_DESTINATIONS"] = (Destination("staging", "http://127.0.0.1:9", write_key="k"),)
    label = app.config["TESTER_DESTINATIONS"][0].label
    old_key = _cps(sqlite_store, source="tester", destination="staging:0123456789ab")
    current_key = _cps(sqlite_store, source="tester", destination=label)
    _cps(sqlite_store, source="tester", destination="staging-eu:0123456789ab")
    _cps(sqlite_store)

    by_name = client.get("/audit/?destination=staging").get_data(as_text=True)
    assert _rows(by_name) == [current_key, old_key]
    assert '<span class="muted" title="staging:0123456789ab">to staging</span>' in by_name
    assert 'name="destination" value="staging"' in by_name and 'list="suggest-destination"' in by_name
    assert '<option value="staging">staging: every key</option>' in by_name
    assert f'<option value="{label}">staging: current key only</option>' in by_name
    assert '<option value="default">default: every key</option>' in by_name
    assert _rows(client.get(f"/audit/?destination={label}").get_data(as_text=True)) == [current_key]

    entry = client.get(f"/audit/entries/{current_key}").get_data(as_text=True)
    assert f'<dt>Destination</dt><dd><a href="/audit/?destination={label}"' in entry

    typo = client.get("/audit/?destination=stagng").get_data(as_text=True)
    assert "No destination named <code>stagng</code> is configured now" in typo
    nothing_failed = client.get("/audit/?destination=staging&status=failed").get_data(as_text=True)
    assert "No entries match these filters." in nothing_failed
    assert "No destination named" not in nothing_failed

    wrong = client.get("/audit/?destination=Staging EU")
    assert wrong.status_code == 400
    assert 'id="error-destination">&#39;Staging EU&#39; is not a destination' in wrong.get_data(as_text=True)


def test_htmx_requests_get_the_results_fragment_with_error_slots(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    _cps(sqlite_store)
    response = client.get("/audit/?status=pending", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "<form" not in fragment
    assert '<section id="audit-results"' in fragment
    assert '<span class="field-error" id="error-since" hx-swap-oob="true"></span>' in fragment
    submitted = client.get(
        "/audit/?range=&event=&status=pending&project=&live=1", headers={"HX-Request": "true"}
    )
    assert submitted.headers["HX-Push-Url"] == "/audit/?status=pending&live=1"


def test_bad_filters_are_shown_next_to_their_field_keeping_what_was_typed(client: FlaskClient) -> None:
    response = client.get("/audit/?project=twelve&since=last+tuesday")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'name="project" value="twelve"' in page and 'aria-invalid="true"' in page
    assert 'id="error-project">&#39;twelve&#39; is not a whole number</span>' in page
    assert 'id="error-since">&#39;last tuesday&#39; is not a time' in page
    assert "<table" not in page
    fragment = client.get("/audit/?project=twelve", headers={"HX-Request": "true"})
    # htmx swaps only 2xx answers: the fragment must arrive to show the errors.
    assert fragment.status_code == 200
    text = fragment.get_data(as_text=True)
    assert 'id="error-project" hx-swap-oob="true">&#39;twelve&#39; is not a whole number' in text
    assert "Some filters cannot be used" in text


def test_an_id_in_other_digits_than_0_9_is_refused_next_to_its_field(client: FlaskClient) -> None:
    response = client.get("/audit/?project=%D9%A1%D9%A2")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert (
        'id="error-project">&#39;١٢&#39; is not an id: ids are written with the digits 0-9 only</span>'
        in page
    )
    assert "<table" not in page


def test_pages_continue_from_a_cursor_without_offsets(client: FlaskClient, sqlite_store: AuditStore) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    ids = [
        record(
            sqlite_store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 12},
            recorded_at=start + timedelta(seconds=i),
        )
        for i in range(55)
    ]
    newest_first = list(reversed(ids))
    first = client.get("/audit/?project=12").get_data(as_text=True)
    assert _rows(first) == newest_first[:50]
    assert _links(first, "prev") == []
    (older,) = _links(first, "next")
    assert parse_qs(urlsplit(older).query)["project"] == ["12"]
    second = client.get(older).get_data(as_text=True)
    assert _rows(second) == newest_first[50:]
    assert _links(second, "next") == []
    (newer,) = _links(second, "prev")
    assert _rows(client.get(newer).get_data(as_text=True)) == newest_first[:50]
    # A row id past what the database can compare (64 bits) is as broken as text: it answered 500.
    for broken_cursor in ("not-a-cursor", "2026-12-06T03:54:40Z_99999999999999999999999"):
        broken = client.get(f"/audit/?before={broken_cursor}")
        assert broken.status_code == 400
        assert "this page link is not valid any more" in broken.get_data(as_text=True)


def test_histogram_bars_link_to_their_narrowed_range(client: FlaskClient, sqlite_store: AuditStore) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    early = _cps(sqlite_store, status="delivered", recorded_at=hour + timedelta(minutes=5))
    late = _cps(sqlite_store, status="failed", recorded_at=hour + timedelta(minutes=65))
    since, until = hour.strftime("%Y-%m-%dT%H:%M"), (hour + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page = client.get(f"/audit/?since={since}&until={until}&range=7d").get_data(as_text=True)
    bars = [
        html.unescape(href)
        for href in re.findall(r'<a id="hist-\d+" href="([^"]+)" aria-label="[^"]*UTC: \d', page)
    ]
    assert len(bars) == 60  # two hours in two-minute bars
    labels = re.findall(r'aria-label="([^"]*UTC: [1-9][^"]*)"', page)

    def bar(start: int) -> str:
        begin, end = hour + timedelta(minutes=start), hour + timedelta(minutes=start + 2)
        return f"{begin:%Y-%m-%d %H:%M:%S}–{end:%H:%M:%S}"

    assert labels == [f"{bar(4)} UTC: 1 entry (1 delivered)", f"{bar(64)} UTC: 1 entry (1 failed)"]
    # Only the bars that hold entries are tab stops: 58 empty ones made a reviewer tab 60 times.
    focusable = re.findall(
        r'<a id="hist-\d+" href="[^"]+" aria-label="[^"]*UTC: (\d+) [^"]*"(?! tabindex="-1")>', page
    )
    assert focusable == ["1", "1"] and page.count('UTC: 0 entries" tabindex="-1">') == 58
    narrowed = bars[2]
    query = parse_qs(urlsplit(narrowed).query)
    assert "range" not in query
    assert query["since"] == [f"{hour + timedelta(minutes=4):%Y-%m-%dT%H:%M:%SZ}"]
    assert query["until"] == [f"{hour + timedelta(minutes=6):%Y-%m-%dT%H:%M:%SZ}"]
    assert _rows(client.get(narrowed).get_data(as_text=True)) == [early]
    assert late not in _rows(client.get(narrowed).get_data(as_text=True))


def test_an_offset_typed_into_the_address_is_read(client: FlaskClient, sqlite_store: AuditStore) -> None:
    """`?since=…T14:00+01:00` typed as is: the `+` decodes to a space, and the search was refused."""
    entry = _cps(sqlite_store)
    response = client.get("/audit/?since=2000-01-01T14:00+01:00")
    assert response.status_code == 200 and _rows(response.get_data(as_text=True)) == [entry]


def test_a_search_reaching_back_to_year_one_or_on_to_9999_draws_its_histogram(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """Epoch-aligned buckets of a search that wide start before year 1 and end after 9999."""
    entry = _cps(sqlite_store)
    for bounds in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"):
        response = client.get(f"/audit/?{bounds}")
        assert response.status_code == 200, bounds
        page = response.get_data(as_text=True)
        assert _rows(page) == [entry] and "UTC: 1 entry" in page, bounds
    early = client.get("/audit/?since=0738-03-01").get_data(as_text=True)
    assert re.search(r'aria-label="0738-03-01 00:00:00–\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: ', early), (
        "a year below 1000 keeps four digits"
    )


HTMX = {"HX-Request": "true"}
"""How the page asks for its fragments (the live tail polls with it)."""


def _tail_url(page: str) -> str:
    match = re.search(r'<div id="audit-tail"[^>]*hx-get="([^"]+)"', page, re.S)
    assert match is not None
    return html.unescape(match.group(1))


def test_live_tail_polls_only_on_the_newest_page(client: FlaskClient, sqlite_store: AuditStore) -> None:
    for _ in range(51):
        _cps(sqlite_store)
    page = client.get("/audit/?live=1").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in page
    assert '<input type="checkbox" name="live" value="1" checked>' in page
    (older,) = _links(page, "next")
    assert "live=1" in older
    later = client.get(older).get_data(as_text=True)
    assert 'id="audit-tail"' not in later and "go to the newest" in later
    assert 'id="audit-tail"' not in client.get("/audit/").get_data(as_text=True)


def test_tail_adds_new_entries_above_the_list_and_moves_its_cursor(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    _cps(sqlite_store)
    url = _tail_url(client.get("/audit/?live=1&project=12").get_data(as_text=True))
    assert parse_qs(urlsplit(url).query)["total"] == ["1"]
    quiet = client.get(url, headers=HTMX)
    assert quiet.status_code == 200 and "hx-swap-oob" not in quiet.get_data(as_text=True)
    new = _cps(sqlite_store, status="failed")
    record(
        sqlite_store, "ProjectCreate", scope={"user_id": 1, "project_id": 99}
    )  # another project: not tailed
    update_ = client.get(url, headers=HTMX).get_data(as_text=True)
    assert '<tbody hx-swap-oob="afterbegin:#audit-rows">' in update_
    assert _rows(update_) == [new]
    # The head is read again: the count, and the histogram's legend with the new entry's status.
    assert '<div id="audit-overview" hx-swap-oob="true">' in update_
    assert '<strong id="audit-count">2 entries</strong>' in update_
    legend = re.findall(
        r'<span class="swatch status-(\w+)" aria-hidden="true">.*?</span>\w+ ([\d,]+)</a>', update_
    )
    assert dict(legend) == {"pending": "1", "failed": "1"}
    next_url = _tail_url(update_)
    assert parse_qs(urlsplit(next_url).query)["total"] == ["2"]
    assert _rows(client.get(next_url, headers=HTMX).get_data(as_text=True)) == []


def test_tail_brings_back_listed_rows_whose_status_moved_on(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    waiting, failed, done = (
        _cps(sqlite_store),
        _cps(sqlite_store, status="failed"),
        _cps(sqlite_store, status="delivered"),
    )
    page = client.get("/audit/?live=1").get_data(as_text=True)
    # The tail's URL names the rows that may move on and what they show; a delivered one it does not.
    url = _tail_url(page)
    moving = parse_qs(urlsplit(url).query)["moving"]
    assert [part.partition(":")[0] for part in moving[0].split(",")] == ["failed", "pending"]
    assert "hx-include" not in page and 'name="shown"' not in page
    assert "hx-swap-oob" not in client.get(url, headers=HTMX).get_data(as_text=True)
    sqlite_store.record_outcome([waiting], AuditStatus.DELIVERED, http_status=200)
    sqlite_store.record_outcome([failed], AuditStatus.DELIVERED, http_status=200, source="replay")
    update_ = client.get(url, headers=HTMX).get_data(as_text=True)
    rows = re.findall(
        r'<template><tr id="audit-entry-(\d+)" hx-swap-oob="true">(.*?)</tr></template>', update_, re.S
    )
    back = {message_id for message_id in (waiting, failed) if any(message_id in row for _, row in rows)}
    assert back == {waiting, failed}
    assert all("status-delivered" in row for _, row in rows) and len(rows) == 2
    assert done not in update_
    # Settled, they are no longer followed.
    assert "moving" not in parse_qs(urlsplit(_tail_url(update_)).query)
    legend = re.findall(
        r'<span class="swatch status-(\w+)" aria-hidden="true"></span>\w+ ([\d,]+)</a>', update_
    )
    assert dict(legend) == {"delivered": "3"}
    # A hand-made list of rows that is not one the tail writes stops it, as a wrong `seen` does.
    for wrong in ("delivered:1", "pending:x-", "pending:", "pending:1-2s"):  # 1-2s: 101 rows
        hand_made = re.sub("moving=[^&]*", f"moving={wrong}", _tail_url(page))
        assert client.get(hand_made, headers=HTMX).status_code == 286


def test_an_empty_view_offers_no_export_unless_the_live_tail_may_fill_it(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    _cps(sqlite_store, status="delivered")
    empty = client.get("/audit/?status=failed").get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in empty
    assert "Export this view" not in empty and "/audit/export.csv" not in empty
    tailing = client.get("/audit/?status=failed&live=1").get_data(as_text=True)
    assert "/audit/export.csv?status=failed" in tailing


def test_the_view_is_exported_with_its_delivery_attempts_from_a_link(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """`include=attempts` was reachable only by editing the export's address by hand."""
    _cps(sqlite_store, status="delivered")
    page = client.get("/audit/?status=delivered").get_data(as_text=True)
    link = re.search(r'id="export-ndjson-attempts"[^>]*href="([^"]+)"', page)
    assert link is not None and "include=attempts" in link.group(1)
    [line] = client.get(html.unescape(link.group(1))).get_data(as_text=True).splitlines()
    assert "attempts" in json.loads(line)


def test_tail_of_an_empty_list_removes_the_empty_row(client: FlaskClient, sqlite_store: AuditStore) -> None:
    page = client.get("/audit/?live=1").get_data(as_text=True)
    assert '<tr id="audit-empty">' in page
    new = _cps(sqlite_store)
    update_ = client.get(_tail_url(page), headers=HTMX).get_data(as_text=True)
    assert _rows(update_) == [new]
    assert '<tr id="audit-empty" hx-swap-oob="delete"></tr>' in update_


def test_tail_stops_polling_when_nothing_new_can_match(client: FlaskClient) -> None:
    assert client.get("/audit/tail?until=2020-01-01", headers=HTMX).status_code == 286
    assert client.get("/audit/tail?project=x", headers=HTMX).status_code == 286
    assert client.get("/audit/tail?after=garbage", headers=HTMX).status_code == 286
    assert (
        client.get("/audit/tail?after=2026-12-06T03:54:40Z_9223372036854775808", headers=HTMX).status_code
        == 286
    )


def test_the_tail_opened_as_a_page_leads_to_its_live_search(client: FlaskClient) -> None:
    """Its address opened alone showed an unstyled fragment, or a blank page."""
    response = client.get("/audit/tail?project=12&status=failed&after=garbage&total=3")
    assert response.status_code == 303
    assert response.headers["Location"] == "/audit/?status=failed&project=12&live=1"


def test_tail_of_a_range_ending_at_the_last_representable_time_keeps_polling(client: FlaskClient) -> None:
    """Its end plus the grace period was past the largest date: an OverflowError, a 500."""
    assert client.get("/audit/tail?until=9999-12-31T23:59:59", headers=HTMX).status_code == 200


def test_tail_reads_an_ended_range_a_while_longer_then_a_last_time_and_says_so(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """It stopped at the range's end without reading it again: entries of its last seconds, committed
    after it by the batched writer, never appeared, and pending rows stayed pending on the page."""
    now = datetime.now(UTC).replace(microsecond=0)
    since, until = now - timedelta(minutes=5), now - timedelta(seconds=10)
    first = _cps(sqlite_store, recorded_at=until - timedelta(minutes=1))
    window = f"since={since:%Y-%m-%dT%H:%M:%S}&until={until:%Y-%m-%dT%H:%M:%S}"
    listed = client.get(f"/audit/?live=1&{window}").get_data(as_text=True)
    url = _tail_url(listed)
    moving = parse_qs(urlsplit(url).query)["moving"][0]
    late = _cps(sqlite_store, recorded_at=until - timedelta(seconds=1))  # committed after the range
    reading = client.get(url, headers=HTMX)
    page = reading.get_data(as_text=True)
    assert reading.status_code == 200 and _rows(page) == [late]
    assert "the range has ended: reading its last entries" in page
    assert re.search(r"· checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    # Past the grace: one last read, which brings the first entry's new status, and the end said.
    ended = until - TAIL_GRACE
    window = f"since={since - TAIL_GRACE:%Y-%m-%dT%H:%M:%S}&until={ended:%Y-%m-%dT%H:%M:%S}"
    sqlite_store.record_outcome([first], AuditStatus.DELIVERED, http_status=200)
    after = parse_qs(urlsplit(url).query)["after"][0]
    last = client.get(f"/audit/tail?live=1&{window}&after={after}&total=1&moving={moving}", headers=HTMX)
    page = last.get_data(as_text=True)
    assert last.status_code == 286 and "every 2s" not in page
    assert _rows(page) == [first] and 'hx-swap-oob="true"' in page  # its row, now delivered
    assert (
        f"The range ended at {ended:%Y-%m-%d %H:%M:%S} UTC: the live tail stopped after a last read" in page
    )
    assert re.search(r"after a last read at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)


def test_entry_page_shows_message_attempts_version_drift_and_links(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    message_id = _cps(sqlite_store)
    sqlite_store.record_outcome(
        [message_id], AuditStatus.FAILED, http_status=500, error='{"code":"internal"}'
    )
    sqlite_store.record_outcome([message_id], AuditStatus.DELIVERED, http_status=200, latency_ms=12.5)
    response = client.get(f"/audit/entries/{message_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"<title>{CPS} · Audit entry · event-catalog</title>" in page
    assert f'<span aria-current="page">{message_id}</span>' in page
    # Pretty JSON, one key per line, each string isolated (webapp/json_view.py).
    assert '"<bdi>cluster_type</bdi>": "<bdi>eks</bdi>",' in page
    attempts = page.split('class="delivery-attempts"')[1]
    assert attempts.index(">500<") < attempts.index(">200<")
    assert "{&#34;code&#34;:&#34;internal&#34;}" in attempts and "12.5 ms" in attempts
    assert f"<code>{CATALOG.version}</code>" in page and ">current</span>" in page
    assert "still validate against today's schema" in page
    for link in (
        "/events/ClusterProvisioningSuccess",
        f"/tester/?from={message_id}",
        "/audit/?user_id=1",
        "/audit/?project=12",
        "/audit/?cluster=4",
        f"/audit/?version={CATALOG.version}",
    ):
        assert f'href="{link}"' in page, link


def test_entry_page_explains_drift_from_today_s_schema(client: FlaskClient, sqlite_store: AuditStore) -> None:
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    note = "z" * 5000
    message["properties"] = {
        "proj_id": 12,
        "cluster_id": 4,
        "cluster_type": "openshift",
        "colour": "red",
        "note": note,
    }
    message["context"]["eventCatalog"]["version"] = "0ldversion00"
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="application")
    page = client.get(f"/audit/entries/{message['messageId']}").get_data(as_text=True)
    assert "no longer validate against today's schema" in page and "4 differences" in page
    table = page.split('class="drift-differences"')[1].split("</table>")[0]
    # A long stored value is cut in the table (the message below has it whole), so the page stays readable.
    assert (
        f'<code class="json-value">"<bdi>{"z" * 199}</bdi>…</code>' in table
        and "(5,002 characters in all: see the message below)" in table
    )
    assert note not in table and note in page
    assert (
        "<code><bdi>cluster_type</bdi></code>" in table
        and '<code class="json-value">"<bdi>openshift</bdi>"</code>' in table
    )
    assert "<code><bdi>infra_id</bdi></code>" in table
    assert "required today, absent from the stored message" in table
    assert "<code><bdi>colour</bdi></code>" in table and "not a property of this event today" in table
    assert "not the dashboard's" in page and "what differs" in page


def test_an_off_schema_tester_message_is_not_called_drift(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    info = CATALOG.event("ClusterProvisioningSuccess")
    scope = info.example_spec().scope
    message = build_off_schema_message(info.spec, scope, {}, source="tester", actor="ada@example.com")
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="tester")
    page = client.get(f"/audit/entries/{message['messageId']}").get_data(as_text=True)
    assert "Sent off-schema on purpose" in page and "2 differences from today's schema" in page
    assert '<p class="drift drift-off-schema">Sent off-schema' in page
    assert "no longer validate" not in page
    assert "<code><bdi>infra_id</bdi></code>" in page.split('class="drift-differences"')[1]


class _AppEvent(StrEnum):
    InviteSendFailure = "Invite Send Failure"


def _application_catalog() -> tuple[Catalog, type[TrackSpec]]:
    """A catalog as an application that declares its own spec records it (the dashboard's has not)."""
    registry = SpecRegistry()

    class InviteSendFailure(
        TrackSpec,
        event=_AppEvent.InviteSendFailure,
        category=Category.ONBOARDING,
        owner="growth",
        registry=registry,
    ):
        """An invitation could not be sent."""

        scope: UserScope

    return Catalog(registry), InviteSendFailure


def _recorded(sqlite_store: AuditStore, message: dict[str, object], version: str) -> str:
    message["context"]["eventCatalog"]["version"] = version  # type: ignore[index]
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="application")
    return str(message["messageId"])


def _unknown_spec_note(client: FlaskClient, message_id: str) -> str:
    page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "Cannot be sent again from the tester: not in today's catalog." in page
    assert "removed or renamed since catalog version" not in page
    note = page.split('<p class="drift drift-unknown">')[1].split("</p>")[0]
    return " ".join(html.unescape(re.sub(r"</?code>", "", note)).split())


def test_a_message_today_s_catalog_has_no_spec_for_says_whether_its_version_had_one(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """Every such message read "it was removed or renamed since catalog version X", also when X was an
    application's catalog with a spec of its own (never in the dashboard's) or a raw send no catalog had."""
    application, spec = _application_catalog()
    record_version(sqlite_store.engine, application)
    record_version(sqlite_store.engine, CATALOG)
    own = _recorded(sqlite_store, build_message(spec(scope=UserScope(user_id=1))), application.version)
    assert _unknown_spec_note(client, own) == (
        f"Today's catalog ({CATALOG.version}) has no spec for this message (event “Invite Send Failure”). "
        f"Catalog version {application.version}, which built it, has one: the spec was declared outside "
        "the catalog the dashboard runs (in an application, or in a release the dashboard does not run), "
        "or it was removed or renamed since that version."
    )
    raw = build_message(CATALOG.event("ProjectCreate").example_spec())
    raw["event"] = "Cluster Exploded"
    del raw["context"]["eventCatalog"]["spec"]
    assert _unknown_spec_note(client, _recorded(sqlite_store, raw, CATALOG.version)).endswith(
        f"Catalog version {CATALOG.version}, which built it, has none either: it was not built from a "
        "spec of the catalog (a raw tester send, for instance)."
    )
    unrecorded = _recorded(sqlite_store, build_message(spec(scope=UserScope(user_id=1))), "0ldversion00")
    assert _unknown_spec_note(client, unrecorded).endswith(
        "Catalog version 0ldversion00, which built it, is not recorded in this database, so whether it "
        "had this spec cannot be told: declared outside the catalog the dashboard runs, or removed or "
        "renamed since."
    )


def test_a_message_built_by_an_application_s_own_spec_names_it(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """A spec declared outside the catalog package joins no registry and its messages carry the catalog's
    version (`ForeignSpecWarning`): the page called them "not built from a spec (a raw tester send)"
    while their catalog marker named the spec that built them."""
    record_version(sqlite_store.engine, CATALOG)
    _, spec = _application_catalog()
    own = _recorded(sqlite_store, build_message(spec(scope=UserScope(user_id=1))), CATALOG.version)
    assert _unknown_spec_note(client, own).endswith(
        f"Catalog version {CATALOG.version}, which stamped it, has none either: it was built by the spec "
        "InviteSendFailure, declared outside the catalog package (an application's own, which warned with "
        "ForeignSpecWarning). The catalog does not know it: no lint checked it, and the audit log masked "
        "its properties named like personal data, whatever the spec marks."
    )


def test_masked_personal_strings_are_not_drift() -> None:
    registry = SpecRegistry()

    class Signup(
        TrackSpec,
        event=SegmentEvent.UserCreate,
        category=Category.ONBOARDING,
        owner="growth",
        registry=registry,
    ):
        """Someone signed up."""

        scope: UserScope
        email: str = prop("Email.", example="a@b.co", personal_data=True, pattern=r"^[^@]+@[^@]+$")
        nickname: str = prop("Shown name.", example="ada", pattern=r"^[a-z]+$")

    catalog = Catalog(registry)
    message = build_message(Signup(scope=UserScope(user_id=1), email="a@b.co", nickname="ada"))
    message["properties"]["email"] = "masked:0123456789abcdef"
    assert drift_of(message, catalog).validates
    message["properties"]["nickname"] = "masked:0123456789abcdef"  # not personal data: real drift
    assert [d.field for d in drift_of(message, catalog).differences] == ["nickname"]
    message["properties"]["email"] = "not an email"  # unmasked and invalid: drift
    assert [d.field for d in drift_of(message, catalog).differences] == ["email", "nickname"]


def test_entry_page_of_an_identify_links_to_its_identify_spec(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    message_id = record(
        sqlite_store, "Register", scope={"user_id": 3}, properties={"email": "a@b.co", "github": True}
    )
    listing = client.get("/audit/").get_data(as_text=True)
    assert '<td data-label="Event">Identify: Register</td>' in listing
    page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert '<h1>Identify: Register <span class="badge audit-status' in page
    assert "<title>Identify: Register · Audit entry · event-catalog</title>" in page
    assert 'href="/identifiers/RegisterIdentify"' in page
    assert "masked:" in page and "a@b.co" not in page
    assert "still validate against today's schema of Register (masked personal data" in page


def test_stuck_pending_entries_are_marked(client: FlaskClient, sqlite_store: AuditStore) -> None:
    stuck = _cps(sqlite_store)
    _cps(sqlite_store)  # pending, but only just
    with sqlite_store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.message_id == stuck)
            .values(status_changed_at=datetime.now(UTC) - timedelta(hours=2))
        )
    page = client.get("/audit/").get_data(as_text=True)
    assert page.count('<span class="badge audit-stuck"') == 1
    assert 'class="badge audit-stuck">stuck</span>' in client.get(f"/audit/entries/{stuck}").get_data(
        as_text=True
    )


def test_a_purge_record_is_shown_without_drift_or_send_again(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    from analytics.retention import purge

    old = _cps(sqlite_store)
    move(sqlite_store, old, datetime.now(UTC) - timedelta(days=100))
    report = purge(sqlite_store, datetime.now(UTC) - timedelta(days=90), actor="ops@example.com")
    assert report.message_id is not None
    listing = client.get("/audit/?type=purge").get_data(as_text=True)
    assert _rows(listing) == [report.message_id]
    assert '<td data-label="Event">Purge</td>' in listing
    page = client.get(f"/audit/entries/{report.message_id}").get_data(as_text=True)
    assert "Send again" not in page and "Drift against" not in page
    assert "records the log's own maintenance" in page


def test_an_account_action_says_a_person_did_it(client: FlaskClient, sqlite_store: AuditStore) -> None:
    from analytics.actions import record_action

    record_action(sqlite_store, "User Role Changed", actor="ada@example.com", properties={"role": "engineer"})
    listing = client.get("/audit/?type=action").get_data(as_text=True)
    [message_id, *_] = _rows(listing)
    page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "records what someone did in the dashboard or with a command" in page
    assert "own maintenance" not in page
    assert "never sent: done by ada@example.com." in page and "path" not in page.split("</h1>", 1)[1][:300]


def test_unknown_message_id_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/audit/entries/no-such-message")
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "No audit entry has the message id &#39;no-such-message&#39;." in page
    assert '<a href="/audit/">Back to the audit log</a>' in page and "Back to the catalog" not in page


def test_a_purged_entry_s_page_says_retention_may_have_deleted_it(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """It said only "No audit entry has the message id …", though a purge record covers its time."""
    from analytics.retention import purge

    old = _cps(sqlite_store)
    move(sqlite_store, old, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    cutoff = datetime(2026, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
    report = purge(sqlite_store, cutoff, period=timedelta(days=90), actor="cli:ops")
    assert report.entries == 1
    response = client.get(f"/audit/entries/{old}")
    assert response.status_code == 404
    said = html.unescape(response.get_data(as_text=True))
    assert (
        f"No audit entry has the message id '{old}'. It may have been deleted by retention: the latest purge "
        "(event-catalog audit purge --older-than 90d, run "
    ) in said
    assert " UTC by cli:ops) deleted the entries recorded before 2026-02-03 04:05:06 UTC." in said


def test_a_purge_record_without_a_readable_cutoff_leaves_the_plain_404(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """A cutoff that is no time ended the 404 page in a 500 (`fromisoformat` unguarded)."""
    sqlite_store.record(
        {
            "type": "purge",
            "messageId": "purge-without-cutoff",
            "timestamp": "2026-12-06T00:00:00Z",
            "cutoff": "spring",
        },
        status=AuditStatus.RECORDED,
        source="retention",
        actor="cli:ops",
    )
    response = client.get("/audit/entries/gone")
    assert response.status_code == 404
    said = html.unescape(response.get_data(as_text=True))
    assert "No audit entry has the message id 'gone'." in said and "retention" not in said


def test_the_source_field_offers_what_writes_entries_and_explains_re_sends(client: FlaskClient) -> None:
    page = client.get("/audit/").get_data(as_text=True)
    options = re.findall(
        r'<option value="(\w+)"[^>]*>', page.split('name="source"', 1)[1].split("</select>", 1)[0]
    )
    assert options == ["application", "tester", "dashboard", "replay", "retention"]
    empty = client.get("/audit/?source=replay").get_data(as_text=True)
    assert "Each replay run is an action of this source" in empty
    # A value the list does not offer stays chosen: the next search from this form still asks for it.
    unknown = client.get("/audit/?source=cron").get_data(as_text=True)
    assert '<option value="cron" selected>cron</option>' in unknown


def test_an_action_s_page_does_not_claim_its_emails_are_masked(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    message_id = record_action(
        sqlite_store, "User Disabled", actor="admin@example.com", properties={"email": "bo@example.com"}
    )
    page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "Record</h2>" in page and "As stored in the audit log; accounts are named by their email." in page
    assert "kept masked" not in page and "bo@example.com" in page


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("304ddb24", "Message ids are matched whole: a short id a page shows (<code>304ddb24…</code>)"),
        (
            "304DDB24-0000-4000-8000-000000000000",
            "Message ids are matched exactly, and the ones this log holds are lower-case: "
            '<a href="/audit/?message_id=304ddb24-0000-4000-8000-000000000000">search',
        ),
    ],
)
def test_a_message_id_that_can_match_nothing_says_why(client: FlaskClient, typed: str, said: str) -> None:
    page = client.get("/audit/", query_string={"message_id": typed}).get_data(as_text=True)
    assert "No entries match these filters." in page and said in page


def test_the_event_field_offers_identify_calls_by_the_name_rows_show(client: FlaskClient) -> None:
    page = client.get("/audit/?event=Identify:+Register").get_data(as_text=True)
    select = page.split('name="event"', 1)[1].split("</select>", 1)[0]
    assert '<optgroup label="Identify calls">' in select
    assert '<option value="Identify: Register" selected>Identify: Register</option>' in select
    assert "not in today&#39;s catalog" not in select


def test_the_event_field_offers_events_of_the_log_that_today_s_catalog_does_not_have(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """Drift names such events as unknown and sends you to the audit search, whose Event list offered
    only the catalog's: an older version's event, or an application's own, could only be typed into
    the address."""
    _, spec = _application_catalog()
    _recorded(sqlite_store, build_message(spec(scope=UserScope(user_id=1))), "fea68b03889e")
    _cps(sqlite_store)
    record_action(sqlite_store, "User Role Changed", actor="ada@example.com", properties={"role": "engineer"})
    page = client.get("/audit/").get_data(as_text=True)
    select = page.split('name="event"', 1)[1].split("</select>", 1)[0]
    label = "Not in today's catalog (in the log)"
    outside = select.split(f'<optgroup label="{label}">')[1].split("</optgroup>")[0]
    assert re.findall(r'<option value="([^"]+)"', outside) == ["Invite Send Failure"]
    picked = client.get("/audit/?event=Invite+Send+Failure").get_data(as_text=True)
    chosen = picked.split('name="event"', 1)[1].split("</select>", 1)[0]
    assert chosen.count('value="Invite Send Failure"') == 1
    assert '<option value="Invite Send Failure" selected>Invite Send Failure</option>' in chosen
    assert len(_rows(picked)) == 1


def test_identify_calls_of_a_spec_outside_the_catalog_are_offered_named_and_found(
    client: FlaskClient, runner: FlaskCliRunner, sqlite_store: AuditStore
) -> None:
    """Drift reports them as `unknown-identify`; the Event filter's group of the log's unknown names
    left them out, the list called them "Identify", and `Identify: <name>` was refused for them."""
    signups = {record_boardly_signup(sqlite_store, user_id) for user_id in (40, 41)}
    record(
        sqlite_store,
        "Register",
        scope={"user_id": 1},
        properties={"email": "ada@example.com", "github": True},
    )
    page = client.get("/audit/").get_data(as_text=True)
    select = page.split('name="event"', 1)[1].split("</select>", 1)[0]
    outside = select.split('<optgroup label="Not in today\'s catalog (in the log)">')[1].split("</optgroup>")[
        0
    ]
    assert re.findall(r'<option value="([^"]+)"', outside) == ["Identify: BoardlySignup"]
    assert page.count('<td data-label="Event">Identify: BoardlySignup</td>') == 2
    picked = client.get("/audit/?event=Identify:+BoardlySignup")
    assert picked.status_code == 200
    assert set(_rows(picked.get_data(as_text=True))) == signups
    api = client.get("/api/audit/entries", query_string={"event": "Identify: BoardlySignup"})
    assert api.status_code == 200
    assert {entry["message_id"] for entry in api.get_json()["entries"]} == signups
    exported = runner.invoke(
        args=["audit", "export", "--event", "Identify: BoardlySignup", "--format", "ndjson"]
    )
    assert exported.exit_code == 0, exported.output
    assert {json.loads(line)["message_id"] for line in exported.stdout.splitlines()} == signups
    refused = client.get("/audit/?event=Identify:+Boardly+signup")
    assert refused.status_code == 400
    assert "no identify call is named &#39;Boardly signup&#39;" in refused.get_data(as_text=True)


def test_an_identify_call_searched_as_an_event_is_pointed_to_its_name(client: FlaskClient) -> None:
    response = client.get("/audit/?event=Register")
    assert response.status_code == 400
    error = response.get_data(as_text=True).split('id="error-event"', 1)[1].split("</", 1)[0]
    assert error.endswith("is an identify call: filter it as &#39;Identify: Register&#39;")


@pytest.mark.parametrize(
    ("query", "opened"),
    [
        ("", False),
        ("?status=failed&project=12", False),
        ("?actor=ada%40example.com", True),
        ("?message_id=not-an-id", True),
        ("?version=NOT+A+VERSION", True),
    ],
)
def test_the_less_used_filters_fold_away_unless_one_is_set_or_refused(
    client: FlaskClient, query: str, opened: bool
) -> None:
    html = client.get(f"/audit/{query}").get_data(as_text=True)
    assert ('<details class="more-filters" open>' in html) is opened
    assert '<details class="more-filters"' in html and 'id="filter-actor"' in html
