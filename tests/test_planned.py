"""Planned specs: declared before any application sends them, as a tracking plan's status column says.

The catalog, `drift`, lint, `check-code`, the exports and the dashboard each treat a planned event
(and identify call) as first-class: it is shown and filtered as planned, never reported never sent or
stale, and reported once an application sends it. The specs are the test-only `planned_specs`.
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from planned_specs import (
    CATALOG_OF_PLANNED,
    EVENT,
    IDENTIFY,
    InvoiceSent,
    WorkspaceJoinIdentify,
    planned_catalog,  # noqa: F401  (a fixture)
)
from sqlalchemy import Engine

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.checkcode import check_paths
from analytics.drift import drift
from analytics.exports import markdown_plan, segment_plan, spec_document, specs_csv
from analytics.lint import lint
from analytics.messages import build_message
from analytics.scopes import ProjectScope
from analytics.spec import Category, SpecRegistry, Status, Team, TrackSpec

HTMX = {"HX-Request": "true"}


def _send(store: AuditStore, info: SpecInfo, source: str = "application") -> None:
    store.record(build_message(info.example_spec()), status=AuditStatus.DELIVERED, source=source)


def _findings(engine: Engine) -> dict[str, tuple[str, str]]:
    return {
        f.subject: (f.kind, f.message)
        for f in drift(engine, since=timedelta(days=30), catalog=CATALOG_OF_PLANNED)
    }


def test_a_planned_spec_carries_its_status_into_the_catalog_and_its_schema() -> None:
    assert InvoiceSent.status is Status.PLANNED and WorkspaceJoinIdentify.status is Status.PLANNED
    assert CATALOG_OF_PLANNED.event(EVENT).json_schema["x-status"] == "planned"
    assert CATALOG_OF_PLANNED.identifier(IDENTIFY).json_schema["x-status"] == "planned"
    assert not Status.PLANNED.expects_traffic and not Status.DEPRECATED.expects_traffic
    assert Status.ACTIVE.expects_traffic


class _Events(StrEnum):
    DraftSave = "Draft Saved"
    DraftDelete = "Draft Deleted"


def test_a_status_given_as_text_is_the_status_and_an_unknown_one_is_refused() -> None:
    """Every reader compares with `is`: text must not pass for no status at all."""

    class DraftSaved(
        TrackSpec,
        event=_Events.DraftSave,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        status="planned",
        registry=SpecRegistry(),
    ):
        """Saved."""

        scope: ProjectScope

    assert DraftSaved.status is Status.PLANNED
    with pytest.raises(
        TypeError, match=r"DraftDeleted: status='someday' is not a status; use Status\.PLANNED"
    ):

        class DraftDeleted(
            TrackSpec,
            event=_Events.DraftDelete,
            category=Category.ONBOARDING,
            owner=Team.GROWTH,
            status="someday",
            registry=SpecRegistry(),
        ):
            """Deleted."""

            scope: ProjectScope


def test_drift_does_not_expect_a_planned_event_and_reports_it_once_an_application_sends_it(
    store: AuditStore, engine: Engine
) -> None:
    assert _findings(engine) == {}, "planned and unsent is what planned means: not never-sent"
    event, call = CATALOG_OF_PLANNED.event(EVENT), CATALOG_OF_PLANNED.identifier(IDENTIFY)
    _send(store, event, source="tester")
    _send(store, call, source="tester")
    assert _findings(engine) == {}, "trying a planned event in the tester is what it is for"
    _send(store, event)
    _send(store, call)
    told = (
        "planned, but sent by an application (1 in the last 7 days): it has shipped, so mark it active "
        "in the catalog (drop status=Status.PLANNED from its spec)"
    )
    assert _findings(engine) == {
        EVENT: ("planned-sent", told),
        f"identify {IDENTIFY}": ("planned-sent", told),
    }


@pytest.mark.usefixtures("planned_catalog")
def test_a_planned_event_sent_long_ago_is_neither_stale_nor_planned_sent(
    record_sent: Callable[..., str],
    engine: Engine,
) -> None:
    record_sent("InvoiceSend", datetime.now(UTC) - timedelta(days=400))
    kinds = {f.subject: f.kind for f in drift(engine, since=timedelta(days=30))}
    assert EVENT not in kinds


def _lint_registry(replacement_status: Status, status: Status) -> SpecRegistry:
    registry = SpecRegistry()
    common: dict[str, Any] = {"category": Category.ONBOARDING, "owner": Team.GROWTH, "registry": registry}

    class DraftSaved(TrackSpec, event=_Events.DraftSave, status=replacement_status, **common):
        """Saved."""

        scope: ProjectScope

    class DraftDeleted(
        TrackSpec, event=_Events.DraftDelete, status=status, replaced_by=_Events.DraftSave, **common
    ):
        """Deleted."""

        scope: ProjectScope

    return registry


@pytest.mark.parametrize(
    ("replacement", "status", "message"),
    [
        (Status.ACTIVE, Status.PLANNED, 'names a replacement ("Draft Saved") but is planned, not deprecated'),
        (
            Status.PLANNED,
            Status.DEPRECATED,
            'is deprecated in favour of "Draft Saved", which is only planned: '
            "deprecate it once its replacement is active",
        ),
    ],
)
def test_lint_refuses_a_replacement_that_leads_to_or_from_a_planned_event(
    replacement: Status, status: Status, message: str
) -> None:
    findings = lint(_Events, _lint_registry(replacement, status), exceptions={}).findings
    assert [str(f) for f in findings] == [f"DraftDeleted: EC014 {message}"]


def test_lint_passes_a_deprecation_in_favour_of_an_active_event() -> None:
    assert lint(_Events, _lint_registry(Status.ACTIVE, Status.DEPRECATED), exceptions={}).findings == []


def test_check_code_does_not_call_a_planned_spec_unused(tmp_path: Path) -> None:
    """Unused is what a planned spec is until engineers build it; building one is no finding either."""
    registry = SpecRegistry()
    registry.tracks.append(InvoiceSent)
    registry.tracks.append(CATALOG.event("ClusterProvisioningSuccess").spec)  # type: ignore[arg-type]
    (tmp_path / "app.py").write_text("print('no analytics here')\n")
    findings = check_paths([tmp_path], catalog=Catalog(registry)).findings
    assert [(f.code, f.message) for f in findings] == [
        ("CC005", "spec ClusterProvisioningSuccess is never used by the scanned code")
    ]
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import analytics
            from planned_specs import InvoiceSent

            analytics.track(InvoiceSent(scope=scope, amount_cents=1))
            """
        )
    )
    assert [f.code for f in check_paths([tmp_path], catalog=Catalog(registry)).findings] == ["CC005"]


def test_every_export_says_planned() -> None:
    info = CATALOG_OF_PLANNED.event(EVENT)
    assert spec_document(info)["status"] == "planned"
    assert spec_document(CATALOG_OF_PLANNED.identifier(IDENTIFY))["status"] == "planned"
    rows = list(csv.DictReader(io.StringIO(specs_csv([info]))))
    assert {row["status"] for row in rows} == {"planned"}
    assert "**Status:** planned (not sent by any application yet)" in markdown_plan(CATALOG_OF_PLANNED)
    [rule, _] = segment_plan(CATALOG_OF_PLANNED)["rules"]
    assert rule["jsonSchema"]["labels"]["status"] == "planned"


def _row(page: str, event: str) -> str:
    start = page.index(f">{event}</a>")
    return page[start : page.index("</tr>", start)]


@pytest.mark.usefixtures("planned_catalog")
def test_the_list_badges_a_planned_event_and_its_status_filter_finds_it(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    row = _row(page, EVENT)
    # A disclosure, not only a tooltip: the keyboard, touch and screen readers reach what planned means.
    meaning = "Declared in the catalog, not sent by any application yet"
    assert (
        f'<details class="explained"><summary class="badge status-planned" title="{meaning}">'
        f'planned</summary><span class="reason">{meaning}</span></details>' in row
    )
    assert '<span class="muted">never sent</span>' in row and "badge never-sent" not in row
    assert "<option>planned</option>" in page
    filtered = client.get("/?status=planned", headers=HTMX)
    assert filtered.status_code == 200
    assert [name for name in CATALOG.events if f">{name}</a>" in filtered.get_data(as_text=True)] == [EVENT]
    assert client.get("/?status=Planned").status_code == 200


@pytest.mark.usefixtures("planned_catalog")
def test_a_planned_event_already_sent_needs_attention_on_the_list_its_page_and_the_download(
    client: FlaskClient,
    app_record_sent: Callable[..., str],
) -> None:
    assert "planned-sent" not in _row(client.get("/").get_data(as_text=True), EVENT)
    app_record_sent("InvoiceSend", datetime.now(UTC) - timedelta(hours=1))
    row = _row(client.get("/?attention=1").get_data(as_text=True), EVENT)
    assert '<summary class="badge planned-sent" title="Planned, but sent by an application (1 in' in row
    page = client.get("/events/InvoiceSend").get_data(as_text=True)
    assert '<span class="badge planned-sent">planned, already sent</span> Planned, but sent by' in page
    listed = client.get("/events.json?status=planned").get_json()
    assert [event["status"] for event in listed["events"]] == ["planned"]
    assert listed["events"][0]["activity"]["planned_sent"].startswith("planned, but sent by an application")


@pytest.mark.usefixtures("planned_catalog")
def test_the_event_page_says_what_planned_means(client: FlaskClient) -> None:
    page = client.get("/events/InvoiceSend").get_data(as_text=True)
    assert '<summary class="badge status-planned"' in page
    assert (
        '<p class="notice" role="note" id="planned-note"><strong>Planned.</strong> This event is declared'
        in page
    )
    assert "as a planned event should" in page and "badge never-sent" not in page
    assert "Try it in the tester" in page
    active = client.get("/events/ClusterProvisioningSuccess").get_data(as_text=True)
    assert "planned-note" not in active


@pytest.mark.usefixtures("planned_catalog")
def test_the_identify_pages_say_planned(
    client: FlaskClient,
    app_record_sent: Callable[..., str],
    app: Flask,
) -> None:
    listing = client.get("/identifiers").get_data(as_text=True)
    row = listing[
        listing.index(f">{IDENTIFY}</a>") : listing.index("</tr>", listing.index(f">{IDENTIFY}</a>"))
    ]
    assert 'class="badge status-planned"' in row and '<span class="muted">never sent</span>' in row
    page = client.get("/identifiers/WorkspaceJoinIdentify").get_data(as_text=True)
    assert "This identify call is declared so that it can be" in page
    assert "as a planned identify call should" in page
    from webapp.extensions import analytics_client

    message = build_message(CATALOG.identifier(IDENTIFY).example_spec())
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    listing = client.get("/identifiers").get_data(as_text=True)
    assert 'class="badge planned-sent"' in listing
    page = client.get("/identifiers/WorkspaceJoinIdentify").get_data(as_text=True)
    assert '<span class="badge planned-sent">planned, already sent</span>' in page


@pytest.mark.usefixtures("planned_catalog")
def test_the_tester_sends_a_planned_event_without_a_confirmation_and_says_why(client: FlaskClient) -> None:
    page = client.get("/tester/?event=InvoiceSend").get_data(as_text=True)
    assert 'id="planned-help">Planned: no application sends it yet.' in page
    assert 'name="confirm_deprecated"' not in page
    assert ">Invoice Sent — planned</option>" in page
    sent = client.post(
        "/api/tester/send",
        json={
            "event": "InvoiceSend",
            "scope": {"user_id": 1, "project_id": 12},
            "properties": {"amount_cents": 1},
        },
    )
    assert sent.status_code == 200 and sent.get_json()["status"] == "delivered"


@pytest.mark.usefixtures("planned_catalog")
def test_the_api_serves_the_status(client: FlaskClient) -> None:
    answer = client.get("/api/catalog/events/InvoiceSend")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "planned"
    identifiers = {
        item["name"]: item["status"] for item in client.get("/api/catalog").get_json()["identifiers"]
    }
    assert identifiers[IDENTIFY] == "planned"


@pytest.mark.usefixtures("planned_catalog")
def test_drift_command_counts_the_planned_specs_it_does_not_expect(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["drift", "--event", "InvoiceSend", "--event", IDENTIFY])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "ok: 1 event and 1 identify call checked (2 planned, not expected to be sent yet), no drift\n"
    )
