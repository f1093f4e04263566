"""The live tail lists every committed entry once, whatever order writers commit in (SQLite, PostgreSQL).

Writers stamp an entry before its transaction commits, so a batch stamped earlier can commit after
a later one: the walk with six writer processes found a tail that never listed 1,147 of 9,600
entries. Here a real second process stamps an entry and then waits, before its INSERT, until the
test lets it go, so that its commit lands after newer ones every time.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from auditlog import late_writer
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from analytics.audit import AuditEntry, AuditRecord, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.messages import build_message
from analytics.queries import AuditFilter
from webapp import create_app
from webapp.audit import tail as tail_module
from webapp.audit.tail import (
    SEEN_LIMIT,
    TAIL_BATCH,
    TAIL_CATCH_UP,
    TAIL_LAG,
    TailState,
    decode_seen,
    encode_seen,
    read_tail,
)
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role


def _message() -> dict[str, object]:
    return build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())


def _record(store: AuditStore, count: int = 1) -> list[str]:
    messages = [_message() for _ in range(count)]
    store.record_many([AuditRecord(m, status=AuditStatus.PENDING, source="application") for m in messages])
    return [str(m["messageId"]) for m in messages]


@contextmanager
def _reader_of(database_url: str, **settings: object) -> Iterator[FlaskClient]:
    """The dashboard on the writers' database, read by a viewer through a trusted proxy header."""
    app: Flask = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "AUTH_MODE": "proxy",
            "TRUSTED_PROXIES": parse_networks("127.0.0.1"),
            "PROXY_DEFAULT_ROLE": Role.VIEWER,
            **settings,
        }
    )
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_EMAIL"] = "reviewer@example.com"
    yield client
    from webapp.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def reader(database_url: str) -> Iterator[FlaskClient]:
    """The dashboard on the writers' database, read by a viewer."""
    with _reader_of(database_url) as client:
        yield client


def _tail_url(page: str) -> str:
    match = re.search(r'<div id="audit-tail"[^>]*hx-get="([^"]+)"', page, re.S)
    assert match is not None, page
    return html.unescape(match.group(1))


HTMX = {"HX-Request": "true"}
"""The tail is polled by htmx; opened as a page it leads to the audit page."""


def _rows(page: str) -> list[str]:
    return re.findall(r'<a id="audit-link-\d+" href="/audit/entries/([^"]+)"><time', page)


class Tail:
    """A live tail followed as the page follows it: each poll from the URL the previous one drew."""

    def __init__(self, client: FlaskClient, search: str = "/audit/?live=1") -> None:
        self.client = client
        page = client.get(search).get_data(as_text=True)
        self.listed = _rows(page)
        self.url = _tail_url(page)

    def poll(self) -> list[str]:
        response = self.client.get(self.url, headers=HTMX)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        added = (
            _rows(page.split('<tbody hx-swap-oob="afterbegin:#audit-rows">', 1)[-1])
            if "afterbegin" in page
            else []
        )
        self.listed.extend(added)
        self.url = _tail_url(page)
        return added


def test_the_tail_lists_an_entry_whose_commit_lands_after_newer_ones(
    reader: FlaskClient, store: AuditStore, database_url: str
) -> None:
    """Its cursor had moved past the late entry's time: the entry was never listed."""
    first = _record(store)
    tail = Tail(reader)
    assert tail.listed == first
    with late_writer(database_url) as commit_late:
        newer = _record(store, 3)
        assert sorted(tail.poll()) == sorted(newer)
        late_id = commit_late()
    assert tail.poll() == [late_id]
    assert tail.poll() == []
    assert sorted(tail.listed) == sorted([*first, *newer, late_id])


def test_concurrent_writers_threads_each_entry_listed_once(
    reader: FlaskClient, store: AuditStore, database_url: str
) -> None:
    """Four threads commit batches at once (each on its own connection from the store's pool, so
    commits interleave with their stamps) while the tail polls as fast as it can."""
    tail = Tail(reader)
    written: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def write() -> None:
        for _ in range(15):
            ids = _record(store, 20)
            with lock:
                written.extend(ids)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    poller = threading.Thread(target=lambda: [tail.poll() for _ in iter(done.is_set, True)])
    poller.start()
    for thread in threads:
        thread.join()
    done.set()
    poller.join()
    while tail.poll():
        pass
    assert len(tail.listed) == len(set(tail.listed))
    assert sorted(tail.listed) == sorted(written)


def _read_all(
    session: Session, filters: AuditFilter, state: TailState, now: datetime
) -> tuple[set[str], TailState]:
    """Poll until a poll adds nothing; the message ids added, and the state reached."""
    added: set[str] = set()
    for _ in range(50):
        step = read_tail(session, filters, state, now)
        state = step.state
        if not step.entries:
            return added, state
        assert added.isdisjoint(entry.message_id for entry in step.entries)
        added.update(entry.message_id for entry in step.entries)
    raise AssertionError("the tail never caught up")


def test_seen_ids_travel_in_a_short_url_form() -> None:
    ids = {1, 2, 3, 4, 9, 40, 41, 1_000_000, 2**63 - 1}
    text = encode_seen(ids)
    assert decode_seen(text) == ids
    assert text.startswith("1-3.5.v-1.")
    assert encode_seen(range(5000, 9000)) == "3uw-333"
    # Interleaved batches: every other id of a range is six to a character rather than a token each.
    interleaved = set(range(1000, 4000, 2))
    assert encode_seen(interleaved).startswith("~rs~VVVV") and len(encode_seen(interleaved)) == 504
    assert decode_seen(encode_seen(interleaved)) == interleaved
    assert encode_seen({1, 2**63 - 1}) == "1.1y2p0ij32e8e6"  # far apart: no bitmap of 2^63 bits
    assert decode_seen("") == frozenset()
    for wrong in (
        *("x-", "0", "-1", "1..2", "1-zzzzzzzzzzzzz", "é", "z" * (2 * SEEN_LIMIT + 1)),
        *("~", "~1~", "~0~AQ", "~1~A*", "~1~AAAA", "~zzzzzzzzzzzzz~AQ", "~1~" + "_" * 1999),
    ):
        with pytest.raises(ValueError):
            decode_seen(wrong)


def test_entries_newer_than_the_lag_wait_while_the_seen_list_is_full(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the URL has no room to remember is not dropped: it is listed once older than the lag."""
    monkeypatch.setattr(tail_module, "SEEN_LIMIT", 40)
    # One matching entry in twenty: the ids the tail remembers are too far apart for a short bitmap.
    records = [
        AuditRecord(
            build_message(CATALOG.event(name).example_spec()),
            status=AuditStatus.PENDING,
            source="application",
        )
        for _ in range(30)
        for name in ["ClusterProvisioningSuccess", *["ProjectCreate"] * 19]
    ]
    store.record_many(records)
    filters = AuditFilter(event="Cluster Provisioning Success")
    now = datetime.now(UTC)
    with Session(store.engine) as session:
        matching = set(
            session.scalars(select(AuditEntry.message_id).where(AuditEntry.event == filters.event))
        )
        assert len(matching) == 30
        added, state = _read_all(session, filters, TailState(), now)
        assert len(encode_seen(state.seen)) <= 40 and state.seen
        assert 0 < len(added) < 30
        later, state = _read_all(session, filters, state, now + TAIL_LAG + timedelta(seconds=1))
    assert added.isdisjoint(later) and added | later == matching
    assert state.seen == frozenset()


def test_a_tail_behind_a_busy_log_says_so_and_catches_up(reader: FlaskClient, store: AuditStore) -> None:
    """It added 100 entries a poll and went on saying "Live" while thousands waited."""
    tail = Tail(reader)
    written = _record(store, 700)
    first = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
    assert len(_rows(first)) == TAIL_BATCH
    assert re.search(
        r'id="audit-tail-behind">Behind: 600 newer entries not listed yet .*show the newest</a>', first
    )
    assert '<a href="/audit/?live=1">show the newest</a>' in first
    tail.url = _tail_url(first)
    assert "behind=1" in tail.url
    assert len(tail.poll()) == TAIL_CATCH_UP
    assert len(tail.poll()) == 600 - TAIL_CATCH_UP
    caught_up = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
    assert "audit-tail-behind" not in caught_up and "behind=1" not in _tail_url(caught_up)
    assert len(tail.listed) == len(set(tail.listed)) == 700 - TAIL_BATCH
    assert set(tail.listed) | set(_rows(first)) == set(written)


REQUEST_LINE_MOST = 4094
"""gunicorn's default `limit_request_line`: a longer `GET <url> HTTP/1.1` is answered 414."""


def _settled(page: str) -> list[str]:
    return re.findall(
        r'<template><tr id="audit-entry-\d+" hx-swap-oob="true">.*?/audit/entries/([^"]+)"', page, re.S
    )


def test_a_tail_that_caught_up_with_a_busy_log_goes_on_following_its_pending_rows(
    reader: FlaskClient, store: AuditStore
) -> None:
    """Each pending row sent its status with every poll: after a catch-up the request line passed 4 KB,
    gunicorn answered 414 to every later poll and the tail froze, its rows pending for good."""
    tail = Tail(reader)
    written = _record(store, 700)
    requests = []
    while True:
        requests.append(f"GET {tail.url} HTTP/1.1")
        if not tail.poll():
            break
    assert sorted(tail.listed) == sorted(written)
    assert max(len(line) for line in requests) < REQUEST_LINE_MOST
    newest = written[-3:]
    store.record_outcome(newest, AuditStatus.DELIVERED, http_status=200)
    page = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
    assert sorted(_settled(page)) == sorted(newest)
    assert len(f"GET {_tail_url(page)} HTTP/1.1") < REQUEST_LINE_MOST


@pytest.mark.parametrize("statuses", [(), ("pending", "failed")], ids=["any-status", "two-statuses"])
def test_a_poll_reads_whole_only_the_entries_it_adds(store: AuditStore, statuses: tuple[str, ...]) -> None:
    """The window a poll reads again was read whole, payloads included: a hand-made `seen` of 10,000
    ids (five characters, `1-7pr`) made every poll load 10,101 entries to add 100. Several statuses
    are read as one page each, merged."""
    _record(store, 1000 + TAIL_BATCH)
    loaded: list[int] = []

    def note(target: AuditEntry, context: object) -> None:
        loaded.append(target.id)

    with Session(store.engine) as session:
        ids = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        event.listen(AuditEntry, "load", note)
        try:
            step = read_tail(
                session,
                AuditFilter(statuses=statuses),
                TailState(None, frozenset(ids[:1000])),
                datetime.now(UTC),
            )
        finally:
            event.remove(AuditEntry, "load", note)
    assert [entry.id for entry in step.entries] == ids[1000:][::-1]
    assert sorted(loaded) == ids[1000:]


STUCK_BADGE = '<span class="badge audit-stuck"'


def test_a_listed_pending_row_that_turns_stuck_is_drawn_again_with_its_badge(
    store: AuditStore, database_url: str
) -> None:
    """Its status stays `pending`, which is all the tail compared: the row kept no badge while the page
    drawn afresh marked it stuck."""
    stuck_after = timedelta(seconds=2)
    with _reader_of(database_url, AUDIT_STUCK_AFTER=stuck_after) as reader:
        [message_id] = _record(store)
        started = time.monotonic()
        tail = Tail(reader)
        assert tail.listed == [message_id]
        first = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
        assert time.monotonic() - started < stuck_after.total_seconds(), "too slow to see it pending first"
        assert _settled(first) == []
        tail.url = _tail_url(first)
        time.sleep(stuck_after.total_seconds() + 0.2)
        turned = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
        assert _settled(turned) == [message_id]
        assert STUCK_BADGE in turned
        assert STUCK_BADGE in reader.get("/audit/?live=1").get_data(as_text=True)
        # Drawn stuck, it is not drawn again at every poll; a re-send that delivers it still is.
        tail.url = _tail_url(turned)
        again = reader.get(tail.url, headers=HTMX).get_data(as_text=True)
        assert _settled(again) == []
        store.record_outcome([message_id], AuditStatus.DELIVERED, http_status=200)
        delivered = reader.get(_tail_url(again), headers=HTMX).get_data(as_text=True)
        assert _settled(delivered) == [message_id]
        assert STUCK_BADGE not in delivered
