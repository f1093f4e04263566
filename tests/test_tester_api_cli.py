"""The tester's JSON API and `event-catalog send`: the same path as the form, with their own error shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import signed_in_client
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, select, text
from tester_helpers import HTMX, claim_send, pre_json, repeat_in_flight

from analytics.audit import SCHEMA_REVISION, AuditEntry, create_audit_engine
from analytics.collector import Collector
from analytics.scopes import SCOPES
from webapp import create_app
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.tester.destinations import DEFAULT_NAME, Destination, default_destination, parse_destinations
from webapp.tester.sending import NO_WRITE_KEY

CLUSTER_SEND = {
    "event": "ClusterProvisioningSuccess",
    "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
    "properties": {"cluster_type": "eks", "infra_id": 9},
}


def _statuses(app: Flask) -> list[str]:
    with app.app_context():
        return [entry.status for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_api_properties_are_validated_as_the_json_values_given(
    client: FlaskClient, collector: Collector
) -> None:
    """The API went through the form's text handling: `[null, {"x": 1}, true]` was sent, as valid, as
    `["None", "{'x': 1}", "True"]`, and strings were trimmed."""
    checks = {
        "event": "ClusterPreflightChecksFailed",
        "scope": {"user_id": 1, "project_id": 12},
        "properties": {"cloud_provider": "aws", "failed_checks": [None, {"x": 1}, True, "", " vcpu "]},
    }
    refused = client.post("/api/tester/send", json=checks)
    assert refused.status_code == 422
    fields = refused.get_json()["error"]["fields"]
    assert fields == {
        "properties.failed_checks": "; ".join(f"{n}: Input should be a valid string" for n in range(3))
    }
    checks["properties"]["failed_checks"] = ["", " vcpu_quota\n"]
    sent = client.post("/api/tester/send", json=checks)
    assert sent.status_code == 200, sent.get_json()
    assert collector.received()[0]["properties"]["failed_checks"] == ["", " vcpu_quota\n"]


@pytest.mark.parametrize("project_id", [" 1", "1 ", "\t1", "\u00a01", "1\n", ""])
def test_api_scope_ids_are_validated_as_the_json_values_given(client: FlaskClient, project_id: str) -> None:
    """The API trimmed scope ids as the form does: `" 1"` was sent as project 1, though the library
    refuses it; the form and the command line still trim what was typed."""
    body = {"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": project_id}, "dry_run": True}
    refused = client.post("/api/tester/send", json=body)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {
        "scope.project_id": (
            "Input should be a valid integer, as a whole number or as text of the digits 0-9 only"
        )
    }
    assert (
        client.post("/api/tester/send", json={**body, "scope": {"user_id": 1, "project_id": "1"}}).status_code
        == 200
    )
    preview = client.post(
        "/tester/preview",
        data={"spec": "ProjectCreate", "scope.user_id": "1", "scope.project_id": " 1\n"},
        headers=HTMX,
    )
    assert json.loads(pre_json(preview.get_data(as_text=True), "preview-json"))["properties"]["proj_id"] == 1


def test_api_send_delivers_and_reports_the_outcome(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    response = client.post("/api/tester/send", json=CLUSTER_SEND)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "delivered" and body["http_status"] == 200
    assert body["message"] == collector.received()[0]
    assert body["audit_url"] == f"/audit/entries/{body['message_id']}"
    assert _statuses(app) == ["delivered"]


def test_api_send_is_idempotent_on_its_token(app: Flask, client: FlaskClient, collector: Collector) -> None:
    first = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "abc"}).get_json()
    second = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "abc"}).get_json()
    assert second["duplicate"] is True and second["message_id"] == first["message_id"]
    assert second["message"] == first["message"] and second["message_note"] is None
    assert len(collector.received()) == 1


REGISTER_SEND = {
    "identify": "Register",
    "scope": {"user_id": 5},
    "properties": {"email": "bo@example.com", "github": True},
    "token": "reg",
}


def test_api_a_repeated_token_answers_the_first_message_with_its_personal_data(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """The audit copy masks the email; the sealed original is opened, as the audit pages do."""
    app = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    client = login_as(Role.ENGINEER, on=app)
    first = client.post("/api/tester/send", json=REGISTER_SEND).get_json()
    second = client.post("/api/tester/send", json=REGISTER_SEND).get_json()
    assert second["duplicate"] is True and second["message"] == first["message"]
    assert second["message"]["traits"]["email"] == "bo@example.com" and second["message_note"] is None


def test_api_a_repeated_token_without_sealed_originals_says_the_message_is_masked(
    client: FlaskClient, collector: Collector
) -> None:
    first = client.post("/api/tester/send", json=REGISTER_SEND).get_json()
    second = client.post("/api/tester/send", json=REGISTER_SEND).get_json()
    assert first["message"]["traits"]["email"] == "bo@example.com"
    assert second["message"]["traits"]["email"].startswith("masked:")
    assert second["message"] == {**first["message"], "traits": second["message"]["traits"]}
    assert (
        second["message_note"]
        == "Personal data is stored masked; set AUDIT_ENCRYPTION_KEY to keep originals."
    )


def test_api_a_token_reused_for_another_message_is_409_and_sends_nothing(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    first = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t1"}).get_json()
    other = {**CLUSTER_SEND, "properties": {"cluster_type": "gke", "infra_id": 9}, "token": "t1"}
    response = client.post("/api/tester/send", json=other)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["name"] == "Conflict" and first["message_id"] in error["message"]
    assert "already used for a different message" in error["message"]
    assert [message["properties"]["cluster_type"] for message in collector.received()] == ["eks"]
    elsewhere = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t1", "destination": "nope"})
    assert elsewhere.status_code == 422 and _statuses(app) == ["delivered"]


FIRST_KEYS = {"SECRET_KEY": "first-secret-key-0123456789", "AUDIT_CHAIN_KEY": "first-chain-key-0123456789"}


def test_api_a_repeated_token_is_recognised_after_the_keys_are_rotated(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """A CI step retried after a deploy that rotated SECRET_KEY got 409 "already used for a different
    message" for the very same values: the request's fingerprint was keyed with SECRET_KEY."""
    before = login_as(Role.ENGINEER, on=make_app(**FIRST_KEYS))
    first = before.post("/api/tester/send", json={**CLUSTER_SEND, "token": "ci-1"}).get_json()
    secret_rotated = make_app(
        SECRET_KEY="second-secret-key-0123456789", AUDIT_CHAIN_KEY=FIRST_KEYS["AUDIT_CHAIN_KEY"]
    )
    chain_rotated = make_app(
        SECRET_KEY="second-secret-key-0123456789",
        AUDIT_CHAIN_KEY="second-chain-key-0123456789",
        AUDIT_CHAIN_KEYS_RETIRED=(FIRST_KEYS["AUDIT_CHAIN_KEY"],),
    )
    for app in (secret_rotated, chain_rotated):
        again = login_as(Role.ENGINEER, on=app).post(
            "/api/tester/send", json={**CLUSTER_SEND, "token": "ci-1"}
        )
        assert again.status_code == 200, again.get_json()
        assert again.get_json()["duplicate"] is True and again.get_json()["message_id"] == first["message_id"]
    other = {**CLUSTER_SEND, "properties": {"cluster_type": "gke", "infra_id": 9}, "token": "ci-1"}
    assert login_as(Role.ENGINEER, on=chain_rotated).post("/api/tester/send", json=other).status_code == 409
    assert len(collector.received()) == 1


def test_api_a_repeated_token_of_a_send_fingerprinted_by_an_earlier_release_is_recognised(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """Releases from 0009 to this one keyed the fingerprint with SECRET_KEY: a send they recorded is
    still recognised while that key is current."""
    app = make_app(**FIRST_KEYS)
    client = login_as(Role.ENGINEER, on=app)
    first = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "ci-2"}).get_json()
    asked = {name: first["message"].get(name) for name in ("type", "event", "userId", "properties", "traits")}
    canonical = json.dumps({**asked, "destination": DEFAULT_NAME}, sort_keys=True, default=str)
    earlier = hmac.new(FIRST_KEYS["SECRET_KEY"].encode(), canonical.encode(), hashlib.sha256).hexdigest()
    with app.app_context():
        db.session.execute(text("UPDATE tester_sends SET request_digest = :d"), {"d": earlier})
        db.session.commit()
    again = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "ci-2"})
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    other = {**CLUSTER_SEND, "properties": {"cluster_type": "gke", "infra_id": 9}, "token": "ci-2"}
    assert client.post("/api/tester/send", json=other).status_code == 409
    assert len(collector.received()) == 1


def test_api_a_send_the_audit_log_refuses_has_no_audit_url(
    empty_postgres_url: str, postgres_engine: Engine, collector: Collector
) -> None:
    """With the database's disk full the answer was a 503 whose `audit_url` was a 404."""
    with postgres_engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; "
                "END $$"
            )
        )
        connection.execute(
            text("CREATE TRIGGER disk_full BEFORE INSERT ON audit_message_ids EXECUTE FUNCTION disk_full()")
        )
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": empty_postgres_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    try:
        response = signed_in_client(app, Role.ENGINEER).post("/api/tester/send", json=CLUSTER_SEND)
        assert response.status_code == 503
        body = response.get_json()
        assert body["error"].startswith("audit log unavailable: could not extend file")
        assert body["audit_url"] is None and body["result_url"] == f"/tester/sends/{body['message_id']}"
        assert collector.received() == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_api_a_token_another_person_used_is_409_without_their_result(
    app: Flask, client: FlaskClient, login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    assert client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "shared"}).status_code == 200
    colleague = login_as(Role.ENGINEER)
    response = colleague.post("/api/tester/send", json={**CLUSTER_SEND, "token": "shared"})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == (
        "The token 'shared' was already used by another person: nothing was sent. "
        "Use a new token for a new message."
    )
    assert "duplicate" not in response.get_json() and len(collector.received()) == 1


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"event": "Nope"}, "event", "Unknown event"),
        ({**CLUSTER_SEND, "scope": {"user_id": 1, "project_id": 12}}, "scope.cluster_id", "Field required"),
        (
            {**CLUSTER_SEND, "properties": {"cluster_type": "ecs", "infra_id": 9}},
            "properties.cluster_type",
            "Input should be",
        ),
        (
            {**CLUSTER_SEND, "properties": {"cluster_type": "eks", "infra_id": "x"}},
            "properties.infra_id",
            "valid integer",
        ),
        ({**CLUSTER_SEND, "destination": "mars"}, "destination", "Unknown destination 'mars'"),
        (
            {"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2, "registry_id": 3}},
            "scope.registry_id",
            "New Project Event is scoped to Project: no 'registry_id' (its ids: user_id, project_id)",
        ),
        (
            {**CLUSTER_SEND, "properties": {"cluster_type": "eks", "infra_id": 9, "bogus": 1}},
            "properties.bogus",
            "Cluster Provisioning Success has no property 'bogus' (its properties: cluster_type, infra_id)",
        ),
        (
            {"identify": "Register", "scope": {"user_id": 5}, "properties": {"github": "maybe"}},
            "properties.github",
            "valid boolean",
        ),
        (
            {"event": "StackLaunchComplete", "scope": CLUSTER_SEND["scope"]},
            "confirm_deprecated",
            'set "confirm_deprecated": true to send it anyway',
        ),
        (
            {**CLUSTER_SEND, "scope": {"user_id": 0, "project_id": 12, "cluster_id": 4}},
            "scope.user_id",
            "greater than 0",
        ),
    ],
)
def test_api_bad_input_is_422_with_the_field(
    app: Flask, client: FlaskClient, body: dict[str, Any], field: str, text: str
) -> None:
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 422 and response.mimetype == "application/json"
    assert text in response.get_json()["error"]["fields"][field]
    assert _statuses(app) == []


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"scope": "x"}, "scope", "valid dictionary"),
        ({"scope": [1]}, "scope", "valid dictionary"),
        ({"properties": "x"}, "properties", "valid dictionary"),
        ({"properties": [1]}, "properties", "valid dictionary"),
        ({"dry_run": "yes"}, "dry_run", "valid boolean"),
        ({"off_schema": "no"}, "off_schema", "valid boolean"),
        ({"confirm_production": []}, "confirm_production", "valid boolean"),
        ({"dryrun": True}, "dryrun", "Extra inputs are not permitted"),
        ({"token": 7}, "token", "valid string"),
        ({"event": 5}, "event", "valid string"),
        ({"identify": "Register"}, "identify", "Give `event` or `identify`, not both"),
    ],
)
def test_api_a_malformed_request_is_422_and_sends_nothing(
    app: Flask, client: FlaskClient, collector: Collector, change: dict[str, Any], field: str, text: str
) -> None:
    response = client.post("/api/tester/send", json={**CLUSTER_SEND, **change})
    assert response.status_code == 422 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert (error["status"], error["name"]) == (422, "Unprocessable Entity")
    assert text in error["fields"][field]
    assert _statuses(app) == [] and collector.received() == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**CLUSTER_SEND, "event": "Nope"}, {"event": "Unknown event or identify call 'Nope'."}),
        (
            {"identify": "Nope", "scope": {"user_id": 5}},
            {"identify": "Unknown event or identify call 'Nope'."},
        ),
        (
            {"scope": {"user_id": 5}},
            {"event": "Missing: give `event` (or `identify`), by name or by constant."},
        ),
        ({**CLUSTER_SEND, "identify": "Register"}, {"identify": "Give `event` or `identify`, not both"}),
        (
            {"identify": "ProjectCreate", "scope": {"user_id": 1, "project_id": 12}},
            {"identify": "'New Project Event' is an event: give it as `event`"},
        ),
        (
            {"event": "Register", "scope": {"user_id": 5}, "properties": {"email": "a@b.co", "github": True}},
            {"event": "'Register' is an identify call: give it as `identify`"},
        ),
        (
            {**CLUSTER_SEND, "scope": {"user_id": True, "project_id": 1.5, "cluster_id": [4]}},
            {
                "scope.user_id": "A whole number is needed, got true.",
                "scope.project_id": "A whole number is needed, got 1.5.",
                "scope.cluster_id": "A whole number is needed, got an array.",
            },
        ),
        (
            {
                "event": "ApplicationLaunchSuccess",
                "scope": {
                    "user_id": 1,
                    "project_id": 12,
                    "cluster_id": 4,
                    "app_name": True,
                    "app_namespace": [1],
                    "chart_name": "web",
                },
                "properties": {"flow_id": "f3c1a9e2"},
            },
            {
                "scope.app_name": "Text is needed, got true.",
                "scope.app_namespace": "Text is needed, got an array.",
            },
        ),
    ],
)
def test_api_errors_are_named_by_the_request_s_keys_and_say_what_was_sent(
    app: Flask, client: FlaskClient, body: dict[str, Any], fields: dict[str, str]
) -> None:
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == fields
    assert _statuses(app) == []


def test_only_real_sends_count_towards_the_send_limit(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    app.config["TESTER_LIMIT_PER_PERSON"] = "2 per minute"
    refused = [client.post("/api/tester/send", json={**CLUSTER_SEND, "scope": "x"}) for _ in range(5)]
    dry_runs = [client.post("/api/tester/send", json={**CLUSTER_SEND, "dry_run": True}) for _ in range(3)]
    assert [r.status_code for r in refused + dry_runs] == [422] * 5 + [200] * 3
    first = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t0"})
    repeated = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t0"})
    second = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t1"})
    assert [r.status_code for r in (first, repeated, second)] == [200, 200, 200]
    assert repeated.get_json()["duplicate"] is True
    over = client.post("/api/tester/send", json=CLUSTER_SEND)
    assert over.status_code == 429 and len(collector.received()) == 2
    # Past the limit, what cannot send is still answered: a dry run, and the first send's result.
    dry_run = client.post("/api/tester/send", json={**CLUSTER_SEND, "dry_run": True})
    again = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t0"})
    assert (dry_run.status_code, again.status_code, again.get_json()["duplicate"]) == (200, 200, True)
    assert client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "t2"}).status_code == 429
    assert len(collector.received()) == 2


def test_api_refuses_a_body_that_is_not_json(client: FlaskClient) -> None:
    response = client.post("/api/tester/send", data="event=ProjectCreate")
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["name"] == "Unsupported Media Type" and "application/json" in error["message"]
    not_an_object = client.post("/api/tester/send", json=[CLUSTER_SEND])
    assert not_an_object.status_code == 400 and not_an_object.get_json()["error"]["name"] == "Bad Request"
    assert not_an_object.get_json()["error"]["message"] == "Send a JSON object, not an array."
    nan = client.post(
        "/api/tester/send",
        data='{"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2}, "properties": {"x": NaN}}',
        content_type="application/json",
    )
    assert nan.status_code == 400
    assert nan.get_json()["error"]["message"] == (
        "The body is not valid JSON: NaN is not JSON (JSON has no NaN or Infinity)."
    )
    huge = client.post(
        "/api/tester/send",
        data='{"event": "ProjectCreate", "scope":{"user_id": 1, "project_id": 2}, "properties": {"x":1e400}}',
        content_type="application/json",
    )
    assert huge.status_code == 400
    assert huge.get_json()["error"]["message"] == (
        "The body is not valid JSON: 1e400 is too large a number to hold (JSON has no NaN or Infinity)."
    )
    broken = client.post("/api/tester/send", data="{bad", content_type="application/json")
    assert broken.status_code == 400
    assert broken.get_json()["error"]["message"].startswith(
        "The body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2"
    )


@pytest.mark.parametrize(
    ("body", "key"),
    [
        # Top level: which event would be sent depended on the reader.
        (
            '{"event": "ProjectDelete", "event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2}}',
            "event",
        ),
        (
            '{"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2, "project_id": 3}}',
            "project_id",
        ),
        (
            '{"event": "ClusterProvisioningSuccess", "scope": {"user_id": 1, "project_id": 12,'
            ' "cluster_id": 4}, "properties": {"cluster_type": "eks", "infra_id": 9, "cluster_type": "gke"}}',
            "cluster_type",
        ),
        # Deeper, inside an array inside an off-schema property.
        (
            '{"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2}, "off_schema": true,'
            ' "properties": {"note": [{"a": 1}, {"b": {"c": 1, "c": 2}}]}}',
            "c",
        ),
        (
            '{"event": "ProjectCreate", "scope": {"user_id": 1, "project_id": 2},'
            ' "dry_run": false, "dry_run": true}',
            "dry_run",
        ),
    ],
)
def test_api_a_key_given_twice_in_an_object_is_400_naming_it(
    app: Flask, client: FlaskClient, collector: Collector, body: str, key: str
) -> None:
    response = client.post("/api/tester/send", data=body, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert (error["status"], error["name"]) == (400, "Bad Request")
    assert error["message"] == (
        f'The body is refused: the key "{key}" appears twice in one object. '
        "Give each key once: readers differ on which counts."
    )
    assert collector.received() == [] and _statuses(app) == []


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("given", [{}, {"properties": None}], ids=["absent", "null"])
def test_api_off_schema_without_properties_is_422_and_an_empty_object_is_sent(
    app: Flask, client: FlaskClient, collector: Collector, given: dict[str, Any], dry_run: bool
) -> None:
    """`off_schema` with no (or null) `properties` was sent as `{}`, without the event's required
    properties, as the form's empty Raw JSON box and `send --json ''` were: `{}` says "none"."""
    body = {**CLUSTER_SEND, "off_schema": True, "dry_run": dry_run}
    del body["properties"]
    response = client.post("/api/tester/send", json={**body, **given})
    assert response.status_code == 422 and response.mimetype == "application/json"
    assert response.get_json()["error"]["fields"] == {
        "properties": "Missing: give the off-schema properties as an object, {} to send none."
    }
    assert collector.received() == [] and _statuses(app) == []
    empty = client.post("/api/tester/send", json={**body, "properties": {}})
    assert empty.status_code == 200, empty.get_json()
    assert empty.get_json()["message"]["properties"] == {"proj_id": 12, "cluster_id": 4}


def test_api_a_body_that_is_not_utf_8_is_400_and_nothing_is_recorded(app: Flask, client: FlaskClient) -> None:
    body = json.dumps({**CLUSTER_SEND, "event": "ProjectCreate?"}).encode().replace(b"?", b"\xff\xfe")
    response = client.post("/api/tester/send", data=body, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["message"] == "The body is not UTF-8 (byte 0xff at offset 24)."
    assert _statuses(app) == []


def test_api_a_nul_anywhere_in_the_body_is_400_and_nothing_is_recorded(
    app: Flask, client: FlaskClient
) -> None:
    body = {**CLUSTER_SEND, "properties": {"note": "nul\x00byte"}, "off_schema": True}
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "The body holds a NUL character (\\u0000), which no field can store."
    )
    token = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "a\x00b"})
    assert token.status_code == 400
    assert _statuses(app) == []


SURROGATE = (
    "Text cannot contain a surrogate code point (\\ud800): it is not Unicode text, and can be neither "
    "stored nor sent"
)


@pytest.mark.parametrize(
    ("properties", "field", "said"),
    [
        ({"error_message": "\ud800"}, "properties.error_message", SURROGATE),
        ({"note": {"deep": ["ok", "x\ud800"]}}, "properties.note.deep.1", SURROGATE),
        ({"\ud800": "x"}, "properties", f'The key "\\ud800": {SURROGATE[0].lower()}{SURROGATE[1:]}'),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_api_a_lone_surrogate_in_off_schema_properties_is_422_naming_it(
    app: Flask,
    client: FlaskClient,
    collector: Collector,
    properties: dict[str, Any],
    field: str,
    said: str,
    dry_run: bool,
) -> None:
    """Off-schema, a `\\ud800` escape passed the dry run (200) and the send answered 503 "cannot be
    audited", which tells a script to try again: it never goes through."""
    body = {
        "event": "ClusterUpdateFailed",
        "scope": {"user_id": 1, "project_id": 2, "cluster_id": 3},
        "properties": properties,
        "off_schema": True,
        "dry_run": dry_run,
    }
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 422 and response.mimetype == "application/json"
    [(named, text)] = response.get_json()["error"]["fields"].items()
    assert named == field and text.startswith(said)
    assert collector.received() == [] and _statuses(app) == []


@pytest.mark.parametrize("raw_json", ['{"error_message": "\\ud800"}', '{"\\ud800": "x"}'])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_cli_a_lone_surrogate_in_json_is_one_line_and_exit_2(
    app: Flask, runner: FlaskCliRunner, raw_json: str, dry_run: list[str]
) -> None:
    args = ["send", "ClusterUpdateFailed", "--scope", "user=1,project=2,cluster=3", "--json", raw_json]
    result = runner.invoke(args=[*args, *dry_run])
    assert result.exit_code == 2, result.output
    assert "surrogate code point (\\ud800): it is not Unicode text" in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert _statuses(app) == []


@pytest.mark.parametrize(
    ("token", "status", "field"),
    [("\ud800", 422, "token"), ("a\udfffb", 422, "token"), ("t" * 65, 422, "token"), ("a\x00b", 400, None)],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_api_a_token_no_send_could_have_is_refused_before_the_database_is_asked(
    make_app: Callable[..., Flask],
    database_url: str,
    collector: Collector,
    token: str,
    status: int,
    field: str | None,
    dry_run: bool,
) -> None:
    """The send limit asks the database whether the token was sent with before: a lone surrogate
    was a 500 there (UTF-8 cannot encode it), and on PostgreSQL so was a NUL."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    response = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": token, "dry_run": dry_run})
    assert response.status_code == status and response.mimetype == "application/json"
    if field is not None:
        assert list(response.get_json()["error"]["fields"]) == [field]
    assert collector.received() == []


def _chunks(body: bytes) -> Iterator[bytes]:
    """A body as `requests` sends a generator: `Transfer-Encoding: chunked`, no Content-Length."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize(
    "body",
    [
        b'"' + b"x" * 2_000_000 + b'"',
        json.dumps({**CLUSTER_SEND, "dry_run": True}).encode() + b" " * 2_000_000,
    ],
)
def test_a_chunked_body_over_a_megabyte_is_refused_too(
    app: Flask, make_account: Callable[..., str], serve: Callable[[Flask], str], body: bytes
) -> None:
    """Werkzeug checks the limit against Content-Length: a chunked body arrived cut at 1 MB."""
    import requests

    from webapp.auth import accounts, tokens

    with app.app_context():
        token = tokens.create_token(accounts.get_user(make_account(Role.ENGINEER)), "ci", actor="test").secret
    url = serve(app) + "/api/tester/send"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(url, data=_chunks(body), headers=headers, timeout=30)
    assert response.status_code == 413, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["message"] == "The request is larger than the 1 MB a request may carry."
    small = json.dumps({**CLUSTER_SEND, "dry_run": True}).encode() + b" " * 1000
    assert requests.post(url, data=_chunks(small), headers=headers, timeout=30).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        json.dumps({**CLUSTER_SEND, "off_schema": True, "properties": {"note": "DEEP"}}).replace(
            '"DEEP"', "[" * 500 + "]" * 500
        ),
    ],
)
def test_api_json_nested_too_deeply_is_400_and_nothing_is_recorded(
    app: Flask, client: FlaskClient, body: str
) -> None:
    response = client.post("/api/tester/send", data=body, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["message"] == (
        "The body is nested too deeply (the limit is 100 levels of arrays and objects)."
    )
    assert _statuses(app) == []


def test_a_request_body_over_a_megabyte_is_refused_before_it_is_read(app: Flask, client: FlaskClient) -> None:
    body = {**CLUSTER_SEND, "properties": {"cluster_type": "eks", "infra_id": 9, "note": "x" * 1_100_000}}
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 413 and response.mimetype == "application/json"
    assert response.get_json()["error"]["name"] == "Request Entity Too Large"
    assert (
        response.get_json()["error"]["message"] == "The request is larger than the 1 MB a request may carry."
    )
    assert _statuses(app) == []


def test_a_dry_run_of_a_message_over_32_kb_says_a_send_would_be_dropped(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, collector: Collector
) -> None:
    """Both passed it as valid (200, exit 0); the real send is audited as dropped."""
    big = {**CLUSTER_SEND["properties"], "note": "z" * 40_000}
    dry = client.post(
        "/api/tester/send", json={**CLUSTER_SEND, "properties": big, "off_schema": True, "dry_run": True}
    )
    assert dry.status_code == 422
    message = dry.get_json()["error"]["message"]
    assert message.startswith("The message would not go through: the message is 40,")
    assert message.endswith(" bytes, over Segment's 32 KB per message: a send would be audited as dropped.")
    args = ["send", "ClusterProvisioningSuccess", "--scope", "user=1,project=12,cluster=4", "--dry-run"]
    cli = runner.invoke(args=[*args, "--json", json.dumps(big)])
    assert cli.exit_code == 1 and cli.stderr.endswith("a send would be audited as dropped\n")
    assert "error: dry run: the message is 40," in cli.stderr
    assert _statuses(app) == [] and collector.received() == []


def test_api_endpoint_failure_is_502_and_dry_run_sends_nothing(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    dry = client.post("/api/tester/send", json={**CLUSTER_SEND, "dry_run": True})
    assert dry.status_code == 200 and dry.get_json()["message"]["event"] == "Cluster Provisioning Success"
    assert _statuses(app) == []
    collector.inject(503, times=1)
    failed = client.post("/api/tester/send", json=CLUSTER_SEND)
    assert failed.status_code == 502
    assert failed.get_json()["http_status"] == 503 and _statuses(app) == ["failed"]


def test_cli_send_delivers_and_prints_the_message_and_outcome(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    result = runner.invoke(
        args=[
            *"send ClusterProvisioningSuccess --scope user=1,project=12,cluster=4".split(),
            *"--prop cluster_type=eks --prop infra_id=9".split(),
        ]
    )
    assert result.exit_code == 0, result.output
    assert '"event": "Cluster Provisioning Success"' in result.stdout
    assert result.stderr.startswith("delivered: message ")
    [received] = collector.received()
    assert received["context"]["eventCatalog"]["actor"].startswith("cli:")
    assert _statuses(app) == ["delivered"]


CLI_CLUSTER_SEND = [
    *"send ClusterProvisioningSuccess --scope user=1,project=12,cluster=4".split(),
    *"--prop cluster_type=eks --prop infra_id=9".split(),
]


def test_cli_send_with_the_same_token_delivers_once(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    """A CI job that retries its step with the same --token sends once and learns the first outcome."""
    first = runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", "release-4711-cluster"])
    assert first.exit_code == 0, first.output
    sent = json.loads(first.stdout)
    again = runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", "release-4711-cluster"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["messageId"] == sent["messageId"]
    # The first send's outcome, round trip included, and that nothing was sent this time.
    assert again.stderr == first.stderr.replace(
        ")\n", "), sent before with --token 'release-4711-cluster': not sent again\n"
    )
    [received] = collector.received()
    assert received["messageId"] == sent["messageId"]
    assert _statuses(app) == ["delivered"]
    # The JSON API's `token` is the same key: a script and the command line cannot both send it.
    with app.app_context():
        from webapp.tester.models import TesterSend

        [claim] = db.session.scalars(select(TesterSend)).all()
        assert claim.form_token == "release-4711-cluster"


def test_cli_a_repeated_token_prints_the_message_as_the_first_run_did(
    database_url: str, collector: Collector
) -> None:
    """The repeat printed the audit log's copy in PostgreSQL's JSONB key order, the first run in the
    order it was built: a CI job diffing its logs saw two messages. Both print keys sorted."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    runner = app.test_cli_runner()
    first = runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", "release-4712-cluster"])
    again = runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", "release-4712-cluster"])
    with app.app_context():
        db.engine.dispose()
    assert (first.exit_code, again.exit_code) == (0, 0), again.output
    assert again.stdout == first.stdout
    assert (
        first.stdout
        == json.dumps(json.loads(first.stdout), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )


def test_cli_a_token_reused_for_another_message_sends_nothing_and_exits_2(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    assert runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", "t-1"]).exit_code == 0
    other = runner.invoke(args=[*CLI_CLUSTER_SEND[:-1], "infra_id=10", "--token", "t-1"])
    assert other.exit_code == 2 and other.stdout == ""
    [line] = other.stderr.splitlines()
    assert line.startswith("error: not sent: --token 't-1' was already used for a different message (")
    assert line.endswith("): use a new token for a new message")
    assert len(collector.received()) == 1 and _statuses(app) == ["delivered"]


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        ("", "error: --token must have 1 to 64 characters, not 0"),
        ("x" * 65, "error: --token must have 1 to 64 characters, not 65"),
    ],
)
def test_cli_a_token_the_api_would_refuse_is_one_line_and_exit_2(
    app: Flask, runner: FlaskCliRunner, collector: Collector, token: str, refusal: str
) -> None:
    result = runner.invoke(args=[*CLI_CLUSTER_SEND, "--token", token])
    assert (result.exit_code, result.stderr) == (2, refusal + "\n")
    assert collector.received() == [] and _statuses(app) == []


def test_cli_send_exits_1_when_delivery_fails(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    collector.inject(500, times=1)
    result = runner.invoke(args=["send", "New Project Event", "--scope", "user=1,project=12"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: failed: message ") and "HTTP 500" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _statuses(app) == ["failed"]


def test_api_send_without_a_write_key_says_why_in_its_error(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """It answered `disabled` with `error: null`, where the command line says why."""
    client = login_as(Role.ENGINEER, on=make_app(SEGMENT_WRITE_KEY=None))
    body = client.post("/api/tester/send", json=CLUSTER_SEND).get_json()
    assert (body["status"], body["error"]) == ("disabled", NO_WRITE_KEY)
    assert collector.received() == []


def test_api_send_links_under_the_mount_prefix(client: FlaskClient) -> None:
    """Behind a prefix (gunicorn's SCRIPT_NAME) `audit_url` led to the site's root; `result_url` did not."""
    body = client.post(
        "/api/tester/send", json=CLUSTER_SEND, environ_overrides={"SCRIPT_NAME": "/catalog"}
    ).get_json()
    assert body["audit_url"] == f"/catalog/audit/entries/{body['message_id']}"
    assert body["result_url"] == f"/catalog/tester/sends/{body['message_id']}"


def test_cli_send_without_a_write_key_exits_1_and_says_why(
    make_app: Callable[..., Flask], collector: Collector
) -> None:
    app = make_app(SEGMENT_WRITE_KEY=None)
    result = app.test_cli_runner().invoke(args=["send", "New Project Event", "--scope", "user=1,project=12"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: disabled: message ")
    assert result.stderr.rstrip().endswith(NO_WRITE_KEY)
    assert _statuses(app) == ["disabled"] and collector.received() == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["ClusterProvisioningSuccess", "--scope", "project=12,cluster=4", "--prop", "cluster_type=eks"],
            "--scope user: Field required",
        ),
        (["Nope"], "Unknown event or identify call 'Nope'"),
        (
            ["cluster provisioning sucess"],
            "'cluster provisioning sucess'. Did you mean 'Cluster Provisioning Success'?",
        ),
        (["RegisterIdentifyy"], "Did you mean 'Register'?"),
        (
            ["ProjectCreate", "--scope", "user=1,project=x"],
            "--scope project: Input should be a valid integer",
        ),
        (["ProjectCreate", "--scope", "user"], "--scope 'user' is not key=value"),
        (
            ["ProjectCreate", "--scope", "user=1,projet=2"],
            # Every scope's ids, widest first: shipped, user, project, cluster, registry, app, namespace,
            # chart, and a fork's own scopes' among them.
            f"--scope 'projet' is not a scope id: one of {', '.join(SCOPES.id_fields().values())}",
        ),
        (
            ["ProjectCreate", "--scope", "user=1,project=2", "--destination", "mars"],
            "Unknown destination 'mars'",
        ),
        (["ProjectCreate", "--preset", "nope"], "no scope preset named 'nope'"),
        (
            ["StackLaunchComplete", "--scope", "user=1,project=2,cluster=3", "--dry-run"],
            "--yes-deprecated: Stack Launch Complete is deprecated (send Stack Launch Success instead): "
            "pass --yes-deprecated to send it anyway",
        ),
        (
            ["ProjectCreate", "--scope", "user=1,project=2", "--prop", "x=1", "--json", "{}"],
            "--json and --prop cannot be combined",
        ),
        (
            [
                "ClusterProvisioningSuccess",
                "--scope",
                "user=1,project=12,cluster=4",
                *("--prop", "cluster_type=eks", "--prop", "infra_id=9", "--prop", "infra_idd=10"),
            ],
            "--prop infra_idd: Cluster Provisioning Success has no property 'infra_idd'",
        ),
        (
            [
                "ClusterProvisioningSuccess",
                "--scope",
                "user=1,project=12,cluster=4",
                *("--prop", "cluster_type=eks", "--prop", "infra_id=9", "--prop", "infra_id=10"),
            ],
            "--prop infra_id is given 2 times (9, 10): it holds one value",
        ),
        (["ProjectCreate", "--scope", "user=1,project=2,user=3"], "--scope 'user' is given twice (1 and 3)"),
        (
            ["ProjectCreate", "--scope", "user=1,project=2", "--json", "[" * 3000 + "]" * 3000],
            "--json: The JSON is nested too deeply (the limit is 100 levels of arrays and objects)",
        ),
        (
            ["ProjectCreate", "--scope", "user=1,project=2", "--json", '{"note": {"a": 1, "a": 2}}'],
            '--json: The key "a" appears twice in one object: give each key once',
        ),
        # `--json "$PROPS"` with the variable unset was read as {} and sent off-schema (a dry run warned).
        *(
            (
                ["ClusterProvisioningSuccess", "--scope", "user=1,project=12,cluster=4", "--json", *blank],
                "--json: empty: give '{}' to send no properties, or leave the option out",
            )
            for blank in ([""], ["   "], ["\n"], ["", "--dry-run"])
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    app: Flask, runner: FlaskCliRunner, args: list[str], expected: str
) -> None:
    result = runner.invoke(args=["send", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _statuses(app) == []


BYTE_FF = "\udcff"
"""A byte 0xff in an argument, as Python decodes it (surrogateescape)."""
CLI_FAILED_UPDATE = "send ClusterUpdateFailed --scope user=1,project=2,cluster=3".split()


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["send", "dry-run"])
@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (
            [*CLI_CLUSTER_SEND, "--token", f"a{BYTE_FF}"],
            "Invalid value for '--token': not UTF-8 text (byte 0xff)",
        ),
        (
            [*CLI_CLUSTER_SEND, "--preset", f"a{BYTE_FF}"],
            "Invalid value for '--preset': not UTF-8 text (byte 0xff)",
        ),
        (["send", f"Project{BYTE_FF}"], "Invalid value for 'EVENT': not UTF-8 text (byte 0xff)"),
        (
            [*CLI_FAILED_UPDATE, "--json", f'{{"error_message": "a{BYTE_FF}"}}'],
            "Invalid value for '--json': not UTF-8 text (byte 0xff)",
        ),
        (
            [*CLI_FAILED_UPDATE, "--json", '{"error_message": "\\ud800"}'],
            "--json: error_message: text cannot contain a surrogate code point (\\ud800)",
        ),
        (
            [*CLI_FAILED_UPDATE, "--json", '{"\\ud800": "x"}'],
            '--json: The key "\\ud800": text cannot contain a surrogate code point (\\ud800)',
        ),
        (
            [*CLI_FAILED_UPDATE, "--json", '{"tags": [{"\\udfff": 1}]}'],
            '--json: tags.0: the key "\\udfff": text cannot contain a surrogate code point (\\udfff)',
        ),
    ],
)
def test_cli_text_that_is_not_unicode_is_refused_in_one_line_sent_or_dry(
    app: Flask,
    runner: FlaskCliRunner,
    collector: Collector,
    args: list[str],
    refusal: str,
    dry_run: list[str],
) -> None:
    """A byte that is not UTF-8 in --token or --preset, or a \\ud800 escape in --json, was a
    UnicodeEncodeError traceback; a byte in a --json value passed the dry run that the send refused.
    (Flask's runner shows Click's usage block around a refusal; the console script, one line.)"""
    result = runner.invoke(args=[*args, *dry_run])
    assert (result.exit_code, result.stdout) == (2, "")
    assert refusal in result.stderr and "Traceback" not in result.stderr
    assert collector.received() == [] and _statuses(app) == []


def _send_through_the_console_script(
    database_url: str, collector: Collector
) -> subprocess.CompletedProcess[str]:
    """`event-catalog send` as a shell runs it: the console script's command group, not Flask's runner."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_WRITE_KEY": "k",
        "SEGMENT_HOST": collector.url,
    }
    command = [
        Path(sys.executable).parent / "event-catalog",
        "send",
        "ProjectCreate",
        "--scope",
        "user=1,project=2",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_a_database_at_another_schema_revision_ends_a_command_in_one_line(
    app: Flask, sqlite_url: str, collector: Collector
) -> None:
    """Through the console script: its command group turns the library's SchemaError into one line."""
    engine = create_audit_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    engine.dispose()
    done = _send_through_the_console_script(sqlite_url, collector)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: the audit database {sqlite_url} is at schema revision 0000_older, this library needs "
        f"{SCHEMA_REVISION}: run `event-catalog db upgrade` with DATABASE_URL set to it"
    ]
    assert collector.received() == []


def test_cli_a_boolean_property_takes_yes_or_no_words_and_refuses_others(
    app: Flask, runner: FlaskCliRunner
) -> None:
    args = ["send", "Register", "--scope", "user=5", "--prop", "email=bo@example.com", "--dry-run"]
    said_no = runner.invoke(args=[*args, "--prop", "github=no"])
    assert said_no.exit_code == 0 and '"github": false' in said_no.stdout
    maybe = runner.invoke(args=[*args, "--prop", "github=maybe"])
    assert (maybe.exit_code, maybe.stderr) == (
        2,
        "error: not valid: --prop github: Input should be a valid boolean, unable to interpret input\n",
    )


def test_cli_refusals_say_not_sent_or_for_a_dry_run_not_valid(app: Flask, runner: FlaskCliRunner) -> None:
    args = ["send", "ProjectCreate", "--scope", "user=1"]
    assert runner.invoke(args=args).stderr == "error: not sent: --scope project: Field required\n"
    dry = runner.invoke(args=[*args, "--dry-run"])
    assert (dry.exit_code, dry.stderr) == (2, "error: not valid: --scope project: Field required\n")


def test_a_database_that_cannot_be_reached_ends_a_send_in_one_line(collector: Collector) -> None:
    done = _send_through_the_console_script("postgresql://nobody@127.0.0.1:1/none", collector)
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith("error: cannot use the audit log: connection failed")
    assert line.endswith("— The database cannot be reached. Check DATABASE_URL and that the server is up.")
    assert collector.received() == []


def test_cli_dry_run_validates_without_auditing(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    result = runner.invoke(
        args=[
            *"send ClusterPreflightChecksFailed --scope user=1,project=2 --prop cloud_provider=aws".split(),
            *"--prop failed_checks=a --prop failed_checks=b --dry-run".split(),
        ]
    )
    assert result.exit_code == 0, result.output
    assert '"failed_checks": [\n      "a",\n      "b"\n    ]' in result.stdout
    assert _statuses(app) == [] and collector.received() == []


def test_cli_send_fills_the_scope_from_a_preset(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:

    from webapp.tester.models import ScopePreset

    with app.app_context():
        db.session.add(
            ScopePreset(
                name="demo",
                ids={"user_id": 5, "project_id": 6, "cluster_id": 8},
                created_by="t",
                created_at=datetime.now(UTC),
            )
        )
        db.session.commit()
    # The preset's cluster id is more than a project-scoped event takes: it fills only what the scope
    # has; naming an id the scope lacks is refused.
    result = runner.invoke(args=["send", "ProjectCreate", "--preset", "demo", "--scope", "project=7"])
    assert result.exit_code == 0, result.output
    assert collector.received()[0]["userId"] == "5" and collector.received()[0]["properties"] == {
        "proj_id": 7
    }
    extra = runner.invoke(args=["send", "ProjectCreate", "--preset", "demo", "--scope", "cluster=9"])
    assert (extra.exit_code, extra.stderr) == (
        2,
        "error: not sent: --scope cluster: New Project Event is scoped to Project: no 'cluster_id' "
        "(its ids: user_id, project_id)\n",
    )


def test_destinations_are_parsed_from_json_with_keys_from_other_variables() -> None:
    parsed = parse_destinations(
        '{"staging": {"write_key_env": "STAGING_KEY"},'
        ' "prod": {"write_key": "p", "host": "https://x.example/", "production": true}}',
        {"STAGING_KEY": "s3cret"},
    )
    assert parsed == (
        Destination("staging", "https://api.segment.io", False, "s3cret"),
        Destination("prod", "https://x.example", True, "p"),
    )
    assert "s3cret" not in repr(parsed)
    assert default_destination("k", "http://127.0.0.1:5100").production is False
    assert default_destination("k", "https://api.segment.io").production is True
    assert default_destination(None, "http://localhost:5100").label == DEFAULT_NAME


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "TESTER_DESTINATIONS: not valid JSON"),
        ('{"s": ' + "[" * 3000, "TESTER_DESTINATIONS: not valid JSON: nested too deeply (the limit is 100"),
        (
            '{"s": {"write_key": "k"}, "s": {"write_key": "k2"}}',
            'TESTER_DESTINATIONS: not valid JSON: the key "s" appears twice in one object',
        ),
        ("[]", "TESTER_DESTINATIONS: not a JSON object"),
        ('{"Bad Name": {"write_key": "k"}}', "a name is 1-40 lowercase letters"),
        ('{"default": {"write_key": "k"}}', "'default' is the dashboard's own"),
        ('{"s": {"write_key": ""}}', "write_key must be a non-empty string"),
        ('{"s": {}}', "needs exactly one of write_key and write_key_env"),
        ('{"s": {"write_key_env": "UNSET_VAR"}}', "names 'UNSET_VAR', which is not set"),
        ('{"s": {"write_key": "k", "host": "ftp://x"}}', "host must be an http(s) URL"),
        ('{"s": {"write_key": "k", "production": "yes"}}', "production must be true or false"),
        ('{"s": {"write_key": "k", "prod": true}}', "unknown field(s) prod"),
    ],
)
def test_bad_destinations_fail_with_one_line_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match="TESTER_DESTINATIONS") as caught:
        parse_destinations(raw, {})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_destinations_variable_stops_the_command_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TESTER_DESTINATIONS": "{oops", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run(
        [Path(sys.executable).parent / "event-catalog", "send", "ProjectCreate"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "error: invalid configuration:"
    assert lines[1].startswith("  TESTER_DESTINATIONS: not valid JSON")
    assert len(lines) == 2


def test_api_field_errors_are_named_by_the_request_s_own_keys(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    from webapp.tester.destinations import Destination

    app.config["TESTER_DESTINATIONS"] = (Destination("prod", collector.url, True, "production-key"),)
    off_schema = {
        **CLUSTER_SEND,
        "properties": {"surprise": 1},
        "off_schema": True,
        "destination": "prod",
        "confirm_production": True,
    }
    response = client.post("/api/tester/send", json=off_schema)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["properties"]
    typo = client.post("/api/tester/send", json={**CLUSTER_SEND, "properties": {"cluster_type": "ecs"}})
    assert set(typo.get_json()["error"]["fields"]) == {"properties.cluster_type", "properties.infra_id"}
    assert _statuses(app) == []


def test_api_a_repeated_token_while_the_first_send_is_in_flight_is_409_with_retry_after(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    """It answered 503 (or 202) with a result of nulls: a retrying script could not tell what happened."""
    body = {**CLUSTER_SEND, "token": "slow"}
    first, busy = repeat_in_flight(app, collector, "slow", lambda: client.post("/api/tester/send", json=body))
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    assert busy.get_json()["error"]["message"] == (
        "The token 'slow' is being sent by an earlier request: ask again in a moment for its result "
        "(it is not sent twice)."
    )
    assert first.status_code == 200
    again = client.post("/api/tester/send", json=body)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len(collector.received()) == 1 and _statuses(app) == ["delivered"]


def test_api_a_repeated_token_of_a_send_the_audit_log_never_recorded_is_409(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    """A claim whose send stopped before the audit log (its process gone): the token cannot send."""
    claim_send(app, "lost-1", "lost", claimed_ago=timedelta(hours=1))
    response = client.post("/api/tester/send", json={**CLUSTER_SEND, "token": "lost"})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == (
        "The token 'lost' cannot send again: the first send with this token was not recorded in the audit "
        "log, so nothing was sent. Use a new token."
    )
    assert collector.received() == []


def test_api_off_schema_personal_data_is_masked_at_any_depth_for_the_viewer(
    app: Flask, login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """Only top-level keys named like personal data were masked: a viewer read the nested ones in clear."""
    body = {
        "event": "ProjectCreate",
        "scope": {"user_id": 1, "project_id": 12},
        "off_schema": True,
        "properties": {
            "email": "top@example.com",
            "contact": {"email": "nested@example.com", "first_name": "Ada", "team": "ops"},
            "approvers": [{"phone": "+1 555 0100"}, {"role": "lead"}],
            "plan": "pro",
        },
    }
    sent = login_as(Role.ENGINEER).post("/api/tester/send", json=body)
    assert sent.status_code == 200, sent.get_json()
    [received] = collector.received()
    assert received["properties"]["contact"]["email"] == "nested@example.com"
    answer = login_as(Role.VIEWER).get(f"/api/audit/entries/{received['messageId']}")
    assert answer.status_code == 200
    for clear in ("top@example.com", "nested@example.com", "Ada", "+1 555 0100"):
        assert clear not in answer.get_data(as_text=True), clear
    shown = answer.get_json()["payload"]["properties"]
    assert shown["contact"]["email"].startswith("masked:") and shown["contact"]["first_name"].startswith(
        "masked:"
    )
    assert shown["approvers"][0]["phone"].startswith("masked:") and shown["approvers"][1] == {"role": "lead"}
    assert (shown["contact"]["team"], shown["plan"], shown["proj_id"]) == ("ops", "pro", 12)
