"""The event list's CSV download carries the list's Last seen and 7-day columns, on each kind of
database (the activity comes from the audit log)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from analytics.catalog import CATALOG
from analytics.durations import format_instant
from analytics.plan_import import PlanFormat, import_plan


@pytest.fixture
def app(make_app: Callable[..., Flask], database_url: str) -> Flask:
    """The dashboard on a migrated database of each kind."""
    return make_app(SQLALCHEMY_DATABASE_URI=database_url)


def _rows(client: FlaskClient, query: str) -> list[dict[str, str]]:
    response = client.get(f"/events.csv?{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))


def test_the_list_s_csv_carries_last_seen_and_the_week_s_count_on_every_row_of_an_event(
    client: FlaskClient, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    """A PM sorted the list by Last seen and downloaded it: the CSV had one row per property and
    neither column, so the file could not be sorted as the list was."""
    now = datetime.now(UTC).replace(microsecond=0)
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    app_record_sent("ProjectCreate", old)
    app_record_sent("ProjectCreate", recent)
    app_record_sent("ProjectCreate", recent)
    rows = _rows(client, "q=project&sort=-last_seen")
    assert list(rows[0])[-2:] == ["last_seen", "sent_last_7_days"]
    sent = [row for row in rows if row["constant"] == "ProjectCreate"]
    assert sent and {(row["last_seen"], row["sent_last_7_days"]) for row in sent} == {
        (format_instant(recent), "2")
    }
    assert rows[0]["constant"] == "ProjectCreate", "in the list's order"
    never = [row for row in rows if row["kind"] == "track" and row["constant"] != "ProjectCreate"]
    assert never and {(row["last_seen"], row["sent_last_7_days"]) for row in never} == {("", "0")}
    assert {(row["last_seen"], row["sent_last_7_days"]) for row in rows if row["kind"] == "identify"} <= {
        ("", "")
    }


def test_the_list_s_csv_leads_each_spec_with_the_user_id_its_page_shows_and_imports_without_it(
    client: FlaskClient,
) -> None:
    """The event page's property table starts with `userId` (required, the scope's id); the list's
    CSV had no such row. The import reads it as the scope's, not as a property to declare."""
    response = client.get("/events.csv?sort=name")
    text = response.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    firsts = {row["constant"]: row for row in reversed(rows)}
    assert set(firsts) == {info.constant for info in CATALOG.events.values()}
    identify = _rows(client, "q=register")
    assert any(row["constant"] == "RegisterIdentify" for row in identify)
    firsts |= {row["constant"]: row for row in reversed(identify) if row["kind"] == "identify"}
    for first in firsts.values():
        assert (first["property"], first["type"], first["required"], first["added_by_scope"]) == (
            "userId",
            "string",
            "yes",
            "yes",
        )
    imported = import_plan(text, PlanFormat.CSV, "events.csv")
    assert "userId" not in imported.source
    assert not [warning for warning in imported.warnings if "userId" in warning]
    assert (
        "columns not imported: last_seen (not a column of the export), "
        "sent_last_7_days (not a column of the export)"
    ) in imported.warnings


def _user_id_rows(client: FlaskClient, path: str) -> dict[tuple[str, str], dict[str, object]]:
    """Each spec's `user_id` row in a JSON document, by kind and constant, checking that the
    properties are left as they were."""
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_json()
    specs = body.get("events", []) + body.get("identifiers", []) if "events" in body else [body]
    for spec in specs:
        assert "userId" not in [row["name"] for row in spec["properties"]]
    return {(spec["kind"], spec["constant"]): spec["user_id"] for spec in specs}


@pytest.mark.parametrize(
    "path",
    ["/events.json?sort=name", "/events.json?q=register", "/api/catalog", "/api/catalog/events/UserCreate"],
)
def test_the_json_documents_carry_the_user_id_row_the_page_and_the_csv_show(
    client: FlaskClient, path: str
) -> None:
    """`/events.csv` leads each spec with its `userId` row, as its page does; `/events.json` and
    `/api/catalog`, which shape specs alike, had none. They add it beside `properties`, which keeps
    the payload's own (what the JSON Schema describes), so scripts reading those read the same."""
    rows = _user_id_rows(client, path)
    assert rows
    for (kind, constant), row in rows.items():
        info = CATALOG.event(constant) if kind == "track" else CATALOG.identifier(constant)
        expected = {"name": "userId", "type": "string", "required": True, "from_scope": True}
        assert {key: row[key] for key in expected} == expected
        assert row["description"] == info.user_id.description and row["example"] == info.user_id.example
