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

from analytics.durations import format_instant


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
