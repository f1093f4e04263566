"""Audit review in a real browser: filter, export, open an entry and its attempts; the live tail."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import requests
from auditlog import network_error, record
from browser_helpers import wait_until_htmx_has
from dashboard_server import running_dashboard
from playwright.sync_api import Browser, Page, expect

from analytics.audit import AuditRecord, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp.audit import routes

pytestmark = pytest.mark.e2e

CPS = "Cluster Provisioning Success"


def _project_create(sqlite_store: AuditStore) -> str:
    return record(sqlite_store, "ProjectCreate", scope={"user_id": 1, "project_id": 12}, status="delivered")


def _cps(sqlite_store: AuditStore, status: str) -> str:
    return record(
        sqlite_store,
        "ClusterProvisioningSuccess",
        scope={"user_id": 1, "project_id": 12, "cluster_id": 4},
        properties={"cluster_type": "eks", "infra_id": 9},
        status=status,
    )


def test_filter_by_event_and_status_export_and_open_an_entry(
    live_server: str, page: Page, sqlite_store: AuditStore, tmp_path: Path
) -> None:
    for _ in range(3):
        _project_create(sqlite_store)
    delivered = _cps(sqlite_store, "delivered")
    failed = _cps(sqlite_store, "pending")
    sqlite_store.record_outcome(
        [failed], AuditStatus.FAILED, http_status=503, error='{"message":"upstream down"}'
    )
    rows = page.locator("#audit-rows tr:not(#audit-empty)")

    page.goto(live_server + "/audit/")
    expect(page).to_have_title("Audit log · event-catalog")
    expect(rows).to_have_count(5)
    page.get_by_label("Event", exact=True).select_option(CPS)
    expect(rows).to_have_count(2)
    expect(page).to_have_url(f"{live_server}/audit/?event=Cluster+Provisioning+Success")
    page.get_by_role("checkbox", name="failed", exact=True).check()
    expect(rows).to_have_count(1)
    expect(page.locator("#audit-count")).to_have_text("1 entry")
    assert "status=failed" in page.url

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    exported = tmp_path / "export.csv"
    download.value.save_as(exported)
    # The download starts with the byte-order mark spreadsheets need to read it as UTF-8.
    assert exported.read_bytes().startswith(b"\xef\xbb\xbfmessage_id,")
    text = exported.read_text(encoding="utf-8-sig")
    assert [row["message_id"] for row in csv.DictReader(io.StringIO(text))] == [failed]
    assert delivered not in exported.read_text()

    rows.first.get_by_role("link").click()
    expect(page).to_have_url(f"{live_server}/audit/entries/{failed}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(CPS)
    attempts = page.locator("table.delivery-attempts tbody tr")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text("503")
    expect(attempts.first).to_contain_text('{"message":"upstream down"}')
    expect(page.get_by_role("link", name="Edit and send")).to_have_attribute(
        "href", f"/tester/?from={failed}"
    )


@pytest.mark.parametrize(("width", "height", "shown"), [(1366, 768, 2), (1280, 720, 1)])
def test_the_first_entries_show_without_scrolling_on_a_laptop(
    live_server: str, page: Page, sqlite_store: AuditStore, width: int, height: int, shown: int
) -> None:
    """The first entry started at y=922 at both sizes, under four tall filter boxes and the histogram:
    whoever opened the log in an incident, or waited for the live tail, saw no entry arrive."""
    for _ in range(3):
        _cps(sqlite_store, "delivered")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server + "/audit/?live=1")
    rows = page.locator("#audit-rows tr")
    expect(rows).to_have_count(3)
    for row in range(shown):
        box = rows.nth(row).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, (row, box)
    # The histogram follows the entries, and the live tail still redraws it there.
    _cps(sqlite_store, "failed")
    expect(rows).to_have_count(4)
    expect(page.locator("#audit-chart .legend")).to_contain_text("failed 1")


def test_the_property_hint_is_one_line_on_a_laptop_and_its_details_open_from_the_keyboard(
    live_server: str, page: Page
) -> None:
    """Its hint wrapped to nine lines at 1366×768; the details now fold under "How to write it"."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(live_server + "/audit/?prop=")
    page.get_by_text("More filters").click()
    hint, since_hint = page.locator("#hint-prop"), page.locator("#hint-since")
    expect(hint).to_be_visible()
    box, one_line = hint.bounding_box(), since_hint.bounding_box()
    assert box is not None and one_line is not None and box["height"] <= one_line["height"], (box, one_line)
    expect(page.get_by_text("a time range makes it fast")).to_be_hidden()
    page.locator("#more-prop > summary").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("a time range makes it fast")).to_be_visible()


def test_a_field_whose_error_appears_as_you_type_is_marked_invalid(live_server: str, page: Page) -> None:
    """Screen readers announce an invalid field by aria-invalid, after a partial update too."""
    page.goto(live_server + "/audit/")
    project = page.get_by_label("Project", exact=True)
    project.fill("twelve")
    expect(page.locator("#error-project")).to_have_text("'twelve' is not a whole number")
    expect(project).to_have_attribute("aria-invalid", "true")
    project.fill("12")
    expect(page.locator("#error-project")).to_have_text("")
    expect(project).not_to_have_attribute("aria-invalid", "true")


def test_a_mistyped_event_is_refused_beside_the_field_and_its_suggestion_searches(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    """An address with `event=Identify: Registr` (a link from an incident note) found no entries, as
    if no one had registered; the field says so, the other filters kept, and its suggestion finds them."""
    record(sqlite_store, "Register", scope={"user_id": 3}, properties={"email": "a@x.org", "github": True})
    page.goto(live_server + "/audit/?event=Identify:+Registr&status=pending")
    wait_until_htmx_has(page, "#audit-filters")
    error, event = page.locator("#error-event"), page.locator("#filter-event")
    expect(error).to_have_text(
        "no event or identify spec named 'Identify: Registr' in the catalog or the log; "
        "did you mean 'Identify: Register'?"
    )
    expect(event).to_have_attribute("aria-invalid", "true")
    expect(page.locator('input[name="status"][value="pending"]')).to_be_checked()
    event.select_option("Identify: Register")
    expect(error).to_have_text("")
    expect(event).not_to_have_attribute("aria-invalid", "true")
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Identify: Register")


def test_live_tail_adds_new_entries_and_pauses_while_scrolled(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    for _ in range(40):
        _project_create(sqlite_store)
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    tail = page.locator("#audit-tail")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(live_server + "/audit/?live=1")
    expect(rows).to_have_count(40)
    arrived = _cps(sqlite_store, "delivered")
    expect(rows).to_have_count(41)
    expect(rows.first).to_contain_text(CPS)
    expect(page.locator("#audit-count")).to_have_text("41 entries")
    expect(page.locator(".histogram .legend")).to_contain_text("delivered 41")
    assert arrived in (rows.first.get_by_role("link").get_attribute("href") or "")

    page.evaluate(
        """() => {
            window.tailPolls = 0;
            document.addEventListener("htmx:beforeRequest", (event) => {
                if (event.target.id === "audit-tail") window.tailPolls += 1;
            });
            window.scrollTo(0, document.body.scrollHeight);
        }"""
    )
    expect(tail).to_have_attribute("data-paused", "")
    expect(page.get_by_text("Live tail paused while you read")).to_be_visible()
    # Paused, it stays at the top of the window, however far down the reader is.
    box = tail.bounding_box()
    assert box is not None and 0 <= box["y"] < 5, box
    _cps(sqlite_store, "failed")
    # Two polls came and were skipped. (wait_for_function evaluates a string in the page, which the
    # dashboard's CSP forbids, so poll from here.)
    for _ in range(100):
        if page.evaluate("window.tailPolls") >= 2:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.tailPolls") >= 2
    expect(rows).to_have_count(41)

    page.evaluate("window.scrollTo(0, 0)")
    expect(rows).to_have_count(42)
    expect(rows.first).to_contain_text("failed")
    expect(tail).not_to_have_attribute("data-paused", "")

    # A row that arrived pending settles in place once its delivery is recorded; the failed one
    # below it too, once someone else's re-send got through.
    waiting = _cps(sqlite_store, "pending")
    expect(rows.first.locator(".audit-status")).to_have_text("pending")
    sqlite_store.record_outcome([waiting], AuditStatus.DELIVERED, http_status=200)
    expect(rows.first.locator(".audit-status")).to_have_text("delivered")
    expect(page.locator(".histogram .legend")).to_contain_text("delivered 42")
    failed = rows.nth(1)
    expect(failed.locator(".audit-status")).to_have_text("failed")
    re_sent = (failed.get_by_role("link").get_attribute("href") or "").rsplit("/", 1)[-1]
    sqlite_store.record_outcome([re_sent], AuditStatus.DELIVERED, http_status=200, source="replay")
    expect(failed.locator(".audit-status")).to_have_text("delivered")

    # Scrolled down to the list with its newest rows in view (on a laptop the list starts below the
    # first screen), the reader is watching the tail, not reading on: it keeps adding rows.
    page.evaluate(
        """() => {
            const top = document.getElementById("audit-rows").getBoundingClientRect().top;
            window.scrollTo(0, window.scrollY + top - 100);
        }"""
    )
    assert page.evaluate("window.scrollY") > 80
    _cps(sqlite_store, "delivered")
    expect(rows).to_have_count(44)
    expect(tail).not_to_have_attribute("data-paused", "")
    assert errors == []  # polls with no pending row to name log nothing either


def test_the_live_tail_of_a_busy_log_keeps_its_polls_short_and_its_rows_moving(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    """Each listed pending row sent its status with every poll: once a catch-up had listed a few
    hundred, the request line passed the 4,094 bytes gunicorn reads, every later poll was answered
    414 and the tail froze with its rows pending."""
    polls: list[str] = []
    page.on(
        "request",
        lambda request: (
            polls.append(request.url.removeprefix(live_server)) if "/audit/tail" in request.url else None
        ),
    )
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    page.goto(live_server + "/audit/?live=1")
    messages = [build_message(CATALOG.event("ProjectCreate").example_spec()) for _ in range(700)]
    sqlite_store.record_many(
        [AuditRecord(m, status=AuditStatus.PENDING, source="application") for m in messages]
    )
    expect(rows).to_have_count(700, timeout=30_000)
    newest = [str(m["messageId"]) for m in messages[-3:]]
    sqlite_store.record_outcome(newest, AuditStatus.DELIVERED, http_status=200)
    for row in range(3):
        expect(rows.nth(row).locator(".audit-status")).to_have_text("delivered")
    expect(rows.nth(3).locator(".audit-status")).to_have_text("pending")
    assert max(len(f"GET {url} HTTP/1.1") for url in polls) < 4094


def test_the_live_tail_keeps_up_with_a_busy_log_through_gunicorn(browser: Browser, tmp_path: Path) -> None:
    """The same, served as the image serves it: gunicorn answered 414 to every poll once the listed
    pending rows' fields had taken its request line past 4,094 bytes, and the tail stopped at 600 rows."""
    database_url = f"sqlite:///{tmp_path / 'prod.db'}"
    settings = {"AUTH_MODE": "proxy", "TRUSTED_PROXIES": "127.0.0.1", "PROXY_DEFAULT_ROLE": "viewer"}
    with running_dashboard(DATABASE_URL=database_url, WEB_CONCURRENCY="1", **settings) as base:
        context = browser.new_context(extra_http_headers={"X-Forwarded-Email": "reviewer@example.com"})
        page = context.new_page()
        answers: list[int] = []
        page.on(
            "response", lambda answer: answers.append(answer.status) if "/audit/tail" in answer.url else None
        )
        rows = page.locator("#audit-rows tr:not(#audit-empty)")
        page.goto(base + "/audit/?live=1")
        engine = create_audit_engine(database_url)
        try:
            messages = [build_message(CATALOG.event("ProjectCreate").example_spec()) for _ in range(700)]
            store = AuditStore(engine)
            store.record_many(
                [AuditRecord(m, status=AuditStatus.PENDING, source="application") for m in messages]
            )
            expect(rows).to_have_count(700, timeout=30_000)
            store.record_outcome([str(messages[-1]["messageId"])], AuditStatus.DELIVERED, http_status=200)
            expect(rows.first.locator(".audit-status")).to_have_text("delivered")
        finally:
            engine.dispose()
            context.close()
    assert set(answers) == {200}


def test_the_event_filter_is_found_by_typing_part_of_its_name(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    """The Event filter is one option per event, identify call and action (350 in a large catalog)
    with only first-letter type-ahead: a box narrows it as the tester's picker does, without
    searching the log as it is typed; Enter picks the only match, ArrowDown goes to the list."""
    _project_create(sqlite_store)
    _cps(sqlite_store, "delivered")
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    page.goto(live_server + "/audit/")
    expect(rows).to_have_count(2)
    searches: list[str] = []
    page.on("request", lambda request: searches.append(request.url) if "/audit/?" in request.url else None)
    find = page.get_by_label("Find an event in the Event list")
    find.fill("cluster provisioning succ")
    expect(page.locator("#filter-event-find-status")).to_have_text("1 match: Enter picks it")
    shown = page.locator("#filter-event").evaluate(
        "select => Array.from(select.options).filter(o => !o.hidden && o.value).map(o => o.value)"
    )
    assert shown == [CPS]
    page.wait_for_timeout(500)  # past the form's 250 ms search-as-you-type delay
    assert searches == []
    find.press("Enter")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/audit/?event=Cluster+Provisioning+Success")
    find.fill("project")
    expect(page.locator("#filter-event-find-status")).to_contain_text("matches")
    find.press("ArrowDown")
    expect(page.locator("#filter-event")).to_be_focused()


def test_a_property_search_without_a_range_stops_at_a_page_and_offers_one(
    live_server: str, page: Page, sqlite_store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typed into the field, it answered after reading every payload of the log three times."""
    monkeypatch.setattr(routes, "PAGE_SIZE", 2)
    for _ in range(3):
        _cps(sqlite_store, "delivered")
    page.goto(live_server + "/audit/")
    page.get_by_text("More filters").click()
    page.get_by_label("Property", exact=True).fill("cluster_type = eks")
    expect(page.locator("#audit-count")).to_have_text("More than 2 entries")
    expect(page.locator("#audit-status")).to_have_text("More than 2 entries match.")
    expect(page.locator("figure.histogram")).to_have_count(0)
    page.get_by_role("link", name="Count and chart them all").click()
    expect(page.locator("#audit-count")).to_have_text("3 entries")
    expect(page.locator("figure.histogram")).to_have_count(1)
    assert "since=" in page.url


def test_which_messages_may_have_arrived_is_one_choice_of_the_outcome_filter(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    timed_out = _cps(sqlite_store, "pending")
    sqlite_store.record_outcome([timed_out], AuditStatus.FAILED, error=network_error(requests.ReadTimeout))
    refused = _cps(sqlite_store, "pending")
    sqlite_store.record_outcome([refused], AuditStatus.FAILED, error=network_error(requests.ConnectionError))
    _expect_one_of_two_left_by_more_filters(page, live_server, "Outcome", "may_have_arrived", timed_out)


def test_which_messages_were_re_sent_is_one_choice_of_the_attempts_filter(
    live_server: str, page: Page, sqlite_store: AuditStore
) -> None:
    replayed = _cps(sqlite_store, "pending")
    sqlite_store.record_outcome([replayed], AuditStatus.FAILED, http_status=500, error="internal error")
    sqlite_store.record_outcome([replayed], AuditStatus.DELIVERED, http_status=200, source="replay")
    _cps(sqlite_store, "delivered")
    _expect_one_of_two_left_by_more_filters(page, live_server, "Attempts", "failed", replayed)


def _expect_one_of_two_left_by_more_filters(
    page: Page, live_server: str, label: str, choice: str, left: str
) -> None:
    """Choosing `choice` in the `label` filter, folded under More filters, leaves entry `left` of the
    log's two, live and in the address (`?label=choice`)."""
    rows = page.locator("#audit-rows tr:not(#audit-empty)")
    page.goto(live_server + "/audit/")
    expect(rows).to_have_count(2)
    page.get_by_text("More filters").click()  # folded, so that the first entries show on a laptop
    page.get_by_label(label, exact=True).select_option(choice)
    expect(rows).to_have_count(1)
    expect(page).to_have_url(f"{live_server}/audit/?{label.lower()}={choice}")
    expect(rows.first.get_by_role("link").first).to_have_attribute("href", f"/audit/entries/{left}")
