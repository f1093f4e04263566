"""Personal data an entry holds in clear because an older catalog version did not mark it yet.

A host still running the previous catalog version (where New User's `email` was not personal data)
recorded the email in clear; a viewer saw it on the entry page, in the API and in both exports, under
"Personal-data values are kept masked". Today's catalog decides what a viewer sees masked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from auditlog import record, record_catalog_version, without_personal_data
from auth_helpers import signed_in_client
from flask import Flask
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.export import Export, ExportFormat
from analytics.messages import CONTEXT_KEY, build_message
from analytics.personal_data import mask_value
from analytics.queries import AuditFilter
from webapp.audit.personal import NO_KEY_NOTE, VIEWER_NOTE
from webapp.auth.roles import Role
from webapp.extensions import analytics_client

EMAIL = "bob@example.com"
OLD_VERSION = "0123456789ab"
"""A previous catalog version, where New User's `email` was not yet personal data."""


def _old_bundle() -> dict[str, Any]:
    return without_personal_data("New User", "email")


def _store(app: Flask) -> AuditStore:
    with app.app_context():
        return analytics_client.store()


@pytest.fixture
def old_host_app(make_app: Callable[..., Flask], database_url: str) -> Flask:
    """The dashboard on today's catalog, its database holding the previous version's bundle."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    record_catalog_version(_store(app), OLD_VERSION, _old_bundle())
    return app


def _old_host_sends(app: Flask) -> str:
    """New User as the old host records it: its email in clear."""
    store = _store(app)
    return record(
        store,
        "UserCreate",
        scope={"user_id": 7},
        properties={"email": EMAIL},
        version=OLD_VERSION,
        masked=False,
    )


def _urls(message_id: str) -> list[str]:
    return [
        f"/audit/entries/{message_id}",
        f"/api/audit/entries/{message_id}",
        "/api/audit/entries?event=New+User",
        "/audit/export.csv?event=New+User",
        "/audit/export.ndjson?event=New+User",
        "/audit/export.csv?event=New+User&include=attempts",
        "/audit/export.ndjson?event=New+User&include=attempts",
    ]


def test_the_old_host_stored_the_email_in_clear(old_host_app: Flask) -> None:
    message_id = _old_host_sends(old_host_app)
    with _store(old_host_app).engine.connect() as connection:
        stored = connection.scalar(select(AuditEntry.payload).where(AuditEntry.message_id == message_id))
    assert stored["properties"]["email"] == EMAIL  # the set-up the tests below rely on, never rewritten


def test_a_viewer_gets_today_s_personal_data_masked_on_every_url(old_host_app: Flask) -> None:
    message_id = _old_host_sends(old_host_app)
    store = _store(old_host_app)
    mask = mask_value(EMAIL, store.mask_key)
    viewer = signed_in_client(old_host_app, Role.VIEWER)
    for url in _urls(message_id):
        response = viewer.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert EMAIL not in body, url
        assert mask in body, url
    page = viewer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert VIEWER_NOTE in page
    [line] = viewer.get("/audit/export.ndjson?event=New+User").get_data(as_text=True).splitlines()
    assert json.loads(line)["payload"]["properties"] == {"email": mask}
    [row] = csv.DictReader(io.StringIO(viewer.get("/audit/export.csv?event=New+User").get_data(as_text=True)))
    assert json.loads(row["payload"])["properties"] == {"email": mask}
    with_attempts = viewer.get("/audit/export.ndjson?event=New+User&include=attempts").get_data(as_text=True)
    [line] = with_attempts.splitlines()
    assert json.loads(line)["payload"]["properties"] == {"email": mask} and json.loads(line)["attempts"] == []
    summed = viewer.get("/audit/export.csv?event=New+User&include=attempts").get_data(as_text=True)
    [row] = csv.DictReader(io.StringIO(summed))
    assert json.loads(row["payload"])["properties"] == {"email": mask} and row["attempt_count"] == "0"
    entry = viewer.get(f"/api/audit/entries/{message_id}").get_json()
    assert entry["payload"]["properties"] == {"email": mask} and entry["in_clear_note"] is None


def test_the_read_time_mask_is_the_one_the_library_writes(old_host_app: Flask) -> None:
    """A search by the value finds the old entry as it finds today's: both hold the same mask."""
    old = _old_host_sends(old_host_app)
    today = record(_store(old_host_app), "UserCreate", scope={"user_id": 8}, properties={"email": EMAIL})
    viewer = signed_in_client(old_host_app, Role.VIEWER)
    lines = viewer.get("/audit/export.ndjson?event=New+User").get_data(as_text=True).splitlines()
    emails = {
        json.loads(line)["message_id"]: json.loads(line)["payload"]["properties"]["email"] for line in lines
    }
    assert emails[old] == emails[today]


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.ADMIN])
def test_engineers_see_the_stored_value_and_that_it_was_recorded_in_clear(
    old_host_app: Flask, role: Role
) -> None:
    message_id = _old_host_sends(old_host_app)
    person = signed_in_client(old_host_app, role)
    page = person.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL in page
    assert f"Stored in clear: email (recorded under catalog version {OLD_VERSION}" in page
    assert "an erasure request cannot remove it" in page
    entry = person.get(f"/api/audit/entries/{message_id}").get_json()
    assert entry["payload"]["properties"] == {"email": EMAIL}
    assert OLD_VERSION in entry["in_clear_note"]
    assert EMAIL in person.get("/audit/export.ndjson?event=New+User").get_data(as_text=True)
    assert EMAIL in person.get("/audit/export.csv?event=New+User").get_data(as_text=True)


def _stored_in_clear(store: AuditStore, setup: str) -> str:
    """New User (or an event outside today's catalog) with a personal value stored in clear, as each
    kind of host records it; returns the message id."""
    info = CATALOG.events["New User"]
    message = build_message(info.spec(scope=info.scope(user_id=7), email="x@example.com"))
    message["properties"]["email"] = EMAIL
    if setup == "unrecorded version":
        message["context"][CONTEXT_KEY]["version"] = "fedcba987654"
    elif setup == "no version":
        message["context"][CONTEXT_KEY].pop("version", None)
    elif setup == "outside today's catalog":
        message["context"][CONTEXT_KEY]["spec"] = "BoardlySignup"
        message["event"] = "Boardly Signup"
    elif setup == "undeclared key":
        message["properties"]["contact_email"] = message["properties"].pop("email")
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    return str(message["messageId"])


@pytest.mark.parametrize(
    "setup",
    ["unrecorded version", "no version", "today's version", "outside today's catalog", "undeclared key"],
)
def test_a_viewer_s_exports_mask_what_the_entry_page_masks(
    make_app: Callable[..., Flask], database_url: str, setup: str
) -> None:
    """The exports re-masked only entries of a recorded older version whose bundle marked less: a
    viewer's export carried in clear what the entry page and API masked for every other kind of host."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    store = _store(app)
    message_id = _stored_in_clear(store, setup)
    viewer = signed_in_client(app, Role.VIEWER)
    page = viewer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert EMAIL not in page and mask_value(EMAIL, store.mask_key) in page
    for url in ("/audit/export.csv", "/audit/export.ndjson", "/audit/export.ndjson?include=attempts"):
        body = viewer.get(url).get_data(as_text=True)
        assert EMAIL not in body, url
        assert mask_value(EMAIL, store.mask_key) in body, url
    assert EMAIL in signed_in_client(app, Role.ENGINEER).get("/audit/export.ndjson").get_data(as_text=True)


def test_an_engineer_s_export_re_masks_nothing(old_host_app: Flask) -> None:
    """Only a reader without personal-data access gets the read-time mask; the rest stream as stored."""
    store = _store(old_host_app)
    _old_host_sends(old_host_app)
    export = Export(store.engine, AuditFilter(), ExportFormat.NDJSON)
    assert export._remasking() is None
    assert EMAIL in "".join(export)


def test_an_identify_of_an_older_version_is_re_masked_by_the_spec_its_marker_names(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """An identify entry has no event string: the export selects it by its version, and the spec
    its catalog marker names decides."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    store = _store(app)
    record_catalog_version(store, OLD_VERSION, without_personal_data("Register", "email", "identifiers"))
    record(
        store,
        "Register",
        scope={"user_id": 7},
        properties={"email": EMAIL, "github": True},
        version=OLD_VERSION,
        masked=False,
    )
    viewer = signed_in_client(app, Role.VIEWER)
    [line] = viewer.get("/audit/export.ndjson?user_id=7").get_data(as_text=True).splitlines()
    assert json.loads(line)["payload"]["traits"]["email"] == mask_value(EMAIL, store.mask_key)
    assert EMAIL not in viewer.get("/audit/export.csv?user_id=7").get_data(as_text=True)


def test_a_viewer_s_drift_table_does_not_show_the_value_stored_in_clear(old_host_app: Flask) -> None:
    """The entry page's drift table lists each stored value today's schema refuses: a clear email of
    the wrong type was shown there to the viewer, though the message below it was masked."""
    store = _store(old_host_app)
    info = CATALOG.events["New User"]
    message = build_message(info.spec(scope=info.scope(user_id=7), email="x"))
    message["context"][CONTEXT_KEY]["version"] = OLD_VERSION
    message["properties"]["email"] = 4711_0815
    store.record(message, status=AuditStatus.PENDING, source="application")
    viewer = signed_in_client(old_host_app, Role.VIEWER)
    page = viewer.get(f"/audit/entries/{message['messageId']}").get_data(as_text=True)
    assert "47110815" not in page and mask_value(47110815, store.mask_key) in page
    admin = signed_in_client(old_host_app, Role.ADMIN)
    assert "47110815" in admin.get(f"/audit/entries/{message['messageId']}").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
def test_every_role_is_told_the_entry_drifts_in_a_re_masked_property(old_host_app: Flask, role: Role) -> None:
    """Judged on the viewer's re-masked copy, the wrong-typed email became a mask, which is not
    counted: the viewer read "still validate" where the admin read "no longer validate"."""
    store = _store(old_host_app)
    info = CATALOG.events["New User"]
    message = build_message(info.spec(scope=info.scope(user_id=7), email="x"))
    message["context"][CONTEXT_KEY]["version"] = OLD_VERSION
    message["properties"]["email"] = 4711_0815
    store.record(message, status=AuditStatus.PENDING, source="application")
    page = (
        signed_in_client(old_host_app, role)
        .get(f"/audit/entries/{message['messageId']}")
        .get_data(as_text=True)
    )
    assert "no longer validate against today's schema of New User: 1 difference" in page
    assert "still validate" not in page
    row = page[
        page.index('class="drift-differences"') : page.index("</table>", page.index("drift-differences"))
    ]
    assert ">email</" in row
    shown = "47110815" if role is Role.ADMIN else mask_value(47110815, store.mask_key)
    assert shown in row
    if role is Role.VIEWER:
        assert "47110815" not in page


def test_a_viewer_is_given_the_masks_own_reason_when_the_entry_also_holds_a_clear_value(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """An older host masked email and last_name (no AUDIT_ENCRYPTION_KEY: no original kept) but not
    first_name: the viewer was told "engineers and admins see it", though no role sees the email."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    store = _store(app)
    assert store.cipher is None
    record_catalog_version(
        store, OLD_VERSION, without_personal_data("Profile update", "first_name", "identifiers")
    )
    info = CATALOG.identifier("Profile update")
    values = {"email": EMAIL, "first_name": "Adalbert", "last_name": "Lovelace"}
    message = build_message(info.spec(scope=info.scope(user_id=8), **values))
    message["context"][CONTEXT_KEY]["version"] = OLD_VERSION
    kept = tuple(key for key in info.spec.personal_data_keys() if key != "first_name")
    store.record(message, status=AuditStatus.PENDING, source="application", personal_data_keys=kept)
    url = f"/audit/entries/{message['messageId']}"
    viewer = signed_in_client(app, Role.VIEWER).get(url).get_data(as_text=True)
    engineer = signed_in_client(app, Role.ENGINEER).get(url).get_data(as_text=True)
    assert NO_KEY_NOTE in engineer and "Stored in clear: first_name" in engineer
    assert NO_KEY_NOTE in viewer and VIEWER_NOTE not in viewer
    assert "Adalbert" not in viewer and EMAIL not in viewer
