"""A property search without a start time is counted up to `COUNT_MOST`, on SQLite and PostgreSQL.

No index narrows it: the count, the histogram and the page each read every payload of the log (3-7 s
each at 200k entries). These tests count queries and matches, never time.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from auditlog import record
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from analytics.audit import AuditStore
from analytics.durations import as_utc
from analytics.queries import AuditFilter, parse_filters
from webapp.audit import results, routes
from webapp.audit.forms import SearchForm
from webapp.audit.results import build_histogram, overview, search

NOW = datetime.now(UTC).replace(microsecond=0)


def _send(store: AuditStore, cluster_type: str, *, hours_ago: float, status: str = "delivered") -> None:
    record(
        store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": cluster_type, "infra_id": 9},
        status=status,
        recorded_at=NOW - timedelta(hours=hours_ago),
    )


def _filters(**params: str) -> AuditFilter:
    return parse_filters({"prop": "cluster_type = eks", **params}, now=NOW)


def _form(**params: str) -> SearchForm:
    return SearchForm.from_args(MultiDict({"prop": "cluster_type = eks", **params}), mask_key=None, now=NOW)


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs while the test does."""
    seen: list[str] = []

    def note(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_the_tail_s_count_past_count_most_matches_is_a_floor_without_a_chart(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "COUNT_MOST", 3)
    for hours in range(5):
        _send(store, "eks", hours_ago=hours)
    _send(store, "gke", hours_ago=1)
    with Session(engine) as session:
        floor = overview(session, _filters(), NOW)
        ranged = overview(session, _filters(range="7d"), NOW)
    assert (floor.total, floor.chart, floor.complete) == (3, None, False)
    assert (ranged.total, ranged.complete) == (5, True) and ranged.chart is not None


def test_up_to_count_most_matches_the_count_and_chart_are_exact(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawn from the rows read, the chart is the one the grouped query draws."""
    monkeypatch.setattr(results, "COUNT_MOST", 3)
    for hours, status in [(0, "delivered"), (30, "failed"), (300, "delivered")]:
        _send(store, "eks", hours_ago=hours, status=status)
    _send(store, "gke", hours_ago=1)
    with Session(engine) as session:
        head = overview(session, _filters(), NOW)
        assert head.chart is not None
        grouped = build_histogram(session, _filters(), head.chart.start, NOW, NOW)
    assert (head.total, head.complete) == (3, True)
    assert head.chart == grouped
    assert head.chart.totals == {"delivered": 2, "failed": 1}


def test_a_page_that_holds_every_match_is_the_whole_search(
    store: AuditStore, engine: Engine, statements: list[str]
) -> None:
    """A rare value was read three times over the whole log: for the count, the chart and the page."""
    _send(store, "eks", hours_ago=2)
    _send(store, "gke", hours_ago=1)
    form = _form()
    with Session(engine) as session:
        statements.clear()
        found = search(session, form, page_size=50, now=NOW)
    assert [entry.payload["properties"]["cluster_type"] for entry in found.page.entries] == ["eks"]
    assert (found.head.total, found.head.complete) == (1, True) and found.head.chart is not None
    read = [sql for sql in statements if "audit_entries" in sql]
    # The page's one read of the payloads, and where it would stop (`SCAN_MOST`), from the time index.
    assert len(read) == 2 and len([sql for sql in read if "payload" in sql]) == 1


def test_a_ranged_property_search_is_counted_in_full(store: AuditStore, engine: Engine) -> None:
    for hours in range(3):
        _send(store, "eks", hours_ago=hours)
    with Session(engine) as session:
        found = search(session, _form(range="24h"), page_size=2, now=NOW)
    assert (found.head.total, found.head.complete) == (3, True) and found.head.chart is not None


def test_the_page_says_more_than_and_offers_a_time_range(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full page of an unbounded property search ends its scan: the head says "more than"."""
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for hours in range(4):
        _send(sqlite_store, "eks", hours_ago=hours)
    response = client.get("/audit/?prop=cluster_type+%3D+eks")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<strong id="audit-count">More than 2 entries</strong>' in page
    assert ">Count and chart them all</a> from " in page
    assert 'class="histogram"' not in page
    assert "a time range makes it fast" in page
    fragment = client.get("/audit/?prop=cluster_type+%3D+eks", headers={"HX-Request": "true"})
    assert "More than 2 entries match." in fragment.get_data(as_text=True)
    ranged = client.get("/audit/?prop=cluster_type+%3D+eks&range=24h").get_data(as_text=True)
    assert '<strong id="audit-count">4 entries</strong>' in ranged and 'class="histogram"' in ranged


def _count_all_link(page: str) -> str:
    match = re.search(r'id="audit-count-note">.*?<a [^>]*href="([^"]+)">', page, re.S)
    assert match is not None, page
    return html.unescape(match.group(1))


@pytest.mark.parametrize("until", ["", "&until=30h"])
def test_count_them_all_counts_matches_older_than_a_day(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch, until: str
) -> None:
    """The link searched the last 24 hours: matches 48-52 h old read "0 entries", and a search with
    an `until` earlier than that was refused ("must be after the start of the range")."""
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    _send(sqlite_store, "gke", hours_ago=60)
    for hours in range(48, 53):
        _send(sqlite_store, "eks", hours_ago=hours)
    page = client.get(f"/audit/?prop=cluster_type+%3D+eks{until}").get_data(as_text=True)
    assert '<strong id="audit-count">More than 2 entries</strong>' in page
    link = _count_all_link(page)
    # From the log's first entry, to the second: no match is older.
    since = (NOW - timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    counted = client.get(link)
    assert counted.status_code == 200
    text = counted.get_data(as_text=True)
    assert '<strong id="audit-count">5 entries</strong>' in text and 'class="histogram"' in text
    assert parse_qs(urlsplit(link).query)["since"] == [since]


def test_count_them_all_leaves_the_live_tail_off(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live search's link kept `live=1`: each poll that added a row then counted again from the
    log's first entry, reading every payload since, as the histogram's bucket links never did."""
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for hours in range(4):
        _send(sqlite_store, "eks", hours_ago=hours + 1)
    page = client.get("/audit/?prop=cluster_type+%3D+eks&live=1").get_data(as_text=True)
    assert "live" not in parse_qs(urlsplit(_count_all_link(page)).query)


def test_the_live_tail_adds_to_a_floor_without_counting(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for hours in range(4):
        _send(sqlite_store, "eks", hours_ago=hours + 1)
    page = client.get("/audit/?prop=cluster_type+%3D+eks&live=1").get_data(as_text=True)
    match = re.search(r'<div id="audit-tail"[^>]*hx-get="([^"]+)"', page, re.S)
    assert match is not None
    url = html.unescape(match.group(1))
    assert parse_qs(urlsplit(url).query)["complete"] == ["0"]
    record(
        sqlite_store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
    )
    update = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<strong id="audit-count">More than 3 entries</strong>' in update


def _pager_link(page: str, name: str) -> str:
    match = re.search(rf'<a id="pager-{name}" [^>]*href="([^"]+)"', page)
    assert match is not None, page
    return html.unescape(match.group(1))


def test_later_pages_keep_the_count_the_first_page_stopped_at(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each later page counted its own rows: "More than 2 entries", then "More than 1 entry" on the
    last, a count that fell as one paged on."""
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for hours in range(5):
        _send(sqlite_store, "eks", hours_ago=hours)
    floor = '<strong id="audit-count">More than 2 entries</strong>'
    page = client.get("/audit/?prop=cluster_type+%3D+eks").get_data(as_text=True)
    assert floor in page
    for _ in range(2):
        page = client.get(_pager_link(page, "older")).get_data(as_text=True)
        assert floor in page
    assert 'id="pager-older"' not in page
    newer = client.get(_pager_link(page, "newer"), headers={"HX-Request": "true"})
    assert floor in newer.get_data(as_text=True)
    assert parse_qs(urlsplit(newer.headers["HX-Push-Url"]).query)["total"] == ["2"]


def _gke_then_one_eks(store: AuditStore) -> None:
    """Five entries without the value, newest first, then the one that has it."""
    for hours in range(1, 6):
        _send(store, "gke", hours_ago=hours)
    _send(store, "eks", hours_ago=6)


def test_a_value_few_entries_hold_is_searched_scan_most_entries_at_a_time(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value no entry holds read the whole log before answering none (30 s at a million entries on
    SQLite); the page reads `SCAN_MOST` entries, says where it stopped, and its pager reads on."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    _gke_then_one_eks(store)
    with Session(engine) as session:
        first = search(session, _form(), page_size=50, now=NOW)
        assert first.page.entries == [] and not first.head.complete and first.head.chart is None
        assert first.page.stopped_at is not None and first.page.older == first.page.stopped_at
        assert first.page.stopped_at.recorded_at == NOW - timedelta(hours=3)
        second = search(session, _form(before=first.page.older.encode()), page_size=50, now=NOW)
        assert [entry.payload["properties"]["cluster_type"] for entry in second.page.entries] == ["eks"]
        assert second.page.stopped_at is None and second.page.older is None
        back = search(session, _form(after=first.page.older.encode()), page_size=50, now=NOW)
        assert back.page.entries == [] and back.page.stopped_at is None and back.page.newer is None
    monkeypatch.setattr(results, "SCAN_MOST", 6)
    with Session(engine) as session:
        whole = search(session, _form(), page_size=50, now=NOW)
    assert len(whole.page.entries) == 1 and whole.page.stopped_at is None and whole.head.complete


def test_the_page_and_the_api_say_where_the_search_stopped_and_read_on(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    _gke_then_one_eks(sqlite_store)
    page = client.get("/audit/?prop=cluster_type+%3D+eks").get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in page
    stopped = (NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat(" ", "seconds")
    assert f"it read 3 entries, back to {stopped} UTC, and stopped there. Older › reads on" in page
    assert "No entries match these filters among the 3 entries read." in page
    older = re.search(r'id="pager-older" rel="next" href="([^"]+)"', page)
    assert older is not None
    further = client.get(html.unescape(older.group(1))).get_data(as_text=True)
    assert '<strong id="audit-count">' not in further.split('id="audit-rows"')[1]
    assert further.count('class="event-name"') + further.count("Cluster Provisioning Success") >= 1
    assert "and stopped there" not in further and 'id="pager-older"' not in further
    fragment = client.get("/audit/?prop=cluster_type+%3D+eks", headers={"HX-Request": "true"})
    assert "0 entries match among the 3 entries read." in fragment.get_data(as_text=True)
    api = client.get("/api/audit/entries?prop=cluster_type+%3D+eks").get_json()
    assert api["entries"] == [] and api["next"] is not None
    rest = client.get(f"/api/audit/entries?prop=cluster_type+%3D+eks&cursor={api['next']}").get_json()
    assert [entry["payload"]["properties"]["cluster_type"] for entry in rest["entries"]] == ["eks"]
    assert rest["next"] is None


def test_pages_read_on_past_a_stop_count_only_what_they_know(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a page that stopped at `SCAN_MOST` entries, the next said "More than 1 entry" for the one
    match there is, and going back, "1 entry" above an empty list (the count carried in `total=`)."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    _gke_then_one_eks(sqlite_store)
    first = client.get("/audit/?prop=cluster_type+%3D+eks").get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in first
    older_link = _pager_link(first, "older")
    assert "total" not in parse_qs(urlsplit(older_link).query)
    older = client.get(older_link).get_data(as_text=True)
    assert '<strong id="audit-count">At least 1 entry</strong>' in older
    # The address htmx shows for that page, reloaded or shared: it said "More than 1 entry" (`total=1`).
    pushed = client.get(older_link, headers={"HX-Request": "true"}).headers["HX-Push-Url"]
    assert "total" not in parse_qs(urlsplit(pushed).query)
    assert '<strong id="audit-count">At least 1 entry</strong>' in client.get(pushed).get_data(as_text=True)
    newer = client.get(_pager_link(older, "newer")).get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in newer
    assert "it read 3 entries, on to " in newer and "No entries match these filters" in newer


def _hours_ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_search_until_a_time_reads_scan_most_entries_of_its_range(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop counted the newest entries of the whole log: a search until 50 hours ago stopped 3
    hours ago, read nothing of its range, and said it had read back to a time after it."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    for hours in range(1, 8):
        _send(store, "gke", hours_ago=hours)
    for hours in (60, 70, 80, 90):
        _send(store, "gke", hours_ago=hours)
    _send(store, "eks", hours_ago=100)
    with Session(engine) as session:
        first = search(session, _form(until=_hours_ago(50)), page_size=50, now=NOW)
        assert first.page.entries == [] and first.page.stopped_at is not None
        assert first.page.stopped_at.recorded_at == NOW - timedelta(hours=80)
        assert first.page.older is not None
        second = search(session, _form(until=_hours_ago(50), before=first.page.older.encode()), page_size=50)
    assert [as_utc(entry.recorded_at) for entry in second.page.entries] == [NOW - timedelta(hours=100)]


@pytest.mark.parametrize("status", ["failed", "failed,dropped"])
def test_the_scan_counts_only_the_entries_the_other_filters_keep(
    store: AuditStore, engine: Engine, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    """With `status=failed` the stop counted every entry: the page read none of the failed ones past
    the newest delivered three, and said it had read 3 entries."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    for hours in range(1, 6):
        _send(store, "gke", hours_ago=hours)
    for hours in (10, 11, 12):
        _send(store, "gke", hours_ago=hours, status="failed")
    _send(store, "eks", hours_ago=13, status="failed")
    with Session(engine) as session:
        first = search(session, _form(status=status), page_size=50, now=NOW)
        assert first.page.entries == [] and first.page.stopped_at is not None
        assert first.page.stopped_at.recorded_at == NOW - timedelta(hours=12)
        assert first.page.older is not None
        second = search(session, _form(status=status, before=first.page.older.encode()), page_size=50)
    assert [as_utc(entry.recorded_at) for entry in second.page.entries] == [NOW - timedelta(hours=13)]


def test_the_page_and_the_api_read_a_search_until_a_time_from_that_time(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    for hours in range(1, 8):
        _send(sqlite_store, "gke", hours_ago=hours)
    for hours in (60, 70, 80):
        _send(sqlite_store, "gke", hours_ago=hours)
    _send(sqlite_store, "eks", hours_ago=100)
    search_until = f"prop=cluster_type+%3D+eks&until={_hours_ago(50)}"
    page = client.get(f"/audit/?{search_until}").get_data(as_text=True)
    assert '<strong id="audit-count">0 entries</strong>' in page
    stopped = (NOW - timedelta(hours=80)).replace(tzinfo=None).isoformat(" ", "seconds")
    assert f"it read 3 entries, back to {stopped} UTC, and stopped there." in page
    api = client.get(f"/api/audit/entries?{search_until}").get_json()
    assert api["entries"] == [] and api["next"] is not None
    rest = client.get(f"/api/audit/entries?{search_until}&cursor={api['next']}").get_json()
    assert [entry["payload"]["properties"]["cluster_type"] for entry in rest["entries"]] == ["eks"]


def test_a_page_past_the_last_match_says_so_and_leads_back(
    client: FlaskClient, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging on past a stopped search to the log's first entry, with no match left, said "At least 0
    entries" and had no link back but to the newest page."""
    monkeypatch.setattr(results, "SCAN_MOST", 3)
    for hours in range(1, 6):
        _send(sqlite_store, "gke", hours_ago=hours)
    first = client.get("/audit/?prop=cluster_type+%3D+eks").get_data(as_text=True)
    older_link = _pager_link(first, "older")
    older = client.get(older_link).get_data(as_text=True)
    stopped = (NOW - timedelta(hours=3)).replace(tzinfo=None).isoformat(" ", "seconds")
    assert '<strong id="audit-count">No more matches</strong>' in older and "At least" not in older
    assert f"no entry older than {stopped} UTC matches: ‹ Newer goes back." in older
    fragment = client.get(older_link, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f"No more entries match before {stopped} UTC." in fragment
    newer_link = _pager_link(older, "newer")
    assert "total" not in parse_qs(urlsplit(newer_link).query)
    back = client.get(newer_link).get_data(as_text=True)
    assert f"no entry newer than {stopped} UTC matches: Older › goes back." in back
    assert _pager_link(back, "older") == older_link
