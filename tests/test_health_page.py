"""Delivery health per destination: the grouped queries on both databases, and the admins' page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import requests
from auditlog import closed_before_answer, record_delivery, record_outage
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from analytics.audit import AuditEntry, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.health import DestinationHealth, destination_health
from analytics.messages import build_message
from analytics.queries import newest_first, parse_filters
from webapp.auth.roles import Role
from webapp.tester.destinations import Destination

TESTER = "staging:0123456789ab"


def _seed(store: AuditStore, now: datetime) -> dict[str, str]:
    """Application: 3 delivered, 1 failed (503), 1 stuck pending, 1 fresh pending, 1 failed 2 days ago.
    Tester destination: 1 delivered, 1 dropped (413)."""
    for _ in range(3):
        record_delivery(store, AuditStatus.DELIVERED)
    ids = {
        "failed": record_delivery(store, AuditStatus.FAILED, http_status=503, error="upstream unavailable"),
        "stuck": record_delivery(store, AuditStatus.PENDING, recorded=now - timedelta(hours=3)),
        "fresh": record_delivery(store, AuditStatus.PENDING),
        "old": record_delivery(
            store, AuditStatus.FAILED, recorded=now - timedelta(days=2), http_status=400, error="old one"
        ),
    }
    record_delivery(store, AuditStatus.DELIVERED, destination=TESTER)
    ids["dropped"] = record_delivery(
        store, AuditStatus.DROPPED, destination=TESTER, http_status=413, error="batch over 500 KB"
    )
    return ids


def _by_destination(healths: list[DestinationHealth]) -> dict[str | None, DestinationHealth]:
    return {health.destination: health for health in healths}


def test_health_per_destination_counts_rates_backlog_and_errors(store: AuditStore) -> None:
    now = datetime.now(UTC)
    ids = _seed(store, now)
    with Session(store.engine) as session:
        healths = destination_health(
            session,
            since=now - timedelta(hours=24),
            now=now + timedelta(seconds=1),
            stuck_after=timedelta(hours=1),
        )

    assert [health.destination for health in healths] == [None, TESTER]
    application, tester = _by_destination(healths)[None], _by_destination(healths)[TESTER]
    # The failure two days ago is outside the window; both pending entries count as backlog.
    assert (application.delivered, application.not_delivered) == (3, 1)
    assert application.success_rate == 0.75
    assert (application.pending, application.stuck) == (2, 1)
    assert [(e.message_id, e.http_status, e.error) for e in application.errors] == [
        (ids["failed"], 503, "upstream unavailable")
    ]
    assert (tester.delivered, tester.not_delivered, tester.success_rate) == (1, 1, 0.5)
    assert (tester.pending, tester.stuck) == (0, 0)
    assert [(e.outcome, e.http_status) for e in tester.errors] == [("dropped", 413)]
    assert (tester.name, tester.fingerprint) == ("staging", "0123456789ab")

    with Session(store.engine) as session:
        week = _by_destination(
            destination_health(
                session, since=now - timedelta(days=7), now=now, stuck_after=timedelta(hours=1)
            )
        )
    assert week[None].not_delivered == 2
    assert [e.message_id for e in week[None].errors] == [ids["failed"], ids["old"]]
    assert [e.status_now for e in week[None].errors] == ["failed", "failed"]
    # A failure re-sent since stays in the list as history, saying its entry is delivered now.
    store.record_outcome([ids["failed"]], AuditStatus.DELIVERED, http_status=200, source="replay")
    with Session(store.engine) as session:
        later = _by_destination(
            destination_health(
                session, since=now - timedelta(days=7), now=now, stuck_after=timedelta(hours=1)
            )
        )
    assert [(e.message_id, e.status_now) for e in later[None].errors] == [
        (ids["failed"], "delivered"),
        (ids["old"], "failed"),
    ]


def test_latest_errors_are_capped_per_destination_newest_first(store: AuditStore) -> None:
    now = datetime.now(UTC)
    for minutes in range(8):
        record_delivery(
            store,
            AuditStatus.FAILED,
            recorded=now - timedelta(minutes=minutes),
            http_status=500,
            error=f"e{minutes}",
        )
    record_delivery(store, AuditStatus.FAILED, destination=TESTER, http_status=401, error="bad key")
    with Session(store.engine) as session:
        found = _by_destination(
            destination_health(
                session, since=now - timedelta(hours=1), now=now, stuck_after=timedelta(hours=1)
            )
        )
    assert [e.error for e in found[None].errors] == ["e0", "e1", "e2", "e3", "e4"]
    assert [e.error for e in found[TESTER].errors] == ["bad key"]
    assert found[None].not_delivered == 8


def test_failures_that_may_have_arrived_are_counted_apart(store: AuditStore) -> None:
    now = datetime.now(UTC)
    record_outage(store)
    with Session(store.engine) as session:
        (application,) = destination_health(
            session, since=now - timedelta(hours=1), now=now, stuck_after=timedelta(hours=1)
        )
    assert (application.delivered, application.not_delivered) == (2, 5)
    assert (application.may_have_arrived, application.never_arrived) == (2, 3)
    assert application.success_rate == 2 / 7
    assert application.arrived_at_most == 4 / 7


def test_a_proxy_closed_after_the_request_may_have_arrived_as_the_search_says(store: AuditStore) -> None:
    """The card counts what `outcome=may_have_arrived` lists: one rule, whatever the error's class."""
    now = datetime.now(UTC)
    record_outage(store)
    for kind in (requests.exceptions.ProxyError, requests.exceptions.SSLError):
        record_delivery(store, AuditStatus.FAILED, error=closed_before_answer(kind))
    with Session(store.engine) as session:
        (application,) = destination_health(
            session, since=now - timedelta(hours=1), now=now, stuck_after=timedelta(hours=1)
        )
        listed = session.scalars(newest_first(parse_filters({"outcome": "may_have_arrived"}), limit=50)).all()
    assert (application.may_have_arrived, application.never_arrived) == (4, 3)
    assert application.may_have_arrived == len(listed)


def test_a_failure_whose_earlier_attempt_may_have_arrived_is_not_counted_as_never_arrived(
    store: AuditStore,
) -> None:
    """A read timeout, then a re-send answered with a 500: the card filed it under "refused or never
    arrived", and its "up to … arrived" bound left it out."""
    now = datetime.now(UTC)
    record_outage(store)
    timed_out = record_delivery(store, AuditStatus.FAILED, error=closed_before_answer())
    store.record_outcome([timed_out], AuditStatus.FAILED, http_status=500, error="oops", source="replay")
    with Session(store.engine) as session:
        (application,) = destination_health(
            session, since=now - timedelta(hours=1), now=now, stuck_after=timedelta(hours=1)
        )
    assert (application.may_have_arrived, application.never_arrived) == (3, 3)
    assert application.arrived_at_most == 5 / 8


def test_health_page_splits_failed_into_refused_and_may_have_arrived(
    client: FlaskClient, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    record_outage(store)
    store.engine.dispose()
    html = client.get("/health").get_data(as_text=True)
    assert "28.6&nbsp;%" in html and "2 delivered, 5 failed or dropped" in html
    assert "3 refused or never arrived, 2 no answer, may have arrived (up to 57.1&nbsp;% arrived)" in html
    assert "outcome=refused" in html and "outcome=may_have_arrived" in html


def test_no_traffic_has_no_rate(store: AuditStore) -> None:
    now = datetime.now(UTC)
    record_delivery(store, AuditStatus.PENDING)
    with Session(store.engine) as session:
        (only,) = destination_health(
            session, since=now - timedelta(hours=1), now=now, stuck_after=timedelta(hours=1)
        )
    assert only.success_rate is None and only.pending == 1 and only.stuck == 0


def test_health_page_shows_each_destination_with_links(client: FlaskClient, sqlite_url: str) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    now = datetime.now(UTC)
    ids = _seed(store, now)
    store.engine.dispose()

    response = client.get("/health")
    assert response.status_code == 200
    assert response.vary.as_set() >= {"hx-request"}
    html = response.get_data(as_text=True)
    assert "<title>Delivery health · event-catalog</title>" in html
    assert "application client" in html and "staging" in html and "key 0123456789ab" in html
    assert "75.0&nbsp;%" in html and "50.0&nbsp;%" in html
    assert "1 stuck" in html
    assert "Pending for more than 1 h counts as stuck." in html
    assert "upstream unavailable" in html and "503" in html and "batch over 500 KB" in html
    assert f"/audit/entries/{ids['failed']}" in html
    assert (
        '<th scope="col">When (UTC)</th>' in html
        and '<td data-label="When (UTC)">' in html
        and '<th scope="col">Now</th>' in html
        and '<span class="badge audit-status status-failed">failed</span>' in html
    )
    assert "old one" not in html
    assert "/audit/?source=application&amp;since=" in html
    assert "/audit/?destination=staging%3A0123456789ab&amp;since=" in html
    assert "/audit/?source=application&amp;status=pending" in html
    assert "test-key" not in html  # the application's write key

    week = client.get("/health?window=7d").get_data(as_text=True)
    assert "old one" in week

    fragment = client.get("/health?window=7d", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<title>" not in fragment.get_data(as_text=True) and "old one" in fragment.get_data(as_text=True)


def test_a_card_says_when_its_key_is_not_how_the_tester_sends_now(
    app: Flask, client: FlaskClient, sqlite_url: str
) -> None:
    store = AuditStore(create_audit_engine(sqlite_url))
    record_delivery(store, AuditStatus.DELIVERED, destination=TESTER)
    assert ">not configured</span>" in client.get("/health").get_data(as_text=True)
    app.config["TESTER_DESTINATIONS"] = (Destination("staging", "http://127.0.0.1:9", write_key="rotated"),)
    rotated = client.get("/health").get_data(as_text=True)
    assert ">earlier key</span>" in rotated and "not configured" not in rotated
    current = Destination("staging", "http://127.0.0.1:9", write_key="rotated")
    with store.engine.begin() as connection:
        connection.execute(update(AuditEntry).values(destination=current.label))
    store.engine.dispose()
    now_current = client.get("/health").get_data(as_text=True)
    assert "earlier key" not in now_current and "not configured" not in now_current


def test_messages_audited_without_a_write_key_are_said_not_sent(client: FlaskClient, sqlite_url: str) -> None:
    """`disabled` entries (no key, nothing sent) are no outcome to wait for, and no earlier key."""
    store = AuditStore(create_audit_engine(sqlite_url))
    for destination, source in ((None, "application"), ("default", "tester"), ("default", "tester")):
        message = build_message(CATALOG.event("ProjectCreate").example_spec())
        store.record(message, status=AuditStatus.DISABLED, source=source, destination=destination)
    store.engine.dispose()
    html = client.get("/health").get_data(as_text=True)
    application, default = re.findall(r'<section class="destination-health".*?</section>', html, re.S)
    assert (
        "application client" in application
        and "1 not sent: sending was disabled (no write key)" in application
    )
    assert ">default" in default and ">no write key</span>" in default and "earlier key" not in default
    assert "2 not sent: sending was disabled (no write key)" in default
    for card in (application, default):
        assert "nothing sent" in card and "no outcome yet" not in card


def test_health_page_explains_a_bad_window_and_keeps_it(client: FlaskClient) -> None:
    response = client.get("/health?window=yesterday")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "&#39;yesterday&#39; is not a duration" in html
    assert 'value="yesterday"' in html


def test_health_page_refuses_a_window_given_twice(client: FlaskClient) -> None:
    """It took the first in silence, where the audit page refuses a repeated filter."""
    response = client.get("/health?window=1h&window=7d")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<p class="field-error" id="window-error">given 2 times (1h, 7d): give one value</p>' in html
    assert "(the default 24h, until the window is fixed)" in html


def test_a_window_reaching_before_year_1000_links_to_a_search_that_opens(
    client: FlaskClient, sqlite_url: str
) -> None:
    """glibc's strftime writes year 738 as "738", which no time field takes back."""
    record_delivery(AuditStore(create_audit_engine(sqlite_url)), AuditStatus.DELIVERED)
    html = client.get("/health?window=470000d").get_data(as_text=True)
    since = re.search(r"Since <strong>(\S+) ", html)
    assert since is not None and re.fullmatch(r"0\d{3}-\d\d-\d\d", since.group(1))
    link = re.search(r'href="(/audit/\?source=application&amp;since=[^"]+)"', html)
    assert link is not None
    search = client.get(unescape(link.group(1)))
    assert search.status_code == 200 and "1 entry" in search.get_data(as_text=True)


def test_only_admins_see_the_health_link(client: FlaskClient, login_as: Callable[..., FlaskClient]) -> None:
    assert 'href="/health"' in client.get("/audit/").get_data(as_text=True)
    assert 'href="/health"' not in login_as(Role.ENGINEER).get("/audit/").get_data(as_text=True)
