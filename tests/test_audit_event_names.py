"""An `event` the audit search is given that neither today's catalog nor the log names is refused,
with the closest known name, on the page, the API, the exports and the command; on both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape

import pytest
from auditlog import query_plan, record
from auth_helpers import signed_in_client
from flask import Flask
from foreign_specs import record_boardly_signup

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp.audit.event_names import logged_event_query
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

REMOVED = "Cluster Provisioned"
"""An event the log holds that today's catalog does not (a removed one, an application's own)."""

IDENTIFY_TYPO = "no event or identify spec named 'Identify: Registr' in the catalog or the log"
EVENT_TYPO = "no event or identify spec named 'Cluster Provisiond' in the catalog or the log"


@pytest.fixture
def logged(make_app: Callable[..., Flask], database_url: str) -> tuple[Flask, dict[str, str]]:
    """The dashboard on each database, its log holding a catalog event, a removed one, a catalog
    identify call and one of a spec declared outside the catalog; message ids by kind."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        store = analytics_client.store()
    ids = {
        "cps": _cps(store),
        "removed": _removed(store),
        "register": record(
            store, "Register", scope={"user_id": 3}, properties={"email": "a@example.com", "github": True}
        ),
        "boardly": record_boardly_signup(store, 40),
    }
    return app, ids


def _cps(store: AuditStore) -> str:
    return record(
        store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
        status=AuditStatus.FAILED,
    )


def _removed(store: AuditStore) -> str:
    info = CATALOG.event("ClusterProvisioningSuccess")
    spec = info.spec(scope=info.scope(user_id=1, project_id=12, cluster_id=4), cluster_type="eks", infra_id=9)
    message = build_message(spec)
    message["event"] = REMOVED
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    return str(message["messageId"])


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("Identify: Registr", f"{IDENTIFY_TYPO}; did you mean 'Identify: Register'?"),
        ("Cluster Provisiond", f"{EVENT_TYPO}; did you mean 'Cluster Provisioned'?"),
        ("Identify: BoardlySignp", "did you mean 'Identify: BoardlySignup'?"),
        ("Cluster Provisioning Sucess", "did you mean 'Cluster Provisioning Success'?"),
        # A spec's class, as the catalog's pages show it, beside its event string: the string is suggested.
        ("ProjectCreatd", "did you mean 'New Project Event'?"),
        ("ProjectCreate", "did you mean 'New Project Event'?"),
        ("Identify: RegisterIdentfy", "did you mean 'Identify: Register'?"),
    ],
)
def test_a_name_neither_catalog_nor_log_has_is_refused_on_the_page_keeping_the_other_filters(
    logged: tuple[Flask, dict[str, str]], typed: str, said: str
) -> None:
    """It found "No entries match these filters.", as if the events had not been sent."""
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    response = client.get("/audit/", query_string={"event": typed, "status": "failed", "project": "12"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = page.split('id="error-event"', 1)[1].split("</", 1)[0]
    assert said in error.replace("&#39;", "'")
    assert "No entries match these filters." not in page
    assert 'value="failed" checked' in page and 'value="12"' in page


def test_a_name_with_no_close_known_name_suggests_none(logged: tuple[Flask, dict[str, str]]) -> None:
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    response = client.get("/api/audit/entries", query_string={"event": "Invoice Paid"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {
        "event": "no event or identify spec named 'Invoice Paid' in the catalog or the log"
    }


def test_the_api_and_the_exports_refuse_it_naming_the_parameter(logged: tuple[Flask, dict[str, str]]) -> None:
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    api = client.get("/api/audit/entries", query_string={"event": "Identify: Registr"})
    assert api.status_code == 400
    assert api.get_json()["error"]["fields"] == {
        "event": f"{IDENTIFY_TYPO}; did you mean 'Identify: Register'?"
    }
    for extension in ("csv", "ndjson"):
        export = client.get(f"/audit/export.{extension}", query_string={"event": "Identify: Registr"})
        assert export.status_code == 400
        assert export.mimetype == "text/plain"  # as every refusal of a download (`text_error`)
        assert (
            export.get_data(as_text=True) == f"event: {IDENTIFY_TYPO}; did you mean 'Identify: Register'?\n"
        )


def test_the_command_refuses_it_in_one_line(logged: tuple[Flask, dict[str, str]]) -> None:
    app, _ = logged
    result = app.test_cli_runner().invoke(args=["audit", "export", "--event", "Identify: Registr"])
    assert result.exit_code == 2
    assert result.stderr == f"error: --event: {IDENTIFY_TYPO}; did you mean 'Identify: Register'?\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("Cluster Provisioning Success", "cps"),
        (REMOVED, "removed"),
        ("Identify: Register", "register"),
        ("Identify: RegisterIdentify", "register"),
        ("Identify: BoardlySignup", "boardly"),
    ],
)
def test_names_the_log_holds_are_found_whether_or_not_today_s_catalog_has_them(
    logged: tuple[Flask, dict[str, str]], typed: str, kind: str
) -> None:
    app, ids = logged
    client = signed_in_client(app, Role.VIEWER)
    api = client.get("/api/audit/entries", query_string={"event": typed})
    assert api.status_code == 200
    assert [entry["message_id"] for entry in api.get_json()["entries"]] == [ids[kind]]
    page = client.get("/audit/", query_string={"event": typed})
    assert page.status_code == 200 and ids[kind][:8] in page.get_data(as_text=True)
    export = client.get("/audit/export.ndjson", query_string={"event": typed})
    assert [json.loads(line)["message_id"] for line in export.get_data(as_text=True).splitlines()] == [
        ids[kind]
    ]
    result = app.test_cli_runner().invoke(args=["audit", "export", "--format", "ndjson", "--event", typed])
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == [ids[kind]]


def test_a_catalog_event_no_entry_has_yet_is_no_mistake(logged: tuple[Flask, dict[str, str]]) -> None:
    """A planned or never sent event of today's catalog finds no entries, without a refusal."""
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    for typed in ("Stack Deletion", "Identify: Login", "Messages Re-sent"):
        response = client.get("/api/audit/entries", query_string={"event": typed})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["entries"] == []


def test_an_account_action_is_never_suggested_to_a_viewer(logged: tuple[Flask, dict[str, str]]) -> None:
    """The Event filter leaves out the actions a viewer may not search; so does the suggestion."""
    app, _ = logged
    viewer = signed_in_client(app, Role.VIEWER)
    admin = signed_in_client(app, Role.ADMIN)
    asked = {"event": "Login Faild"}
    refused = "no event or identify spec named 'Login Faild' in the catalog or the log"
    assert viewer.get("/api/audit/entries", query_string=asked).get_json()["error"]["fields"] == {
        "event": refused
    }
    assert admin.get("/api/audit/entries", query_string=asked).get_json()["error"]["fields"] == {
        "event": f"{refused}; did you mean 'Login Failed'?"
    }


CALL_AS_EVENT = "'Register' is an identify call: filter it as 'Identify: Register'"


def test_an_identify_call_s_name_as_an_event_is_refused_everywhere(
    logged: tuple[Flask, dict[str, str]],
) -> None:
    """`event=Register` found 0 entries in silence from the API, the exports and the command. The page
    explained it under its empty list but offered the view's export links, which answered 400: it
    refuses the name next to the Event field too, and offers no link."""
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    api = client.get("/api/audit/entries", query_string={"event": "Register"})
    assert api.status_code == 400
    assert api.get_json()["error"]["fields"] == {"event": CALL_AS_EVENT}
    for extension in ("csv", "ndjson"):
        export = client.get(f"/audit/export.{extension}", query_string={"event": "Register"})
        assert export.status_code == 400
        assert export.mimetype == "text/plain"
        assert export.get_data(as_text=True) == f"event: {CALL_AS_EVENT}\n"
    result = app.test_cli_runner().invoke(args=["audit", "export", "--event", "Register"])
    assert result.exit_code == 2
    assert result.stderr == f"error: --event: {CALL_AS_EVENT}\n"
    assert result.stdout == ""
    # htmx swaps no 4xx answer: its fragment carries the refusal with a 200 (`webapp.htmx.shown_status`).
    for headers, status in (({}, 400), ({"HX-Request": "true"}, 200)):
        page = client.get("/audit/", query_string={"event": "Register"}, headers=headers)
        assert page.status_code == status
        text = page.get_data(as_text=True)
        error = text.split('id="error-event"', 1)[1].split("</", 1)[0]
        assert CALL_AS_EVENT in error.replace("&#39;", "'")
        assert "/audit/export." not in text and "No entries match" not in text


def test_a_track_event_the_log_holds_by_an_identify_call_s_name_is_found(
    logged: tuple[Flask, dict[str, str]],
) -> None:
    """An application's own track event may be called `Register`: its entries are found, not refused."""
    app, _ = logged
    with app.app_context():
        store = analytics_client.store()
    info = CATALOG.event("ClusterProvisioningSuccess")
    message = build_message(
        info.spec(scope=info.scope(user_id=1, project_id=12, cluster_id=4), cluster_type="eks", infra_id=9)
    )
    message["event"] = "Register"
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    client = signed_in_client(app, Role.VIEWER)
    api = client.get("/api/audit/entries", query_string={"event": "Register"})
    assert api.status_code == 200, api.get_json()
    assert [entry["message_id"] for entry in api.get_json()["entries"]] == [message["messageId"]]
    export = client.get("/audit/export.ndjson", query_string={"event": "Register"})
    assert export.status_code == 200
    assert [json.loads(line)["message_id"] for line in export.get_data(as_text=True).splitlines()] == [
        message["messageId"]
    ]
    result = app.test_cli_runner().invoke(
        args=["audit", "export", "--format", "ndjson", "--event", "Register"]
    )
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == [message["messageId"]]


def test_whether_the_log_holds_an_event_is_one_probe_of_its_index(
    logged: tuple[Flask, dict[str, str]],
) -> None:
    """The live tail of a search for an event outside the catalog asks at every poll: the daily counts'
    key leads with the day, so without the index by event the question read the table."""
    app, _ = logged
    with app.app_context():
        plan = "\n".join(query_plan(db.engine, logged_event_query(REMOVED)))
    assert "ix_audit_event_days_event" in plan, plan


def test_the_live_tail_of_an_event_outside_the_catalog_adds_its_new_entries_only(
    logged: tuple[Flask, dict[str, str]],
) -> None:
    app, ids = logged
    client = signed_in_client(app, Role.VIEWER)
    page = client.get("/audit/", query_string={"event": REMOVED, "live": "1"}).get_data(as_text=True)
    match = re.search(r'<div id="audit-tail"[^>]*hx-get="([^"]+)"', page, re.S)
    assert ids["removed"][:8] in page and match is not None, page
    with app.app_context():
        store = analytics_client.store()
        arrived = _removed(store)
        _cps(store)
    poll = client.get(unescape(match.group(1)), headers={"HX-Request": "true"})
    assert poll.status_code == 200
    link = r'<a id="audit-link-\d+" href="/audit/entries/([^"]+)"><time'
    assert re.findall(link, poll.get_data(as_text=True)) == [arrived]


def test_a_very_long_name_is_echoed_cut_short(logged: tuple[Flask, dict[str, str]]) -> None:
    """A 1,000-letter name came back whole in the refusal next to the field, and in the API's JSON."""
    app, _ = logged
    client = signed_in_client(app, Role.VIEWER)
    typed = "é" * 1000
    page = client.get("/audit/", query_string={"event": typed})
    assert page.status_code == 400
    error = page.get_data(as_text=True).split('id="error-event"', 1)[1].split("</", 1)[0]
    assert "no event or identify spec named" in error and typed not in error and "é…" in error
    api = client.get("/api/audit/entries", query_string={"event": typed})
    assert api.status_code == 400 and typed not in api.get_json()["error"]["fields"]["event"]
