"""A local stand-in for Segment's HTTP tracking API.

Offline development, the test suite and demos need an endpoint that behaves like
``api.segment.io`` closely enough that the real ``segment-analytics-python`` client can
be pointed at it unchanged, and that lets a test look at exactly what arrived. This
module is that endpoint, built on the standard library alone so that ``analytics``
stays free of Flask and of ``webapp``.

What it copies from Segment, and where each rule comes from:

* ``POST /v1/batch`` and the single calls ``/v1/track``, ``/v1/identify``, ``/v1/page``,
  ``/v1/screen``, ``/v1/group`` and ``/v1/alias``; the write key by HTTP Basic auth
  (``base64("writeKey:")``) or as ``writeKey`` in the body; ``Content-Encoding: gzip``.
  Source: Segment's HTTP API source documentation (``segmentio/segment-docs``,
  ``src/connections/sources/catalog/libraries/server/http-api/index.md``).
* 200 for every request except oversized payloads and invalid JSON, which get
  400; 32 KB per message and 500 KB per batch request; each payload needs ``userId`` or
  ``anonymousId`` (the error named ``no_user_anon_id``); track needs ``event``;
  de-duplication by ``messageId``. Source: the "Errors" section of that page and
  ``src/_includes/content/server-side-troubleshooting.md`` in the same repository.
* An unknown write key is answered 200 (Segment's edge is stateless and does not check
  keys: segmentio/analytics-ruby#136, segmentio/analytics-node#59, and the client's own
  ``test_success_on_invalid_write_key``), while a missing or empty key is a 400
  (reported with curl in segmentio/analytics-go#205). A strict mode that answers 401
  to unknown keys is ours, for tests that want to see a rejection.

Segment does not document the JSON body of its errors. The real client reads
``payload["code"]`` and ``payload["message"]`` from it (``segment/analytics/request.py``)
to build its ``APIError``, so every error here is
``{"success": false, "code": "<snake_case>", "message": "<sentence>"}``: our choice,
shaped so that the client's ``APIError`` carries both fields.

Inspection and control endpoints (``/messages``, ``/faults``, ``/stats``, ``/healthz``)
are ours; they let tests and the dashboard read what arrived and make the endpoint
fail, throttle or slow down on purpose.
"""

import base64
import binascii
import copy
import gzip
import hashlib
import io
import json
import logging
import math
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from analytics.strict_json import MAX_DEPTH, load_json

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "Collector",
    "CollectorStats",
    "ReceivedMessage",
    "key_fingerprint",
    "serve",
]

logger = logging.getLogger(__name__)

# Segment's per-message limit, measured the way the client measures it before it sends
# (MAX_MSG_SIZE = 32 << 10 over json.dumps(msg) in segment/analytics/consumer.py), so a
# message the real client would send is never refused here and vice versa.
MAX_MESSAGE_BYTES: Final = 32 << 10

# Segment's documented 500 KB per batch request. Read as 500,000 bytes rather than
# 500 KiB: the client keeps its batches under 475,000 bytes "to leave space for extra
# data" below that same limit (BATCH_SIZE_LIMIT in consumer.py), and erring on the small
# side means that anything this collector accepts, Segment accepts too.
MAX_BATCH_BYTES: Final = 500_000

# Not a Segment limit: the most we read off the socket before answering. Bodies up to
# here are drained and answered with the proper 400 (answering before the body is read
# can reset the connection under the client); anything larger is refused with 413 and
# the connection dropped, so a stray upload cannot make us buffer without bound.
MAX_WIRE_BYTES: Final = 8 * MAX_BATCH_BYTES

# Not a Segment limit: control requests (POST /faults) are a few hundred bytes.
MAX_CONTROL_BYTES: Final = 64 << 10

# Not a Segment limit: an injected latency above this is refused, so that a typo cannot
# park a handler thread for hours. A minute is longer than any sensible client timeout.
MAX_FAULT_LATENCY: Final = 60.0

# Not a Segment limit: an injected response body is meant to be a short error document.
MAX_FAULT_BODY: Final = 64 << 10

# Seen messageIds outlive the stored messages by this factor. A replay of messages
# that were already evicted from the store must still be recognised as duplicates
# (Segment de-duplicates over a time window, not over what a test happens to keep), while
# the set stays bounded: at the default 10,000 messages that is 100,000 ids, a few MB.
SEEN_IDS_FACTOR: Final = 10

# How often the serving loop checks for stop(), which waits up to this long. A started
# collector (tests start and stop one each) checks often: 50 wake-ups a second of an idle
# thread cost nothing measurable. The CLI's foreground loop is ended by Ctrl-C, which
# interrupts the wait anyway, so it keeps the standard library's default.
_THREAD_POLL_INTERVAL: Final = 0.02
_FOREGROUND_POLL_INTERVAL: Final = 0.5

SINGLE_CALL_TYPES: Final = ("track", "identify", "page", "screen", "group", "alias")
_INGEST_PATHS: Final = {"/v1/batch": "batch", **{f"/v1/{kind}": kind for kind in SINGLE_CALL_TYPES}}
_CONTROL_METHODS: Final[dict[str, tuple[str, ...]]] = {
    "/messages": ("GET", "DELETE"),
    "/faults": ("GET", "POST", "DELETE"),
    "/stats": ("GET",),
    "/healthz": ("GET",),
}
_FAULT_FIELDS: Final = frozenset({"status", "retry_after", "latency", "times", "body"})


def key_fingerprint(write_key: str) -> str:
    """Return a short, stable fingerprint of a write key.

    Metadata and logs need to tell keys apart without ever holding one: a write key
    is a credential, and the collector's data is served over HTTP to anyone local.

    Args:
        write_key: The key as the client sent it.

    Returns:
        The first 12 hex digits of its SHA-256.
    """
    return hashlib.sha256(write_key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message and what the collector knows about its arrival.

    Kept apart from the message so that the message stays exactly what the client
    built, comparable as is.

    Attributes:
        message: The message dict as received (for single calls, the body without
            ``writeKey``, with ``type`` filled in from the path when it was missing).
        received_at: When the collector accepted it (UTC).
        endpoint: The path it arrived on, e.g. ``/v1/batch``.
        sent_at: The request's ``sentAt`` (the batch's, or the single call's), if any.
        key_fingerprint: ``key_fingerprint()`` of the write key that carried it.
    """

    message: dict[str, Any]
    received_at: datetime
    endpoint: str
    sent_at: Any
    key_fingerprint: str

    def meta(self) -> dict[str, Any]:
        """Return the metadata alone, JSON-ready, for ``GET /messages?meta=1``."""
        return {
            "received_at": self.received_at.isoformat(),
            "endpoint": self.endpoint,
            "sent_at": self.sent_at,
            "key_fingerprint": self.key_fingerprint,
        }


@dataclass(frozen=True)
class CollectorStats:
    """Counters since the collector started or was last reset.

    Attributes:
        requests: Requests to a ``/v1/`` ingestion endpoint, whatever their outcome.
        batches: ``/v1/batch`` requests that were accepted.
        messages: Messages accepted and stored (duplicates excluded).
        duplicates: Messages acknowledged but not stored because their ``messageId``
            had already been accepted.
        evicted: Messages dropped from the store to stay within ``max_messages``.
        faults: Requests answered by an injected fault status.
        rejected: Rejected ``/v1/`` requests by error code (``"invalid_json"``, ...).
    """

    requests: int = 0
    batches: int = 0
    messages: int = 0
    duplicates: int = 0
    evicted: int = 0
    faults: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        data = asdict(self)
        data["rejected"] = dict(self.rejected)
        return data


@dataclass
class _Fault:
    status: int | None
    retry_after: str | None
    latency: float
    remaining: int
    body: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "retry_after": self.retry_after,
            "latency": self.latency,
            "remaining": self.remaining,
            "body": self.body,
        }


class _RequestError(Exception):
    """An answer other than success, raised from anywhere in request handling."""

    def __init__(self, status: int, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.close = close


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    note: str = ""


def _json_response(status: int, payload: Mapping[str, Any], **kwargs: Any) -> _Response:
    return _Response(status, json.dumps(payload).encode("utf-8"), **kwargs)


def _readable_json_response(payload: Mapping[str, Any]) -> _Response:
    """JSON for a person to read, as the listing of received messages is: `東京` rather than
    `\\u6771\\u4eac`, in UTF-8, which the content type says. A lone surrogate a sender escaped
    (`\\ud800`) is no UTF-8 character: it stays the escape it came as."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
    return _Response(200, body, content_type="application/json; charset=utf-8")


def _error_response(error: _RequestError, note: str = "") -> _Response:
    payload = {"success": False, "code": error.code, "message": error.message}
    return _json_response(error.status, payload, close=error.close, note=note or error.code)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# A batch holds its messages two levels down: take every message the tester lets through.
_BATCH_DEPTH = MAX_DEPTH + 2


def _parse_json(data: bytes) -> Any:
    try:
        # Segment documents no refusal of an object that repeats a key: its stand-in takes one too.
        return load_json(data, _BATCH_DEPTH, unique_keys=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _RequestError(400, "invalid_json", f"Request body is not valid JSON: {exc}") from exc


def _check_fault(
    status: int | None, retry_after: str | int | None, latency: float, times: int, body: str | None
) -> _Fault:
    """Validate ``inject()`` arguments; shared with ``POST /faults``, hence ValueError."""
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise ValueError("status must be an integer or null")
    # 4xx and 5xx only: a 2xx fault would be "acknowledged and lost", which no client can
    # detect, and 1xx/3xx answers without their protocol are not what a server sends.
    if status is not None and not 400 <= status <= 599:
        raise ValueError("status must be between 400 and 599")
    header: str | None
    if retry_after is None:
        header = None
    elif isinstance(retry_after, bool):
        raise ValueError("retry_after must be seconds or an HTTP date")
    elif isinstance(retry_after, int):
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        header = str(retry_after)
    elif isinstance(retry_after, str):
        # Sent verbatim as a header value (an HTTP date is allowed, to test the client's
        # parser), so anything that could split or corrupt the header block is refused.
        if not retry_after.strip() or len(retry_after) > 100 or not retry_after.isprintable():
            raise ValueError("retry_after must be a short printable header value")
        if not retry_after.isascii():
            raise ValueError("retry_after must be ASCII")
        header = retry_after
    else:
        raise ValueError("retry_after must be seconds or an HTTP date")
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not math.isfinite(latency):
        raise ValueError("latency must be a number of seconds")
    if not 0 <= latency <= MAX_FAULT_LATENCY:
        raise ValueError(f"latency must be between 0 and {MAX_FAULT_LATENCY:g} seconds")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError("times must be a positive integer")
    if body is not None and (not isinstance(body, str) or len(body) > MAX_FAULT_BODY):
        raise ValueError(f"body must be a string of at most {MAX_FAULT_BODY} characters")
    if status is None and latency == 0:
        raise ValueError("a fault needs a status, a latency or both")
    if status is None and (header is not None or body is not None):
        raise ValueError("retry_after and body need a status")
    return _Fault(status, header, float(latency), times, body)


def _decode_body(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding``, reading at most ``limit + 1`` bytes of the result.

    The bound is what keeps a small gzip bomb from expanding in memory: one byte over
    the limit is enough to know the request is too large.
    """
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw
    if name != "gzip":
        raise _RequestError(400, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            return stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise _RequestError(400, "invalid_gzip", f"Request body is not valid gzip: {exc}") from exc


def _basic_auth_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def _has_identity(message: Mapping[str, Any]) -> bool:
    for name in ("userId", "anonymousId"):
        value = message.get(name)
        if isinstance(value, str) and value.strip():
            return True
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True
    return False


def _validate_message(message: Any, where: str) -> None:
    """Check what Segment's endpoint checks; raise ``_RequestError`` otherwise."""
    if not isinstance(message, dict):
        raise _RequestError(400, "invalid_message", f"{where} is not a JSON object")
    kind = message.get("type")
    if kind not in SINGLE_CALL_TYPES:
        raise _RequestError(
            400, "invalid_type", f"{where} has type {kind!r}; expected one of {', '.join(SINGLE_CALL_TYPES)}"
        )
    # Measured as the client measures it (json.dumps with default separators); see
    # MAX_MESSAGE_BYTES.
    size = len(json.dumps(message).encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise _RequestError(
            400,
            "message_too_large",
            f"{where} is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KB)",
        )
    if not _has_identity(message):
        raise _RequestError(400, "no_user_anon_id", f"{where} needs a userId or an anonymousId")
    if kind == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            raise _RequestError(400, "missing_event", f"{where} is a track call without an event name")


class _Body:
    """The request body, read once and on demand, within ``MAX_WIRE_BYTES``."""

    def __init__(self, rfile: io.BufferedIOBase, headers: "Message[str, str]") -> None:
        self._rfile = rfile
        self._headers = headers
        self._data: bytes | None = None

    def _length(self) -> int:
        if "chunked" in (self._headers.get("Transfer-Encoding") or "").lower():
            raise _RequestError(
                411, "length_required", "Chunked bodies are not supported; send Content-Length"
            )
        value = self._headers.get("Content-Length")
        if value is None:
            return 0
        try:
            length = int(value)
        except ValueError as exc:
            raise _RequestError(400, "invalid_request", "Content-Length is not a number") from exc
        if length < 0:
            raise _RequestError(400, "invalid_request", "Content-Length is negative")
        if length > MAX_WIRE_BYTES:
            raise _RequestError(
                413, "request_too_large", f"Request body is over {MAX_WIRE_BYTES} bytes", close=True
            )
        return length

    def read(self) -> bytes:
        if self._data is None:
            length = self._length()
            self._data = self._rfile.read(length) if length else b""
        return self._data

    def drain(self) -> None:
        """Consume an unread body, so that closing the socket does not reset it."""
        if self._data is None:
            try:
                self.read()
            except _RequestError:
                pass


class _Server(ThreadingHTTPServer):
    # Daemon threads: a handler sleeping on an injected latency must not hold up
    # stop() or interpreter exit (ThreadingMixIn joins non-daemon handler threads).
    daemon_threads = True

    def __init__(self, address: tuple[str, int], collector: "Collector") -> None:
        self.collector = collector
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds on a machine without DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout shorter than an injected latency) leaves a
        # broken pipe behind: expected here, so not a traceback on stderr. Anything else
        # is a bug and is logged as one.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            logger.debug("connection from %s ended early: %s", client_address, error)
        else:
            logger.exception("collector connection from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 closes each connection after its response: no idle keep-alive threads
    # outlive stop(), and clients never hold a socket to a collector that went away.
    protocol_version = "HTTP/1.0"
    server_version = "event-catalog-collector/1"
    # Not a Segment limit: a client that connects and then stalls would otherwise hold a
    # handler thread forever. Injected latency is a sleep, not socket I/O, so it is not cut.
    timeout = 30

    def do_GET(self) -> None:
        """Dispatch GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Dispatch POST."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Dispatch DELETE."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Dispatch PUT (always 404 or 405, but as JSON)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Dispatch PATCH (always 404 or 405, but as JSON)."""
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.perf_counter()
        server = self.server
        assert isinstance(server, _Server)
        body = _Body(self.rfile, self.headers)
        try:
            response = server.collector._respond(self.command, self.path, self.headers, body)
        except Exception:
            # A bug here must still give the client an answer it can act on (a 500 is
            # retried), rather than a dropped connection; the traceback goes to the log.
            logger.exception("collector failed on %s %s", self.command, urlsplit(self.path).path)
            response = _error_response(
                _RequestError(500, "internal_error", "The collector failed on this request", close=True)
            )
        if not response.close:
            body.drain()
        self._write(response)
        logger.debug(
            "%s %s -> %s%s (%.1f ms)",
            self.command,
            urlsplit(self.path).path,
            response.status,
            f" {response.note}" if response.note else "",
            (time.perf_counter() - started) * 1000,
        )

    def _write(self, response: _Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, unknown method) in JSON too."""
        phrase = _phrase(code)
        error = _RequestError(code, phrase.lower().replace(" ", "_"), message or phrase, close=True)
        self._write(_error_response(error))
        logger.debug("%s -> %s %s", self.requestline, code, message or phrase)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence http.server's access log: ``_dispatch`` logs one line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        """Route http.server's own messages to our logger instead of stderr."""
        logger.debug("http.server: " + format, *args)


class Collector:
    """A Segment-compatible HTTP endpoint that keeps what it receives, in memory.

    Thread-safe: requests are served on their own threads and every piece of shared
    state is behind one lock, held only for bookkeeping, never for I/O or sleeps.

    Attributes:
        host: The interface to listen on.
        port: The port asked for; 0 picks a free one (see ``url`` for the actual one).
        max_messages: How many messages are kept before the oldest are evicted.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        write_keys: Collection[str] | None = None,
        max_messages: int = 10_000,
    ) -> None:
        """Configure the collector; nothing is bound until ``start()``.

        Args:
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one.
            write_keys: ``None`` (or empty, which is what a repeatable CLI option gives
                when unused) accepts any key, as Segment does; otherwise only these keys
                are accepted and others get 401.
            max_messages: Bound on stored messages; the oldest are evicted beyond it.

        Raises:
            TypeError: ``write_keys`` is a single string (a common slip: a ``str`` is a
                collection of one-character keys).
            ValueError: ``max_messages`` is not positive.
        """
        if isinstance(write_keys, str):
            raise TypeError("write_keys must be a collection of keys, not one string")
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.host = host
        self.port = port
        self.max_messages = max_messages
        self._write_keys = frozenset(write_keys) if write_keys else None
        self._lock = threading.Lock()
        self._messages: deque[ReceivedMessage] = deque()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._faults: deque[_Fault] = deque()
        self._counts: dict[str, int] = {}
        self._rejected: dict[str, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give a client as ``host``, e.g. ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: The collector is not started (no port is bound yet).
        """
        if self._server is None:
            raise RuntimeError("the collector is not started")
        host, port = self._server.server_address[:2]
        text = host.decode() if isinstance(host, bytes | bytearray) else str(host)
        name = f"[{text}]" if ":" in text else text
        return f"http://{name}:{port}"

    @property
    def strict(self) -> bool:
        """Whether unknown write keys are rejected."""
        return self._write_keys is not None

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError("the collector is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        return self._server

    def start(self) -> "Collector":
        """Bind and serve on a daemon thread, so tests and the dev server can go on.

        Returns:
            The collector itself, so that ``c = Collector().start()`` reads well.

        Raises:
            RuntimeError: It is already running.
            OSError: The address cannot be bound.
        """
        server = self._bind()
        self._serving = True
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _THREAD_POLL_INTERVAL},
            name=f"collector-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("collector serving on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Bind and serve on the calling thread until interrupted (the CLI's mode).

        Ctrl-C ends it cleanly: the socket is closed and the function returns.
        """
        # serve() binds first to log the URL; anyone else gets a fresh bind.
        server = self._server if self._server is not None and not self._serving else self._bind()
        self._serving = True
        try:
            server.serve_forever(poll_interval=_FOREGROUND_POLL_INTERVAL)
        except KeyboardInterrupt:
            logger.debug("collector interrupted")
        finally:
            self._stopping.set()
            server.server_close()
            self._server = None
            self._serving = False

    def stop(self) -> None:
        """Stop serving and release the port; stored messages stay readable.

        Works whether the collector serves on its own thread (``start()``) or on a
        thread of the caller's (``serve_forever()``).
        """
        server, thread = self._server, self._thread
        if server is None:
            return
        # Wakes handlers sleeping on an injected latency, so they answer and exit.
        self._stopping.set()
        if self._serving:
            server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        self._server = None
        self._thread = None
        self._serving = False

    def __enter__(self) -> "Collector":
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ------------------------------------------------------------------------

    def entries(self) -> list[ReceivedMessage]:
        """Return the stored messages with their metadata, oldest first (copies)."""
        with self._lock:
            snapshot = list(self._messages)
        return [copy.deepcopy(entry) for entry in snapshot]

    def received(self) -> list[dict[str, Any]]:
        """Return the stored messages exactly as received, oldest first.

        Copies, so that a test mutating what it got back cannot change the store.
        """
        with self._lock:
            snapshot = [entry.message for entry in self._messages]
        return copy.deepcopy(snapshot)

    @property
    def stats(self) -> CollectorStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return CollectorStats(**self._counts, rejected=dict(self._rejected))

    def reset(self) -> None:
        """Forget messages, seen ids, counters and pending faults: a clean slate."""
        with self._lock:
            self._messages.clear()
            self._seen.clear()
            self._faults.clear()
            self._counts.clear()
            self._rejected.clear()

    def inject(
        self,
        status: int | None = None,
        *,
        retry_after: str | int | None = None,
        latency: float = 0.0,
        times: int = 1,
        body: str | None = None,
    ) -> None:
        """Make the next ``times`` ingestion requests fail or slow down.

        Faults queue up in the order they were injected and apply to any ``/v1/``
        endpoint, before the request is even parsed: they stand for the endpoint being
        down, throttling or slow, not for a bad request. A faulted request is not stored.

        Args:
            status: The status to answer (400-599), or ``None`` to answer normally
                (only useful with ``latency``).
            retry_after: ``Retry-After`` header value: seconds, or an HTTP date string.
            latency: Seconds to wait before answering (at most ``MAX_FAULT_LATENCY``).
            times: How many consecutive requests this fault applies to.
            body: The response body instead of the default Segment-like JSON error.

        Raises:
            ValueError: An argument is out of range or of the wrong type.
        """
        fault = _check_fault(status, retry_after, latency, times, body)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """Return the pending faults, next first, as JSON-ready dicts."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def _count(self, name: str, amount: int = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + amount

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.popleft()
            return fault

    def _store(self, messages: list[dict[str, Any]], endpoint: str, sent_at: Any, fingerprint: str) -> int:
        """Store what is new, all under one lock so a request is accepted atomically."""
        now = datetime.now(UTC)
        seen_limit = self.max_messages * SEEN_IDS_FACTOR
        accepted = 0
        with self._lock:
            for message in messages:
                message_id = message.get("messageId")
                if isinstance(message_id, str):
                    if message_id in self._seen:
                        self._count("duplicates")
                        continue
                    self._seen[message_id] = None
                    if len(self._seen) > seen_limit:
                        self._seen.popitem(last=False)
                self._messages.append(ReceivedMessage(message, now, endpoint, sent_at, fingerprint))
                accepted += 1
                if len(self._messages) > self.max_messages:
                    self._messages.popleft()
                    self._count("evicted")
            self._count("messages", accepted)
            if endpoint == "/v1/batch":
                self._count("batches")
        return accepted

    # -- HTTP ------------------------------------------------------------------------

    def _respond(self, method: str, target: str, headers: "Message[str, str]", body: _Body) -> _Response:
        """Compute the answer to one request; the handler only does the socket I/O."""
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        kind = _INGEST_PATHS.get(path)
        allowed = ("POST",) if kind is not None else _CONTROL_METHODS.get(path)
        try:
            if allowed is None:
                raise _RequestError(404, "not_found", f"No such endpoint: {path}")
            if method not in allowed:
                raise _RequestError(405, "method_not_allowed", f"{path} accepts {', '.join(allowed)}")
            if kind is not None:
                return self._ingest(kind, path, headers, body)
            return self._control(method, path, parse_qs(split.query), body)
        except _RequestError as error:
            response = _error_response(error)
            if error.status == 405 and allowed is not None:
                response.headers.append(("Allow", ", ".join(allowed)))
            return response

    def _ingest(self, kind: str, path: str, headers: "Message[str, str]", body: _Body) -> _Response:
        with self._lock:
            self._count("requests")
        try:
            return self._accept(kind, path, headers, body)
        except _RequestError as error:
            with self._lock:
                self._rejected[error.code] = self._rejected.get(error.code, 0) + 1
            raise

    def _accept(self, kind: str, path: str, headers: "Message[str, str]", body: _Body) -> _Response:
        raw = body.read()
        fault = self._take_fault()
        if fault is not None:
            if fault.latency:
                self._stopping.wait(fault.latency)
            if fault.status is not None:
                return self._fault_response(fault)
        limit = MAX_BATCH_BYTES if kind == "batch" else MAX_MESSAGE_BYTES
        data = _decode_body(raw, headers.get("Content-Encoding"), limit)
        if len(data) > limit:
            if kind == "batch":
                raise _RequestError(
                    400,
                    "batch_too_large",
                    f"Batch request is over the limit of {MAX_BATCH_BYTES} bytes (500 KB)",
                )
            raise _RequestError(
                400, "message_too_large", f"Request is over the limit of {MAX_MESSAGE_BYTES} bytes (32 KB)"
            )
        payload = _parse_json(data)
        if not isinstance(payload, dict):
            raise _RequestError(400, "invalid_request", "Request body must be a JSON object")
        write_key = _basic_auth_key(headers.get("Authorization"))
        if write_key is None:
            body_key = payload.get("writeKey")
            write_key = body_key if isinstance(body_key, str) and body_key else None
        if write_key is None:
            raise _RequestError(
                400,
                "missing_write_key",
                "No write key: send HTTP Basic auth (writeKey:) or writeKey in the body",
            )
        fingerprint = key_fingerprint(write_key)
        if self._write_keys is not None and write_key not in self._write_keys:
            raise _RequestError(401, "invalid_write_key", f"Unknown write key (fingerprint {fingerprint})")

        if kind == "batch":
            items = payload.get("batch")
            if not isinstance(items, list):
                raise _RequestError(400, "invalid_batch", "batch must be a JSON array of messages")
            sent_at = payload.get("sentAt")
            for index, item in enumerate(items):
                _validate_message(item, f"batch[{index}]")
            messages: list[dict[str, Any]] = items
        else:
            # writeKey is the request's envelope, not part of the message, and a key is
            # never stored.
            message = {name: value for name, value in payload.items() if name != "writeKey"}
            message.setdefault("type", kind)
            _validate_message(message, "message")
            sent_at = message.get("sentAt")
            messages = [message]
        # A request is accepted or refused as a whole (validated above, stored here), so
        # that a client retrying a refused batch never finds half of it already stored.
        accepted = self._store(messages, path, sent_at, fingerprint)
        note = f"key={fingerprint} accepted={accepted} duplicates={len(messages) - accepted}"
        return _json_response(200, {"success": True}, note=note)

    def _fault_response(self, fault: _Fault) -> _Response:
        with self._lock:
            self._count("faults")
        assert fault.status is not None
        headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
        note = f"injected fault, {fault.remaining} more"
        if fault.body is None:
            payload = {
                "success": False,
                "code": "injected_fault",
                "message": f"Fault injected by the collector: {fault.status} {_phrase(fault.status)}",
            }
            return _json_response(fault.status, payload, headers=headers, note=note)
        try:
            json.loads(fault.body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        return _Response(fault.status, fault.body.encode("utf-8"), content_type, headers, note=note)

    def _control(self, method: str, path: str, query: dict[str, list[str]], body: _Body) -> _Response:
        if path == "/healthz":
            return _json_response(200, {"status": "ok"})
        if path == "/stats":
            return _json_response(200, self.stats.as_dict())
        if path == "/messages":
            if method == "DELETE":
                self.reset()
                return _json_response(200, {"success": True})
            return self._list_messages(query)
        # /faults
        if method == "GET":
            return _json_response(200, {"faults": self.faults()})
        if method == "DELETE":
            self.clear_faults()
            return _json_response(200, {"success": True})
        raw = body.read()
        if len(raw) > MAX_CONTROL_BYTES:
            raise _RequestError(400, "invalid_fault", f"Fault description is over {MAX_CONTROL_BYTES} bytes")
        spec = _parse_json(raw)
        if not isinstance(spec, dict):
            raise _RequestError(400, "invalid_fault", "Fault description must be a JSON object")
        unknown = sorted(set(spec) - _FAULT_FIELDS)
        if unknown:
            raise _RequestError(400, "invalid_fault", f"Unknown fault field(s): {', '.join(unknown)}")
        try:
            fault = _check_fault(
                spec.get("status"),
                spec.get("retry_after"),
                spec.get("latency", 0.0),
                spec.get("times", 1),
                spec.get("body"),
            )
        except ValueError as exc:
            raise _RequestError(400, "invalid_fault", str(exc)) from exc
        with self._lock:
            self._faults.append(fault)
            pending = len(self._faults)
        return _json_response(200, {"success": True, "pending": pending})

    def _list_messages(self, query: dict[str, list[str]]) -> _Response:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        limit_text = one("limit")
        limit: int | None = None
        if limit_text is not None:
            try:
                limit = int(limit_text)
            except ValueError:
                limit = -1
            if limit < 0:
                raise _RequestError(400, "invalid_request", "limit must be a non-negative integer")
        filters = {name: value for name in ("type", "event", "messageId") if (value := one(name)) is not None}
        with_meta = (one("meta") or "").lower() in ("1", "true", "yes")
        with self._lock:
            snapshot = list(self._messages)
            evicted = self._counts.get("evicted", 0)
        total = len(snapshot)
        matching = [
            entry
            for entry in snapshot
            if all(entry.message.get(name) == value for name, value in filters.items())
        ]
        # The most recent `limit` matches, still oldest first: "what just arrived" is
        # what a tester or a test wants to see.
        if limit is not None:
            matching = matching[max(0, len(matching) - limit) :] if limit else []
        payload: dict[str, Any] = {
            "count": len(matching),
            "total": total,
            "evicted": evicted,
            "messages": [entry.message for entry in matching],
        }
        if with_meta:
            payload["meta"] = [entry.meta() for entry in matching]
        return _readable_json_response(payload)


def serve(host: str, port: int, write_keys: Collection[str] | None) -> None:
    """Run a collector in the foreground until Ctrl-C (``event-catalog collector``).

    Args:
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        write_keys: Keys to accept; ``None`` or empty accepts any key, as Segment does.
    """
    collector = Collector(host, port, write_keys=write_keys)
    # Bound before logging, so that the URL logged is the one served, even with port 0.
    collector._bind()
    logger.info(
        "Segment collector listening on %s (%s write keys)",
        collector.url,
        "only known" if collector.strict else "any",
    )
    collector.serve_forever()
