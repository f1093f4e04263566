"""Turn a spec into the exact Segment message the client will send.

The audit log must hold a message before the Segment client sees it, and the tester must preview
exactly what will be sent, so the message is built here in full, normalised the way
`segment.analytics.Client._enqueue` normalises it (millisecond UTC timestamp, string ids,
`context.library`, `anonymousId: null`). `tests/test_segment_contract.py` fails if the client's
normalisation changes under us.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from segment.analytics.version import VERSION as SEGMENT_VERSION

from analytics.catalog import CATALOG
from analytics.spec import IdentifySpec, TrackSpec

CONTEXT_KEY = "eventCatalog"
"""Key under `context` where the catalog records who built a message, from which catalog version."""

SEGMENT_LIBRARY = {"name": "analytics-python", "version": SEGMENT_VERSION}


def utc_now_ms() -> datetime:
    """Now in UTC, truncated to the millisecond the Segment client keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def catalog_context(
    spec: TrackSpec | IdentifySpec, *, source: str, actor: str | None, test: bool
) -> dict[str, Any]:
    """What the catalog adds to `context`: its version, the spec, the sending path and, for tests, who."""
    marker: dict[str, Any] = {
        "version": CATALOG.version,
        "spec": type(spec).__name__,
        "source": source,
        "test": test,
    }
    if actor is not None:
        marker["actor"] = actor
    return {CONTEXT_KEY: marker}


def build_message(
    spec: TrackSpec | IdentifySpec,
    *,
    source: str = "application",
    actor: str | None = None,
    test: bool = False,
    message_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """Build the Segment message for a spec, exactly as the Segment client will enqueue it.

    Args:
        spec: a validated track or identify spec.
        source: the sending path (`application`, `tester`, `replay`), recorded in the context.
        actor: who fired it, for tester and replay sends.
        test: whether it is a test message (warehouses filter these out).
        message_id: keep an existing id (replays); a new UUID otherwise.
        timestamp: keep an existing time (replays); now otherwise. Naive times are taken as UTC.

    Returns:
        The message as a JSON-ready dict.
    """
    when = timestamp or utc_now_ms()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    context = {
        **catalog_context(spec, source=source, actor=actor, test=test),
        "library": dict(SEGMENT_LIBRARY),
    }
    message: dict[str, Any] = {
        "integrations": {},
        "anonymousId": None,
        "timestamp": when.isoformat(timespec="milliseconds"),
        "context": context,
        "userId": spec.scope.segment_user_id(),
        "messageId": message_id or str(uuid.uuid4()),
    }
    if isinstance(spec, TrackSpec):
        message.update(type="track", event=str(spec.event), properties=spec.properties())
    else:
        message.update(type="identify", traits=spec.traits())
    return message


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    """The part of a message a spec describes: `properties` for a track, `traits` for an identify."""
    key = "properties" if message.get("type") == "track" else "traits"
    payload: dict[str, Any] = message.get(key) or {}
    return payload
