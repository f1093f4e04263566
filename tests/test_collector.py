"""Tests for the local Segment-compatible collector.

Everything goes over real HTTP: raw requests with ``requests``, and the real
``segment-analytics-python`` client (sync and async) pointed at the collector, so that
a change in either side that breaks the pairing fails here. Nothing is mocked.
"""

import base64
import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from segment.analytics import Client
from segment.analytics.request import APIError, post

from analytics.collector import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, Collector, key_fingerprint

WRITE_KEY = "collector-test-key"

# Small budgets so that a failing test fails in seconds, not in the client's 12 hours.
FAST_CLIENT = {"upload_interval": 0.05, "max_retries": 2, "timeout": 2}


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A collector on a free port, accepting any write key."""
    with Collector() as running:
        yield running


@pytest.fixture
def make_client(collector: Collector) -> Iterator[Callable[..., Client]]:
    """Build real Segment clients aimed at the collector; their threads are joined after."""
    clients: list[Client] = []

    def make(write_key: str = WRITE_KEY, **options: Any) -> Client:
        client = Client(write_key, host=collector.url, **{**FAST_CLIENT, **options})
        clients.append(client)
        return client

    yield make
    for client in clients:
        if not client.sync_mode:
            client.join()


def send(
    collector: Collector,
    path: str,
    payload: Any = None,
    *,
    key: str | None = WRITE_KEY,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> requests.Response:
    """Make one real HTTP request to the collector; the connection is closed on return."""
    if data is None and payload is not None:
        data = json.dumps(payload).encode()
    auth = (key, "") if key is not None else None
    with requests.Session() as session:
        return session.request(method, collector.url + path, data=data, auth=auth, headers=headers, timeout=5)


def track(message_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid track message."""
    return {"type": "track", "event": "Cluster Created", "userId": "1", "messageId": message_id, **fields}


def padded(size: int) -> dict[str, Any]:
    """A track message whose JSON, measured as the client measures it, is ``size`` bytes."""
    message = track("padded", properties={"pad": ""})
    message["properties"]["pad"] = "x" * (size - len(json.dumps(message).encode()))
    assert len(json.dumps(message).encode()) == size
    return message


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Check a Segment-like JSON error: status, content type, then code and message."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_healthz(collector: Collector) -> None:
    response = send(collector, "/healthz", method="GET")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        Collector().url  # noqa: B018


def test_single_track_from_sync_client_arrives_intact(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    client = make_client(sync_mode=True)
    ok, message = client.track(
        user_id=42, event="Cluster Provisioning Success", properties={"cluster_id": 3, "infra_id": 9}
    )
    assert ok
    assert collector.received() == [message]
    assert collector.stats.batches == 1
    assert collector.stats.messages == 1


def test_async_client_batch_arrives_in_order(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    sent = [client.track(user_id=str(n), event="Project Created", properties={"n": n})[1] for n in range(5)]
    sent.append(client.identify(user_id="5", traits={"plan": "free"})[1])
    client.flush()
    assert collector.received() == sent
    assert collector.stats.messages == 6


def test_gzip_body_from_client(collector: Collector, make_client: Callable[..., Client]) -> None:
    client = make_client(gzip=True)
    _, message = client.track(user_id="7", event="Registry Pushed", properties={"image": "app:1"})
    client.flush()
    assert collector.received() == [message]


def test_raw_gzip_body_is_decoded(collector: Collector) -> None:
    data = gzip.compress(json.dumps({"batch": [track("gz-1")]}).encode())
    response = send(collector, "/v1/batch", data=data, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert collector.received() == [track("gz-1")]


def test_invalid_gzip_is_400(collector: Collector) -> None:
    response = send(collector, "/v1/batch", data=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert_error(response, 400, "invalid_gzip")


def test_message_at_32kb_is_accepted_and_one_byte_more_is_400(collector: Collector) -> None:
    assert send(collector, "/v1/batch", {"batch": [padded(MAX_MESSAGE_BYTES)]}).status_code == 200
    response = send(collector, "/v1/batch", {"batch": [padded(MAX_MESSAGE_BYTES + 1)]})
    assert_error(response, 400, "message_too_large")
    assert collector.stats.messages == 1


def test_oversized_message_gives_the_real_client_an_api_error(collector: Collector) -> None:
    # The client refuses such a message before sending; its post() is what would carry it.
    with pytest.raises(APIError) as caught:
        post(WRITE_KEY, host=collector.url, timeout=2, batch=[padded(MAX_MESSAGE_BYTES + 100)])
    assert caught.value.status == 400
    assert caught.value.code == "message_too_large"
    assert "32 KB" in caught.value.message
    assert collector.received() == []


def test_single_call_over_32kb_is_400(collector: Collector) -> None:
    message = padded(MAX_MESSAGE_BYTES + 10)
    assert_error(send(collector, "/v1/track", message), 400, "message_too_large")


def test_batch_over_500kb_is_400_and_nothing_is_stored(collector: Collector) -> None:
    batch = [padded(30_000) | {"messageId": f"big-{n}"} for n in range(MAX_BATCH_BYTES // 30_000 + 1)]
    assert_error(send(collector, "/v1/batch", {"batch": batch}), 400, "batch_too_large")
    assert collector.received() == []
    assert collector.stats.rejected == {"batch_too_large": 1}


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"",
        b'{"batch": [NaN]}',
        b'{"batch": [1e400]}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_json_is_400(collector: Collector, data: bytes) -> None:
    assert_error(send(collector, "/v1/batch", data=data), 400, "invalid_json")


def test_a_key_given_twice_is_taken_as_segment_takes_it(collector: Collector) -> None:
    """The dashboard's readers refuse a repeated key; the collector stands in for Segment, which takes it."""
    data = b'{"batch": [{"type": "track", "event": "C", "userId": "1", "messageId": "d-1", "userId": "2"}]}'
    assert send(collector, "/v1/batch", data=data).status_code == 200
    [received] = collector.received()
    assert received["userId"] == "2"


def test_unknown_write_key_is_accepted_by_default(collector: Collector) -> None:
    response = send(collector, "/v1/batch", {"batch": [track("k-1")]}, key="no-such-key")
    assert response.status_code == 200
    assert len(collector.received()) == 1


def test_strict_mode_rejects_unknown_key_with_401() -> None:
    with Collector(write_keys={WRITE_KEY}) as strict:
        assert_error(
            send(strict, "/v1/batch", {"batch": [track("s-1")]}, key="wrong"), 401, "invalid_write_key"
        )
        assert send(strict, "/v1/batch", {"batch": [track("s-2")]}).status_code == 200
        client = Client("wrong", host=strict.url, sync_mode=True, timeout=2)
        with pytest.raises(APIError) as caught:
            client.track(user_id="1", event="Cluster Created")
        assert (caught.value.status, caught.value.code) == (401, "invalid_write_key")
        assert [m["messageId"] for m in strict.received()] == ["s-2"]


def test_write_key_as_single_string_is_refused() -> None:
    with pytest.raises(TypeError):
        Collector(write_keys=WRITE_KEY)


@pytest.mark.parametrize("write_keys", [None, {WRITE_KEY}])
def test_missing_write_key_is_400_in_both_modes(write_keys: set[str] | None) -> None:
    with Collector(write_keys=write_keys) as running:
        assert_error(
            send(running, "/v1/batch", {"batch": [track("m-1")]}, key=None), 400, "missing_write_key"
        )
        assert_error(send(running, "/v1/track", track("m-2"), key=""), 400, "missing_write_key")
        assert running.received() == []


def test_write_key_in_body_is_accepted(collector: Collector) -> None:
    response = send(collector, "/v1/batch", {"batch": [track("b-1")], "writeKey": WRITE_KEY}, key=None)
    assert response.status_code == 200
    assert collector.entries()[0].key_fingerprint == key_fingerprint(WRITE_KEY)


def test_metadata_holds_a_fingerprint_never_the_key(collector: Collector) -> None:
    payload = {"batch": [track("meta-1")], "sentAt": "2024-05-01T10:00:00Z", "writeKey": WRITE_KEY}
    assert send(collector, "/v1/batch", payload).status_code == 200
    assert send(collector, "/v1/identify", {"userId": "9", "writeKey": WRITE_KEY}).status_code == 200
    first, second = collector.entries()
    assert (first.endpoint, first.sent_at) == ("/v1/batch", "2024-05-01T10:00:00Z")
    assert second.endpoint == "/v1/identify"
    assert second.message == {"userId": "9", "type": "identify"}
    listing = send(collector, "/messages?meta=1", method="GET")
    assert WRITE_KEY not in listing.text
    assert listing.json()["meta"][0]["key_fingerprint"] == key_fingerprint(WRITE_KEY)


def test_duplicate_message_id_is_acknowledged_and_stored_once(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    client = make_client(sync_mode=True)
    _, first = client.track(user_id="1", event="Project Created", message_id="dup-1")
    client.track(user_id="1", event="Project Created", message_id="dup-1")
    assert send(collector, "/v1/batch", {"batch": [track("dup-1"), track("dup-1")]}).status_code == 200
    assert collector.received() == [first]
    assert collector.stats.duplicates == 3


def test_duplicates_are_recognised_after_eviction() -> None:
    with Collector(max_messages=2) as small:
        send(small, "/v1/batch", {"batch": [track("a"), track("b"), track("c")]})
        send(small, "/v1/batch", {"batch": [track("a")]})
        assert [m["messageId"] for m in small.received()] == ["b", "c"]
        assert small.stats.duplicates == 1


def test_store_is_bounded_and_counts_evictions() -> None:
    with Collector(max_messages=3) as small:
        for n in range(5):
            send(small, "/v1/track", track(f"e-{n}"))
        assert [m["messageId"] for m in small.received()] == ["e-2", "e-3", "e-4"]
        listing = send(small, "/messages", method="GET").json()
        assert (listing["count"], listing["evicted"]) == (3, 2)
        assert small.stats.evicted == 2


def test_injected_500_is_retried_by_async_client(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    errors: list[Exception] = []
    collector.inject(500)
    client = make_client(on_error=lambda error, batch: errors.append(error))
    _, message = client.track(user_id="1", event="Cluster Deleted")
    client.flush()
    assert errors == []
    assert collector.stats.requests == 2
    assert collector.stats.faults == 1
    assert collector.received() == [message]


def test_injected_429_with_retry_after_is_waited_out_and_delivered(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    collector.inject(429, retry_after=1)
    client = make_client()
    started = time.monotonic()
    _, message = client.track(user_id="1", event="Cluster Scaled")
    client.flush()
    assert time.monotonic() - started >= 0.9
    assert collector.stats.requests == 2
    assert collector.received() == [message]


def test_injected_status_reaches_sync_client_as_api_error(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    collector.inject(503, retry_after="30")
    response = send(collector, "/v1/batch", {"batch": [track("f-1")]})
    assert_error(response, 503, "injected_fault")
    assert response.headers["Retry-After"] == "30"
    collector.inject(500)
    with pytest.raises(APIError) as caught:
        make_client(sync_mode=True).track(user_id="1", event="Cluster Created")
    assert (caught.value.status, caught.value.code) == (500, "injected_fault")
    assert collector.received() == []


def test_injected_plain_body_reaches_client_as_unknown_error(collector: Collector) -> None:
    collector.inject(502, body="upstream fell over", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(APIError) as caught:
        post(WRITE_KEY, host=collector.url, timeout=2, batch=[track("p-1")])
    assert (caught.value.status, caught.value.code) == (502, "unknown")
    assert caught.value.message == "upstream fell over"
    assert caught.value.response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_faults_queue_up_in_order(collector: Collector) -> None:
    collector.inject(500, times=2)
    collector.inject(429)
    statuses = [send(collector, "/v1/track", track(f"q-{n}")).status_code for n in range(4)]
    assert statuses == [500, 500, 429, 200]
    assert [m["messageId"] for m in collector.received()] == ["q-3"]
    assert collector.stats.faults == 3


def test_latency_alone_slows_a_successful_answer(collector: Collector) -> None:
    collector.inject(latency=0.3)
    started = time.monotonic()
    response = send(collector, "/v1/track", track("slow-1"))
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    assert len(collector.received()) == 1


def test_latency_beyond_client_timeout_raises_in_sync_client(
    collector: Collector, make_client: Callable[..., Client]
) -> None:
    collector.inject(503, latency=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        make_client(sync_mode=True, timeout=0.2).track(user_id="1", event="Cluster Created")


def test_clear_faults_and_reset(collector: Collector) -> None:
    collector.inject(500, times=5)
    collector.clear_faults()
    assert send(collector, "/v1/track", track("r-1")).status_code == 200
    collector.inject(500)
    collector.reset()
    assert collector.received() == []
    assert collector.stats.as_dict() == {
        "requests": 0,
        "batches": 0,
        "messages": 0,
        "duplicates": 0,
        "evicted": 0,
        "faults": 0,
        "rejected": {},
    }
    assert send(collector, "/v1/track", track("r-1")).status_code == 200


@pytest.mark.parametrize(
    "arguments",
    [
        {"status": 200},
        {"status": 600},
        {"status": True},
        {"status": "500"},
        {"status": 500, "times": 0},
        {"status": 500, "latency": -1},
        {"status": 500, "latency": 3600},
        {"status": 500, "latency": float("nan")},
        {"status": 429, "retry_after": -1},
        {"status": 429, "retry_after": "1\r\nX-Evil: 1"},
        {},
        {"retry_after": 1, "latency": 0.1},
    ],
)
def test_inject_rejects_bad_arguments(collector: Collector, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        collector.inject(**arguments)
    assert collector.faults() == []


def test_faults_endpoint_queues_lists_and_clears(collector: Collector) -> None:
    response = send(collector, "/faults", {"status": 429, "retry_after": 2, "times": 2})
    assert response.status_code == 200
    assert response.json() == {"success": True, "pending": 1}
    faults = send(collector, "/faults", method="GET").json()["faults"]
    assert faults == [{"status": 429, "retry_after": "2", "latency": 0.0, "remaining": 2, "body": None}]
    assert send(collector, "/v1/track", track("x-1")).status_code == 429
    assert send(collector, "/faults", method="DELETE").status_code == 200
    assert send(collector, "/v1/track", track("x-2")).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "boom"},
        {"status": 99},
        {"status": 500, "times": -2},
        {"status": 500, "latency": "slow"},
        {"status": 500, "colour": "red"},
        [500],
        {},
    ],
)
def test_faults_endpoint_rejects_bad_input(collector: Collector, payload: Any) -> None:
    assert_error(send(collector, "/faults", payload), 400, "invalid_fault")
    assert collector.faults() == []


def test_faults_endpoint_rejects_malformed_json(collector: Collector) -> None:
    assert_error(send(collector, "/faults", data=b"{"), 400, "invalid_json")


@pytest.mark.parametrize("kind", ["track", "identify", "page", "screen", "group", "alias"])
def test_single_call_endpoints_set_type_and_drop_the_key(collector: Collector, kind: str) -> None:
    body = {"userId": "1", "event": "Cluster Created", "groupId": "g", "previousId": "0", "messageId": kind}
    response = send(collector, f"/v1/{kind}", body | {"writeKey": WRITE_KEY})
    assert response.status_code == 200
    assert collector.received() == [body | {"type": kind}]


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("/v1/track", {"userId": "1"}, "missing_event"),
        ("/v1/track", {"event": "Cluster Created"}, "no_user_anon_id"),
        ("/v1/identify", {"traits": {"plan": "free"}}, "no_user_anon_id"),
        ("/v1/identify", {"userId": ""}, "no_user_anon_id"),
        ("/v1/batch", {"batch": {"type": "track"}}, "invalid_batch"),
        ("/v1/batch", {"sentAt": "2024-05-01T10:00:00Z"}, "invalid_batch"),
        ("/v1/batch", {"batch": [track("ok-1"), {"type": "track", "userId": "1"}]}, "missing_event"),
        ("/v1/batch", {"batch": [track("ok-1"), "not a message"]}, "invalid_message"),
        ("/v1/batch", {"batch": [{"type": "launch", "userId": "1"}]}, "invalid_type"),
        ("/v1/batch", [track("ok-1")], "invalid_request"),
    ],
)
def test_invalid_requests_are_400_and_store_nothing(
    collector: Collector, path: str, payload: Any, code: str
) -> None:
    assert_error(send(collector, path, payload), 400, code)
    assert collector.received() == []
    assert collector.stats.rejected == {code: 1}
    assert collector.stats.requests == 1


def test_anonymous_id_is_enough(collector: Collector) -> None:
    body = {"event": "Page Viewed", "anonymousId": "anon-1"}
    assert send(collector, "/v1/track", body).status_code == 200


def test_messages_endpoint_filters_and_limits(collector: Collector) -> None:
    batch = [
        track("t-1", event="Cluster Created"),
        track("t-2", event="Cluster Deleted"),
        {"type": "identify", "userId": "1", "messageId": "i-1"},
        track("t-3", event="Cluster Created"),
    ]
    assert send(collector, "/v1/batch", {"batch": batch}).status_code == 200

    def ids(query: str) -> list[str]:
        response = send(collector, "/messages" + query, method="GET")
        assert response.status_code == 200
        listing = response.json()
        assert listing["count"] == len(listing["messages"])
        assert listing["total"] == 4
        return [message["messageId"] for message in listing["messages"]]

    assert ids("") == ["t-1", "t-2", "i-1", "t-3"]
    assert ids("?type=identify") == ["i-1"]
    assert ids("?event=Cluster+Created") == ["t-1", "t-3"]
    assert ids("?type=track&limit=2") == ["t-2", "t-3"]
    assert ids("?messageId=t-2") == ["t-2"]
    assert ids("?limit=0") == []
    # A limit above the number of matches returns them all, not a wrapped-around tail.
    assert ids("?type=track&limit=4") == ids("?type=track")
    assert send(collector, "/messages", method="GET").json()["messages"][0] == batch[0]
    assert_error(send(collector, "/messages?limit=-1", method="GET"), 400, "invalid_request")
    assert_error(send(collector, "/messages?limit=ten", method="GET"), 400, "invalid_request")


def test_the_listing_shows_text_in_any_script_as_itself(collector: Collector) -> None:
    """`/messages` escaped every non-ASCII character: `"\\u6771\\u4eac"` for a person checking `東京`."""
    properties = {"stack_name": "東京", "error_message": "خطأ 404", "emoji": "🚀", "escaped": "\ud800"}
    assert send(collector, "/v1/track", track("u-1", properties=properties)).status_code == 200
    response = send(collector, "/messages", method="GET")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert '"stack_name": "東京", "error_message": "خطأ 404", "emoji": "🚀"' in response.content.decode()
    assert response.json()["messages"][0]["properties"] == properties


def test_delete_messages_resets(collector: Collector) -> None:
    send(collector, "/v1/track", track("d-1"))
    collector.inject(500)
    assert send(collector, "/messages", method="DELETE").status_code == 200
    assert collector.received() == []
    assert collector.faults() == []
    assert collector.stats.requests == 0


def test_stats_endpoint_counts_by_outcome(collector: Collector) -> None:
    send(collector, "/v1/batch", {"batch": [track("s-1"), track("s-1"), track("s-2")]})
    send(collector, "/v1/batch", data=b"{")
    send(collector, "/v1/track", {"userId": "1"})
    response = send(collector, "/stats", method="GET")
    assert response.status_code == 200
    assert response.json() == {
        "requests": 3,
        "batches": 1,
        "messages": 2,
        "duplicates": 1,
        "evicted": 0,
        "faults": 0,
        "rejected": {"invalid_json": 1, "missing_event": 1},
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/nowhere", 404, None),
        ("POST", "/v2/batch", 404, None),
        ("GET", "/v1/batch", 405, "POST"),
        ("PUT", "/v1/track", 405, "POST"),
        ("POST", "/messages", 405, "GET, DELETE"),
        ("PATCH", "/faults", 405, "GET, POST, DELETE"),
        ("DELETE", "/healthz", 405, "GET"),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_json(
    collector: Collector, method: str, path: str, status: int, allow: str | None
) -> None:
    response = send(collector, path, {"batch": []}, method=method)
    assert_error(response, status, "not_found" if status == 404 else "method_not_allowed")
    assert response.headers.get("Allow") == allow
    assert collector.stats.requests == 0
    assert collector.stats.rejected == {}


def test_unsupported_method_answers_json(collector: Collector) -> None:
    assert_error(send(collector, "/v1/batch", method="OPTIONS"), 501, "not_implemented")


def test_basic_auth_is_preferred_over_body_key() -> None:
    with Collector(write_keys={WRITE_KEY}) as strict:
        token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        payload = {"batch": [track("h-1")], "writeKey": "other"}
        response = send(strict, "/v1/batch", payload, key=None, headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 200


def test_serve_forever_on_another_thread_stops_with_stop() -> None:
    running = Collector()
    thread = threading.Thread(target=running.serve_forever)
    thread.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            url = running.url
            break
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert requests.get(url + "/healthz", timeout=5).status_code == 200
    running.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_collector_command_logs_its_url_and_stops_cleanly_on_ctrl_c() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "webapp.cli", "collector", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"listening on http://127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr
