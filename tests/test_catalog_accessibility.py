"""What the catalog's pages say to a keyboard or a screen reader, not only to a mouse: explanations that
were tooltips, names of tables and links, headings to jump to, and what the list's numbers count."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from analytics.audit import AuditStatus
from analytics.catalog import CATALOG
from analytics.messages import build_message
from analytics.spec import TEAM_CONTACTS, Contact, Team


def _row(page: str, name: str) -> str:
    start = page.index(f">{name}</a>")
    return page[start : page.index("</tr>", start)]


def _text(html: str) -> str:
    """The words a screen reader reads from a piece of page (tags dropped, spaces folded)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def test_a_drift_badge_s_reason_is_in_a_disclosure_not_only_a_tooltip(
    app: Flask, client: FlaskClient
) -> None:
    """The reason was only a `title` on a span, which the keyboard never reaches."""
    from webapp.extensions import analytics_client

    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message["properties"]["infra_id"] = "nine"
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    row = _row(client.get("/").get_data(as_text=True), "Cluster Provisioning Success")
    disclosure = re.search(
        r'<details class="explained"><summary class="badge drifting"[^>]*>drifting</summary>(.*?)</details>',
        row,
    )
    assert disclosure, row
    assert "Its latest message no longer matches today&#39;s schema:" in disclosure.group(1)
    assert "infra_id" in disclosure.group(1)


def test_stale_and_deprecated_badges_open_on_their_reasons(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    app_record_sent("ProjectCreate", datetime.now(UTC) - timedelta(days=40))
    app_record_sent("StackLaunchComplete", datetime.now(UTC) - timedelta(hours=1))
    page = client.get("/").get_data(as_text=True)
    stale = _row(page, "New Project Event")
    assert '<summary class="badge stale"' in stale
    assert "Not sent for more than 30 days, this event&#39;s staleness threshold</span></details>" in stale
    deprecated = _row(page, "Stack Launch Complete")
    assert '<summary class="badge deprecated-sent"' in deprecated
    assert '<span class="reason">Deprecated, still sent by an application' in deprecated


def test_a_last_seen_time_reads_its_exact_time_to_a_screen_reader(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    moment = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    app_record_sent("ProjectCreate", moment)
    exact = f'<span class="visually-hidden"> ({moment:%Y-%m-%d %H:%M:%S} UTC)</span></time>'
    assert exact in _row(client.get("/").get_data(as_text=True), "New Project Event")
    event_page = client.get("/events/ProjectCreate").get_data(as_text=True)
    latest = event_page[event_page.index('id="latest-messages"') :]
    assert exact in latest


def test_a_latest_message_link_says_which_event_and_time_it_opens(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    """Its text was eight hex digits: a screen reader's list of links read five such fragments."""
    moment = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    message_id = app_record_sent("ProjectCreate", moment)
    page = client.get("/events/ProjectCreate").get_data(as_text=True)
    link = re.search(rf'<a href="/audit/entries/{message_id}"[^>]*>(.*?)</a>', page, re.S)
    assert link, page
    assert (
        _text(link.group(1))
        == f"{message_id[:8]}… message of New Project Event at {moment:%Y-%m-%d %H:%M:%S} UTC"
    )


def test_the_events_list_names_its_table_its_sort_links_and_its_parts(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<table class="events"[^>]*>\s*<caption class="visually-hidden">Events</caption>', page)
    assert '<h2 id="filters-heading" class="visually-hidden">Filters</h2>' in page
    assert 'role="search" aria-labelledby="filters-heading"' in page
    assert '<h2 id="results-heading" class="visually-hidden">Results</h2>' in page
    sort = re.search(r'<a id="sort-last_seen"[^>]*>(.*?)</a>', page, re.S)
    assert sort and _text(sort.group(1)) == "Sort by Last seen ↕"


def _read_in_header(header: str) -> str:
    """What a screen reader reads of a row header: neither aria-hidden text nor a closed badge's reason."""
    shown = re.sub(r'<span [^>]*aria-hidden="true">.*?</span>', "", header, flags=re.S)
    return re.sub(r'<span class="reason">.*?</span>', "", shown, flags=re.S)


PII_REASON = "Carries personal data, stored masked in the audit log"


def test_a_personal_data_badge_opens_on_what_it_means_wherever_it_shows(client: FlaskClient) -> None:
    """Its meaning was only a `title` on a span: the keyboard, touch and most screen readers never got it."""
    badge = (
        f'<details class="explained"><summary class="badge pii" title="{PII_REASON}">personal data</summary>'
        f'<span class="reason">{PII_REASON}</span></details>'
    )
    assert badge in _row(client.get("/").get_data(as_text=True), "New User")
    assert badge in _row(client.get("/identifiers").get_data(as_text=True), "Register")
    event = client.get("/events/UserCreate").get_data(as_text=True)
    assert badge in event[: event.index("<h2")]
    assert badge in event[event.index('<table class="properties">') :]
    assert '<span class="badge pii"' not in event
    # A disclosure is no phrasing content: in a <p> the parser closes the paragraph before it.
    assert '<div class="badges">' in event and '<p class="badges">' not in event


def test_an_identify_call_s_row_header_holds_its_name_and_badge_not_its_description(
    client: FlaskClient,
) -> None:
    """A screen reader reads the row header before every cell: it re-read the whole description there too."""
    page = client.get("/identifiers").get_data(as_text=True)
    start = page.index('class="event-name" href="/identifiers/RegisterIdentify">')
    header = page[page.rindex("<th", 0, start) : page.index("</th>", start)]
    assert _text(_read_in_header(header)) == "Register personal data"
    description = CATALOG.identifier("RegisterIdentify").spec.summary()
    assert '<a aria-describedby="summary-RegisterIdentify" class="event-name"' in header
    assert (
        f'<span class="muted small" id="summary-RegisterIdentify" aria-hidden="true">{description}</span>'
        in header
    )


def test_an_event_s_row_header_holds_its_name_and_badge_not_its_description(client: FlaskClient) -> None:
    """A screen reader reads the row header before every cell: it re-read the whole description. The
    description stays under the name on screen, hidden from that reading, and describes the name's link."""
    page = client.get("/").get_data(as_text=True)
    start = page.index('class="event-name" href="/events/UserCreate">')
    header = page[page.rindex("<th", 0, start) : page.index("</th>", start)]
    assert _text(_read_in_header(header)) == "New User personal data"
    description = CATALOG.event("UserCreate").spec.summary()
    assert '<a aria-describedby="summary-UserCreate" class="event-name"' in page
    assert (
        f'<span class="muted small" id="summary-UserCreate" aria-hidden="true">{description}</span>' in header
    )


def test_an_event_page_names_its_properties_and_latest_messages_tables(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    app_record_sent("ProjectCreate", datetime.now(UTC) - timedelta(hours=1))
    page = client.get("/events/ProjectCreate").get_data(as_text=True)
    assert re.search(
        r'<table class="properties">\s*<caption class="visually-hidden">Properties of New Project Event<',
        page,
    )
    assert '<table class="entries" aria-labelledby="latest-messages">' in page
    traits = client.get("/identifiers/RegisterIdentify").get_data(as_text=True)
    assert re.search(r'<table class="properties">\s*<caption class="visually-hidden">Traits of ', traits)


def test_the_events_list_says_its_traffic_columns_leave_out_the_tester(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    """An event the tester had just sent read "never sent" and 0, and only its page said why."""
    app_record_sent("StackBuildSuccess", datetime.now(UTC), source="tester")
    page = client.get("/?q=stack+build+success").get_data(as_text=True)
    assert "never sent" in _row(page, "Stack Build Success")
    note = "Last seen and Last 7 days count what applications sent, not the tester's sends."
    assert f'<span id="traffic-note">{note}' in page
    assert '<table class="events" aria-describedby="traffic-note">' in page


def test_the_events_list_says_how_to_ask_for_a_missing_event(client: FlaskClient) -> None:
    """Nothing in the dashboard said how to request an event, not even a search that found none."""
    page = client.get("/").get_data(as_text=True)
    lead = page[page.index('<p class="small muted" id="request-event">') :]
    assert _text(lead[: lead.index("</p>")]).startswith("Missing an event? Ask the team that would own it")
    empty = client.get("/?q=zzz-nothing").get_data(as_text=True)
    assert '<a href="#request-event">ask for a new event</a>' in empty


def test_teams_with_a_contact_say_where_to_ask_for_an_event(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        TEAM_CONTACTS, Team.GROWTH, Contact(channel="#growth-analytics", email="growth@example.com")
    )
    page = client.get("/").get_data(as_text=True)
    lead = page[page.index('<p class="small muted" id="request-event">') :]
    lead = _text(lead[: lead.index("</p>")])
    assert lead.endswith(": growth team, #growth-analytics · growth@example.com."), lead


def test_a_search_for_personal_data_that_finds_nothing_points_to_its_filter(client: FlaskClient) -> None:
    """`/?q=personal` said only "No event matches", though the Personal data filter lists them."""
    page = client.get("/?q=Personal").get_data(as_text=True)
    assert "No event matches these filters." in page
    assert 'use the\n    <a href="/?pii=yes">Personal data filter</a>.' in page
    assert "personal-hint" not in client.get("/?q=zzz-nothing").get_data(as_text=True)
