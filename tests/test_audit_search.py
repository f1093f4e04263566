"""Audit search queries on SQLite and PostgreSQL: every filter, alone and combined, and keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auditlog import record
from foreign_specs import record_boardly_signup
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from analytics.actions import record_action
from analytics.audit import AuditEntry, AuditStore
from analytics.catalog import CATALOG
from analytics.queries import (
    AuditFilter,
    Cursor,
    FilterError,
    bucket_width,
    histogram,
    identify_specs_outside_query,
    message_name,
    newest_first,
    oldest_first_after,
    page_from,
    parse_filters,
    summary,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MASK_KEY = b"event-catalog"  # the store fixture's default key

# name: (spec, scope, properties, status, source, actor, catalog version or None for today's, age)
SEEDS: dict[str, tuple[Any, ...]] = {
    "cps_recent": (
        "ClusterProvisioningSuccess",
        {"user_id": 1, "project_id": 12, "cluster_id": 4},
        {"cluster_type": "eks", "infra_id": 9},
        "delivered",
        "application",
        None,
        None,
        timedelta(minutes=5),
    ),
    "cps_tester": (
        "ClusterProvisioningSuccess",
        {"user_id": 2, "project_id": 12, "cluster_id": 5},
        {"cluster_type": "gke", "infra_id": 9},
        "failed",
        "tester",
        "ada@example.com",
        None,
        timedelta(minutes=30),
    ),
    "project_old_version": (
        "ProjectCreate",
        {"user_id": 1, "project_id": 13},
        {},
        "pending",
        "application",
        None,
        "01d0e5e10000",
        timedelta(hours=2),
    ),
    "signup": (
        "UserCreate",
        {"user_id": 3},
        {"email": "ada@example.com"},
        "delivered",
        "application",
        None,
        None,
        timedelta(hours=20),
    ),
    "register": (
        "Register",
        {"user_id": 3},
        {"email": "ada@example.com", "github": True},
        "delivered",
        "application",
        None,
        None,
        timedelta(days=3),
    ),
    "cluster_delete_replay": (
        "ClusterDelete",
        {"user_id": 2, "project_id": 13, "cluster_id": 4},
        {},
        "dropped",
        "replay",
        "bob",
        None,
        timedelta(days=10),
    ),
    "provisioning_start": (
        "ClusterProvisioningStart",
        {"user_id": 1, "project_id": 12},
        {"cluster_type": "aks", "infra_id": 12},
        "failed",
        "application",
        None,
        None,
        timedelta(seconds=90),
    ),
    "aws": (
        "AWSInputted",
        {"user_id": 4, "project_id": 14},
        {"aws_account_id": "123456789012"},
        "delivered",
        "application",
        None,
        None,
        timedelta(minutes=50),
    ),
    "login": (
        "Login",
        {"user_id": 4},
        {"email": "bob@example.com", "github": False},
        "pending",
        "tester",
        "ada@example.com",
        None,
        timedelta(hours=6),
    ),
    "stack_failure": (
        "StackLaunchFailure",
        {"user_id": 5, "project_id": 15, "cluster_id": 6},
        {"stack_name": "web", "error_message": "12"},
        "disabled",
        "application",
        None,
        None,
        timedelta(days=8),
    ),
}
# Where tester sends went: staging under two keys (its key changed between them), and a destination
# whose name starts with "staging" but is another one.
DESTINATIONS = {
    "cps_tester": "staging:0123456789ab",
    "login": "staging:abcdefabcdef",
    "cluster_delete_replay": "staging-eu:aaaaaaaaaaaa",
}
ALL = set(SEEDS)
TRACKS = ALL - {"register", "login"}
CPS_EVENT = "Cluster Provisioning Success"

# (query-string parameters, the entries that match); "@name" stands for that entry's messageId.
SINGLE_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"range": "15m"}, {"cps_recent", "provisioning_start"}),
    ({"range": "1h"}, {"cps_recent", "provisioning_start", "cps_tester", "aws"}),
    (
        {"range": "24h"},
        {"cps_recent", "provisioning_start", "cps_tester", "aws", "project_old_version", "login", "signup"},
    ),
    ({"range": "7d"}, ALL - {"cluster_delete_replay", "stack_failure"}),
    ({"since": "2026-03-01T09:00:00Z", "until": "2026-03-01T11:20:00Z"}, {"project_old_version", "aws"}),
    ({"since": "2026-03-01T12:30:00+01:00"}, {"cps_recent", "provisioning_start", "cps_tester"}),
    ({"since": "3h"}, {"cps_recent", "provisioning_start", "cps_tester", "aws", "project_old_version"}),
    ({"until": "2026-02-25"}, {"cluster_delete_replay", "stack_failure"}),
    ({"type": "identify"}, {"register", "login"}),
    ({"type": "track"}, TRACKS),
    ({"event": CPS_EVENT}, {"cps_recent", "cps_tester"}),
    ({"status": "failed"}, {"cps_tester", "provisioning_start"}),
    ({"status": "failed,pending"}, {"cps_tester", "provisioning_start", "project_old_version", "login"}),
    ({"status": ["dropped", "disabled"]}, {"cluster_delete_replay", "stack_failure"}),
    ({"source": "tester"}, {"cps_tester", "login"}),
    ({"source": "replay"}, {"cluster_delete_replay"}),
    ({"destination": "staging"}, {"cps_tester", "login"}),
    ({"destination": "staging:abcdefabcdef"}, {"login"}),
    ({"destination": "staging-eu"}, {"cluster_delete_replay"}),
    ({"actor": "ada@example.com"}, {"cps_tester", "login"}),
    ({"user_id": "1"}, {"cps_recent", "project_old_version", "provisioning_start"}),
    ({"project": "12"}, {"cps_recent", "cps_tester", "provisioning_start"}),
    ({"cluster": "4"}, {"cps_recent", "cluster_delete_replay"}),
    ({"message_id": "@signup"}, {"signup"}),
    ({"version": "01d0e5e10000"}, {"project_old_version"}),
    ({"version": CATALOG.version}, ALL - {"project_old_version"}),
    ({"version": CATALOG.version.upper()}, ALL - {"project_old_version"}),
    ({"event": "Identify: Register"}, {"register"}),
    ({"event": "Identify: Login", "user_id": "4"}, {"login"}),
    ({"prop": "cluster_type = gke"}, {"cps_tester"}),
    # Quoted, as JSON writes text: the quotes are not part of the value.
    ({"prop": 'cluster_type = "gke"'}, {"cps_tester"}),
    ({"prop": 'infra_id = "12"'}, {"provisioning_start"}),
    ({"prop": 'email = "ada@example.com"'}, {"signup", "register"}),
    ({"prop": "infra_id=12"}, {"provisioning_start"}),
    ({"prop": "error_message=12"}, {"stack_failure"}),
    ({"prop": "github = true"}, {"register"}),
    ({"prop": "github = false"}, {"login"}),
    # Python's and spreadsheets' booleans are JSON's: `True` found nothing where `true` found entries.
    ({"prop": "github = True"}, {"register"}),
    ({"prop": "github = FALSE"}, {"login"}),
    ({"prop": "email = ada@example.com"}, {"signup", "register"}),
    ({"prop": "proj_id = 12"}, {"cps_recent", "cps_tester", "provisioning_start"}),
    ({"prop": "aws_account_id = 123456789012"}, {"aws"}),
]

COMBINED_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"event": CPS_EVENT, "status": "failed"}, {"cps_tester"}),
    ({"project": "12", "range": "15m"}, {"cps_recent", "provisioning_start"}),
    ({"type": "identify", "prop": "github=true"}, {"register"}),
    ({"source": "tester", "actor": "ada@example.com", "range": "24h"}, {"cps_tester", "login"}),
    ({"source": "tester", "actor": "ada@example.com", "status": "pending"}, {"login"}),
    ({"user_id": "3", "type": "track"}, {"signup"}),
    ({"cluster": "4", "source": "replay", "status": "dropped"}, {"cluster_delete_replay"}),
    ({"destination": "staging", "status": "failed,pending"}, {"cps_tester", "login"}),
    ({"destination": "staging:0123456789ab", "range": "1h"}, {"cps_tester"}),
    ({"destination": "staging:ffffffffffff"}, set()),
    ({"prop": "email = ada@example.com", "type": "identify"}, {"register"}),
    ({"prop": "stack_name = web", "type": "identify"}, set()),
    # Exact but for the booleans, case included.
    ({"prop": "email = ADA@example.com", "type": "identify"}, set()),
    ({"prop": "cluster_type = GKE", "type": "track"}, set()),
    ({"since": "2026-02-20", "range": "24h", "status": "delivered"}, {"cps_recent", "aws", "signup"}),
    (
        {
            "event": CPS_EVENT,
            "type": "track",
            "status": "failed",
            "source": "tester",
            "actor": "ada@example.com",
            "user_id": "2",
            "project": "12",
            "cluster": "5",
            "message_id": "@cps_tester",
            "version": CATALOG.version,
            "prop": "cluster_type=gke",
            "range": "1h",
        },
        {"cps_tester"},
    ),
]


@pytest.fixture
def seeded(store: AuditStore) -> dict[str, str]:
    """The seed entries on each kind of database, by name → messageId."""
    ids = {}
    for name, (spec, scope, props, status, source, actor, version, age) in SEEDS.items():
        ids[name] = record(
            store,
            spec,
            scope=scope,
            properties=props,
            status=status,
            source=source,
            actor=actor,
            version=version,
            recorded_at=NOW - age,
            destination=DESTINATIONS.get(name),
        )
    return ids


def _matches(engine: Engine, ids: dict[str, str], params: dict[str, Any]) -> set[str]:
    """The names of the entries a search finds; its count and histogram must agree with the page."""
    resolved = {
        key: ids[value[1:]] if isinstance(value, str) and value.startswith("@") else value
        for key, value in params.items()
    }
    filters = parse_filters(resolved, now=NOW, mask_key=MASK_KEY)
    names = {message_id: name for name, message_id in ids.items()}
    with Session(engine) as session:
        found = [names[entry.message_id] for entry in session.scalars(newest_first(filters, limit=100))]
        count = session.execute(summary(filters)).one()[0]
        bucketed = sum(n for _, _, n in session.execute(histogram(filters, 3600)))
    assert count == bucketed == len(found), params
    assert len(found) == len(set(found))
    return set(found)


@pytest.mark.parametrize("cases", [SINGLE_FILTERS, COMBINED_FILTERS], ids=["alone", "combined"])
def test_every_filter_returns_exactly_the_matching_entries(
    engine: Engine, seeded: dict[str, str], cases: list[tuple[dict[str, Any], set[str]]]
) -> None:
    wrong = {}
    for params, expected in cases:
        found = _matches(engine, seeded, params)
        if found != expected:
            wrong[str(params)] = {"missing": expected - found, "unexpected": found - expected}
    assert wrong == {}


def test_each_single_filter_narrows_so_an_ignored_filter_would_fail(
    engine: Engine, seeded: dict[str, str]
) -> None:
    assert _matches(engine, seeded, {}) == ALL
    for params, expected in SINGLE_FILTERS:
        assert expected and expected != ALL, params


def test_personal_data_matches_only_through_its_mask(engine: Engine, seeded: dict[str, str]) -> None:
    filters = parse_filters({"prop": "email = ada@example.com"}, now=NOW)  # no mask key: clear text only
    with Session(engine) as session:
        assert session.scalars(newest_first(filters, limit=10)).all() == []
    assert _matches(engine, seeded, {"prop": "email=bob@example.com"}) == {"login"}


def test_results_are_newest_first(engine: Engine, seeded: dict[str, str]) -> None:
    with Session(engine) as session:
        entries = session.scalars(newest_first(AuditFilter(), limit=100)).all()
    times = [Cursor.of(entry) for entry in entries]
    assert times == sorted(times, reverse=True)
    assert entries[0].message_id == seeded["provisioning_start"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "yesterday"}, "since", "'yesterday' is not a time"),
        ({"until": "2026-13-40"}, "until", "is not a time"),
        ({"since": "2026-03-01T12:00", "until": "2026-03-01T11:00"}, "until", "must be after the start"),
        ({"range": "2d"}, "range", "unknown range '2d': one of 15m, 1h, 24h, 7d"),
        ({"type": "page"}, "type", "unknown type 'page'"),
        ({"status": "delivered,lost"}, "status", "unknown status 'lost'"),
        ({"source": "cron"}, "source", "unknown source 'cron'"),
        ({"project": "twelve"}, "project", "'twelve' is not a whole number"),
        ({"cluster": "4.5"}, "cluster", "'4.5' is not a whole number"),
        ({"project": "0"}, "project", "0 is not an id: ids are whole numbers from 1 to"),
        ({"cluster": "-3"}, "cluster", "-3 is not an id"),
        ({"prop": "cluster_type"}, "prop", "write the property search as key = value"),
        ({"prop": "a[0].b = 1"}, "prop", "'a[0].b' is not a property name or path: names of letters, digits"),
        ({"event": ["New User", "New Project Event"]}, "event", "give one value"),
        ({"destination": "Staging"}, "destination", "'Staging' is not a destination"),
        ({"destination": "staging:key"}, "destination", "name:fingerprint as the tester shows it"),
        ({"user_id": "abc"}, "user_id", "'abc' is not a whole number"),
        ({"user_id": "1.5"}, "user_id", "'1.5' is not a whole number"),
        ({"user_id": "-5"}, "user_id", "-5 is not an id"),
        ({"version": "zzz"}, "version", "'zzz' is not a catalog version: 12 hex digits"),
        ({"actor": "ada\x00"}, "actor", "cannot contain a NUL character"),
        (
            {"event": "Identify: Boardly signup"},
            "event",
            "no identify call is named 'Boardly signup': one of Identify: Register",
        ),
    ],
)
def test_unusable_filters_are_reported_by_name(params: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filters(params, now=NOW)
    assert list(caught.value.errors) == [field]
    assert message in caught.value.errors[field]


def test_a_property_search_for_deeply_nested_text_searches_for_the_text() -> None:
    deep = "[" * 5000
    found = parse_filters({"prop": f"note = {deep}"}).prop
    assert found is not None and found.candidates == (deep,)


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filters({"project": "x", "cluster": "y", "type": "z", "status": "q"})
    assert set(caught.value.errors) == {"project", "cluster", "type", "status"}


def test_empty_values_do_not_narrow() -> None:
    assert parse_filters({name: "" for name in ("since", "event", "project", "prop")}) == AuditFilter()
    assert parse_filters({"status": ["", " "]}) == AuditFilter()


def test_cursor_round_trips_through_the_url_form() -> None:
    cursor = Cursor(datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=UTC), 42)
    assert cursor.encode() == "2026-03-01T14:00:00.123456Z_42"
    assert Cursor.decode(cursor.encode()) == cursor
    bad_ids = ("x", "٤٢", " 42", "+42", "-1")  # int() reads the last four as numbers
    bad_times = ("", "42", "yesterday_4")
    for bad in bad_times + tuple(f"2026-03-01T14:00:00Z_{row_id}" for row_id in bad_ids):
        with pytest.raises(ValueError, match="is not a position in the log"):
            Cursor.decode(bad)


def _record_many(store: AuditStore, count: int, start: datetime) -> list[str]:
    return [
        record(
            store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 12},
            recorded_at=start + timedelta(seconds=index),
        )
        for index in range(count)
    ]


def _page(engine: Engine, size: int, *, before: Cursor | None = None, after: Cursor | None = None) -> Any:
    with Session(engine) as session:
        if after is not None:
            rows = session.scalars(oldest_first_after(AuditFilter(), after, limit=size + 1)).all()
        else:
            rows = session.scalars(newest_first(AuditFilter(), before=before, limit=size + 1)).all()
        return page_from(rows, size=size, before=before, after=after)


def test_keyset_pages_neither_skip_nor_repeat_while_new_rows_arrive(
    store: AuditStore, engine: Engine
) -> None:
    original = _record_many(store, 25, NOW - timedelta(hours=1))
    first = _page(engine, 10)
    assert first.newer is None and first.older is not None
    _record_many(store, 5, NOW)  # newer than everything the reviewer is paging through
    second = _page(engine, 10, before=first.older)
    _record_many(store, 3, NOW + timedelta(minutes=1))
    third = _page(engine, 10, before=second.older)
    assert third.older is None and len(third.entries) == 5
    seen = [entry.message_id for page in (first, second, third) for entry in page.entries]
    assert seen == list(reversed(original))
    back = _page(engine, 10, after=third.newer)
    assert [e.message_id for e in back.entries] == [e.message_id for e in second.entries]
    assert back.newer is not None and back.older == second.older


def test_keyset_pages_break_ties_by_id(store: AuditStore, engine: Engine) -> None:
    ids = _record_many(store, 9, NOW)
    with store.engine.begin() as connection:
        connection.execute(update(AuditEntry).values(recorded_at=NOW))
    seen: list[str] = []
    cursor = None
    while True:
        page = _page(engine, 4, before=cursor)
        seen += [entry.message_id for entry in page.entries]
        if page.older is None:
            break
        cursor = page.older
    assert seen == list(reversed(ids))


def test_histogram_counts_per_bucket_and_status(store: AuditStore, engine: Engine) -> None:
    hour = NOW.replace(minute=0)
    for minutes, status in [
        (1, "delivered"),
        (2, "delivered"),
        (3, "failed"),
        (61, "delivered"),
        (62, "pending"),
    ]:
        record(
            store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 12},
            status=status,
            recorded_at=hour + timedelta(minutes=minutes),
        )
    first = int(hour.timestamp()) // 3600
    with Session(engine) as session:
        rows = {(int(b), s): n for b, s, n in session.execute(histogram(AuditFilter(), 3600))}
        failed_only = session.execute(histogram(AuditFilter(statuses=("failed",)), 3600)).all()
    assert rows == {
        (first, "delivered"): 2,
        (first, "failed"): 1,
        (first + 1, "delivered"): 1,
        (first + 1, "pending"): 1,
    }
    assert [(int(b), s, n) for b, s, n in failed_only] == [(first, "failed", 1)]


def test_bucket_width_keeps_bars_readable() -> None:
    assert bucket_width(NOW - timedelta(minutes=15), NOW) == 15
    assert bucket_width(NOW - timedelta(hours=1), NOW) == 60
    assert bucket_width(NOW - timedelta(hours=24), NOW) == 1800
    assert bucket_width(NOW - timedelta(days=7), NOW) == 10800
    assert bucket_width(NOW, NOW) == 1
    assert (timedelta(days=3650).total_seconds() / bucket_width(NOW - timedelta(days=3650), NOW)) <= 60


def test_pages_of_several_statuses_merge_in_time_order_both_ways(store: AuditStore, engine: Engine) -> None:
    """Each status is read as its own index-ordered page; merged, they page like one filter."""
    statuses = ["failed", "delivered", "dropped", "pending", "dropped", "failed", "failed", "dropped"] * 2
    ids = [
        record(
            store,
            "ProjectCreate",
            scope={"user_id": 1, "project_id": 12},
            status=status,
            recorded_at=NOW - timedelta(minutes=len(statuses) - index),
        )
        for index, status in enumerate(statuses)
    ]
    wanted = [i for i, s in zip(ids, statuses, strict=True) if s in ("failed", "dropped")]
    filters = AuditFilter(statuses=("failed", "dropped"))
    seen: list[str] = []
    pages = []
    before: Cursor | None = None
    with Session(engine) as session:
        while True:
            rows = session.scalars(newest_first(filters, before=before, limit=4)).all()
            page = page_from(rows, size=3, before=before, after=None)
            pages.append(page)
            seen += [entry.message_id for entry in page.entries]
            if page.older is None:
                break
            before = page.older
        assert seen == list(reversed(wanted))
        newer = session.scalars(oldest_first_after(filters, pages[-1].newer, limit=4)).all()
    oldest = len(pages[-1].entries)  # the last page holds the oldest matches
    assert [entry.message_id for entry in newer] == wanted[oldest : oldest + 4]


@pytest.mark.parametrize("destination", ["staging", "staging:0123456789ab"])
def test_a_destination_is_read_from_its_partial_index(engine: Engine, destination: str) -> None:
    """The application's entries have no destination and stay out of the index; a tester
    destination's page is one range of it, never a walk of the whole log."""
    query = newest_first(parse_filters({"destination": destination}), limit=51)
    literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal}"))
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(row) for row in connection.exec_driver_sql(f"EXPLAIN {literal}"))
    assert "destination_recorded_at" in plan, plan  # partitions name their copies of it after it


def test_people_s_actions_are_a_type_of_their_own(
    engine: Engine, store: AuditStore, seeded: dict[str, str]
) -> None:
    """Sign-ins and account changes are in the log beside the messages; the type filter finds them."""
    action = record_action(store, "User Role Changed", actor="ada@example.com", properties={"role": "admin"})
    with Session(engine) as session:
        found = session.scalars(newest_first(parse_filters({"type": "action"}, now=NOW), limit=10)).all()
        dashboard = session.scalars(
            newest_first(parse_filters({"source": "dashboard"}, now=NOW), limit=10)
        ).all()
    assert [entry.message_id for entry in found] == [entry.message_id for entry in dashboard] == [action]


def test_identify_calls_of_a_spec_outside_the_catalog_are_listed_and_found(store: AuditStore) -> None:
    """Drift reports them as `unknown-identify`, but the search refused `Identify: <name>` for any call
    but today's catalog's and the Event filter did not offer them: only `type=identify` listed them."""
    signups = {record_boardly_signup(store, user_id) for user_id in (40, 41)}
    record(store, "Register", scope={"user_id": 1}, properties={"email": "ada@example.com", "github": True})
    known = [info.constant for info in CATALOG.identifiers.values()]
    with Session(store.engine) as session:
        assert session.scalars(identify_specs_outside_query(known)).all() == ["BoardlySignup"]
        found = session.scalars(newest_first(parse_filters({"event": "Identify: BoardlySignup"}), limit=10))
        entries = found.all()
    assert {entry.message_id for entry in entries} == signups
    assert {message_name(entry) for entry in entries} == {"Identify: BoardlySignup"}
