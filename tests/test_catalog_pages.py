"""The catalog pages over HTTP: every filter, the htmx fragment, event pages, scopes, changes, errors."""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from analytics import exports
from analytics.audit import AuditStatus, CatalogVersion
from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.durations import format_instant
from analytics.events import SegmentEvent
from analytics.messages import build_message
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Status, Team, TrackSpec
from analytics.versions import record_version
from webapp import create_app
from webapp.catalog import routes

NOW = datetime.now(UTC)
HTMX = {"HX-Request": "true"}


def _listed(client: FlaskClient, query: str = "", headers: dict[str, str] | None = None) -> list[str]:
    """The event names the list shows, in order."""
    response = client.get(f"/?{query}", headers=headers or {})
    assert response.status_code == 200
    return re.findall(r'class="event-name" href="/events/\w+">([^<]+)</a>', response.get_data(as_text=True))


def _names(predicate) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, info in CATALOG.events.items() if predicate(info)]


def _words(info: SpecInfo) -> str:
    return f"{info.name} {info.spec.description()}".lower()


def _has_property(info: SpecInfo, name: str) -> bool:
    return any(prop.name == name for prop in info.properties)


FILTERS = {
    "category=Apps": lambda info: info.spec.category == "Apps",
    "scope=Registry": lambda info: info.scope.label == "Registry",
    "owner=applications": lambda info: info.spec.owner == "applications",
    "status=deprecated": lambda info: info.spec.status == "deprecated",
    "status=active": lambda info: info.spec.status == "active",
    "pii=yes": lambda info: info.has_personal_data,
    "pii=no": lambda info: not info.has_personal_data,
    "q=webhook": lambda info: "webhook" in _words(info),
    "q=image_uri": lambda info: _has_property(info, "image_uri"),
    "q=ApplicationLaunchStart": lambda info: info.constant == "ApplicationLaunchStart",
    "q=stack+failure": lambda info: "stack" in _words(info) and "failure" in _words(info),
    "q=eks": lambda info: any("eks" in (prop.allowed_values or ()) for prop in info.properties),
    "q=SegmentEvent.ProjectCreate": lambda info: info.constant == "ProjectCreate",
    # The scope's ids as the "Send it from Python" snippet names them.
    "q=project_id": lambda info: "project_id" in info.scope.model_fields,
    "category=Provisioning+and+connections&scope=Cluster": lambda info: (
        info.spec.category == "Provisioning and connections" and info.scope.label == "Cluster"
    ),
}


@pytest.mark.parametrize("query", list(FILTERS))
def test_each_filter_shows_exactly_the_matching_events(client: FlaskClient, query: str) -> None:
    expected = _names(FILTERS[query])
    assert 0 < len(expected) < len(CATALOG.events)
    assert _listed(client, query) == expected


def test_the_list_shows_every_event_without_filters(client: FlaskClient) -> None:
    assert _listed(client) == list(CATALOG.events)


def test_every_event_is_found_by_the_user_id_it_carries(client: FlaskClient) -> None:
    """The example message says userId, the Python snippet user_id: both found nothing."""
    assert _listed(client, "q=userId") == _listed(client, "q=user_id") == list(CATALOG.events)


def _own_text(info: SpecInfo) -> str:
    """What the event says of itself (with its category, owner and scope), leaving out the scope's ids
    that every event of a scope carries."""
    own = [f"{p.name} {p.description} {p.allowed_values or ''}" for p in info.properties if not p.from_scope]
    spec = info.spec
    facts = f"{spec.category} {spec.owner} {info.scope.label}"
    return f"{info.name} {info.constant} {spec.description()} {facts} {' '.join(own)}".lower()


@pytest.mark.parametrize("word", ["user", "project", "id"])
def test_a_common_word_is_not_found_in_every_event_s_id_names(client: FlaskClient, word: str) -> None:
    """`user`, `id` matched all 47 events and all identify calls, `project` 43: every event's search
    text held its scope's `user_id`, `project_id`, `proj_id`, matched by any part."""
    expected = _names(lambda info: word in _own_text(info))
    assert _listed(client, f"q={word}") == expected
    assert 0 < len(expected) < len(CATALOG.events)
    identify = [name for name, info in CATALOG.identifiers.items() if word in _own_text(info)]
    assert _identify_listed(client, f"q={word}") == identify


@pytest.mark.parametrize(
    ("query", "events", "identify"),
    [
        ("growth", _names(lambda info: info.spec.owner == "growth"), []),
        ("delete+events", _names(lambda info: info.spec.category == "Delete events"), []),
        ("identity", [], list(CATALOG.identifiers)),
    ],
)
def test_a_search_finds_events_by_their_category_owner_and_scope(
    client: FlaskClient, query: str, events: list[str], identify: list[str]
) -> None:
    """`q=billing` missed the events of category Billing owned by the billing team (a product manager
    types the team's name first), while the tester's picker found them."""
    assert _listed(client, f"q={query}") == events
    assert _identify_listed(client, f"q={query}") == identify


def test_a_search_finds_an_event_by_its_scope_alone(client: FlaskClient) -> None:
    """Cluster Provisioning Started is about a project (the cluster does not exist yet), and says so
    only by its scope."""
    info = CATALOG.event("Cluster Provisioning Started")
    assert info.scope.label == "Project" and "project" not in info.spec.description().lower()
    assert "Cluster Provisioning Started" in _listed(client, "q=project")


@pytest.mark.parametrize(
    "query, scope_id",
    [
        ("project_id", "project_id"),
        ("proj_id", "project_id"),
        ("PROJECT_ID", "project_id"),
        ("project_", "project_id"),
        ("cluster_id+project_id", "cluster_id"),
    ],
)
def test_an_id_name_finds_the_events_that_carry_it(client: FlaskClient, query: str, scope_id: str) -> None:
    """Whole, or as a part holding `_`: `proj_id` is the property's name, `project_id` the scope's."""
    assert _listed(client, f"q={query}") == _names(lambda info: scope_id in info.scope.model_fields)


def _identify_listed(client: FlaskClient, query: str, headers: dict[str, str] | None = None) -> list[str]:
    """The identify calls the list shows below its events, in order."""
    response = client.get(f"/?{query}", headers=headers or {})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return re.findall(r'class="identify-name" href="/identifiers/\w+">([^<]+)</a>', page)


def test_a_search_finds_identify_calls_by_their_traits(client: FlaskClient) -> None:
    assert _listed(client, "q=first_name") == []
    assert _identify_listed(client, "q=first_name") == ["Profile update"]
    assert _identify_listed(client, "q=first_name", HTMX) == ["Profile update"]
    assert _identify_listed(client, "q=github") == ["Register", "Login"]
    assert "Github Connection Started" in _listed(client, "q=github")
    fragment = client.get("/?q=github", headers=HTMX).get_data(as_text=True)
    assert "events match, and 2 identify calls." in fragment
    assert 'href="/identifiers/RegisterIdentify"' in fragment


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_the_count_and_the_no_match_note_mention_the_identify_calls_found(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    """The count said "2 of 47 events match." above two identify calls, and a search finding only
    identify calls said "No event matches these filters." above them, as if nothing was found."""
    page = client.get("/?q=github", headers=headers).get_data(as_text=True)
    events = len(_listed(client, "q=github"))
    assert f'<p class="count"><strong>{events}</strong> of 47 events match, and 2 identify calls.' in page
    page = client.get("/?q=first_name", headers=headers).get_data(as_text=True)
    assert (
        "<strong>No event matches these filters.</strong> The search finds 1 identify call, listed below."
        in page
    )
    nothing = client.get("/?q=nothing-like-this", headers=headers).get_data(as_text=True)
    assert "<strong>No event matches these filters.</strong></p>" in nothing


@pytest.mark.parametrize(
    "query", ["", "pii=yes", "q=first_name&category=Apps", "q=email&never_sent=1", "q=email&pii=no"]
)
def test_identify_calls_are_listed_only_for_a_search_their_filters_allow(
    client: FlaskClient, query: str
) -> None:
    assert _identify_listed(client, query) == []
    page = client.get(f"/?{query}").get_data(as_text=True)
    assert 'id="identify-matches"' not in page


def _list_download_links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="(/events\.(?:csv|json)[^"]*)" download', page)]


@pytest.mark.parametrize(
    "query, kept",
    [
        ("", {}),
        ("q=github&scope=user&category=", {"q": "github", "scope": "User"}),
        ("pii=yes&sort=-name", {"pii": "yes", "sort": "-name"}),
        (
            "owner=applications&status=active&q=stack",
            {"q": "stack", "owner": "applications", "status": "active"},
        ),
    ],
)
def test_the_list_downloads_exactly_what_it_shows(
    client: FlaskClient, query: str, kept: dict[str, str]
) -> None:
    page = client.get(f"/?{query}").get_data(as_text=True)
    csv_link, json_link = _list_download_links(page)
    events, identify = _listed(client, query), _identify_listed(client, query)
    assert events
    assert dict(parse_qsl(urlsplit(csv_link).query)) == dict(parse_qsl(urlsplit(json_link).query)) == kept
    response = client.get(csv_link)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="events-') and disposition.endswith(
        f'{CATALOG.version}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert list(dict.fromkeys(row["event"] for row in rows)) == events + identify
    document = client.get(json_link).get_json()
    assert [spec["name"] for spec in document["events"]] == events
    assert [spec["name"] for spec in document["identifiers"]] == identify
    assert document["filters"] == kept and document["version"] == CATALOG.version


def test_a_list_download_names_its_filters_in_the_file_name(client: FlaskClient) -> None:
    response = client.get("/events.json?q=stack+launch&scope=Cluster")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="events-q-stack-launch_scope-Cluster-{CATALOG.version}.json"'
    )


@pytest.mark.parametrize(
    "query, ascii_name, utf8_name",
    [
        ("q=%C3%BCber+caf%C3%A9", "events-q-uber-cafe-", "events-q-%C3%BCber-caf%C3%A9-"),
        ("q=%E6%97%A5%E6%9C%AC+stack", "events-q-stack-", "events-q-%E6%97%A5%E6%9C%AC-stack-"),
        ("q=stack&sort=-last_seen", "events-q-stack_sort-last_seen-desc-", None),
        ("sort=name", "events-sort-name-", None),
    ],
)
def test_a_list_download_s_file_name_keeps_its_letters_and_reads_a_descending_sort(
    client: FlaskClient, query: str, ascii_name: str, utf8_name: str | None
) -> None:
    """`über café` was saved as `events-q--ber-caf-…`, without an RFC 5987 name in UTF-8; a
    descending sort as `sort--last_seen`."""
    disposition = client.get(f"/events.json?{query}").headers["Content-Disposition"]
    expected = f'attachment; filename="{ascii_name}{CATALOG.version}.json"'
    if utf8_name:
        expected += f"; filename*=UTF-8''{utf8_name}{CATALOG.version}.json"
    assert disposition == expected


@pytest.mark.parametrize("query", ["q=%00", "q=a&scope=Cluster%00", "q%00=1"])
def test_a_list_download_refuses_a_nul_character_in_its_text_lines(client: FlaskClient, query: str) -> None:
    """It answered the dashboard's HTML 400 page, where every other refusal is a line of text."""
    for extension in ("csv", "json"):
        response = client.get(f"/events.{extension}?{query}")
        assert response.status_code == 400 and response.mimetype == "text/plain"
        field = "scope" if "scope" in query else "q"
        assert response.get_data(as_text=True) == (
            f"{field}: holds a NUL character (\\u0000), which cannot be stored.\n"
        )
    assert client.get(f"/?{query}").mimetype == "text/html"


def test_a_list_download_refuses_a_filter_the_list_would_ignore(client: FlaskClient) -> None:
    response = client.get("/events.csv?scope=Planet&q=cluster")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "scope: “Planet” is not a scope in the catalog.\n"


@pytest.mark.parametrize(
    "query, refusal",
    [
        ("never_sent=true", "never_sent: “true” does not tick a box (1, on or yes does)."),
        ("attention=0&q=cluster", "attention: “0” does not tick a box (1, on or yes does)."),
        (
            "categroy=Onboarding",
            "categroy: the list has no such filter; it takes q, category, scope, owner, "
            "status, pii, never_sent, attention, sort.",
        ),
        ("scope=User&scope=Project", "scope: given more than once; give one value."),
        (
            "q=a&never_sent=2&q=b",
            "q: given more than once; give one value.\n"
            "never_sent: “2” does not tick a box (1, on or yes does).",
        ),
    ],
)
def test_a_list_download_refuses_values_and_names_it_does_not_take(
    client: FlaskClient, query: str, refusal: str
) -> None:
    """They served the whole catalog with 200: a script asking `never_sent=true` got every event."""
    for extension in ("csv", "json"):
        response = client.get(f"/events.{extension}?{query}")
        assert response.status_code == 400 and response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == refusal + "\n"


@pytest.mark.parametrize("value", ["ON", "Yes", "1"])
def test_a_ticked_box_reads_in_any_case(client: FlaskClient, value: str) -> None:
    assert client.get(f"/events.json?never_sent={value}").status_code == 200
    assert 'id="never_sent-error"></p>' in client.get(f"/?never_sent={value}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("never_sent", "not narrowing the list to events never sent"),
        ("attention", "not narrowing the list to events that need attention"),
    ],
)
def test_a_checkbox_value_the_list_ignores_is_noted_beside_the_box(
    client: FlaskClient, name: str, instead: str
) -> None:
    page = client.get(f"/?{name}=true").get_data(as_text=True)
    message = f"“true” does not tick a box (1, on or yes does); {instead}."
    assert f'<p class="field-error" id="{name}-error">{message}</p>' in page
    assert re.search(
        rf'<input id="{name}"[^>]*aria-describedby="[^"]*{name}-error" aria-invalid="true">', page
    )
    assert _listed(client, f"{name}=true") == list(CATALOG.events)
    corrected = client.get("/?q=cluster", headers=HTMX).get_data(as_text=True)
    assert f'<p class="field-error" id="{name}-error" hx-swap-oob="true"></p>' in corrected


def test_a_list_download_that_needs_the_audit_log_is_refused_while_it_cannot_be_read(
    app: Flask, client: FlaskClient
) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.session.execute(text("ALTER TABLE audit_event_hours RENAME TO audit_event_hours_away"))
        db.session.commit()
    assert "cannot be read" in client.get("/?never_sent=1").get_data(as_text=True)
    for query in ("never_sent=1", "attention=1", "sort=-recent", "q=cluster&sort=last_seen"):
        response = client.get(f"/events.csv?{query}")
        assert response.status_code == 503, query
        assert response.get_data(as_text=True).startswith("The database cannot be read")
    assert client.get("/events.csv?q=cluster&sort=name").status_code == 200
    unread = client.get("/events.json?q=cluster&sort=name").get_json()
    assert {event["activity"] for event in unread["events"]} == {None}, "unknown, not never sent"


def test_the_list_s_json_carries_what_the_list_shows_of_each_event_s_traffic(
    client: FlaskClient, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    """The download kept the list's rows and lost its Last seen, 7-day count and badges: the very
    columns a "needs attention" list is downloaded for."""
    sent = NOW - timedelta(days=40)
    app_record_sent("ProjectCreate", sent)
    document = client.get("/events.json?q=new+project+event").get_json()
    by_name = {event["name"]: event["activity"] for event in document["events"]}
    assert by_name["New Project Event"] == {
        "last_seen": format_instant(sent),
        "sent_last_days": {"days": 7, "messages": 0},
        "never_sent": False,
        "stale": True,
        "stale_after_days": 30,
        "drifting": None,
        "built_by_newer": None,
        "deprecated_sent": None,
        "planned_sent": None,
    }
    never = client.get("/events.json?q=stack+build+success").get_json()["events"][0]["activity"]
    assert (never["last_seen"], never["never_sent"], never["stale"]) == (None, True, False)


def test_the_list_s_json_builds_each_spec_s_part_once_and_reads_activity_each_time(
    client: FlaskClient, app_record_sent, count_calls: Callable[..., list[Any]]
) -> None:  # type: ignore[no-untyped-def]
    """The catalog part was rebuilt per request (0.7 s for the whole list at 300 events); the
    activity must stay live."""
    built = count_calls(routes, "spec_json")
    before = client.get("/events.json?q=new+project+event").get_json()
    assert before["events"][0]["activity"]["never_sent"] is True
    assert [call.args[0].name for call in built] == [
        spec["name"] for spec in (*before["events"], *before["identifiers"])
    ]
    app_record_sent("ProjectCreate", NOW - timedelta(days=1))
    after = client.get("/events.json?q=new+project+event").get_json()
    assert after["events"][0]["activity"]["never_sent"] is False
    assert {**after["events"][0], "activity": None} == {**before["events"][0], "activity": None}
    assert len(built) == len(before["events"]) + len(before["identifiers"])


def _holds_a_schema(value: object) -> bool:
    if isinstance(value, dict):
        return "json_schema" in value or any(_holds_a_schema(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_a_schema(item) for item in value)
    return False


def test_a_list_download_writes_the_catalog_part_once_and_only_the_activity_again(
    client: FlaskClient, app_record_sent, count_calls: Callable[..., list[Any]]
) -> None:  # type: ignore[no-untyped-def]
    """Each download wrote every spec again: at 300 events the CSV's cells took 35-70 ms and the
    JSON's 1 MB of specs 80-100 ms of every request, for text that changes only with a release."""
    dumped, made_safe = count_calls(json, "dumps"), count_calls(exports, "spreadsheet_safe")
    first_csv, first_json = client.get("/events.csv").data, client.get("/events.json").get_json()
    assert dumped or made_safe
    dumped.clear()
    made_safe.clear()
    app_record_sent("ProjectCreate", NOW - timedelta(days=1))
    again_csv = client.get("/events.csv")
    again_json = client.get("/events.json")
    assert again_csv.status_code == again_json.status_code == 200
    written = [call.args[0] for call in (*dumped, *made_safe)]
    assert not any(isinstance(value, str) for value in written)
    assert not any(_holds_a_schema(value) for value in written)
    assert again_csv.data != first_csv, "the CSV's activity columns are read again"
    catalog_part = slice(None, -2)
    before = [row[catalog_part] for row in csv.reader(io.StringIO(first_csv.decode("utf-8-sig")))]
    after = [row[catalog_part] for row in csv.reader(io.StringIO(again_csv.data.decode("utf-8-sig")))]
    assert after == before
    document = again_json.get_json()
    project = next(event for event in document["events"] if event["constant"] == "ProjectCreate")
    assert project["activity"]["never_sent"] is False
    assert {**document, "events": None} == {**first_json, "events": None}
    assert [{**e, "activity": None} for e in document["events"]] == [
        {**e, "activity": None} for e in first_json["events"]
    ]


def test_never_sent_and_the_activity_columns_come_from_the_audit_log(
    client: FlaskClient, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    app_record_sent("UserCreate", NOW - timedelta(hours=2))
    app_record_sent("UserCreate", NOW - timedelta(days=3))
    app_record_sent("UserCreate", NOW - timedelta(days=20))
    app_record_sent("ProjectCreate", NOW - timedelta(days=40))
    assert _listed(client, "never_sent=1") == [
        n for n in CATALOG.events if n not in ("New User", "New Project Event")
    ]
    page = client.get("/").get_data(as_text=True)
    new_user = page[page.index(">New User</a>") :].split("</tr>", 1)[0]
    assert "2 hours ago" in new_user and re.search(r'class="num">2</td>', new_user)
    new_project = page[page.index(">New Project Event</a>") :].split("</tr>", 1)[0]
    assert "40 days ago" in new_project and re.search(r'class="num">0</td>', new_project)
    assert "never sent" not in new_project and "never sent" in page


def test_sorting_by_name_and_by_activity(client: FlaskClient, app_record_sent) -> None:  # type: ignore[no-untyped-def]
    assert _listed(client, "sort=-name") == sorted(CATALOG.events, key=str.lower, reverse=True)
    for _ in range(3):
        app_record_sent("StackDeletion", NOW - timedelta(hours=5))
    app_record_sent("GithubConnectionStart", NOW - timedelta(minutes=5))
    assert _listed(client, "sort=-recent")[:2] == ["Stack Deletion", "Github Connection Started"]
    assert _listed(client, "sort=-last_seen")[:2] == ["Github Connection Started", "Stack Deletion"]
    assert _listed(client, "sort=last_seen")[-2:] == ["Stack Deletion", "Github Connection Started"]


def test_htmx_gets_the_fragment_with_a_short_url_to_push(client: FlaskClient) -> None:
    response = client.get("/?q=stack&category=&scope=&owner=&status=&pii=&sort=", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/?q=stack"
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "<form" not in fragment
    assert _listed(client, "q=stack", HTMX) == _listed(client, "q=stack")
    history = client.get("/?q=stack", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in history.get_data(as_text=True)


def test_the_page_renders_the_url_state_into_the_form(client: FlaskClient) -> None:
    page = client.get("/?q=cluster&scope=Cluster&never_sent=1&sort=-name").get_data(as_text=True)
    assert 'name="q" type="search" value="cluster"' in page
    assert "<option selected>Cluster</option>" in page
    assert 'id="never_sent" name="never_sent" type="checkbox" value="1" checked' in page
    assert 'name="sort" value="-name" form="filters"' in page
    assert 'aria-sort="descending"' in page


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "category",
            "No Such Category",
            "“No Such Category” is not a category in the catalog; showing every category.",
        ),
        ("scope", "Galaxy", "“Galaxy” is not a scope in the catalog; showing every scope."),
        ("owner", "x", "“x” owns no event in the catalog; showing every owner."),
        ("owner", "identity", "“identity” owns no event in the catalog; showing every owner."),
        ("status", "retired", "“retired” is not a status in the catalog; showing every status."),
        ("pii", "maybe", "“maybe” is not a personal-data choice (yes or no); showing every event."),
    ],
)
def test_an_unknown_filter_value_is_reported_next_to_its_field_and_not_applied(
    client: FlaskClient, name: str, value: str, message: str
) -> None:
    response = client.get(f"/?{name}={value}&sort=colour")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<p class="field-error" id="{name}-error">{message}</p>' in page
    assert f'<option value="{value}" selected>{value} (unknown)</option>' in page
    assert f'<select id="{name}" name="{name}" aria-describedby="{name}-error" aria-invalid="true">' in page
    assert "Cannot sort by “colour”" in page
    assert _listed(client, f"{name}={value}") == list(CATALOG.events)
    # A search redraws only the results: they carry every filter's error slot, emptied once corrected.
    corrected = client.get("/?q=cluster", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'<p class="field-error" id="{name}-error" hx-swap-oob="true"></p>' in corrected


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("scope=project", "scope=Project"),
        ("category=onboarding", "category=Onboarding"),
        ("owner=GROWTH", "owner=growth"),
        ("status=Deprecated", "status=deprecated"),
        ("pii=YES", "pii=yes"),
    ],
)
def test_a_filter_value_matches_in_any_case(client: FlaskClient, typed: str, meant: str) -> None:
    assert _listed(client, typed) == _listed(client, meant) != list(CATALOG.events)
    page = client.get(f"/?{typed}").get_data(as_text=True)
    assert "(unknown)" not in page and 'aria-invalid="true"' not in page
    pushed = client.get(f"/?{typed}", headers=HTMX).headers["HX-Push-Url"]
    assert pushed == f"/?{meant}", "the shared URL gets the catalog's spelling"


def test_the_owner_filter_offers_only_teams_that_own_an_event(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    owner = page[page.index('<select id="owner"') : page.index("</select>", page.index('<select id="owner"'))]
    offered = re.findall(r"<option>([^<]+)</option>", owner)
    assert sorted(offered) == sorted({str(info.spec.owner) for info in CATALOG.events.values()})
    assert "identity" not in offered, "owns only identify calls"


def test_no_match_says_so_and_offers_to_clear(client: FlaskClient) -> None:
    page = client.get("/?q=nothing-like-this").get_data(as_text=True)
    assert "No event matches these filters." in page
    assert '<a href="/">Clear the filters</a>' in page


def test_event_page_shows_what_it_carries_and_how_to_send_it(client: FlaskClient) -> None:
    response = client.get("/events/ClusterProvisioningSuccess")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<title>Cluster Provisioning Success · event-catalog</title>" in page
    assert 'aria-label="Breadcrumb"' in page
    for prop in ("proj_id", "cluster_id", "cluster_type", "infra_id"):
        assert f'id="prop-{prop}"' in page
    assert "<code>eks</code>, <code>gke</code>, <code>aks</code>, <code>doks</code>" in page
    infra_id = page[page.index('id="prop-infra_id"') :]
    infra_id = infra_id[: infra_id.index("</tr>")]
    assert '<span class="bounds">1 ≤ value ≤ 2⁶³−1</span>' in infra_id
    quota = client.get("/events/QuotaIncreaseRequested").get_data(as_text=True)
    account = quota[quota.index('id="prop-aws_account_id"') :]
    assert 'matches <code class="pattern">^[0-9]{12}$</code>' in account[: account.index("</tr>")]
    assert 'href="/tester/?event=ClusterProvisioningSuccess"' in page
    assert 'href="/events/ClusterProvisioningSuccess/schema.json"' in page
    assert "never sent" in page
    assert "<svg" not in page  # no traffic: no empty chart, only its words
    assert re.search(
        r"Messages per UTC day \(midnight to midnight UTC\) over the last 30 days:\s+none\.</figcaption>",
        page,
    )
    assert (
        "ClusterProvisioningSuccess(" in page
        and "scope=ClusterScope(user_id=1, project_id=12, cluster_id=4)" in page
    )
    example = re.search(r'id="example".*?<pre class="code"[^>]*><code>(.*?)</code></pre>', page, re.S)
    assert example is not None
    # Each string is drawn in a <bdi>: the block copies as the JSON itself.
    message = json.loads(html.unescape(re.sub(r"<[^>]*>", "", example.group(1))))
    assert message["event"] == "Cluster Provisioning Success" and message["type"] == "track"
    assert message["properties"] == {"proj_id": 12, "cluster_id": 4, "cluster_type": "eks", "infra_id": 9}


def test_an_event_page_shows_a_docstring_s_code_spans_as_code_and_any_other_markup_as_text(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Fires from the Stripe `invoice.paid` webhook" read with its backticks."""
    registry = SpecRegistry()

    class Invoiced(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.DELETION,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """An invoice was paid, by `card` <b>or</b> wire.

        Fires from the Stripe `invoice.paid` webhook, <script>alert(1)</script> `<i>x</i>` once.
        """

        scope: ProjectScope

    assert CATALOG.version and CATALOG.personal_data_names  # cached as the shipped catalog's
    monkeypatch.setitem(CATALOG.events, "Project Deleted", Catalog(registry).event("ProjectDelete"))
    page = client.get("/events/ProjectDelete").get_data(as_text=True)
    assert '<p class="lead">An invoice was paid, by <code>card</code> &lt;b&gt;or&lt;/b&gt; wire.</p>' in page
    assert (
        "<p>Fires from the Stripe <code>invoice.paid</code> webhook, &lt;script&gt;alert(1)&lt;/script&gt; "
        "<code>&lt;i&gt;x&lt;/i&gt;</code> once.</p>"
    ) in page


@pytest.mark.parametrize(
    "path, info",
    [
        ("/events/ClusterProvisioningSuccess", CATALOG.event("ClusterProvisioningSuccess")),
        ("/events/GithubConnectionStart", CATALOG.event("GithubConnectionStart")),
        ("/identifiers/ProfileUpdateIdentify", CATALOG.identifier("Profile update")),
    ],
)
def test_the_table_of_what_is_sent_starts_with_the_user_id_every_message_carries(
    client: FlaskClient, path: str, info: SpecInfo
) -> None:
    page = client.get(path).get_data(as_text=True)
    rows = re.findall(r'<tr id="prop-(\w+)">', page)
    assert rows == ["userId", *(prop.name for prop in info.properties)]
    row = page[page.index('<tr id="prop-userId">') :]
    row = row[: row.index("</tr>")]
    assert "at the top of the message: the scope's <code>user_id</code>" in row
    assert '<td data-label="Type">string</td>' in row and "<strong>required</strong>" in row
    # A string is not "≤ 2⁶³−1": its bounds are said of its digits. An identify page speaks of a call.
    assert '<span class="bounds">digits of a whole number, 1 … 2⁶³−1</span>' in row
    about = "event" if info.kind == "track" else "call"
    assert f"Id of the user the {about} is about: the scope&#39;s user_id, sent as text." in row
    assert f'<td data-label="Example"><code>"{build_message(info.example_spec())["userId"]}"</code>' in row
    # The JSON Schema describes `properties` (or `traits`), where userId is not: it stays out.
    assert "userId" not in info.json_schema["properties"]


def test_event_page_shows_volume_and_links_latest_entries_into_the_audit(
    client: FlaskClient, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    ids = [app_record_sent("ProjectCreate", NOW - timedelta(days=d, minutes=1)) for d in (0, 0, 1, 9)]
    app_record_sent("ProjectCreate", NOW - timedelta(days=45))
    page = client.get("/events/ProjectCreate").get_data(as_text=True)
    assert "<strong>3</strong> in the last 7 days from the application." in page
    app_record_sent("ProjectCreate", NOW - timedelta(minutes=5), source="tester")
    tested = client.get("/events/ProjectCreate").get_data(as_text=True)
    assert (
        "<strong>3</strong> in the last 7 days from the application (the tester's sends listed under "
        '<a href="#latest-messages">Latest messages</a> do not count).' in tested
    )
    assert "4 in all, at most 2 on" in page
    assert page.count("<svg ") == 1 and page.count("<rect ") == 3
    for message_id in ids:
        assert f'href="/audit/entries/{message_id}"' in page
    assert 'href="/audit/?event=New%20Project%20Event"' in page


def test_deprecated_event_names_its_replacement(client: FlaskClient) -> None:
    page = client.get("/events/StackLaunchComplete").get_data(as_text=True)
    assert "<strong>Deprecated.</strong>" in page
    assert '<a href="/events/StackLaunchSuccess">Stack Launch Success</a>' in page


def test_an_event_string_redirects_to_its_page(client: FlaskClient) -> None:
    response = client.get("/events/New User")
    assert response.status_code == 308
    assert response.headers["Location"] == "/events/UserCreate"


@pytest.mark.parametrize(
    "path", ["/events/NoSuchEvent", "/events/NoSuchEvent/schema.json", "/identifiers/Nope"]
)
def test_unknown_event_is_a_404_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "The catalog has no" in page
    assert '<a href="/">Back to the catalog</a>' in page and "Back to the audit log" not in page


@pytest.mark.parametrize(
    ("path", "searched"),
    [
        ("/events/new%20project%20event", "new+project+event"),
        ("/events/projectcreate", "projectcreate"),
        ("/events/New+Project+Event", "New+Project+Event"),
        ("/events/projectCreate/schema.json", "projectCreate"),
    ],
)
def test_an_event_address_in_another_case_or_spacing_offers_the_event_and_a_search(
    client: FlaskClient, path: str, searched: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<p>Did you mean <a href="/events/ProjectCreate">New Project Event</a>?</p>' in page
    assert f'<a href="/?q={searched}">Search the catalog for' in page


def test_an_event_address_like_no_event_offers_a_search_only(client: FlaskClient) -> None:
    page = client.get("/events/cluster%20thing").get_data(as_text=True)
    assert "Did you mean" not in page
    assert '<a href="/?q=cluster+thing">Search the catalog for “cluster thing”</a>' in page


def test_schema_download_is_a_valid_json_schema_file(client: FlaskClient) -> None:
    response = client.get("/events/UserCreate/schema.json")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="UserCreate.schema.json"'
    schema = json.loads(response.data)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == CATALOG.event("UserCreate").json_schema


def test_scopes_page_shows_the_tree_ids_and_events(client: FlaskClient) -> None:
    page = client.get("/scopes").get_data(as_text=True)
    assert "<title>Scopes · event-catalog</title>" in page
    order = [page.index(f'id="scope-{label}"') for label in ("user", "project", "cluster", "application")]
    assert order == sorted(order)
    registry = page[page.index('id="scope-registry"') :]
    assert "<code>registry_id</code>" in registry.split("</article>", 1)[0]
    # A property named after its scope field is named once; one named otherwise says which field.
    assert '<code>proj_id</code> <span class="muted">(the scope\'s <code>project_id</code>)</span>' in page
    assert "(the scope's <code>cluster_id</code>)" not in page
    for info in CATALOG.events_using(CATALOG.scopes[3]):
        assert f'href="/events/{info.constant}">{info.name}</a>' in registry.split("</article>", 1)[0]


def test_a_scope_one_event_uses_says_so_in_the_singular(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read "1 event use this scope": the noun agreed with the count, the verb did not."""
    using = CATALOG.events_using
    monkeypatch.setattr(CATALOG, "events_using", lambda scope: using(scope)[:1])
    page = client.get("/scopes").get_data(as_text=True)
    assert "<summary>1 event uses this scope</summary>" in page
    assert " use this scope" not in page


def test_an_event_s_scope_link_opens_that_scope_s_list_of_events(client: FlaskClient) -> None:
    event = client.get("/events/ClusterProvisioningSuccess").get_data(as_text=True)
    assert '<a href="/scopes?open=cluster#scope-cluster">Cluster</a>' in event

    def cluster_section(url: str) -> str:
        page = client.get(url).get_data(as_text=True)
        return page[page.index('id="scope-cluster"') :].split("</article>", 1)[0]

    assert "<details open>" not in cluster_section("/scopes")
    assert "<details open>" in cluster_section("/scopes?open=cluster")


def test_an_identify_call_s_page_says_whether_the_application_calls_it(
    app: Flask, client: FlaskClient
) -> None:
    from webapp.extensions import analytics_client

    never = client.get("/identifiers/RegisterIdentify").get_data(as_text=True)
    assert "never sent</span> The audit log holds no call of it from the application." in never
    assert 'href="/audit/?event=Identify:+Register">Search the audit log</a>' in never
    store = analytics_client.store(app)
    for source in ("application", "application", "tester"):
        message = build_message(CATALOG.identifier("Register").example_spec())
        store.record(message, status=AuditStatus.DELIVERED, source=source)
    store.record(
        build_message(CATALOG.identifier("Login").example_spec()),
        status=AuditStatus.DELIVERED,
        source="application",
    )
    page = client.get("/identifiers/RegisterIdentify").get_data(as_text=True)
    assert "Last seen" in page and "<strong>2</strong> in the last 7 days." in page
    # The list says the same of each call, as the event list does of events.
    listing = client.get("/identifiers").get_data(as_text=True)
    rows = {
        name: row for name, row in re.findall(r'href="/identifiers/(\w+)">.*?</th>(.*?)</tr>', listing, re.S)
    }
    assert re.search(r'data-label="Last 7 days" class="num">2<', rows["RegisterIdentify"])
    assert re.search(r'data-label="Last 7 days" class="num">1<', rows["LoginIdentify"])
    assert "never sent" in rows["ProfileUpdateIdentify"] and "never sent" not in rows["LoginIdentify"]
    assert "just now" in rows["RegisterIdentify"]


def test_a_deprecated_identify_call_s_list_and_page_say_what_drift_says(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identify list and page knew planned calls only: a deprecated call that applications had
    stopped making was a red "never sent", and one still made was not "deprecated, still sent",
    while `event-catalog drift` said the opposite of both."""
    from webapp.extensions import analytics_client

    monkeypatch.setattr(CATALOG.identifier("Login").spec, "status", Status.DEPRECATED)

    def login_row() -> str:
        listing = client.get("/identifiers").get_data(as_text=True)
        return dict(re.findall(r'href="/identifiers/(\w+)">.*?</th>(.*?)</tr>', listing, re.S))[
            "LoginIdentify"
        ]

    assert '<span class="muted">never sent</span>' in login_row() and "badge never-sent" not in login_row()
    page = client.get("/identifiers/LoginIdentify").get_data(as_text=True)
    assert "as a deprecated identify call should." in page and "badge never-sent" not in page
    message = build_message(CATALOG.identifier("Login").example_spec())
    analytics_client.store(app).record(message, status=AuditStatus.DELIVERED, source="application")
    told = "eprecated, still sent by an application (1 in the last 7 days)"
    assert f'badge deprecated-sent" title="D{told}">deprecated, still sent</summary>' in login_row()
    page = client.get("/identifiers/LoginIdentify").get_data(as_text=True)
    assert f'<span class="badge deprecated-sent">deprecated, still sent</span> D{told}.' in page
    drift = app.test_cli_runner().invoke(args=["drift", "--event", "Login"])
    assert drift.exit_code == 1 and f"d{told}" in drift.output


def test_identifiers_pages_list_traits(client: FlaskClient) -> None:
    listing = client.get("/identifiers").get_data(as_text=True)
    for info in CATALOG.identifiers.values():
        assert f'href="/identifiers/{info.constant}">{info.name}</a>' in listing
    page = client.get("/identifiers/ProfileUpdateIdentify")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="prop-first_name"' in text and "personal data" in text
    assert "analytics.identify(" in text
    example = re.search(r'id="example".*?<pre class="code"[^>]*><code>(.*?)</code></pre>', text, re.S)
    assert example is not None
    message = json.loads(html.unescape(re.sub(r"<[^>]*>", "", example.group(1))))
    assert (message["type"], message["traits"]["first_name"]) == ("identify", "Ada")
    assert (
        client.get("/identifiers/Profile update").headers["Location"] == "/identifiers/ProfileUpdateIdentify"
    )


def test_the_dashboard_records_its_catalog_version_on_first_request(app: Flask, client: FlaskClient) -> None:
    client.get("/healthz")
    from webapp.extensions import db

    with app.app_context():
        versions = db.session.scalars(select(CatalogVersion.version)).all()
    assert versions == [CATALOG.version]


def test_the_catalog_version_is_recorded_when_the_first_request_is_sent_to_set_up(
    app: Flask, anonymous: FlaskClient
) -> None:
    """No account yet: every page redirects to the set-up page, and the version is recorded all the same."""
    first = anonymous.get("/")
    assert first.status_code == 302 and first.headers["Location"].startswith("/setup")
    from webapp.extensions import db

    with app.app_context():
        assert db.session.scalars(select(CatalogVersion.version)).all() == [CATALOG.version]


def test_changes_page_without_history_explains_itself(client: FlaskClient) -> None:
    page = client.get("/changes").get_data(as_text=True)
    assert "Only the running catalog version has been recorded so far." in page
    assert 'role="alert"' not in page
    linked = client.get("/changes?from=0ldversion00&to=n3wversion00").get_data(as_text=True)
    old, new = (
        linked.index(f"No catalog version “{v}” has been recorded.") for v in ("0ldversion00", "n3wversion00")
    )
    assert old < new


def _field_error(page: str, name: str) -> str:
    """The error drawn under a Changes picker, or "" when the picker has none."""
    picker = page.split(f'<select id="{name}" name="{name}"', 1)
    if len(picker) < 2:
        return ""
    found = re.search(
        r'<p class="field-error" id="[a-z]+-error">([^<]*)</p>', picker[1].split("</div>", 1)[0]
    )
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    ("query", "wrong"),
    [
        ("from=zzz", {"from": "zzz"}),
        ("to=zzz", {"to": "zzz"}),
        ("from=zzz&to=yyy", {"from": "zzz", "to": "yyy"}),
        (f"from={CATALOG.version}&to=zzz", {"to": "zzz"}),
        (f"from=%C3%BCber&to={CATALOG.version}", {"from": "über"}),
    ],
)
def test_an_unknown_version_is_refused_next_to_its_picker_with_one_version_recorded(
    client: FlaskClient, query: str, wrong: dict[str, str]
) -> None:
    """With only the running version recorded the page drew no picker: `?from=zzz` answered 200
    with the refusal inside the "only one version" note, away from any field."""
    response = client.get(f"/changes?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for name in ("from", "to"):
        said = f"No catalog version “{wrong[name]}” has been recorded." if name in wrong else ""
        assert _field_error(page, name) == said
    assert "Only the running catalog version has been recorded so far." in page


def test_a_version_is_not_refused_while_the_versions_cannot_be_read(app: Flask, client: FlaskClient) -> None:
    client.get("/healthz")  # the running version is recorded before its table goes
    from webapp.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DROP TABLE catalog_versions"))
    response = client.get("/changes?from=0ld0ld0ld0ld")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "has been recorded" not in page and 'class="field-error"' not in page


def test_a_version_compared_with_itself_with_one_recorded_says_only_one_is(client: FlaskClient) -> None:
    """`?from=<running>&to=<running>` asked to "pick two different versions" where there is only one."""
    response = client.get(f"/changes?from={CATALOG.version}&to={CATALOG.version}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Only the running catalog version has been recorded so far." in page
    assert "Pick two different versions" not in page


def test_an_unknown_version_is_refused_next_to_its_picker_among_several(
    app: Flask, client: FlaskClient
) -> None:
    from webapp.extensions import db

    with app.app_context():
        record_version(
            db.engine, _FakeVersion("0ld0ld0ld0ld", CATALOG.schema_bundle()), now=NOW - timedelta(days=1)
        )  # type: ignore[arg-type]
    long = "x" * 5000
    response = client.get(f"/changes?from=0ld0ld0ld0ld&to={long}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert _field_error(page, "from") == ""
    assert _field_error(page, "to").startswith("No catalog version “xxx") and long not in page


def test_changes_page_lists_what_a_release_changed(app: Flask, client: FlaskClient) -> None:
    older = copy.deepcopy(CATALOG.schema_bundle())
    older["events"]["Cluster Provisioning Success"]["properties"]["region"] = {
        "type": "string",
        "description": "x",
    }
    del older["events"]["Stack Deletion"]
    from webapp.extensions import db

    with app.app_context():
        old_catalog = _FakeVersion("0ld0ld0ld0ld", older)
        record_version(db.engine, old_catalog, now=NOW - timedelta(days=10))  # type: ignore[arg-type]
    page = client.get("/changes").get_data(as_text=True)
    assert "<strong>1</strong> breaking, 1 compatible change." in page
    assert "Cluster Provisioning Success: &#34;region&#34; removed" in page
    assert '<a href="/events/StackDeletion">Stack Deletion</a>' in page
    # Versions recorded days apart are told apart by their dates in the choices.
    assert re.search(r" · since \d\d [A-Z][a-z]{2} \d{4}</option>", page)
    reverse = client.get(f"/changes?from={CATALOG.version}&to=0ld0ld0ld0ld").get_data(as_text=True)
    assert "Stack Deletion removed" in reverse
    bad = client.get("/changes?from=nope").get_data(as_text=True)
    assert "No catalog version “nope” has been recorded." in bad


def test_the_changes_page_copies_no_schemas_per_request(
    app: Flask, client: FlaskClient, count_calls: Callable[..., list[Any]]
) -> None:
    """Each request deep-copied the running catalog's schemas to diff them (some 25 ms at 300
    events); the page only reads them, so it reads the catalog's own."""
    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    from webapp.extensions import db

    with app.app_context():
        record_version(db.engine, _FakeVersion("0ld0ld0ld0ld", older), now=NOW - timedelta(days=10))  # type: ignore[arg-type]
    client.get("/healthz")  # the running version is recorded now, from a copy of its own
    copies = count_calls(Catalog, "schema_bundle")
    for _ in range(2):
        page = client.get("/changes").get_data(as_text=True)
        assert "Stack Deletion added" in page
    assert copies == []


def test_changes_page_says_when_each_compared_version_was_first_seen(app: Flask, client: FlaskClient) -> None:
    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    from webapp.extensions import db

    client.get("/healthz")  # the running version is recorded now
    first_seen = NOW - timedelta(days=10)
    with app.app_context():
        record_version(db.engine, _FakeVersion("0ld0ld0ld0ld", older), now=first_seen)  # type: ignore[arg-type]
        running = db.session.scalar(
            select(CatalogVersion.first_seen).where(CatalogVersion.version == CATALOG.version)
        )
    assert running is not None
    page = client.get("/changes").get_data(as_text=True)
    count = page[page.index('<p class="count">') :]
    count = count[: count.index("</p>")]
    old, new = re.findall(
        r"<code>(\w+)</code> <span class=\"muted small\">\(first seen <time [^>]*>([^<]+)</time>", count
    )
    assert old == ("0ld0ld0ld0ld", first_seen.strftime("%d %b %Y"))
    assert new == (CATALOG.version, running.strftime("%d %b %Y"))
    assert f'<time datetime="{first_seen.isoformat()}"' in count


def test_changes_page_tells_two_versions_of_one_day_apart_and_says_when_it_reads_backwards(
    app: Flask, client: FlaskClient
) -> None:
    """Two releases first seen on one day both read "(first seen 20 Nov 2026)": the time was only in
    a tooltip. And from a newer version to an older one, additions read as removals, unremarked."""
    from webapp.extensions import db

    day = (NOW - timedelta(days=10)).replace(hour=9, minute=15, second=0, microsecond=0)
    morning, evening = day, day.replace(hour=17, minute=45)
    date = day.strftime("%d %b %Y")
    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    oldest = copy.deepcopy(older)
    del oldest["events"]["Cluster Deleted"]
    with app.app_context():
        record_version(db.engine, _FakeVersion("0ld0ld0ld0ld", oldest), now=morning)  # type: ignore[arg-type]
        record_version(db.engine, _FakeVersion("01de2f3a4b5c", older), now=evening)  # type: ignore[arg-type]

    def count_and_notice(query: str) -> tuple[list[str], str]:
        page = client.get(f"/changes?{query}").get_data(as_text=True)
        count = page[page.index('<p class="count">') :]
        return re.findall(r"<time [^>]*>([^<]+)</time>", count[: count.index("</p>")]), page

    seen, page = count_and_notice("from=0ld0ld0ld0ld&to=01de2f3a4b5c")
    assert seen == [f"{date}, 09:15 UTC", f"{date}, 17:45 UTC"]
    assert f">0ld0ld0ld0ld · since {date}, 09:15 UTC</option>" in page, "so are the choices"
    assert "Cluster Deleted added" in page and "reads as removed" not in page
    seen, page = count_and_notice("from=01de2f3a4b5c&to=0ld0ld0ld0ld")
    assert seen == [f"{date}, 17:45 UTC", f"{date}, 09:15 UTC"]
    assert "Cluster Deleted removed" in page
    assert "“From” is the newer version, so what it added reads as removed here." in page
    assert 'href="/changes?from=0ld0ld0ld0ld&amp;to=01de2f3a4b5c">Compare them the other way</a>' in page
    # Days apart, the date alone tells them apart.
    seen, page = count_and_notice(f"from={CATALOG.version}&to=0ld0ld0ld0ld")
    assert seen == [datetime.now(UTC).strftime("%d %b %Y"), date] and "reads as removed" in page


def test_changes_page_compares_the_release_before_the_running_one_not_a_later_one(
    app: Flask, client: FlaskClient
) -> None:
    """An application host already on a newer release records its version after the dashboard's:
    by default the page still shows what the running release changed, and with no earlier version
    it compares the running one with the newer one, never backwards."""
    from datetime import UTC, datetime

    from webapp.extensions import db

    client.get("/healthz")  # the running version is recorded now
    newer = copy.deepcopy(CATALOG.schema_bundle())
    newer["events"]["Cluster Provisioning Success"]["properties"]["region"] = {
        "type": "string",
        "description": "x",
    }
    with app.app_context():
        record_version(
            db.engine, _FakeVersion("n3wn3wn3wn3w", newer), now=datetime.now(UTC) + timedelta(days=1)
        )  # type: ignore[arg-type]
    forward = client.get("/changes").get_data(as_text=True)
    assert "Cluster Provisioning Success: &#34;region&#34; added" in forward
    assert "&#34;region&#34; removed" not in forward
    older = copy.deepcopy(CATALOG.schema_bundle())
    del older["events"]["Stack Deletion"]
    with app.app_context():
        record_version(db.engine, _FakeVersion("0ld0ld0ld0ld", older), now=NOW - timedelta(days=10))  # type: ignore[arg-type]
    release = client.get("/changes").get_data(as_text=True)
    assert "Stack Deletion" in release and "region" not in release


class _FakeVersion:
    """A past catalog as `record_version` reads it: a version and a bundle."""

    def __init__(self, version: str, bundle: dict) -> None:  # type: ignore[type-arg]
        self.version = version
        self._bundle = bundle

    def schema_bundle(self) -> dict:  # type: ignore[type-arg]
        return self._bundle


def test_an_unmigrated_database_is_a_503_saying_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "new.db").touch()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}"})
    client = app.test_client()
    for path in ("/", "/events/UserCreate", "/setup", "/login"):
        response = client.get(path)
        assert response.status_code == 503
        assert "run `event-catalog db upgrade`" in response.get_data(as_text=True)
    api = client.get("/api/catalog")
    assert api.status_code == 503 and "event-catalog db upgrade" in api.get_json()["error"]["message"]
    assert client.get("/healthz").status_code == 503
    static = client.get("/static/style.css")
    static.close()
    assert static.status_code == 200


def test_an_event_only_the_tester_sent_says_why_its_listed_messages_do_not_count(
    client: FlaskClient, app_record_sent
) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/events/UserCreate").get_data(as_text=True)
    assert "no message of this event from the application." in html
    app_record_sent("UserCreate", NOW - timedelta(hours=1), source="tester")
    html = client.get("/events/UserCreate").get_data(as_text=True)
    assert '<span class="badge never-sent">never sent</span>' in html
    # Named by the table's heading, which it links to: "below" pointed down a page that shows the table
    # to the right of the sentence, in the second column.
    assert (
        'the tester\'s sends listed under <a href="#latest-messages">Latest messages</a>'
        " prove it can be built; they do not count as traffic" in html
    )
    assert '<h3 id="latest-messages">Latest messages</h3>' in html
    assert "below" not in html[html.index('id="activity"') : html.index('id="latest-messages"')]


def test_an_event_s_page_and_an_identify_call_s_page_lay_out_their_head_alike(client: FlaskClient) -> None:
    """Facts first, then the same actions in the same order: people move between the two kinds of page."""
    for path in ("/events/ClusterProvisioningSuccess", "/identifiers/RegisterIdentify"):
        page = client.get(path).get_data(as_text=True)
        head = page.split('<header class="page-head">')[1].split("</header>")[0]
        assert head.index('<dl class="facts">') < head.index('<p class="actions">'), path
        buttons = re.findall(r'class="button[^"]*"[^>]*>([^<]+)</a>', head)
        assert buttons == ["Try it in the tester", "Download JSON Schema", "Search the audit log"], path


def test_an_event_s_page_and_an_identify_call_s_page_order_their_sections_alike(client: FlaskClient) -> None:
    """The identify call's page put "Is it being sent?" before its traits, the event's page after."""
    headings = {
        path: re.findall(r"<h2[^>]*>([^<]+)</h2>", client.get(path).get_data(as_text=True))
        for path in ("/events/ClusterProvisioningSuccess", "/identifiers/RegisterIdentify")
    }
    event, identify = headings.values()
    assert event[:2] == ["Properties", "Is it being sent?"]
    assert identify == [{"Properties": "Traits"}.get(heading, heading) for heading in event]


def test_a_spec_whose_examples_do_not_validate_shows_why_instead_of_failing(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`example=5000` with `le=1000` made the event page a 500: building the example spec raised."""
    from pydantic import BaseModel

    from analytics.events import SegmentEvent
    from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

    registry = SpecRegistry()

    class Address(BaseModel):
        country: str = prop("Country code.", example="DE", pattern="^[A-Z]{2}$")

    class Seats(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """Seats changed."""

        scope: ProjectScope
        seats: int = prop("Seats after the change.", example=5000, ge=1, le=1000)

    class Billing(IdentifySpec, name="Billing", owner=Team.IDENTITY, registry=registry):
        """Who pays."""

        scope: UserScope
        address: Address = prop("Billing address.", example={"country": "Germany"})

    catalog = Catalog(registry)
    monkeypatch.setattr(routes, "CATALOG", catalog)
    pages = {
        "/events/ProjectDelete": "seats: Input should be less than or equal to 1000",
        "/identifiers/Billing": "address.country: String should match pattern &#39;^[A-Z]{2}$&#39;",
    }
    for url, problem in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        shown = page[page.index('id="example-problem"') :].split("</p>", 1)[0]
        assert problem in shown and "EC016" in shown, url
        assert 'id="python"' not in page, url
    assert catalog.event("ProjectDelete").user_id.example == "1"


def test_changes_page_lists_a_change_shared_by_many_events_once(app: Flask, client: FlaskClient) -> None:
    """A release of a few changes shared by many events was one section per event, each repeating
    the same line; the page now groups them as `event-catalog diff` does, breaking first, with the
    events each affects (folded when long) and the per-event list behind a disclosure."""
    older = copy.deepcopy(CATALOG.schema_bundle())
    cluster_events = [name for name, e in older["events"].items() if "cluster_id" in e["properties"]]
    provider_events = [name for name, e in older["events"].items() if "cloud_provider" in e["properties"]]
    for name in cluster_events:
        older["events"][name]["properties"]["legacy_code"] = {"type": "string", "description": "x"}
    for name in provider_events:
        del older["events"][name]["properties"]["cloud_provider"]
        older["events"][name]["required"] = [
            r for r in older["events"][name].get("required", []) if r != "cloud_provider"
        ]
    from webapp.extensions import db

    with app.app_context():
        record_version(db.engine, _FakeVersion("0ld0ld0ld0ld", older), now=NOW - timedelta(days=10))  # type: ignore[arg-type]
    page = client.get("/changes").get_data(as_text=True)
    by_change = page[page.index('<ul class="changes by-change">') : page.index('<details class="by-event">')]
    assert by_change.count('<li><span class="badge') == 2, by_change
    removed = f"{len(cluster_events)} events: &#34;legacy_code&#34; removed"
    added = f"{len(provider_events)} events: &#34;cloud_provider&#34; added"
    assert removed in by_change and added in by_change
    assert by_change.index(removed) < by_change.index(added)  # breaking first
    assert by_change.count('<details class="affected">') == 2  # more than six events: folded
    for name in cluster_events:
        assert f">{name}</a>" in by_change
    per_event = page[page.index('<details class="by-event">') :]
    affected = set(cluster_events) | set(provider_events)
    assert per_event.count('<section class="change-group">') == len(affected)


def _fork_catalog() -> Catalog:
    """A fork's catalog with an owner and a category given as plain strings, as `event-catalog import`
    writes for a plan whose teams and categories `Team` and `Category` lack, beside their members."""
    registry = SpecRegistry()

    class Bought(
        TrackSpec, event=SegmentEvent.ProjectDelete, category="Commerce", owner="sre", registry=registry
    ):
        """Something was bought."""

        scope: ProjectScope

    class Grown(
        TrackSpec,
        event=SegmentEvent.UserCreate,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """A user signed up."""

        scope: ProjectScope

    class Billing(IdentifySpec, name="Billing", owner="Billing-ops", registry=registry):
        """Who pays."""

        scope: UserScope

    return Catalog(registry)


def test_categories_come_from_what_the_specs_declare_strings_included() -> None:
    catalog = _fork_catalog()
    assert catalog.categories() == ["Onboarding", "Identity", "Commerce"]
    assert catalog.categories(events_only=True) == ["Onboarding", "Commerce"]


def test_a_category_given_as_a_string_can_be_filtered_in_the_list_and_its_download(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list showed "Commerce" in its Category column, but `/?category=Commerce` said it was not a
    category and showed every event, and `/events.csv?category=Commerce` was refused (400)."""
    from webapp.catalog import routes

    monkeypatch.setattr(routes, "CATALOG", _fork_catalog())
    page = client.get("/?category=commerce").get_data(as_text=True)
    assert "is not a category" not in page
    assert "<option>Onboarding</option><option selected>Commerce</option>" in page
    assert "Something was bought." in page and "A user signed up." not in page
    download = client.get("/events.csv?category=Commerce")
    assert download.status_code == 200, download.get_data(as_text=True)
    rows = csv.DictReader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")))
    assert [row["event"] for row in rows if row["property"] != "userId"] == [str(SegmentEvent.ProjectDelete)]


def test_owners_come_from_what_the_specs_declare_strings_included() -> None:
    catalog = _fork_catalog()
    assert catalog.owners() == ["growth", "Billing-ops", "sre"]
    assert catalog.owners(events_only=True) == ["growth", "sre"]


def test_an_owner_given_as_a_string_is_one_of_the_lists_owner_filters(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`owner="sre"` showed "Owner: sre" with a link to `/?owner=sre`, which said sre owns no event."""
    from webapp.catalog import routes

    monkeypatch.setattr(routes, "CATALOG", _fork_catalog())
    page = client.get("/?owner=sre").get_data(as_text=True)
    assert "owns no event" not in page
    assert "<option>growth</option><option selected>sre</option>" in page
    assert '<td data-label="Owner">sre</td>' in page
