"""The client wrapper: audit every message, then hand it to the real Segment client.

`segment-analytics-python` does the batching, retries and back-off; this module adds what it lacks
for us and nothing more:

- the message is written to the audit log before the Segment client sees it, so nothing reaches
  Segment that the log does not hold;
- its status then follows what really happened. The Segment client reports failures through
  `on_error` but has no success callback, so `AuditingConsumer` extends its documented unit of work,
  `Consumer.request()`, which returns only after a 2xx for the whole batch;
- `track`/`identify` never raise into the host application for an analytics reason (unless
  `raise_errors=True`): they return a `Receipt` that says what happened.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from segment.analytics import Client as SegmentClient
from segment.analytics.consumer import Consumer
from segment.analytics.request import APIError
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import AuditStatus, AuditStore, Source
from analytics.errors import AnalyticsError, AuditWriteError, DeliveryError, EnqueueError
from analytics.messages import build_message
from analytics.metrics import (
    AUDIT_WRITE_SECONDS,
    BATCH_SIZE,
    DELIVERY_SECONDS,
    ENQUEUE_FAILURES,
    MESSAGES,
    QUEUE_DEPTH,
    count_messages,
    event_label,
)
from analytics.spec import IdentifySpec, TrackSpec

log = logging.getLogger(__name__)

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
        message: the message exactly as built (personal data in clear: it is the caller's own).
        error: what went wrong, if anything.
    """

    message_id: str
    status: AuditStatus | None
    message: dict[str, Any]
    error: AnalyticsError | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing went wrong (a `disabled` message is not an error: it is configuration)."""
        return self.error is None


def _message_ids(batch: list[dict[str, Any]]) -> list[str]:
    return [str(item["messageId"]) for item in batch if item.get("messageId")]


def record_outcome_safely(
    store: AuditStore, batch: list[dict[str, Any]], status: AuditStatus, **details: Any
) -> None:
    """Record a batch's outcome; a failing audit database is logged, never raised into a send.

    An outcome that could not be recorded leaves its entries `pending`, so `replay` re-sends them
    with the same messageId, which Segment de-duplicates: nothing is lost, at worst sent twice.
    """
    count_messages(batch, str(status))
    try:
        store.record_outcome(_message_ids(batch), status, **details)
    except SQLAlchemyError:
        log.exception("could not record %s for %s messages", status, len(batch))


def describe_failure(error: Exception) -> tuple[AuditStatus, int | None, str]:
    """Classify an error the Segment client gave up on: (status, HTTP status, text for the log).

    `APIError`s and network errors are failed deliveries. The consumer's own give-ups (rate-limit
    budget spent, queue full while re-queueing) are plain `Exception`s: the batch was dropped.
    """
    if isinstance(error, APIError):
        return AuditStatus.FAILED, error.status, f"{error.code}: {error.message}"
    if isinstance(error, requests.RequestException):
        return AuditStatus.FAILED, None, f"{type(error).__name__}: {error}"
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

    def __init__(
        self, store: AuditStore, *args: Any, attribution: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        self.attribution = attribution or {}

    def request(self, batch: list[dict[str, Any]]) -> Any:
        """Send the batch through the parent's retries, then record it as delivered."""
        BATCH_SIZE.observe(len(batch))
        started = time.perf_counter()
        try:
            response = super().request(batch)
        except Exception:
            # Given up, or handed back to the queue for a rate limit: on_error says which.
            DELIVERY_SECONDS.labels(outcome="error").observe(time.perf_counter() - started)
            raise
        finally:
            QUEUE_DEPTH.set(self.queue.qsize())
        DELIVERY_SECONDS.labels(outcome="delivered").observe(time.perf_counter() - started)
        latency_ms = (time.perf_counter() - started) * 1000
        record_outcome_safely(
            self.store,
            batch,
            AuditStatus.DELIVERED,
            http_status=response.status_code,
            latency_ms=latency_ms,
            **self.attribution,
        )
        return response


class AnalyticsClient:
    """Audits and sends track and identify messages.

    Strict by construction: `track` and `identify` return only after the audit entry is committed,
    on the caller's thread, and only then hand the message to the Segment client. So every call
    that returned is in the log, and a crash loses no message from it: what sat in the Segment
    client's in-memory queue stays `pending` for `event-catalog replay`. The price is one committed
    INSERT per call on the caller's thread (see `make bench` for what that costs against the bare
    Segment client); a batched writer off the caller's thread is not offered.

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
        **segment_options: `segment.analytics.Client` settings (`max_queue_size`, `upload_size`,
            `upload_interval`, `max_retries`, `timeout`, `gzip`, `sync_mode`, `thread`, …).
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
        **segment_options: Any,
    ) -> None:
        self.store = store
        self.destination = destination
        self.host = host
        self.source = source
        self.actor = actor
        self._attribution: dict[str, Any] = {"source": source, "actor": actor}
        self.raise_errors = raise_errors
        self._user_on_error = segment_options.pop("on_error", None)
        self._warned_disabled = False
        self.segment: SegmentClient | None = None
        if write_key:
            self.segment = self._segment_client(write_key, host, segment_options)
        else:
            log.warning("no Segment write key: messages are audited as disabled and not sent")

    @property
    def enabled(self) -> bool:
        """Whether messages are sent (a write key was given)."""
        return self.segment is not None

    @property
    def sync_mode(self) -> bool:
        """Whether each message is posted at once instead of batched."""
        return bool(self.segment is not None and self.segment.sync_mode)

    def queue_depth(self) -> int:
        """Messages waiting in the Segment client's queue."""
        return self.segment.queue.qsize() if self.segment is not None else 0

    def _segment_client(self, write_key: str, host: str | None, options: dict[str, Any]) -> SegmentClient:
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
        return client

    def _on_error(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        """Record a batch the Segment client gave up on, then call the caller's own handler."""
        status, http_status, text = describe_failure(error)
        log.warning("Segment gave up on %s messages (%s): %s", len(batch), status, text)
        record_outcome_safely(
            self.store, batch, status, http_status=http_status, error=text, **self._attribution
        )
        if self._user_on_error is not None:
            self._user_on_error(error, batch)

    def track(self, spec: TrackSpec, *, actor: str | None = None, **message_options: Any) -> Receipt:
        """Audit and send a track message built from its spec.

        Args:
            spec: the validated spec (bad values already failed when it was built).
            actor: who fired it, for tester and replay sends.
            **message_options: `build_message` options (`test`, `message_id`, `timestamp`).

        Returns:
            The receipt; with `raise_errors=True` an error is raised instead of returned.
        """
        return self.send(spec, actor=actor, **message_options)

    def identify(self, spec: IdentifySpec, *, actor: str | None = None, **message_options: Any) -> Receipt:
        """Audit and send an identify message built from its spec; see `track`."""
        return self.send(spec, actor=actor, **message_options)

    def send(
        self, spec: TrackSpec | IdentifySpec, *, actor: str | None = None, **message_options: Any
    ) -> Receipt:
        """Build, audit and hand over a message: the one path both `track` and `identify` take."""
        message = build_message(spec, source=str(self.source), actor=actor, **message_options)
        return self.deliver(message, personal_data_keys=type(spec).personal_data_keys(), actor=actor)

    def deliver(
        self,
        message: dict[str, Any],
        *,
        personal_data_keys: frozenset[str] = frozenset(),
        actor: str | None = None,
    ) -> Receipt:
        """Audit an already built message and hand it to the Segment client.

        Args:
            message: a message from `analytics.messages.build_message`.
            personal_data_keys: payload keys to mask in the audit log.
            actor: who fired it.
        """
        initial = AuditStatus.PENDING if self.enabled else AuditStatus.DISABLED
        started = time.perf_counter()
        try:
            self.store.record(
                message,
                status=initial,
                source=self.source,
                actor=actor,
                personal_data_keys=personal_data_keys,
                destination=self.destination,
            )
        except SQLAlchemyError as exc:
            log.error("audit log unavailable, message %s not sent: %s", message["messageId"], exc)
            return self._receipt(message, None, AuditWriteError(f"audit log unavailable: {exc}"))
        AUDIT_WRITE_SECONDS.observe(time.perf_counter() - started)
        MESSAGES.labels(event=event_label(message), status=str(initial)).inc()
        if self.segment is None:
            if not self._warned_disabled:
                log.warning("analytics disabled (no write key): %s audited, not sent", message.get("event"))
                self._warned_disabled = True
            return self._receipt(message, AuditStatus.DISABLED)
        return self._hand_off(self.segment, message)

    def resend(self, message: dict[str, Any]) -> Receipt:
        """Hand a message the audit log already holds to the Segment client again, unchanged.

        Same `messageId` and timestamp, so Segment de-duplicates it if an earlier send did arrive.
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
        return self._hand_off(self.segment, message)

    def _hand_off(self, segment: SegmentClient, message: dict[str, Any]) -> Receipt:
        started = time.perf_counter()
        try:
            accepted = self._enqueue(segment, message)
        except (RuntimeError, AssertionError) as exc:
            return self._drop(message, *self._refusal_reason(message, exc))
        except (APIError, requests.RequestException) as exc:
            # Only sync_mode posts inside enqueue, so only it raises delivery errors here.
            status, http_status, text = describe_failure(exc)
            record_outcome_safely(
                self.store, [message], status, http_status=http_status, error=text, **self._attribution
            )
            return self._receipt(message, status, DeliveryError(text, http_status))
        QUEUE_DEPTH.set(segment.queue.qsize())
        if not accepted:
            return self._drop(message, "queue_full", "the Segment client's queue is full")
        if segment.sync_mode:
            latency_ms = (time.perf_counter() - started) * 1000
            record_outcome_safely(
                self.store,
                [message],
                AuditStatus.DELIVERED,
                http_status=200,
                latency_ms=latency_ms,
                **self._attribution,
            )
            return self._receipt(message, AuditStatus.DELIVERED)
        return self._receipt(message, AuditStatus.PENDING)

    @staticmethod
    def _enqueue(segment: SegmentClient, message: dict[str, Any]) -> bool:
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
        size = len(json.dumps(message).encode())
        # Segment rejects messages over 32 KB; the client checks before queueing (MAX_MSG_SIZE).
        if size > 32 << 10:
            return "too_large", f"message is {size} bytes, over Segment's 32 KB limit"
        return "refused", f"the Segment client refused the message: {error}"

    def _drop(self, message: dict[str, Any], code: str, reason: str) -> Receipt:
        log.warning("message %s dropped: %s", message["messageId"], reason)
        ENQUEUE_FAILURES.labels(reason=code).inc()
        record_outcome_safely(self.store, [message], AuditStatus.DROPPED, error=reason, **self._attribution)
        return self._receipt(message, AuditStatus.DROPPED, EnqueueError(reason))

    def _receipt(
        self, message: dict[str, Any], status: AuditStatus | None, error: AnalyticsError | None = None
    ) -> Receipt:
        if error is not None and self.raise_errors:
            raise error
        return Receipt(str(message["messageId"]), status, message, error)

    def flush(self) -> None:
        """Wait until every queued message has been sent or given up on.

        With the Segment client's default budgets this can take hours against a failing
        endpoint; clients that must answer quickly (the tester) are built with small budgets.
        """
        if self.segment is not None:
            self.segment.flush()

    def shutdown(self) -> None:
        """Flush, then stop the consumer threads. Messages still pending stay so for `replay`."""
        if self.segment is None:
            return
        self.segment.flush()
        if self.segment.consumers:
            self.segment.join()
