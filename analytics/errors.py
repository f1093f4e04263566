"""Errors the library reports: in a receipt by default, raised with `raise_errors=True`."""

from __future__ import annotations

from typing import Any


class AnalyticsError(Exception):
    """Base of every error this library reports."""


class EnqueueError(AnalyticsError):
    """The Segment client refused a message: its queue was full or the message was over 32 KB."""


class DeliveryError(AnalyticsError):
    """A synchronous send reached the endpoint (or tried to) and did not get a 2xx answer.

    Attributes:
        http_status: the endpoint's status code, or None when it could not be reached.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class MessageBuildError(AnalyticsError):
    """A spec's values could not be made into a message, so it was neither audited nor sent.

    Building a spec refuses such values; only one made with `model_construct`, which skips those
    checks, gets here (`scope=None`, bytes that are not UTF-8, an object pydantic cannot serialise).

    Attributes:
        message: what could be built of the message: its id, event, time and context, without its
            properties (or traits), and without its `userId` when the scope could not give one.
    """

    def __init__(self, text: str, message: dict[str, Any]) -> None:
        super().__init__(text)
        self.message = message


class AuditWriteError(AnalyticsError):
    """The audit log could not record a message, so it was not sent (nothing leaves unaudited)."""


class AuditDatabaseError(AnalyticsError):
    """The audit database cannot be used at all: the server cannot be reached, or refused us."""


class SchemaError(AnalyticsError):
    """The audit database's schema is missing or at another revision than this library expects."""


class NotInitializedError(AnalyticsError):
    """`analytics.track`/`identify` was called before `analytics.init`, or on a client that was shut
    down (by `shutdown()` or a later `init()`)."""
