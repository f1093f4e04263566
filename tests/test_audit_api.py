"""The audit log's JSON API: the audit page's filters, keyset pages, masking, tokens and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auditlog import move, record, record_delivery
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.queries import Cursor
from webapp.audit.api import MAX_LIMIT, SETTLE
from webapp.audit.personal import VIEWER_NOTE
from webapp.audit.visibility import VIEWER_PROP_ERROR
from webapp.auth import tokens
from webapp.auth.models import ApiToken, User
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
EMAIL = "ada.lovelace@example.com"
CPS = "Cluster Provisioning Success"

Login = Callable[..., FlaskClient]


def _store(app: Flask) -> AuditStore:
    with app.app_context():
        return analytics_client.store()


def _token(app: Flask, role: Role) -> dict[str, str]:
    """The Authorization header of a new token for a new account of `role` on the app's database."""
    with app.app_context():
        user = User(email=f"{role}@example.com", password_hash="-", role=role, created_at=datetime.now(UTC))
        db.session.add(user)
        db.session.commit()
        return {"Authorization": f"Bearer {tokens.create_token(user, 'ci', actor='test').secret}"}


def _cps(store: AuditStore, minutes_ago: float, **options: Any) -> str:
    return record(
        store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
        recorded_at=NOW - timedelta(minutes=minutes_ago),
        **options,
    )


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["message_id"] for entry in response.get_json()["entries"]]


def _field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 400 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert (error["status"], error["name"]) == (400, "Bad Request")
    return dict(error["fields"])


def test_entries_come_newest_first_in_the_ndjson_export_s_shape(
    app: Flask, login_as: Login, sqlite_store: AuditStore
) -> None:
    delivered = _cps(sqlite_store, 3, status="delivered")
    failed = record(
        sqlite_store,
        "UserCreate",
        scope={"user_id": 2},
        properties={"email": EMAIL},
        status="failed",
        source="tester",
        actor="ada@example.com",
        destination="staging:0123456789ab",
        recorded_at=NOW - timedelta(minutes=2),
    )
    viewer = login_as(Role.VIEWER)
    response = viewer.get("/api/audit/entries", query_string={"type": "track"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"entries", "next"} and body["next"] is None
    assert [entry["message_id"] for entry in body["entries"]] == [failed, delivered]
    export = viewer.get("/audit/export.ndjson", query_string={"type": "track"}).get_data(as_text=True)
    assert body["entries"] == [json.loads(line) for line in export.split("\n") if line]
    assert body["entries"][0]["payload"]["properties"]["email"].startswith("masked:")
    assert body["entries"][0]["recorded_at"] == (NOW - timedelta(minutes=2)).isoformat()


def test_identify_entries_name_the_spec_that_built_them(
    app: Flask, login_as: Login, sqlite_store: AuditStore
) -> None:
    """Identify entries have no event string: `spec` tells a Register call from a Login."""
    traits = {"email": EMAIL, "github": False}
    register = record(
        sqlite_store,
        "Register",
        scope={"user_id": 7},
        properties=traits,
        recorded_at=NOW - timedelta(minutes=2),
    )
    login = record(
        sqlite_store, "Login", scope={"user_id": 7}, properties=traits, recorded_at=NOW - timedelta(minutes=1)
    )
    viewer = login_as(Role.VIEWER)
    for order in ("newest", "oldest"):
        response = viewer.get("/api/audit/entries", query_string={"type": "identify", "order": order})
        assert response.status_code == 200, response.get_data(as_text=True)
        found = {
            entry["message_id"]: (entry["event"], entry["spec"]) for entry in response.get_json()["entries"]
        }
        assert found == {register: (None, "RegisterIdentify"), login: (None, "LoginIdentify")}
    one = viewer.get(f"/api/audit/entries/{register}")
    assert one.status_code == 200 and one.get_json()["spec"] == "RegisterIdentify"


def test_the_audit_page_s_filters_narrow_the_entries(
    app: Flask, login_as: Login, sqlite_store: AuditStore
) -> None:
    failed = _cps(sqlite_store, 1, status="failed")
    delivered = _cps(sqlite_store, 2, status="delivered")
    old = _cps(sqlite_store, 120, status="failed")
    scope = {"user_id": 2, "project_id": 12}
    other = record(sqlite_store, "ProjectCreate", scope=scope, status="failed", recorded_at=NOW)
    viewer = login_as(Role.VIEWER)

    def found(**filters: str) -> list[str]:
        return _ids(viewer.get("/api/audit/entries", query_string=filters))

    assert found(event=CPS, status="failed", project="12") == [failed, old]
    assert found(status="failed", since=(NOW - timedelta(minutes=30)).isoformat()) == [other, failed]
    assert found(prop="cluster_type = eks", status="failed,pending") == [failed, old]
    # `status` alone repeats, as the audit page's checkboxes send it: README says so.
    repeated = {"status": ["delivered", "failed"], "event": CPS}
    assert _ids(viewer.get("/api/audit/entries", query_string=repeated)) == [failed, delivered, old]


def test_pages_follow_next_without_duplicates_or_gaps(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """On both databases: entries sharing a time are ordered by id, and entries written between two
    pages neither repeat nor shift the rows that follow."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    headers = _token(app, Role.VIEWER)
    store = _store(app)
    # Seven entries, three of them in the same microsecond.
    expected = [_cps(store, minutes) for minutes in (1, 2, 2, 2, 3, 4, 5)]
    with store.engine.begin() as connection:
        for message_id in expected[1:4]:
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.message_id == message_id)
                .values(recorded_at=NOW - timedelta(minutes=2))
            )
    order = select(AuditEntry.message_id).order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
    with store.engine.connect() as connection:
        expected = list(connection.scalars(order.where(AuditEntry.type == "track")))
    client = app.test_client()
    seen: list[str] = []
    pages = 0
    query: dict[str, str] = {"type": "track", "limit": "3"}
    while True:
        body = client.get("/api/audit/entries", query_string=query, headers=headers).get_json()
        seen += [entry["message_id"] for entry in body["entries"]]
        pages += 1
        if pages == 1:
            _cps(store, 0)  # written while the script reads: newer than every page, never on one
        if body["next"] is None:
            break
        query["cursor"] = body["next"]
    assert pages == 3 and seen == expected
    with app.app_context():
        db.engine.dispose()


def test_oldest_first_lists_settled_entries_and_next_goes_on_from_the_horizon(
    app: Flask, login_as: Login, sqlite_store: AuditStore
) -> None:
    """Entries recorded within `SETTLE` of the request may still be joined by older ones: left for
    later, and `next` moves up to the horizon, not past it, whether the answer lists any or not."""
    older, old = _cps(sqlite_store, 3), _cps(sqlite_store, 2)
    recent = _cps(sqlite_store, 0)
    move(sqlite_store, recent, datetime.now(UTC))
    viewer = login_as(Role.VIEWER)
    first = viewer.get("/api/audit/entries", query_string={"type": "track", "order": "oldest", "limit": "1"})
    assert _ids(first) == [older]
    body = first.get_json()
    assert body["next"].endswith(f"_{_row_id(sqlite_store, older)}")
    after = viewer.get("/api/audit/entries", query_string={"type": "track", "after": body["next"]})
    assert _ids(after) == [old]
    horizon = datetime.fromisoformat(after.get_json()["settled_before"])
    assert abs(horizon - (datetime.now(UTC) - SETTLE)) < timedelta(minutes=1)
    reached = Cursor.decode(after.get_json()["next"])
    assert (reached.recorded_at, reached.id) == (horizon, 0)
    empty = viewer.get("/api/audit/entries", query_string={"type": "track", "after": reached.encode()})
    assert _ids(empty) == [] and Cursor.decode(empty.get_json()["next"]) >= reached
    newest = _ids(viewer.get("/api/audit/entries", query_string={"type": "track"}))
    assert newest == [recent, old, older]


@pytest.mark.parametrize(
    "ahead",
    [-SETTLE / 2, timedelta(seconds=2), timedelta(days=365)],
    ids=["inside-the-window", "clock-ahead", "far-future"],
)
def test_an_after_past_the_horizon_is_answered_the_horizon_as_next(
    app: Flask, login_as: Login, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch, ahead: timedelta
) -> None:
    """`next` was such an `after` itself, later than `settled_before`: a poller that stored it never
    listed what was committed before that position (with a far one, nothing until then). `next` is the
    horizon, and the entry recorded between the two is listed once it is settled."""
    now = datetime.now(UTC)
    moved = {"by": timedelta(0)}
    monkeypatch.setattr("webapp.audit.api._now", lambda: now + moved["by"])
    between = record(
        sqlite_store,
        "UserCreate",
        scope={"user_id": 2},
        properties={"email": EMAIL},
        recorded_at=now - SETTLE * 3 / 4,
    )
    viewer = login_as(Role.VIEWER)
    after = Cursor(now + ahead, 0).encode()
    first = viewer.get("/api/audit/entries", query_string={"order": "oldest", "after": after})
    assert _ids(first) == []
    body = first.get_json()
    assert Cursor.decode(body["next"]) == Cursor(datetime.fromisoformat(body["settled_before"]), 0)
    assert Cursor.decode(body["next"]) == Cursor(now - SETTLE, 0)
    moved["by"] = SETTLE
    later = viewer.get("/api/audit/entries", query_string={"order": "oldest", "after": body["next"]})
    assert _ids(later) == [between]


def _row_id(store: AuditStore, message_id: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(select(AuditEntry.id).where(AuditEntry.message_id == message_id)) or 0)


def test_the_limit_defaults_to_the_page_s_50(app: Flask, login_as: Login, sqlite_store: AuditStore) -> None:
    for minutes in range(51):
        _cps(sqlite_store, minutes)
    body = login_as(Role.VIEWER).get("/api/audit/entries").get_json()
    assert len(body["entries"]) == 50 and body["next"] is not None


def test_one_entry_carries_its_delivery_attempts_and_its_integrity_verdict(
    app: Flask, login_as: Login, sqlite_store: AuditStore
) -> None:
    message_id = record_delivery(sqlite_store, AuditStatus.FAILED, http_status=503, error="try later")
    viewer = login_as(Role.VIEWER)
    response = viewer.get(f"/api/audit/entries/{message_id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    listed = viewer.get("/api/audit/entries", query_string={"message_id": message_id}).get_json()
    assert {name: body[name] for name in listed["entries"][0]} == listed["entries"][0]
    assert (body["status"], body["http_status"], body["payload_note"]) == ("failed", 503, None)
    [attempt] = body["attempts"]
    assert (attempt["outcome"], attempt["http_status"], attempt["error"]) == ("failed", 503, "try later")
    assert attempt["source"] is None and datetime.fromisoformat(attempt["attempted_at"]).tzinfo is not None
    assert body["integrity"]["verifies"] is True and body["integrity"]["problems"] == []
    assert body["integrity"]["seq"] >= 1 and body["integrity"]["writer_id"]

    with sqlite_store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.message_id == message_id).values(user_id="someone-else")
        )
    altered = viewer.get(f"/api/audit/entries/{message_id}").get_json()["integrity"]
    assert altered["verifies"] is False
    assert "no longer matches its hash" in altered["problems"][0]


@pytest.fixture
def keyed_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())


def test_a_viewer_gets_masks_and_cannot_search_personal_data_by_value(
    keyed_app: Flask, login_as: Login
) -> None:
    message_id = record(
        _store(keyed_app), "Register", scope={"user_id": 7}, properties={"email": EMAIL, "github": True}
    )
    viewer = login_as(Role.VIEWER, on=keyed_app)
    listed = viewer.get("/api/audit/entries", query_string={"user_id": "7"})
    one = viewer.get(f"/api/audit/entries/{message_id}")
    for response in (listed, one):
        assert response.status_code == 200 and EMAIL not in response.get_data(as_text=True)
    assert one.get_json()["payload"]["traits"]["email"].startswith("masked:")
    assert one.get_json()["payload_note"] == VIEWER_NOTE
    search = {"prop": f"email = {EMAIL}"}
    refused = viewer.get("/api/audit/entries", query_string=search)
    assert _field_errors(refused) == {"prop": VIEWER_PROP_ERROR} and message_id not in refused.get_data(
        as_text=True
    )

    engineer = login_as(Role.ENGINEER, on=keyed_app)
    assert _ids(engineer.get("/api/audit/entries", query_string=search)) == [message_id]
    opened = engineer.get(f"/api/audit/entries/{message_id}").get_json()
    assert opened["payload"]["traits"]["email"] == EMAIL and opened["payload_note"] is None


def test_a_token_reads_the_api_and_no_credentials_get_401(
    app: Flask, anonymous: FlaskClient, sqlite_store: AuditStore
) -> None:
    message_id = _cps(sqlite_store, 1)
    headers = _token(app, Role.VIEWER)
    assert _ids(anonymous.get("/api/audit/entries", query_string={"type": "track"}, headers=headers)) == [
        message_id
    ]
    assert anonymous.get(f"/api/audit/entries/{message_id}", headers=headers).status_code == 200
    for url in ("/api/audit/entries", f"/api/audit/entries/{message_id}"):
        refused = anonymous.get(url)
        assert refused.status_code == 401 and refused.mimetype == "application/json"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "Authorization: Bearer <token>" in refused.get_json()["error"]["message"]
    with app.app_context():
        [token] = db.session.scalars(select(ApiToken)).all()
        tokens.revoke_token(token, actor="test")
    assert anonymous.get("/api/audit/entries", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"limit": "0"}, "limit", f"a whole number from 1 to {MAX_LIMIT}"),
        ({"limit": str(MAX_LIMIT + 1)}, "limit", f"a whole number from 1 to {MAX_LIMIT}"),
        ({"limit": "ten"}, "limit", "'ten' is not a limit"),
        ({"limit": ["5", "6"]}, "limit", "give one value"),
        ({"include": ["attempts", "attempts"]}, "include", "give one value"),
        ({"cursor": "yesterday"}, "cursor", "'yesterday' is not a cursor"),
        ({"stauts": "failed"}, "stauts", "unknown parameter"),
        ({"before": "2026-03-01T12:00:00.000000Z_4"}, "before", "cursor or after (the `next`"),
        ({"order": "sideways"}, "order", "`newest` (the default), `oldest` or `changed`"),
        ({"order": "newest", "after": "2026-03-01T12:00:00.000000Z_4"}, "after", "reads oldest first"),
        ({"order": "oldest", "cursor": "2026-03-01T12:00:00.000000Z_4"}, "cursor", "give the previous"),
        ({"after": "yesterday"}, "after", "'yesterday' is not a cursor"),
        ({"since": "last tuesday"}, "since", "last tuesday"),
        ({"status": "lost"}, "status", "unknown status 'lost'"),
        ({"project": "0"}, "project", "0 is not an id"),
        # `int()` read these as ids 12, 1 and 1000: project 12's entries answered `١٢`.
        ({"project": "١٢"}, "project", "'١٢' is not an id: ids are written with the digits 0-9 only"),
        ({"cluster": "+1"}, "cluster", "'+1' is not an id: ids are written with the digits 0-9 only"),
        ({"user_id": "1_000"}, "user_id", "'1_000' is not an id: ids are written with the digits 0-9 only"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(
    client: FlaskClient, query: dict[str, Any], field: str, says: str
) -> None:
    fields = _field_errors(client.get("/api/audit/entries", query_string=query))
    assert list(fields) == [field] and says in fields[field]


def test_an_entry_refuses_parameters_as_the_list_does(client: FlaskClient, sqlite_store: AuditStore) -> None:
    message_id = _cps(sqlite_store, 1)
    fields = _field_errors(client.get(f"/api/audit/entries/{message_id}", query_string={"x": "1"}))
    assert fields == {"x": "unknown parameter: an entry's answer takes none (search with /api/audit/entries)"}
    assert client.get(f"/api/audit/entries/{message_id}").status_code == 200


def test_a_limit_of_the_maximum_is_accepted(client: FlaskClient) -> None:
    assert client.get("/api/audit/entries", query_string={"limit": str(MAX_LIMIT)}).status_code == 200


def test_an_unknown_message_id_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/audit/entries/no-such-id")
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.get_json()["error"]["message"] == "No audit entry has the message id 'no-such-id'."
