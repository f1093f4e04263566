"""Personal API tokens: the page that creates them, Bearer sign-in on the JSON API, the CLI, the table."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from analytics.audit import AuditEntry
from analytics.collector import Collector
from analytics.queries import as_utc
from webapp.auth import accounts
from webapp.auth.models import ApiToken
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role
from webapp.display_width import display_width
from webapp.extensions import db
from webapp.tester.destinations import Destination

CLUSTER_SEND = {
    "event": "ClusterProvisioningSuccess",
    "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
    "properties": {"cluster_type": "eks", "infra_id": 9},
}
TOKEN = re.compile(r"^ect_[A-Za-z0-9_-]{43}$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client: FlaskClient) -> str:
    found = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/account/tokens").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def create_on_page(client: FlaskClient, name: str, **fields: str) -> Any:
    return client.post("/account/tokens", data={"csrf_token": csrf(client), "name": name, **fields})


def shown_token(page: str) -> str:
    """The token in the page's read-only field."""
    found = re.search(r'<input type="text" id="new-token" value="([^"]*)" readonly', page)
    assert found is not None, "no token shown"
    return html.unescape(found.group(1))


@pytest.fixture
def make_token(app: Flask, make_account: Callable[..., str]) -> Callable[..., str]:
    """A token for an account of `role` (`<role>@example.com` unless named), made as the CLI makes it."""

    def make(role: Role, email: str | None = None, name: str = "ci") -> str:
        from webapp.auth import tokens

        email = make_account(role, email)
        with app.app_context():
            return tokens.create_token(accounts.get_user(email), name, actor="test").secret

    return make


def stored(app: Flask) -> list[ApiToken]:
    with app.app_context():
        return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def actions(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.type == "action").order_by(AuditEntry.id)
        return list(db.session.scalars(query))


# The page


def test_the_page_creates_a_token_shows_it_once_and_the_token_reads_the_api(
    app: Flask, login_as: Callable[..., FlaskClient], anonymous: FlaskClient
) -> None:
    client = login_as(Role.VIEWER)
    empty = client.get("/account/tokens")
    assert empty.status_code == 200 and "You have no API tokens yet." in empty.get_data(as_text=True)
    assert 'href="/account/tokens"' in empty.get_data(as_text=True)  # the header links to it

    created = create_on_page(client, "release CI")
    assert created.status_code == 201
    page = created.get_data(as_text=True)
    secret = shown_token(page)
    assert TOKEN.match(secret)
    assert "Copy it now, it will not be shown again" in page
    assert (
        'curl -H "Authorization: Bearer $EVENT_CATALOG_TOKEN" http://localhost/api/catalog'
        in html.unescape(page)
    )

    later = client.get("/account/tokens").get_data(as_text=True)
    assert secret not in later and 'id="new-token"' not in later
    assert "release CI" in later and f"{secret[:8]}…" in later and "never" in later

    [record] = stored(app)
    assert record.token_hash != secret and secret not in (record.prefix, record.name)
    # Unless chosen otherwise, a token works for 90 days; the page says until when.
    assert record.expires_at is not None
    expires_at = as_utc(record.expires_at)
    assert expires_at - as_utc(record.created_at) == timedelta(days=90)
    assert f"It expires on {expires_at:%Y-%m-%d %H:%M} UTC." in page
    assert f'<td data-label="Expires">{expires_at:%Y-%m-%d %H:%M} UTC</td>' in later
    [action] = actions(app)
    assert (action.event, action.actor) == ("API Token Created", "viewer@example.com")
    assert action.payload["properties"] == {
        "email": "viewer@example.com",
        "token_id": record.id,
        "name": "release CI",
        "prefix": secret[:8],
        "expires_at": expires_at.isoformat(),
    }
    assert secret not in str(action.payload)

    api = anonymous.get("/api/catalog", headers=bearer(secret))
    assert api.status_code == 200 and "events" in api.get_json()
    assert (
        anonymous.get("/api/catalog/events/ClusterProvisioningSuccess", headers=bearer(secret)).status_code
        == 200
    )
    assert "Set-Cookie" not in api.headers  # a script's request starts no session


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("", 400, "Give the token a name, e.g. the script or CI job that will use it."),
        ("   ", 400, "Give the token a name"),
        ("x" * 101, 400, "The name must have at most 100 characters."),
        # Any role names a token, and an admin's `users token list` printed the name in a terminal.
        ("ci\x1b[2J\x1b]0;pwned\x07", 400, "A name cannot hold a control character (U+0007, U+001B)."),
        ("prod \u202eevil", 400, "A name cannot hold a direction control character (U+202E)"),
        (
            "CI",
            409,
            "An active token of viewer@example.com is already named &#39;CI&#39;: choose another name.",
        ),
    ],
)
def test_a_bad_name_is_refused_next_to_the_field(
    app: Flask, login_as: Callable[..., FlaskClient], name: str, status: int, error: str
) -> None:
    client = login_as(Role.VIEWER)
    assert create_on_page(client, "CI").status_code == 201
    response = create_on_page(client, name)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert '<ul class="field-errors" id="name-errors"><li>' + error in page
    assert 'id="new-token"' not in page
    assert len(stored(app)) == 1


def _assert_lifetime_stored_and_audited(app: Flask, days: int | None) -> ApiToken:
    """The one token stored expires `days` after its creation (never for None), as its audit action
    says: that token."""
    [record] = stored(app)
    if days is None:
        assert record.expires_at is None
    else:
        assert record.expires_at is not None
        assert as_utc(record.expires_at) - as_utc(record.created_at) == timedelta(days=days)
    [action] = actions(app)
    assert action.payload["properties"]["expires_at"] == (
        as_utc(record.expires_at).isoformat() if record.expires_at is not None else None
    )
    return record


@pytest.mark.parametrize(("choice", "days"), [("30", 30), ("365", 365), ("never", None)])
def test_the_page_sets_the_chosen_lifetime(
    app: Flask, login_as: Callable[..., FlaskClient], choice: str, days: int | None
) -> None:
    client = login_as(Role.VIEWER)
    form = client.get("/account/tokens").get_data(as_text=True)
    assert '<option selected value="90">90 days</option>' in form
    assert '<option value="never">No expiry</option>' in form
    created = create_on_page(client, "ci", expires_in=choice)
    assert created.status_code == 201
    _assert_lifetime_stored_and_audited(app, days)
    if days is None:
        assert "It never expires" in created.get_data(as_text=True)
        assert '<td data-label="Expires">never</td>' in client.get("/account/tokens").get_data(as_text=True)


@pytest.mark.parametrize("lifetime", ["9999", "7", "0", ""])
def test_a_lifetime_the_page_does_not_offer_is_refused_next_to_the_field(
    app: Flask, login_as: Callable[..., FlaskClient], lifetime: str
) -> None:
    response = create_on_page(login_as(Role.VIEWER), "ci", expires_in=lifetime)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<ul class="field-errors" id="expires_in-errors"><li>Not a valid choice.' in page
    # The default is selected again: nothing selected showed "30 days", which a second submit sent.
    assert '<option selected value="90">90 days</option>' in page
    assert stored(app) == []


def test_a_refused_name_keeps_the_lifetime_chosen(login_as: Callable[..., FlaskClient]) -> None:
    page = create_on_page(login_as(Role.VIEWER), "", expires_in="365").get_data(as_text=True)
    assert '<ul class="field-errors" id="name-errors">' in page
    assert '<option selected value="365">1 year</option>' in page


def expire(app: Flask) -> datetime:
    """Make every token's lifetime end a minute ago, as time passing would."""
    ended = datetime.now(UTC) - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(update(ApiToken).values(expires_at=ended))
        db.session.commit()
    return ended


def test_an_expired_token_shows_as_expired_and_holds_its_name_until_revoked(
    app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    client = login_as(Role.VIEWER)
    assert create_on_page(client, "ci").status_code == 201
    ended = expire(app)
    page = client.get("/account/tokens").get_data(as_text=True)
    assert f'<td data-label="Expires">{ended:%Y-%m-%d %H:%M} UTC</td>' in page
    assert '<td data-label="Status">expired</td>' in page and 'class="revoked"' in page
    again = create_on_page(client, "ci")
    assert again.status_code == 409
    assert (
        "An expired token of viewer@example.com is still named &#39;ci&#39;: "
        "revoke it, or choose another name." in again.get_data(as_text=True)
    )
    [record] = stored(app)
    assert (
        client.post(f"/account/tokens/{record.id}/revoke", data={"csrf_token": csrf(client)}).status_code
        == 303
    )
    assert create_on_page(client, "ci").status_code == 201


def test_revoking_on_the_page_frees_the_name_and_refuses_the_token(
    app: Flask, login_as: Callable[..., FlaskClient], anonymous: FlaskClient
) -> None:
    client = login_as(Role.ENGINEER)
    secret = shown_token(create_on_page(client, "CI").get_data(as_text=True))
    [record] = stored(app)
    response = client.post(f"/account/tokens/{record.id}/revoke", data={"csrf_token": csrf(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/account/tokens"
    page = client.get("/account/tokens").get_data(as_text=True)
    assert f"Revoked the token “CI” ({secret[:8]}…)." in page and "revoked 20" in page
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 401
    assert create_on_page(client, "CI").status_code == 201  # a revoked token's name is free again
    assert [entry.event for entry in actions(app)] == [
        "API Token Created",
        "API Token Revoked",
        "API Token Created",
    ]


def test_revoking_a_token_revoked_meanwhile_says_it_already_was(
    app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    """A Revoke from a page opened before another tab revoked the token said nothing at all."""
    client = login_as(Role.ENGINEER)
    secret = shown_token(create_on_page(client, "CI").get_data(as_text=True))
    [record] = stored(app)
    for _ in range(2):
        response = client.post(f"/account/tokens/{record.id}/revoke", data={"csrf_token": csrf(client)})
        assert response.status_code == 303 and response.headers["Location"] == "/account/tokens"
    [record] = stored(app)
    assert record.revoked_at is not None
    page = client.get("/account/tokens").get_data(as_text=True)
    when = record.revoked_at.strftime("%Y-%m-%d %H:%M")
    assert f"The token “CI” ({secret[:8]}…) was already revoked, on {when} UTC." in page
    assert [entry.event for entry in actions(app)] == ["API Token Created", "API Token Revoked"]


def test_revoking_needs_the_csrf_token_and_only_reaches_your_own_tokens(
    app: Flask, login_as: Callable[..., FlaskClient], make_token: Callable[..., str]
) -> None:
    make_token(Role.ADMIN)
    [theirs] = stored(app)
    client = login_as(Role.VIEWER)
    assert client.post(f"/account/tokens/{theirs.id}/revoke").status_code == 400
    assert (
        client.post(f"/account/tokens/{theirs.id}/revoke", data={"csrf_token": csrf(client)}).status_code
        == 404
    )
    assert all(record.revoked_at is None for record in stored(app))


def test_the_page_works_behind_the_sign_in_proxy(make_app: Callable[..., Flask]) -> None:
    app = make_app(AUTH_MODE="proxy", TRUSTED_PROXIES=parse_networks("10.0.0.0/8"))
    client = app.test_client()
    through_proxy: dict[str, Any] = {
        "headers": {"X-Forwarded-Email": "grace@example.com"},
        "environ_base": {"REMOTE_ADDR": "10.1.2.3"},
    }
    page = client.get("/account/tokens", **through_proxy).get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert token is not None
    created = client.post(
        "/account/tokens", data={"csrf_token": token.group(1), "name": "ci"}, **through_proxy
    )
    assert created.status_code == 201
    secret = shown_token(created.get_data(as_text=True))
    # A script reaches the API without the proxy's header, from anywhere: the token is enough.
    api = app.test_client().get(
        "/api/catalog", headers=bearer(secret), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert api.status_code == 200


# Bearer sign-in on the JSON API


def test_a_token_sends_as_its_account_without_a_session_or_csrf_token(
    app: Flask, anonymous: FlaskClient, collector: Collector, make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.ENGINEER)
    response = anonymous.post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "delivered"
    [received] = collector.received()
    assert received["context"]["eventCatalog"]["actor"] == "engineer@example.com"
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "track")).one()
        assert (entry.actor, entry.source) == ("engineer@example.com", "tester")
    assert anonymous.get("/api/tester/destinations", headers=bearer(secret)).status_code == 200


def test_a_viewers_token_cannot_send(
    anonymous: FlaskClient, collector: Collector, make_token: Callable[..., str]
) -> None:
    response = anonymous.post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(make_token(Role.VIEWER)))
    assert response.status_code == 403 and response.mimetype == "application/json"
    assert response.get_json()["error"]["message"].startswith("Your role (viewer) cannot do this")
    assert collector.received() == []


def test_only_an_admins_token_sends_to_a_production_destination(
    app: Flask, anonymous: FlaskClient, collector: Collector, make_token: Callable[..., str]
) -> None:
    app.config["TESTER_DESTINATIONS"] = (Destination("prod", collector.url, True, "production-key"),)
    to_production = {**CLUSTER_SEND, "destination": "prod", "confirm_production": True}
    refused = anonymous.post(
        "/api/tester/send", json=to_production, headers=bearer(make_token(Role.ENGINEER))
    )
    assert refused.status_code == 403
    assert "Your role (engineer) cannot do this; it needs admin." in refused.get_json()["error"]["message"]
    assert collector.received() == []
    sent = anonymous.post("/api/tester/send", json=to_production, headers=bearer(make_token(Role.ADMIN)))
    assert sent.status_code == 200 and len(collector.received()) == 1


def test_the_role_is_the_accounts_role_now(
    app: Flask, anonymous: FlaskClient, collector: Collector, make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.ENGINEER)
    make_token(Role.ADMIN)
    with app.app_context():
        accounts.set_role("engineer@example.com", Role.VIEWER, actor="test")
    assert anonymous.post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(secret)).status_code == 403


def test_a_token_shares_its_persons_send_limit(
    app: Flask, login_as: Callable[..., FlaskClient], collector: Collector, make_token: Callable[..., str]
) -> None:
    app.config["TESTER_LIMIT_PER_PERSON"] = "1 per minute"
    secret = make_token(Role.ENGINEER)
    assert login_as(Role.ENGINEER).post("/api/tester/send", json=CLUSTER_SEND).status_code == 200
    limited = app.test_client().post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(secret))
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def _refused(response: Any, message: str) -> None:
    assert response.status_code == 401 and response.mimetype == "application/json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    error = response.get_json()["error"]
    assert (error["status"], error["name"]) == (401, "Unauthorized")
    assert message in error["message"]


def test_revoked_unknown_and_empty_tokens_get_401_with_the_bearer_challenge(
    app: Flask,
    anonymous: FlaskClient,
    collector: Collector,
    make_token: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = make_token(Role.ENGINEER)
    with app.app_context():
        from webapp.auth import tokens

        [record] = db.session.scalars(select(ApiToken)).all()
        tokens.revoke_token(record, actor="test")
    _refused(
        anonymous.get("/api/catalog", headers=bearer(secret)),
        f"This API token ({secret[:8]}…, “ci”) was revoked",
    )
    _refused(anonymous.post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(secret)), "was revoked on")
    _refused(anonymous.get("/api/catalog", headers=bearer("ect_" + "x" * 43)), "This API token is unknown")
    _refused(anonymous.get("/api/catalog", headers={"Authorization": "Bearer "}), "names no token")
    assert collector.received() == []
    assert f"refused GET /api/catalog from 127.0.0.1: This API token ({secret[:8]}…" in caplog.text
    assert secret not in caplog.text


def test_an_expired_token_gets_401_saying_it_expired(
    app: Flask, anonymous: FlaskClient, collector: Collector, make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.ENGINEER)
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 200
    ended = expire(app)
    for response in (
        anonymous.get("/api/catalog", headers=bearer(secret)),
        anonymous.post("/api/tester/send", json=CLUSTER_SEND, headers=bearer(secret)),
    ):
        _refused(
            response,
            f"This API token ({secret[:8]}…, “ci”) expired on {ended:%Y-%m-%d %H:%M} UTC: "
            "create a new one on the API tokens page.",
        )
        assert "unknown" not in response.get_json()["error"]["message"]
    assert collector.received() == []


EXPORTS = ("/audit/export.ndjson", "/audit/export.csv")
"""The audit log's downloads, which take a token as the API does."""


@pytest.mark.parametrize("path", EXPORTS)
def test_a_refused_token_on_an_export_gets_the_apis_json_401(
    app: Flask, anonymous: FlaskClient, make_token: Callable[..., str], path: str
) -> None:
    """It was a 302 to the sign-in page, which `curl -L` saved as the download."""
    secret = make_token(Role.ADMIN)
    assert anonymous.get(path, headers=bearer(secret)).status_code == 200
    ended = expire(app)
    _refused(anonymous.get(path, headers=bearer(secret)), f"expired on {ended:%Y-%m-%d %H:%M} UTC")
    _refused(anonymous.get(path, headers={**bearer(secret), "Accept": "application/json"}), "expired on")
    _refused(anonymous.get(path, headers=bearer("ect_" + "x" * 43)), "This API token is unknown")
    _refused(anonymous.get(path, headers={"Authorization": "Bearer "}), "names no token")


@pytest.mark.parametrize("path", EXPORTS)
def test_an_export_without_a_token_answers_a_json_client_401_and_a_browser_the_sign_in_page(
    anonymous: FlaskClient, make_account: Callable[..., str], path: str
) -> None:
    make_account(Role.ADMIN)
    _refused(anonymous.get(path, headers={"Accept": "application/json"}), "Send an API token")
    browser = anonymous.get(path, headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 302 and browser.headers["Location"].startswith("/login?next=")


def test_a_token_on_an_export_keeps_the_accounts_limits(
    app: Flask, anonymous: FlaskClient, make_token: Callable[..., str]
) -> None:
    """A viewer's token leaves out the admin-only account actions, as a viewer's page does."""
    admin, viewer = make_token(Role.ADMIN), make_token(Role.VIEWER)
    everything = anonymous.get("/audit/export.ndjson", headers=bearer(admin)).get_data(as_text=True)
    shown = anonymous.get("/audit/export.ndjson", headers=bearer(viewer)).get_data(as_text=True)
    assert "API Token Created" in everything and "API Token Created" not in shown


@pytest.mark.parametrize("path", EXPORTS)
def test_a_script_s_bad_export_filter_is_the_apis_json_400(
    login_as: Callable[..., FlaskClient], anonymous: FlaskClient, make_token: Callable[..., str], path: str
) -> None:
    """With a token, or asking for JSON, a bad filter was a text/plain 400 while the same URL's 401 is
    the API's JSON error: a script reading `error.fields` got text. A browser still gets the lines."""
    viewer = make_token(Role.VIEWER)
    session = login_as(Role.VIEWER)
    for client, headers in (
        (anonymous, bearer(viewer)),
        (anonymous, {**bearer(viewer), "Accept": "application/json"}),
        (session, {"Accept": "application/json"}),
    ):
        for query, field in (("stauts=x&since=yesterday", "stauts"), ("event=New%00User", "event")):
            refused = client.get(f"{path}?{query}", headers=headers)
            assert refused.status_code == 400 and refused.mimetype == "application/json"
            error = refused.get_json()["error"]
            assert (error["status"], error["name"]) == (400, "Bad Request") and field in error["fields"]
    browser = session.get(f"{path}?stauts=x", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 400 and browser.mimetype == "text/plain"
    assert browser.get_data(as_text=True).startswith("stauts: unknown parameter")


def test_a_token_without_expiry_keeps_working(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    from webapp.auth import tokens

    make_account(Role.VIEWER)
    with app.app_context():
        user = accounts.get_user("viewer@example.com")
        secret = tokens.create_token(user, "ci", actor="test", lifetime_days=None).secret
    assert stored(app)[0].expires_at is None
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 200


def test_a_disabled_accounts_token_gets_401_even_beside_a_session(
    app: Flask, login_as: Callable[..., FlaskClient], make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.ENGINEER)
    with app.app_context():
        accounts.disable_user("engineer@example.com", actor="test")
    _refused(
        app.test_client().get("/api/catalog", headers=bearer(secret)),
        "The account engineer@example.com is disabled, so its API tokens are refused.",
    )
    # The token decides an API request it is on; a signed-in admin's cookie beside it does not count.
    _refused(login_as(Role.ADMIN).get("/api/catalog", headers=bearer(secret)), "is disabled")


def test_a_token_refused_on_the_public_catalog_api_is_still_401(
    make_app: Callable[..., Flask], make_account: Callable[..., str]
) -> None:
    app = make_app(CATALOG_API_PUBLIC=True)
    assert app.test_client().get("/api/catalog").status_code == 200
    _refused(app.test_client().get("/api/catalog", headers=bearer("ect_nope")), "unknown")


def test_a_bearer_header_does_not_sign_anyone_in_to_the_pages(
    anonymous: FlaskClient, login_as: Callable[..., FlaskClient], make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.ADMIN)
    for path in ("/audit/", "/account/tokens", "/users/"):
        response = anonymous.get(path, headers=bearer(secret))
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    # Ignored, not refused: a page with a session keeps the session's rules, whatever the header says.
    viewer = login_as(Role.VIEWER)
    assert viewer.get("/audit/", headers=bearer("ect_nope")).status_code == 200
    assert viewer.get("/users/", headers=bearer(secret)).status_code == 403


def test_last_used_is_written_at_most_once_a_minute(
    app: Flask, anonymous: FlaskClient, make_token: Callable[..., str]
) -> None:
    secret = make_token(Role.VIEWER)
    [fresh] = stored(app)
    assert fresh.last_used_at is None
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 200
    [used] = stored(app)
    assert used.last_used_at is not None
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 200
    assert stored(app)[0].last_used_at == used.last_used_at
    earlier = datetime.now(UTC) - timedelta(minutes=2)
    with app.app_context():
        db.session.execute(update(ApiToken).values(last_used_at=earlier))
        db.session.commit()
    assert anonymous.get("/api/catalog", headers=bearer(secret)).status_code == 200
    [again] = stored(app)
    assert again.last_used_at is not None and again.last_used_at > used.last_used_at


# The command line


def event_catalog(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `event-catalog` command on the test's database, as an admin's shell would."""
    return subprocess.run(
        [Path(sys.executable).parent / "event-catalog", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_the_token_table_lines_up_names_in_any_script(app: Flask, make_token: Callable[..., str]) -> None:
    """`CI 東京` took four terminal columns but counted three: its row's later columns were shifted."""
    names = ["ci", "CI 東京", "🚀 deploy", "cafe\u0301"]
    for name in names:
        make_token(Role.ENGINEER, name=name)
    lines = app.test_cli_runner().invoke(args=["users", "token", "list"]).stdout.splitlines()
    header = lines[0]
    column = display_width(header[: header.index("PREFIX")])
    for line in lines[1:]:
        prefix = re.search(r"ect_\S+…", line)
        assert prefix is not None, line
        assert display_width(line[: prefix.start()]) == column, line


def test_users_token_create_prints_only_the_token_and_list_and_revoke_follow(
    app: Flask, sqlite_url: str, anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.ENGINEER)
    created = event_catalog(
        sqlite_url, "users", "token", "create", "Engineer@Example.com", "--name", "deploy job"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert TOKEN.match(secret) and created.stdout == secret + "\n"  # what `TOKEN=$(…)` keeps
    assert created.stderr.count("\n") == 1
    [record] = stored(app)
    assert record.expires_at is not None  # 90 days, as on the page
    expires = f"{as_utc(record.expires_at):%Y-%m-%d %H:%M}"
    assert f"for engineer@example.com, expiring {expires} UTC: it will not be shown again" in created.stderr
    assert anonymous.get("/api/tester/destinations", headers=bearer(secret)).status_code == 200

    runner = app.test_cli_runner()
    listing = runner.invoke(args=["users", "token", "list"]).stdout.splitlines()
    assert listing[0].split() == [
        "ID", "ACCOUNT", "NAME", "PREFIX", "CREATED", "(UTC)", "LAST", "USED", "(UTC)", "EXPIRES", "(UTC)",
        "STATUS",
    ]  # fmt: skip
    assert listing[1].split()[:5] == [
        str(record.id),
        "engineer@example.com",
        "deploy",
        "job",
        f"{secret[:8]}…",
    ]
    assert listing[1].split()[-3:] == [*expires.split(), "active"]
    assert "never" not in listing[1]  # used just now

    revoked = runner.invoke(args=["users", "token", "revoke", str(record.id)])
    assert revoked.exit_code == 0
    assert revoked.stdout == f"revoked API token {record.id} ('deploy job') of engineer@example.com\n"
    [_, row] = runner.invoke(args=["users", "token", "list", "engineer@example.com"]).stdout.splitlines()
    assert row.split()[-3] == "revoked"
    # For scripts: one JSON document, times in ISO 8601.
    listed = runner.invoke(args=["users", "token", "list", "--format", "json"])
    [token] = json.loads(listed.stdout)["tokens"]
    assert (token["id"], token["account"], token["name"]) == (record.id, "engineer@example.com", "deploy job")
    assert token["prefix"] == secret[:8] and token["status"] == "revoked"
    assert token["expires"] == as_utc(record.expires_at).isoformat()
    assert token["revoked"] is not None and token["last_used"] is not None
    assert anonymous.get("/api/tester/destinations", headers=bearer(secret)).status_code == 401
    again = runner.invoke(args=["users", "token", "revoke", str(record.id)])
    assert again.exit_code == 0 and "was already revoked" in again.stdout

    recorded = actions(app)
    assert [entry.event for entry in recorded] == ["API Token Created", "API Token Revoked"]
    assert all(entry.actor is not None and entry.actor.startswith("cli:") for entry in recorded)
    assert secret not in str([entry.payload for entry in recorded])


@pytest.mark.parametrize(("args", "days"), [(["--expires-in", "7"], 7), (["--no-expiry"], None)])
def test_users_token_create_takes_a_lifetime(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str], args: list[str], days: int | None
) -> None:
    make_account(Role.VIEWER)
    created = runner.invoke(args=["users", "token", "create", "viewer@example.com", "--name", "ci", *args])
    assert created.exit_code == 0, created.output
    record = _assert_lifetime_stored_and_audited(app, days)
    if days is None:
        assert ", never expiring: " in created.stderr
    [_, row] = runner.invoke(args=["users", "token", "list"]).stdout.splitlines()
    assert row.split()[-3:] == ["never", "never", "active"] if days is None else row.endswith("active")
    [token] = json.loads(runner.invoke(args=["users", "token", "list", "--format", "json"]).stdout)["tokens"]
    assert token["expires"] == (None if days is None else as_utc(record.expires_at).isoformat())


def test_users_token_list_shows_an_expired_token_as_expired(
    app: Flask, runner: FlaskCliRunner, make_token: Callable[..., str]
) -> None:
    make_token(Role.VIEWER)
    ended = f"{expire(app):%Y-%m-%d %H:%M}"
    [_, row] = runner.invoke(args=["users", "token", "list"]).stdout.splitlines()
    assert " ".join(row.split()[-6:]) == f"never {ended} expired {ended}"
    [token] = json.loads(runner.invoke(args=["users", "token", "list", "--format", "json"]).stdout)["tokens"]
    assert token["status"] == "expired" and token["revoked"] is None


def test_users_token_list_escapes_what_a_name_stored_earlier_holds(
    app: Flask, runner: FlaskCliRunner, make_token: Callable[..., str]
) -> None:
    """A name stored before names refused control characters still reaches an admin's terminal."""
    make_token(Role.VIEWER, name="ci")
    with app.app_context():
        db.session.execute(update(ApiToken).values(name="ci\x1b[2J\x1b]0;pwned\x07 \u202eevil"))
        db.session.commit()
    listed = runner.invoke(args=["users", "token", "list"]).stdout
    assert "\x1b" not in listed and "\x07" not in listed and "\u202e" not in listed
    assert "ci\\x1b[2J\\x1b]0;pwned\\x07 \\u202eevil" in listed


def test_users_token_list_json_status_is_one_fixed_word(
    runner: FlaskCliRunner, make_account: Callable[..., str], make_token: Callable[..., str]
) -> None:
    make_account(Role.ADMIN)
    make_token(Role.VIEWER)
    make_token(Role.ENGINEER)
    assert runner.invoke(args=["users", "disable", "engineer@example.com"]).exit_code == 0
    listed = json.loads(runner.invoke(args=["users", "token", "list", "--format", "json"]).stdout)
    statuses = {token["account"]: token["status"] for token in listed["tokens"]}
    assert statuses == {"viewer@example.com": "active", "engineer@example.com": "account_disabled"}
    table = runner.invoke(args=["users", "token", "list", "engineer@example.com"]).stdout
    assert table.splitlines()[1].endswith("account disabled")


def test_users_token_create_warns_that_a_disabled_account_s_token_is_refused(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str]
) -> None:
    make_account(Role.ADMIN)
    make_account(Role.VIEWER)
    assert runner.invoke(args=["users", "disable", "viewer@example.com"]).exit_code == 0
    created = runner.invoke(args=["users", "token", "create", "viewer@example.com", "--name", "later"])
    assert created.exit_code == 0 and TOKEN.match(created.stdout.strip())
    assert created.stderr.splitlines()[-1] == (
        "warning: viewer@example.com is disabled: the token is refused until the account is enabled"
    )


def test_users_token_list_says_when_there_are_none(
    runner: FlaskCliRunner, make_account: Callable[..., str]
) -> None:
    assert runner.invoke(args=["users", "token", "list"]).stdout == "no API tokens yet\n"
    make_account(Role.VIEWER)
    assert runner.invoke(args=["users", "token", "list", "viewer@example.com"]).stdout == (
        "no API tokens for viewer@example.com\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "nobody@example.com", "--name", "ci"], "error: there is no account 'nobody@example.com'"),
        (["create", "viewer@example.com", "--name", " "], "error: give the token a name"),
        (
            ["create", "viewer@example.com", "--name", "x" * 101],
            "error: the name must have at most 100 characters",
        ),
        (
            ["create", "viewer@example.com", "--name", "taken"],
            "error: an active token of viewer@example.com is already named 'taken': choose another name",
        ),
        (["create", "viewer@example.com"], "error: Missing option '--name'"),
        (
            ["create", "viewer@example.com", "--name", "ci", "--expires-in", "0"],
            "error: a token's lifetime is 1 to 3650 days, not 0: for a token that works until revoked, "
            "choose no expiry",
        ),
        (
            ["create", "viewer@example.com", "--name", "ci", "--expires-in", "99999999999"],
            "error: a token's lifetime is 1 to 3650 days, not 99999999999",
        ),
        (
            ["create", "viewer@example.com", "--name", "ci", "--expires-in", "a week"],
            "error: Invalid value for '--expires-in': 'a week' is not a valid integer",
        ),
        (
            ["create", "viewer@example.com", "--name", "ci", "--expires-in", "7", "--no-expiry"],
            "error: --expires-in and --no-expiry contradict each other: give one of them",
        ),
        (["list", "nobody@example.com"], "error: there is no account 'nobody@example.com'"),
        (["revoke", "999"], "error: there is no API token 999"),
        (["revoke", "first"], "error: Invalid value for 'ID': 'first' is not a valid integer"),
    ],
)
def test_users_token_bad_input_is_one_line_and_exit_2(
    sqlite_url: str, make_token: Callable[..., str], args: list[str], message: str
) -> None:
    make_token(Role.VIEWER, name="taken")
    done = event_catalog(sqlite_url, "users", "token", *args)
    assert (done.returncode, done.stdout, len(done.stderr.splitlines())) == (2, "", 1), done.stderr
    assert done.stderr.startswith(message)


# The table, on SQLite and PostgreSQL


def test_the_table_keeps_hashes_unique_and_names_unique_among_active_tokens(database_url: str) -> None:
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    now = datetime.now(UTC)
    with app.app_context():
        user = accounts.add_user("ada@example.com", None, Role.VIEWER, actor="test")
        row = {"user_id": user.id, "name": "ci", "prefix": "ect_abcd", "created_at": now}
        db.session.execute(insert(ApiToken).values(**row, token_hash="a" * 64))
        db.session.commit()
        for clash in ({**row, "name": "other", "token_hash": "a" * 64}, {**row, "token_hash": "b" * 64}):
            with pytest.raises(IntegrityError):
                db.session.execute(insert(ApiToken).values(**clash))
            db.session.rollback()
        db.session.execute(update(ApiToken).values(revoked_at=now))
        db.session.execute(insert(ApiToken).values(**row, token_hash="b" * 64))
        db.session.commit()
        assert [(t.name, t.active) for t in db.session.scalars(select(ApiToken).order_by(ApiToken.id))] == [
            ("ci", False),
            ("ci", True),
        ]
        db.session.remove()
        db.engine.dispose()


def test_tokens_made_before_expiries_existed_keep_working_without_one(database_url: str) -> None:
    """Migration 0017 adds the column empty: no token made before it starts to expire."""
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "downgrade", "0016_ended_sessions", "--yes"]).exit_code == 0
    with app.app_context():
        user = accounts.add_user("ada@example.com", None, Role.VIEWER, actor="test")
        db.session.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) "
                "VALUES (:user_id, 'old', 'ect_abcd', :hash, :now)"
            ),
            {"user_id": user.id, "hash": "a" * 64, "now": datetime.now(UTC)},
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        [record] = db.session.scalars(select(ApiToken)).all()
        assert (record.name, record.expires_at, record.expired) == ("old", None, False)
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("ident", [2**31, 2**63])
def test_users_token_revoke_of_an_id_past_the_column_is_no_such_token(database_url: str, ident: int) -> None:
    """`api_tokens.id` is 32-bit on PostgreSQL: a larger id said "cannot use the tokens table"."""
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    result = app.test_cli_runner().invoke(args=["users", "token", "revoke", str(ident)])
    assert result.exit_code != 0 and result.stderr == f"error: there is no API token {ident}\n"
    with app.app_context():
        db.engine.dispose()
