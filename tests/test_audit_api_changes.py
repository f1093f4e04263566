"""A script that keeps a copy of the audit log learns which entries' outcomes changed since it last
asked, through `/api/audit/entries?order=changed` (SQLite, PostgreSQL).

An oldest-first read lists each entry once, as it is then: a `pending` entry delivered later was
never listed again, and a script learned of it only by reading everything again. The changes feed
lists entries by when their outcome last changed (`changed_at`, kept by database triggers whoever
updates), behind the same settle horizon as oldest first. The dashboard's clock alone is moved past
the horizon, once the writes have committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auditlog import query_plan, record
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from analytics.audit import AuditRecord, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.erasure import erase
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.queries import AuditFilter, Cursor, changed_after
from webapp.audit.api import SETTLE
from webapp.auth import tokens
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import db

AHEAD = SETTLE + timedelta(milliseconds=1)
"""How far the dashboard's clock is moved so that the changes just made are settled: just past them, so
that the horizon (and `next`) is not ahead of the changes made after the answer."""


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    def move(by: timedelta) -> None:
        monkeypatch.setattr("webapp.audit.api._now", lambda: datetime.now(UTC) + by)

    return move


@pytest.fixture
def dashboard(make_app: Callable[..., Flask], database_url: str) -> Iterator[Flask]:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api(dashboard: Flask) -> Callable[..., Any]:
    with dashboard.app_context():
        user = User(
            email="sync@example.com", password_hash="-", role=Role.VIEWER, created_at=datetime.now(UTC)
        )
        db.session.add(user)
        db.session.commit()
        headers = {"Authorization": f"Bearer {tokens.create_token(user, 'sync', actor='test').secret}"}
    client: FlaskClient = dashboard.test_client()

    def get(**query: str) -> Any:
        return client.get("/api/audit/entries", query_string=query, headers=headers)

    return get


def _record(store: AuditStore, count: int) -> list[str]:
    messages = [
        build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec()) for _ in range(count)
    ]
    store.record_many([AuditRecord(m, status=AuditStatus.PENDING, source="application") for m in messages])
    return [str(m["messageId"]) for m in messages]


def _answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_the_changes_feed_lists_each_entry_whose_outcome_changed_after_the_cursor(
    store: AuditStore, engine: Engine, api: Callable[..., Any], ahead: Callable[[timedelta], None]
) -> None:
    first, second, untouched = _record(store, 3)
    store.record_outcome([first, second], AuditStatus.DELIVERED, http_status=200)
    ahead(AHEAD)
    body = _answer(api(order="changed"))
    assert sorted((e["message_id"], e["status"]) for e in body["entries"]) == sorted(
        [(first, "delivered"), (second, "delivered")]
    )
    assert all(entry["changed_at"].endswith("Z") for entry in body["entries"])
    assert untouched not in [entry["message_id"] for entry in body["entries"]]

    # Later changes, by the library and by hand, are listed after the cursor; nothing before it again.
    time.sleep(0.05)
    store.record_outcome([untouched], AuditStatus.FAILED, http_status=500, error="HTTP 500")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET error = 'noted' WHERE message_id = :m"), {"m": first}
        )
    later = _answer(api(order="changed", after=body["next"]))
    assert sorted(entry["message_id"] for entry in later["entries"]) == sorted([untouched, first])
    assert {e["message_id"]: e["status"] for e in later["entries"]}[untouched] == "failed"
    assert _answer(api(order="changed", after=later["next"]))["entries"] == []


def test_the_changes_feed_pages_by_limit_and_never_passes_the_settle_horizon(
    store: AuditStore, api: Callable[..., Any], ahead: Callable[[timedelta], None]
) -> None:
    ids = _record(store, 3)
    store.record_outcome(ids, AuditStatus.FAILED, http_status=503, error="HTTP 503")
    unsettled = _answer(api(order="changed"))
    assert unsettled["entries"] == []
    assert unsettled["next"] == unsettled["settled_before"] + "_0"
    ahead(AHEAD)
    listed: list[str] = []
    after = unsettled["next"]
    for _ in range(4):
        page = _answer(api(order="changed", after=after, limit="2"))
        listed += [entry["message_id"] for entry in page["entries"]]
        after = page["next"]
    assert sorted(listed) == sorted(ids)


def test_a_change_of_status_keeps_the_entry_verifying_in_its_hash_chain(
    store: AuditStore, api: Callable[..., Any], ahead: Callable[[timedelta], None]
) -> None:
    (message_id,) = _record(store, 1)
    store.record_outcome([message_id], AuditStatus.DELIVERED, http_status=200)
    ahead(AHEAD)
    assert [entry["message_id"] for entry in _answer(api(order="changed"))["entries"]] == [message_id]
    assert verify(store.engine, store.chain_key).ok


def test_an_erasure_of_sealed_personal_data_is_a_change(
    engine: Engine, api: Callable[..., Any], ahead: Callable[[timedelta], None]
) -> None:
    """`audit erase` clears the sealed values of entries already read: a copy learns it from the feed."""
    store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
    message_id = record(store, "New User", scope={"user_id": 4711}, properties={"email": "ada@example.com"})
    store.record_outcome([message_id], AuditStatus.DELIVERED, http_status=200)
    ahead(AHEAD)
    delivered = _answer(api(order="changed"))
    assert [entry["message_id"] for entry in delivered["entries"]] == [message_id]
    time.sleep(0.05)
    erase(store, "4711", actor="cli:dpo")
    erased = _answer(api(order="changed", after=delivered["next"]))
    assert message_id in [entry["message_id"] for entry in erased["entries"]]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"order": "changed", "status": "failed"}, "status", "takes no search filter"),
        ({"order": "changed", "event": "New User"}, "event", "takes no search filter"),
        ({"order": "changed", "cursor": "2026-12-06T10:31:28.906487Z_128"}, "cursor", "after=<next>"),
        ({"order": "changed", "after": "yesterday"}, "after", "is not a cursor"),
        ({"order": "changes"}, "order", "`changed`"),
        ({"order": "changed", "changed_since": "1h"}, "changed_since", "unknown parameter"),
    ],
)
def test_the_changes_feed_refuses_what_it_cannot_answer(
    api: Callable[..., Any], query: dict[str, str], field: str, says: str
) -> None:
    response = api(**query)
    assert response.status_code == 400
    assert says in response.get_json()["error"]["fields"][field]


def test_a_page_of_changes_is_one_range_of_their_index(engine: Engine) -> None:
    """The feed costs the same at any depth of a large log: it reads `(changed_at, id)` in order."""
    now = datetime.now(UTC)
    query = changed_after(AuditFilter(), Cursor(now - timedelta(hours=1), 7), end=now, limit=201)
    plan = query_plan(engine, query)
    # PostgreSQL names each partition's copy of the index itself: `changed_at` must be its condition.
    assert [row for row in plan if "changed_at_id" in row or "Index Cond: ((changed_at" in row], plan
    # In index order: no sort (PostgreSQL merges its partitions' index scans, a `Merge Append`).
    assert not [row for row in plan if "TEMP B-TREE" in row or "Sort  (" in row], plan
