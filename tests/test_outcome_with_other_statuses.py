"""The `outcome` filter with a status it cannot have: refused on every surface, never silently narrowed.

`outcome` classes failed and dropped entries only. Given beside `pending` (or `delivered`…), it listed,
exported and re-sent the failed and dropped ones and left the others out without a word:
`replay --status failed,pending --outcome refused` re-sent no pending entry and said nothing of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from auditlog import record_delivery, record_outage
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from analytics.audit import AuditStatus
from analytics.collector import Collector
from analytics.queries import FilterError, parse_filters

MIXED = "status=failed&status=pending&outcome=refused"
"""The dashboard's view of failed and pending entries, with the Outcome field set."""

SAID = (
    "narrows failed and dropped entries only: 'pending' in status would be left out; "
    "drop it from status, or drop outcome"
)
"""What the page (next to the Outcome field) and the API say of `MIXED`."""

SAID_ON_THE_COMMAND_LINE = (
    "error: --outcome: narrows failed and dropped entries only: 'pending' in --status would be left "
    "out; drop it from --status, or drop --outcome\n"
)


def test_the_filter_refuses_a_status_the_outcome_leaves_out() -> None:
    with pytest.raises(FilterError) as raised:
        parse_filters({"status": ["failed", "pending"], "outcome": "refused"})
    assert raised.value.errors == {"outcome": SAID}
    with pytest.raises(FilterError) as raised:
        parse_filters({"status": "delivered,pending,dropped", "outcome": "may_have_arrived"}, options=True)
    assert raised.value.errors == {
        "outcome": "narrows failed and dropped entries only: 'delivered' and 'pending' in --status would "
        "be left out; drop them from --status, or drop --outcome"
    }
    # What the class can have is kept as ticked; nothing ticked reads both.
    assert parse_filters({"status": "dropped", "outcome": "refused"}).statuses == ("dropped",)
    assert parse_filters({"outcome": "refused"}).statuses == ("failed", "dropped")


def test_the_page_says_so_next_to_the_outcome_field_and_keeps_the_other_filters(client: FlaskClient) -> None:
    page = client.get(f"/audit/?{MIXED}&event=New+User&range=24h")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    said = re.search(r'<span class="field-error" id="error-outcome"[^>]*>([^<]*)</span>', html)
    assert said is not None and unescape(said[1]) == SAID
    assert re.search(r'<span class="field-error" id="error-status"[^>]*></span>', html)
    for status in ("failed", "pending"):
        assert f'name="status" value="{status}" checked' in html
    assert '<option value="New User" selected>' in html
    assert '<option value="24h" selected>' in html


@pytest.mark.parametrize(
    "url",
    [
        f"/api/audit/entries?{MIXED}",
        "/api/audit/entries?status=failed,pending&outcome=refused",
    ],
)
def test_the_api_answers_a_400_naming_outcome(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["fields"] == {"outcome": SAID}


@pytest.mark.parametrize("extension", ["csv", "ndjson"])
def test_the_export_refuses_it_too(client: FlaskClient, extension: str) -> None:
    response = client.get(f"/audit/export.{extension}?{MIXED}")
    assert response.status_code == 400
    assert f"outcome: {SAID}" in response.get_data(as_text=True)


def test_audit_export_refuses_it_in_one_line(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "export", "--status", "failed,pending", "--outcome", "refused"])
    assert result.exit_code == 2
    assert result.stderr == SAID_ON_THE_COMMAND_LINE
    assert result.stdout == ""


def test_replay_refuses_a_typed_status_its_outcome_leaves_out_and_sends_nothing(
    make_app: Callable[..., Flask], database_url: str, collector: Collector
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    runner = app.test_cli_runner()
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = record_outage(store)
        stuck = record_delivery(store, AuditStatus.PENDING, recorded=datetime.now(UTC) - timedelta(hours=2))
    for dry_run in ([], ["--dry-run"]):
        result = runner.invoke(
            args=["replay", *dry_run, "--status", "failed,pending", "--outcome", "refused"]
        )
        assert result.exit_code == 2
        assert result.output == SAID_ON_THE_COMMAND_LINE
    assert collector.received() == []
    # Without --status, the outcome re-sends its own statuses, and the stuck entry is not among them.
    result = runner.invoke(args=["replay", "--dry-run", "--outcome", "refused"])
    assert result.exit_code == 0, result.output
    assert stuck not in result.output
    assert (
        result.output.splitlines()[-1]
        == f"dry run: {len(ids['refused'])} entries would be re-sent, 0 skipped"
    )


def test_the_re_send_widget_and_page_refuse_the_view_and_re_send_nothing(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        record_outage(analytics_client.store())
    widget = client.get(f"/audit/replay/?{MIXED}", headers={"HX-Request": "true"})
    # htmx is answered 200 (`shown_status`) with the widget empty: the search above says why.
    assert widget.status_code == 200
    assert 'id="audit-replay-send"' not in widget.get_data(as_text=True)
    confirmation = client.get(f"/audit/replay/?{MIXED}")
    assert confirmation.status_code == 400
    assert f"<code>outcome</code>: {SAID}" in unescape(confirmation.get_data(as_text=True))
    posted = client.post(f"/audit/replay/?{MIXED}")
    assert posted.status_code == 400
    assert collector.received() == []


def test_no_command_is_suggested_under_an_outcome_view(client: FlaskClient, app: Flask) -> None:
    """The "not stuck yet" command carries the view's statuses and outcome: under an outcome's view
    there is no pending entry to suggest one for, and none is suggested that `replay` would refuse."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        record_outage(store)
        record_delivery(store, AuditStatus.PENDING, recorded=datetime.now(UTC) - timedelta(minutes=40))
    for view in ("outcome=refused", "outcome=refused&status=failed", "outcome=may_have_arrived&range=24h"):
        widget = client.get(f"/audit/replay/?{view}", headers={"HX-Request": "true"})
        assert widget.status_code == 200
        html = widget.get_data(as_text=True)
        assert "Re-send" in html and "event-catalog replay" not in html
