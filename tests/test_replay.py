"""Replay through the real Segment client to the local collector: same messageId, nothing twice."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
import requests
from auditlog import network_error, record_delivery, record_outage
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from markupsafe import escape
from pg_activity import someone_waits_for_a_lock
from production_settings import AUDIT_KEYS
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session

import analytics
import analytics.replay as replay_module
from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector, key_fingerprint
from analytics.durations import as_utc, shown_instant
from analytics.erasure import ErasureReport, erase
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.network_errors import describe_network_error
from analytics.personal_data import mask_value
from analytics.queries import Cursor, newest_first, parse_filters
from analytics.replay import (
    REPLAY_ACTION,
    STUCK_PENDING_ERROR,
    Candidate,
    NotStuckYet,
    ReplayError,
    ReplayReport,
    ReplaySelection,
    _claim,
    blocked_reasons,
    click_outlook,
    count_replayable,
    is_stuck,
    not_stuck_yet,
    open_replay_client,
    parse_statuses,
    record_replay,
    replay,
    select_replayable,
    stuck_clause,
)
from analytics.wording import sentence
from webapp import ROOT
from webapp.auth.roles import Role

# Small budgets: a test needs an answer in seconds, not the client's default hours.
FAST: dict[str, Any] = {"upload_interval": 0.05, "max_retries": 0, "timeout": 5}
LATER = timedelta(hours=2)


def _pending_since(moment: datetime) -> str:
    """How the not-stuck-yet line says when an entry went pending, an hour before it becomes stuck:
    its time of day, or the whole instant when that hour crosses midnight (UTC)."""
    shown = shown_instant(moment)
    return (
        shown.split(" ")[1] if as_utc(moment).date() == as_utc(moment + timedelta(hours=1)).date() else shown
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll until `condition` holds: the collector and a child process work on their own threads."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _spec(constant: str) -> Any:
    return (
        CATALOG.identifier(constant) if constant == "Register" else CATALOG.event(constant)
    ).example_spec()


def _send_failing(
    store: AuditStore, collector: Collector, count: int = 1, constant: str = "ProjectCreate"
) -> list[Any]:
    """Send through the real client while the endpoint answers 500: the entries end `failed`."""
    collector.inject(500, times=10_000)
    client = AnalyticsClient("test-key", store=store, host=collector.url, **FAST)
    send = client.identify if constant == "Register" else client.track
    receipts = [send(_spec(constant)) for _ in range(count)]
    client.shutdown()
    collector.reset()
    for receipt in receipts:
        assert _entry(store, receipt.message_id).status == "failed"
    return receipts


def _entry(store: AuditStore, message_id: str) -> AuditEntry:
    entry = store.entry(message_id)
    assert entry is not None
    return entry


def _entry_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.fixture
def replay_client(store: AuditStore, collector: Collector) -> Iterator[AnalyticsClient]:
    """The client a replay sends through, against the collector."""
    client = open_replay_client(store, "test-key", collector.url, actor="ops@test", upload_interval=0.05)
    yield client
    client.shutdown()


def test_failed_entry_is_replayed_unchanged_and_delivered(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    [receipt] = _send_failing(store, collector)
    entries_before = _entry_count(store.engine)
    report = replay(store, replay_client, ReplaySelection())
    assert (report.selected, report.delivered, report.ok) == (1, 1, True)
    assert report.summary() == "re-sent 1 entry: 1 delivered"
    assert collector.received() == [receipt.message]  # same messageId, timestamp, everything
    assert _entry(store, receipt.message_id).status == "delivered"
    assert _entry_count(store.engine) == entries_before
    attempts = store.attempts(receipt.message_id)
    assert [(a.outcome, a.source, a.actor) for a in attempts] == [
        ("failed", "application", None),
        ("delivered", "replay", "ops@test"),
    ]
    assert verify(store.engine, b"event-catalog").ok


def test_a_message_that_did_arrive_is_deduplicated_by_the_collector(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    # The endpoint stores the batch but answers after the client gave up: audited failed, yet arrived.
    collector.inject(None, latency=2, times=1)
    client = AnalyticsClient("test-key", store=store, host=collector.url, **{**FAST, "timeout": 0.5})
    receipt = client.track(_spec("ProjectCreate"))
    client.shutdown()
    assert _entry(store, receipt.message_id).status == "failed"
    _wait_for(lambda: collector.stats.messages == 1, "the slow request to be stored")
    report = replay(store, replay_client, ReplaySelection())
    assert report.delivered == 1
    stats = collector.stats
    assert (stats.messages, stats.duplicates) == (1, 1)
    assert [m["messageId"] for m in collector.received()] == [receipt.message_id]
    assert _entry(store, receipt.message_id).status == "delivered"


def test_a_second_replay_sends_nothing(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    _send_failing(store, collector, 3)
    assert replay(store, replay_client, ReplaySelection()).delivered == 3
    requests = collector.stats.requests
    again = replay(store, replay_client, ReplaySelection())
    assert (again.selected, again.summary()) == (0, "nothing to replay")
    assert collector.stats.requests == requests and collector.stats.messages == 3


def test_a_replay_killed_mid_way_and_run_again_sends_nothing_twice(
    database_url: str, store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    receipts = _send_failing(store, collector, 250)
    # The first batch goes through; the second hangs, and the replay is killed while it does.
    collector.inject(None, latency=0.01, times=1)
    collector.inject(503, latency=30, times=1)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_WRITE_KEY": "test-key",
        "SEGMENT_HOST": collector.url,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "replay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: collector.stats.requests >= 2, "the replay's second batch")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    first_batch = collector.stats.messages
    statuses = [_entry(store, r.message_id).status for r in receipts]
    assert 0 < first_batch < 250
    assert statuses.count("delivered") == first_batch
    assert statuses.count("pending") == 250 - first_batch  # claimed, never answered

    # Run again at once: the claimed entries are not stuck yet, so nothing is sent twice.
    assert replay(store, replay_client, ReplaySelection()).selected == 0
    # Once stuck (or with a short --stuck-after), the rest goes, and only the rest.
    rest = replay(store, replay_client, ReplaySelection(), now=datetime.now(UTC) + LATER)
    assert rest.selected == rest.delivered == 250 - first_batch
    stats = collector.stats
    assert (stats.messages, stats.duplicates) == (250, 0)
    assert {m["messageId"] for m in collector.received()} == {r.message_id for r in receipts}
    assert _entry_count(store.engine) == 250
    assert verify(store.engine, b"event-catalog").ok


def test_stuck_pending_entries_are_replayed_and_fresh_ones_are_not(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    # What a process killed before its batch went out leaves behind: entries `pending`, never sent.
    client = AnalyticsClient("test-key", store=store, host=collector.url, send=False, **FAST)
    receipt = client.track(_spec("ProjectCreate"))
    client.shutdown()
    entry = _entry(store, receipt.message_id)
    now = datetime.now(UTC)
    assert not is_stuck(entry, now, timedelta(hours=1))
    assert is_stuck(entry, now + LATER, timedelta(hours=1))
    with store.engine.connect() as connection:
        stuck = select(AuditEntry.message_id).where(stuck_clause(now + LATER, timedelta(hours=1)))
        assert list(connection.scalars(stuck)) == [receipt.message_id]
    assert replay(store, replay_client, ReplaySelection()).selected == 0
    assert replay(store, replay_client, ReplaySelection(), now=now + LATER).delivered == 1
    assert collector.received() == [receipt.message]


def test_pending_entries_not_stuck_yet_are_counted_with_when_a_replay_takes_them(store: AuditStore) -> None:
    """What a crashed process left is `pending` and not stuck for an hour: a replay selects nothing,
    and said only that, while these entries will never be sent unless re-sent."""
    now = datetime.now(UTC)
    first = now - timedelta(minutes=40)
    for recorded in (first, now - timedelta(minutes=5, seconds=20)):
        record_delivery(store, AuditStatus.PENDING, recorded=recorded)
    record_delivery(store, AuditStatus.PENDING, recorded=now - LATER)  # stuck: a replay takes it
    record_delivery(store, AuditStatus.FAILED)
    with store.engine.connect() as connection:
        waiting = not_stuck_yet(connection, ReplaySelection(), now)
        assert waiting is not None and (waiting.count, waiting.stuck_after_now) == (2, "5m")
        stuck_at = first + timedelta(hours=1)
        assert waiting.first_stuck_at == stuck_at
        assert waiting.line("AUDIT_STUCK_AFTER", "--stuck-after 5m") == (
            "not stuck yet: 2 pending entries, which are re-sent only once pending for longer than 1 h "
            f"(AUDIT_STUCK_AFTER): a replay picks the first of them up from {shown_instant(stuck_at)} "
            f"(pending since {_pending_since(first)}), or now with --stuck-after 5m if no process is still "
            "sending them"
        )
        # Not asked for, or stuck already under a shorter threshold: nothing is waiting.
        assert not_stuck_yet(connection, ReplaySelection(statuses=(AuditStatus.FAILED,)), now) is None
        assert not_stuck_yet(connection, ReplaySelection(stuck_after=timedelta(minutes=5)), now) is None


def test_dry_run_lists_and_neither_claims_nor_sends(store: AuditStore, collector: Collector) -> None:
    receipts = _send_failing(store, collector, 2)
    seen: list[str] = []
    report = replay(
        store, None, ReplaySelection(), dry_run=True, on_candidate=lambda c: seen.append(c.line())
    )
    assert report.summary() == "dry run: 2 entries would be re-sent, 0 skipped"
    assert [line.split()[0] for line in seen] == [r.message_id for r in receipts]
    assert seen[0].endswith(
        "New Project Event user 1 [failed: HTTP 500 injected_fault: Fault injected by the collector: "
        "500 Internal Server Error]"
    )
    assert [_entry(store, r.message_id).status for r in receipts] == ["failed", "failed"]
    assert collector.stats.requests == 0


def _timed_out() -> str:
    """The error the client records for a request that went out whole and got no answer."""
    request = requests.Request("POST", "http://127.0.0.1:5371/v1/batch").prepare()
    return describe_network_error(requests.ReadTimeout(request=request))


def _risky_log(store: AuditStore) -> dict[str, str]:
    """Entries a replay re-sends, by what Segment may do with their copies: a read timeout (may
    have arrived), the same two days ago, a refused HTTP 500 two days ago, a stuck pending one."""
    now = datetime.now(UTC)
    return {
        "timeout": record_delivery(store, AuditStatus.FAILED, error=_timed_out()),
        "old timeout": record_delivery(
            store, AuditStatus.FAILED, error=_timed_out(), recorded=now - timedelta(days=2)
        ),
        "old 500": record_delivery(
            store, AuditStatus.FAILED, http_status=500, error="oops", recorded=now - timedelta(days=2)
        ),
        "stuck": record_delivery(store, AuditStatus.PENDING, recorded=now - LATER),
    }


def test_a_replay_counts_what_may_already_be_in_segment_and_what_is_past_its_window(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    """Segment drops a second copy only within about 24 hours: a re-send of what may have arrived
    (no answer after the request went out, or stuck pending), and of what may have arrived longer ago,
    is said so; an old entry that cannot be there (a refused HTTP 500) is no risk."""
    ids = _risky_log(store)
    seen: dict[str, str] = {}
    dry = replay(
        store,
        None,
        ReplaySelection(),
        dry_run=True,
        on_candidate=lambda c: seen.update({c.message_id: c.line()}),
    )
    assert (dry.risk.maybe_arrived, dry.risk.past_window) == (3, 1)
    assert dry.risk_lines() == [
        "may already be in Segment: 3 of the 4 to re-send (the request went out and no answer came, or the "
        "entry was stuck pending)",
        "may have arrived over 24 h ago: 1 of the 4 to re-send (the request went out that long ago and no "
        "answer came, or the entry has been pending since): past Segment's de-duplication window of about "
        "24 hours, a copy of one that did arrive then is not dropped but counted twice",
    ]
    assert "[failed, may be in Segment" in seen[ids["timeout"]]
    assert "[pending, stuck, may be in Segment" in seen[ids["stuck"]]
    assert "may be in Segment" not in seen[ids["old 500"]]
    assert seen[ids["old 500"]].endswith("Cluster Provisioning Success user 1 [failed: HTTP 500 oops]")
    # Counted, not left out: what is selected by default is what it was.
    done = replay(store, replay_client, ReplaySelection())
    assert (done.delivered, done.risk.maybe_arrived, done.risk.past_window) == (4, 3, 1)
    assert done.risk_lines()[0].startswith("may already be in Segment: 3 of the 4 re-sent")
    assert replay(store, replay_client, ReplaySelection()).risk_lines() == []


def test_an_earlier_attempt_that_may_have_arrived_still_counts_after_a_refused_re_send(
    client: FlaskClient, app: Flask
) -> None:
    """A read timeout (the endpoint may have the message), then a re-send that got a 500: the risk
    was judged by the latest error only, so the widget, the entry page and replay said nothing, and
    the next replay's copy was a duplicate (counted twice past Segment's window)."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        message_id = record_delivery(store, AuditStatus.FAILED, error=_timed_out())
        store.record_outcome([message_id], AuditStatus.FAILED, http_status=500, error="oops", source="replay")
        dry = replay(store, None, ReplaySelection(), dry_run=True)
    assert dry.risk.maybe_arrived == 1
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "May already be in Segment: 1 of the 1 to re-send" in widget
    entry_page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "It may already be in Segment, since" in entry_page


def _long_outage_log(store: AuditStore) -> dict[str, str]:
    """Entries recorded 30 hours ago, by when a copy of theirs may have reached Segment: refused then
    and re-sent just now without an answer (by a cron replay, say); unanswered then and again now;
    refused then and claimed two hours ago by a replay that was killed; pending since then."""
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    ids = {
        "re-sent lately": record_delivery(
            store, AuditStatus.FAILED, http_status=500, error="oops", recorded=long_ago
        ),
        "unanswered then": record_delivery(store, AuditStatus.FAILED, error=_timed_out(), recorded=long_ago),
        "claimed lately": record_delivery(
            store, AuditStatus.FAILED, http_status=500, error="oops", recorded=long_ago
        ),
        "pending since": record_delivery(store, AuditStatus.PENDING, recorded=long_ago),
    }
    store.record_outcome(
        [ids["re-sent lately"], ids["unanswered then"]],
        AuditStatus.FAILED,
        error=_timed_out(),
        source="replay",
    )
    with store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.message_id == ids["claimed lately"])
            .values(status=AuditStatus.PENDING, status_changed_at=datetime.now(UTC) - LATER)
        )
    return ids


def test_the_window_runs_from_the_first_request_that_may_have_arrived_not_from_the_recording(
    store: AuditStore,
) -> None:
    """An entry refused during a long outage and re-sent lately without an answer may be in Segment
    since that re-send only, so Segment drops another copy: replay said "older than 24 h … counted
    twice" by its recorded time. One whose first unanswered request is 30 hours old may be counted
    twice, whatever came later: that first copy may be the only one Segment has."""
    ids = _long_outage_log(store)
    seen: dict[str, Candidate] = {}
    dry = replay(
        store, None, ReplaySelection(), dry_run=True, on_candidate=lambda c: seen.update({c.message_id: c})
    )
    judged = {
        name: (seen[message_id].maybe_arrived, seen[message_id].past_window)
        for name, message_id in ids.items()
    }
    assert judged == {
        "re-sent lately": (True, False),
        "unanswered then": (True, True),
        "claimed lately": (True, False),
        "pending since": (True, True),
    }
    assert (dry.risk.maybe_arrived, dry.risk.past_window) == (4, 2)
    assert dry.risk_lines()[1].startswith("may have arrived over 24 h ago: 2 of the 4 to re-send")
    with Session(store.engine) as session:
        outlook = click_outlook(session, ReplaySelection(), datetime.now(UTC), cap=500, cipher=store.cipher)
    assert outlook.risk == dry.risk


def test_an_old_entry_re_sent_lately_says_segment_drops_a_copy_within_a_day_of_that(
    client: FlaskClient, app: Flask
) -> None:
    """The entry page said "older than 24 h: … a re-sent copy would be counted twice" above a delivery
    history whose only request that may have arrived was minutes old."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = _long_outage_log(store)
        [lately] = [a.attempted_at for a in store.attempts(ids["re-sent lately"]) if a.source == "replay"]
    page = client.get(f"/audit/entries/{ids['re-sent lately']}").get_data(as_text=True)
    assert (
        f"It may already be in Segment, since {as_utc(lately):%Y-%m-%d %H:%M:%S} UTC: a re-sent copy is "
        "dropped by Segment only within about 24 hours of that." in page
    )
    old = client.get(f"/audit/entries/{ids['unanswered then']}").get_data(as_text=True)
    assert (
        "over 24 h ago: past Segment&#39;s de-duplication window, a re-sent copy would be counted twice"
        in old
    )
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "May have arrived over 24 h ago: 2 of the 4 to re-send" in widget


def _re_sent_and_refused(store: AuditStore, collector: Collector, now: datetime) -> ReplayReport:
    """A replay (as of `now`) whose re-sends the endpoint answers with an HTTP 500."""
    collector.inject(500, times=10_000)
    client = open_replay_client(store, "test-key", collector.url, actor="ops@test", **FAST)
    try:
        return replay(store, client, ReplaySelection(), now=now)
    finally:
        client.shutdown()
        collector.reset()


def _judged(store: AuditStore, message_id: str) -> tuple[bool, bool, bool]:
    """Whether the entry is listed under `outcome=may_have_arrived`, and what a dry run says of it:
    may be in Segment, past its window."""
    with Session(store.engine) as session:
        found = session.scalars(newest_first(parse_filters({"outcome": "may_have_arrived"}), limit=50))
        listed = message_id in {entry.message_id for entry in found}
    [candidate] = [c for c in _candidates(store) if c.message_id == message_id]
    return listed, candidate.maybe_arrived, candidate.past_window


def test_a_stuck_entry_re_sent_and_refused_still_may_have_arrived_since_it_went_pending(
    store: AuditStore, collector: Collector
) -> None:
    """A crash left the entry `pending` 30 hours ago, with no attempt: once a replay re-sent it and got
    an HTTP 500, nothing said its first batch may have gone out. It read `refused` ("never arrived"), and
    its next re-send carried no risk, where Segment may count it twice."""
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    crashed = record_delivery(store, AuditStatus.PENDING, recorded=long_ago)
    report = _re_sent_and_refused(store, collector, datetime.now(UTC))
    assert (report.outcomes["failed"], report.risk.past_window) == (1, 1)
    [trace, re_send] = store.attempts(crashed)
    assert (trace.outcome, trace.http_status, trace.source, as_utc(trace.attempted_at)) == (
        "pending",
        None,
        "application",
        long_ago,
    )
    assert trace.error == STUCK_PENDING_ERROR
    assert (re_send.outcome, re_send.http_status, re_send.source) == ("failed", 500, "replay")
    assert _judged(store, crashed) == (True, True, True)
    with Session(store.engine) as session:
        risk = click_outlook(session, ReplaySelection(), datetime.now(UTC), cap=500, cipher=None).risk
    assert (risk.maybe_arrived, risk.past_window) == (1, 1)
    # Run again: the entry is `failed` now, its claim records no second trace.
    _re_sent_and_refused(store, collector, datetime.now(UTC))
    assert [a.outcome for a in store.attempts(crashed)] == ["pending", "failed", "failed"]


def test_a_killed_replay_s_claim_does_not_move_the_window_of_a_stuck_entry(
    store: AuditStore, collector: Collector
) -> None:
    """A replay claimed the entry a crash left `pending` 30 hours ago and was killed: its claim moved
    `status_changed_at` to its own time, and the next replay said its copy was "all less than 24 h ago:
    … dropped", where the crashed process's batch may be 30 hours old."""
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    crashed = record_delivery(store, AuditStatus.PENDING, recorded=long_ago)
    assert _claim(store, [_entry(store, crashed).id], ReplaySelection(), datetime.now(UTC)) == {crashed}
    claimed_at = as_utc(_entry(store, crashed).status_changed_at)
    later = datetime.now(UTC) + LATER
    [candidate] = [c for c in _candidates_at(store, later) if c.message_id == crashed]
    assert (candidate.stuck, candidate.maybe_arrived, candidate.past_window) == (True, True, True)
    _re_sent_and_refused(store, collector, later)
    # The killed replay's claim is a pending period too: its batch may have gone out then.
    assert [(a.outcome, a.source, as_utc(a.attempted_at)) for a in store.attempts(crashed)][:2] == [
        ("pending", "application", long_ago),
        ("pending", "replay", claimed_at),
    ]
    assert _judged(store, crashed) == (True, True, True)


def test_the_entry_page_lists_the_stuck_period_and_its_risk_after_a_refused_re_send(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        long_ago = datetime.now(UTC) - timedelta(hours=30)
        crashed = record_delivery(store, AuditStatus.PENDING, recorded=long_ago)
        _re_sent_and_refused(store, collector, datetime.now(UTC))
    page = client.get(f"/audit/entries/{crashed}").get_data(as_text=True)
    assert '<span class="badge audit-status status-pending">pending</span>' in page
    assert "stuck pending: the process sending it stopped before recording an answer" in page
    assert "over 24 h ago: past Segment&#39;s de-duplication window" in page
    refused = client.get("/audit/?outcome=refused").get_data(as_text=True)
    assert f"/audit/entries/{crashed}" not in refused
    failed = client.get("/audit/?attempts=failed").get_data(as_text=True)
    assert f"/audit/entries/{crashed}" in failed  # by its re-send's 500, not by the stuck period


def test_a_long_error_is_listed_on_one_line_cut_to_its_first_100_characters(store: AuditStore) -> None:
    body = "upstream said:\n" + "x" * 300
    record_delivery(store, AuditStatus.FAILED, http_status=502, error=body)
    [candidate] = _candidates(store)
    assert candidate.last_error == f"HTTP 502 {body}"
    assert candidate.brief_error == f"HTTP 502 upstream said: {'x' * 75}…"
    assert candidate.line().endswith(f"[failed: {candidate.brief_error}]") and "\n" not in candidate.line()


def _candidates(store: AuditStore) -> list[Candidate]:
    """What a dry run lists, entry by entry."""
    return _candidates_at(store, datetime.now(UTC))


def _candidates_at(store: AuditStore, now: datetime) -> list[Candidate]:
    """What a dry run as of `now` lists, entry by entry."""
    found: list[Candidate] = []
    replay(store, None, ReplaySelection(), dry_run=True, now=now, on_candidate=found.append)
    return found


def test_the_selection_narrows_by_status_time_and_filters(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    [old] = _send_failing(store, collector)
    middle = datetime.now(UTC)
    [new] = _send_failing(store, collector, constant="ClusterProvisioningSuccess")
    client = AnalyticsClient(None, store=store)
    disabled = client.track(_spec("ProjectCreate"))
    client.shutdown()
    now = datetime.now(UTC)

    def chosen(selection: ReplaySelection) -> list[str]:
        with store.engine.connect() as connection:
            return list(
                connection.scalars(select_replayable(selection, now).with_only_columns(AuditEntry.message_id))
            )

    assert chosen(ReplaySelection()) == [old.message_id, new.message_id]
    assert chosen(ReplaySelection(since=middle)) == [new.message_id]
    assert chosen(ReplaySelection(until=middle)) == [old.message_id]
    assert chosen(ReplaySelection(filters=(AuditEntry.event == "New Project Event",))) == [old.message_id]
    assert chosen(ReplaySelection(statuses=(AuditStatus.DISABLED,))) == [disabled.message_id]
    assert chosen(ReplaySelection(statuses=(AuditStatus.DROPPED,))) == []


def test_only_entries_the_replay_s_client_can_reach_are_selected(store: AuditStore) -> None:
    """A tester send to another destination went with that destination's key: re-sending it
    through the replay's client would deliver it to the wrong place and call it delivered."""
    application = record_delivery(store, AuditStatus.FAILED)
    default = record_delivery(store, AuditStatus.FAILED, destination="default:0123456789ab")
    record_delivery(store, AuditStatus.FAILED, destination="staging:0123456789ab")
    record_delivery(store, AuditStatus.FAILED, destination="default:ffffffffffff")  # an earlier key
    with store.engine.connect() as connection:
        chosen = connection.scalars(
            select_replayable(
                ReplaySelection(destination="default:0123456789ab"), datetime.now(UTC)
            ).with_only_columns(AuditEntry.message_id)
        ).all()
    assert chosen == [application, default]


def test_a_limit_bounds_one_run_and_the_count_says_more(
    store: AuditStore, collector: Collector, replay_client: AnalyticsClient
) -> None:
    receipts = _send_failing(store, collector, 3)
    now = datetime.now(UTC)
    with store.engine.connect() as connection:
        assert connection.scalar(count_replayable(ReplaySelection(), now, cap=5)) == 3
        assert connection.scalar(count_replayable(ReplaySelection(), now, cap=1)) == 2  # "more than 1"
    first = replay(store, replay_client, ReplaySelection(), limit=2, chunk_size=1)
    assert (first.selected, first.delivered) == (2, 2)
    assert [m["messageId"] for m in collector.received()] == [r.message_id for r in receipts[:2]]
    rest = replay(store, replay_client, ReplaySelection(), limit=2)
    assert (rest.selected, rest.delivered) == (1, 1)


def test_a_claim_is_taken_once(store: AuditStore, collector: Collector) -> None:
    # Two replays racing for the same entries: the second claim finds them taken.
    receipts = _send_failing(store, collector, 2)
    now = datetime.now(UTC)
    ids = [_entry(store, r.message_id).id for r in receipts]
    assert _claim(store, ids, ReplaySelection(), now) == {r.message_id for r in receipts}
    assert _claim(store, ids, ReplaySelection(), now) == set()
    assert [_entry(store, r.message_id).status for r in receipts] == ["pending", "pending"]


def test_personal_data_is_restored_from_its_encrypted_copy(engine: Engine, collector: Collector) -> None:
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    [receipt] = _send_failing(store, collector, constant="Register")
    entry = _entry(store, receipt.message_id)
    assert entry.payload["traits"]["email"].startswith("masked:")
    assert entry.encrypted_personal_data is not None and "ada@" not in entry.encrypted_personal_data
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    try:
        assert replay(store, client, ReplaySelection()).delivered == 1
    finally:
        client.shutdown()
    [sent] = collector.received()
    assert sent == receipt.message and sent["traits"]["email"] == "ada@example.com"


UNREPLAYABLE_AT_INIT = "AUDIT_ENCRYPTION_KEY is not set: personal data ("


@pytest.mark.parametrize(
    ("app_env", "encryption_key", "warned"),
    [
        ("production", None, True),
        (None, None, True),
        ("production", "set", False),
        ("development", None, False),
    ],
)
def test_init_warns_when_replay_could_not_resend_messages_with_personal_data(
    sqlite_store: AuditStore,
    sqlite_url: str,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    app_env: str | None,
    encryption_key: str | None,
    warned: bool,
) -> None:
    """Every log line of a message left behind said "pending … for event-catalog replay", which
    refuses messages with personal data stored masked only: without the key they were lost for good,
    and nothing said so at the start. Development is told nothing, as of the public audit keys."""
    for name, value in AUDIT_KEYS.items():
        monkeypatch.setenv(name, value)
    if app_env is None:
        monkeypatch.delenv("APP_ENV")
    else:
        monkeypatch.setenv("APP_ENV", app_env)
    if encryption_key is not None:
        monkeypatch.setenv("AUDIT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    with caplog.at_level(logging.WARNING, logger="analytics"):
        analytics.init("test-key", host=collector.url, database_url=sqlite_url)
        analytics.shutdown()
    told = [message for message in caplog.messages if message.startswith(UNREPLAYABLE_AT_INIT)]
    assert len(told) == int(warned)
    if warned:
        assert "(email, first_name, last_name) is stored masked only" in told[0]
        assert "cannot be re-sent by `event-catalog replay`" in told[0]


def test_a_rotated_key_still_opens_what_the_old_one_sealed(engine: Engine, collector: Collector) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    [receipt] = _send_failing(AuditStore(engine, encryption_key=old), collector, constant="New User")
    store = AuditStore(engine, encryption_key=f"{new},{old}")
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    try:
        assert replay(store, client, ReplaySelection()).delivered == 1
    finally:
        client.shutdown()
    assert collector.received()[0]["properties"]["email"] == receipt.message["properties"]["email"]


def test_an_entry_erased_between_the_replay_s_read_and_its_claim_is_skipped_as_erased_not_sent(
    engine: Engine, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay restores a chunk's messages before it claims them: an erasure committed in between
    was recorded as done, and the replay then claimed the entry and sent its real values anyway."""
    store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
    [sealed] = _send_failing(store, collector, constant="Register")
    [plain] = _send_failing(store, collector)
    user_id = str(_entry(store, sealed.message_id).user_id)
    claim = replay_module._claim
    erasures: list[ErasureReport] = []

    def erase_then_claim(*args: Any, **kwargs: Any) -> set[str]:
        # An admin's `audit erase` commits after the replay read the chunk, before it claims it.
        erasures.append(erase(store, user_id, actor="cli:dpo"))
        return claim(*args, **kwargs)

    monkeypatch.setattr(replay_module, "_claim", erase_then_claim)
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    seen: list[Candidate] = []
    try:
        report = replay(store, client, ReplaySelection(), on_candidate=seen.append)
    finally:
        client.shutdown()
    assert erasures[0].entries == 1
    assert [message["messageId"] for message in collector.received()] == [plain.message_id]
    assert report.summary() == "re-sent 1 entry: 1 delivered; 1 skipped"
    assert _entry(store, sealed.message_id).status == "failed"  # never claimed
    # Skipped as a replay run after the erasure lists it, in the command's lines and the widget's counts.
    listed: list[Candidate] = []
    replay(store, None, ReplaySelection(), dry_run=True, on_candidate=listed.append)
    reasons = {candidate.message_id: candidate.skip_reason for candidate in seen}
    [after] = listed
    assert after.skip_reason is not None and after.skip_reason.startswith("its personal data was erased")
    assert reasons == {sealed.message_id: after.skip_reason, plain.message_id: None}


def test_a_claim_waits_for_an_erasure_holding_the_entry_and_leaves_what_it_erased(
    postgres_engine: Engine, patient_engine: Engine, collector: Collector
) -> None:
    """On PostgreSQL a replay reads the entry as sealed while an erasure's batch, uncommitted, has
    cleared it; its claim waits for the batch's row lock and, judged again once the erasure
    committed, must not claim the entry and send the values just erased."""
    engine = postgres_engine
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    [receipt] = _send_failing(store, collector, constant="Register")
    user_id = str(_entry(store, receipt.message_id).user_id)
    batch_written, commit = threading.Event(), threading.Event()
    replay_store = AuditStore(patient_engine, encryption_key=key)

    def hold_the_batch(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO audit_erasures"):
            batch_written.set()
            commit.wait(timeout=60)

    erasures: list[ErasureReport] = []
    event.listen(engine, "after_cursor_execute", hold_the_batch)
    try:
        eraser = threading.Thread(target=lambda: erasures.append(erase(store, user_id, actor="cli:dpo")))
        eraser.start()
        assert batch_written.wait(timeout=60)
        client = open_replay_client(
            replay_store, "test-key", collector.url, actor="ops", upload_interval=0.05
        )
        seen: list[Candidate] = []
        replayer = threading.Thread(
            target=lambda: replay(replay_store, client, ReplaySelection(), on_candidate=seen.append)
        )
        replayer.start()
        _wait_for(lambda: someone_waits_for_a_lock(engine), "the replay's claim to wait")
        commit.set()
        eraser.join(timeout=60)
        replayer.join(timeout=60)
        client.shutdown()
    finally:
        commit.set()
        event.remove(engine, "after_cursor_execute", hold_the_batch)
    assert erasures[0].entries == 1
    assert collector.received() == []
    [candidate] = seen
    assert candidate.skip_reason is not None and candidate.skip_reason.startswith(
        "its personal data was erased"
    )


@pytest.mark.parametrize(
    ("write_key", "replay_key", "reason"),
    [
        (None, None, "personal data (email) was stored masked only, without AUDIT_ENCRYPTION_KEY"),
        ("sealed", None, "its personal data is encrypted and AUDIT_ENCRYPTION_KEY is not set"),
        ("sealed", "other", "its personal data cannot be decrypted: none of the AUDIT_ENCRYPTION_KEY keys"),
    ],
)
def test_a_mask_is_never_sent_as_the_value(
    store: AuditStore, collector: Collector, write_key: str | None, replay_key: str | None, reason: str
) -> None:
    keys = {"sealed": Fernet.generate_key().decode(), "other": Fernet.generate_key().decode()}
    engine = store.engine
    writer = AuditStore(engine, encryption_key=keys.get(write_key or ""))
    [receipt] = _send_failing(writer, collector, constant="Register")
    store = AuditStore(engine, encryption_key=keys.get(replay_key or ""))
    # What the dashboard counts before offering a re-send: all but a seal that only fails to open.
    with Session(engine) as session:
        blocked = blocked_reasons(session, ReplaySelection(), datetime.now(UTC), cap=10, cipher=store.cipher)
    assert sum(blocked.values()) == (0 if replay_key else 1)
    assert all(key.startswith(reason) for key in blocked)
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    skipped: list[str] = []
    try:
        report = replay(
            store, client, ReplaySelection(), on_candidate=lambda c: skipped.append(c.skip_reason or "")
        )
    finally:
        client.shutdown()
    assert (report.selected, report.skipped, report.ok) == (1, 1, False)
    assert skipped[0].startswith(reason)
    assert collector.stats.requests == 0
    assert _entry(store, receipt.message_id).status == "failed"


OVERSIZED = "the message is over Segment's 32 KB per message, which the Segment client refuses"


def _drop_oversized(store: AuditStore, collector: Collector, kind: str = "track") -> Any:
    """Send a message with a 40,000-character property through the real client: the Segment client
    refuses it (over 32 KB) and the entry ends `dropped`. An identify's is personal data."""
    client = AnalyticsClient("test-key", store=store, host=collector.url, **FAST)
    if kind == "track":
        receipt = client.track(_spec("QuotaIncreaseRequested").model_copy(update={"region": "x" * 40_000}))
    else:
        spec = CATALOG.identifier("Profile update").example_spec()
        receipt = client.identify(spec.model_copy(update={"first_name": "x" * 40_000}))
    client.shutdown()
    assert _entry(store, receipt.message_id).status == "dropped"
    return receipt


@pytest.mark.parametrize("kind", ["track", "identify, personal data sealed"])
def test_a_message_over_32_kb_is_skipped_with_the_reason_not_dropped_again(
    engine: Engine, collector: Collector, kind: str
) -> None:
    """The count judged a sealed entry by its masks and counted it to re-send, while the list on the
    same page skipped it, and the button kept offering it after every click."""
    store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
    receipt = _drop_oversized(store, collector, kind.split(",")[0])
    with Session(engine) as session:
        blocked = blocked_reasons(session, ReplaySelection(), datetime.now(UTC), cap=10, cipher=store.cipher)
    assert blocked == Counter({OVERSIZED: 1})
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    candidates: list[Any] = []
    try:
        for _ in range(2):
            report = replay(store, client, ReplaySelection(), on_candidate=candidates.append)
            assert (report.selected, report.skipped, dict(report.outcomes)) == (1, 1, {})
            # It re-sent nothing: no *Messages Re-sent* action, run after run.
            assert record_replay(store, report, actor="ops", selection="", destination=None) is None
    finally:
        client.shutdown()
    assert [c.skip_reason for c in candidates] == [OVERSIZED, OVERSIZED]
    assert collector.stats.requests == 0
    assert [a.source for a in store.attempts(receipt.message_id)] == ["application"]


def test_the_dashboard_never_offers_a_sealed_message_over_32_kb(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector
) -> None:
    """The page headed "13 entries to re-send", listed 3 as skipped, and after the click offered
    "Re-send 3 entries not delivered": the 3 sealed identify calls over 32 KB."""
    from webapp.extensions import analytics_client

    sealed = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    client = login_as(Role.ADMIN, on=sealed)
    with sealed.app_context():
        store = analytics_client.store()
        oversized = _drop_oversized(store, collector, "identify")
        (sendable,) = _send_failing(store, collector, 1)
    reason = str(escape(OVERSIZED))
    htmx = {"HX-Request": "true"}
    widget = client.get("/audit/replay/", headers=htmx).get_data(as_text=True)
    assert "Re-send 1 entry not delivered" in widget and f"1 entry cannot be re-sent: {reason}." in widget
    page = client.get("/audit/replay/").get_data(as_text=True)
    assert "1 entry to re-send</h2>" in page
    # The rows a click re-sends come first (the skipped one is older); the reason is said once for
    # its group, and each id is cut to 8 characters, the whole one in the link's title.
    rows = re.findall(
        r'title="([0-9a-f-]{36})"><code>([0-9a-f-]{8})…</code>|(Skipped \(1\): [^<]*)</th>', page
    )
    assert rows == [
        (sendable.message_id, sendable.message_id[:8], ""),
        ("", "", f"Skipped (1): {reason}"),
        (oversized.message_id, oversized.message_id[:8], ""),
    ]
    assert f"<code>{sendable.message_id}</code>" not in page
    token = _csrf(client, "/audit/replay/")
    clicked = _click(client, "/audit/replay/", token)
    answer = client.post("/audit/replay/", data=clicked, headers=htmx).get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered; 1 skipped." in answer
    assert "<button" not in answer and f"1 entry cannot be re-sent: {reason}." in answer


def test_replay_refuses_to_start_without_a_write_key(store: AuditStore) -> None:
    with pytest.raises(ReplayError, match="no Segment write key"):
        open_replay_client(store, None, None, actor="ops")
    with pytest.raises(ReplayError, match="no Segment write key"):
        replay(store, AnalyticsClient(None, store=store), ReplaySelection())


def test_statuses_are_checked() -> None:
    assert parse_statuses("failed, dropped,failed") == (AuditStatus.FAILED, AuditStatus.DROPPED)
    choices = "one of failed, pending, dropped, disabled"
    with pytest.raises(ValueError, match=f"^'delivered' entries are not re-sent: {choices}$"):
        parse_statuses("delivered")
    with pytest.raises(ValueError, match=f"^unknown status 'nope': {choices}$"):
        parse_statuses("failed,nope")
    with pytest.raises(ValueError, match=f"^no status in ' , ': {choices}$"):
        parse_statuses(" , ")


def _fail_in_app(app: Flask, collector: Collector, count: int) -> list[Any]:
    from webapp.extensions import analytics_client

    with app.app_context():
        return _send_failing(analytics_client.store(), collector, count)


def _replay_actions(app: Flask) -> list[tuple[str | None, dict[str, Any]]]:
    """Each replay run the log recorded as an action: its actor and details, oldest first."""
    from webapp.extensions import db

    with app.app_context():
        rows = db.session.execute(
            select(AuditEntry.actor, AuditEntry.payload)
            .where(AuditEntry.type == "action", AuditEntry.event == REPLAY_ACTION)
            .order_by(AuditEntry.id)
        ).all()
    return [(actor, payload["properties"]) for actor, payload in rows]


def test_replay_command_resends_and_summarises(
    runner: FlaskCliRunner, app: Flask, collector: Collector
) -> None:
    receipts = _fail_in_app(app, collector, 2)
    dry = runner.invoke(args=["replay", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [r.message_id for r in receipts]
    assert lines[-1] == "dry run: 2 entries would be re-sent, 0 skipped"  # no risk: no risk lines
    assert _replay_actions(app) == []
    # A status in capitals, read by replay in any case, was refused by the search's own parse of it.
    assert runner.invoke(args=["replay", "--dry-run", "--status", "FAILED"]).output == dry.output
    result = runner.invoke(args=["replay", "--status", "failed", "--since", "1h"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["re-sent 2 entries: 2 delivered"]
    assert {m["messageId"] for m in collector.received()} == {r.message_id for r in receipts}
    assert runner.invoke(args=["replay"]).output == "nothing to replay\n"
    # The run that re-sent is one action in the log; the dry run and the empty one changed nothing.
    [(actor, details)] = _replay_actions(app)
    assert actor is not None and actor.startswith("cli:")
    assert details == {
        "selection": "--status failed --since 1h",
        "destination": f"default:{key_fingerprint('test-key')}",
        "selected": 2,
        "skipped": 0,
        "delivered": 2,
        "may_be_in_segment": 0,
        "may_be_in_segment_over_24h": 0,
    }


def test_replay_command_says_what_it_left_to_the_tester(
    runner: FlaskCliRunner, sqlite_store: AuditStore
) -> None:
    record_delivery(sqlite_store, AuditStatus.FAILED, destination="broken:0123456789ab")
    result = runner.invoke(args=["replay", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "dry run: 0 entries would be re-sent, 0 skipped",
        "left alone: 1 sent by the tester to other destinations, with keys a replay does not have "
        "(use Edit and send on their entries)",
    ]


def test_replay_command_says_when_pending_entries_not_stuck_yet_can_be_re_sent(
    runner: FlaskCliRunner, sqlite_store: AuditStore
) -> None:
    recorded = datetime.now(UTC) - timedelta(minutes=40)
    record_delivery(sqlite_store, AuditStatus.PENDING, recorded=recorded)
    stuck_at = shown_instant(recorded + timedelta(hours=1))
    result = runner.invoke(args=["replay", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "dry run: 0 entries would be re-sent, 0 skipped",
        "not stuck yet: 1 pending entry, which is re-sent only once pending for longer than 1 h "
        f"(AUDIT_STUCK_AFTER): a replay picks it up from {stuck_at} "
        f"(pending since {_pending_since(recorded)}), or now with --stuck-after 40m if no process is still "
        "sending them",
    ]
    longer = runner.invoke(args=["replay", "--stuck-after", "2h"])
    assert longer.output.splitlines()[-1].startswith(
        "not stuck yet: 1 pending entry, which is re-sent only once pending for longer than 2 h "
        "(--stuck-after): a replay picks it up from"
    )
    assert runner.invoke(args=["replay", "--stuck-after", "40m"]).output == (
        "re-sent 1 entry: 1 delivered\n"
        "may already be in Segment: 1 of the 1 re-sent (the request went out and no answer came, or the "
        "entry was stuck pending), all less than 24 h ago: within Segment's de-duplication window, a copy "
        "of one that did arrive is dropped\n"
    )


def test_replay_command_exits_1_listing_what_is_still_not_delivered(
    runner: FlaskCliRunner, app: Flask, collector: Collector
) -> None:
    [receipt] = _fail_in_app(app, collector, 1)
    collector.inject(400, times=1)  # final: not retried
    result = runner.invoke(args=["replay"])
    assert result.exit_code == 1
    first, summary = result.output.splitlines()  # no risk line: nothing re-sent may be in Segment
    assert first.startswith(receipt.message_id)
    assert first.endswith(
        "New Project Event user 1 [failed] now failed: HTTP 400 injected_fault: Fault injected by the "
        "collector: 400 Bad Request"
    )
    assert summary == "re-sent 1 entry: 0 delivered, 1 failed"


def _outage_in_app(app: Flask) -> dict[str, list[str]]:
    """`record_outage` in the app's log, and a stuck `pending` entry, which has no outcome class."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = record_outage(store)
        ids["stuck"] = [record_delivery(store, AuditStatus.PENDING, recorded=datetime.now(UTC) - LATER)]
    return ids


def _listed(output: str) -> set[str]:
    """The message ids a replay's output lists, one per entry line."""
    return {line.split()[0] for line in output.splitlines() if not line.startswith(("dry run:", "may "))}


def test_replay_command_resends_only_what_never_arrived_with_outcome_refused(
    make_app: Callable[..., Flask], database_url: str, collector: Collector
) -> None:
    """The widget's `outcome=refused`, from cron: the one selection Segment cannot count twice."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    runner = app.test_cli_runner()
    ids = _outage_in_app(app)
    arrived = runner.invoke(args=["replay", "--dry-run", "--outcome", "may_have_arrived"])
    assert arrived.exit_code == 0, arrived.output
    assert _listed(arrived.output) == set(ids["may_have_arrived"])
    assert arrived.output.splitlines()[-2:] == [
        "dry run: 2 entries would be re-sent, 0 skipped",
        "may already be in Segment: 2 of the 2 to re-send (the request went out and no answer came, or the "
        "entry was stuck pending), all less than 24 h ago: within Segment's de-duplication window, a copy "
        "of one that did arrive is dropped",
    ]
    dry = runner.invoke(args=["replay", "--dry-run", "--outcome", "refused"])
    assert dry.exit_code == 0, dry.output
    assert _listed(dry.output) == set(ids["refused"])
    assert dry.output.splitlines()[-1] == "dry run: 3 entries would be re-sent, 0 skipped"  # no risk line
    result = runner.invoke(args=["replay", "--outcome", "refused"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["re-sent 3 entries: 3 delivered"]
    assert {message["messageId"] for message in collector.received()} == set(ids["refused"])
    [(_, details)] = _replay_actions(app)
    # What was typed: the default `--status` would read as if pending entries were asked for.
    assert details["selection"] == "--outcome refused"
    refused = runner.invoke(args=["replay", "--status", "pending", "--outcome", "refused"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert refused.output.startswith("error: --outcome: narrows failed and dropped entries only: 'pending'")


def test_the_replay_action_records_the_duplicate_risk_the_command_printed(
    make_app: Callable[..., Flask], database_url: str, collector: Collector
) -> None:
    """A reviewer read only `selected/delivered/failed/skipped`: not how many copies Segment may count
    twice, which nothing else keeps once the re-sent entries read `delivered`."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    _outage_in_app(app)  # 3 refused, 2 may have arrived, 1 stuck pending
    from webapp.extensions import analytics_client

    with app.app_context():
        record_delivery(
            analytics_client.store(),
            AuditStatus.FAILED,
            recorded=datetime.now(UTC) - timedelta(hours=30),
            error=network_error(requests.ReadTimeout),
        )
    result = app.test_cli_runner().invoke(args=["replay"])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()[-2:]] == [
        "may already be in Segment",
        "may have arrived over 24 h ago",
    ]
    assert "may already be in Segment: 4 of the 7 re-sent" in result.output  # 2 + the stuck + the old
    assert "may have arrived over 24 h ago: 1 of the 7 re-sent" in result.output
    [(_, details)] = _replay_actions(app)
    assert (
        details["selected"],
        details["may_be_in_segment"],
        details["may_be_in_segment_over_24h"],
    ) == (7, 4, 1)


def test_the_widget_and_the_command_select_the_same_entries_by_outcome(
    client: FlaskClient, runner: FlaskCliRunner, app: Flask
) -> None:
    ids = _outage_in_app(app)
    for outcome in ("refused", "may_have_arrived"):
        widget = client.get(f"/audit/replay/?outcome={outcome}", headers={"HX-Request": "true"})
        assert f"Re-send {len(ids[outcome])} entries not delivered" in widget.get_data(as_text=True)
        dry = runner.invoke(args=["replay", "--dry-run", "--outcome", outcome])
        assert _listed(dry.output) == set(ids[outcome])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--status", "delivered"],
            "error: --status: 'delivered' entries are not re-sent: one of failed, pending, dropped, disabled",
        ),
        (
            ["--since", "yesterday"],
            "error: --since: 'yesterday' is not a time: use ISO 8601 like 2026-03-01T14:00",
        ),
        (
            ["--since", "2026-12-05", "--until", "2026-12-01"],
            "error: --until: must be after the start of the range",
        ),
        (["--stuck-after", "soon"], "error: --stuck-after: 'soon' is not a duration"),
        # Given empty, they were taken as not given: the default window or threshold, exit 0.
        (["--since", ""], "error: --since: empty: give a value, or leave the option out"),
        (["--until", " "], "error: --until: empty: give a value, or leave the option out"),
        (["--stuck-after", ""], "error: --stuck-after: '' is not a duration"),
    ],
)
def test_replay_command_refuses_bad_options_in_one_line(
    runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["replay", *args])
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1


def test_replay_command_without_a_write_key_says_so(runner: FlaskCliRunner, app: Flask) -> None:
    app.config["SEGMENT_WRITE_KEY"] = None
    result = runner.invoke(args=["replay"])
    assert result.exit_code == 2
    assert (
        result.output
        == "error: no Segment write key configured (SEGMENT_WRITE_KEY): nothing can be re-sent\n"
    )


def test_configuration_reads_the_stuck_threshold_and_checks_the_encryption_key() -> None:
    from webapp.config import from_environment

    key = Fernet.generate_key().decode()
    settings = from_environment({"AUDIT_STUCK_AFTER": "15m", "AUDIT_ENCRYPTION_KEY": key})
    assert settings["AUDIT_STUCK_AFTER"] == timedelta(minutes=15)
    assert settings["AUDIT_ENCRYPTION_KEY"] == key
    with pytest.raises(ValueError, match=r"^AUDIT_STUCK_AFTER: 'soon' is not a duration"):
        from_environment({"AUDIT_STUCK_AFTER": "soon"})
    with pytest.raises(ValueError, match=r"^AUDIT_ENCRYPTION_KEY: not Fernet keys"):
        from_environment({"AUDIT_ENCRYPTION_KEY": "not-a-key"})


# --- the dashboard: the re-send widget, its confirmation page, the entry's button ------------------


def _csrf(client: FlaskClient, url: str) -> str:
    # Every page's <body hx-headers> carries the token, forms or not.
    match = re.search(r'"X-CSRFToken": "([^"]+)"', client.get(url).get_data(as_text=True))
    assert match is not None
    return match.group(1)


def _offer(client: FlaskClient, url: str) -> str:
    """The token of what the view's widget offers, which a click's form carries (`routes.Offer`)."""
    widget = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    match = re.search(r'<input type="hidden" name="offer" value="([0-9a-f]+)">', widget)
    assert match is not None, widget
    return match.group(1)


def _click(client: FlaskClient, url: str, token: str) -> dict[str, str]:
    """The form a click on the view's re-send button posts."""
    return {"csrf_token": token, "offer": _offer(client, url)}


def test_the_widget_counts_what_the_view_would_resend(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    _fail_in_app(app, collector, 2)
    response = client.get("/audit/replay/?status=failed", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="audit-replay"') and "<html" not in html
    assert "Re-send 2 entries not delivered" in html
    assert "replay-risk" not in html  # refused (HTTP 500) and recent: nothing Segment may count twice
    other_event = client.get(
        "/audit/replay/?event=Cluster+Provisioning+Success", headers={"HX-Request": "true"}
    )
    assert "Nothing in this view needs re-sending." in other_event.get_data(as_text=True)
    delivered_only = client.get("/audit/replay/?status=delivered", headers={"HX-Request": "true"})
    assert "Nothing in this view needs re-sending." in delivered_only.get_data(as_text=True)


def test_the_widget_and_the_page_say_when_pending_entries_not_stuck_yet_can_be_re_sent(
    client: FlaskClient, app: Flask
) -> None:
    """Entries a crashed process left `pending` read as "nothing needs re-sending" for an hour."""
    from webapp.extensions import analytics_client

    recorded = datetime.now(UTC) - timedelta(minutes=40)
    with app.app_context():
        record_delivery(analytics_client.store(), AuditStatus.PENDING, recorded=recorded)
    waiting = (
        "Not stuck yet: 1 pending entry, which is re-sent only once pending for longer than 1 h "
        f"(AUDIT_STUCK_AFTER): a replay picks it up from {shown_instant(recorded + timedelta(hours=1))} "
        f"(pending since {_pending_since(recorded)}), or now with event-catalog replay --stuck-after 40m if "
        "no process is still sending them."
    )
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Nothing in this view can be re-sent yet." in widget and waiting in widget
    assert "needs re-sending" not in widget and "<button" not in widget
    page = client.get("/audit/replay/").get_data(as_text=True)
    assert "Nothing to re-send yet</h2>" in page and waiting in page
    failed_only = client.get("/audit/replay/?status=failed", headers={"HX-Request": "true"})
    assert "Nothing in this view needs re-sending." in failed_only.get_data(as_text=True)


def test_the_line_says_when_pending_entries_went_pending_on_another_day() -> None:
    """ "From 00:30 UTC" alone read as the time they went pending, an hour earlier, the day before."""
    went_pending = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    waiting = NotStuckYet(3, went_pending, went_pending, timedelta(hours=1), went_pending + LATER)
    assert waiting.line("AUDIT_STUCK_AFTER", "--stuck-after 2h").startswith(
        "not stuck yet: 3 pending entries, which are re-sent only once pending for longer than 1 h "
        "(AUDIT_STUCK_AFTER): a replay picks the first of them up from 2026-12-08 00:30:00 UTC "
        "(pending since 2026-12-07 23:30:00 UTC), or now"
    )


def _suggested(client: FlaskClient, view: str) -> tuple[str, str]:
    """The command the widget of this view suggests for its pending entries, and what follows it."""
    widget = client.get(f"/audit/replay/?{view}", headers={"HX-Request": "true"}).get_data(as_text=True)
    found = re.search(
        r"or now with (event-catalog replay [^<]*?) if no process is still sending them\.([^<]*)", widget
    )
    assert found is not None, widget
    return unescape(found[1]), unescape(found[2]).strip()


def _dry_run(runner: FlaskCliRunner, command: str) -> list[str]:
    """The lines a dry run of a suggested command lists (its entries), without the summary."""
    words = command.split()
    assert words[:2] == ["event-catalog", "replay"]
    result = runner.invoke(args=[*words[1:], "--dry-run"])
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if " [" in line]


def test_the_widget_suggests_a_command_with_what_it_can_say_of_the_view(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    """Under a view of one user the widget suggested `event-catalog replay --stuck-after 40m`, which
    re-sends every failed, dropped and stuck entry of the log: it now carries the view's time range,
    statuses and outcome, and says which of the view's filters the command cannot narrow by."""
    from webapp.extensions import analytics_client

    now = datetime.now(UTC)
    with app.app_context():
        store = analytics_client.store()
        waiting = record_delivery(store, AuditStatus.PENDING, recorded=now - timedelta(minutes=40))
        old_failure = record_delivery(store, AuditStatus.FAILED, recorded=now - timedelta(days=3))

    command, caveat = _suggested(client, "range=24h&status=pending")
    assert (command, caveat) == ("event-catalog replay --status pending --since 24h --stuck-after 40m", "")
    assert [line[:36] for line in _dry_run(runner, command)] == [waiting]

    command, caveat = _suggested(client, "range=24h&until=10m")
    assert (command, caveat) == ("event-catalog replay --since 24h --until 10m --stuck-after 40m", "")
    assert [line[:36] for line in _dry_run(runner, command)] == [waiting]

    command, caveat = _suggested(client, "range=7d&since=2h")
    assert re.fullmatch(r"event-catalog replay --since \S+Z --stuck-after 40m", command), command
    assert [line[:36] for line in _dry_run(runner, command)] == [waiting]

    command, caveat = _suggested(client, "user_id=1&event=Cluster+Provisioning+Success")
    assert command == "event-catalog replay --stuck-after 40m"
    assert caveat == (
        "The command cannot narrow by event or user_id as this view does: it re-sends every entry of the "
        "log its options select, not only this view's, pending ones a live process may still be sending "
        "included."
    )
    assert sorted(line[:36] for line in _dry_run(runner, command)) == sorted([waiting, old_failure])


def test_the_widget_and_the_page_say_what_segment_may_count_twice(client: FlaskClient, app: Flask) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        _risky_log(analytics_client.store())
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "within about 24 hours of it only" in widget
    assert (
        "May already be in Segment: 3 of the 4 to re-send (the request went out and no answer came, or "
        "the entry was stuck pending)." in widget
    )
    assert "May have arrived over 24 h ago: 1 of the 4 to re-send" in widget
    page = client.get("/audit/replay/").get_data(as_text=True)
    assert "de-duplication window of about 24 hours" in page
    assert page.count("may be in Segment</span>") == 3


def _timed_out_masked(store: AuditStore) -> str:
    """An identify call that got no answer (it may be in Segment) and whose email is stored masked only,
    without AUDIT_ENCRYPTION_KEY: a re-send skips it. Its messageId."""
    message = build_message(_spec("Register"))
    store.record(message, status=AuditStatus.PENDING, source="application", personal_data_keys=["email"])
    store.record_outcome([message["messageId"]], AuditStatus.FAILED, error=_timed_out())
    return str(message["messageId"])


def test_the_risk_lines_count_only_what_the_click_re_sends_as_the_command_does(
    client: FlaskClient, app: Flask
) -> None:
    """Under "Re-send 4 entries" the widget said "May already be in Segment: 6 of the 15 not delivered":
    it counted the entries the click skips, which can never become a second copy, where the command
    said "4 of the 4 to re-send"."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        for _ in range(2):
            record_delivery(store, AuditStatus.FAILED, error=_timed_out())
            _timed_out_masked(store)
        record_delivery(store, AuditStatus.FAILED, http_status=500, error="oops")
        [said] = replay(store, None, ReplaySelection(), dry_run=True).risk_lines()
    assert said.startswith("may already be in Segment: 2 of the 3 to re-send (")
    line = f'<p class="muted replay-risk">{escape(sentence(said))}.</p>'
    risk_lines = r'<p class="muted replay-risk">.*?</p>'
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Re-send 3 entries not delivered" in widget and "2 entries cannot be re-sent" in widget
    assert re.findall(risk_lines, widget) == [line]
    page = client.get("/audit/replay/").get_data(as_text=True)
    assert "3 entries to re-send</h2>" in page and re.findall(risk_lines, page) == [line]


def test_the_page_names_only_the_risks_there_are_and_says_so_when_there_are_none(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    """A count of zero is not a risk: the page said "older than 24 h: 0 of the 2 not delivered" with
    the warning that such copies are counted twice."""
    from webapp.extensions import analytics_client

    _fail_in_app(app, collector, 2)  # refused (HTTP 500) and recent
    page = client.get("/audit/replay/").get_data(as_text=True)
    assert "None of them may be counted twice: none may already be in Segment." in page
    assert 'replay-risk"' not in page and "0 of the 2" not in page
    with app.app_context():
        record_delivery(
            analytics_client.store(),
            AuditStatus.FAILED,
            http_status=500,
            error="oops",
            recorded=datetime.now(UTC) - timedelta(days=2),
        )
    page = client.get("/audit/replay/").get_data(as_text=True)
    # Refused two days ago: never in Segment, so its re-send is the first copy, however old.
    assert "None of them may be counted twice: none may already be in Segment." in page
    assert 'replay-risk"' not in page


def test_replay_command_prints_only_the_risks_there_are(
    runner: FlaskCliRunner, app: Flask, sqlite_store: AuditStore
) -> None:
    record_delivery(sqlite_store, AuditStatus.FAILED, error=_timed_out())
    record_delivery(
        sqlite_store, AuditStatus.FAILED, http_status=500, error="oops", recorded=datetime.now(UTC) - LATER
    )
    result = runner.invoke(args=["replay", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == [
        "dry run: 2 entries would be re-sent, 0 skipped",
        "may already be in Segment: 1 of the 2 to re-send (the request went out and no answer came, or the "
        "entry was stuck pending), all less than 24 h ago: within Segment's de-duplication window, a copy "
        "of one that did arrive is dropped",
    ]


@pytest.mark.parametrize("searched", ["value", "mask"])
def test_a_resend_narrowed_by_a_personal_value_records_it_masked(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], collector: Collector, searched: str
) -> None:
    """The re-send's action is read by every role: it recorded the email typed into the search (and a
    mask typed into it was masked again, a search that found nothing)."""
    from webapp.extensions import analytics_client

    sealed = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    client = login_as(Role.ADMIN, on=sealed)
    with sealed.app_context():
        store = analytics_client.store()
        [receipt] = _send_failing(store, collector, 1, "UserCreate")
        masked = mask_value("ada@example.com", store.mask_key)
    typed = masked if searched == "mask" else "ada@example.com"
    url = "/audit/replay/?" + urlencode({"status": "failed", "prop": f"email = {typed}"})
    response = client.post(url, data=_click(client, url, _csrf(client, url)))
    assert response.status_code == 303
    [(_, details)] = _replay_actions(sealed)
    assert details["delivered"] == 1 and "ada@example.com" not in details["selection"]
    assert details["selection"] == f"status=failed&prop=email = {masked}"
    # The recorded property search still finds what it re-sent (delivered now, so no longer failed).
    found = client.get("/audit/", query_string={"prop": f"email = {masked}"})
    assert receipt.message_id in found.get_data(as_text=True)


def test_the_confirmation_page_previews_and_resends_as_the_clicker(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    receipts = _fail_in_app(app, collector, 2)
    page = client.get("/audit/replay/?status=failed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>Re-send undelivered entries · Audit log · event-catalog</title>" in html
    assert '<a href="/audit/" aria-current="page">Audit log</a>' in html
    assert "2 entries to re-send" in html and all(r.message_id in html for r in receipts)
    # Who was affected and why, on each row.
    assert html.count('<td data-label="User">1</td>') == 2
    assert (
        html.count(
            '<td data-label="Last error" class="replay-error">HTTP 500 injected_fault: Fault injected by the '
            "collector: 500 Internal Server Error</td>"
        )
        == 2
    )
    token = _csrf(client, "/audit/replay/?status=failed")
    response = client.post(
        "/audit/replay/?status=failed", data=_click(client, "/audit/replay/?status=failed", token)
    )
    assert response.status_code == 303 and response.headers["Location"] == "/audit/replay/?status=failed"
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert after.count("Re-sent 2 entries: 2 delivered") == 1 and "Nothing to re-send" in after
    assert {m["messageId"] for m in collector.received()} == {r.message_id for r in receipts}
    from webapp.extensions import analytics_client

    with app.app_context():
        attempts = analytics_client.store().attempts(receipts[0].message_id)
    assert (attempts[-1].outcome, attempts[-1].source, attempts[-1].actor) == (
        "delivered",
        "replay",
        "admin@example.com",
    )
    [(actor, details)] = _replay_actions(app)
    assert actor == "admin@example.com"
    assert (details["selection"], details["selected"], details["delivered"]) == ("status=failed", 2, 2)
    assert (details["may_be_in_segment"], details["may_be_in_segment_over_24h"]) == (
        0,
        0,
    )  # HTTP 500s: refused
    # The runs are what the replay source lists, and the event field offers them by name.
    runs = client.get("/audit/?source=replay").get_data(as_text=True)
    assert runs.count(f'<td data-label="Event">{REPLAY_ACTION}</td>') == 1 and "admin@example.com" in runs
    named = client.get(f"/audit/?event={REPLAY_ACTION}").get_data(as_text=True)
    assert f'<option value="{REPLAY_ACTION}" selected>{REPLAY_ACTION}</option>' in named


def test_a_view_with_a_parameter_it_does_not_know_resends_nothing(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    """`/audit/replay/?stauts=failed` offered, and re-sent, the whole log."""
    _fail_in_app(app, collector, 1)
    page = client.get("/audit/replay/?stauts=failed")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "<li><code>stauts</code>: unknown parameter: the audit page&#39;s filters are " in html
    assert "entry to re-send" not in html
    token = _csrf(client, "/audit/replay/?status=failed")
    assert client.post("/audit/replay/?stauts=failed", data={"csrf_token": token}).status_code == 400
    assert collector.received() == [] and _replay_actions(app) == []
    # The audit page's own parameters are left aside: a later page's address carries `total`.
    assert client.get("/audit/replay/?status=failed&live=1&total=1000").status_code == 200


def test_a_resend_records_the_view_as_typed_not_url_encoded(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    _fail_in_app(app, collector, 1)
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    url = "/audit/replay/?" + urlencode(
        {"since": since, "event": "New Project Event", "status": ["failed", "dropped"]}, doseq=True
    )
    assert client.post(url, data=_click(client, url, _csrf(client, url))).status_code == 303
    [(_, details)] = _replay_actions(app)
    assert details["selection"] == f"since={since}&event=New Project Event&status=failed&status=dropped"


def test_the_recorded_view_tells_every_two_selections_apart() -> None:
    """A value's `&` read as the start of another filter: these two selections were one text."""
    from webapp.replay.routes import as_typed

    one = as_typed({"prop": "note = a&status=delivered", "status": ["failed"]})
    other = as_typed({"prop": "note = a", "status": ["delivered", "failed"]})
    assert one == "prop=note = a%26status=delivered&status=failed"
    assert other == "prop=note = a&status=delivered&status=failed"
    typed = {"prop": "note = 100%26 &\nmore\x85", "event": "New User", "status": ["failed", "dropped"]}
    pairs = [pair.split("=", 1) for pair in as_typed(typed).split("&")]
    assert [(name, unquote(value)) for name, value in pairs] == [
        ("prop", typed["prop"]),
        ("event", "New User"),
        ("status", "failed"),
        ("status", "dropped"),
    ]
    assert "\n" not in as_typed(typed)


def test_a_tester_destination_s_view_resends_nothing_and_says_why(
    client: FlaskClient, app: Flask, collector: Collector, sqlite_store: AuditStore
) -> None:
    record_delivery(sqlite_store, AuditStatus.FAILED, destination="broken:0123456789ab")
    assert '<strong id="audit-count">1 entry</strong>' in client.get("/audit/?destination=broken").get_data(
        as_text=True
    )
    widget = client.get("/audit/replay/?destination=broken", headers={"HX-Request": "true"})
    html = widget.get_data(as_text=True)
    assert "<button" not in html and "Nothing in this view needs re-sending." not in html
    assert "1 entry of this view went to another tester destination:" in html
    assert f"a re-send goes to <code>{collector.url}</code> with the dashboard's own write key" in html
    token = _csrf(client, "/audit/replay/?destination=broken")
    response = client.post("/audit/replay/?destination=broken", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Nothing to replay" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert collector.received() == []
    listing = client.get("/audit/?destination=broken").get_data(as_text=True)
    [broken] = re.findall(r'<a id="audit-link-\d+" href="/audit/entries/([^"]+)"><time', listing)
    entry_page = client.get(f"/audit/entries/{broken}").get_data(as_text=True)
    assert "Re-send unchanged" not in entry_page and f"/tester/?from={broken}" in entry_page
    # A view with both: the application's failure is offered, the other one said to be left out.
    record_delivery(sqlite_store, AuditStatus.FAILED)
    both = client.get("/audit/replay/?status=failed", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Re-send 1 entry not delivered" in both
    assert "1 entry of this view went to another tester destination and is left out:" in both
    page = client.get("/audit/replay/?status=failed").get_data(as_text=True)
    assert "1 entry to re-send" in page and "and is left out" in page
    # A view of the application's own entries does not carry the note.
    own = client.get("/audit/replay/?source=application", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "another tester destination" not in own


def test_an_htmx_post_answers_with_the_updated_widget(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    _fail_in_app(app, collector, 1)
    token = _csrf(client, "/audit/replay/")
    response = client.post(
        "/audit/replay/", data=_click(client, "/audit/replay/", token), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="audit-replay"')
    assert "Re-sent 1 entry: 1 delivered." in html


def test_a_click_resends_only_what_its_button_offered(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    """Under a live tail the widget kept "Re-send 60 entries not delivered" while 40 more failed
    entries arrived, and the click re-sent 100, under risk lines that were stale too."""
    view = "/audit/replay/?status=failed"
    first = _fail_in_app(app, collector, 2)
    token = _csrf(client, "/audit/?status=failed")
    shown = _offer(client, view)
    later = _fail_in_app(app, collector, 1)  # arrives after the button was drawn
    htmx = {"HX-Request": "true"}
    refused = client.post(view, data={"csrf_token": token, "offer": shown}, headers=htmx)
    assert refused.status_code == 200  # htmx swaps no 4xx answer: the widget says it
    html = refused.get_data(as_text=True)
    assert (
        '<p class="replay-changed" role="status" tabindex="-1" autofocus>Not re-sent: the view changed since '
        "it was shown; 3 entries to re-send now: confirm again.</p>"
    ) in html
    assert "Re-send 3 entries not delivered" in html and f'value="{shown}"' not in html
    # Without JavaScript the confirmation page says it, with the real status.
    page = client.post(view, data={"csrf_token": token, "offer": shown})
    assert page.status_code == 409
    assert "Not re-sent: the view changed since it was shown;" in page.get_data(as_text=True)
    assert "3 entries to re-send</h2>" in page.get_data(as_text=True)
    # A click that names no offer confirmed nothing.
    bare = client.post(view, data={"csrf_token": token})
    assert bare.status_code == 409
    assert "Not re-sent: the click did not say which entries it confirmed;" in bare.get_data(as_text=True)
    assert collector.received() == [] and _replay_actions(app) == []
    # Confirmed again, the click re-sends what the button now says.
    sent = client.post(view, data=_click(client, view, token), headers=htmx).get_data(as_text=True)
    assert "Re-sent 3 entries: 3 delivered." in sent
    assert {m["messageId"] for m in collector.received()} == {r.message_id for r in [*first, *later]}


def test_a_click_resends_the_offered_entries_only_whatever_arrives_meanwhile(
    client: FlaskClient, app: Flask, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the check of the click's offer and the replay's selection, an entry may become
    re-sendable: the replay selects the offered entries only."""
    import webapp.replay.routes as routes

    view = "/audit/replay/?status=failed"
    offered = _fail_in_app(app, collector, 1)
    token = _csrf(client, "/audit/?status=failed")
    clicked = _click(client, view, token)
    checked = routes._unconfirmed
    arrived: list[Any] = []

    def check_then_fail_one_more(form: Any, offer: Any) -> str | None:
        refusal = checked(form, offer)
        arrived.extend(_fail_in_app(app, collector, 1))
        return refusal

    monkeypatch.setattr(routes, "_unconfirmed", check_then_fail_one_more)
    sent = client.post(view, data=clicked, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered." in sent and "Re-send 1 entry not delivered" in sent
    assert [m["messageId"] for m in collector.received()] == [offered[0].message_id]
    assert arrived and arrived[0].message_id != offered[0].message_id


def test_a_resend_that_was_not_delivered_says_what_the_endpoint_answered(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    """Against a dead collector the result read "0 delivered, 30 failed" and nothing said why."""
    _fail_in_app(app, collector, 2)
    collector.inject(503, times=10_000)
    token = _csrf(client, "/audit/replay/")
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    view = "/audit/replay/?status=failed"
    answer = client.post(view, data={"offer": _offer(client, view)}, headers=htmx).get_data(as_text=True)
    assert "Re-sent 2 entries: 0 delivered, 2 failed." in answer
    [line] = re.findall(r'<p class="muted replay-failed">(.*?)</p>', answer)
    assert line.startswith("Not delivered 2: HTTP 503 ")
    page = client.post(view, data=_click(client, view, token), follow_redirects=True)
    notes = re.findall(r'<p class="replay-result" role="status">(.*?)</p>', page.get_data(as_text=True))
    assert notes[0] == "Re-sent 2 entries: 0 delivered, 2 failed."
    assert notes[1].startswith("Not delivered 2: HTTP 503 ") and len(notes) == 2


MASKED_ONLY = "personal data (email) was stored masked only, without AUDIT_ENCRYPTION_KEY"


def test_entries_a_resend_would_skip_are_counted_apart_with_their_reason(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        _send_failing(analytics_client.store(), collector, 2, constant="Register")
    htmx = {"HX-Request": "true"}
    widget = client.get("/audit/replay/?status=failed", headers=htmx).get_data(as_text=True)
    # Nothing here can be re-sent: no button that would only skip, and the reason instead.
    assert "<button" not in widget and "Nothing in this view needs re-sending" not in widget
    assert f"2 entries cannot be re-sent: {MASKED_ONLY}" in widget
    page = client.get("/audit/replay/?status=failed").get_data(as_text=True)
    assert "Nothing to re-send</h2>" in page and f"2 entries cannot be re-sent: {MASKED_ONLY}" in page
    assert "Re-send them" not in page

    _fail_in_app(app, collector, 1)
    widget = client.get("/audit/replay/?status=failed", headers=htmx).get_data(as_text=True)
    assert "Re-send 1 entry not delivered" in widget
    assert f"2 entries cannot be re-sent: {MASKED_ONLY}" in widget
    assert "1 entry to re-send</h2>" in client.get("/audit/replay/?status=failed").get_data(as_text=True)
    token = _csrf(client, "/audit/replay/")
    view = "/audit/replay/?status=failed"
    sent = client.post(view, data=_click(client, view, token), headers=htmx)
    answer = sent.get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered; 2 skipped." in answer
    # Why, once: the offer under the result gives the reason of the entries still blocked, which
    # are those the click skipped.
    assert answer.count(MASKED_ONLY) == 1 and f"2 entries cannot be re-sent: {MASKED_ONLY}" in answer
    # The result takes the focus from the button it replaces (htmx focuses `autofocus` after a swap).
    assert '<p class="replay-result" role="status" tabindex="-1" autofocus>Re-sent 1 entry' in answer
    # Without htmx the results come back as the page's notes, in their own case; the page the click
    # lands on gives the reason under its heading, as the widget does.
    _fail_in_app(app, collector, 1)
    page = client.post(view, data=_click(client, view, token), follow_redirects=True).get_data(as_text=True)
    notes = re.findall(r'<p class="replay-result" role="status">(.*?)</p>', page)
    assert notes == ["Re-sent 1 entry: 1 delivered; 2 skipped."]
    assert f"2 entries cannot be re-sent: {MASKED_ONLY}" in page


def test_a_resend_s_result_is_said_above_the_offer_the_live_tail_redraws(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    """The result's "Not delivered 2: HTTP 503 …" line was drawn inside the offer, under the new
    button, where it read as part of the next offer and the live tail's redraw of the offer (a plain
    GET, which has no result) wiped it."""
    from webapp.extensions import analytics_client

    with app.app_context():
        _send_failing(analytics_client.store(), collector, 1, constant="Register")
    _fail_in_app(app, collector, 2)
    collector.inject(503, times=10_000)
    view = "/audit/replay/?status=failed"
    htmx = {"HX-Request": "true", "X-CSRFToken": _csrf(client, view)}
    answer = client.post(view, data={"offer": _offer(client, view)}, headers=htmx).get_data(as_text=True)
    result, offer = answer.split('<div id="audit-replay-offer"')
    said = re.findall(r'<p class="(?:replay-result|muted replay-\w+)"[^>]*>(.*?)</p>', result)
    assert said[0] == "Re-sent 2 entries: 0 delivered, 2 failed; 1 skipped."
    assert said[1].startswith("Not delivered 2: HTTP 503 ") and len(said) == 2
    assert "Re-send 2 entries not delivered" in offer and "Not delivered" not in offer
    assert f"1 entry cannot be re-sent: {MASKED_ONLY}" in offer and "Skipped" not in answer


def test_an_entry_a_resend_would_skip_says_why_instead_of_offering_it(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        [masked] = _send_failing(analytics_client.store(), collector, 1, constant="Register")
    [plain] = _fail_in_app(app, collector, 1)
    page = client.get(f"/audit/entries/{masked.message_id}").get_data(as_text=True)
    assert f"Cannot be re-sent unchanged: {MASKED_ONLY}" in page and "Re-send unchanged</button>" not in page
    offered = client.get(f"/audit/entries/{plain.message_id}").get_data(as_text=True)
    assert "Re-send unchanged</button>" in offered and "Cannot be re-sent" not in offered


def test_an_entry_over_32_kb_is_counted_apart_and_never_offered(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        receipt = _drop_oversized(analytics_client.store(), collector)
    reason = str(escape(OVERSIZED))  # as the templates write it
    widget = client.get("/audit/replay/?status=dropped", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "<button" not in widget and f"1 entry cannot be re-sent: {reason}." in widget
    page = client.get("/audit/replay/?status=dropped").get_data(as_text=True)
    assert "Nothing to re-send</h2>" in page and f"Skipped (1): {reason}</th>" in page
    entry = client.get(f"/audit/entries/{receipt.message_id}").get_data(as_text=True)
    assert f"Cannot be re-sent unchanged: {reason}." in entry and "Re-send unchanged</button>" not in entry
    # The dry run exits as the real run does: 1, for an entry that can never be re-sent.
    dry = runner.invoke(args=["replay", "--dry-run"])
    assert dry.exit_code == 1 and dry.output.endswith("dry run: 0 entries would be re-sent, 1 skipped\n")
    result = runner.invoke(args=["replay"])
    assert result.exit_code == 1
    first, summary = result.output.splitlines()
    assert first.startswith(receipt.message_id) and first.endswith(f"skipped: {OVERSIZED}")
    assert " [dropped: message is 40," in first  # its last error, as the client recorded it
    assert summary == "re-sent nothing; 1 skipped"
    assert collector.stats.requests == 0


def test_a_resend_from_the_widget_refreshes_the_rows_it_resent_on_the_page(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    first, second = _fail_in_app(app, collector, 2)
    # The reviewer's page shows the newest entry only (`after` the older one's cursor).
    listing = client.get("/audit/?status=failed").get_data(as_text=True)
    rows = re.findall(
        r'<tr id="(audit-entry-\d+)">\s*<td data-label="Recorded">'
        r'<a id="audit-link-\d+" href="/audit/entries/([^"]+)"',
        listing,
    )
    assert [message_id for _, message_id in rows] == [second.message_id, first.message_id]
    row_of = {message_id: row for row, message_id in rows}
    token = _csrf(client, "/audit/?status=failed")
    response = client.post(
        f"/audit/replay/?status=failed&message_id={second.message_id}",
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    html = response.get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered." in html
    swapped = re.findall(
        r'<template><tr id="(audit-entry-\d+)" hx-swap-oob="true">(.*?)</tr></template>', html, re.S
    )
    assert [row for row, _ in swapped] == [row_of[second.message_id]]
    assert "status-delivered" in swapped[0][1] and second.message_id in swapped[0][1]
    # The head is read again: the view's one failed entry is delivered now.
    assert '<div id="audit-overview" hx-swap-oob="true">' in html
    assert '<strong id="audit-count">0 entries</strong>' in html
    assert "the 1 re-sent entry below no longer matches these filters and goes at the next search" in html
    # A re-send of rows the page does not show carries no rows (htmx would find no target for them):
    # a page of the entries older than the oldest one shows none.
    from webapp.extensions import analytics_client

    with app.app_context():
        oldest = analytics_client.store().entry(first.message_id)
    assert oldest is not None
    older = f"/audit/replay/?status=failed&before={Cursor.of(oldest).encode()}"
    response = client.post(older, data=_click(client, older, token), headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered." in html and "<template>" not in html
    assert "no longer match" not in html


def test_a_resend_in_a_view_its_rows_still_match_adds_no_note(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    (failed,) = _fail_in_app(app, collector, 1)
    token = _csrf(client, "/audit/")
    html = client.post(
        f"/audit/replay/?message_id={failed.message_id}", headers={"HX-Request": "true", "X-CSRFToken": token}
    ).get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered." in html
    assert '<strong id="audit-count">1 entry</strong>' in html and "no longer match" not in html


def test_a_post_without_the_csrf_token_is_refused(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    _fail_in_app(app, collector, 1)
    assert client.post("/audit/replay/").status_code == 400
    assert collector.stats.requests == 0


def test_the_entry_page_resends_that_entry_only(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    first, second = _fail_in_app(app, collector, 2)
    page = client.get(f"/audit/entries/{first.message_id}").get_data(as_text=True)
    action = f"/audit/replay/?message_id={first.message_id}&amp;status=failed"
    assert f'action="{action}"' in page and "Re-send unchanged" in page
    token = _csrf(client, f"/audit/entries/{first.message_id}")
    response = client.post(action.replace("&amp;", "&"), data={"csrf_token": token})
    assert response.status_code == 303
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Re-sent 1 entry: 1 delivered." in after
    assert f'href="/audit/entries/{first.message_id}">Back to the entry' in after
    assert [m["messageId"] for m in collector.received()] == [first.message_id]
    delivered_page = client.get(f"/audit/entries/{first.message_id}").get_data(as_text=True)
    assert "Re-send unchanged" not in delivered_page
    assert "Re-send unchanged" in client.get(f"/audit/entries/{second.message_id}").get_data(as_text=True)


def test_an_entry_page_says_when_its_resend_may_be_a_second_copy(client: FlaskClient, app: Flask) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        ids = _risky_log(analytics_client.store())
    said = {
        name: client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
        for name, message_id in ids.items()
    }
    assert "Re-send unchanged</button>" in said["timeout"]
    assert re.search(
        r"It may already be in Segment, since [-\d]+ [:\d]+ UTC: a re-sent copy is dropped by Segment only "
        r"within about 24 hours of that\.",
        said["timeout"],
    )
    assert "a re-sent copy is dropped by Segment only within" in said["stuck"]
    assert "over 24 h ago: past Segment&#39;s de-duplication window" in said["old timeout"]
    assert "may already be in Segment" not in said["old 500"]


def test_an_http_answer_whose_error_reads_like_a_timeout_is_no_duplicate_risk(
    client: FlaskClient, app: Flask
) -> None:
    """A gateway's HTTP 504 with the code `ReadTimeout` is recorded `ReadTimeout: …`, as a read timeout
    is; only its HTTP status says the endpoint answered (and refused). Its attempt counted as "no
    answer": replay, the widget and the entry page said it may already be in Segment."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        message_id = record_delivery(
            store, AuditStatus.FAILED, http_status=504, error="ReadTimeout: upstream did not answer"
        )
        store.record_outcome([message_id], AuditStatus.FAILED, http_status=500, error="oops", source="replay")
        [candidate] = _candidates(store)
        with Session(store.engine) as session:
            risk = click_outlook(session, ReplaySelection(), datetime.now(UTC), cap=500, cipher=None).risk
    assert (candidate.maybe_arrived, risk.maybe_arrived) == (False, 0)
    page = client.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    assert "Re-send unchanged</button>" in page and "may already be in Segment" not in page


def test_without_a_write_key_the_dashboard_offers_no_resend(
    client: FlaskClient, app: Flask, collector: Collector
) -> None:
    _fail_in_app(app, collector, 1)
    app.config["SEGMENT_WRITE_KEY"] = None
    widget = client.get("/audit/replay/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Sending is disabled" in widget and "<button" not in widget
    token = _csrf(client, "/audit/replay/")
    assert client.post("/audit/replay/", data={"csrf_token": token}).status_code == 409
    assert collector.stats.requests == 0


def test_bad_filters_are_shown_next_to_the_view(client: FlaskClient) -> None:
    response = client.get("/audit/replay/?project=twelve")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<code>project</code>:" in html and "twelve" in html


def test_an_identify_entry_is_named_as_the_lists_name_it(
    sqlite_store: AuditStore, collector: Collector
) -> None:
    _send_failing(sqlite_store, collector, constant="Register")
    seen: list[str] = []
    replay(sqlite_store, None, ReplaySelection(), dry_run=True, on_candidate=lambda c: seen.append(c.label))
    assert seen == ["Identify: Register"]
