"""The tester's reads, as functions returning `Select`, so views paginate them and tests inspect them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, exists, select

from analytics.audit import MESSAGE_TYPES, AuditEntry, DeliveryAttempt, Source
from analytics.messages import CONTEXT_KEY
from analytics.queries import call_name
from analytics.scopes import SCOPES
from webapp.tester.models import ScopePreset, TesterSend

RECENT_WINDOW = 500
"""How many of the latest audit entries recent scope ids are read from: enough to cover a working
day of testing, small enough to read on every page view through the `recorded_at` index."""
RECENT_PER_FIELD = 10


def history(*, actor: str | None = None, limit: int = 20) -> Select[AuditEntry, float | None, bool]:
    """The tester's latest sends, newest first; only `actor`'s if given.

    Each with the tester's own round trip and whether a replay re-sent it since: the entry's status
    is then the re-send's, which the tester's round trip did not measure.
    """
    resent = exists().where(
        DeliveryAttempt.message_id == AuditEntry.message_id, DeliveryAttempt.source == Source.REPLAY
    )
    query = (
        select(AuditEntry, TesterSend.round_trip_ms, resent.label("resent"))
        .outerjoin(TesterSend, TesterSend.message_id == AuditEntry.message_id)
        .where(AuditEntry.source == Source.TESTER)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return query.where(AuditEntry.actor == actor) if actor is not None else query


def latest_scope_ids(limit: int = RECENT_WINDOW) -> Select[Any]:
    """The latest messages from every source, newest first, as the columns recent ids come from.

    Messages only: an action (a preset saved, a user added) names ids no event carried, and was
    suggested as if one had (`44 · Scope Preset Saved`).

    The database picks the scope properties out of the payloads, as text: loading 500 whole entries
    (every column, every payload decoded) on each tester view was most of a test send's round trip.
    Each row has `user_id`, `event`, `recorded_at`, the identify `spec`, then one column per scope
    field, named as the field.
    """
    payload = AuditEntry.payload
    properties = _scope_properties()
    return (
        select(
            AuditEntry.user_id,
            AuditEntry.event,
            AuditEntry.recorded_at,
            payload["context"][CONTEXT_KEY]["spec"].as_string().label("spec"),
            *(payload["properties"][prop].as_string().label(name) for name, prop in properties.items()),
        )
        .where(AuditEntry.type.in_(MESSAGE_TYPES))
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )


def presets() -> Select[ScopePreset]:
    """The team's scope presets, by name."""
    return select(ScopePreset).order_by(ScopePreset.name)


@dataclass(frozen=True)
class RecentId:
    """A scope id seen recently, with the event that last carried it.

    Attributes:
        value: the id (or application name, namespace, chart).
        event: the latest event (or identify call) that carried it.
        seen_at: when that entry was recorded.
    """

    value: str
    event: str
    seen_at: datetime


def _scope_properties() -> dict[str, str]:
    """Scope field name → the Segment property it is sent as, over every scope."""
    mapping: dict[str, str] = {}
    for scope in SCOPES:
        mapping.update(scope.property_fields())
    return mapping


def recent_ids(rows: Iterable[Row[Any]]) -> dict[str, list[RecentId]]:
    """Per scope field, the distinct values of `latest_scope_ids` rows, newest first, with their event.

    Values are compared and shown as text, the form they are typed in (SQLite hands numbers back as
    numbers, PostgreSQL as text).
    """
    fields = ["user_id", *_scope_properties()]
    recent: dict[str, dict[str, RecentId]] = {name: {} for name in fields}
    for row in rows:
        values = row._mapping
        for name in fields:
            seen, raw = recent[name], values[name]
            value = "" if raw is None else str(raw)
            if not value or value in seen or len(seen) >= RECENT_PER_FIELD:
                continue
            seen[value] = RecentId(value, call_name(row.event, row.spec), row.recorded_at)
    return {name: list(seen.values()) for name, seen in recent.items()}
