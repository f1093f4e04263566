"""A tester send whose audit entry a retention purge removed is said to be purged, not "not sent".

After `audit purge`, the send's page said "Not sent: the audit log has no entry for it", and a CI
job repeating its token was answered 409 "the first send with this token was not recorded in the
audit log, so nothing was sent": it was sent and delivered; retention removed its entry since.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from analytics.audit import AuditStatus, AuditStore, Source, create_audit_engine
from analytics.collector import Collector
from analytics.retention import purge
from webapp import create_app
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role
from webapp.extensions import db

SEND = {
    "event": "ProjectCreate",
    "scope": {"user_id": 1, "project_id": 7170},
    "token": "ci-run-7170",
}
PURGED = re.compile(
    r"its audit entry was purged by retention on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
    r"\(entries recorded before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)"
)


@pytest.fixture
def app(database_url: str, collector: Collector) -> Iterator[Flask]:
    """The dashboard on each kind of database, an engineer signed in through the proxy."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
            "AUTH_MODE": "proxy",
            "TRUSTED_PROXIES": parse_networks("127.0.0.1"),
            "PROXY_DEFAULT_ROLE": Role.ENGINEER,
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def engineer(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_EMAIL"] = "ci@example.com"
    return client


def _purge_everything_until_now(database_url: str) -> None:
    engine = create_audit_engine(database_url)
    try:
        report = purge(AuditStore(engine), datetime.now(UTC), actor="ops@example.com")
        assert report.entries >= 1
    finally:
        engine.dispose()


def test_a_send_purged_by_retention_says_so_on_its_pages_and_to_a_repeated_token(
    app: Flask, engineer: FlaskClient, database_url: str
) -> None:
    first = engineer.post("/api/tester/send", json=SEND)
    assert first.status_code == 200 and first.get_json()["status"] == "delivered"
    message_id = first.get_json()["message_id"]
    runner = app.test_cli_runner()
    cli_send = "send ProjectCreate --scope user=1,project=7171 --token cli-run-7171".split()
    assert runner.invoke(args=cli_send).exit_code == 0
    _purge_everything_until_now(database_url)

    for page_url in (f"/tester/sends/{message_id}", f"/tester/?event=ProjectCreate&sent={message_id}"):
        page = engineer.get(page_url).get_data(as_text=True)
        assert "Not sent:" not in page and "has no entry for it" not in page, page_url
        assert re.search("Outcome unknown: " + PURGED.pattern + r"\.</p>", page), page_url

    again = engineer.post("/api/tester/send", json=SEND)
    assert again.status_code == 409
    said = again.get_json()["error"]["message"]
    assert said.startswith(
        "The token 'ci-run-7170' cannot send again: its audit entry was purged by retention"
    )
    assert PURGED.search(said) and said.endswith(", so its outcome is no longer known. Use a new token.")
    assert "not recorded" not in said

    repeated = runner.invoke(args=cli_send)
    assert repeated.exit_code == 1, repeated.output
    assert (
        "--token 'cli-run-7171' cannot send again: its audit entry was purged by retention" in repeated.stderr
    )


def test_a_purge_record_without_a_readable_cutoff_is_passed_over(
    engineer: FlaskClient, database_url: str
) -> None:
    """The tester read every purge record's cutoff unguarded (a 500 on one without it), while the audit
    entry page passed such a record over: both read purge records through `PurgeRecord` now."""
    sent = engineer.post("/api/tester/send", json=SEND)
    assert sent.status_code == 200
    engine = create_audit_engine(database_url)
    try:
        AuditStore(engine).record(
            {
                "type": "purge",
                "messageId": "purge-without-cutoff",
                "timestamp": "2026-12-06T00:00:00Z",
                "cutoff": "spring",
            },
            status=AuditStatus.RECORDED,
            source=Source.RETENTION,
            actor="ops@example.com",
        )
    finally:
        engine.dispose()
    _purge_everything_until_now(database_url)
    response = engineer.get(f"/tester/sends/{sent.get_json()['message_id']}")
    assert response.status_code == 200
    assert re.search("Outcome unknown: " + PURGED.pattern, response.get_data(as_text=True))
