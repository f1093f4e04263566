"""The tester through the dashboard: the real Segment client, the collector over HTTP, real databases."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select, update
from tester_helpers import (
    HTMX,
    as_panel,
    claim_send,
    error_message,
    error_slot,
    example_values,
    form_fields,
    form_values,
    hidden,
    input_value,
    pre_json,
    received_url,
    send_form,
)
from werkzeug.datastructures import MultiDict

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector, key_fingerprint
from analytics.messages import CONTEXT_KEY, build_message
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.tester.destinations import Destination
from webapp.tester.models import ScopePreset
from webapp.tester.models import TesterSend as SendRow
from webapp.tester.routes import RAW_LEFT_OUT
from webapp.tester.sending import ADMINS_ONLY

TOO_DEEP = "The JSON is nested too deeply (the limit is 100 levels of arrays and objects)"

SCOPE_LEVELS = [
    "GithubConnectionStart",  # user
    "ProjectCreate",  # project
    "ClusterProvisioningSuccess",  # cluster
    "RegistryProvisioningSuccess",  # registry
    "ApplicationLaunchSuccess",  # application
]


def _entries(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.mark.parametrize("constant", SCOPE_LEVELS)
def test_a_send_per_scope_level_is_delivered_and_the_panel_matches_collector_and_audit(
    app: Flask, client: FlaskClient, collector: Collector, constant: str
) -> None:
    info = CATALOG.event(constant)
    status, page = send_form(client, f"event={constant}", example_values(info))
    assert status == 200
    [received] = collector.received()
    [entry] = _entries(app)
    assert (entry.status, entry.http_status, entry.source) == ("delivered", 200, "tester")
    # The timeline's times say their zone, as every other time on the dashboard does.
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} UTC</time> audited", page)
    assert re.search(
        r"\d\d:\d\d:\d\d\.\d{3} UTC</time> <span class=\"badge audit-status status-delivered", page
    )
    assert entry.destination == f"default:{key_fingerprint('test-key')}"
    assert entry.actor == "admin@example.com"
    assert received["context"]["eventCatalog"]["test"] is True
    assert received["context"]["eventCatalog"]["actor"] == "admin@example.com"
    assert set(received["properties"]) >= set(info.scope.property_fields().values())
    # What the panel shows is, byte for byte, what the collector received and the audit log stored.
    assert pre_json(page, "sent-json") == as_panel(received) == as_panel(entry.payload)
    # The panel asks the collector for its copy once it shows the outcome: the same message.
    copy = client.get(received_url(page), headers=HTMX).get_data(as_text=True)
    assert pre_json(copy, "collector-json") == as_panel(received)
    assert "identical to what was sent" in copy
    assert 'id="result-status">delivered<' in page
    assert json.loads(pre_json(page, "preview-json"))["messageId"] != received["messageId"]
    assert f"/audit/entries/{entry.message_id}" in page


def test_every_event_and_identify_call_of_the_catalog_can_be_fired_from_its_examples(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    infos = [*CATALOG.events.values(), *CATALOG.identifiers.values()]
    app.config["TESTER_LIMIT_PER_PERSON"] = app.config["TESTER_LIMIT_PER_ADDRESS"] = "500 per minute"
    for info in infos:
        query = f"{'event' if info.kind == 'track' else 'identify'}={info.constant}"
        status, _ = send_form(client, query, {**example_values(info), "confirm_deprecated": "on"})
        assert status == 200, info.name
    assert {entry.status for entry in _entries(app)} == {"delivered"}
    assert len(collector.received()) == len(infos)


def test_an_unknown_event_in_a_link_is_a_404_with_the_picker(client: FlaskClient) -> None:
    response = client.get("/tester/?event=NoSuchEvent")
    assert response.status_code == 404
    assert (
        error_slot(response.get_data(as_text=True), "spec") == "Unknown event or identify call 'NoSuchEvent'."
    )


def test_no_event_chosen_is_said_on_send_not_on_the_first_visit(client: FlaskClient) -> None:
    page = client.get("/tester/").get_data(as_text=True)
    assert error_slot(page, "spec") == ""
    data = {name: hidden(page, name) for name in ("csrf_token", "token")}
    refused = client.post("/tester/send", data=data, headers=HTMX)
    assert refused.status_code == 200
    assert error_slot(refused.get_data(as_text=True), "spec") == "Choose an event to send."


def test_identify_is_delivered_with_personal_data_masked_in_the_audit_only(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    info = CATALOG.identifier("Register")
    values = {**example_values(info), "prop.email": "grace@example.com"}
    status, page = send_form(client, "identify=RegisterIdentify", values)
    assert status == 200
    [received] = collector.received()
    [entry] = _entries(app)
    assert received["type"] == "identify" and received["traits"] == {
        "email": "grace@example.com",
        "github": False,
    }
    assert entry.payload["traits"]["email"].startswith("masked:")
    assert pre_json(page, "sent-json") == as_panel(received)
    assert "grace@example.com" not in pre_json(page, "audit-json")


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        ({"scope.cluster_id": ""}, "scope.cluster_id", "Enter the cluster id: a whole number of 1 or more."),
        ({"scope.project_id": "0"}, "scope.project_id", "Enter the project id as a whole number"),
        ({"prop.infra_id": "nine"}, "prop.infra_id", "Input should be a valid integer"),
        ({"prop.infra_id": "9" * 23}, "prop.infra_id", f"Input should be less than or equal to {2**63 - 1}"),
        ({"scope.project_id": "9" * 23}, "scope.project_id", f"Enter a project id of at most {2**63 - 1}"),
        ({"prop.cluster_type": "ecs"}, "prop.cluster_type", "Input should be 'eks', 'gke', 'aks' or 'doks'"),
        ({"spec": "NoSuchEvent"}, "spec", "Unknown event or identify call 'NoSuchEvent'."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_keeps_what_was_typed_and_sends_nothing(
    app: Flask, client: FlaskClient, collector: Collector, change: dict[str, str], key: str, expected: str
) -> None:
    values = {**example_values(CATALOG.event("ClusterProvisioningSuccess")), **change}
    status, page = send_form(client, "event=ClusterProvisioningSuccess", values, htmx=False)
    assert status == 422
    assert error_slot(page, key).startswith(expected)
    if key.startswith("scope.") or key == "prop.infra_id":
        assert input_value(page, key) == change[key]
    assert collector.received() == [] and _entries(app) == []


ID_WORDS = "a whole number of 1 or more"


def _scope_words(name: str, typed: str) -> str:
    """What the form says of a scope field left empty (`""`) or typed as `typed`."""
    words = name.replace("_", " ")
    if not name.endswith("_id"):
        return f"Enter the {words}."
    if typed == "":
        return f"Enter the {words}: {ID_WORDS}."
    if typed == "0":
        return f"Enter the {words} as {ID_WORDS}: ids start at 1."
    if typed.isdigit():
        return f"Enter a {words} of at most {2**63 - 1}: ids are 64-bit integers."
    return f"Enter the {words} in the digits 0-9 only, with no sign or point: {ID_WORDS}."


@pytest.mark.parametrize("typed", ["", "  ", "-3", "abc", "1.5", "0", "9" * 23])
def test_a_refused_scope_field_says_what_to_enter_at_every_scope_level(
    client: FlaskClient, collector: Collector, typed: str
) -> None:
    """Pydantic's "Field required" and "Input should be greater than 0" named no field and said
    nothing of what an id is; the form says what to enter, as the presets page does."""
    for constant in SCOPE_LEVELS:
        info = CATALOG.event(constant)
        ids = [name for name in info.scope.model_fields if name.endswith("_id")]
        names = [name for name in info.scope.model_fields if name not in ids]
        values = {**example_values(info), **{f"scope.{name}": typed for name in ids}}
        # An application's names are text: any text is a name, and only an empty one is refused.
        values.update({f"scope.{name}": "" for name in names})
        status, page = send_form(client, f"event={constant}", values, htmx=False)
        assert status == 422
        for name in ids:
            assert error_slot(page, f"scope.{name}") == _scope_words(name, typed.strip())
        for name in names:
            assert error_slot(page, f"scope.{name}") == _scope_words(name, "")
        assert "Field required" not in page and "Input should be" not in page
    assert collector.received() == []


@pytest.mark.parametrize("typed", ["-3", "0"])
def test_a_scope_id_is_worded_for_the_form_while_typing_too(client: FlaskClient, typed: str) -> None:
    info = CATALOG.event("ClusterProvisioningSuccess")
    values = {**example_values(info), "scope.cluster_id": typed}
    data = {**form_fields(client, "event=ClusterProvisioningSuccess"), **values}
    page = client.post("/tester/preview", data=data, headers=HTMX).get_data(as_text=True)
    said = _scope_words("cluster_id", typed)
    assert error_slot(page, "scope.cluster_id") == said
    assert f"<code>cluster_id</code> ({html.escape(said)})" in page


@pytest.mark.parametrize("raw", ['{"infra_id": 44}', '{"infra_id": '])
def test_a_scope_id_is_worded_for_the_form_in_the_raw_editor_too(client: FlaskClient, raw: str) -> None:
    """Whether the raw JSON is read (the spec checks the scope) or not (the scope is checked alone)."""
    values = {"scope.user_id": "-3", "scope.project_id": "12", "mode": "raw", "raw": raw}
    status, page = send_form(client, "event=ClusterProvisioningSuccess", values, htmx=False)
    assert status == 422
    assert error_slot(page, "scope.user_id") == _scope_words("user_id", "-3")
    assert error_slot(page, "scope.cluster_id") == _scope_words("cluster_id", "")


def test_a_message_over_32kb_is_audited_dropped_with_the_reason(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    values = {**example_values(CATALOG.event("ApplicationDeploymentWebhook")), "prop.image_uri": "x" * 40_000}
    status, page = send_form(client, "event=ApplicationDeploymentWebhook", values)
    assert status == 200
    [entry] = _entries(app)
    assert entry.status == "dropped" and "over Segment's 32 KB limit" in (entry.error or "")
    assert "Refused before sending" in page and "over Segment&#39;s 32 KB limit" in page
    assert collector.received() == []


def test_the_preview_says_how_the_segment_client_counts_text_that_is_not_ascii(client: FlaskClient) -> None:
    values = {**example_values(CATALOG.event("ApplicationDeploymentWebhook")), "prop.image_uri": "東京" * 200}
    preview = client.post(
        "/tester/preview",
        data={**form_fields(client, "event=ApplicationDeploymentWebhook"), **values},
        headers=HTMX,
    ).get_data(as_text=True)
    assert "bytes as the Segment client counts them (JSON with non-ASCII characters escaped" in preview


@pytest.mark.parametrize(
    ("fault", "http_status", "shown"),
    [
        ({"status": 500, "times": 5}, 500, "HTTP <strong>500</strong>"),
        ({"status": 429, "retry_after": 1, "times": 5}, 429, "HTTP <strong>429</strong>"),
    ],
)
def test_an_endpoint_error_is_failed_with_its_status_and_body(
    app: Flask, client: FlaskClient, collector: Collector, fault: dict[str, Any], http_status: int, shown: str
) -> None:
    collector.inject(**fault)
    status, page = send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    assert status == 200
    [entry] = _entries(app)
    assert (entry.status, entry.http_status) == ("failed", http_status)
    assert entry.error is not None and entry.error.startswith(
        "injected_fault: Fault injected by the collector"
    )
    assert shown in page and "The endpoint's error" in page and "injected_fault" in page
    assert 'class="send-outcome bad"' in page
    # The failed attempt says how long the endpoint took to refuse, as a delivered one does.
    assert re.search(rf'status-failed">failed</span> HTTP {http_status} in \d+ ms', page)


def test_an_unreachable_destination_is_failed_with_the_network_error(app: Flask, client: FlaskClient) -> None:
    with Collector() as gone:
        app.config["SEGMENT_HOST"] = gone.url
    status, page = send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    assert status == 200
    [entry] = _entries(app)
    assert entry.status == "failed" and entry.http_status is None
    host = app.config["SEGMENT_HOST"].removeprefix("http://")
    assert entry.error == f"ConnectionError: could not connect to {host} (Connection refused)"
    assert "no HTTP answer" in page and entry.error in page and "Max retries" not in page


def test_a_timeout_is_failed_but_says_the_message_may_have_arrived_and_shows_the_collectors_copy(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    """No answer within TESTER_TIMEOUT: the request went out, and the collector stores it once its
    delay ends. The audit log keeps the send failed; the panel says it may have arrived, and shows
    the collector's copy once the collector has it."""
    app.config["TESTER_TIMEOUT"] = 0.3
    collector.inject(latency=1.5)
    status, page = send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    assert status == 200
    [entry] = _entries(app)
    host = app.config["SEGMENT_HOST"].removeprefix("http://")
    assert (entry.status, entry.http_status) == ("failed", None)
    assert entry.error == (
        f"ReadTimeout: {host} did not answer within the timeout, "
        "so it may have received the request all the same"
    )
    assert 'id="result-may-have-arrived"' in page and "the endpoint may still have received it" in page
    not_yet = client.get(received_url(page), headers=HTMX).get_data(as_text=True)
    assert "no copy of this message yet" in not_yet and "ask again" in not_yet
    deadline = time.monotonic() + 5
    while not collector.received() and time.monotonic() < deadline:
        time.sleep(0.05)
    arrived = client.get(received_url(page), headers=HTMX).get_data(as_text=True)
    assert "Received by the collector, although it did not answer" in arrived
    assert "identical to what was sent" in arrived
    assert "collector-json" in client.get(f"/tester/sends/{entry.message_id}").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(AuditEntry, entry.id).status == "failed"


def test_a_double_submit_sends_once_and_answers_with_the_first_result(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    data = {**form_fields(client, "event=ProjectCreate"), **example_values(CATALOG.event("ProjectCreate"))}
    first = client.post("/tester/send", data=data, headers=HTMX).get_data(as_text=True)
    second = client.post("/tester/send", data=data, headers=HTMX).get_data(as_text=True)
    assert len(collector.received()) == 1 and len(_entries(app)) == 1
    assert "had already been sent" in second and "had already been sent" not in first
    message_id = collector.received()[0]["messageId"]
    assert message_id in second
    # The answer carries a fresh token, so sending the form again on purpose does send.
    assert form_fields(client, "event=ProjectCreate")["token"] != data["token"]


def test_a_send_claimed_but_not_yet_audited_shows_as_sending_until_it_can_no_longer_finish(
    app: Flask, client: FlaskClient
) -> None:
    """A double submit in the moment between the first's claim and its audit entry said "Not sent: the
    audit log has no entry for it", and stopped following it."""
    claim_send(app, "claimed-1", "t")
    sending = client.get("/tester/sends/claimed-1", headers=HTMX)
    page = sending.get_data(as_text=True)
    assert sending.status_code == 200 and 'id="result-in-flight"' in page and "Not sent" not in page
    assert 'hx-get="/tester/sends/claimed-1" hx-trigger="every 1s"' in page
    with app.app_context():
        db.session.execute(update(SendRow).values(created_at=datetime.now(UTC) - timedelta(minutes=5)))
        db.session.commit()
    abandoned = client.get("/tester/sends/claimed-1", headers=HTMX)
    assert abandoned.status_code == 286
    assert "Not sent: the audit log has no entry for it." in abandoned.get_data(as_text=True)


def test_a_resubmit_with_other_values_is_not_taken_for_the_first_send(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    data = {**form_fields(client, "event=ProjectCreate"), **example_values(CATALOG.event("ProjectCreate"))}
    client.post("/tester/send", data=data, headers=HTMX)
    changed = client.post("/tester/send", data={**data, "scope.project_id": "77"}, headers=HTMX)
    page = changed.get_data(as_text=True)
    assert changed.status_code == 200
    assert "already been sent with other values" in page and "Press Send again" in page
    outcome = page[page.index('id="send-outcome"') :]
    assert outcome[: outcome.index("</output>")].endswith(
        "Not sent: this form was already sent with other values (see below)."
    )
    assert [message["properties"]["proj_id"] for message in collector.received()] != [77]
    assert len(collector.received()) == 1 and len(_entries(app)) == 1


def test_the_form_keeps_scope_ids_the_event_does_not_take_for_the_next_event(client: FlaskClient) -> None:
    fields = {**form_fields(client, "event=ClusterProvisioningSuccess"), "scope.cluster_id": "4"}
    picked = {**fields, "pick": "ProjectCreate", "scope.user_id": "1"}
    switched = client.get("/tester/", query_string=picked, headers=HTMX)
    page = switched.get_data(as_text=True)
    assert '<input type="hidden" name="scope.cluster_id" value="4">' in page
    assert "is scoped to" not in page


def test_a_form_token_another_person_sent_with_shows_none_of_their_send(
    app: Flask, client: FlaskClient, login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    data = {**form_fields(client, "event=ProjectCreate"), **example_values(CATALOG.event("ProjectCreate"))}
    client.post("/tester/send", data=data, headers=HTMX)
    colleague = login_as(Role.ENGINEER)
    own = form_fields(colleague, "event=ProjectCreate")
    page = colleague.post("/tester/send", data={**data, "csrf_token": own["csrf_token"]}, headers=HTMX)
    text = page.get_data(as_text=True)
    assert "This form's token was used by another person's send: nothing was sent." in text
    assert "Not sent: the token belongs to another person&#39;s send (see below)." in text
    assert 'id="result-status"' not in text and len(collector.received()) == 1


def test_a_send_answers_with_its_panel_and_what_the_next_send_needs(
    client: FlaskClient, collector: Collector
) -> None:
    data = {**form_fields(client, "event=ProjectCreate"), **example_values(CATALOG.event("ProjectCreate"))}
    response = client.post("/tester/send", data=data, headers=HTMX)
    page = response.get_data(as_text=True)
    # The panel goes into its slot; the form the engineer filled in is not drawn again.
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#result-slot", "innerHTML")
    assert 'id="result-status">delivered<' in page and 'id="tester-form"' not in page
    token = hidden(page, "token")
    assert token != data["token"]
    oob_token = r'<input type="hidden" name="token" value="[0-9a-f]+" id="form-token" hx-swap-oob="true">'
    oob_outcome = (
        r'<output class="send-outcome" id="send-outcome" for="send-button" aria-live="off" '
        r'hx-swap-oob="true">'
    )
    assert re.search(oob_token, page) and re.search(oob_outcome, page)
    assert re.search(r'<section id="preview" [^>]*hx-swap-oob="true">', page)
    assert error_slot(page, "scope.project_id") == "" and error_slot(page, "scope.user_id") == ""
    [first] = collector.received()
    assert json.loads(pre_json(page, "preview-json"))["messageId"] != first["messageId"]
    # The form with its new token is a new message.
    client.post("/tester/send", data={**data, "token": token}, headers=HTMX)
    assert len({message["messageId"] for message in collector.received()}) == 2


def test_a_form_showing_errors_is_drawn_again_by_the_send_that_succeeds(
    client: FlaskClient, collector: Collector
) -> None:
    values = example_values(CATALOG.event("ProjectCreate"))
    data = {**form_fields(client, "event=ProjectCreate"), **values, "scope.project_id": "0"}
    refused = client.post("/tester/send", data=data, headers=HTMX).get_data(as_text=True)
    assert error_slot(refused, "scope.project_id").startswith("Enter the project id as a whole number")
    assert hidden(refused, "redraw") == "1"
    fixed = {**data, "token": hidden(refused, "token"), "redraw": "1", **values}
    response = client.post("/tester/send", data=fixed, headers=HTMX)
    page = response.get_data(as_text=True)
    assert "HX-Retarget" not in response.headers
    assert 'id="tester-form"' in page and 'id="result-status">delivered<' in page
    assert error_slot(page, "scope.project_id") == "" and 'name="redraw"' not in page
    assert len(collector.received()) == 1


def test_the_collector_copy_is_compared_by_digest_and_without_htmx_is_the_sends_page(
    client: FlaskClient, collector: Collector
) -> None:
    status, page = send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    assert status == 200
    url = received_url(page)
    tampered = re.sub(r"sent=[0-9a-f]+", "sent=" + "0" * 64, url)
    assert "differs from what was sent" in client.get(tampered, headers=HTMX).get_data(as_text=True)
    message_id = collector.received()[0]["messageId"]
    plain = client.get(url)
    assert (plain.status_code, plain.headers["Location"]) == (303, f"/tester/sends/{message_id}")
    assert "collector-json" in client.get(plain.headers["Location"]).get_data(as_text=True)
    assert client.get("/tester/sends/nope/received", headers=HTMX).status_code == 404


def test_a_copy_the_collector_no_longer_holds_is_said_to_be_gone(
    client: FlaskClient, collector: Collector
) -> None:
    status, page = send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    assert status == 200
    collector.reset()
    answer = client.get(received_url(page), headers=HTMX)
    assert answer.status_code == 200
    assert "The collector has no copy of this message" in answer.get_data(as_text=True)


def test_the_form_token_is_unique_on_both_databases(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from webapp import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        db.session.add(SendRow(message_id="a", form_token="t", actor="x", created_at=now))
        db.session.commit()
        db.session.add(SendRow(message_id="b", form_token="t", actor="x", created_at=now))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(SendRow(message_id="c", form_token=None, actor="cli", created_at=now))
        db.session.add(SendRow(message_id="d", form_token=None, actor="cli", created_at=now))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(SendRow)) == 3
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("htmx", [True, False])
def test_a_form_token_over_64_characters_is_refused_as_the_api_refuses_it(
    make_app: Callable[..., Flask], database_url: str, collector: Collector, htmx: bool
) -> None:
    """The API and `send --token` refuse a token over 64 characters; the form took one (only a forged
    or scripted form has one: the field is hidden), and PostgreSQL's column holds 64: a 500 there."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    values = {**example_values(CATALOG.event("ProjectCreate")), "token": "t" * 65}
    status, page = send_form(client, "event=ProjectCreate", values, htmx=htmx)
    assert status == 422
    assert (
        "The form&#39;s token must have 1 to 64 characters, not 65: reload the tester for a new form." in page
    )
    assert collector.received() == []
    status, _ = send_form(client, "event=ProjectCreate", {**values, "token": "t" * 64}, htmx=htmx)
    assert status in (200, 303) and len(collector.received()) == 1
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def staged_app(app: Flask, collector: Collector) -> Flask:
    """The dashboard with a staging and a production destination, both on the local collector."""
    app.config["TESTER_DESTINATIONS"] = (
        Destination("staging", collector.url, False, "staging-secret-key"),
        Destination("prod", collector.url, True, "production-secret-key"),
    )
    return app


def test_production_needs_a_confirmation_and_refuses_off_schema(
    staged_app: Flask, collector: Collector, login_as: Callable[..., FlaskClient]
) -> None:
    client = login_as(Role.ADMIN, on=staged_app)
    values = {**example_values(CATALOG.event("ProjectCreate")), "destination": "prod"}
    status, page = send_form(client, "event=ProjectCreate", values, htmx=False)
    assert status == 422 and "production destination" in error_slot(page, "confirm_production")
    raw = {"mode": "raw", "raw": '{"surprise": 1}', "destination": "prod", "confirm_production": "on"}
    status, page = send_form(client, "event=ProjectCreate", {**values, **raw}, htmx=False)
    assert status == 422 and "Off-schema properties are refused" in error_slot(page, "raw")
    assert collector.received() == []
    status, page = send_form(client, "event=ProjectCreate", {**values, "confirm_production": "on"})
    assert status == 200 and collector.received()[0]["properties"] == {"proj_id": 12}
    # The confirmation held for that send only: the answer puts the box back unticked.
    [box] = re.findall(r'<input type="checkbox" id="f-confirm_production"[^>]*>', page)
    assert 'hx-swap-oob="true"' in box and "checked" not in box
    [entry] = _entries(staged_app)
    assert entry.destination == f"prod:{key_fingerprint('production-secret-key')}"
    assert "production-secret-key" not in page and "production-secret-key" not in json.dumps(entry.payload)


def test_a_destination_is_shown_without_the_credentials_in_its_url(
    app: Flask, collector: Collector, login_as: Callable[..., FlaskClient]
) -> None:
    host = collector.url.replace("http://", "http://relay:s3cret@")
    app.config["TESTER_DESTINATIONS"] = (Destination("relay", host, False, "relay-key"),)
    client = login_as(Role.ENGINEER, on=app)
    page = client.get("/tester/?event=ProjectCreate").get_data(as_text=True)
    listed = client.get("/api/tester/destinations").get_json()
    assert "s3cret" not in page and "s3cret" not in json.dumps(listed)
    assert collector.url.replace("http://", "http://***@") in page


def test_a_link_to_an_unknown_destination_says_so_next_to_send_to(
    staged_app: Flask, collector: Collector, login_as: Callable[..., FlaskClient]
) -> None:
    """A shared link, or a destination since taken out of TESTER_DESTINATIONS, showed the form set to
    the default without a word, where a send naming it is refused."""
    client = login_as(Role.ADMIN, on=staged_app)
    said = (
        "Unknown destination 'nowhere': choose one of default, staging, prod. "
        "Send to shows default until you do."
    )
    for headers in ({}, HTMX):
        opened = client.get("/tester/?event=ClusterProvisioningSuccess&destination=nowhere", headers=headers)
        page = opened.get_data(as_text=True)
        assert opened.status_code == 200 and error_slot(page, "destination") == said
        [select] = re.findall(r'<select id="f-destination"[^>]*>', page)
        assert 'aria-invalid="true"' in select
        assert re.search(r'<option value="default" selected', page)
    # The address the redraw pushes names what the form now holds; the form still sends.
    assert "destination" not in opened.headers["HX-Push-Url"]
    values = example_values(CATALOG.event("ClusterProvisioningSuccess"))
    status, page = send_form(client, "event=ClusterProvisioningSuccess", {**values, "destination": "default"})
    assert status == 200 and len(collector.received()) == 1
    refused, _ = send_form(
        client, "event=ClusterProvisioningSuccess", {**values, "destination": "nowhere"}, htmx=False
    )
    assert refused == 422 and len(collector.received()) == 1


@pytest.mark.parametrize(
    ("key", "values", "mode"),
    [
        ("scope.user_id", ["1", "2"], "fields"),
        ("scope.user_id", ["1", "2"], "raw"),
        ("prop.infra_id", ["9", "10", "11"], "fields"),
    ],
)
def test_a_field_of_the_event_given_twice_is_refused_next_to_it(
    client: FlaskClient, collector: Collector, key: str, values: list[str], mode: str
) -> None:
    """A second input of the same name (a form edited in the browser) was taken first-wins in
    silence; the API and `send` refuse a key or an id given twice."""
    typed = example_values(CATALOG.event("ClusterProvisioningSuccess"))
    raw = {"raw": '{"cluster_type": "eks", "infra_id": 9}'} if mode == "raw" else {}
    data = MultiDict(
        {**form_fields(client, "event=ClusterProvisioningSuccess"), **typed, **raw, "mode": mode}
    )
    data.setlist(key, values)
    sent = client.post("/tester/send", data=data)
    said = f"Given {len(values)} times ({', '.join(values)}): this field holds one value."
    assert sent.status_code == 422 and error_slot(sent.get_data(as_text=True), key) == said
    assert collector.received() == []
    # A property field repeated while the raw editor is on shows nowhere: it is not on the page.
    if key.startswith("prop."):
        data["mode"], data["raw"] = "raw", '{"cluster_type": "eks", "infra_id": 9}'
        data["token"] = form_fields(client, "event=ClusterProvisioningSuccess")["token"]
        assert client.post("/tester/send", data=data).status_code == 303


def test_off_schema_raw_json_goes_to_other_destinations_marked_as_such(
    staged_app: Flask, collector: Collector, login_as: Callable[..., FlaskClient]
) -> None:
    client = login_as(Role.ADMIN, on=staged_app)
    values = {
        **example_values(CATALOG.event("ClusterProvisioningSuccess")),
        "mode": "raw",
        "raw": '{"cluster_type": "ecs", "experiment": [1, 2]}',
        "destination": "staging",
    }
    status, page = send_form(client, "event=ClusterProvisioningSuccess", values)
    assert status == 200
    [received] = collector.received()
    assert received["properties"] == {
        "proj_id": 12,
        "cluster_id": 4,
        "cluster_type": "ecs",
        "experiment": [1, 2],
    }
    assert received["context"]["eventCatalog"]["offSchema"] is True
    assert "Off-schema" in page and "cluster_type: Input should be" in page
    # The answer empties the error slots on the page: the raw box's, not those of hidden fields.
    assert 'id="error-f-raw"' in page and 'id="error-f-prop-' not in page
    # The result says so beside its outcome; an on-schema send's does not.
    assert '<span class="badge off-schema" id="result-off-schema"' in page
    status, page = send_form(
        client,
        "event=ClusterProvisioningSuccess",
        example_values(CATALOG.event("ClusterProvisioningSuccess")),
    )
    assert status == 200 and 'id="result-off-schema"' not in page
    # The audit log's list and the tester's History badge the off-schema send, not the valid one: they
    # read as two ordinary delivered messages, which only the entry page told apart.
    for url in ("/audit/?event=Cluster+Provisioning+Success", "/tester/history"):
        listed = client.get(url).get_data(as_text=True)
        rows = re.findall(r"<tr[ >].*?</tr>", listed, flags=re.S)
        sends = [row for row in rows if "Cluster Provisioning Success" in row]
        badged = [row for row in sends if '<span class="badge off-schema"' in row]
        assert (len(sends), len(badged)) == (2, 1), url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "Not valid JSON: Expecting property name"),
        # An emptied box was read as {} and sent off-schema, without the required properties.
        ("", "Raw JSON is empty: write {} to send no properties."),
        (" \n\t ", "Raw JSON is empty: write {} to send no properties."),
        ("[1, 2]", "The properties must be a JSON object"),
        ('{"proj_id": 999}', "proj_id is added from the scope's project_id: set it there, not here."),
        ('{"infra_id": NaN}', "Not valid JSON: NaN is not JSON (JSON has no NaN or Infinity)"),
        ('{"note": -Infinity}', "Not valid JSON: -Infinity is not JSON"),
        (
            '{"note": 1e400}',
            "Not valid JSON: 1e400 is too large a number to hold (JSON has no NaN or Infinity)",
        ),
        ('{"note": [-1.5E+999]}', "Not valid JSON: -1.5E+999 is too large a number to hold"),
        ('{"infra_id": ' + "9" * 5000 + "}", "Not valid JSON: a number of 5,000 digits is too long to hold"),
        ('{"note": "nul\\u0000byte"}', "Text cannot contain a NUL character (\\u0000)"),
        ('{"note": 1, "note": 2}', 'The key "note" appears twice in one object: give each key once'),
        (
            '{"note": {"a": [{"b": 1, "b": 1}]}}',
            'The key "b" appears twice in one object: give each key once',
        ),
        ('{"note": ' + "[" * 500 + "]" * 500 + "}", TOO_DEEP),
        ("[" * 100_000 + "]" * 100_000, TOO_DEEP),
    ],
)
def test_raw_json_that_is_not_an_object_is_an_error_next_to_the_editor(
    client: FlaskClient, raw: str, expected: str, collector: Collector
) -> None:
    values = {**example_values(CATALOG.event("ProjectCreate")), "mode": "raw", "raw": raw}
    status, page = send_form(client, "event=ProjectCreate", values, htmx=False)
    assert status == 422 and error_slot(page, "raw").startswith(expected)
    assert raw in unescape(page)
    # Nothing reached the log or the collector, and the tester still opens for everyone.
    assert collector.received() == []
    assert client.get("/tester/?event=ProjectCreate").status_code == 200


def test_an_empty_raw_json_box_is_said_while_typing_and_an_empty_object_sends_none(
    client: FlaskClient, collector: Collector
) -> None:
    values = {**example_values(CATALOG.event("ProjectCreate")), "mode": "raw", "raw": ""}
    preview = client.post("/tester/preview", data={"spec": "ProjectCreate", **values}, headers=HTMX).get_data(
        as_text=True
    )
    assert "Raw JSON is empty: write {} to send no properties." in error_slot(preview, "raw")
    assert 'id="preview-json"' not in preview
    data = {**form_fields(client, "event=ProjectCreate"), **values, "raw": "{}"}
    sent = client.post("/tester/send", data=data)
    # Sent (off-schema: ProjectCreate's required properties are missing), and the address it lands on
    # keeps the `{}`: a reload drew an empty box, now refused.
    assert sent.status_code == 303 and parse_qs(urlsplit(sent.location).query)["raw"] == ["{}"]
    [received] = collector.received()
    assert received["properties"] == {"proj_id": int(values["scope.project_id"])}
    assert error_slot(client.get(sent.location).get_data(as_text=True), "raw") == ""


def test_the_address_of_a_send_too_long_to_carry_its_raw_json_says_so_not_that_the_box_is_empty(
    client: FlaskClient, collector: Collector
) -> None:
    """The address leaves out a Raw JSON over ~4 KB (a reload would be refused): the page it lands on
    said "Raw JSON is empty" next to a message that had just been sent."""
    values = {**example_values(CATALOG.event("StackLaunchFailure")), "mode": "raw"}
    raw = json.dumps({"stack_name": "x" * 5000, "error_message": "e"})
    sent = client.post(
        "/tester/send", data={**form_fields(client, "event=StackLaunchFailure"), **values, "raw": raw}
    )
    assert sent.status_code == 303 and "raw" not in parse_qs(urlsplit(sent.location).query)
    assert len(collector.received()) == 1
    page = client.get(sent.location).get_data(as_text=True)
    # Said once, above the form, not as an error of an empty box (next to it and in the preview).
    assert str(escape(RAW_LEFT_OUT)) in page and "Raw JSON is empty" not in page
    assert "Edit and send again" in page
    # Typed by hand, an empty box with no send is still the blank box it is.
    typed = client.get("/tester/", query_string={"event": "StackLaunchFailure", "mode": "raw"})
    assert "Raw JSON is empty" in error_slot(typed.get_data(as_text=True), "raw")


SURROGATE = (
    "text cannot contain a surrogate code point (\\ud800): it is not Unicode text, and can be neither "
    "stored nor sent"
)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ('{"error_message": "\\ud800"}', f"error_message: {SURROGATE}"),
        (
            '{"error_message": "a\\udfffb"}',
            "error_message: text cannot contain a surrogate code point (\\udfff)",
        ),
        ('{"note": {"deep": ["ok", "\\ud800"]}}', f"note.deep.1: {SURROGATE}"),
        ('{"\\ud800": "x"}', f'The key "\\ud800": {SURROGATE}'),
        ('{"note": [{"\\ud800x": 1}]}', f'note.0: the key "\\ud800x": {SURROGATE}'),
        # Named like personal data: the address leaves it out, and wrote the rest again with it.
        ('{"email": "a@b.io", "x": "\\ud800"}', f"x: {SURROGATE}"),
    ],
)
@pytest.mark.parametrize("url", ["/tester/send", "/tester/", "/tester/preview", "/tester/presets"])
def test_a_lone_surrogate_in_raw_json_is_an_error_next_to_the_editor(
    client: FlaskClient, collector: Collector, raw: str, said: str, url: str
) -> None:
    """A JSON escape of half a surrogate pair (`\\ud800`) passed off-schema and every tester answer that
    showed the message was a 500: UTF-8 cannot encode it, nor can the audit log store it."""
    values = {
        **form_fields(client, "event=ClusterUpdateFailed"),
        **example_values(CATALOG.event("ClusterUpdateFailed")),
        "mode": "raw",
        "raw": raw,
        "preset_name": "",
    }
    response = client.post(url, data=values, headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert error_slot(page, "raw").startswith(said)
    assert collector.received() == []


@pytest.mark.parametrize("action", [{"switch": "fields"}, {"example": "1"}])
def test_a_lone_surrogate_in_raw_json_stays_in_the_editor_on_a_switch_or_an_example(
    client: FlaskClient, action: dict[str, str]
) -> None:
    raw = '{"error_message": "\\ud800"}'
    query = {"spec": "ClusterUpdateFailed", "mode": "raw", "raw": raw, **action}
    response = client.post("/tester/", data=query, headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    # Still in the editor, as the escape it was typed as (the example rewrites the JSON around it).
    assert 'name="mode" value="raw"' in page
    assert form_values(page)["raw"].replace("\n", "").replace(" ", "") == '{"error_message":"\\ud800"}'
    assert error_slot(page, "raw").startswith(f"error_message: {SURROGATE}")


def test_raw_json_nested_too_deeply_previews_as_an_error_next_to_the_editor(client: FlaskClient) -> None:
    example = example_values(CATALOG.event("ProjectCreate"))
    values = {
        **example,
        "spec": "ProjectCreate",
        "mode": "raw",
        "raw": '{"note": ' + "[" * 3000 + "]" * 3000 + "}",
    }
    preview = client.post("/tester/preview", data=values, headers=HTMX)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and error_slot(page, "raw").startswith(TOO_DEEP)
    assert "preview-json" not in page


def test_a_deprecated_event_needs_a_confirmation(client: FlaskClient, collector: Collector) -> None:
    values = example_values(CATALOG.event("StackLaunchComplete"))
    status, page = send_form(client, "event=StackLaunchComplete", values, htmx=False)
    assert status == 422
    assert error_slot(page, "confirm_deprecated").endswith(
        "deprecated (send Stack Launch Success instead): tick the box to send it anyway."
    )
    status, _ = send_form(client, "event=StackLaunchComplete", {**values, "confirm_deprecated": "on"})
    assert status == 200 and collector.received()[0]["event"] == "Stack Launch Complete"


def test_without_htmx_a_send_redirects_to_its_result(client: FlaskClient, collector: Collector) -> None:
    status, _ = send_form(
        client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")), htmx=False
    )
    assert status == 303
    message_id = collector.received()[0]["messageId"]
    response = client.get(f"/tester/sends/{message_id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "delivered" in page
    # Its title and heading say which message, as its audit entry's do, not only its id.
    assert "<title>New Project Event · Tester send · event-catalog</title>" in page
    assert '<h1>New Project Event <span class="badge">tester send</span></h1>' in page
    polled = client.get(f"/tester/sends/{message_id}", headers=HTMX)
    assert polled.status_code == 286 and "HX-Request" in polled.headers["Vary"]
    assert client.get("/tester/sends/nope").status_code == 404


def test_a_send_puts_the_form_and_its_result_in_the_address_for_reload_and_back(
    client: FlaskClient, collector: Collector
) -> None:
    """Reload, Back and Forward fetch the page again (no snapshots are kept): the address was only
    `?event=…`, and every typed value and the result were gone."""
    values = {**example_values(CATALOG.event("ClusterPreflightChecksFailed")), "confirm_production": "on"}
    data = {**form_fields(client, "event=ClusterPreflightChecksFailed"), **values}
    response = client.post("/tester/send", data=data, headers=HTMX)
    [received] = collector.received()
    url = response.headers["HX-Push-Url"]
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/tester/" and query.pop("sent") == [received["messageId"]]
    assert query == {
        "event": ["ClusterPreflightChecksFailed"],
        "mode": ["fields"],
        **{name: [value] for name, value in values.items() if "." in name},
    }
    page = client.get(url).get_data(as_text=True)
    shown = {name: value for name, value in form_values(page).items() if name not in ("token", "csrf_token")}
    assert shown == {
        **{
            name: value
            for name, value in data.items()
            if name not in ("token", "csrf_token", "confirm_production")
        },
        "destination": "default",
        "sent": received["messageId"],
    }
    assert 'id="result-status">delivered<' in page and received["messageId"] in page
    # Without JavaScript, the send lands on the same address.
    plain = client.post("/tester/send", data={**data, "token": "another"})
    assert plain.status_code == 303
    assert parse_qs(urlsplit(plain.headers["Location"]).query)["prop.failed_checks"] == [
        "vcpu_quota\niam_permissions"
    ]


def test_the_address_leaves_out_personal_data_and_what_would_make_it_too_long(
    client: FlaskClient, collector: Collector
) -> None:
    values = {**example_values(CATALOG.identifier("Register")), "prop.email": "grace@example.com"}
    status, _ = send_form(client, "identify=RegisterIdentify", values)
    pushed = client.post(
        "/tester/", data={"spec": "RegisterIdentify", "mode": "fields", **values}, headers=HTMX
    ).headers["HX-Push-Url"]
    assert "email" not in pushed and "example.com" not in pushed
    assert "prop.github=false" in pushed and "scope.user_id=" in pushed
    scope = {
        name: value
        for name, value in example_values(CATALOG.event("ProjectCreate")).items()
        if "scope" in name
    }
    raw = {"mode": "raw", "raw": '{"note": "kept", "contact_email": "grace@example.com"}', **scope}
    status, page = send_form(client, "event=ProjectCreate", raw)
    assert status == 200 and 'id="result-off-schema"' in page
    pushed = client.post(
        "/tester/send", data={**form_fields(client, "event=ProjectCreate"), **raw}, headers=HTMX
    )
    query = parse_qs(urlsplit(pushed.headers["HX-Push-Url"]).query)
    assert json.loads(query["raw"][0]) == {"note": "kept"} and query["mode"] == ["raw"]
    long = {**raw, "raw": json.dumps({"note": "x" * 5000})}
    pushed = client.post("/tester/", data={"spec": "ProjectCreate", **long}, headers=HTMX)
    url = pushed.headers["HX-Push-Url"]
    assert len(url) < 4000 and "raw" not in parse_qs(urlsplit(url).query) and "scope.project_id" in url


@pytest.mark.parametrize(
    ("spec", "field", "known_as"),
    [("ApplicationLaunchSuccess", "scope.app_name", "app_name"), ("UserCreate", "prop.email", "email")],
)
def test_a_nul_character_is_refused_naming_its_field_for_the_page_to_show_it(
    client: FlaskClient, spec: str, field: str, known_as: str
) -> None:
    """The words named the form's internal field, `prop.email`, which the person knows as `email`."""
    values = {"spec": spec, "mode": "fields", field: "x\x00y"}
    response = client.post("/tester/preview", data=values, headers=HTMX)
    assert response.status_code == 400
    said = error_message(response.get_data(as_text=True))
    assert said == (field, f"The field '{known_as}' holds a NUL character (\\u0000), which cannot be stored.")


def test_preview_is_the_message_a_send_builds_and_errors_ride_along_out_of_band(client: FlaskClient) -> None:
    query = {
        "spec": "ClusterProvisioningSuccess",
        "mode": "fields",
        **example_values(CATALOG.event("ClusterProvisioningSuccess")),
    }
    response = client.get("/tester/preview", query_string=query, headers=HTMX)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    preview = json.loads(pre_json(response.get_data(as_text=True), "preview-json"))
    assert preview["properties"] == {"proj_id": 12, "cluster_id": 4, "cluster_type": "eks", "infra_id": 9}
    assert preview["context"]["eventCatalog"]["source"] == "tester"
    changed = client.get("/tester/preview", query_string={**query, "prop.infra_id": "31"}, headers=HTMX)
    assert (
        json.loads(pre_json(changed.get_data(as_text=True), "preview-json"))["properties"]["infra_id"] == 31
    )
    bad = client.get("/tester/preview", query_string={**query, "prop.infra_id": "x"}, headers=HTMX).get_data(
        as_text=True
    )
    assert 'id="error-f-prop-infra_id" hx-swap-oob="true">Input should be a valid integer' in bad
    assert "preview-json" not in bad


def test_a_raw_json_longer_than_a_url_previews_and_redraws_from_a_post_without_a_token(
    client: FlaskClient,
) -> None:
    """The form's previews and redraws POST it: as a query string, 4 KB of raw JSON was refused
    before the dashboard saw it (gunicorn's request line), and the preview kept the old message."""
    note = "x" * 20_000
    example = example_values(CATALOG.event("ClusterProvisioningSuccess"))
    values = {
        "spec": "ClusterProvisioningSuccess",
        "mode": "raw",
        "raw": json.dumps({"cluster_type": "gke", "infra_id": 77, "note": note}),
        **{name: value for name, value in example.items() if name.startswith("scope.")},
    }
    preview = client.post("/tester/preview", data=values, headers=HTMX)
    assert preview.status_code == 200
    sent = json.loads(pre_json(preview.get_data(as_text=True), "preview-json"))["properties"]
    assert (sent["infra_id"], sent["note"]) == (77, note)
    redrawn = client.post("/tester/", data={**values, "switch": "fields"}, headers=HTMX)
    page = redrawn.get_data(as_text=True)
    # The note has no field, so the form stays in Raw JSON and says why, with all of it kept.
    assert redrawn.status_code == 200 and error_slot(page, "raw").startswith("Fields cannot show")
    assert note in page


def test_a_field_s_placeholder_reads_as_an_example_not_a_value(client: FlaskClient) -> None:
    """The ids' and numbers' placeholders were the bare example ("1", "12", "4"): an empty field looked
    filled, above the "Field required" of a refused send."""
    page = client.get("/tester/?event=ClusterProvisioningSuccess").get_data(as_text=True)
    shown = dict(re.findall(r'<(?:input|textarea) id="(f-[\w-]+)"[^>]*?placeholder="([^"]*)"', page, re.S))
    assert shown["f-scope-user_id"] == "e.g. 1" and shown["f-prop-infra_id"] == "e.g. 9"
    assert [field for field, text in shown.items() if text and not text.startswith("e.g. ")] == []


def test_the_form_is_generated_from_the_schema(client: FlaskClient) -> None:
    page = client.get("/tester/?event=ClusterPreflightChecksFailed").get_data(as_text=True)
    assert '<select id="f-prop-cloud_provider" name="prop.cloud_provider"' in page
    assert '<textarea id="f-prop-failed_checks" name="prop.failed_checks"' in page
    assert 'id="f-scope-project_id" name="scope.project_id" type="number"' in page
    assert "Cloud provider the project is connecting." in page
    register = client.get("/tester/?identify=RegisterIdentify").get_data(as_text=True)
    assert 'type="checkbox" id="f-prop-github" name="prop.github"' in register
    assert 'placeholder="e.g. ada@example.com"' in register


def test_fill_with_example_and_switching_editors_keep_what_was_typed(client: FlaskClient) -> None:
    filled = client.get(
        "/tester/",
        query_string={"event": "ClusterProvisioningSuccess", "example": "1", "prop.infra_id": "77"},
    ).get_data(as_text=True)
    assert input_value(filled, "prop.infra_id") == "77" and input_value(filled, "scope.cluster_id") == "4"
    raw = client.get(
        "/tester/",
        query_string={
            "spec": "ClusterProvisioningSuccess",
            "mode": "fields",
            "switch": "raw",
            "prop.infra_id": "77",
        },
    ).get_data(as_text=True)
    assert "&#34;infra_id&#34;: 77" in raw and 'name="mode" value="raw"' in raw


def test_fill_with_example_previews_what_the_filled_form_sends_for_every_spec(client: FlaskClient) -> None:
    """The preview of a filled form is composed from the text its fields show: a list example was
    shown as Python's repr (`['vcpu_quota', 'iam_permissions']`) while the preview read the list, and
    the send delivered one item holding the repr."""
    for info in [*CATALOG.events.values(), *CATALOG.identifiers.values()]:
        query = {"event" if info.kind == "track" else "identify": info.constant, "example": "1"}
        page = client.get("/tester/", query_string=query).get_data(as_text=True)
        shown = json.loads(pre_json(page, "preview-json"))
        again = client.post("/tester/preview", data=form_values(page), headers=HTMX).get_data(as_text=True)
        posted = json.loads(pre_json(again, "preview-json"))
        for part in ("userId", "properties", "traits"):
            assert posted.get(part) == shown.get(part), (info.name, part)


def test_fill_with_example_puts_a_list_one_item_per_line_and_sends_the_list(
    client: FlaskClient, collector: Collector
) -> None:
    page = client.post(
        "/tester/",
        data={"spec": "ClusterPreflightChecksFailed", "mode": "fields", "example": "1"},
        headers=HTMX,
    ).get_data(as_text=True)
    assert form_values(page)["prop.failed_checks"] == "vcpu_quota\niam_permissions"
    status, _ = send_form(
        client, "event=ClusterPreflightChecksFailed", {k: v for k, v in form_values(page).items() if "." in k}
    )
    [received] = collector.received()
    assert status == 200 and received["properties"]["failed_checks"] == ["vcpu_quota", "iam_permissions"]


@pytest.mark.parametrize(
    ("raw", "action", "said"),
    [
        (
            '{"cluster_type": "k3s", "infra_id": 44, "zzz": 1}',
            {"switch": "fields"},
            "Fields cannot show cluster_type (a value its field cannot hold), zzz (not a property of this "
            "event): change or remove it here to switch.",
        ),
        (
            '{"cluster_type": "eks", "infra_id": "nine"}',
            {"switch": "fields"},
            "Fields cannot show infra_id (a value its field cannot hold)",
        ),
        ('{"infra_id": 44', {"switch": "fields"}, "This is not a JSON object: fix it before switching"),
        ('{"infra_id": 44', {"example": "1"}, "This is not a JSON object: fix it first"),
    ],
)
def test_raw_json_the_fields_cannot_hold_stays_as_typed_and_says_why(
    client: FlaskClient, raw: str, action: dict[str, str], said: str
) -> None:
    query = {"spec": "ClusterProvisioningSuccess", "mode": "raw", "raw": raw, **action}
    page = client.get("/tester/", query_string=query, headers=HTMX).get_data(as_text=True)
    assert 'name="mode" value="raw"' in page
    assert f">{escape(raw)}</textarea>" in page
    assert error_slot(page, "raw").startswith(said)
    # Nothing was sent: the note beside Send says what is left to fix, not "Not sent: …" (the words
    # the form keeps for a refusal, data-refused="Not sent", are not an outcome).
    assert '1 field to fix before sending: <a href="#error-f-raw">show it</a>.' in page
    assert "Not sent:" not in page


def test_raw_json_the_fields_can_hold_switches_to_them(client: FlaskClient) -> None:
    raw = '{"cluster_type": "gke", "infra_id": 44}'
    query = {"spec": "ClusterProvisioningSuccess", "mode": "raw", "raw": raw, "switch": "fields"}
    page = client.get("/tester/", query_string=query, headers=HTMX).get_data(as_text=True)
    assert 'name="mode" value="fields"' in page and input_value(page, "prop.infra_id") == "44"


def test_presets_are_validated_saved_and_fill_what_a_scope_needs(app: Flask, client: FlaskClient) -> None:
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    bad = client.post("/tester/presets", data={"csrf_token": csrf, "name": "x", "cluster_id": "4"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Field required" not in page
    assert _preset_error(page, "user_id") == "Enter the user id: a whole number of 1 or more."
    chain = client.post(
        "/tester/presets", data={"csrf_token": csrf, "name": "x", "user_id": "1", "cluster_id": "4"}
    )
    assert chain.status_code == 422 and "needs the project id" in chain.get_data(as_text=True)
    # A direction override made "prod \u202eevil" read "prod live" in every chip.
    for control in ("\u202e", "\u2066"):
        reordered = client.post(
            "/tester/presets", data={"csrf_token": csrf, "name": f"prod {control}evil", "user_id": "1"}
        )
        assert reordered.status_code == 422
        assert (
            f"a name cannot hold a direction control character (U+{ord(control):04X})"
            in reordered.get_data(as_text=True)
        )
    # A preset takes the ids a scope takes: "1.0" was saved as project 1. Spaces around are trimmed.
    lax = client.post(
        "/tester/presets", data={"csrf_token": csrf, "name": "x", "user_id": "1", "project_id": "1.0"}
    )
    assert lax.status_code == 422
    assert _preset_error(lax.get_data(as_text=True), "project_id").startswith(
        "Enter the project id in the digits 0-9 only, with no sign or point"
    )
    # An id past the database's integer was a 500 (OverflowError) when saved.
    huge = client.post(
        "/tester/presets",
        data={"csrf_token": csrf, "name": "x", "user_id": "1", "project_id": "99999999999999999999"},
    )
    assert huge.status_code == 422
    assert _preset_error(huge.get_data(as_text=True), "project_id") == (
        "Enter a project id of at most 9223372036854775807: ids are 64-bit integers."
    )
    ok = client.post(
        "/tester/presets", data={"csrf_token": csrf, "name": "staging", "user_id": " 1 ", "project_id": "12"}
    )
    assert ok.status_code == 303
    again = client.post("/tester/presets", data={"csrf_token": csrf, "name": "Staging", "user_id": "2"})
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    with app.app_context():
        preset = db.session.scalars(select(ScopePreset)).one()
        assert (preset.name, preset.ids, preset.created_by) == (
            "staging",
            {"user_id": 1, "project_id": 12},
            "admin@example.com",
        )
    applied = client.get(
        "/tester/",
        query_string={
            "spec": "ClusterProvisioningSuccess",
            "scope.cluster_id": "9",
            "apply_preset": preset.id,
        },
        headers=HTMX,
    )
    page = applied.get_data(as_text=True)
    # The address carries the ids the preset filled in (a reload draws them), not the preset to apply.
    assert applied.headers["HX-Push-Url"] == (
        "/tester/?event=ClusterProvisioningSuccess&mode=fields&scope.user_id=1&scope.project_id=12"
    )
    assert input_value(page, "scope.project_id") == "12" and input_value(page, "scope.cluster_id") == ""
    assert "Preset &#39;staging&#39; has no cluster id: enter it." in error_slot(
        page, "scope.cluster_id"
    ).replace("'", "&#39;")
    listing = client.get("/tester/presets").get_data(as_text=True)
    assert "user 1 · project 12" in listing and "Project" in listing
    deleted = client.post(f"/tester/presets/{preset.id}/delete", data={"csrf_token": csrf})
    after = client.get("/tester/presets").get_data(as_text=True)
    assert (
        deleted.status_code == 303
        and "No presets yet" in after
        and "Deleted the preset &#39;staging&#39;." in after
    )
    # A teammate deleted it first: the list says so (a 404 would not show under the boosted form).
    again = client.post(f"/tester/presets/{preset.id}/delete", data={"csrf_token": csrf})
    assert again.status_code == 303
    assert "That preset was already deleted." in client.get("/tester/presets").get_data(as_text=True)
    # Anyone on the team may save or delete a shared preset: the audit log says who did.
    recorded = [(e.event, e.actor, e.payload["properties"]) for e in _entries(app) if e.type == "action"]
    described = {"name": "staging", "user_id": 1, "project_id": 12, "created_by": "admin@example.com"}
    assert recorded == [
        ("Scope Preset Saved", "admin@example.com", described),
        ("Scope Preset Deleted", "admin@example.com", described),
    ]


def _preset_error(page: str, name: str) -> str:
    """The error next to a field of the presets page's form, with its input marked invalid."""
    found = re.search(
        rf'<input id="p-{name}"[^>]*>\s*<p class="field-error" id="error-p-{name}">(.*?)</p>', page
    )
    assert found, f"no field {name}"
    text = html.unescape(found.group(1))
    assert ('aria-invalid="true"' in found.group(0)) == bool(text), name
    return text


DIGITS_ONLY = "in the digits 0-9 only, with no sign or point: a whole number of 1 or more."
CHAIN_FIELDS = ("user_id", "project_id", "cluster_id", "app_name", "app_namespace", "chart_name")


@pytest.mark.parametrize(
    ("ids", "said"),
    [
        # Pydantic's words before ("Input should be a valid integer, …" for -1): the tester's now.
        ({"user_id": "-1"}, {"user_id": f"Enter the user id {DIGITS_ONLY}"}),
        ({"user_id": "0"}, {"user_id": "Enter the user id as a whole number of 1 or more: ids start at 1."}),
        ({"user_id": "1", "project_id": "1.5"}, {"project_id": f"Enter the project id {DIGITS_ONLY}"}),
        # A chain's gap was a notice under the form, beside no field and marking none invalid.
        (
            {"user_id": "1", "cluster_id": "4"},
            {"project_id": "Enter the project id: a cluster id needs the project id it belongs to."},
        ),
        (
            {"user_id": "1", "app_name": "web"},
            {
                name: f"Enter the {name.replace('_', ' ')}: an app name needs the project id and cluster "
                "id it belongs to."
                for name in ("project_id", "cluster_id")
            },
        ),
        (
            {"user_id": "1", "project_id": "2", "cluster_id": "3", "app_name": "web"},
            {
                name: f"Enter the {name.replace('_', ' ')}: an application needs its app name, app "
                "namespace and chart name together."
                for name in ("app_namespace", "chart_name")
            },
        ),
    ],
)
def test_the_presets_page_says_the_tester_s_words_next_to_the_field_to_fix(
    client: FlaskClient, ids: dict[str, str], said: dict[str, str]
) -> None:
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    refused = client.post("/tester/presets", data={"csrf_token": csrf, "name": "p", **ids})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'role="alert"' not in page
    shown = {name: _preset_error(page, name) for name in CHAIN_FIELDS}
    assert {name: text for name, text in shown.items() if text} == said


@pytest.mark.parametrize("value", ["-1", "0", "1.5", "9" * 30])
def test_the_presets_page_and_the_tester_say_the_same_of_the_same_id(client: FlaskClient, value: str) -> None:
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    ids = {"user_id": "1", "project_id": value}
    preset = client.post("/tester/presets", data={"csrf_token": csrf, "name": "p", **ids})
    tester = client.post(
        "/tester/send",
        data={**form_fields(client, "event=ProjectDelete"), **{f"scope.{k}": v for k, v in ids.items()}},
        headers=HTMX,
    )
    said = _preset_error(preset.get_data(as_text=True), "project_id")
    assert said and said == error_slot(tester.get_data(as_text=True), "scope.project_id")


def test_preset_actions_are_found_by_their_user_project_and_cluster(app: Flask, client: FlaskClient) -> None:
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    ids = {"user_id": "5", "project_id": "12", "cluster_id": "4"}
    saved = client.post("/tester/presets", data={"csrf_token": csrf, "name": "Acme staging", **ids})
    assert saved.status_code == 303
    with app.app_context():
        preset = db.session.scalars(select(ScopePreset)).one()
    client.post(f"/tester/presets/{preset.id}/delete", data={"csrf_token": csrf})
    actions = [(e.user_id, e.project_id, e.cluster_id) for e in _entries(app) if e.type == "action"]
    assert actions == [("5", 12, 4), ("5", 12, 4)]
    # The audit log's filters find them by each id the record holds, as its entry page links them.
    for name, value in (("user_id", "5"), ("project", "12"), ("cluster", "4")):
        listed = client.get("/audit/", query_string={"type": "action", name: value}).get_data(as_text=True)
        assert "Scope Preset Saved" in listed and "Scope Preset Deleted" in listed, name
    entry = next(e for e in _entries(app) if e.event == "Scope Preset Saved")
    page = client.get(f"/audit/entries/{entry.message_id}").get_data(as_text=True)
    assert "Entries of user 5" in page and "Entries of project 12" in page and "Entries of cluster 4" in page


def test_the_presets_form_labels_its_fields_as_the_tester_does(client: FlaskClient) -> None:
    page = client.get("/tester/presets").get_data(as_text=True)
    labels = dict(re.findall(r'<label for="p-(\w+)">([^<]+)', page))
    assert labels["name"].strip() == "Name"
    assert (labels["user_id"].strip(), labels["project_id"].strip()) == ("User id", "Project id")
    assert labels["app_namespace"].strip() == "App namespace"
    tester = client.get("/tester/?event=ClusterProvisioningSuccess").get_data(as_text=True)
    assert "<code>User id</code>" in tester and "<code>Project id</code>" in tester


def test_a_preset_can_be_saved_from_the_tester_form(app: Flask, client: FlaskClient) -> None:
    data = {
        **form_fields(client, "event=ProjectCreate"),
        "scope.user_id": "3",
        "scope.project_id": "44",
        "preset_name": "demo · project 44",
    }
    page = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert "Saved the preset" in page and "demo · project 44</a>" in page
    # Said by the page's status region, which the redraw keeps: a status inserted new goes unread.
    assert '<div class="notice" id="tester-notice">Saved the preset' in page
    assert re.search(r'id="tester-status"[^>]*hx-swap-oob="innerHTML">Saved the preset &#39;demo', page)
    duplicate = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert error_slot(duplicate, "preset_name") == "A preset named 'demo · project 44' already exists."
    # A refused save keeps the name as typed, and says what to fix in words.
    assert input_value(duplicate, "preset_name") == "demo · project 44"
    unnamed = client.post("/tester/presets", data={**data, "preset_name": ""}, headers=HTMX).get_data(
        as_text=True
    )
    # Worded as the presets page words it, and the dashboard's other forms ("Enter an email.").
    assert error_slot(unnamed, "preset_name") == "Give the preset a name."
    named_only = client.post("/tester/presets", data={"csrf_token": data["csrf_token"], "name": "x"})
    assert "Give the preset a name." not in named_only.get_data(as_text=True)
    empty = client.post("/tester/presets", data={"csrf_token": data["csrf_token"]}).get_data(as_text=True)
    assert "Give the preset a name." in empty and "Enter the user id: a whole number" in empty
    assert "Field required" not in empty
    bad_id = {**data, "preset_name": "bad", "scope.project_id": "x"}
    refused = client.post("/tester/presets", data=bad_id, headers=HTMX).get_data(as_text=True)
    # The tester's own words for the id, which name it: no "Project id: " before them.
    said = "Enter the project id in the digits 0-9 only, with no sign or point: a whole number of 1 or more."
    assert error_slot(refused, "preset_name") == error_slot(refused, "scope.project_id") == said


def test_a_gap_two_fields_fill_is_said_once_under_save_preset(client: FlaskClient) -> None:
    """The line under Save preset said the application's reason once per field still to fill."""
    data = {
        **form_fields(client, "event=ApplicationLaunchSuccess"),
        "scope.user_id": "3",
        "scope.project_id": "44",
        "scope.cluster_id": "5",
        "scope.app_name": "web",
        "preset_name": "p",
    }
    refused = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert error_slot(refused, "preset_name") == (
        "Enter the app namespace and chart name: an application needs its app name, app namespace and "
        "chart name together."
    )
    data = {**data, "scope.project_id": "", "scope.app_name": "", "preset_name": ""}
    refused = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert error_slot(refused, "preset_name") == (
        "Give the preset a name. Enter the project id: a cluster id needs the project id it belongs to."
    )


def test_a_preset_field_given_twice_is_refused_not_saved_with_its_first_value(
    app: Flask, client: FlaskClient
) -> None:
    """A form edited in the browser or a scripted POST: the preset was saved with the first id, which
    the person may not have seen; the tester's send refuses such a field, its preset save did not."""
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    ids = {"user_id": "1", "project_id": ["2", "3"]}
    refused = client.post("/tester/presets", data={"csrf_token": csrf, "name": "p", **ids})
    assert refused.status_code == 422
    said = "Given 2 times (2, 3): this field holds one value."
    assert _preset_error(refused.get_data(as_text=True), "project_id") == said
    named_twice = client.post(
        "/tester/presets", data={"csrf_token": csrf, "name": ["p", "q"], "user_id": "1"}
    )
    assert _preset_error(named_twice.get_data(as_text=True), "name") == (
        "Given 2 times (p, q): this field holds one value."
    )
    data = {
        **form_fields(client, "event=ProjectCreate"),
        "scope.user_id": "3",
        "scope.project_id": ["44", "45"],
        "preset_name": "demo",
    }
    from_tester = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert error_slot(from_tester, "preset_name") == f"Project id: {said.replace('2, 3', '44, 45')}"
    with app.app_context():
        assert db.session.scalars(select(ScopePreset)).all() == []


def test_recently_seen_ids_are_offered_with_their_last_event(client: FlaskClient) -> None:
    values = {**example_values(CATALOG.event("ProjectCreate")), "scope.project_id": "4242"}
    send_form(client, "event=ProjectCreate", values)
    page = client.get("/tester/?event=ProjectDelete").get_data(as_text=True)
    assert '<datalist id="recent-project_id"><option value="4242">4242 · New Project Event' in page
    assert 'list="recent-project_id"' in page


def test_a_send_reloads_the_suggested_ids_after_its_answer(client: FlaskClient) -> None:
    page = client.get("/tester/?event=ProjectCreate").get_data(as_text=True)
    assert '<datalist id="recent-project_id"></datalist>' in page and 'list="recent-project_id"' in page
    values = {**example_values(CATALOG.event("ProjectCreate")), "scope.project_id": "4343"}
    _, answer = send_form(client, "event=ProjectCreate", values)
    loader = re.search(r'<span hidden hx-get="([^"]+)" hx-trigger="load" hx-target="#recent-ids"', answer)
    assert loader is not None and html.unescape(loader.group(1)) == "/tester/recent-ids?scope=Project"
    response = client.get(html.unescape(loader.group(1)), headers=HTMX)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    lists = response.get_data(as_text=True)
    assert lists.lstrip().startswith('<div id="recent-ids">')
    assert '<datalist id="recent-project_id"><option value="4343">4343 · New Project Event' in lists


def test_recent_ids_opened_as_a_page_lead_to_the_tester(client: FlaskClient) -> None:
    """Its address opened alone (a new tab, a bookmark) showed the bare datalists: a blank page."""
    response = client.get("/tester/recent-ids?scope=Cluster")
    assert response.status_code == 303
    assert response.headers["Location"] == "/tester/"


def test_recent_ids_of_an_unknown_scope_are_a_400(client: FlaskClient) -> None:
    response = client.get("/tester/recent-ids?scope=Galaxy", headers=HTMX)
    assert response.status_code == 400
    # Every scope, widest first: a fork's own scopes are among them (shipped: User, Project, Cluster, …).
    labels = ", ".join(scope.label for scope in CATALOG.scopes)
    assert labels.startswith("User, Project, ") and "Registry" in labels and "Application" in labels
    assert f"Unknown scope &#39;Galaxy&#39;: one of {labels}." in response.get_data(as_text=True)


def test_send_again_prefills_from_the_audit_entry_and_asks_for_masked_values(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    values = {**example_values(CATALOG.event("UserCreate")), "scope.user_id": "31"}
    send_form(client, "event=UserCreate", values)
    message_id = collector.received()[0]["messageId"]
    page = client.get(f"/tester/?from={message_id}").get_data(as_text=True)
    assert "Pre-filled from message" in page
    assert input_value(page, "scope.user_id") == "31" and input_value(page, "prop.email") == ""
    assert error_slot(page, "prop.email") == "Stored masked in the audit log: enter the value again."
    missing = client.get("/tester/?from=no-such-id")
    assert missing.status_code == 404
    assert "No track or identify message has the id &#39;no-such-id&#39;." in missing.get_data(as_text=True)


def test_send_again_reads_messages_only_not_actions(
    app: Flask, make_account: Callable[..., str], login_as: Callable[..., FlaskClient]
) -> None:
    """An engineer's `?from=` of a Login Failed entry said "Pre-filled from message … (Login Failed)":
    an account action, which only admins may read, named through the tester."""
    from auth_helpers import sign_in

    make_account(Role.ADMIN)
    assert sign_in(app.test_client(), "nobody@example.com", "wrong").status_code == 401
    with app.app_context():
        [failed] = db.session.scalars(select(AuditEntry.message_id).where(AuditEntry.event == "Login Failed"))
    page = login_as(Role.ENGINEER).get(f"/tester/?from={failed}")
    assert page.status_code == 404
    assert "Login Failed" not in page.get_data(as_text=True)


def test_send_again_keeps_a_destination_whose_key_changed_and_says_so(
    staged_app: Flask, login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    client = login_as(Role.ENGINEER, on=staged_app)
    values = {**example_values(CATALOG.event("ProjectCreate")), "destination": "staging"}
    send_form(client, "event=ProjectCreate", values)
    message_id = collector.received()[0]["messageId"]
    old = Destination("staging", collector.url, False, "staging-secret-key")
    new = Destination("staging", collector.url, False, "rotated-staging-key")
    staged_app.config["TESTER_DESTINATIONS"] = (new,)
    page = client.get(f"/tester/?from={message_id}").get_data(as_text=True)
    assert '<option value="staging" selected>' in page
    assert error_slot(page, "destination") == ""
    assert (
        f"It went to {old.label}; staging&#39;s key has changed since, and this send uses the current one "
        f"({new.fingerprint})."
    ) in page


def test_history_lists_the_testers_sends_and_filters_to_mine(
    client: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    page = client.get("/tester/history", headers=HTMX).get_data(as_text=True)
    assert "New Project Event" in page and "status-delivered" in page and "every 5s" in page
    colleague = login_as(Role.ENGINEER)
    assert "New Project Event" in colleague.get("/tester/history", headers=HTMX).get_data(as_text=True)
    mine = colleague.get("/tester/history?mine=1", headers=HTMX)
    assert "You have not sent anything" in mine.get_data(as_text=True)
    assert client.get("/tester/history").status_code == 200
    # "Only mine" goes into the address on the history's own page, not on the tester's.
    pushes = 'hx-swap="outerHTML" hx-push-url="true">'
    assert pushes in client.get("/tester/history").get_data(as_text=True)
    redrawn = {**HTMX, "HX-Current-URL": "http://localhost/tester/history"}
    assert pushes in client.get("/tester/history?mine=1", headers=redrawn).get_data(as_text=True)
    on_tester = {**HTMX, "HX-Current-URL": "http://localhost/tester/?event=ProjectCreate"}
    assert pushes not in client.get("/tester/history?mine=1", headers=on_tester).get_data(as_text=True)
    assert pushes not in client.get("/tester/?event=ProjectCreate").get_data(as_text=True)


def test_ticking_only_mine_says_what_the_history_now_lists(
    client: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    """The panel redrew without a word: a screen reader could not tell a filtered list from an empty one."""
    send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    for path in ("/tester/", "/tester/history"):
        page = client.get(path).get_data(as_text=True)
        assert '<p id="history-status" class="visually-hidden" role="status"></p>' in page
    ticked = {**HTMX, "HX-Trigger": "history-filter"}
    region = '<p id="history-status" class="visually-hidden" role="status" hx-swap-oob="innerHTML">'
    mine = client.get("/tester/history?mine=1", headers=ticked).get_data(as_text=True)
    assert 'id="history-filter"' in mine
    assert region + "Showing only your sends: 1.</p>" in mine
    colleague = login_as(Role.ENGINEER)
    assert region + "Showing everyone&#39;s sends: 1.</p>" in colleague.get(
        "/tester/history", headers=ticked
    ).get_data(as_text=True)
    none = colleague.get("/tester/history?mine=1", headers=ticked).get_data(as_text=True)
    assert region + "You have not sent anything from the tester yet.</p>" in none
    # The panel's own refresh every 5 s stays silent.
    refreshed = {**HTMX, "HX-Trigger": "history"}
    assert "history-status" not in client.get("/tester/history?mine=1", headers=refreshed).get_data(
        as_text=True
    )


def test_a_send_whose_event_left_the_catalog_is_not_offered_again(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """The tester cannot pre-fill an event a later commit removed: its links would lead to a 404."""
    send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    # A send of an event an earlier build had, as that build recorded it.
    message = build_message(
        CATALOG.event("ClusterProvisioningSuccess").example_spec(), source="tester", actor="admin@example.com"
    )
    message["event"] = "Cluster Upgrade Started"
    message["context"][CONTEXT_KEY]["spec"] = "ClusterUpgradeStarted"
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="tester", actor="admin@example.com")
    gone = message["messageId"]
    assert client.get(f"/tester/?from={gone}").status_code == 404
    history = client.get("/tester/history", headers=HTMX).get_data(as_text=True)
    rows = history.split("<tr>")[2:]
    assert "Cluster Upgrade Started" in rows[0] and "New Project Event" in rows[1]
    assert f"from={gone}" not in rows[0] and "not in today's catalog</span>" in rows[0]
    assert '>Edit and send<span class="visually-hidden"> of New Project Event at ' in rows[1]
    result = client.get(f"/tester/sends/{gone}").get_data(as_text=True)
    assert "Edit and send again" not in result
    assert "Cannot be sent again from the tester: not in today's catalog." in result
    entry = client.get(f"/audit/entries/{gone}").get_data(as_text=True)
    assert "/tester/?from=" not in entry and ">Edit and send</a>" not in entry
    assert "Cannot be sent again from the tester: not in today's catalog." in entry


def test_an_old_send_again_link_to_a_removed_event_says_only_that_it_is_gone(
    client: FlaskClient, sqlite_store: AuditStore
) -> None:
    """A page opened before the event left the catalog still links to `?from=`: the tester said
    "Pre-filled from message …" above the error that nothing could be filled."""
    message = build_message(
        CATALOG.event("ProjectCreate").example_spec(), source="tester", actor="admin@example.com"
    )
    message["event"] = "Project Moved to Cold Storage"
    message["context"][CONTEXT_KEY]["spec"] = "ProjectColdStorageMove"
    sqlite_store.record(message, status=AuditStatus.DELIVERED, source="tester", actor="admin@example.com")
    response = client.get(f"/tester/?from={message['messageId']}")
    assert response.status_code == 404
    page = html.unescape(response.get_data(as_text=True))
    assert "Project Moved to Cold Storage is not in today's catalog." in page
    assert "Pre-filled" not in page


def test_history_names_every_id_of_a_send_s_scope(client: FlaskClient) -> None:
    """The history read the entry's own columns (user, project, cluster): a registry's or an
    application's id never showed."""
    for constant in ("RegistryProvisioningSuccess", "ApplicationLaunchSuccess"):
        send_form(client, f"event={constant}", example_values(CATALOG.event(constant)))
    page = client.get("/tester/history", headers=HTMX).get_data(as_text=True)
    # Each id with its noun, kept on one line.
    assert '<span class="nowrap">registry 7</span>' in page
    page = re.sub(r'</?span( class="nowrap")?>', "", page)
    assert '<td data-label="Scope">user 1 · project 12 · registry 7</td>' in page
    assert '<td data-label="Scope">user 1 · project 12 · cluster 4 · app name web' in page


def test_history_says_when_a_status_is_a_later_re_send_s(client: FlaskClient, collector: Collector) -> None:
    collector.inject(500, times=100)
    send_form(client, "event=ProjectCreate", example_values(CATALOG.event("ProjectCreate")))
    collector.reset()
    failed = client.get("/tester/history", headers=HTMX).get_data(as_text=True)
    assert "status-failed" in failed and "after a re-send" not in failed
    message_id = re.search(r'href="/audit/entries/([^"]+)"', failed)
    assert message_id is not None
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/tester/").get_data(as_text=True))
    assert token is not None
    resent = client.post(
        f"/audit/replay/?message_id={message_id.group(1)}", data={"csrf_token": token.group(1)}
    )
    assert resent.status_code == 303
    page = client.get("/tester/history", headers=HTMX).get_data(as_text=True)
    outcome = (
        r"status-delivered\">delivered</span> 200 · after a re-send "
        r"\(the tester's try took <span class=\"nowrap\">\d+ ms</span>\)"
    )
    assert re.search(outcome, page)
    # The send's own result page says the same.
    result = client.get(f"/tester/sends/{message_id.group(1)}").get_data(as_text=True)
    assert re.search(
        r"HTTP <strong>200</strong>\s*· after a re-send \(the tester's try took \d+ ms\)", result
    )
    assert "round trip" not in result


def test_copy_as_python_and_pytest_run_and_build_the_sent_message(client: FlaskClient) -> None:
    query = {
        "spec": "ClusterPreflightChecksFailed",
        "mode": "fields",
        **example_values(CATALOG.event("ClusterPreflightChecksFailed")),
    }
    page = client.get("/tester/preview", query_string=query, headers=HTMX).get_data(as_text=True)
    import html
    import re

    snippets = {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(
            r'<pre class="code" id="snippet-(\w+)"[^>]*><code>(.*?)</code></pre>', page, re.S
        )
    }
    namespace: dict[str, Any] = {}
    exec(compile(snippets["pytest"], "snippet", "exec"), namespace)  # noqa: S102
    [test] = [value for name, value in namespace.items() if name.startswith("test_")]
    test()
    compile(snippets["python"], "snippet", "exec")
    assert "analytics.track(\n    ClusterPreflightChecksFailed(" in snippets["python"]
    assert "# Once at start-up: analytics.init()" in snippets["python"]


def test_the_write_key_never_reaches_a_page(staged_app: Flask, login_as: Callable[..., FlaskClient]) -> None:
    client = login_as(Role.ADMIN, on=staged_app)
    page = client.get("/tester/?event=ProjectCreate").get_data(as_text=True)
    assert "staging-secret-key" not in page and key_fingerprint("staging-secret-key") in page
    assert "PRODUCTION" in page
    api = client.get("/api/tester/destinations").get_json()
    assert {d["name"]: d["production"] for d in api["destinations"]} == {
        "default": False,
        "staging": False,
        "prod": True,
    }
    assert "secret" not in json.dumps(api)


def test_an_engineer_cannot_send_to_production(
    staged_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    client = login_as(Role.ENGINEER, on=staged_app)
    values = {
        **example_values(CATALOG.event("ProjectCreate")),
        "destination": "prod",
        "confirm_production": "on",
    }
    status, _ = send_form(client, "event=ProjectCreate", values, htmx=False)
    assert status == 403
    # The form says why next to the destination; the page offers production to admins only.
    status, page = send_form(client, "event=ProjectCreate", values)
    assert status == 200 and error_slot(page, "destination") == ADMINS_ONLY
    assert _entries(staged_app) == []
    tester = client.get("/tester/?event=ProjectCreate").get_data(as_text=True)
    assert re.search(
        r'<option value="prod" data-production disabled>[^<]*PRODUCTION \(admins only\)</option>', tester
    )
    assert '<option value="staging">' in tester


def test_the_picker_and_preview_opened_as_pages_send_their_query_to_the_tester_as_it_came(
    client: FlaskClient,
) -> None:
    """Their query became `url_for` keywords: `endpoint` was a 500, `_scheme` and `_anchor` changed the
    address the redirect went to, and a repeated name kept one value."""
    for path in ("/tester/specs", "/tester/preview"):
        query = "endpoint=x&_scheme=https&_anchor=top&event=ProjectCreate&q=a&q=b"
        response = client.get(f"{path}?{query}")
        assert response.status_code == 303, path
        assert response.headers["Location"] == f"/tester/?{query}", path
        assert client.get(path).headers["Location"] == "/tester/"


def test_the_picker_search_matches_every_word_in_any_order(client: FlaskClient) -> None:
    def found(query: str) -> list[str]:
        page = client.get("/tester/specs", query_string={"q": query}, headers=HTMX).get_data(as_text=True)
        return re.findall(r'<option value="(\w+)"', page)

    assert "ClusterProvisioningSuccess" in found("cluster prov succ")
    assert "ClusterProvisioningSuccess" in found("success provisioning")
    assert "ProjectCreate" not in found("cluster prov succ")
    assert found("cluster nothing-like-this") == []
    # As the catalog's search: the constant as code writes it, property names, allowed values.
    for query in ("SegmentEvent.ClusterProvisioningSuccess", "infra_id", "cluster_type eks"):
        assert "ClusterProvisioningSuccess" in found(query), query
    assert "UserCreate" in found("email")
    # The scope's ids are found by name, not by any part: `user` found every event and identify call.
    for query in ("project_id", "proj_id", "userId"):
        assert "ClusterProvisioningSuccess" in found(query), query
    assert "ClusterProvisioningSuccess" not in found("user") and "UserCreate" in found("user")
    assert "ClusterProvisioningSuccess" not in found("project")


def test_an_off_schema_property_named_like_personal_data_is_masked_in_the_audit_log(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    """No spec marks an off-schema property: an email sent that way was stored, and shown, in clear."""
    values = {
        **example_values(CATALOG.event("ProjectCreate")),
        "mode": "raw",
        "raw": '{"email": "secret.person@example.com", "contact_phone": "+1 555", "plan": "pro"}',
    }
    status, _ = send_form(client, "event=ProjectCreate", values)
    assert status == 200
    [received] = collector.received()
    assert received["properties"]["email"] == "secret.person@example.com"
    [entry] = _entries(app)
    stored = entry.payload["properties"]
    assert stored["email"].startswith("masked:") and stored["contact_phone"].startswith("masked:")
    assert (stored["proj_id"], stored["plan"]) == (12, "pro")
    # "Did we send this phone number?" finds it through its mask, as for a spec's personal data.
    found = client.get("/audit/", query_string={"prop": "contact_phone = +1 555"}).get_data(as_text=True)
    assert entry.message_id in found


def test_an_off_schema_nested_key_named_like_personal_data_is_masked_where_it_is(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    """The walk stopped at the top: `{"contact": {"email": …}}` was stored in clear and put in the address."""
    raw = {"contact": {"email": "nested@example.com", "team": "ops"}, "owners": [{"last_name": "Hopper"}]}
    values = {**example_values(CATALOG.event("ProjectCreate")), "mode": "raw", "raw": json.dumps(raw)}
    data = {**form_fields(client, "event=ProjectCreate"), **values}
    response = client.post("/tester/send", data=data, headers=HTMX)
    assert response.status_code == 200
    [received] = collector.received()
    assert received["properties"]["contact"] == raw["contact"]
    [entry] = _entries(app)
    stored = entry.payload["properties"]
    assert stored["contact"]["email"].startswith("masked:") and stored["contact"]["team"] == "ops"
    assert stored["owners"][0]["last_name"].startswith("masked:")
    pushed = response.headers["HX-Push-Url"]
    assert "example.com" not in pushed and "Hopper" not in pushed


def test_fill_with_example_says_when_the_catalog_s_examples_are_at_fault(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filled field's error read as the engineer's typing mistake; the spec's example was wrong."""
    from analytics.catalog import Catalog
    from analytics.events import SegmentEvent
    from analytics.scopes import ProjectScope
    from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop
    from webapp.tester import forms

    registry = SpecRegistry()

    class Seats(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """Seats changed."""

        scope: ProjectScope
        seats: int = prop("Seats after the change.", example=5000, ge=1, le=1000)

    monkeypatch.setattr(forms, "CATALOG", Catalog(registry))
    response = client.post("/tester/", data={"spec": "ProjectDelete", "mode": "fields", "example": "1"})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert (
        "The examples of Project Deleted do not make a valid message (seats: Input should be less than or "
        "equal to 1000): fix them in the spec (event-catalog lint reports them as EC016)."
    ) in page


def test_off_schema_raw_json_is_not_called_an_error_while_a_scope_id_is_missing(client: FlaskClient) -> None:
    """Raw JSON may be off-schema; with an id missing, the same JSON was suddenly 'to fix' too."""
    values = {
        **example_values(CATALOG.event("ClusterProvisioningSuccess")),
        "mode": "raw",
        "raw": '{"cluster_type": "eks", "infra_id": 9, "extra": 1}',
        "scope.user_id": "",
    }
    status, page = send_form(client, "event=ClusterProvisioningSuccess", values, htmx=False)
    assert status == 422
    assert re.search(r'id="error-f-scope-user_id">[^<]+</p>', page)
    assert re.search(r'id="error-f-raw"></p>', page)
    assert "Extra inputs are not permitted" not in page


def test_the_scope_box_offers_the_presets_that_fill_the_events_scope_and_folds_the_others(
    client: FlaskClient,
) -> None:
    """Every preset was a chip on every event: 80 made a wall of 64 chips that could not fill an
    invoice's scope. Those that fill the scope come first; the others are folded, those that fill
    more of it first; from nine presets a box filters them by name."""
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    chains = {
        "a user": {"user_id": "1"},
        "b project": {"user_id": "1", "project_id": "12"},
        "c cluster": {"user_id": "1", "project_id": "12", "cluster_id": "4"},
    }
    for name, ids in chains.items():
        saved = client.post("/tester/presets", data={"csrf_token": csrf, "name": name, **ids})
        assert saved.status_code == 303
    page = client.get("/tester/?event=ClusterProvisioningSuccess").get_data(as_text=True)
    shown, _, folded = page.partition('<details class="other-presets">')
    assert ">c cluster</a>" in shown and ">a user</a>" not in shown and ">b project</a>" not in shown
    assert "2 presets for other scopes" in folded
    assert folded.index(">b project</a>") < folded.index(">a user</a>")
    assert 'id="preset-filter"' not in page
    user_event = client.get("/tester/?event=UserCreate").get_data(as_text=True)
    assert "other-presets" not in user_event and ">a user</a>" in user_event
    for number in range(6):
        data = {"csrf_token": csrf, "name": f"more {number}", "user_id": "1"}
        assert client.post("/tester/presets", data=data).status_code == 303
    many = client.get("/tester/?event=ClusterProvisioningSuccess").get_data(as_text=True)
    assert 'id="preset-filter"' in many and "8 presets for other scopes" in many


def test_a_very_long_unknown_event_is_echoed_cut_short(client: FlaskClient) -> None:
    """The tester's refusal of an unknown event repeated a 1,000-letter name whole beside the field."""
    typed = "é" * 1000
    response = client.get("/tester/", query_string={"event": typed})
    assert response.status_code == 404
    error = response.get_data(as_text=True).split('id="error-f-spec">', 1)[1].split("</", 1)[0]
    assert error.startswith("Unknown event or identify call") and typed not in error and "é…" in error
