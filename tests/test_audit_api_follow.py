"""A script that reads the audit log as it grows, through `/api/audit/entries`, lists every entry once
(SQLite, PostgreSQL).

Writers stamp an entry before its transaction commits, so with several writers an entry can commit
after newer ones. A cron job that asked `since=<the newest time it had seen>` never listed such an
entry: the consumer walk measured 2-11 % of the entries missing on PostgreSQL. The oldest-first
answer (`order=oldest`, then `after=<next>`) lists only entries older than the settle horizon, so its
`next` never passes an entry that can still appear. Time is moved for the horizon alone, and only
when no write is under way: what the horizon assumes (a write commits within it) then holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from app_hosts import Hosts
from auditlog import late_writer, record
from flask import Flask
from flask.testing import FlaskClient

from analytics.audit import AuditRecord, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message
from analytics.queries import Cursor
from webapp.audit import results
from webapp.audit.api import SETTLE
from webapp.auth import tokens
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import db

LIMIT = 4
"""Entries per answer: small, so that a read crosses answers inside a batch sharing one time."""


@dataclass
class Clock:
    """How far the writers' and the dashboard's clocks are moved from the real one."""

    writers: timedelta = timedelta(0)
    dashboard: timedelta = timedelta(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr("analytics.audit._now", lambda: datetime.now(UTC) + moved.writers)
    monkeypatch.setattr("webapp.audit.api._now", lambda: datetime.now(UTC) + moved.dashboard)
    return moved


@pytest.fixture
def dashboard(make_app: Callable[..., Flask], database_url: str) -> Iterator[Flask]:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


def _token(app: Flask) -> dict[str, str]:
    with app.app_context():
        user = User(
            email="cron@example.com", password_hash="-", role=Role.VIEWER, created_at=datetime.now(UTC)
        )
        db.session.add(user)
        db.session.commit()
        return {"Authorization": f"Bearer {tokens.create_token(user, 'cron', actor='test').secret}"}


def _record(store: AuditStore, count: int) -> list[str]:
    messages = [
        build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec()) for _ in range(count)
    ]
    store.record_many([AuditRecord(m, status=AuditStatus.PENDING, source="application") for m in messages])
    return [str(m["messageId"]) for m in messages]


class Follower:
    """The README's recipe: oldest first, each request from the previous answer's `next`."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.listed: list[str] = []
        self.next = ""

    def run(self) -> None:
        while True:
            query = {"source": "application", "order": "oldest", "after": self.next, "limit": str(LIMIT)}
            body = _answer(self.client.get("/api/audit/entries", query_string=query, headers=self.headers))
            self.listed += [entry["message_id"] for entry in body["entries"]]
            self.next = body["next"]
            if len(body["entries"]) < LIMIT:
                return


class SincePoller:
    """The cron job the walk wrote: every page of `since=<the newest time seen>`, kept once each."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.listed: list[str] = []
        self.since = ""

    def run(self) -> None:
        cursor = ""
        newest = self.since
        while True:
            query = {"source": "application", "since": self.since, "cursor": cursor, "limit": str(LIMIT)}
            body = _answer(self.client.get("/api/audit/entries", query_string=query, headers=self.headers))
            for entry in body["entries"]:
                if entry["message_id"] not in self.listed:
                    self.listed.append(entry["message_id"])
                newest = max(newest, entry["recorded_at"])
            if body["next"] is None:
                self.since = newest
                return
            cursor = body["next"]


def _answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_an_entry_committed_after_newer_ones_is_listed_once_where_since_misses_it(
    dashboard: Flask, store: AuditStore, database_url: str, clock: Clock
) -> None:
    headers = _token(dashboard)
    follower = Follower(dashboard.test_client(), headers)
    since = SincePoller(dashboard.test_client(), headers)
    clock.writers = -(SETTLE + timedelta(seconds=10))
    settled = _record(store, 3)
    clock.writers = timedelta(0)
    with late_writer(database_url) as commit_late:
        newer = _record(store, 3)
        follower.run()
        since.run()
        # The late entry is stamped and not committed: nothing at or after it may be passed.
        assert follower.listed == settled
        assert sorted(since.listed) == sorted(settled + newer)
        late = commit_late()
    clock.dashboard = SETTLE + timedelta(seconds=1)
    follower.run()
    since.run()
    follower.run()
    assert follower.listed[:3] == settled and sorted(follower.listed[3:]) == sorted([late, *newer])
    assert follower.listed.index(late) < min(follower.listed.index(entry) for entry in newer)
    # The `since` cron job had moved past the late entry's time before it committed.
    assert late not in since.listed


def test_a_follower_lists_every_entry_of_concurrent_writer_processes_once(
    dashboard: Flask, database_url: str, collector: Collector, clock: Clock
) -> None:
    """Three application processes write through their audit writers while the script polls."""
    follower = Follower(dashboard.test_client(), _token(dashboard))
    environment = {
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "SEGMENT_WRITE_KEY": "follow-key",
    }
    reports = Hosts(3, 2, 60, "batched", environment).run(follower.run)
    clock.dashboard = SETTLE + timedelta(seconds=1)
    follower.run()
    sent = [message_id for report in reports for message_id in report["sent"]]
    assert len(follower.listed) == len(set(follower.listed))
    assert sorted(follower.listed) == sorted(sent)
    follower.run()
    assert len(follower.listed) == len(sent)


@pytest.mark.parametrize(
    ("name", "value"),
    [("status", "delivered"), ("http_status", "200"), ("outcome", "refused"), ("attempts", "failed")],
)
def test_an_oldest_first_read_refuses_a_filter_on_what_changes_later(
    dashboard: Flask, store: AuditStore, name: str, value: str
) -> None:
    """A resumed `status=delivered` poller never listed an entry that was `pending` when its read passed
    it and delivered later (a retry, a replay): its `next` had moved on, and nothing said so. Oldest
    first, a filter on what changes after an entry is recorded is refused, naming what to do instead;
    newest first it still answers what matches now."""
    client, headers = dashboard.test_client(), _token(dashboard)
    (pending,) = _record_settled(store, 1)
    passed = Cursor(datetime.now(UTC) - SETTLE, 0).encode()
    for query in ({"order": "oldest"}, {"after": passed}, {"order": "oldest", "after": passed}):
        response = client.get("/api/audit/entries", query_string={**query, name: value}, headers=headers)
        assert response.status_code == 400 and response.mimetype == "application/json"
        problem = response.get_json()["error"]["fields"][name]
        assert "can change after it is recorded" in problem and f"Read without `{name}`" in problem
    store.record_outcome([pending], AuditStatus.DELIVERED, http_status=200)
    # The README's recipe without the filter lists the entry; newest first, the filter reads it now.
    body = _answer(client.get("/api/audit/entries", query_string={"order": "oldest"}, headers=headers))
    assert [entry["message_id"] for entry in body["entries"]] == [pending]
    newest = {name: value, "since": "2000-01-01"}
    assert client.get("/api/audit/entries", query_string=newest, headers=headers).status_code == 200


def _record_settled(store: AuditStore, count: int) -> list[str]:
    """Entries recorded before the settle horizon, which an oldest-first read lists at once."""
    return [
        record(
            store,
            "ClusterProvisioningSuccess",
            scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
            properties={"cluster_type": "eks", "infra_id": 9},
            recorded_at=datetime.now(UTC) - SETTLE - timedelta(minutes=1),
        )
        for _ in range(count)
    ]


def test_a_property_search_is_read_scan_most_entries_an_answer(
    dashboard: Flask, store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oldest first, a property search without a start time read every payload up to the horizon in
    one answer (newest first, it stops after `SCAN_MOST` entries): a value few entries hold cost a
    pass over the whole log. An answer reads on through the entries sharing the last one's time."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    now = datetime.now(UTC).replace(microsecond=0)

    def hours_ago(hours: int) -> str:
        return (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S")

    # Four entries share one time, as a batch does; the third entry read is the first of them.
    values = [(10, "gke"), (9, "gke"), (8, "eks"), (8, "gke"), (8, "eks"), (8, "gke"), (7, "gke"), (6, "eks")]
    for hours, value in values:
        record(
            store,
            "ClusterProvisioningSuccess",
            scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
            properties={"cluster_type": value, "infra_id": 9},
            recorded_at=now - timedelta(hours=hours),
        )
    client, headers = dashboard.test_client(), _token(dashboard)
    query = {"prop": "cluster_type = eks", "order": "oldest"}
    first = _answer(client.get("/api/audit/entries", query_string=query, headers=headers))
    assert [entry["recorded_at"][:19] for entry in first["entries"]] == [hours_ago(8), hours_ago(8)]
    assert Cursor.decode(first["next"]) == Cursor(now - timedelta(hours=7), 0)
    query["after"] = first["next"]
    rest = _answer(client.get("/api/audit/entries", query_string=query, headers=headers))
    assert [entry["recorded_at"][:19] for entry in rest["entries"]] == [hours_ago(6)]
    assert Cursor.decode(rest["next"]).recorded_at == datetime.fromisoformat(rest["settled_before"])
