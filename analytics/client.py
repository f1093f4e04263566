"""The client wrapper: audit every message, then hand it to the real Segment client.

`segment-analytics-python` does the batching, retries and back-off; this module adds what it lacks
for us and nothing more:

- the message is written to the audit log before the Segment client sees it, so nothing reaches
  Segment that the log does not hold: in batches on the audit writer's thread by default
  (`analytics.audit_writer`), or on the caller's thread before `track` returns (`strict=True`);
- its status then follows what really happened. The Segment client reports failures through
  `on_error` but has no success callback, so `AuditingConsumer` extends its documented unit of work,
  `Consumer.request()`, which returns only after a 2xx for the whole batch;
- `track`/`identify` never raise into the host application for an analytics reason (unless
  `raise_errors=True`): they return a `Receipt` that says what happened.
"""

from __future__ import annotations

import atexit
import copy
import functools
import inspect
import json
import logging
import os
import queue
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import util as multiprocessing_util
from typing import Any

import requests
from segment.analytics import Client as SegmentClient
from segment.analytics.consumer import MAX_MSG_SIZE, Consumer
from segment.analytics.request import APIError
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import AuditRecord, AuditStatus, AuditStore, Source
from analytics.audit_failures import audit_write_error
from analytics.audit_writer import RETRY_DELAYS, AuditWriter
from analytics.catalog import CATALOG, personal_context_paths, personal_paths
from analytics.drop_log import DropLog
from analytics.errors import (
    AnalyticsError,
    DeliveryError,
    EnqueueError,
    MessageBuildError,
    NotInitializedError,
)
from analytics.interrupting_calls import end_call, interrupting, queue_call, start_call
from analytics.messages import LIBRARY_CONTEXT_KEYS, build_sized_message, check_spec, payload_of
from analytics.metrics import (
    AUDIT_WRITE_SECONDS,
    BATCH_SIZE,
    DELIVERY_SECONDS,
    ENQUEUE_FAILURES,
    QUEUE_DEPTH,
    count_messages,
)
from analytics.network_errors import describe_network_error
from analytics.options import check_options
from analytics.patience import SHUTDOWN_TIMEOUT, Patience, check_timeout, join_within
from analytics.segment_logs import quiet_segment_logger
from analytics.spec import IdentifySpec, TrackSpec
from analytics.wording import counted

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE: int = MAX_MSG_SIZE
"""Segment rejects messages over 32 KB; its client checks before queueing."""

PENDING_FOR_REPLAY = "pending in the audit log for `event-catalog replay`"
"""Where the messages a shutdown or an exit did not send are left, as their ERROR line says."""

UNREPLAYABLE = (
    ", except those with personal data, which replay cannot re-send: without AUDIT_ENCRYPTION_KEY "
    "it is stored masked only"
)
"""What `PENDING_FOR_REPLAY` leaves out when `unreplayable_personal_data` holds."""

Outcome = tuple[AuditStatus, AnalyticsError | None]
"""What became of one handed-over message: its status now, and the error if it went wrong."""

# The Segment client's consumer settings we forward to our consumers, with its own defaults.
_CONSUMER_SETTINGS = {
    "upload_size": "upload_size",
    "upload_interval": "upload_interval",
    "gzip": "gzip",
    "max_retries": "retries",
    "timeout": "timeout",
    "proxies": "proxies",
    "max_total_backoff_duration": "max_total_backoff_duration",
    "max_rate_limit_duration": "max_rate_limit_duration",
}


@dataclass(frozen=True)
class Receipt:
    """What became of one `track` or `identify` call.

    Attributes:
        message_id: the message's Segment `messageId`.
        status: its audit status now, or None when it could not be audited (and so was not sent).
            In the default (batched) mode a `pending` receipt means "queued for the audit writer":
            the entry is written, then sent, shortly after the call returned.
        message: the message exactly as built (personal data in clear: it is the caller's own),
            left out of the receipt's repr, so that a host logging its receipts logs none of it;
            without its properties (or traits) when the spec's values could not make them
            (`MessageBuildError`).
        error: what went wrong, if anything.
    """

    message_id: str
    status: AuditStatus | None
    message: dict[str, Any] = field(repr=False)
    error: AnalyticsError | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing went wrong (a `disabled` message is not an error: it is configuration)."""
        return self.error is None


def unreplayable_personal_data(store: AuditStore) -> frozenset[str]:
    """The catalog's personal-data names that `store` keeps masked only, so that `event-catalog replay`
    refuses a message holding them (it cannot send the real values): empty with
    `AUDIT_ENCRYPTION_KEY`, which keeps them encrypted too, or with masking off."""
    if not store.mask_personal_data or store.cipher is not None:
        return frozenset()
    return CATALOG.personal_data_names


def _personal_context(message: dict[str, Any], given: Mapping[str, Any] | None) -> frozenset[str]:
    """The paths of the personal data in the host's `context=` (`personal_context_paths`), as the message
    carries it (made JSON: a tuple is a list there); a call without one, the common case, walks nothing."""
    if not given:
        return frozenset()
    own = {key: value for key, value in message["context"].items() if key not in LIBRARY_CONTEXT_KEYS}
    return personal_context_paths(own)


def message_size(message: dict[str, Any]) -> int:
    """The message's size as the Segment client measures it against `MAX_MESSAGE_SIZE`."""
    return len(json.dumps(message).encode())


def size_in_words(message: dict[str, Any]) -> str:
    """`36,492 bytes`, and how they are counted when that is more than the text's own UTF-8 bytes.

    The Segment client measures JSON with every non-ASCII character escaped (`\u6771`: 6 bytes for a
    CJK character, 12 for an emoji), so a message of Japanese text reaches 32 KB at about a third of
    that in UTF-8; a team seeing "36 KB" for 9 KB of text is told why.
    """
    size = message_size(message)
    words = f"{size:,} bytes"
    if len(json.dumps(message, ensure_ascii=False).encode()) < size:
        words += " as the Segment client counts them (JSON with non-ASCII characters escaped, \\uXXXX)"
    return words


CONTEXT_ESCAPING = 6
"""The most bytes the Segment client's JSON (`json.dumps`: non-ASCII and DEL escaped, `: ` and `, `
between items) writes for one byte of the compact UTF-8 JSON `checked_json` writes of the host's
`context=`: a DEL (one byte) is `\\u007f`, six; a two-byte character one escape (3 per byte), an
emoji two (12 for 4), a CJK character one (6 for 3); the separators add 2 to an item of at least 5."""


def may_be_oversized(message: dict[str, Any], context_size: int | None = None) -> bool:
    """Whether the message is over `MAX_MESSAGE_SIZE`, measured only when it can be.

    Measuring every message costs a quarter of the bare client's whole `track`; its payload alone
    costs a third of that. Two parts can grow large: the payload, and the host's own `context=`
    (a page URL, a referrer, traits), which has no limit of its own. The rest (ids, the library's
    context) stays far under half the limit, so the message is measured whole only when the payload
    and the host's context may take half of it: the payload as the Segment client counts it, the
    context by `context_size`, the length of the JSON text `build_sized_message` wrote when it checked
    it, times the most the Segment client's escaping can make of a byte (`CONTEXT_ESCAPING`). A message
    with host context keys and no `context_size` (one built by hand) is measured whole. A message that
    still slips past (an actor name of kilobytes, which only the tester and replay set) is refused
    before sending, and its entry says why. So is one JSON cannot write (built by hand and given to
    `deliver`): its audit write refuses it and says why.
    """
    try:
        if context_size is None and not LIBRARY_CONTEXT_KEYS.issuperset(message.get("context", ())):
            return message_size(message) > MAX_MESSAGE_SIZE
        payload = message.get("properties") or message.get("traits") or {}
        bound = len(json.dumps(payload)) + CONTEXT_ESCAPING * (context_size or 0)
        return bound > MAX_MESSAGE_SIZE // 2 and message_size(message) > MAX_MESSAGE_SIZE
    except (TypeError, ValueError):
        return False


def _message_ids(batch: list[dict[str, Any]]) -> list[str]:
    return [str(item["messageId"]) for item in batch if item.get("messageId")]


def _observe_synchronous_post(outcome: str, seconds: float) -> None:
    """A synchronous post (`sync_mode`: the dashboard's tester) counts in the delivery metrics as a
    batch of one, as the consumers' batches do; it left them empty on the dashboard's `/metrics`."""
    BATCH_SIZE.observe(1)
    DELIVERY_SECONDS.labels(outcome=outcome).observe(seconds)


def record_outcome_safely(
    store: AuditStore, batch: list[dict[str, Any]], status: AuditStatus, **details: Any
) -> None:
    """Record a batch's outcome; a failing audit database is logged, never raised into a send.

    An outcome that could not be recorded leaves its entries `pending`, so `replay` re-sends them
    with the same messageId, which Segment de-duplicates within about 24 hours of the first copy:
    nothing is lost; at worst a copy re-sent later than that is counted twice.
    """
    count_messages(batch, str(status))
    try:
        store.record_outcome(_message_ids(batch), status, **details)
    except SQLAlchemyError:
        log.exception("could not record %s for %s messages", status, len(batch))


@dataclass(frozen=True)
class RateLimitAnswers:
    """The endpoint's answers that asked a consumer to wait (a status with Retry-After) in a row.

    Attributes:
        status: the last one's HTTP status (429, or a 5xx with Retry-After).
        count: how many there were.
    """

    status: int
    count: int


def describe_failure(
    error: Exception, rate_limited: RateLimitAnswers | None = None
) -> tuple[AuditStatus, int | None, str]:
    """Classify an error the Segment client gave up on: (status, HTTP status, text for the log).

    `APIError`s and network errors are failed deliveries. The consumer's own give-ups (rate-limit
    budget spent, queue full while re-queueing) are plain `Exception`s: the batch was dropped. Such
    a give-up keeps the status of the answers that led to it (`rate_limited`): the endpoint refused.
    """
    if isinstance(error, APIError):
        return AuditStatus.FAILED, error.status, f"{error.code}: {error.message}"
    if isinstance(error, requests.RequestException):
        return AuditStatus.FAILED, None, describe_network_error(error)
    if rate_limited is not None:
        answers = counted(rate_limited.count, "answer")
        text = f"{error} (after {answers} of HTTP {rate_limited.status} with Retry-After)"
        return AuditStatus.DROPPED, rate_limited.status, text
    return AuditStatus.DROPPED, None, str(error)


class AuditingConsumer(Consumer):  # type: ignore[misc]
    """A Segment `Consumer` that records each batch's outcome in the audit log.

    `Consumer.request()` retries as configured and returns the response only when the endpoint
    answered 2xx, so returning from it is the one truthful moment to mark the batch `delivered`.

    Args:
        store: the audit log.
        *args: the `Consumer` arguments.
        **kwargs: the `Consumer` keyword arguments.
    """

    reports_give_ups = True
    """The client logs each batch this thread gives up on (`AnalyticsClient._on_error`), so the
    Segment client's own ERROR lines repeating it are dropped (`analytics.segment_logs`)."""

    def __init__(
        self, store: AuditStore, *args: Any, attribution: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        self.attribution = attribution or {}
        self._report_failure: Callable[..., None] | None = self.on_error  # type: ignore[has-type]
        self.on_error = self._on_error_timed
        self._failed_after_ms: float | None = None
        self._rate_limited: RateLimitAnswers | None = None

    def _on_error_timed(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        """Hand a give-up to the client's handler with how long the failed request took.

        `upload` calls `on_error` on this thread right after `request` raised, so the time measured
        there belongs to this call; the parent's other give-ups (a rate-limit budget spent before
        any request) made no request and carry none, but follow the answers that asked to wait.
        """
        latency_ms, self._failed_after_ms = self._failed_after_ms, None
        rate_limited = self._rate_limited
        if self.rate_limit_start_time is None:
            # The parent ended the episode before reporting (budget spent): the next one counts anew.
            self._rate_limited = None
        if self._report_failure is not None:
            self._report_failure(error, batch, latency_ms=latency_ms, rate_limited=rate_limited)

    def upload(self) -> bool:
        """Upload the next batch; a time measured for an earlier batch never reaches its give-up."""
        self._failed_after_ms = None
        return bool(super().upload())

    def request(self, batch: list[dict[str, Any]]) -> Any:
        """Send the batch through the parent's retries, then record it as delivered."""
        BATCH_SIZE.observe(len(batch))
        started = time.perf_counter()
        try:
            response = super().request(batch)
        except Exception as exc:
            # Given up, or handed back to the queue for a rate limit: on_error says which.
            elapsed = time.perf_counter() - started
            DELIVERY_SECONDS.labels(outcome="error").observe(elapsed)
            self._failed_after_ms = elapsed * 1000
            self._rate_limited = self._count_rate_limit(exc)
            raise
        finally:
            QUEUE_DEPTH.set(self.queue.qsize())
        self._rate_limited = None
        elapsed = time.perf_counter() - started
        DELIVERY_SECONDS.labels(outcome="delivered").observe(elapsed)
        latency_ms = elapsed * 1000
        record_outcome_safely(
            self.store,
            batch,
            AuditStatus.DELIVERED,
            http_status=response.status_code,
            latency_ms=latency_ms,
            **self.attribution,
        )
        return response

    def _count_rate_limit(self, error: Exception) -> RateLimitAnswers | None:
        """The answers asking to wait so far, with this one if it is one: the parent re-queues the
        batch for them and may give up later with a plain `Exception` that names no status."""
        if not (isinstance(error, APIError) and getattr(error, "rate_limited", False)):
            return None
        count = self._rate_limited.count if self._rate_limited is not None else 0
        return RateLimitAnswers(error.status, count + 1)


class AnalyticsClient:
    """Audits and sends track and identify messages.

    Either way a message reaches the Segment client only after its audit entry is committed; what
    the modes trade is the caller's time against what a crash can lose:

    - **batched** (the default): `track` builds the message and queues it for the audit writer
      (`analytics.audit_writer`), which commits batches off the caller's thread and then hands
      them on. The caller pays about what the bare Segment client costs (`make bench`); a
      `kill -9` loses what was queued and not yet written (README "Performance"). When the
      writer's queue is full the call is written strictly instead, so memory stays bounded.
    - **strict** (`strict=True`): `track` returns only after its entry is committed, on the
      caller's thread. Every call that returned is in the log; the price is one committed INSERT
      per call. The tester and replay use it: they show the outcome at once.

    In both modes what sat in the Segment client's in-memory queue at a crash stays `pending` in
    the log for `event-catalog replay`.

    Args:
        write_key: the Segment write key; None disables sending (messages are audited `disabled`).
        store: the audit log.
        host: the tracking API to send to (Segment's own when None).
        source: the sending path recorded with every message (`application`, `tester`, `replay`)
            and with every delivery attempt.
        actor: who runs this client, recorded with each delivery attempt it makes (the person who
            started a replay); None for the application's own client.
        raise_errors: raise `AnalyticsError`s instead of returning them in the receipt.
        destination: recorded with every message, for clients that send to one named destination
            (the tester's); a name and a key fingerprint, never the key.
        strict: write each message on the caller's thread before returning (see above); implied
            by `sync_mode`, whose point is a receipt with the endpoint's answer.
        max_batch: the most messages per audit transaction in batched mode.
        audit_retry_delays: the waits, in seconds, between attempts at a batch the audit database
            refused in batched mode (a restart, a failover); then the batch is given up.
        owns_engine: close the store's engine's connections at `shutdown`: `init` made that engine
            for this client alone. Clients on a shared engine (the dashboard's) leave it open.
        **segment_options: `segment.analytics.Client` settings (`max_queue_size`, `upload_size`,
            `upload_interval`, `max_retries`, `timeout`, `gzip`, `sync_mode`, `thread`, …).

    Raises:
        ConfigurationError: before anything is started, every option that cannot be used, one line
            each, as `analytics.init` says it (`analytics.options.check_options`): `source` not one
            of `Source`, a flag (`strict`, `raise_errors`, `sync_mode`, …) not True or False,
            `thread` not a whole number of 1 or more, `on_error` not callable.
        TypeError: a keyword argument that is none of the above, named with a close match.
    """

    def __init__(
        self,
        write_key: str | None,
        *,
        store: AuditStore,
        host: str | None = None,
        source: Source = Source.APPLICATION,
        actor: str | None = None,
        raise_errors: bool = False,
        destination: str | None = None,
        strict: bool = False,
        max_batch: int = 500,
        audit_retry_delays: Sequence[float] = RETRY_DELAYS,
        owns_engine: bool = False,
        **segment_options: Any,
    ) -> None:
        options = {
            "source": source,
            "strict": strict,
            "raise_errors": raise_errors,
            "max_batch": max_batch,
            "audit_retry_delays": audit_retry_delays,
            **segment_options,
        }
        check_options(options, known=client_options(), caller="AnalyticsClient()")
        self.store = store
        self.owns_engine = owns_engine
        self._shut_down = False
        self._warned_shut_down = False
        self._drops = DropLog(log)
        self.destination = destination
        self.host = host
        self.source = source
        self.actor = actor
        self._attribution: dict[str, Any] = {"source": source, "actor": actor}
        self.raise_errors = raise_errors
        self._user_on_error = segment_options.pop("on_error", None)
        self.segment: SegmentClient | None = None
        self._pid = os.getpid()
        # The forked process that handed this client messages its Segment queue will not send, and how many.
        self._left_pending_by: int | None = None
        self._left_pending = 0
        max_queue_size = int(
            segment_options.get("max_queue_size", SegmentClient.DefaultConfig.max_queue_size)
        )
        if write_key:
            self.segment = self._segment_client(write_key, host, segment_options)
        else:
            log.warning("no Segment write key: messages are audited as disabled and not sent")
        # Created after the Segment client, so that at exit it drains into it before that one stops.
        self.writer: AuditWriter | None = None
        if not (strict or segment_options.get("sync_mode")):
            self.writer = AuditWriter(
                store,
                self._hand_off_committed,
                self._lost,
                max_queue_size=max_queue_size,
                max_batch=max_batch,
                retry_delays=audit_retry_delays,
            )
        self._worker_exit: multiprocessing_util.Finalize | None = None
        if self.segment is not None and self.segment.consumers:
            # After the writer's own exit hook, so that it runs first (atexit runs the last one first).
            atexit.register(self._stop_at_exit)
            self._hook_worker_exit()
            multiprocessing_util.register_after_fork(self, AnalyticsClient._hook_worker_exit)

    @property
    def enabled(self) -> bool:
        """Whether messages are sent (a write key was given)."""
        return self.segment is not None

    @property
    def sync_mode(self) -> bool:
        """Whether each message is posted at once instead of batched."""
        return bool(self.segment is not None and self.segment.sync_mode)

    def queue_depth(self) -> int:
        """Messages waiting in the Segment client's queue (0 in a forked child: see `forked`)."""
        return self.segment.queue.qsize() if self.segment is not None and not self.forked else 0

    @property
    def forked(self) -> bool:
        """Whether this client was created in another process, which then forked this one.

        The child inherits the Segment client's queue, with its count of unfinished messages and its
        locks, but not the threads that send them and release those: waiting on that queue would
        never end, and a lock a thread of the parent held at the fork is never released. So a child
        leaves the Segment client alone: its messages are audited and stay `pending` for `replay`.
        """
        return os.getpid() != self._pid

    def audit_queue_depth(self) -> int:
        """Messages waiting for the audit writer (always 0 in strict mode)."""
        return self.writer.depth() if self.writer is not None else 0

    def _segment_client(self, write_key: str, host: str | None, options: dict[str, Any]) -> SegmentClient:
        quiet_segment_logger()  # its DEBUG lines hold every message, personal data in clear
        threads = int(options.pop("thread", SegmentClient.DefaultConfig.thread))
        # thread=0 makes the client start no consumers of its own: ours replace them (and it
        # leaves `consumers` unset, which is why we assign it below).
        client = SegmentClient(write_key, host=host, on_error=self._on_error, thread=0, **options)
        if client.sync_mode:
            return client
        settings = {
            ours: options.get(theirs, getattr(SegmentClient.DefaultConfig, theirs))
            for theirs, ours in _CONSUMER_SETTINGS.items()
        }
        client.consumers = [
            AuditingConsumer(
                self.store,
                client.queue,
                write_key,
                host=host,
                on_error=self._on_error,
                oauth_manager=client.oauth_manager,
                attribution=self._attribution,
                **settings,
            )
            for _ in range(threads)
        ]
        if client.send:
            for consumer in client.consumers:
                consumer.start()
            # Its exit hook joined each sending thread without a limit: one holding a request to an
            # endpoint that does not answer held the host's exit for its HTTP timeout (`_stop_at_exit`).
            atexit.unregister(client.join)
        return client

    def _on_error(
        self,
        error: Exception,
        batch: list[dict[str, Any]],
        latency_ms: float | None = None,
        rate_limited: RateLimitAnswers | None = None,
    ) -> None:
        """Record a batch the Segment client gave up on, then call the caller's own handler.

        This runs on the Segment consumer's thread, which an exception from the handler would end:
        every later message would stay `pending` and `flush()` would wait forever. `latency_ms` is
        how long the failed request took, retries included, when one was made; `rate_limited`, the
        answers asking to wait that a give-up followed.
        """
        status, http_status, text = describe_failure(error, rate_limited)
        # At ERROR, with the HTTP status: it stands for the Segment client's own ERROR lines.
        answer = f", HTTP {http_status}" if http_status is not None else ""
        log.error("Segment gave up on %s (%s%s): %s", counted(len(batch), "message"), status, answer, text)
        record_outcome_safely(
            self.store,
            batch,
            status,
            http_status=http_status,
            error=text,
            latency_ms=latency_ms,
            **self._attribution,
        )
        self._tell_on_error(error, batch, "messages Segment gave up on")

    def _tell_on_error(self, error: Exception, messages: list[dict[str, Any]], which: str) -> None:
        """Call the application's `on_error` handler, if any, with messages that were not delivered.

        It runs on the library's threads (the Segment consumer's, the audit writer's): an exception
        it raises is logged as the handler's, naming `which` messages it was told of, and stops
        neither the thread nor the other reasons of the same batch. Uncaught, it was logged as "the
        audit writer failed on a batch", sending whoever was on call to the database.
        """
        if self._user_on_error is None:
            return
        try:
            self._user_on_error(error, messages)
        except Exception:
            log.exception("the on_error handler failed on %s %s", len(messages), which)

    def track(
        self,
        spec: TrackSpec,
        *,
        timestamp: datetime | None = None,
        context: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        test: bool = False,
        actor: str | None = None,
    ) -> Receipt:
        """Audit and send a track message built from its spec.

        The keywords are named, not passed on as `**options`: mypy then finds a misspelt one in the
        calling code, and Python's error names this call, not an inner function.

        Args:
            spec: the validated spec (bad values already failed when it was built).
            timestamp: when it happened; now when None (`analytics.messages.build_message`).
            context: the host's own Segment `context` keys (`ip`, `userAgent`, `locale`, …), sent
                beside the library's own; the audit log masks and seals `ip` and keys named like
                personal data in it (`analytics.catalog.personal_context_paths`), as in a property.
            message_id: the message's id; a new one when None.
            test: mark the message as a test (`context.eventCatalog.test`).
            actor: who fired it, for tester and replay sends.

        Returns:
            The receipt; with `raise_errors=True` an error is raised instead of returned.

        Raises:
            TypeError: `spec` is not a track spec, `timestamp` not a datetime, or `context` not a
                mapping or one that sets `eventCatalog` or `library`: a mistake in the calling code,
                raised in every mode (`analytics.messages.check_spec`, `build_message`).
        """
        check_spec("track", spec)
        options = {"timestamp": timestamp, "context": context, "message_id": message_id, "test": test}
        return self.send(spec, actor=actor, **options)

    def identify(
        self,
        spec: IdentifySpec,
        *,
        timestamp: datetime | None = None,
        context: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        test: bool = False,
        actor: str | None = None,
    ) -> Receipt:
        """Audit and send an identify message built from its spec; see `track`."""
        check_spec("identify", spec)
        options = {"timestamp": timestamp, "context": context, "message_id": message_id, "test": test}
        return self.send(spec, actor=actor, **options)

    def send(
        self, spec: TrackSpec | IdentifySpec, *, actor: str | None = None, **message_options: Any
    ) -> Receipt:
        """Build, audit and hand over a message: the one path both `track` and `identify` take.

        A call that interrupts another on the same thread (a signal handler's) is queued and made
        when the interrupted call returns (`analytics.interrupting_calls`): its receipt is `pending`.
        """
        if interrupting():
            return self._queue_interrupting(spec, actor, message_options)
        start_call()
        try:
            delivery = self._delivery(spec, actor, message_options)
            return delivery if isinstance(delivery, Receipt) else delivery()
        finally:
            end_call()

    def _delivery(
        self, spec: TrackSpec | IdentifySpec, actor: str | None, message_options: dict[str, Any]
    ) -> functools.partial[Receipt] | Receipt:
        """The call that audits and hands over the message `spec` makes, with the paths of its personal
        data, to be made now (`send`) or when an interrupted call returns (`_queue_interrupting`); or
        the receipt of a message its spec's values could not make (a spec from `model_construct`):
        nothing to audit or send, said in the log as a message the audit log refuses is."""
        try:
            message, context_size = build_sized_message(
                spec, source=str(self.source), actor=actor, **message_options
            )
        except MessageBuildError as unbuilt:
            log.error("message %s: %s", unbuilt.message["messageId"], unbuilt)
            return self._receipt(unbuilt.message, None, unbuilt)
        return functools.partial(
            self.deliver,
            message,
            personal_data_keys=personal_paths(type(spec), payload_of(message), from_spec=True),
            personal_context_keys=_personal_context(message, message_options.get("context")),
            actor=actor,
            context_size=context_size,
        )

    def _queue_interrupting(
        self, spec: TrackSpec | IdentifySpec, actor: str | None, message_options: dict[str, Any]
    ) -> Receipt:
        # Its id from uuid4, not the pool, whose lock the interrupted call may hold.
        message_options["message_id"] = message_options.get("message_id") or str(uuid.uuid4())
        delivery = self._delivery(spec, actor, message_options)
        if isinstance(delivery, Receipt):
            return delivery
        if self._shut_down:  # refused now, as it would be then: no lock needed to say so
            return delivery()
        queue_call(delivery)
        message = delivery.args[0]
        status = AuditStatus.PENDING if self.enabled else AuditStatus.DISABLED
        return Receipt(message["messageId"], status, message)

    def deliver(
        self,
        message: dict[str, Any],
        *,
        personal_data_keys: frozenset[str] = frozenset(),
        actor: str | None = None,
        personal_context_keys: frozenset[str] = frozenset(),
        context_size: int | None = None,
    ) -> Receipt:
        """Audit an already built message and hand it to the Segment client.

        Args:
            message: a message from `analytics.messages.build_message`.
            personal_data_keys: paths of the payload values to mask in the audit log (`analytics.nested`).
            actor: who fired it.
            personal_context_keys: paths of the host's `context=` values to mask in the audit log
                (`analytics.catalog.personal_context_paths`).
            context_size: the size of the host's `context=` as `analytics.messages.build_sized_message`
                gives it, which spares measuring the whole message (`may_be_oversized`); None
                measures a message with host context whole.

        Returns:
            The receipt; a client that was shut down refuses the message in it
            (`NotInitializedError`), as `analytics.track` does before `init`.
        """
        if self._shut_down:
            return self._refuse_after_shutdown(message)
        record = AuditRecord(
            message,
            status=AuditStatus.PENDING if self.enabled else AuditStatus.DISABLED,
            source=self.source,
            actor=actor,
            personal_data_keys=personal_data_keys,
            destination=self.destination,
            personal_context_keys=personal_context_keys,
        )
        # An oversized message is refused on the caller's thread, as the bare client refuses it,
        # so that its receipt carries the error in both modes.
        if (
            self.writer is not None
            and not may_be_oversized(message, context_size)
            and self.writer.submit(record)
        ):
            return self._receipt(message, record.status)
        return self._deliver_now(record)

    def _refuse_after_shutdown(self, message: dict[str, Any]) -> Receipt:
        """Refuse a message given to a client that was shut down, saying so once, not per call: a host
        calling on after tearing its client down logged a WARNING for every message. The client
        cannot tell who shut it down, so the receipt names every way it could have been."""
        if not self._warned_shut_down:
            self._warned_shut_down = True
            log.warning(
                "this analytics client was shut down: message %s not audited, not sent, nor any later "
                "call to it (logged once: each receipt carries a NotInitializedError)",
                message["messageId"],
            )
        refused = NotInitializedError(
            "this client was shut down (by its shutdown(), by analytics.shutdown() or by a later "
            "analytics.init()): call analytics.init(), or use the client the last one returned"
        )
        return self._receipt(message, None, refused)

    @property
    def shut_down(self) -> bool:
        """Whether `shutdown()` was called: from then on `track` and `identify` refuse in their receipt."""
        return self._shut_down

    def _deliver_now(self, record: AuditRecord) -> Receipt:
        """The strict path: commit the entry on the caller's thread, then hand the message on."""
        message = record.message
        started = time.perf_counter()
        try:
            self.store.record_many([record])
        except (SQLAlchemyError, TypeError, ValueError) as exc:
            # TypeError/ValueError: a value JSON cannot write (a message built by hand, given to `deliver`).
            refused = audit_write_error(exc)
            log.error("message %s not sent: %s", message["messageId"], refused)
            return self._receipt(message, None, refused)
        AUDIT_WRITE_SECONDS.labels(mode="strict").observe(time.perf_counter() - started)
        [(status, error)] = self._hand_off([record])
        return self._receipt(message, status, error)

    def resend(self, message: dict[str, Any]) -> Receipt:
        """Hand a message the audit log already holds to the Segment client again, unchanged.

        Same `messageId` and timestamp, so Segment drops it if an earlier send did arrive within
        about 24 hours (its de-duplication window); a copy of one that arrived longer ago is counted
        twice.
        No entry is written: the outcome is recorded against the original entry, as an attempt
        carrying this client's source and actor. `analytics.replay` is what picks the messages
        and restores their personal data; this is only the hand-over.

        Args:
            message: the message as it was first sent (personal data in clear).

        Returns:
            The receipt: `pending` once queued (the consumer records the outcome), or the outcome
            itself in sync mode or when the Segment client refused it.
        """
        if self.segment is None:
            return self._receipt(message, None, AnalyticsError("no Segment write key: nothing is re-sent"))
        [(status, error)] = self._send(self.segment, [message])
        return self._receipt(message, status, error)

    def _hand_off_committed(self, records: list[AuditRecord]) -> None:
        """The audit writer's hand-over of a committed batch.

        The callers already hold `pending` receipts, so what goes wrong here is recorded in the log
        and told to the client's `on_error` handler, one call per reason, as the Segment client
        tells it of the batches it gives up on.
        """
        outcomes = self._hand_off(records)
        if self._user_on_error is None:
            return
        refused: dict[str, tuple[AnalyticsError, list[dict[str, Any]]]] = {}
        for record, (_, error) in zip(records, outcomes, strict=True):
            if error is not None:
                refused.setdefault(str(error), (error, []))[1].append(record.message)
        for error, messages in refused.values():
            self._tell_on_error(error, messages, "messages the Segment client refused")

    def _hand_off(self, records: list[AuditRecord]) -> list[Outcome]:
        """Hand committed entries' messages to the Segment client; one outcome per record, in order."""
        for status in {record.status for record in records}:
            count_messages([record.message for record in records if record.status is status], str(status))
        if self.segment is None:
            return [(AuditStatus.DISABLED, None)] * len(records)
        return self._send(self.segment, [record.message for record in records])

    def _send(self, segment: SegmentClient, messages: list[dict[str, Any]]) -> list[Outcome]:
        """Enqueue each message; record what the Segment client refused, one update per reason."""
        if self.forked:
            self._leave_pending(len(messages))
            return [(AuditStatus.PENDING, None)] * len(messages)
        outcomes: list[Outcome] = []
        refused: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for message in messages:
            started = time.perf_counter()
            try:
                accepted = self._enqueue(segment, message)
            except (RuntimeError, AssertionError) as exc:
                reason = self._refusal_reason(message, exc)
            except (APIError, requests.RequestException) as exc:
                # Only sync_mode posts inside enqueue, so only it raises delivery errors here.
                outcomes.append(self._failed(message, exc, started))
                continue
            else:
                if accepted:
                    outcomes.append(self._accepted(segment, message, started))
                    continue
                reason = ("queue_full", "the Segment client's queue is full")
            refused.setdefault(reason, []).append(message)
            outcomes.append((AuditStatus.DROPPED, EnqueueError(reason[1])))
        QUEUE_DEPTH.set(segment.queue.qsize())
        for (code, text), batch in refused.items():
            self._drop(batch, code, text)
        self._drops.tick()
        return outcomes

    def _accepted(self, segment: SegmentClient, message: dict[str, Any], started: float) -> Outcome:
        if not segment.sync_mode:
            return AuditStatus.PENDING, None
        self._record_post(message, started, "delivered", AuditStatus.DELIVERED, http_status=200)
        return AuditStatus.DELIVERED, None

    def _failed(self, message: dict[str, Any], error: Exception, started: float) -> Outcome:
        """Record a synchronous post that failed, with how long it took: a timeout reads as one."""
        status, http_status, text = describe_failure(error)
        self._record_post(message, started, "error", status, http_status=http_status, error=text)
        return status, DeliveryError(text, http_status)

    def _record_post(
        self, message: dict[str, Any], started: float, outcome: str, status: AuditStatus, **details: Any
    ) -> None:
        """Record how a synchronous post ended and how long it took, in the audit log and the metrics,
        the same way whether it was delivered or failed."""
        seconds = time.perf_counter() - started
        _observe_synchronous_post(outcome, seconds)
        record_outcome_safely(
            self.store, [message], status, latency_ms=seconds * 1000, **details, **self._attribution
        )

    def _lost(self, records: Sequence[AuditRecord], error: Exception) -> None:
        """Tell the caller's `on_error` about batched messages the audit log refused for good."""
        self._tell_on_error(audit_write_error(error), [record.message for record in records], "lost messages")

    @staticmethod
    def _enqueue(segment: SegmentClient, message: dict[str, Any]) -> bool:
        """Put a built message on the Segment client's queue (or post it, in sync mode).

        `build_message` has already normalised the message exactly as `Client._enqueue` would
        (`tests/test_segment_contract.py` holds us to it), so the queued path skips that second
        pass, which costs as much as the bare client's whole `track`, and keeps its checks: the
        size limit and `send=False`. Sync mode goes through `Client.track`, which posts.
        """
        if segment.sync_mode:
            return AnalyticsClient._track_through(segment, message)
        if message_size(message) > MAX_MESSAGE_SIZE:
            raise RuntimeError("message exceeds the 32 KB limit")
        if not segment.send:
            return True
        try:
            segment.queue.put_nowait(message)
        except queue.Full:
            return False
        return True

    @staticmethod
    def _track_through(segment: SegmentClient, message: dict[str, Any]) -> bool:
        # The client writes `context.library` into the dict it is given: hand it a copy.
        common = {
            "user_id": message["userId"],
            "context": copy.deepcopy(message["context"]),
            "timestamp": datetime.fromisoformat(message["timestamp"]),
            "message_id": message["messageId"],
        }
        if message["type"] == "track":
            accepted, _ = segment.track(event=message["event"], properties=message["properties"], **common)
        else:
            accepted, _ = segment.identify(traits=message["traits"], **common)
        return bool(accepted)

    @staticmethod
    def _refusal_reason(message: dict[str, Any], error: Exception) -> tuple[str, str]:
        """A short code (for metrics) and a sentence (for the audit log) for a refused message."""
        size = message_size(message)
        if size > MAX_MESSAGE_SIZE:
            return "too_large", f"message is {size_in_words(message)}, over Segment's 32 KB limit"
        return "refused", f"the Segment client refused the message: {error}"

    def _drop(self, messages: list[dict[str, Any]], code: str, reason: str) -> None:
        self._drops.dropped(messages, code, reason)
        ENQUEUE_FAILURES.labels(reason=code).inc(len(messages))
        record_outcome_safely(self.store, messages, AuditStatus.DROPPED, error=reason, **self._attribution)

    def _receipt(
        self, message: dict[str, Any], status: AuditStatus | None, error: AnalyticsError | None = None
    ) -> Receipt:
        if error is not None and self.raise_errors:
            raise error
        return Receipt(str(message["messageId"]), status, message, error)

    def flush(self, timeout: float | None = SHUTDOWN_TIMEOUT) -> None:
        """Wait until every queued message has been audited, then sent or given up on, while the
        audit writer and the Segment client make progress.

        With the Segment client's default budgets, sending to a failing endpoint can take hours:
        `timeout` bounds the wait as `shutdown` bounds its own, so that neither a stalled audit
        database nor a stalled endpoint holds the host. What is not done then is counted in an
        ERROR log line and left to the threads, which go on with it. In a forked child (`forked`)
        it waits for the audit writer only.

        Args:
            timeout: the most seconds to wait while neither makes progress, waiting on both together
                (None: as long as it takes; a backlog being worked through is waited for whole
                either way).

        Raises:
            TypeError: `timeout` is neither a number nor None.
            ValueError: `timeout` is not finite, or not more than 0.
        """
        check_timeout(timeout, "flush()")
        patience = self._patience(timeout)
        if self.writer is not None:
            self.writer.flush(patience)
        if self.segment is None:
            return
        if self.forked:
            self._leave_to_parent()
            return
        self._drain(self.segment, patience, "a flush", "left to its threads, which go on sending them")

    def shutdown(self, timeout: float | None = SHUTDOWN_TIMEOUT) -> None:
        """Write what is queued, flush, then stop the threads. Messages still pending stay so for `replay`.

        In a forked child (`forked`) only the audit writer, which is the child's own, is drained
        and stopped. Then the audit engine's connections are closed if the client owns it
        (`owns_engine`), and nothing the process keeps (its exit and fork hooks) holds the client.
        From the start of the shutdown on, `track` and `identify` refuse in their receipt.

        Args:
            timeout: the most seconds to wait while neither the audit writer nor the Segment client
                makes progress (None: as long as it takes), so that a stalled audit database or
                endpoint cannot hold the host's own shutdown, while a backlog being worked through
                is not cut short. It is one budget for the whole shutdown: with both stalled, it
                returns after about `timeout` seconds, not one timeout per queue or thread. What is
                not done by then is counted in an ERROR log line and left behind: messages not
                audited yet (lost if the process ends before the database answers) and messages
                audited but not sent, which stay `pending` for `replay`.

        Raises:
            TypeError: `timeout` is neither a number nor None, before anything is stopped.
            ValueError: `timeout` is not finite, or not more than 0, before anything is stopped.
        """
        check_timeout(timeout, "shutdown()")
        self._shut_down = True
        patience = self._patience(timeout)
        if self.writer is not None:
            self.writer.close(patience)
        if self.segment is not None:
            self._stop_segment(self.segment, patience)
        self._drops.close()
        if self.owns_engine:
            self.store.engine.dispose()

    def _patience(self, timeout: float | None) -> Patience:
        """One budget of `timeout` seconds without progress for every stage of a flush or a shutdown,
        watching the audit writer's queue and the Segment client's (not a forked child's copy)."""
        work_left = []
        if self.writer is not None:
            work_left.append(self.writer.unfinished)
        if self.segment is not None and not self.forked:
            tasks = self.segment.queue
            work_left.append(lambda: tasks.unfinished_tasks)
        return Patience(timeout, work_left)

    def _stop_segment(self, segment: SegmentClient, patience: Patience) -> None:
        """Segment's `flush()` and `join()`, which wait without a limit, while there is patience."""
        # The exit hooks, stopping the consumers, would keep this client (and its engine) alive.
        atexit.unregister(self._stop_at_exit)
        self._unhook_worker_exit()
        if self.forked:
            self._leave_to_parent()
            return
        self._drain(segment, patience, "the shutdown", self._pending_for_replay())
        self._stop_consumers(segment, patience)

    def _stop_at_exit(self) -> None:
        """At an exit without `shutdown()`: the audit writer's drain (its own exit hook's work), then
        the sending threads stopped as Segment's exit hook did, with one budget of `SHUTDOWN_TIMEOUT`
        seconds without progress for both, as `shutdown()` has, rather than one each.

        Like Segment's hook it does not flush: messages still queued stay `pending` for `replay`, as
        a WARNING line counts. In a forked child the Segment client is the parent's: the writer is
        drained, and what the child handed this client is counted as `flush()` counts it.
        """
        # Run by the interpreter's exit, before multiprocessing's own: the worker's hook is not needed.
        self._unhook_worker_exit()
        if self.segment is None:
            return
        patience = self._patience(SHUTDOWN_TIMEOUT)
        if self.writer is not None:
            self.writer.close(patience)
        self._drops.close()
        if self.forked:
            self._leave_to_parent()
            return
        if not self._stop_consumers(self.segment, patience):
            log.error(
                "the Segment client was still sending at exit: %s messages not sent yet, %s",
                self.segment.queue.unfinished_tasks,
                self._pending_for_replay(),
            )
        elif self.segment.queue.unfinished_tasks:
            # Thousands could stay behind after a burst without a word, for replay to find an hour later.
            log.warning(
                "%s messages were still queued for the Segment client at exit, not sent: %s "
                "(analytics.shutdown() on the way out sends them)",
                self.segment.queue.unfinished_tasks,
                self._pending_for_replay(),
            )

    def _hook_worker_exit(self) -> None:
        """Have the end of a multiprocessing worker (this process, or one forked from it later) shut
        this client down.

        A worker ends with `os._exit` once multiprocessing's own exit hooks have run, skipping
        `_stop_at_exit` and its count of what stayed queued, and a `Pool` runs no code of the host's
        after its tasks: the README's `shutdown()` before the worker returns had no place there, and
        a `Pool(initializer=analytics.init)` that was closed and joined sent almost nothing, without
        a word. So the worker's end does what `shutdown()` does, sending what is queued within
        `SHUTDOWN_TIMEOUT` without progress. Ahead of the audit writer's own hook (a higher
        priority), whose drain it includes; a worker forgets the hooks of the process it was forked
        from, so one registers again (`register_after_fork`), as the writer does.
        """
        if not self._shut_down:
            self._worker_exit = multiprocessing_util.Finalize(None, self.shutdown, exitpriority=1)

    def _unhook_worker_exit(self) -> None:
        """Forget the worker's exit hook: it would shut down again, and it keeps the client alive."""
        if self._worker_exit is not None:
            self._worker_exit.cancel()
            self._worker_exit = None

    @staticmethod
    def _stop_consumers(segment: SegmentClient, patience: Patience) -> bool:
        """Stop the sending threads once their batch is done, while there is patience: whether they all
        stopped. A thread still sending after that is left to finish (a daemon: the exit ends it)."""
        for consumer in segment.consumers or ():
            consumer.pause()
        for consumer in segment.consumers or ():
            if consumer.is_alive():
                consumer.join(patience.left())
        return not any(consumer.is_alive() for consumer in segment.consumers or ())

    @staticmethod
    def _drain(segment: SegmentClient, patience: Patience, during: str, left_to: str) -> None:
        """Segment's `flush()`, which waits without a limit, while there is patience; say what it left
        and to whom (`left_to`): after a flush the threads go on sending, after a shutdown `replay`."""
        tasks = segment.queue
        if not patience.wait(functools.partial(join_within, tasks)):
            log.error(
                "the Segment client stopped making progress during %s: %s messages not sent yet, %s",
                during,
                tasks.unfinished_tasks,
                left_to,
            )

    def _pending_for_replay(self) -> str:
        """Where unsent messages are left: `pending` for replay, which cannot re-send those holding
        personal data stored masked only; the log said they were kept, and they were lost for good."""
        return PENDING_FOR_REPLAY + (UNREPLAYABLE if unreplayable_personal_data(self.store) else "")

    def _leave_pending(self, count: int) -> None:
        """Count messages a forked process audited through this client, which will not send them;
        warn at the first: a worker of `gunicorn --preload` with `init()` at import sent nothing,
        and said so only from a `flush()` or `shutdown()` such a worker seldom makes."""
        if self._left_pending_by != os.getpid():
            self._left_pending_by, self._left_pending = os.getpid(), 0
            log.warning(
                "this client was created by process %s, which forked this one: the Segment client's "
                "threads do not survive a fork, so this process's messages are audited, not sent, and "
                "stay %s; call analytics.init() in the forked process (gunicorn's post_fork hook, "
                "Pool(initializer=analytics.init)) to send them (logged once per process)",
                self._pid,
                self._pending_for_replay(),
            )
        self._left_pending += count

    def _leave_to_parent(self) -> None:
        """Warn a forked process that the messages it audited through this client wait for `replay`;
        only one that did: a child that sent nothing through it (one that called `init()` again, as
        the README advises) was told so at every start, and it was not true."""
        if self._left_pending_by != os.getpid():
            return
        log.warning(
            "this client was created by process %s, which forked this one: its Segment queue is that "
            "process's, and the %s this process audited through it stay %s",
            self._pid,
            counted(self._left_pending, "message"),
            self._pending_for_replay(),
        )


_NOT_OPTIONS = frozenset({"self", "write_key", "segment_options"})
"""Parameters of `AnalyticsClient` and of the Segment client that are not keyword options."""


@functools.cache
def client_options() -> frozenset[str]:
    """Every keyword option `AnalyticsClient` takes: its own and the Segment client's it passes on."""
    names = {*inspect.signature(AnalyticsClient).parameters, *inspect.signature(SegmentClient).parameters}
    return frozenset(names - _NOT_OPTIONS)
