"""Delivery through the real Segment client to the local collector over real HTTP, with audit statuses."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from client_budgets import FAST_BUDGETS
from closing_server import ClosingServer
from production_settings import HOST_AUDIT_KEY_LINES
from sqlalchemy import func, select

import analytics
from analytics import AnalyticsClient, AuditStatus, AuditStore, ConfigurationError, EnqueueError
from analytics.audit import AuditEntry
from analytics.catalog import CATALOG
from analytics.client import MAX_MESSAGE_SIZE, message_size
from analytics.collector import Collector
from analytics.errors import AuditWriteError, DeliveryError, NotInitializedError, SchemaError
from analytics.messages import build_message
from analytics.network_errors import describe_network_error, may_have_arrived
from analytics.scopes import ApplicationScope
from analytics.tracks import ApplicationDeploymentWebhook


def _example(constant: str) -> Any:
    return CATALOG.event(constant).example_spec()


def _status(store: AuditStore, message_id: str) -> str:
    entry = store.entry(message_id)
    assert entry is not None
    return entry.status


def test_single_event_is_audited_pending_then_delivered(
    store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(store)
    receipt = client.track(_example("ClusterProvisioningSuccess"))
    assert receipt.ok and receipt.status is AuditStatus.PENDING
    client.flush()
    assert _status(store, receipt.message_id) == "delivered"
    assert collector.received() == [receipt.message]
    [attempt] = store.attempts(receipt.message_id)
    assert (attempt.outcome, attempt.http_status) == ("delivered", 200)
    assert attempt.latency_ms is not None and attempt.latency_ms > 0


def test_identify_is_delivered_with_personal_data_masked_in_the_audit_only(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store)
    receipt = client.identify(CATALOG.identifier("Register").example_spec())
    client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == "delivered" and entry.type == "identify"
    assert collector.received()[0]["traits"]["email"] == "ada@example.com"
    assert entry.payload["traits"]["email"].startswith("masked:")


def test_a_batch_of_events_is_delivered_in_one_request(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store, upload_interval=0.5)
    receipts = [client.track(info.example_spec()) for info in list(CATALOG.events.values())[:20]]
    client.flush()
    assert {_status(sqlite_store, r.message_id) for r in receipts} == {"delivered"}
    assert collector.stats.batches < 20
    assert [m["messageId"] for m in collector.received()] == [r.message_id for r in receipts]


def test_text_the_segment_client_counts_escaped_is_said_to_be_counted_so(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """9 KB of Japanese text (3,000 characters) made a message of 36 KB and the drop said only that,
    leaving a Tokyo team to wonder: the Segment client counts JSON with non-ASCII escaped."""
    client = make_client(sqlite_store)
    scope = ApplicationScope(
        user_id=1, project_id=2, cluster_id=3, app_name="web", app_namespace="d", chart_name="w"
    )
    receipt = client.track(ApplicationDeploymentWebhook(scope=scope, image_uri="東" * 6_000))
    assert receipt.status is AuditStatus.DROPPED
    assert "bytes as the Segment client counts them (JSON with non-ASCII characters escaped" in str(
        receipt.error
    )
    ascii_only = client.track(ApplicationDeploymentWebhook(scope=scope, image_uri="x" * 40_000))
    assert "bytes, over Segment's 32 KB limit" in str(ascii_only.error)


def test_message_over_32kb_is_dropped_with_an_enqueue_error(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store)
    scope = ApplicationScope(
        user_id=1, project_id=2, cluster_id=3, app_name="web", app_namespace="d", chart_name="w"
    )
    receipt = client.track(ApplicationDeploymentWebhook(scope=scope, image_uri="x" * 40_000))
    assert receipt.status is AuditStatus.DROPPED
    assert isinstance(receipt.error, EnqueueError)
    assert "over Segment's 32 KB limit" in str(receipt.error)
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == "dropped" and "32 KB" in (entry.error or "")
    client.flush()
    assert collector.received() == []


def test_raise_errors_raises_the_enqueue_error_instead(sqlite_store: AuditStore, make_client: Any) -> None:
    client = make_client(sqlite_store, raise_errors=True)
    scope = ApplicationScope(
        user_id=1, project_id=2, cluster_id=3, app_name="web", app_namespace="d", chart_name="w"
    )
    with pytest.raises(EnqueueError):
        client.track(ApplicationDeploymentWebhook(scope=scope, image_uri="x" * 40_000))


LONG_PAGE = {"page": {"url": "https://example.com/?" + "q" * 40_000}}
"""A host `context=` that takes a small message over 32 KB by itself."""


def test_a_message_that_context_takes_over_32kb_is_dropped_in_its_receipt(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """The batched path measured only large payloads: the receipt said `pending`, ok, and the
    message was dropped afterwards on the writer's thread."""
    client = make_client(sqlite_store)
    receipt = client.track(_example("ClusterProvisioningSuccess"), context=LONG_PAGE)
    assert receipt.status is AuditStatus.DROPPED
    assert isinstance(receipt.error, EnqueueError) and "over Segment's 32 KB limit" in str(receipt.error)
    assert _status(sqlite_store, receipt.message_id) == "dropped"
    client.flush()
    assert collector.received() == []


def test_raise_errors_raises_for_a_message_that_context_takes_over_32kb(
    sqlite_store: AuditStore, make_client: Any
) -> None:
    client = make_client(sqlite_store, raise_errors=True)
    with pytest.raises(EnqueueError, match="over Segment's 32 KB limit"):
        client.identify(CATALOG.identifier("Register").example_spec(), context=LONG_PAGE)


def _context_taking(spec: Any, actor: str | None, size: int) -> dict[str, Any]:
    """A host `context=` that makes the message `size` bytes as the Segment client counts them, of DEL
    characters: the character its JSON makes the most of (`\\u007f`, 6 bytes for 1)."""
    base = message_size(build_message(spec, actor=actor, context={"page": {"title": ""}}))
    dels, rest = divmod(size - base, 6)
    return {"page": {"title": "\x7f" * dels + "x" * rest}}


@pytest.mark.parametrize("actor", [None, "a" * 15_000], ids=["small", "rest-near-half"])
@pytest.mark.parametrize("over", [0, 1], ids=["at-the-limit", "one-byte-over"])
def test_a_message_that_context_takes_just_over_32kb_is_refused_and_one_at_32kb_is_sent(
    sqlite_store: AuditStore, make_client: Any, collector: Collector, actor: str | None, over: int
) -> None:
    """The batched path bounds the host's context by the JSON text its check wrote, times the most the
    Segment client's escaping makes of a byte: a bound too low let a message of DELs through as
    `pending`, to be dropped on the writer's thread; with the rest of the message (an actor) near half
    the limit, any factor under 6 did."""
    client = make_client(sqlite_store)
    spec = _example("ProjectCreate")
    receipt = client.track(spec, actor=actor, context=_context_taking(spec, actor, MAX_MESSAGE_SIZE + over))
    assert message_size(receipt.message) == MAX_MESSAGE_SIZE + over
    if over:
        assert receipt.status is AuditStatus.DROPPED and isinstance(receipt.error, EnqueueError)
        assert "over Segment's 32 KB limit" in str(receipt.error)
    else:
        assert receipt.ok and receipt.status is AuditStatus.PENDING
    client.flush()
    assert _status(sqlite_store, receipt.message_id) == ("dropped" if over else "delivered")
    assert collector.received() == ([] if over else [receipt.message])


def test_full_queue_drops_with_a_reason_in_the_strict_receipt(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    collector.inject(None, latency=1.0)
    client = make_client(sqlite_store, strict=True, max_queue_size=1, upload_size=1)
    receipts = [client.track(_example("ProjectCreate")) for _ in range(6)]
    dropped = [r for r in receipts if r.status is AuditStatus.DROPPED]
    assert len(dropped) >= 3
    assert all(isinstance(r.error, EnqueueError) and "queue is full" in str(r.error) for r in dropped)
    client.flush()
    for receipt in receipts:
        expected = "dropped" if receipt in dropped else "delivered"
        assert _status(sqlite_store, receipt.message_id) == expected


def test_full_queue_drops_with_a_reason_in_the_log_when_batched(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    told: list[tuple[Exception, list[dict[str, Any]]]] = []
    collector.inject(None, latency=1.0)
    client = make_client(
        sqlite_store,
        max_queue_size=2,
        upload_size=1,
        on_error=lambda error, batch: told.append((error, batch)),
    )
    receipts = [client.track(_example("ProjectCreate")) for _ in range(8)]
    # Queued for the writer (pending), or written at once when its queue was full too (dropped).
    assert all(r.status in (AuditStatus.PENDING, AuditStatus.DROPPED) for r in receipts)
    client.flush()
    entries = [sqlite_store.entry(r.message_id) for r in receipts]
    assert all(entry is not None for entry in entries)
    dropped = [e for e in entries if e is not None and e.status == "dropped"]
    assert dropped and all("queue is full" in (e.error or "") for e in dropped)
    delivered = {e.message_id for e in entries if e is not None and e.status == "delivered"}
    assert len(dropped) + len(delivered) == len(receipts)
    assert {m["messageId"] for m in collector.received()} == delivered
    # Drops found after the call returned (its receipt said pending) are told to on_error.
    late = {r.message_id for r in receipts if r.status is AuditStatus.PENDING} - delivered
    assert late and {m["messageId"] for _, batch in told for m in batch} == late
    assert all(isinstance(error, EnqueueError) for error, _ in told)


def test_unknown_write_key_is_accepted_like_segment_does(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store, write_key="not-a-real-key")
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, receipt.message_id) == "delivered"


def test_wrong_write_key_on_a_strict_collector_fails_with_the_endpoint_error(
    sqlite_store: AuditStore, make_client: Any
) -> None:
    with Collector(write_keys={"the-right-key"}) as strict:
        client = make_client(sqlite_store, write_key="wrong", host=strict.url)
        receipt = client.track(_example("ProjectCreate"))
        client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and (entry.status, entry.http_status) == ("failed", 401)
    assert entry.error is not None and entry.error.startswith("invalid_write_key")


def test_500_then_success_is_retried_and_delivered(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    collector.inject(500, times=1)
    client = make_client(sqlite_store)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, receipt.message_id) == "delivered"
    assert collector.stats.requests == 2
    assert len(collector.received()) == 1


def test_500_until_retries_run_out_is_failed_with_the_status(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    collector.inject(500, times=5)
    client = make_client(sqlite_store)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and (entry.status, entry.http_status) == ("failed", 500)
    [attempt] = sqlite_store.attempts(receipt.message_id)
    assert attempt.outcome == "failed"
    assert attempt.latency_ms is not None and attempt.latency_ms > 0


def test_429_with_retry_after_waits_and_delivers(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    collector.inject(429, retry_after=1, times=1)
    client = make_client(sqlite_store)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, receipt.message_id) == "delivered"
    assert collector.stats.requests == 2


def test_429_until_the_rate_limit_budget_is_spent_is_dropped_with_the_status(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """Messages given up after repeated 429s kept no HTTP status: only "Rate limit duration exceeded"."""
    collector.inject(429, retry_after=2, times=100)
    client = make_client(sqlite_store, max_rate_limit_duration=1)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and (entry.status, entry.http_status) == ("dropped", 429)
    assert entry.error == (
        "Rate limit duration exceeded, batch dropped (after 1 answer of HTTP 429 with Retry-After)"
    )
    [attempt] = sqlite_store.attempts(receipt.message_id)
    assert (attempt.outcome, attempt.http_status) == ("dropped", 429)
    assert collector.stats.requests == 1
    again = client.track(_example("ProjectCreate"))
    client.flush()
    entry = sqlite_store.entry(again.message_id)
    assert (
        entry is not None
        and entry.error is not None
        and entry.error.endswith("(after 1 answer of HTTP 429 with Retry-After)")
    )
    collector.clear_faults()
    after = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, after.message_id) == "delivered"


def test_collector_down_is_failed_with_the_network_error(sqlite_store: AuditStore, make_client: Any) -> None:
    with Collector() as gone:
        url = gone.url
    client = make_client(sqlite_store, host=url)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == "failed" and entry.http_status is None
    host = url.removeprefix("http://")
    assert entry.error == f"ConnectionError: could not connect to {host} (Connection refused)"
    assert not may_have_arrived(entry.error)
    [attempt] = sqlite_store.attempts(receipt.message_id)
    assert attempt.latency_ms is not None and attempt.latency_ms > 0


def test_a_connection_closed_after_the_request_is_failed_but_may_have_arrived(
    sqlite_store: AuditStore, make_client: Any
) -> None:
    """The endpoint read the batch whole, then closed without answering (a load balancer resetting
    after its backend took it): the message may be in Segment, so the entry must not say it could
    not connect, which tells the on-call it never arrived."""
    with ClosingServer() as endpoint:
        client = make_client(sqlite_store, host=f"http://{endpoint.host}")
        receipt = client.track(_example("ProjectCreate"))
        client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and (entry.status, entry.http_status) == ("failed", None)
    assert receipt.message_id.encode() in endpoint.bodies[0]
    assert entry.error == (
        f"ConnectionError: the connection to {endpoint.host} closed before an answer "
        "(Remote end closed connection without response), so it may have received the request all the same"
    )
    assert may_have_arrived(entry.error)


def test_a_connection_reset_after_the_request_says_the_request_may_have_arrived() -> None:
    with ClosingServer(reset=True) as endpoint, pytest.raises(requests.ConnectionError) as caught:
        requests.post(f"http://{endpoint.host}/v1/batch", json={"batch": [{"messageId": "m1"}]}, timeout=5)
    assert endpoint.bodies == [b'{"batch": [{"messageId": "m1"}]}']
    line = describe_network_error(caught.value)
    assert line == (
        f"ConnectionError: the connection to {endpoint.host} closed before an answer "
        "(Connection reset by peer), so it may have received the request all the same"
    )
    assert may_have_arrived(line)


def test_sync_mode_reports_the_outcome_in_the_receipt(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store, sync_mode=True)
    delivered = client.track(_example("ProjectCreate"))
    assert delivered.status is AuditStatus.DELIVERED and delivered.ok
    collector.inject(503, times=1)
    failed = client.track(_example("ProjectCreate"))
    assert failed.status is AuditStatus.FAILED
    assert isinstance(failed.error, DeliveryError) and failed.error.http_status == 503
    assert _status(sqlite_store, failed.message_id) == "failed"


def test_without_a_write_key_messages_are_audited_disabled_and_not_sent(
    sqlite_store: AuditStore, make_client: Any, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(sqlite_store, write_key=None)
    receipt = client.track(_example("ProjectCreate"))
    assert receipt.status is AuditStatus.DISABLED and receipt.ok
    client.flush()
    assert _status(sqlite_store, receipt.message_id) == "disabled"
    assert "no Segment write key" in caplog.text
    assert collector.received() == []


def test_an_unwritable_audit_log_means_nothing_is_sent(
    empty_database_url: str, make_client: Any, collector: Collector
) -> None:
    from analytics.audit import create_audit_engine

    engine = create_audit_engine(empty_database_url)
    client = make_client(AuditStore(engine), strict=True)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    engine.dispose()
    assert receipt.status is None
    assert isinstance(receipt.error, AuditWriteError)
    assert collector.received() == []


@pytest.mark.parametrize("strict", [True, False])
def test_a_sqlite_file_deleted_while_the_process_runs_is_not_written_to_and_nothing_is_sent(
    sqlite_url: str,
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    strict: bool,
) -> None:
    """Writes went on succeeding into the deleted file, gone when the process ended, and every
    message went on to Segment: an audit log that held nothing, with no word said."""
    reported: list[Exception] = []
    client = make_client(
        sqlite_store,
        strict=strict,
        audit_retry_delays=(0.01,),
        on_error=lambda error, _: reported.append(error),
    )
    assert client.track(_example("ProjectCreate")).ok
    client.flush()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    receipt = client.track(_example("ProjectCreate"))
    client.flush()
    # Said by the receipt in strict mode; by the writer's log line before its retry otherwise, whose
    # new connection then finds no file.
    said = str(receipt.error) if strict else caplog.text
    assert f"the SQLite database {path} was deleted or replaced while this process had it open" in said
    later = client.track(_example("ProjectCreate"))
    client.flush()
    refusals = [later.error] if strict else reported
    assert refusals and all(isinstance(error, AuditWriteError) for error in refusals)
    assert f"no SQLite database at {path}" in str(refusals[-1])
    assert len(collector.received()) == 1


def test_a_batch_the_audit_log_refuses_is_not_sent_and_goes_to_on_error(
    empty_database_url: str, make_client: Any, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    from analytics.audit import create_audit_engine

    reported: list[tuple[Exception, list[dict[str, Any]]]] = []
    engine = create_audit_engine(empty_database_url)
    client = make_client(
        AuditStore(engine),
        audit_retry_delays=(0.01,),
        on_error=lambda error, batch: reported.append((error, batch)),
    )
    receipts = [client.track(_example("ProjectCreate")) for _ in range(3)]
    client.flush()
    engine.dispose()
    assert all(r.status is AuditStatus.PENDING for r in receipts)
    sent_to_on_error = [m["messageId"] for error, batch in reported for m in batch]
    assert sorted(sent_to_on_error) == sorted(r.message_id for r in receipts)
    assert all(isinstance(error, AuditWriteError) for error, _ in reported)
    assert "not audited, not sent" in caplog.text
    assert collector.received() == []


def test_a_raising_on_error_handler_does_not_stop_delivery(
    sqlite_store: AuditStore, make_client: Any, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler runs on the Segment consumer's thread: its exception ended that thread, so every
    later message stayed `pending` and `flush()` never returned."""

    def broken(error: Exception, batch: list[dict[str, Any]]) -> None:
        raise RuntimeError("bug in the host's on_error handler")

    collector.inject(400)
    client = make_client(sqlite_store, on_error=broken)
    refused = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, refused.message_id) == "failed"
    assert "the on_error handler failed on 1 messages" in caplog.text
    assert "bug in the host's on_error handler" in caplog.text
    assert client.segment is not None and all(c.is_alive() for c in client.segment.consumers)
    later = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, later.message_id) == "delivered"


def test_a_raising_on_error_handler_told_of_a_refused_message_is_logged_as_the_handler_s(
    sqlite_store: AuditStore, make_client: Any, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Told on the audit writer's thread of a message the Segment client refused (over 32 KB), the
    handler's exception was logged as "the audit writer failed on a batch of 1"."""

    def broken(error: Exception, batch: list[dict[str, Any]]) -> None:
        raise RuntimeError("bug in the host's on_error handler")

    client = make_client(sqlite_store, on_error=broken)
    oversized = client.track(_example("ProjectCreate"), actor="x" * 40_000)
    client.flush()
    assert _status(sqlite_store, oversized.message_id) == "dropped"
    assert "the on_error handler failed on 1 messages the Segment client refused" in caplog.text
    assert "the audit writer failed" not in caplog.text
    later = client.track(_example("ProjectCreate"))
    client.flush()
    assert _status(sqlite_store, later.message_id) == "delivered"


def test_a_reused_message_id_is_refused_alone_and_its_batch_is_written(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    reported: list[list[dict[str, Any]]] = []
    client = make_client(sqlite_store, on_error=lambda error, batch: reported.append(batch))
    first = client.track(_example("ProjectCreate"))
    client.flush()
    receipts = [client.track(_example("ProjectCreate")) for _ in range(3)]
    again = client.track(_example("ProjectCreate"), message_id=first.message_id)
    receipts += [client.track(_example("ProjectCreate")) for _ in range(3)]
    client.flush()
    assert [m["messageId"] for batch in reported for m in batch] == [again.message_id]
    assert all(_status(sqlite_store, r.message_id) == "delivered" for r in receipts)
    received = [m["messageId"] for m in collector.received()]
    assert sorted(received) == sorted([first.message_id] + [r.message_id for r in receipts])


def test_module_functions_before_init_return_an_error_instead_of_raising() -> None:
    analytics.shutdown()
    receipt = analytics.track(_example("ProjectCreate"))
    assert receipt.status is None and isinstance(receipt.error, NotInitializedError)


def test_calls_without_a_client_are_logged_once_and_refused_in_every_receipt(
    sqlite_store: AuditStore, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call before `init()` logged a WARNING: a web app serving requests before it flooded its
    log. Once now, until the next `init()`: after its `shutdown()` the first call is logged again."""

    def calls() -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="analytics"):
            receipts = [analytics.track(_example("ProjectCreate")) for _ in range(3)]
            receipts.append(analytics.identify(CATALOG.identifier("Register").example_spec()))
        assert all(isinstance(receipt.error, NotInitializedError) for receipt in receipts)
        return [record.getMessage() for record in caplog.records if record.name == "analytics"]

    logged_once = [
        "analytics.shutdown() ended the client: New Project Event not audited, not sent, nor any later "
        "call until init() (logged once: each receipt carries a NotInitializedError)"
    ]
    for _ in range(2):
        analytics.init(database_url=sqlite_url)
        analytics.shutdown()
        assert calls() == logged_once
        assert calls() == []


def test_a_call_before_any_init_says_init_was_not_called(
    sqlite_store: AuditStore,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """And one after `shutdown()` says that instead: it sent people looking for a missing `init()`."""
    monkeypatch.setattr(analytics, "_shut_down", False)
    monkeypatch.setattr(analytics, "_warned_uninitialised_in", None)
    with caplog.at_level(logging.WARNING, logger="analytics"):
        before = analytics.track(_example("ProjectCreate"))
    assert str(before.error) == "call analytics.init() first"
    assert caplog.messages[0].startswith("analytics.init() was not called: New Project Event not audited")
    analytics.init(database_url=sqlite_url)
    analytics.shutdown()
    after = analytics.track(_example("ProjectCreate"))
    assert str(after.error) == "analytics.shutdown() ended the client: call analytics.init() first"


def _misuse() -> list[Any]:
    """Calls no configuration makes right, each with the whole error it gets."""
    track, identify = _example("ProjectCreate"), CATALOG.identifier("Register").example_spec()
    said = "track() takes a track spec (from analytics.tracks), got "
    return [
        ("track", "Cluster Provisioning Success", {}, said + "str 'Cluster Provisioning Success'"),
        ("track", None, {}, said + "None"),
        ("track", {"event": "Project Create"}, {}, said + "dict {'event': 'Project Create'}"),
        ("track", type(track), {}, said + "the class ProjectCreate: build one with its scope and properties"),
        ("track", identify, {}, said + "RegisterIdentify, an identify spec: send it with identify()"),
        (
            "identify",
            track,
            {},
            "identify() takes an identify spec (from analytics.identifiers), got ProjectCreate, "
            "a track spec: send it with track()",
        ),
        ("track", track, {"timestamp": "yesterday"}, "timestamp must be a datetime, got str 'yesterday'"),
    ]


@pytest.mark.parametrize(("call", "argument", "options", "said"), _misuse())
@pytest.mark.parametrize("mode", ["before init", "batched", "strict"])
def test_a_call_that_cannot_be_right_raises_a_type_error_that_says_why(
    sqlite_store: AuditStore,
    make_client: Any,
    collector: Collector,
    call: str,
    argument: Any,
    options: dict[str, Any],
    said: str,
    mode: str,
) -> None:
    """Not an analytics failure but a mistake in the calling code, with no message to put in a
    receipt: it was an AttributeError from inside (`'str' object has no attribute 'traits'`), and an
    identify spec given to track was sent as an identify."""
    analytics.shutdown()
    client = None if mode == "before init" else make_client(sqlite_store, strict=mode == "strict")
    with pytest.raises(TypeError) as caught:
        getattr(client or analytics, call)(argument, **options)
    assert str(caught.value) == said
    if client is not None:
        client.flush()
    with sqlite_store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert collector.received() == []


@pytest.mark.parametrize("call", ["flush", "shutdown"])
@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        ("5", TypeError),
        (True, TypeError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (0, ValueError),
        (-1, ValueError),
    ],
    ids=["text", "bool", "nan", "inf", "zero", "negative"],
)
def test_a_timeout_that_cannot_work_is_refused_before_anything_changes(
    sqlite_store: AuditStore,
    sqlite_url: str,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    call: str,
    timeout: Any,
    error: type[Exception],
) -> None:
    """`shutdown("5")` raised a TypeError from inside after the client had begun to shut down, so it
    refused every later message; `flush(nan)` never gave up, and `flush(0)` logged that the audit
    writer had made no progress for 0s, its messages lost."""
    said = (
        f"{call}() timeout: must be a finite number of seconds without progress, more than 0 "
        f"(None: no limit), not {timeout!r}"
    )
    client = analytics.init("test-key", host=collector.url, database_url=sqlite_url, **FAST_BUDGETS)
    try:
        receipt = analytics.track(_example("ProjectCreate"))
        for target in (client, analytics):
            with pytest.raises(error) as caught:
                getattr(target, call)(timeout)
            assert str(caught.value) == said
        later = analytics.track(_example("ProjectCreate"))
        assert later.ok and later.status is AuditStatus.PENDING
        analytics.flush()
    finally:
        analytics.shutdown()
    with pytest.raises(error, match=r"timeout: must be"):
        getattr(analytics, call)(timeout)  # without a client too
    assert [_status(sqlite_store, r.message_id) for r in (receipt, later)] == ["delivered"] * 2
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_init_reads_the_environment_and_the_original_key_name(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMENT_CLIENT_KEY", "original-name")
    monkeypatch.setenv("SEGMENT_HOST", collector.url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    client = analytics.init(upload_interval=0.05)
    try:
        receipt = analytics.track(_example("ProjectCreate"))
        analytics.flush()
        assert client.store.entry(receipt.message_id).status == "delivered"  # type: ignore[union-attr]
        assert collector.entries()[0].key_fingerprint != "original-name"
    finally:
        analytics.shutdown()


def test_init_refuses_bad_settings_as_the_dashboard_does_all_at_once(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SEGMENT_HOST without a scheme was taken, and every message then failed with InvalidSchema."""
    monkeypatch.setenv("SEGMENT_HOST", "collector:5100")
    monkeypatch.setenv("AUDIT_STRICT", "maybe")
    with pytest.raises(ValueError) as caught:
        analytics.init("key", database_url=sqlite_url)
    assert str(caught.value).splitlines() == [
        "SEGMENT_HOST: 'collector:5100' is not an http(s) URL, e.g. https://api.segment.io",
        "AUDIT_STRICT: must be true or false, not 'maybe'",
    ]
    monkeypatch.delenv("SEGMENT_HOST")
    monkeypatch.delenv("AUDIT_STRICT")
    with pytest.raises(ValueError, match=r"^'collector:5100' is not an http\(s\) URL"):
        analytics.init("key", host="collector:5100", database_url=sqlite_url)


def test_init_refuses_its_own_arguments_that_cannot_work_before_it_opens_anything(tmp_path: Any) -> None:
    """`source="cron"` was written to the log (and the dashboard's filter then answered 400),
    `strict="no"` turned strict mode on, `thread=0` left `flush()` waiting for ever, and a misspelt
    keyword was a TypeError from the Segment client's `Client.__init__` after the engine was made."""
    missing = f"sqlite:///{tmp_path / 'missing.db'}"  # any use of it would be an AuditDatabaseError
    with pytest.raises(ConfigurationError) as caught:
        analytics.init(
            "key", database_url=missing, source="cron", strict="no", mask_personal_data=0, thread=0
        )
    assert str(caught.value).splitlines() == [
        "source: 'cron' is not a source the audit log knows "
        "(application, tester, replay, dashboard, retention)",
        "strict: must be True or False, not 'no'",
        "mask_personal_data: must be True or False, not 0",
        "thread: must be a whole number of sending threads, 1 or more, not 0",
    ]
    with pytest.raises(TypeError, match=r"^init\(\) got an unexpected keyword argument 'max_retry' "):
        analytics.init("key", database_url=missing, max_retry=1)
    with pytest.raises(TypeError, match=r"^init\(\) got an unexpected keyword argument 'owns_engine'$"):
        analytics.init("key", database_url=missing, owns_engine=False)
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"max_batch": 0},
            "max_batch: must be a whole number of messages per audit transaction, 1 or more, not 0",
        ),
        (
            {"max_queue_size": 0},
            "max_queue_size: must be a whole number of messages the Segment queue holds, 1 or more, not 0",
        ),
        (
            {"upload_size": 2.5},
            "upload_size: must be a whole number of messages per batch, 1 or more, not 2.5",
        ),
        ({"max_retries": -1}, "max_retries: must be a whole number of retries, 0 or more, not -1"),
        (
            {"upload_interval": 0},
            "upload_interval: must be a number of seconds between uploads, more than 0, not 0",
        ),
        (
            {"timeout": "15"},
            "timeout: must be a number of seconds to wait for the endpoint, more than 0, not '15'",
        ),
        (
            {"audit_retry_delays": "1,2"},
            "audit_retry_delays: must be waits in seconds, 0 or more each, not '1,2'",
        ),
        (
            {"audit_retry_delays": (0.1, -1)},
            "audit_retry_delays: must be waits in seconds, 0 or more each, not (0.1, -1)",
        ),
    ],
)
def test_numeric_options_that_cannot_work_are_refused_by_init_and_the_client(
    sqlite_store: AuditStore, tmp_path: Any, options: dict[str, Any], problem: str
) -> None:
    """`max_queue_size=0` made the Segment queue unbounded (no back-pressure), `upload_interval=0` a busy
    loop, and a delay of -1 a ValueError from `time.sleep` on the writer thread the first time it retried."""
    with pytest.raises(ConfigurationError) as direct:
        AnalyticsClient("key", store=sqlite_store, **options)
    with pytest.raises(ConfigurationError) as through_init:
        analytics.init("key", database_url=f"sqlite:///{tmp_path / 'missing.db'}", **options)
    assert direct.value.problems == through_init.value.problems == [problem]


def test_an_on_error_that_cannot_be_called_is_refused_by_init_and_the_client(
    sqlite_store: AuditStore, tmp_path: Any
) -> None:
    """`on_error="not callable"` was taken; every message not delivered then logged a traceback of
    "the on_error handler failed … 'str' object is not callable", far from the `init()` that caused it."""
    problem = "on_error: must be a function called with (error, messages), not 'not callable'"
    with pytest.raises(ConfigurationError) as direct:
        AnalyticsClient("key", store=sqlite_store, on_error="not callable")
    with pytest.raises(ConfigurationError) as through_init:
        analytics.init("key", database_url=f"sqlite:///{tmp_path / 'missing.db'}", on_error="not callable")
    assert direct.value.problems == through_init.value.problems == [problem]
    AnalyticsClient(None, store=sqlite_store, on_error=None).shutdown()


def test_a_client_built_directly_refuses_what_init_refuses_before_it_starts_a_thread(
    sqlite_store: AuditStore, tmp_path: Any
) -> None:
    """`AnalyticsClient(...)` took `source="cron"`, `strict="no"` and `thread=0` that `init()`
    refuses, started its audit writer on them, and ignored a misspelt keyword without a write key."""
    bad = {"source": "cron", "strict": "no", "thread": 0}
    before = threading.enumerate()
    with pytest.raises(ConfigurationError) as direct:
        AnalyticsClient("key", store=sqlite_store, **bad)
    assert threading.enumerate() == before
    with pytest.raises(ConfigurationError) as through_init:
        analytics.init("key", database_url=f"sqlite:///{tmp_path / 'missing.db'}", **bad)
    assert direct.value.problems == through_init.value.problems
    assert str(direct.value).splitlines() == [
        "source: 'cron' is not a source the audit log knows "
        "(application, tester, replay, dashboard, retention)",
        "strict: must be True or False, not 'no'",
        "thread: must be a whole number of sending threads, 1 or more, not 0",
    ]
    with pytest.raises(
        TypeError,
        match=r"^AnalyticsClient\(\) got an unexpected keyword argument 'sttrict' "
        r"\(did you mean 'strict'\?\)$",
    ):
        AnalyticsClient(None, store=sqlite_store, sttrict=True)
    with pytest.raises(TypeError, match=r"^AnalyticsClient\(\) got an unexpected keyword argument 'mask_"):
        AnalyticsClient(None, store=sqlite_store, mask_personal_data=False)  # init's own: a store's
    assert threading.enumerate() == before


def test_init_takes_every_option_it_documents(sqlite_store: AuditStore, sqlite_url: str) -> None:
    """The check knows the options `init` passes on: its own, the client's and the Segment client's."""
    client = analytics.init(
        "key",
        database_url=sqlite_url,
        source="tester",
        strict=None,
        raise_errors=False,
        mask_personal_data=True,
        thread=2,
        max_retries=1,
        max_queue_size=50,
        upload_interval=0.05,
        on_error=print,
        max_batch=10,
    )
    analytics.shutdown()
    assert (client.source, client.raise_errors, client.writer is not None) == ("tester", False, True)


def test_init_refuses_the_public_audit_keys_in_production_as_the_dashboard_does(
    sqlite_store: AuditStore, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They fell back to the public default, so the chain could be recomputed and masks guessed. The
    host is told to use the dashboard's keys: it was told to make new ones, which key nothing the
    dashboard reads."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AUDIT_MASK_KEY", "")
    with pytest.raises(ValueError) as caught:
        analytics.init("key", database_url=sqlite_url)
    assert str(caught.value).splitlines() == HOST_AUDIT_KEY_LINES
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "x")
    monkeypatch.setenv("AUDIT_MASK_KEY", "mask-secret-of-16")
    with pytest.raises(ValueError) as caught:
        analytics.init("key", database_url=sqlite_url)
    assert str(caught.value).splitlines() == HOST_AUDIT_KEY_LINES[:1]
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "mask-secret-of-16")
    with pytest.raises(ValueError) as caught:
        analytics.init("key", database_url=sqlite_url)
    assert str(caught.value).splitlines() == [
        "AUDIT_MASK_KEY: must differ from AUDIT_CHAIN_KEY (give each secret its own value)"
    ]
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "chain-secret-of-16")
    client = analytics.init(database_url=sqlite_url)
    analytics.shutdown()
    assert (client.store.chain_key, client.store.mask_key) == (b"chain-secret-of-16", b"mask-secret-of-16")


def test_init_without_app_env_warns_that_it_uses_the_public_audit_keys(
    sqlite_store: AuditStore,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An application host may not set APP_ENV: it starts, but not silently."""
    monkeypatch.delenv("APP_ENV")
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "chain-secret")
    with caplog.at_level(logging.WARNING, logger="analytics"):
        analytics.init(database_url=sqlite_url)
        analytics.shutdown()
    [warning] = [record.getMessage() for record in caplog.records if record.name == "analytics"]
    assert warning.startswith(
        "AUDIT_MASK_KEY is left at the public default key, which APP_ENV=production refuses "
        "(it keys the masks"
    )
    caplog.clear()
    monkeypatch.setenv("APP_ENV", "development")
    analytics.init(database_url=sqlite_url)
    analytics.shutdown()
    assert [record for record in caplog.records if record.name == "analytics"] == []


def test_init_refuses_an_unmigrated_database_with_one_clear_message(tmp_path: Any) -> None:
    (tmp_path / "fresh.db").touch()
    with pytest.raises(SchemaError, match="run `event-catalog db upgrade`"):
        analytics.init("key", database_url=f"sqlite:///{tmp_path / 'fresh.db'}")


def test_an_oversized_message_whose_payload_is_small_is_still_dropped_with_the_reason(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store)
    receipt = client.track(_example("ProjectCreate"), actor="a" * 40_000)
    assert receipt.status is AuditStatus.PENDING  # the batched path measures large payloads only
    client.flush()
    entry = sqlite_store.entry(receipt.message_id)
    assert entry is not None and entry.status == "dropped" and "32 KB" in (entry.error or "")
    assert collector.received() == []


def test_a_forked_worker_writes_through_its_own_audit_writer(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """A pre-forking server's worker inherits a batched client: its calls are audited, once."""
    import os

    client = make_client(sqlite_store, write_key=None)
    parent = client.track(_example("ProjectCreate"))
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            assert client.writer is not None and client.writer.running
            child = client.track(_example("ProjectCreate"))
            client.flush()
            code = 0 if sqlite_store.entry(child.message_id) is not None else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.flush()
    assert _status(sqlite_store, parent.message_id) == "disabled"
    with sqlite_store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditEntry)) == 2


def test_a_call_while_the_writer_closes_is_written_on_the_callers_thread(
    sqlite_store: AuditStore, make_client: Any, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer is busy with a batch when close() is called; a call arriving then must not land
    # behind the stop sign, where no thread would ever write it.
    writing, release = threading.Event(), threading.Event()
    record_many = sqlite_store.record_many

    def slow_record_many(records: Any) -> None:
        if not writing.is_set():  # only the writer's first batch waits
            writing.set()
            release.wait(10)
        record_many(records)

    monkeypatch.setattr(sqlite_store, "record_many", slow_record_many)
    client = make_client(sqlite_store)
    first = client.track(_example("ProjectCreate"))
    assert writing.wait(10)
    assert client.writer is not None
    closing = threading.Thread(target=client.writer.close)
    closing.start()
    while not client.writer._closed:
        time.sleep(0.001)
    late = client.track(_example("ProjectCreate"))
    release.set()
    closing.join(10)
    client.flush()
    assert late.ok and late.status is AuditStatus.PENDING
    assert _status(sqlite_store, first.message_id) == "delivered"
    assert _status(sqlite_store, late.message_id) == "delivered"


def test_a_message_that_cannot_be_written_is_lost_alone_and_said_so(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    reported: list[tuple[Exception, list[dict[str, Any]]]] = []
    client = make_client(sqlite_store, on_error=lambda error, batch: reported.append((error, batch)))
    spec = _example("ProjectCreate")
    broken = build_message(spec)
    broken["context"]["unencodable"] = object()  # what JSON cannot write
    receipts = [client.track(spec), client.deliver(broken), client.track(spec)]
    client.flush()
    assert [_status(sqlite_store, receipts[n].message_id) for n in (0, 2)] == ["delivered", "delivered"]
    assert sqlite_store.entry(receipts[1].message_id) is None
    [(error, batch)] = reported
    assert isinstance(error, AuditWriteError) and "not JSON serializable" in str(error)
    assert [message["messageId"] for message in batch] == [receipts[1].message_id]
    assert sorted(m["messageId"] for m in collector.received()) == sorted(
        receipts[n].message_id for n in (0, 2)
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "Out of range float values are not JSON compliant"),
        ("nul\x00byte", "cannot be converted to text"),
    ],
)
def test_a_value_the_database_refuses_loses_that_message_alone_on_both_databases(
    store: AuditStore, make_client: Any, collector: Collector, value: Any, reason: str
) -> None:
    """A NaN no JSON can hold, a NUL PostgreSQL cannot store (SQLite can: that one is delivered):
    either way the other messages of the batch are audited and sent, and the one refused is said."""
    refused_here = isinstance(value, float) or store.engine.dialect.name == "postgresql"
    reported: list[tuple[Exception, list[dict[str, Any]]]] = []
    client = make_client(store, on_error=lambda error, batch: reported.append((error, batch)))
    spec = _example("ProjectCreate")
    broken = build_message(spec)
    broken["properties"]["note"] = value
    receipts = [client.track(spec) for _ in range(9)] + [client.deliver(broken)]
    receipts += [client.track(spec) for _ in range(10)]
    client.flush()
    good = [receipt for n, receipt in enumerate(receipts) if n != 9]
    assert {_status(store, receipt.message_id) for receipt in good} == {"delivered"}
    received = {message["messageId"] for message in collector.received()}
    assert received >= {receipt.message_id for receipt in good}
    if not refused_here:
        assert reported == [] and receipts[9].message_id in received
        return
    assert store.entry(receipts[9].message_id) is None and receipts[9].message_id not in received
    [(error, batch)] = reported
    assert isinstance(error, AuditWriteError)
    assert str(error).startswith("message cannot be audited: ") and reason in str(error)
    assert "INSERT" not in str(error)
    assert [message["messageId"] for message in batch] == [receipts[9].message_id]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ada\x00@example.com", r"text cannot contain a NUL character \(\\u0000\)"),
        ("ada\ud800@example.com", r"text cannot contain a surrogate code point \(\\ud800\)"),
        (b"caf\xe9".decode("utf-8", "surrogateescape"), r"surrogate code point \(\\udce9\)"),
    ],
)
def test_text_the_audit_log_cannot_store_is_refused_when_the_spec_is_built(text: str, reason: str) -> None:
    """A lone surrogate passed the spec as NUL once did: in batched mode the receipt said `pending`,
    then the audit writer failed to encode it and the message was neither audited nor sent."""
    from pydantic import ValidationError

    from analytics.identifiers import ProfileUpdateIdentify
    from analytics.scopes import ProjectScope, UserScope
    from analytics.tracks import CloudProvider, ClusterPreflightChecksFailed, UserCreate

    user = UserScope(user_id=1)
    with pytest.raises(ValidationError, match=reason):
        UserCreate(scope=user, email=text)
    with pytest.raises(ValidationError, match=reason):
        ProfileUpdateIdentify(scope=user, email="ada@example.com", company_name=text)
    with pytest.raises(ValidationError, match=reason):
        ClusterPreflightChecksFailed(
            scope=ProjectScope(user_id=1, project_id=2),
            cloud_provider=CloudProvider.AWS,
            failed_checks=[text],
        )


@pytest.mark.parametrize("account", ["１２３４５６７８９０１２", "١٢٣٤٥٦٧٨٩٠١٢", "12345678901"])
def test_an_aws_account_id_is_twelve_ascii_digits(account: str) -> None:
    """`\\d` in the spec's pattern took any script's digits: fullwidth and Arabic-Indic ones were sent
    as on-schema."""
    from pydantic import ValidationError

    from analytics.scopes import ProjectScope
    from analytics.tracks import AWSInputted

    with pytest.raises(ValidationError, match="String should match pattern"):
        AWSInputted(scope=ProjectScope(user_id=1, project_id=2), aws_account_id=account)


def test_a_nul_character_in_a_scope_name_is_refused_when_the_scope_is_built() -> None:
    """An application's names are text too: a NUL there reached the audit writer, which PostgreSQL
    refuses, as one in a property did before the spec refused it."""
    from pydantic import ValidationError

    names = {"user_id": 1, "project_id": 2, "cluster_id": 3, "app_name": "web", "app_namespace": "default"}
    with pytest.raises(ValidationError, match=r"chart_name\n.*text cannot contain a NUL character"):
        ApplicationScope(**names, chart_name="we\x00b")


def test_a_message_that_cannot_be_written_is_an_error_receipt_in_strict_mode(
    sqlite_store: AuditStore, make_client: Any, collector: Collector
) -> None:
    client = make_client(sqlite_store, strict=True)
    broken = build_message(_example("ProjectCreate"))
    broken["context"]["unencodable"] = object()
    receipt = client.deliver(broken)
    assert receipt.status is None and isinstance(receipt.error, AuditWriteError)
    assert "cannot be audited" in str(receipt.error)
    assert sqlite_store.entry(receipt.message_id) is None
    assert collector.received() == []


def test_a_request_without_an_answer_is_described_in_one_line() -> None:
    """A listener that never answers: the read times out, and the line says where and why."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(requests.ReadTimeout) as caught:
            requests.post(f"http://{host}/v1/batch", json={}, timeout=0.2)
    line = describe_network_error(caught.value)
    assert line.startswith(f"ReadTimeout: {host} did not answer within the timeout")
    assert "\n" not in line and "object at 0x" not in line
