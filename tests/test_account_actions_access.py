"""Account actions in the audit log (failed sign-ins, tokens, passwords, accounts) are admins' to read;
product actions (replays, scope presets) and messages stay visible to every role that reads the log."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from auditlog import record
from auth_helpers import sign_in
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from analytics.actions import ACCOUNT_ACTIONS, ACTIONS, PRODUCT_ACTIONS, record_action
from analytics.audit import AuditEntry
from analytics.queries import Cursor
from webapp.audit.tail import encode_moving
from webapp.auth import accounts, tokens
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

Login = Callable[..., FlaskClient]
GUESSED = "mallory.guess@example.com"
ADDRESS = "203.0.113.9"


@dataclass(frozen=True)
class Seeded:
    login_failed: str
    token_created: str
    preset_saved: str
    message: str
    login_failed_row: int
    newest: Cursor


@pytest.fixture
def seeded(app: Flask, make_account: Callable[..., str]) -> Seeded:
    """A failed sign-in and a token made through the dashboard, a preset saved, a message sent."""
    make_account(Role.ADMIN)
    refused = sign_in(app.test_client(), GUESSED, "not the password", environ_base={"REMOTE_ADDR": ADDRESS})
    assert refused.status_code == 401
    with app.app_context():
        store = analytics_client.store()
        tokens.create_token(accounts.get_user("admin@example.com"), "ci", actor="admin@example.com")
        preset = record_action(
            store, "Scope Preset Saved", actor="engineer@example.com", properties={"name": "staging project"}
        )
        message = record(store, "ProjectCreate", scope={"user_id": 1, "project_id": 12})
        rows = {entry.event: entry for entry in db.session.scalars(select(AuditEntry))}
        newest = max(rows.values(), key=lambda entry: (entry.recorded_at, entry.id))
        return Seeded(
            login_failed=rows["Login Failed"].message_id,
            token_created=rows["API Token Created"].message_id,
            preset_saved=preset,
            message=message,
            login_failed_row=rows["Login Failed"].id,
            newest=Cursor.of(newest),
        )


def _results(page: str) -> str:
    """The page after the search form, where the count, the histogram and the rows are."""
    return page.split('id="audit-filters"', 1)[1].split("</form>", 1)[1]


def _account_secrets(seeded: Seeded) -> tuple[str, ...]:
    return (GUESSED, ADDRESS, "Login Failed", "API Token Created", seeded.login_failed, seeded.token_created)


def _tail(client: FlaskClient, seeded: Seeded, total: int) -> TestResponse:
    """The live tail's answer to a page that lists `total` entries and shows the failed sign-in moving."""
    query = {
        "after": seeded.newest.encode(),
        "total": total,
        "moving": encode_moving({seeded.login_failed_row: "pending"}),
    }
    return client.get("/audit/tail?" + urlencode(query), headers={"HX-Request": "true"})


def test_every_action_belongs_to_one_family() -> None:
    assert set(ACCOUNT_ACTIONS).isdisjoint(PRODUCT_ACTIONS)
    assert sorted(ACTIONS) == sorted([*ACCOUNT_ACTIONS, *PRODUCT_ACTIONS])


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_other_roles_do_not_see_account_actions_in_searches_counts_tails_or_exports(
    seeded: Seeded, login_as: Login, role: Role
) -> None:
    reader = login_as(role)
    for url in ("/audit/?type=action", "/audit/", "/audit/?source=dashboard"):
        response = reader.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert not any(secret in _results(page) for secret in _account_secrets(seeded)), url
    by_actor = reader.get(f"/audit/?actor=anonymous@{ADDRESS}").get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in by_actor
    assert seeded.login_failed not in by_actor
    listing = reader.get("/audit/?type=action").get_data(as_text=True)
    assert seeded.preset_saved in listing and '<strong id="audit-count">1 entry</strong>' in listing
    everything = reader.get("/audit/").get_data(as_text=True)
    assert seeded.message in everything and '<strong id="audit-count">2 entries</strong>' in everything
    # The event field offers the product's actions only.
    choices = listing.split('id="filter-event"', 1)[1].split("</select>", 1)[0]
    assert ">Scope Preset Saved</option>" in choices and "Login Failed" not in choices

    for extension in ("csv", "ndjson"):
        export = reader.get(f"/audit/export.{extension}?type=action")
        assert export.status_code == 200
        body = export.get_data(as_text=True)
        assert seeded.preset_saved in body
        assert not any(secret in body for secret in _account_secrets(seeded)), extension
    [line] = reader.get("/audit/export.ndjson?type=action").get_data(as_text=True).splitlines()
    assert json.loads(line)["event"] == "Scope Preset Saved"

    # The live tail brings back listed rows by their ids: an account action's id brings nothing.
    tail = _tail(reader, seeded, total=2)
    assert tail.status_code == 200
    assert not any(secret in tail.get_data(as_text=True) for secret in _account_secrets(seeded))


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_other_roles_are_refused_an_account_action_by_name_or_by_its_page(
    seeded: Seeded, login_as: Login, role: Role
) -> None:
    reader = login_as(role)
    asked = reader.get("/audit/", query_string={"event": "Login Failed"})
    assert asked.status_code == 400
    page = asked.get_data(as_text=True)
    assert re.search(r'id="error-event"[^>]*>[^<]*Account and sign-in actions are for admins\.', page)
    assert '<option value="Login Failed" selected>Login Failed</option>' in page  # what was asked stays
    assert GUESSED not in page and ADDRESS not in page
    export = reader.get("/audit/export.csv", query_string={"event": "API Token Created"})
    assert export.status_code == 400
    assert export.get_data(as_text=True) == "event: Account and sign-in actions are for admins.\n"

    refused = reader.get(f"/audit/entries/{seeded.login_failed}")
    assert refused.status_code == 403
    assert GUESSED not in refused.get_data(as_text=True)
    assert reader.get(f"/audit/entries/{seeded.token_created}").status_code == 403
    assert reader.get(f"/audit/entries/{seeded.preset_saved}").status_code == 200


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER])
def test_the_audit_api_keeps_account_actions_from_other_roles_as_the_pages_do(
    seeded: Seeded, login_as: Login, role: Role
) -> None:
    reader = login_as(role)
    listed = reader.get("/api/audit/entries?type=action")
    assert listed.status_code == 200
    assert [entry["message_id"] for entry in listed.get_json()["entries"]] == [seeded.preset_saved]
    assert not any(secret in listed.get_data(as_text=True) for secret in _account_secrets(seeded))
    by_name = reader.get("/api/audit/entries", query_string={"event": "Login Failed"})
    assert by_name.status_code == 400
    assert by_name.get_json()["error"]["fields"] == {"event": "Account and sign-in actions are for admins."}
    refused = reader.get(f"/api/audit/entries/{seeded.login_failed}")
    assert refused.status_code == 403 and GUESSED not in refused.get_data(as_text=True)
    assert reader.get(f"/api/audit/entries/{seeded.preset_saved}").status_code == 200


def test_an_admin_reads_every_action(seeded: Seeded, login_as: Login) -> None:
    admin = login_as(Role.ADMIN)
    listing = admin.get("/audit/?type=action").get_data(as_text=True)
    assert '<strong id="audit-count">3 entries</strong>' in listing
    assert all(found in listing for found in (seeded.login_failed, seeded.token_created, seeded.preset_saved))
    assert GUESSED in admin.get("/audit/export.csv?type=action").get_data(as_text=True)
    by_name = admin.get("/audit/", query_string={"event": "Login Failed"})
    assert by_name.status_code == 200 and seeded.login_failed in by_name.get_data(as_text=True)
    entry = admin.get(f"/audit/entries/{seeded.login_failed}")
    assert entry.status_code == 200
    assert GUESSED in entry.get_data(as_text=True) and ADDRESS in entry.get_data(as_text=True)
    tail = _tail(admin, seeded, total=4)
    assert seeded.login_failed in tail.get_data(as_text=True)
    listed = admin.get("/api/audit/entries?type=action").get_json()["entries"]
    assert {entry["message_id"] for entry in listed} >= {seeded.login_failed, seeded.token_created}
    assert admin.get(f"/api/audit/entries/{seeded.login_failed}").status_code == 200
