"""The audit search by what became of a message: refused or may have arrived, the endpoint's HTTP
status, and "had a failed attempt" (what a replay re-sent), on the page, the API and the exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from auditlog import closed_before_answer, network_error, query_plan, record_delivery, record_outage
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from analytics.audit import AuditStatus, AuditStore, create_audit_engine
from analytics.queries import AuditFilter, FilterError, newest_first, parse_filters
from webapp.extensions import db


def _found(engine: Engine, **params: str) -> set[str]:
    with Session(engine) as session:
        filters = parse_filters(params)
        return {entry.message_id for entry in session.scalars(newest_first(filters, limit=50))}


def test_outcome_tells_refused_from_may_have_arrived(store: AuditStore) -> None:
    ids = record_outage(store)
    assert _found(store.engine, outcome="may_have_arrived") == set(ids["may_have_arrived"])
    assert _found(store.engine, outcome="refused") == set(ids["refused"])
    assert _found(store.engine, outcome="refused", status="dropped") == {ids["refused"][2]}
    assert _found(store.engine, http_status="500") == {ids["refused"][0]}
    assert _found(store.engine, http_status="200") == set(ids["delivered"])


def test_the_http_status_filter_reads_its_index(engine: Engine) -> None:
    """A page of one HTTP status is one range of its index, however far apart its entries are."""
    plan = query_plan(engine, newest_first(AuditFilter(http_status=500), limit=51))
    # PostgreSQL names each partition's copy of the index itself: the status must be its condition.
    assert [row for row in plan if "http_status_recorded_at" in row or "Index Cond: (http_status" in row], (
        plan
    )


def test_outcome_and_http_status_refuse_what_matches_nothing_by_construction() -> None:
    with pytest.raises(FilterError) as raised:
        parse_filters({"outcome": "may_have_arrived", "status": "delivered,pending"})
    # Said next to the page's field and in the API's JSON error: no checkbox to tick in the API.
    assert raised.value.errors == {
        "outcome": "narrows failed and dropped entries only: 'delivered' and 'pending' in status would be "
        "left out; drop them from status, or drop outcome"
    }
    with pytest.raises(FilterError) as raised:
        parse_filters({"outcome": "lost", "http_status": "5xx"})
    assert set(raised.value.errors) == {"outcome", "http_status"}
    assert (
        raised.value.errors["http_status"]
        == "'5xx' is not an HTTP status: a number from 100 to 599, e.g. 500"
    )


def test_a_connection_closed_after_the_request_may_have_arrived_whatever_its_class(store: AuditStore) -> None:
    """A proxy's or a TLS connection's close after the request says what a plain one says."""
    ids = record_outage(store)
    closed = {
        record_delivery(store, AuditStatus.FAILED, error=closed_before_answer(kind))
        for kind in (requests.ConnectionError, requests.exceptions.ProxyError, requests.exceptions.SSLError)
    }
    assert _found(store.engine, outcome="may_have_arrived") == {*ids["may_have_arrived"], *closed}
    assert _found(store.engine, outcome="refused") == set(ids["refused"])


def test_an_earlier_attempt_that_may_have_arrived_makes_the_entry_one_that_may_have(
    store: AuditStore,
) -> None:
    """A read timeout, then a re-send the endpoint answered with a 500: its latest outcome alone said
    "refused or never arrived", but the first copy may be with the endpoint all the same; the health
    card's "never arrived" count and a `replay --outcome refused` took it for one that never arrived."""
    ids = record_outage(store)
    timed_out = record_delivery(store, AuditStatus.FAILED, error=network_error(requests.ReadTimeout))
    store.record_outcome([timed_out], AuditStatus.FAILED, http_status=500, error="oops", source="replay")
    dropped_after = record_delivery(store, AuditStatus.FAILED, error=closed_before_answer())
    store.record_outcome([dropped_after], AuditStatus.DROPPED, error="queue full", source="replay")
    arrived = {*ids["may_have_arrived"], timed_out, dropped_after}
    assert _found(store.engine, outcome="may_have_arrived") == arrived
    assert _found(store.engine, outcome="may_have_arrived", status="dropped") == {dropped_after}
    assert _found(store.engine, outcome="refused") == set(ids["refused"])
    assert _found(store.engine, outcome="refused", http_status="500") == {ids["refused"][0]}


ANSWERED_LIKE_A_TIMEOUT = "ReadTimeout: upstream did not answer"
"""What the client records of a gateway's HTTP 504 whose body's code is `ReadTimeout` (an `APIError`
is recorded `code: message`): the endpoint's own text, starting as a read timeout's line does."""


def test_an_attempt_the_endpoint_answered_is_never_one_without_an_answer(store: AuditStore) -> None:
    """Its error reads like a read timeout, but the endpoint answered, and refused. The entry's own
    HTTP status kept it `refused`; its attempt row, which has the same error, made it `may_have_arrived`
    (and so did a re-send's 500, which left only the attempt to decide)."""
    answered = record_delivery(store, AuditStatus.FAILED, http_status=504, error=ANSWERED_LIKE_A_TIMEOUT)
    re_sent = record_delivery(store, AuditStatus.FAILED, http_status=504, error=ANSWERED_LIKE_A_TIMEOUT)
    store.record_outcome([re_sent], AuditStatus.FAILED, http_status=500, error="oops", source="replay")
    assert _found(store.engine, outcome="may_have_arrived") == set()
    assert _found(store.engine, outcome="refused") == {answered, re_sent}


def test_an_outcome_search_reads_no_error_texts_before_its_page(
    app: Flask, client: FlaskClient, sqlite_url: str
) -> None:
    """The class is decided in SQL: the page, its count and its histogram are the only reads. A search
    read the distinct error texts of the range's failures first, on every keystroke and page."""
    ids = _seeded(sqlite_url)
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    page = client.get("/audit/?outcome=may_have_arrived&range=24h")
    assert page.status_code == 200
    assert all(
        f"/audit/entries/{message_id}" in page.get_data(as_text=True)
        for message_id in ids["may_have_arrived"]
    )
    assert [sql for sql in statements if "DISTINCT" in sql.upper()] == []


def test_a_replayed_failure_is_found_by_its_failed_attempt(store: AuditStore) -> None:
    now = datetime.now(UTC)
    replayed = record_delivery(store, AuditStatus.FAILED, http_status=503, error="unavailable")
    store.record_outcome([replayed], AuditStatus.DELIVERED, http_status=200, source="replay")
    record_delivery(store, AuditStatus.DELIVERED, http_status=200)
    still_failed = record_delivery(store, AuditStatus.DROPPED, error="queue full")
    earlier = record_delivery(
        store, AuditStatus.FAILED, recorded=now - timedelta(days=2), http_status=500, error="old"
    )

    assert _found(store.engine, attempts="failed", status="delivered") == {replayed}
    assert _found(store.engine, attempts="failed") == {replayed, still_failed, earlier}
    assert _found(store.engine, attempts="failed", range="24h") == {replayed, still_failed}


def test_an_entry_recorded_before_the_range_is_not_found_by_its_failure_within_it(store: AuditStore) -> None:
    """The range bounds the entry and its failed attempt alike (README, `attempts`): this morning's failed
    re-send of an entry recorded two days ago is found by a range that reaches back to its recording."""
    now = datetime.now(UTC)
    earlier = record_delivery(store, AuditStatus.FAILED, recorded=now - timedelta(days=2), error="old")
    store.record_outcome([earlier], AuditStatus.FAILED, http_status=503, error="unavailable", source="replay")
    store.record_outcome([earlier], AuditStatus.DELIVERED, http_status=200, source="replay")
    assert _found(store.engine, attempts="failed", range="24h") == set()
    assert _found(store.engine, attempts="failed", range="7d", status="delivered") == {earlier}


def test_only_a_failed_attempt_within_the_range_counts(store: AuditStore) -> None:
    """An entry of the range whose failure was reported after its end did not fail within it."""
    now = datetime.now(UTC)
    late = record_delivery(store, AuditStatus.DELIVERED, http_status=200, recorded=now - timedelta(hours=3))
    # A delivered entry stays delivered; the late report is kept as an attempt, stamped now.
    store.record_outcome([late], AuditStatus.FAILED, error="late report")
    since, until = (now - timedelta(hours=h) for h in (4, 2))
    bounded = {"attempts": "failed", "since": since.isoformat(), "until": until.isoformat()}
    assert _found(store.engine, **bounded) == set()
    assert _found(store.engine, attempts="failed", since=since.isoformat()) == {late}


def test_the_page_the_api_and_the_exports_list_what_was_re_sent(
    client: FlaskClient, runner: FlaskCliRunner, sqlite_url: str
) -> None:
    ids = _seeded(sqlite_url)
    query = "attempts=failed&status=delivered"
    html = client.get(f"/audit/?{query}").get_data(as_text=True)
    assert f"/audit/entries/{ids['replayed'][0]}" in html
    assert '<option value="failed" selected>had a failed or dropped attempt</option>' in html
    api = client.get(f"/api/audit/entries?{query}")
    assert [entry["message_id"] for entry in api.get_json()["entries"]] == ids["replayed"]
    export = client.get(f"/audit/export.ndjson?{query}").get_data(as_text=True)
    assert [json.loads(line)["message_id"] for line in export.splitlines()] == ids["replayed"]
    result = runner.invoke(args=["audit", "export", "--format", "ndjson", "--attempts", "failed"])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["message_id"] for line in result.stdout.splitlines()} == {
        *ids["refused"],
        *ids["may_have_arrived"],
    }
    assert client.get("/api/audit/entries?attempts=yes").status_code == 400


def test_what_a_crash_left_pending_and_a_replay_re_sent_is_found_as_replayed(store: AuditStore) -> None:
    """A killed process's `pending` entries never had a failed attempt: once a replay re-sent them,
    `attempts=failed` listed nothing of them and no other search found them."""
    now = datetime.now(UTC)
    crashed = record_delivery(store, AuditStatus.PENDING)
    store.record_outcome([crashed], AuditStatus.DELIVERED, http_status=200, source="replay")
    failed = record_delivery(store, AuditStatus.FAILED, http_status=500, error="internal error")
    store.record_outcome([failed], AuditStatus.DELIVERED, http_status=200, source="replay")
    record_delivery(store, AuditStatus.FAILED, http_status=500, error="not re-sent")
    record_delivery(store, AuditStatus.DELIVERED, http_status=200)
    earlier = record_delivery(store, AuditStatus.PENDING, recorded=now - timedelta(days=2))
    store.record_outcome([earlier], AuditStatus.DELIVERED, http_status=200, source="replay")

    assert crashed not in _found(store.engine, attempts="failed")
    assert _found(store.engine, attempts="replayed") == {crashed, failed, earlier}
    # The range bounds the entry and its re-send alike, as for `attempts=failed`.
    assert _found(store.engine, attempts="replayed", range="24h") == {crashed, failed}


def test_the_replayed_attempts_filter_reads_its_index(engine: Engine) -> None:
    """The replays' attempts of a range are one range of their partial index, not every attempt."""
    plan = query_plan(
        engine, newest_first(AuditFilter(replayed_attempts=True, since=datetime.now(UTC)), limit=51)
    )
    assert [row for row in plan if "replay_attempted_at" in row], plan


def test_the_page_the_api_and_the_exports_list_what_a_replay_re_sent(
    client: FlaskClient, runner: FlaskCliRunner, sqlite_url: str
) -> None:
    ids = _seeded(sqlite_url)
    html = client.get("/audit/?attempts=replayed").get_data(as_text=True)
    assert f"/audit/entries/{ids['replayed'][0]}" in html
    assert '<option value="replayed" selected>re-sent by a replay</option>' in html
    api = client.get("/api/audit/entries?attempts=replayed")
    assert [entry["message_id"] for entry in api.get_json()["entries"]] == ids["replayed"]
    export = client.get("/audit/export.csv?attempts=replayed").get_data(as_text=True)
    assert ids["replayed"][0] in export and len(export.splitlines()) == 2
    result = runner.invoke(args=["audit", "export", "--format", "ndjson", "--attempts", "replayed"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == ids["replayed"]


def _seeded(sqlite_url: str) -> dict[str, list[str]]:
    store = AuditStore(create_audit_engine(sqlite_url))
    ids = record_outage(store)
    replayed = ids["refused"][0]
    store.record_outcome([replayed], AuditStatus.DELIVERED, http_status=200, source="replay")
    ids["replayed"] = [replayed]
    store.engine.dispose()
    return ids


def test_the_page_the_api_and_the_export_take_the_same_outcome_filters(
    client: FlaskClient, sqlite_url: str
) -> None:
    ids = _seeded(sqlite_url)
    page = client.get("/audit/?outcome=may_have_arrived")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert all(f"/audit/entries/{message_id}" in html for message_id in ids["may_have_arrived"])
    assert not any(f"/audit/entries/{message_id}" in html for message_id in ids["refused"])
    assert '<option value="may_have_arrived" selected>no answer, may have arrived</option>' in html

    api = client.get("/api/audit/entries?outcome=refused")
    assert api.status_code == 200
    assert {entry["message_id"] for entry in api.get_json()["entries"]} == set(ids["refused"][1:])

    export = client.get("/audit/export.ndjson?outcome=may_have_arrived")
    assert export.status_code == 200
    lines = export.get_data(as_text=True).splitlines()
    assert {json.loads(line)["message_id"] for line in lines} == set(ids["may_have_arrived"])

    refused = client.get("/api/audit/entries?outcome=nope&http_status=0")
    assert refused.status_code == 400
    assert {"outcome", "http_status"} <= set(json.dumps(refused.get_json()).replace('"', " ").split())


def test_the_cli_export_takes_the_same_outcome_filters(
    app: Flask, runner: FlaskCliRunner, sqlite_url: str
) -> None:
    ids = _seeded(sqlite_url)
    result = runner.invoke(args=["audit", "export", "--format", "ndjson", "--outcome", "may_have_arrived"])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["message_id"] for line in result.stdout.splitlines()} == set(
        ids["may_have_arrived"]
    )
    result = runner.invoke(args=["audit", "export", "--format", "ndjson", "--http-status", "500"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the HTTP 500 was re-sent since: its latest answer is a 200
