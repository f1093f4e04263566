"""Personal data in the audit pages: masked for viewers on every URL, unmasked for engineers with the key."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from auditlog import record
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStore
from webapp.audit.personal import NO_KEY_NOTE, VIEWER_NOTE
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

EMAIL = "ada.lovelace@example.com"

Login = Callable[..., FlaskClient]


def _store(app: Flask) -> AuditStore:
    with app.app_context():
        return analytics_client.store()


def _register(app: Flask) -> str:
    """An identify whose email the app's own store masks (and seals, when it has the key)."""
    return record(_store(app), "Register", scope={"user_id": 7}, properties={"email": EMAIL, "github": True})


@pytest.fixture
def keyed_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())


def _urls(message_id: str) -> list[str]:
    """Every URL that shows or hands out an entry's payload."""
    return [
        f"/audit/entries/{message_id}",
        "/audit/export.csv?user_id=7",
        "/audit/export.ndjson?user_id=7",
        "/audit/?user_id=7",
        "/audit/tail?user_id=7",
    ]


def _asked_as(url: str) -> dict[str, str]:
    """The headers the page asks `url` with: the live tail is htmx's poll (opened alone, it redirects)."""
    return {"HX-Request": "true"} if url.startswith("/audit/tail") else {}


def test_a_viewer_gets_only_masks_by_any_url(keyed_app: Flask, login_as: Login) -> None:
    message_id = _register(keyed_app)
    viewer = login_as(Role.VIEWER, on=keyed_app)
    for url in _urls(message_id):
        response = viewer.get(url, headers=_asked_as(url))
        assert response.status_code == 200, url
        assert EMAIL not in response.get_data(as_text=True), url
    page = viewer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "masked:" in page and VIEWER_NOTE in page
    export = viewer.get("/audit/export.ndjson?user_id=7").get_data(as_text=True)
    assert json.loads(export)["payload"]["traits"]["email"].startswith("masked:")
    # A viewer cannot reach the pages that would restore the message either.
    assert viewer.get(f"/tester/?from={message_id}").status_code == 403


def test_a_viewer_cannot_search_personal_data_by_its_value(keyed_app: Flask, login_as: Login) -> None:
    """It matched through the mask: a viewer could try guessed emails and learn whose they were."""
    message_id = _register(keyed_app)
    search = {"prop": f"email = {EMAIL}"}
    viewer = login_as(Role.VIEWER, on=keyed_app)
    page = viewer.get("/audit/", query_string=search).get_data(as_text=True)
    assert "Searching personal data by its value is for engineers and admins." in page
    assert message_id not in page
    export = viewer.get("/audit/export.ndjson", query_string=search)
    assert export.status_code == 400 and message_id not in export.get_data(as_text=True)
    assert (
        viewer.get("/audit/", query_string={"prop": "github = true"}).get_data(as_text=True).count(message_id)
    )
    engineer = login_as(Role.ENGINEER, on=keyed_app)
    assert message_id in engineer.get("/audit/", query_string=search).get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.ADMIN])
def test_engineers_and_admins_see_the_real_values_with_the_key(
    keyed_app: Flask, login_as: Login, role: Role
) -> None:
    message_id = _register(keyed_app)
    person = login_as(role, on=keyed_app)
    page = person.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL in page and "unmasked for your role" in page and VIEWER_NOTE not in page
    [line] = person.get("/audit/export.ndjson?user_id=7").get_data(as_text=True).splitlines()
    assert json.loads(line)["payload"]["traits"]["email"] == EMAIL
    csv = person.get("/audit/export.csv?user_id=7").get_data(as_text=True)
    assert EMAIL in csv and "masked:" not in csv


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER, Role.ADMIN])
def test_a_token_downloads_the_exports_as_its_accounts_role(
    keyed_app: Flask, make_account: Callable[..., str], role: Role
) -> None:
    """A script's token took the export to the sign-in page; it now reads what its person reads."""
    from webapp.auth import accounts, tokens

    message_id = _register(keyed_app)
    with keyed_app.app_context():
        secret = tokens.create_token(accounts.get_user(make_account(role)), "ci", actor="test").secret
    script = keyed_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    ndjson = script.get("/audit/export.ndjson?user_id=7", headers=headers)
    assert ndjson.status_code == 200 and ndjson.mimetype == "application/x-ndjson"
    [line] = ndjson.get_data(as_text=True).splitlines()
    shown = json.loads(line)
    assert shown["message_id"] == message_id
    csv = script.get("/audit/export.csv?user_id=7", headers=headers)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    if role is Role.VIEWER:
        assert shown["payload"]["traits"]["email"].startswith("masked:")
        assert EMAIL not in csv.get_data(as_text=True) and "masked:" in csv.get_data(as_text=True)
    else:
        assert shown["payload"]["traits"]["email"] == EMAIL
        assert EMAIL in csv.get_data(as_text=True) and "masked:" not in csv.get_data(as_text=True)


def test_the_stored_entry_stays_masked_whoever_reads_it(keyed_app: Flask, login_as: Login) -> None:
    message_id = _register(keyed_app)
    login_as(Role.ENGINEER, on=keyed_app).get(f"/audit/entries/{message_id}")
    with keyed_app.app_context():
        stored = db.session.scalars(select(AuditEntry).where(AuditEntry.message_id == message_id)).one()
        assert stored.payload["traits"]["email"].startswith("masked:")
        assert EMAIL not in (stored.encrypted_personal_data or "")


def test_without_a_key_engineers_see_masks_and_how_to_keep_originals(app: Flask, login_as: Login) -> None:
    message_id = _register(app)
    engineer = login_as(Role.ENGINEER)
    page = engineer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL not in page and "masked:" in page
    assert "stored masked; set AUDIT_ENCRYPTION_KEY to keep originals" in page and NO_KEY_NOTE in page
    assert EMAIL not in engineer.get("/audit/export.csv?user_id=7").get_data(as_text=True)


def test_without_a_key_a_viewer_is_not_told_engineers_see_the_originals(app: Flask, login_as: Login) -> None:
    """Nobody does: the note a viewer reads is the one every role reads."""
    message_id = _register(app)
    page = login_as(Role.VIEWER).get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL not in page and "masked:" in page
    assert NO_KEY_NOTE in page and VIEWER_NOTE not in page


def test_an_entry_sealed_with_another_key_stays_masked_with_the_reason(
    make_app: Callable[..., Flask], login_as: Login
) -> None:
    writer = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    message_id = _register(writer)
    reader = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    engineer = login_as(Role.ENGINEER, on=reader)
    page = engineer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL not in page and "The original personal data cannot be opened" in page
    # The export keeps such entries masked rather than failing half-way.
    [line] = engineer.get("/audit/export.ndjson?user_id=7").get_data(as_text=True).splitlines()
    assert json.loads(line)["payload"]["traits"]["email"].startswith("masked:")
