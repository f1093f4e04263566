"""Facts of segment-analytics-python that our wrapper relies on: this fails if the library changes.

See shared/reference/segment-client-notes.md; each test names the fact it pins.
"""

from __future__ import annotations

import inspect
import queue
from datetime import datetime

import pytest
from segment.analytics import Client
from segment.analytics.consumer import MAX_MSG_SIZE, Consumer
from segment.analytics.version import VERSION

from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message


def test_version_is_in_the_pinned_range() -> None:
    major, minor = (int(part) for part in VERSION.split(".")[:2])
    assert (major, minor) == (2, 4)


def test_our_message_is_exactly_what_the_client_enqueues() -> None:
    """messages.build_message mirrors Client._enqueue's normalisation, key for key."""
    client = Client("key", send=False, thread=0)
    for info in [*CATALOG.events.values(), *CATALOG.identifiers.values()]:
        ours = build_message(info.example_spec(), actor="ada", test=True)
        common = {
            "user_id": ours["userId"],
            "context": {k: v for k, v in ours["context"].items() if k != "library"},
            "timestamp": datetime.fromisoformat(ours["timestamp"]),
            "message_id": ours["messageId"],
        }
        if info.kind == "track":
            _, theirs = client.track(event=ours["event"], properties=ours["properties"], **common)
        else:
            _, theirs = client.identify(traits=ours["traits"], **common)
        assert theirs == ours


def test_thread_zero_starts_no_consumer_and_leaves_the_attribute_unset() -> None:
    client = Client("key", thread=0, send=False)
    assert not hasattr(client, "consumers")


def test_consumer_request_returns_the_response_on_2xx(collector: Collector) -> None:
    consumer = Consumer(None, "key", host=collector.url, retries=0, timeout=5)
    message = build_message(CATALOG.event("New User").example_spec())
    response = consumer.request([message])
    assert response.status_code == 200
    assert collector.received() == [message]


def test_consumer_constructor_takes_the_settings_we_forward() -> None:
    parameters = set(inspect.signature(Consumer.__init__).parameters)
    assert {
        "upload_size",
        "upload_interval",
        "gzip",
        "retries",
        "timeout",
        "proxies",
        "oauth_manager",
        "max_total_backoff_duration",
        "max_rate_limit_duration",
        "on_error",
        "host",
    } <= parameters


def test_oversized_messages_raise_runtime_error_before_queueing() -> None:
    assert MAX_MSG_SIZE == 32 << 10
    client = Client("key", send=False, thread=0)
    with pytest.raises(RuntimeError):
        client.track(user_id="1", event="Big", properties={"blob": "x" * MAX_MSG_SIZE})


def test_consumers_read_the_queue_the_client_holds() -> None:
    """Our batched path puts built messages on `Client.queue` itself; consumers take them from there."""
    client = Client("key", send=False, thread=0, max_queue_size=3)
    assert isinstance(client.queue, queue.Queue) and client.queue.maxsize == 3
    consumer = Consumer(client.queue, "key")
    message = build_message(CATALOG.event("New User").example_spec())
    client.queue.put_nowait(message)
    assert consumer.next() == [message]


def test_retry_after_waits_are_not_counted_as_retries_and_end_with_the_rate_limit_budget(
    collector: Collector,
) -> None:
    """What the README's quick-shutdown advice rests on: `max_retries` does not shorten the waits an
    endpoint asks for with `Retry-After`; `max_rate_limit_duration` does, then the batch is given up."""
    message = build_message(CATALOG.event("New User").example_spec())
    given_up: list[Exception] = []
    waits: queue.Queue[dict[str, object]] = queue.Queue()
    consumer = Consumer(waits, "key", host=collector.url, retries=0, on_error=lambda e, _: given_up.append(e))
    collector.inject(429, retry_after=1, times=2)
    waits.put(message)
    for _ in range(3):  # answered 429, 429 (each waited out), then 200
        consumer.upload()
    assert (collector.received(), given_up) == ([message], [])

    collector.reset()
    short = Consumer(
        waits, "key", host=collector.url, max_rate_limit_duration=1, on_error=lambda e, _: given_up.append(e)
    )
    collector.inject(429, retry_after=5)
    waits.put(message)
    short.upload()  # 429: the batch goes back on the queue
    short.upload()  # a 5 s wait does not fit the 1 s budget: given up without waiting
    assert [str(error) for error in given_up] == ["Rate limit duration exceeded, batch dropped"]
    assert collector.received() == [] and waits.empty()
