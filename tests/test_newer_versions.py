"""A message from a catalog version newer than the dashboard's is not drift, on SQLite and PostgreSQL.

Application hosts deploy before the dashboard (the README lets them upgrade in any order): a
compatible property a newer release added fails the dashboard's older schema, which said "drifting,
no longer matches today's schema" and put the event under Needs attention.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from sqlalchemy import Engine

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.drift import drift
from analytics.messages import build_message
from analytics.versions import record_version
from webapp.auth.roles import Role

NOW = datetime.now(UTC)
NEWER, OLDER = "n3wn3wn3wn3w", "0ld0ld0ld0ld"


CLUSTER_EVENTS = [
    name for name, info in CATALOG.events.items() if "cluster_id" in info.json_schema["properties"]
]


class _Version:
    """A catalog version as `record_version` reads it: the newer one adds `template` to New Project
    Event; the older one had `legacy_code` in every cluster event and no Stack Deletion."""

    def __init__(self, version: str) -> None:
        self.version = version

    def schema_bundle(self) -> dict[str, Any]:
        bundle = copy.deepcopy(CATALOG.schema_bundle())
        if self.version == NEWER:
            bundle["events"]["New Project Event"]["properties"]["template"] = {"type": ["string", "null"]}
            return bundle
        for name in CLUSTER_EVENTS:
            bundle["events"][name]["properties"]["legacy_code"] = {"type": "string", "description": "x"}
        del bundle["events"]["Stack Deletion"]
        return bundle


def _history(engine: Engine) -> None:
    """An older release, the dashboard's, then a newer one an application host already runs."""
    record_version(engine, _Version(OLDER), now=NOW - timedelta(days=10))  # type: ignore[arg-type]
    record_version(engine, CATALOG, now=NOW - timedelta(days=3))
    record_version(engine, _Version(NEWER), now=NOW - timedelta(hours=2))  # type: ignore[arg-type]


def _send(store: AuditStore, version: str, constant: str = "ProjectCreate") -> dict[str, Any]:
    """A message of `constant` carrying `template`, as a host running `version` built it."""
    message = build_message(CATALOG.event(constant).example_spec())
    message["properties"]["template"] = "django"
    message["context"]["eventCatalog"]["version"] = version
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    return message


def _row(page: str, event: str) -> str:
    start = page.index(f">{event}</a>")
    return page[start : page.index("</tr>", start)]


@pytest.fixture
def dashboard(make_app: Callable[..., Flask], database_url: str, engine: Engine) -> Flask:
    _history(engine)
    return make_app(SQLALCHEMY_DATABASE_URI=database_url)


def test_a_message_of_a_newer_version_is_not_drift_on_the_list_or_the_page(
    dashboard: Flask, store: AuditStore
) -> None:
    message = _send(store, NEWER)
    viewer = signed_in_client(dashboard, Role.VIEWER)
    row = _row(viewer.get("/").get_data(as_text=True), "New Project Event")
    assert "badge drifting" not in row
    assert (
        f'class="badge newer-version" title="Its latest message was built by catalog version {NEWER}, first'
        in row
    )
    attention = viewer.get("/?attention=1").get_data(as_text=True)
    assert ">New Project Event</a>" not in attention
    page = viewer.get("/events/ProjectCreate").get_data(as_text=True)
    assert "no longer matches today's schema" not in page
    seen = (NOW - timedelta(hours=2)).strftime("%d %b %Y %H:%M UTC")
    assert (
        f'<span class="badge newer-version">later version</span> Its latest message was built by catalog '
        f"version {NEWER}, first seen ({seen}) after this dashboard&#39;s {CATALOG.version}, and valid under "
        "it: this dashboard&#39;s schema does not know all it carries (template: not a property of this "
        "event today). That is not drift" in page
    )
    assert f'<a href="/audit/entries/{message["messageId"]}">See that message</a>' in page
    listed = json.loads(viewer.get("/events.json?q=new+project+event").get_data(as_text=True))
    [event] = [e for e in listed["events"] if e["name"] == "New Project Event"]
    assert event["activity"]["drifting"] is None and NEWER in event["activity"]["built_by_newer"]


@pytest.mark.parametrize("version", [OLDER, CATALOG.version, "unkn0wn0v3rs"])
def test_the_same_message_from_the_dashboard_s_or_an_older_or_unknown_version_still_drifts(
    dashboard: Flask, store: AuditStore, version: str
) -> None:
    _send(store, version)
    viewer = signed_in_client(dashboard, Role.VIEWER)
    row = _row(viewer.get("/").get_data(as_text=True), "New Project Event")
    assert "badge drifting" in row and "newer-version" not in row
    assert ">New Project Event</a>" in viewer.get("/?attention=1").get_data(as_text=True)
    page = viewer.get("/events/ProjectCreate").get_data(as_text=True)
    assert "Its latest message no longer matches today's schema: template: not a property" in page


def test_drift_reports_a_newer_version_s_payloads_and_events_apart_without_failing_on_them(
    engine: Engine, store: AuditStore, database_url: str
) -> None:
    _history(engine)
    _send(store, NEWER)
    _send(store, OLDER, "ClusterDelete")
    unknown = build_message(CATALOG.event("ProjectDelete").example_spec())
    unknown["event"] = "Project Archived"
    unknown["context"]["eventCatalog"] = {"version": NEWER}
    store.record(unknown, status=AuditStatus.DELIVERED, source="application")
    found = {(f.kind, f.subject): f for f in drift(engine, since=timedelta(days=1))}
    assert ("invalid-payload", f"New Project Event @ {NEWER}") not in found
    ahead = found[("newer-version", f"New Project Event @ {NEWER}")]
    assert not ahead.fails and "first seen after this one, and valid under it" in ahead.message
    assert "template" in ahead.message
    assert found[("invalid-payload", f"Cluster Deleted @ {OLDER}")].fails
    assert ("unknown-event", "Project Archived") not in found
    assert found[("newer-version", "Project Archived")].message == (
        f"1 sent in the window by a catalog first seen after this one (version {NEWER}), not in this one"
    )
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    text = app.test_cli_runner().invoke(args=["drift", "--event", "New Project Event"])
    document = app.test_cli_runner().invoke(
        args=["drift", "--event", "New Project Event", "--format", "json"]
    )
    with app.app_context():
        db.engine.dispose()
    assert text.exit_code == 0, text.output
    assert (
        f"note: New Project Event @ {NEWER}: 1 stored payload(s) built by catalog version {NEWER}"
        in text.output
    )
    assert "no drift" in text.output
    assert json.loads(document.output)["newer_version"][0]["subject"] == f"New Project Event @ {NEWER}"


def test_the_changes_page_points_to_a_newer_version_than_the_dashboard_s(dashboard: Flask) -> None:
    """It opened on "previous → running now" and said nothing of a newer release already sending;
    "running now" meant this dashboard, not production."""
    viewer = signed_in_client(dashboard, Role.VIEWER)
    page = viewer.get("/changes").get_data(as_text=True)
    assert f'<option value="{CATALOG.version}" selected>{CATALOG.version} · this dashboard\'s · since' in page
    assert "running now" not in page
    assert "“This dashboard's” is the catalog version this dashboard runs" in page
    link = f'<a href="/changes?from={CATALOG.version}&amp;to={NEWER}">See what it changes</a>'
    notice = page[page.index('<p class="notice" role="note">') :]
    notice = notice[: notice.index("</p>")]
    assert f"first seen after this dashboard's has been recorded: <code>{NEWER}</code>" in notice
    assert link in notice
    newer = viewer.get(f"/changes?from={CATALOG.version}&to={NEWER}").get_data(as_text=True)
    assert "&#34;template&#34; added" in newer and "A catalog version first seen after" not in newer


def test_the_changes_summary_counts_the_lines_it_lists(dashboard: Flask) -> None:
    """ "1 breaking, 5 compatible changes" above four lines: it counted changes per event, while "By
    change" lists a change made in several events once."""
    viewer = signed_in_client(dashboard, Role.VIEWER)
    page = viewer.get(f"/changes?from={OLDER}&to={CATALOG.version}").get_data(as_text=True)
    lines = page[page.index('<ul class="changes by-change">') : page.index('<details class="by-event">')]
    assert lines.count('<li><span class="badge breaking">') == 1
    assert lines.count('<li><span class="badge compatible">') == 1
    events = len({*CLUSTER_EVENTS, "Stack Deletion"})
    assert f"<strong>1</strong> breaking, 1 compatible change, made in {events} events.</p>" in page
    assert f"<summary>The same changes, event by event ({events} events)</summary>" in page
    # The choices are dated as precisely as telling them apart needs, so the labels fit.
    day = (NOW - timedelta(days=10)).strftime("%d %b %Y")
    assert f">{OLDER} · since {day}</option>" in page


LATE = "1a7e1a7e1a7e"
"""An older release's version whose host started only after the dashboard: first seen last, not newest."""


def _late_host(engine: Engine, store: AuditStore) -> dict[str, Any]:
    """The dashboard's history, then `LATE` (the older bundle: legacy_code in cluster events) recorded
    now, and a New User message of it with an email its own schema rejects too (a number)."""
    _history(engine)
    record_version(engine, _Version(LATE), now=NOW - timedelta(minutes=5))  # type: ignore[arg-type]
    message = build_message(CATALOG.event("UserCreate").example_spec())
    message["properties"]["email"] = 4711
    message["context"]["eventCatalog"]["version"] = LATE
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    return message


def test_a_payload_invalid_under_its_own_version_drifts_however_late_that_version_was_first_seen(
    engine: Engine, store: AuditStore, database_url: str
) -> None:
    """F4: a version first seen after the dashboard's was called newer, so an older release's host
    started late had its invalid payloads passed as non-failing notes, and `drift` passed CI."""
    _late_host(engine, store)
    legacy = build_message(CATALOG.event("ClusterDelete").example_spec())
    legacy["properties"]["legacy_code"] = "x"
    legacy["context"]["eventCatalog"]["version"] = LATE
    store.record(legacy, status=AuditStatus.DELIVERED, source="application")
    found = {(f.kind, f.subject): f for f in drift(engine, since=timedelta(days=1))}
    invalid = found[("invalid-payload", f"New User @ {LATE}")]
    assert invalid.fails and "email" in invalid.message
    assert ("newer-version", f"New User @ {LATE}") not in found
    # Valid under its own version: let off, in words that claim no age beyond first seen.
    ahead = found[("newer-version", f"Cluster Deleted @ {LATE}")]
    assert not ahead.fails
    assert ahead.message.startswith(
        f"1 stored payload(s) built by catalog version {LATE}, first seen after this one, and valid under it"
    )
    assert "newer" not in ahead.message
    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    result = app.test_cli_runner().invoke(args=["drift", "--event", "New User"])
    with app.app_context():
        db.engine.dispose()
    assert result.exit_code != 0, result.output
    assert f"New User @ {LATE}: invalid-payload 1 stored payload(s) no longer validate" in result.output


def test_the_dashboard_calls_a_late_older_version_s_invalid_message_drifting(
    dashboard: Flask, store: AuditStore, engine: Engine
) -> None:
    """Its event page said "newer version … not drift" and Needs attention left it out."""
    record_version(engine, _Version(LATE), now=NOW - timedelta(minutes=5))  # type: ignore[arg-type]
    message = build_message(CATALOG.event("UserCreate").example_spec())
    message["properties"]["email"] = 4711
    message["context"]["eventCatalog"]["version"] = LATE
    store.record(message, status=AuditStatus.DELIVERED, source="application")
    viewer = signed_in_client(dashboard, Role.VIEWER)
    row = _row(viewer.get("/").get_data(as_text=True), "New User")
    assert "badge drifting" in row and "newer-version" not in row
    assert ">New User</a>" in viewer.get("/?attention=1").get_data(as_text=True)
    page = viewer.get("/events/UserCreate").get_data(as_text=True)
    assert "Its latest message no longer matches today's schema: email:" in page
    assert "badge newer-version" not in page


def test_own_version_finds_an_identify_call_s_schema_by_its_class_and_lets_masked_values_be() -> None:
    """An identify message names its spec by class; a masked email of a schema with a pattern is how
    the log stores personal data, not a fault of the message."""
    from analytics.messages import catalog_marker, payload_of
    from analytics.own_version import OwnVersions

    bundle = copy.deepcopy(CATALOG.schema_bundle())
    bundle["identifiers"]["Register"]["properties"]["email"]["pattern"] = "@"
    message = build_message(CATALOG.identifier("RegisterIdentify").example_spec())
    spec = catalog_marker(message)["spec"]
    own = OwnVersions({LATE: bundle})
    traits = payload_of(message)
    assert own.validates(LATE, "identify", None, spec, {**traits, "email": "masked:0a1b2c3d4e5f6a7b"})
    assert not own.validates(LATE, "identify", None, spec, {**traits, "email": 4711})
    assert not own.validates(LATE, "identify", None, spec, {**traits, "email": "no-at-sign"})
    assert not own.validates(NEWER, "identify", None, spec, traits)  # a version it has no bundle of


@pytest.mark.parametrize(("version", "valid"), [(NEWER, True), (OLDER, False), (CATALOG.version, False)])
def test_the_entry_page_says_a_message_valid_under_the_version_that_built_it_is_not_drift(
    dashboard: Flask, store: AuditStore, version: str, valid: bool
) -> None:
    """The event page called a later version's message "not drift" and linked to it; the entry page
    then said its properties "no longer validate against today's schema"."""
    message = _send(store, version)
    viewer = signed_in_client(dashboard, Role.VIEWER)
    page = viewer.get(f"/audit/entries/{message['messageId']}").get_data(as_text=True)
    said = (
        "do not validate against today's schema of New Project Event (1 difference), but do against the "
        f"schema of catalog version <code>{version}</code>, which built this message: the differences are "
        "between the two catalogs, not drift."
    )
    assert (said in page) is valid
    assert ("no longer validate against today's schema" in page) is not valid
    assert "template" in page  # the difference is listed either way
