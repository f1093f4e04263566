"""Exports that include each entry's delivery attempts (`include=attempts`, `--include attempts`).

An incident export of `attempts=failed` read `delivered`, HTTP 200 on every line once a replay had
re-sent the entries: nothing said which failure had selected them, nor who re-sent them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auditlog import record, record_delivery
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from analytics.audit import AuditStatus, AuditStore, Source, create_audit_engine
from analytics.export import ATTEMPT_SUMMARY_COLUMNS, Export, ExportFormat, attempt_record
from analytics.personal_data import PersonalDataCipher
from analytics.queries import EXPORT_COLUMNS, AuditFilter, delivery_attempts

BOM = "\ufeff"


def _incident(store: AuditStore) -> dict[str, str]:
    """An entry refused with HTTP 500 then re-sent by a replay, one delivered at once, one pending."""
    refused = record_delivery(store, AuditStatus.FAILED, http_status=500, error="=internal error")
    store.record_outcome(
        [refused], AuditStatus.DELIVERED, http_status=200, source=Source.REPLAY, actor="cli:root"
    )
    return {
        "refused": refused,
        "delivered": record_delivery(store, AuditStatus.DELIVERED, http_status=200),
        "pending": record_delivery(store, AuditStatus.PENDING),
    }


def _history(engine: Engine, message_id: str) -> list[dict[str, Any]]:
    """The attempts as the entry page and the API read them, one entry at a time."""
    with Session(engine) as session:
        return [attempt_record(attempt) for attempt in session.scalars(delivery_attempts(message_id))]


def _lines(text: str) -> dict[str, dict[str, Any]]:
    return {line["message_id"]: line for line in map(json.loads, text.splitlines())}


def test_ndjson_with_attempts_ends_each_line_with_the_entry_s_delivery_history(store: AuditStore) -> None:
    ids = _incident(store)
    plain = _lines("".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON)))
    detailed = _lines("".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON, attempts=True)))
    assert list(detailed) == list(plain)
    for message_id, line in detailed.items():
        # The same line, `attempts` added last, so a script reading the other members reads them as before.
        assert list(line) == [*EXPORT_COLUMNS, "attempts"]
        assert {name: line[name] for name in EXPORT_COLUMNS} == plain[message_id]
        assert line["attempts"] == _history(store.engine, message_id)
    refused = detailed[ids["refused"]]
    assert refused["status"] == "delivered"
    assert [
        (a["outcome"], a["http_status"], a["error"], a["source"], a["actor"]) for a in refused["attempts"]
    ] == [
        ("failed", 500, "=internal error", None, None),
        ("delivered", 200, None, "replay", "cli:root"),
    ]
    assert detailed[ids["pending"]]["attempts"] == []


def test_csv_with_attempts_adds_summary_columns_after_spec(store: AuditStore) -> None:
    ids = _incident(store)
    plain = "".join(Export(store.engine, AuditFilter(), ExportFormat.CSV))
    text = "".join(Export(store.engine, AuditFilter(), ExportFormat.CSV, attempts=True))
    assert text.startswith(BOM + ",".join((*EXPORT_COLUMNS, *ATTEMPT_SUMMARY_COLUMNS)) + "\r\n")
    rows = {row["message_id"]: row for row in csv.DictReader(io.StringIO(text.removeprefix(BOM)))}
    assert [dict(row) for row in csv.DictReader(io.StringIO(plain.removeprefix(BOM)))] == [
        {name: row[name] for name in EXPORT_COLUMNS} for row in rows.values()
    ]
    failed, resent = _history(store.engine, ids["refused"])
    refused = rows[ids["refused"]]
    assert {name: refused[name] for name in ATTEMPT_SUMMARY_COLUMNS} == {
        "attempt_count": "2",
        "first_failure_at": failed["attempted_at"],
        "first_failure_outcome": "failed",
        "first_failure_http_status": "500",
        # An endpoint's error text is a sender's as much as any other cell: no formula runs.
        "first_failure_error": "'=internal error",
        "last_attempt_at": resent["attempted_at"],
        "last_attempt_source": "replay",
        "last_attempt_actor": "cli:root",
    }
    delivered = rows[ids["delivered"]]
    assert (delivered["attempt_count"], delivered["first_failure_at"], delivered["last_attempt_source"]) == (
        "1",
        "",
        "",
    )
    assert [rows[ids["pending"]][name] for name in ATTEMPT_SUMMARY_COLUMNS] == ["0"] + [""] * 7


def test_attempts_are_read_one_query_per_batch_and_only_when_asked(store: AuditStore) -> None:
    for _ in range(5):
        _incident(store)
    statements: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "delivery_attempts" in statement:
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        for export_format in ExportFormat:
            assert sum(1 for _ in Export(store.engine, AuditFilter(), export_format, batch_size=4)) > 0
            assert statements == []
            export = Export(store.engine, AuditFilter(), export_format, batch_size=4, attempts=True)
            chunks = list(export)
            assert export.rows == 15
            # 15 entries, 4 a batch: 4 batches, one query each, whatever their attempts.
            assert len(chunks) == len(statements) == 4, export_format
            statements.clear()
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)


def test_an_unmasking_export_with_attempts_changes_only_the_sealed_payloads(engine: Engine) -> None:
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    _incident(store)
    sealed = record(store, "UserCreate", scope={"user_id": 2}, properties={"email": "ada@example.com"})
    store.record_outcome([sealed], AuditStatus.FAILED, http_status=503, error="unavailable")
    cipher = PersonalDataCipher(key)
    for export_format in ExportFormat:
        masked = "".join(Export(engine, AuditFilter(), export_format, attempts=True))
        unmasked = "".join(Export(engine, AuditFilter(), export_format, cipher=cipher, attempts=True))
        (mask,) = set(re.findall(r"masked:[^\"]+", masked))
        assert "unavailable" in masked and unmasked == masked.replace(mask, "ada@example.com")


@pytest.fixture
def incident_app(app: Flask, sqlite_url: str) -> Iterator[dict[str, str]]:
    """The dashboard's database after an incident's failure and re-send."""
    engine = create_audit_engine(sqlite_url)
    try:
        yield _incident(AuditStore(engine))
    finally:
        engine.dispose()


def test_export_page_includes_the_attempts_when_asked(
    client: FlaskClient, incident_app: dict[str, str]
) -> None:
    plain = client.get("/audit/export.ndjson?status=delivered")
    assert plain.status_code == 200
    assert all("attempts" not in line for line in map(json.loads, plain.get_data(as_text=True).splitlines()))
    asked = client.get("/audit/export.ndjson?status=delivered&include=attempts")
    assert asked.status_code == 200
    # Saved beside the plain one, its name says what it holds (both were `audit-status-delivered-….ndjson`).
    assert "audit-status-delivered_with-attempts-" in asked.headers["Content-Disposition"]
    assert "with-attempts" not in plain.headers["Content-Disposition"]
    lines = _lines(asked.get_data(as_text=True))
    # The same attempts, in the same shape, as the API's answer for the entry.
    entry = client.get(f"/api/audit/entries/{incident_app['refused']}")
    assert lines[incident_app["refused"]]["attempts"] == entry.get_json()["attempts"]
    table = client.get("/audit/export.csv?include=attempts&message_id=" + incident_app["refused"])
    (row,) = csv.DictReader(io.StringIO(table.get_data().decode("utf-8-sig")))
    assert (row["attempt_count"], row["first_failure_http_status"], row["last_attempt_actor"]) == (
        "2",
        "500",
        "cli:root",
    )


def test_export_page_refuses_what_it_cannot_include(
    client: FlaskClient, incident_app: dict[str, str]
) -> None:
    response = client.get("/audit/export.csv?include=payloads&includ=attempts")
    assert response.status_code == 400 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("includ: unknown parameter: the audit page's filters are ")
    assert lines[0].endswith("; and an export takes include=attempts")
    assert lines[1] == (
        "include: an export cannot include 'payloads': include=attempts adds each entry's delivery attempts"
    )


def test_the_api_list_includes_the_attempts_when_asked(
    client: FlaskClient, incident_app: dict[str, str]
) -> None:
    """A script reviewing an incident read each entry's attempts with one request per entry."""
    plain = client.get("/api/audit/entries").get_json()
    assert len(plain["entries"]) == 3 and all("attempts" not in entry for entry in plain["entries"])
    listed = client.get("/api/audit/entries?include=attempts").get_json()
    attempts = {entry["message_id"]: entry["attempts"] for entry in listed["entries"]}
    assert set(attempts) == set(incident_app.values())
    for message_id in incident_app.values():
        assert attempts[message_id] == client.get(f"/api/audit/entries/{message_id}").get_json()["attempts"]
    assert len(attempts[incident_app["refused"]]) == 2 and attempts[incident_app["pending"]] == []


def test_the_api_list_oldest_first_includes_the_attempts_when_asked(
    client: FlaskClient, sqlite_url: str
) -> None:
    """The poller's order (settled entries, oldest first) reads them the same way."""
    engine = create_audit_engine(sqlite_url)
    try:
        store = AuditStore(engine)
        settled = datetime.now(UTC) - timedelta(minutes=5)
        failed = record_delivery(store, AuditStatus.FAILED, recorded=settled, http_status=500, error="oops")
    finally:
        engine.dispose()
    listed = client.get("/api/audit/entries?order=oldest&include=attempts").get_json()
    [entry] = listed["entries"]
    assert entry["message_id"] == failed
    assert entry["attempts"] == client.get(f"/api/audit/entries/{failed}").get_json()["attempts"] != []
    refused = client.get("/api/audit/entries?include=payloads")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {
        "include": "the list cannot include 'payloads': include=attempts adds each entry's delivery attempts"
    }


def test_cli_export_includes_the_attempts_when_asked(
    runner: FlaskCliRunner, incident_app: dict[str, str]
) -> None:
    plain = runner.invoke(args=["audit", "export", "--format", "ndjson"])
    assert plain.exit_code == 0, plain.output
    assert "attempts" not in json.loads(plain.stdout.splitlines()[0])
    asked = runner.invoke(args=["audit", "export", "--format", "ndjson", "--include", "attempts"])
    assert asked.exit_code == 0, asked.output
    refused = _lines(asked.stdout)[incident_app["refused"]]
    assert [attempt["outcome"] for attempt in refused["attempts"]] == ["failed", "delivered"]
    table = runner.invoke(args=["audit", "export", "--include", "attempts", "--status", "pending"])
    assert table.stdout.splitlines()[0].endswith(",spec," + ",".join(ATTEMPT_SUMMARY_COLUMNS))
    wrong = runner.invoke(args=["audit", "export", "--include", "everything"])
    assert wrong.exit_code == 2
    assert "'everything' is not 'attempts'" in wrong.stderr
