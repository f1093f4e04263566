"""The event list's drift badges: stale past the event's own threshold, drifting from today's schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from analytics.audit import AuditStatus
from analytics.catalog import CATALOG
from analytics.messages import build_message


def _row(page: str, event: str) -> str:
    start = page.index(f">{event}</a>")
    return page[start : page.index("</tr>", start)]


def test_stale_badge_uses_each_events_own_threshold(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    app_record_sent("ProjectCreate", long_ago)
    app_record_sent("ClusterDelete", long_ago)
    page = client.get("/").get_data(as_text=True)
    assert "stale &gt; 30 d" in _row(page, "New Project Event")
    assert "stale" not in _row(page, "Cluster Deleted"), "declares a 90-day threshold"


def test_a_deprecated_event_is_flagged_neither_never_sent_nor_stale(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    """It is meant to go unsent: `drift` says nothing of it, and the list flagged it never sent."""
    [retired] = [info for info in CATALOG.events.values() if info.spec.status == "deprecated"][:1]
    page = client.get("/").get_data(as_text=True)
    row = _row(page, retired.name)
    assert '<span class="muted">never sent</span>' in row and "badge never-sent" not in row
    app_record_sent(retired.constant, datetime.now(UTC) - timedelta(days=400))
    assert "stale" not in _row(client.get("/").get_data(as_text=True), retired.name)


def test_tester_sends_do_not_make_an_event_look_sent(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    app_record_sent("StackBuildSuccess", datetime.now(UTC), source="tester")
    row = _row(client.get("/").get_data(as_text=True), "Stack Build Success")
    assert "never sent" in row


def test_drifting_badge_when_the_latest_message_no_longer_validates(app: Flask, client: FlaskClient) -> None:
    from webapp.extensions import analytics_client

    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message["properties"]["infra_id"] = "nine"
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    page = client.get("/").get_data(as_text=True)
    assert 'class="badge drifting"' in _row(page, "Cluster Provisioning Success")
    assert "infra_id" in _row(page, "Cluster Provisioning Success")
    assert "drifting" not in _row(page, "New Project Event")
    # The event's own page says so too, and opens the message.
    event_page = client.get("/events/ClusterProvisioningSuccess").get_data(as_text=True)
    assert '<span class="badge drifting">drifting</span> Its latest message no longer matches' in event_page
    assert f'<a href="/audit/entries/{message["messageId"]}">See that message</a>' in event_page
    assert 'class="badge drifting"' not in client.get("/events/ProjectCreate").get_data(as_text=True)


def test_an_identify_call_drifts_on_its_list_and_page_as_drift_says(app: Flask, client: FlaskClient) -> None:
    """`event-catalog drift` judges identify calls' traits too; their list and page said nothing."""
    from webapp.extensions import analytics_client

    message = build_message(CATALOG.identifier("LoginIdentify").example_spec())
    message["traits"]["github"] = "nine"
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    listing = client.get("/identifiers").get_data(as_text=True)
    told = "Its latest call no longer matches today&#39;s schema: github"
    assert f'class="badge drifting" title="{told}' in _row(listing, "Login")
    assert "drifting" not in _row(listing, "Register")
    page = client.get("/identifiers/LoginIdentify").get_data(as_text=True)
    assert '<span class="badge drifting">drifting</span> Its latest call no longer matches' in page
    assert f'<a href="/audit/entries/{message["messageId"]}">See that call</a>' in page
    assert 'class="badge drifting"' not in client.get("/identifiers/RegisterIdentify").get_data(as_text=True)


def test_a_deprecated_event_still_sent_gets_drift_s_verdict_on_the_list_and_its_page(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    """`event-catalog drift` reports it as deprecated-sent; the dashboard says the same, in its words."""
    verdict = "still sent by an application (1 in the last 7 days): send Stack Launch Success instead"
    assert "deprecated-sent" not in _row(client.get("/").get_data(as_text=True), "Stack Launch Complete")
    app_record_sent("StackLaunchComplete", datetime.now(UTC) - timedelta(days=400))
    assert "deprecated-sent" not in _row(client.get("/").get_data(as_text=True), "Stack Launch Complete")
    app_record_sent("StackLaunchComplete", datetime.now(UTC) - timedelta(hours=1))
    row = _row(client.get("/").get_data(as_text=True), "Stack Launch Complete")
    assert f'deprecated-sent" title="Deprecated, {verdict}">deprecated, still sent</summary>' in row
    page = client.get("/events/StackLaunchComplete").get_data(as_text=True)
    assert f'<span class="badge deprecated-sent">deprecated, still sent</span> Deprecated, {verdict}.' in page
    assert "deprecated-sent" not in client.get("/events/StackLaunchSuccess").get_data(as_text=True)


def test_the_event_page_says_stale_with_its_threshold(
    client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    """The list's badge and the page's "Is it being sent?" answer agree."""
    app_record_sent("UserCreate", datetime.now(UTC) - timedelta(days=47))
    app_record_sent("ClusterDelete", datetime.now(UTC) - timedelta(days=47))
    page = client.get("/events/UserCreate").get_data(as_text=True)
    assert (
        '<span class="badge stale">stale &gt; 30 d</span> Not sent for more than 30 days, '
        "this event's staleness threshold." in page
    )
    assert "badge stale" not in client.get("/events/ClusterDelete").get_data(as_text=True), "90-day threshold"


def test_the_needs_attention_filter_lists_stale_drifting_and_deprecated_but_sent_events(
    app: Flask, client: FlaskClient, app_record_sent: Callable[..., str]
) -> None:
    from webapp.extensions import analytics_client

    now = datetime.now(UTC)
    app_record_sent("UserCreate", now - timedelta(days=47))
    app_record_sent("StackLaunchComplete", now - timedelta(hours=1))
    app_record_sent("ProjectCreate", now - timedelta(hours=1))
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message["properties"]["infra_id"] = "nine"
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    expected = {"New User", "Stack Launch Complete", "Cluster Provisioning Success"}
    response = client.get("/?attention=1")
    page = response.get_data(as_text=True)
    assert re.findall(r'class="event-name" href="/events/\w+">([^<]+)</a>', page) == [
        name for name in CATALOG.events if name in expected
    ]
    assert re.search(r'<input id="attention" name="attention" type="checkbox" value="1" checked[ >]', page)
    fragment = client.get("/?q=&attention=1&never_sent=", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Push-Url"] == "/?attention=1"
    assert "New User" not in client.get("/?attention=1&never_sent=1").get_data(as_text=True)
