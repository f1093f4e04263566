"""What the library and the Segment client write to a host application's log, through the real
Segment client and the local collector: no message dumps, one line per give-up, no floods."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import pytest

import analytics
from analytics import AuditStatus, AuditStore, NotInitializedError, drop_log
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.scopes import UserScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop

SECRET_EMAIL = "secret.person@example.com"


@pytest.fixture
def host_logging() -> Iterator[None]:
    """The `segment` logger as a host application leaves it: no level of its own (migrating the
    test database through the dashboard's factory sets one, as the dashboard does)."""
    segment = logging.getLogger("segment")
    level = segment.level
    segment.setLevel(logging.NOTSET)
    yield
    segment.setLevel(level)


def _register(email: str = SECRET_EMAIL) -> Any:
    return CATALOG.identifier("Register").example_spec().model_copy(update={"email": email})


def _segment_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "segment"]


@pytest.mark.parametrize("sync_mode", [False, True])
def test_a_host_logging_at_debug_gets_no_message_dumps_from_the_segment_client(
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    host_logging: None,
    sync_mode: bool,
) -> None:
    """The Segment client logs every queued message, request body and answer at DEBUG: a host
    logging at DEBUG (staging) wrote every message, personal data in clear, to its log."""
    with caplog.at_level(logging.DEBUG):
        client = make_client(sqlite_store, sync_mode=sync_mode)
        receipt = client.identify(_register())
        client.flush()
        logging.getLogger("segment").warning("a warning of the Segment client's own")
        # A filter, not a level: the host's own levels stay as it set them.
        assert logging.getLogger("segment").level == logging.NOTSET
        assert logging.getLogger("segment").isEnabledFor(logging.DEBUG)
    assert receipt.ok and collector.received()[0]["traits"]["email"] == SECRET_EMAIL
    assert SECRET_EMAIL not in caplog.text
    assert "a warning of the Segment client's own" in caplog.text


def test_a_logged_receipt_does_not_print_the_message(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """Hosts log receipts (`log.info("%s", receipt)`): its repr held the whole message, personal data
    in clear. The message stays on the receipt for the caller, who built it."""
    client = make_client(sqlite_store)
    receipt = client.identify(_register())
    assert SECRET_EMAIL not in repr(receipt) and SECRET_EMAIL not in str(receipt)
    assert receipt.message_id in repr(receipt) and "pending" in repr(receipt)
    assert receipt.message["traits"]["email"] == SECRET_EMAIL


@pytest.mark.parametrize(
    ("status", "segment_lines"),
    [(400, []), (500, ["All 1 retries exhausted after 2 total attempts. Final error: "])],
)
def test_a_batch_the_segment_client_gives_up_on_is_logged_once_with_its_facts(
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    host_logging: None,
    status: int,
    segment_lines: list[str],
) -> None:
    """A 400 logged three lines for one batch: two ERRORs of the Segment client's ('Non-retryable
    error 400 …', 'error uploading: …') and the library's, the one with the count. The library's
    line now carries the status too, at ERROR, and stands for them; a line with facts of its own
    (how many attempts a 500 got) stays."""
    collector.inject(status, times=2)
    client = make_client(sqlite_store)
    with caplog.at_level(logging.WARNING):
        receipt = client.track(CATALOG.event("ProjectCreate").example_spec())
        client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and (entry.status, entry.http_status) == ("failed", status)
    [ours] = [record for record in caplog.records if record.name == "analytics.client"]
    assert ours.levelno == logging.ERROR
    assert ours.getMessage() == f"Segment gave up on 1 message (failed, HTTP {status}): {entry.error}"
    said = [record.getMessage() for record in _segment_lines(caplog)]
    assert len(said) == len(segment_lines)
    assert all(line.startswith(start) for line, start in zip(said, segment_lines, strict=True))
    assert all(record.levelno == logging.WARNING for record in _segment_lines(caplog))


@pytest.mark.parametrize(
    ("fault", "budgets", "segment_line", "status"),
    [
        ({"status": 500, "times": 5}, {}, "All 1 retries exhausted after 2 total attempts", "failed"),
        (
            {"status": 500, "times": 5},
            {"max_retries": 5, "max_total_backoff_duration": 0.01},
            "Max total backoff duration (0.01s) exceeded after ",
            "failed",
        ),
        (
            {"status": 429, "retry_after": 2, "times": 5},
            {"max_rate_limit_duration": 1},
            "Rate limit budget (1s) cannot accommodate the requested wait; dropping batch.",
            "dropped",
        ),
    ],
    ids=["retries-exhausted", "backoff-budget", "rate-limit-budget"],
)
def test_each_give_up_of_the_segment_client_is_one_error_line(
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    host_logging: None,
    fault: dict[str, Any],
    budgets: dict[str, Any],
    segment_line: str,
    status: str,
) -> None:
    """The pinned Segment client's give-ups, from the collector's faults: each was two ERROR lines
    (its own, then the library's), which an alert counting ERROR lines counted twice. Its line
    adds a fact (attempts, the budget), so it stays, at WARNING."""
    collector.inject(**fault)
    client = make_client(sqlite_store, **budgets)
    with caplog.at_level(logging.WARNING):
        receipt = client.track(CATALOG.event("ProjectCreate").example_spec())
        client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == status
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    ours = f"Segment gave up on 1 message ({status}, HTTP {fault['status']}): {entry.error}"
    assert [(record.name, record.getMessage()) for record in errors] == [("analytics.client", ours)]
    [theirs] = _segment_lines(caplog)
    assert theirs.getMessage().startswith(segment_line) and theirs.levelname == "WARNING"


def test_the_default_client_shut_down_through_its_own_method_is_said_so_once(
    sqlite_store: AuditStore, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`init()` returns the default client, so a host may call its `shutdown()`: every later
    `analytics.track` then logged a WARNING, and its error blamed `analytics.shutdown()` or a later
    `init()`, neither of which happened. It is now said once, naming what did."""
    client = analytics.init(database_url=sqlite_url)
    client.shutdown()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="analytics"):
        receipts = [analytics.track(CATALOG.event("ProjectCreate").example_spec()) for _ in range(3)]
        receipts.append(analytics.identify(_register()))
    assert [record.getMessage() for record in caplog.records if record.name.startswith("analytics")] == [
        "client.shutdown() ended the default client: New Project Event not audited, not sent, nor any "
        "later call until init() (logged once: each receipt carries a NotInitializedError)"
    ]
    assert all(receipt.status is None for receipt in receipts)
    assert {str(receipt.error) for receipt in receipts} == {
        "client.shutdown() ended the default client: call analytics.init() first"
    }
    analytics.shutdown()
    analytics.init(database_url=sqlite_url)
    assert analytics.track(CATALOG.event("ProjectCreate").example_spec()).ok
    analytics.shutdown()


def test_a_client_shut_down_says_so_once_and_names_every_way_it_could_have_been(
    sqlite_store: AuditStore, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(sqlite_store)
    client.shutdown()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="analytics"):
        receipts = [client.track(CATALOG.event("ProjectCreate").example_spec()) for _ in range(3)]
    [warning] = [record.getMessage() for record in caplog.records if record.name == "analytics.client"]
    assert warning == (
        f"this analytics client was shut down: message {receipts[0].message_id} not audited, not sent, "
        "nor any later call to it (logged once: each receipt carries a NotInitializedError)"
    )
    assert all(isinstance(receipt.error, NotInitializedError) for receipt in receipts)
    assert str(receipts[0].error) == (
        "this client was shut down (by its shutdown(), by analytics.shutdown() or by a later "
        "analytics.init()): call analytics.init(), or use the client the last one returned"
    )


def _drop_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    said = [record.getMessage() for record in caplog.records if record.name == "analytics.client"]
    pattern = re.compile(r"([\d,]+) (?:more )?messages? dropped")
    return [int(match[1].replace(",", "")) for line in said if (match := pattern.match(line))]


def test_drops_under_overload_are_counted_in_a_line_per_interval_and_none_goes_unsaid(
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the Segment client's queue full, every refused batch logged a WARNING: some 370 lines in
    50 s of overload. The first drop is said at once, the next ones once per interval, counted; what
    is still held is said at shutdown. Each dropped message is audited as such all along."""
    monkeypatch.setattr(drop_log, "DROP_LOG_INTERVAL", 3.0)
    collector.inject(None, latency=0.5, times=100)
    client = make_client(sqlite_store, strict=True, max_queue_size=1, upload_size=1)
    spec = CATALOG.event("ProjectCreate").example_spec()
    with caplog.at_level(logging.WARNING, logger="analytics"):
        receipts = [client.track(spec) for _ in range(12)]
        assert len(_drop_counts(caplog)) == 1
        time.sleep(3.1)
        receipts += [client.track(spec) for _ in range(12)]
        assert len(_drop_counts(caplog)) == 2
        client.shutdown()
    dropped = [receipt for receipt in receipts if receipt.status is AuditStatus.DROPPED]
    assert len(dropped) >= 12
    assert sum(_drop_counts(caplog)) == len(dropped) and len(_drop_counts(caplog)) == 3
    assert {_status(sqlite_store, receipt.message_id) for receipt in dropped} == {"dropped"}


def _status(store: AuditStore, message_id: str) -> str:
    entry = store.entry(message_id)
    assert entry is not None
    return entry.status


class _NoteEvent(StrEnum):
    NoteSave = "Note Saved"


_NOTES = SpecRegistry()


class NoteSave(
    TrackSpec, event=_NoteEvent.NoteSave, category=Category.ONBOARDING, owner=Team.GROWTH, registry=_NOTES
):
    """A note was saved."""

    scope: UserScope
    text: str = prop("The note's text.", example="Call back on Monday.")


def test_oversize_messages_of_any_size_are_said_in_one_line_per_interval(
    sqlite_store: AuditStore, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Drops were grouped by their reason's text, which holds each oversize message's size: 50 of them
    gave 50 lines, each promising "one line every 10 s" (the review's F5). Now by kind: the first is
    said at once with its size, the rest in one line with the first held one's."""
    client = make_client(sqlite_store, strict=True)  # each call hands its message over alone
    with caplog.at_level(logging.WARNING, logger="analytics"):
        receipts = [
            client.track(NoteSave(scope=UserScope(user_id=1), text="x" * (40_000 + n))) for n in range(20)
        ]
        client.flush()
        assert _drop_counts(caplog) == [1]
        client.shutdown()
    assert _drop_counts(caplog) == [1, 19]
    said = [record.getMessage() for record in caplog.records if record.name == "analytics.client"]
    assert f"(first {receipts[0].message_id}): message is 40," in said[0]
    assert "over Segment's 32 KB limit (further drops of this kind: one line every 10 s)" in said[0]
    assert said[1].startswith("19 more messages dropped in the last ")
    assert f"(first {receipts[1].message_id}): message is 40," in said[1]
