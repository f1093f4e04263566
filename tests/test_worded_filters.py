"""Words of a fixed list (statuses, outcomes, attempts, types, sources, formats) read in any case
everywhere: `replay --status Failed` always was, while `--outcome Refused`, `audit export --status
Failed` and the page's, the API's, the exports' and the re-send page's `status=Failed` were refused.
Once read, each is the log's lowercase word: the page redraws it, links and file names carry it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from auditlog import record_delivery, record_outage
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStatus
from analytics.queries import FilterError, parse_filters
from analytics.replay import REPLAY_ACTION
from webapp.extensions import analytics_client, db


def _outage(app: Flask) -> dict[str, list[str]]:
    """`record_outage` in the app's log: 2 delivered, 3 refused (2 failed, 1 dropped), 2 may have arrived."""
    with app.app_context():
        return record_outage(analytics_client.store())


def _refused_failed(ids: dict[str, list[str]]) -> list[str]:
    """The refused entries whose status is failed (the third was dropped), newest first."""
    return list(reversed(ids["refused"][:2]))


def test_a_worded_filter_in_any_case_is_the_same_filter() -> None:
    typed = {
        "status": "Failed, DROPPED",
        "outcome": "Refused",
        "type": "Track",
        "source": "Application",
        "attempts": "FAILED",
    }
    lowercase = {"status": "failed,dropped", "outcome": "refused", "type": "track", "source": "application"}
    assert parse_filters(typed) == parse_filters({**lowercase, "attempts": "failed"})
    with pytest.raises(FilterError) as refused:
        parse_filters({"status": "Faild", "outcome": "Refusd"})
    # An unknown word is refused as it was, quoted as typed.
    assert refused.value.errors == {
        "status": "unknown status 'Faild': one of pending, delivered, failed, dropped, disabled, recorded",
        "outcome": "unknown outcome 'Refusd': one of refused, may_have_arrived",
    }


def test_the_cli_reads_every_worded_option_in_any_case(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    runner = app.test_cli_runner()
    ids = _outage(app)
    exported = runner.invoke(
        args=[
            "audit", "export", "--status", "Failed", "--outcome", "Refused", "--type", "Track",
            "--source", "Application", "--attempts", "Failed", "--format", "NDJSON", "--include", "Attempts",
        ]
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["message_id"] for line in lines] == _refused_failed(ids)
    assert all(line["attempts"] for line in lines)
    dry = runner.invoke(args=["replay", "--dry-run", "--outcome", "refused"])
    assert dry.exit_code == 0, dry.output
    assert runner.invoke(
        args=["replay", "--dry-run", "--outcome", "Refused", "--status", "FAILED,Dropped"]
    ).output == (dry.output)
    resent = runner.invoke(args=["replay", "--outcome", "Refused", "--status", "Failed"])
    assert resent.output.splitlines() == ["re-sent 2 entries: 2 delivered"]
    # The run's action keeps the words as the log spells them, as the search does.
    with app.app_context():
        [details] = db.session.scalars(
            select(AuditEntry.payload).where(AuditEntry.type == "action", AuditEntry.event == REPLAY_ACTION)
        ).all()
    assert details["properties"]["selection"] == "--status failed --outcome refused"
    assert runner.invoke(args=["audit", "verify", "--format", "JSON"]).exit_code == 0
    unknown = runner.invoke(args=["audit", "export", "--outcome", "Refusd"])
    # Refused as before (the console script says it in one line: `webapp.cli._refuse`).
    assert unknown.exit_code == 2
    assert (
        "Invalid value for '--outcome': 'Refusd' is not one of 'refused', 'may_have_arrived'"
        in unknown.stderr
    )


def test_the_page_reads_a_worded_filter_in_any_case_and_redraws_it_lowercase(
    app: Flask, client: FlaskClient
) -> None:
    ids = _outage(app)
    page = client.get("/audit/?status=Failed&outcome=Refused")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert all(message_id in html for message_id in _refused_failed(ids))
    assert not any(message_id in html for message_id in ids["may_have_arrived"])
    assert '<input type="checkbox" name="status" value="failed" checked>' in html
    assert '<option value="refused" selected>' in html
    assert "Refused" not in re.findall(r'href="([^"]*export[^"]*)"', html)[0]
    assert "status=failed" in re.findall(r'href="([^"]*export[^"]*)"', html)[0]
    unknown = client.get("/audit/?status=Faild").get_data(as_text=True)
    assert "unknown status &#39;Faild&#39;" in unknown


def test_the_api_and_the_exports_read_a_worded_filter_in_any_case(app: Flask, client: FlaskClient) -> None:
    ids = _outage(app)
    listed = client.get("/api/audit/entries?status=Failed&outcome=Refused&attempts=Failed&include=Attempts")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [entry["message_id"] for entry in listed.get_json()["entries"]] == _refused_failed(ids)
    export = client.get("/audit/export.ndjson?status=FAILED&outcome=Refused")
    assert export.status_code == 200, export.get_data(as_text=True)
    # The file is named by the words as the log spells them, as a lowercase search's is.
    assert '"audit-status-failed_outcome-' in export.headers["Content-Disposition"]
    assert [json.loads(line)["message_id"] for line in export.get_data(as_text=True).splitlines()] == (
        _refused_failed(ids)
    )
    refused = client.get("/api/audit/entries?outcome=Refusd")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {
        "outcome": "unknown outcome 'Refusd': one of refused, may_have_arrived"
    }


def _without_tokens(html: str) -> str:
    """A page's HTML without its CSRF tokens, which are signed with the time."""
    return re.sub(r'(csrf_token" value="|X-CSRFToken": ")[^"]*', r"\1", html)


def test_the_re_send_page_reads_a_worded_filter_in_any_case(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        record_delivery(analytics_client.store(), AuditStatus.FAILED, http_status=500, error="oops")
    lowercase = client.get("/audit/replay/?status=failed&outcome=refused")
    typed = client.get("/audit/replay/?status=Failed&outcome=Refused")
    assert typed.status_code == lowercase.status_code == 200, typed.get_data(as_text=True)
    assert "1 entry" in typed.get_data(as_text=True)
    assert _without_tokens(typed.get_data(as_text=True)) == _without_tokens(lowercase.get_data(as_text=True))
