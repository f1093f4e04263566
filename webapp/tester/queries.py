"""The tester's reads, as functions returning `Select`, so views paginate them and tests inspect them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from analytics.audit import AuditEntry, Source
from analytics.catalog import CATALOG
from analytics.messages import CONTEXT_KEY
from analytics.scopes import SCOPES
from webapp.tester.models import ScopePreset, TesterSend

RECENT_WINDOW = 500
"""How many of the latest audit entries recent scope ids are read from: enough to cover a working
day of testing, small enough to read on every page view through the `recorded_at` index."""
RECENT_PER_FIELD = 10


def history(*, actor: str | None = None, limit: int = 20) -> Select[tuple[AuditEntry, float | None]]:
    """The tester's latest sends, newest first, with their round-trip times; only `actor`'s if given."""
    query = (
        select(AuditEntry, TesterSend.round_trip_ms)
        .outerjoin(TesterSend, TesterSend.message_id == AuditEntry.message_id)
        .where(AuditEntry.source == Source.TESTER)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return query.where(AuditEntry.actor == actor) if actor is not None else query


def latest_entries(limit: int = RECENT_WINDOW) -> Select[tuple[AuditEntry]]:
    """The latest audit entries from every source, newest first: where recent scope ids come from."""
    return select(AuditEntry).order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc()).limit(limit)


def presets() -> Select[tuple[ScopePreset]]:
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

    value: Any
    event: str
    seen_at: datetime


def message_name(entry: AuditEntry) -> str:
    """The event string, or for an identify call the name of the spec that built it."""
    if entry.event:
        return entry.event
    spec = ((entry.payload.get("context") or {}).get(CONTEXT_KEY) or {}).get("spec")
    for info in CATALOG.identifiers.values():
        if info.constant == spec:
            return f"Identify: {info.name}"
    return "Identify"


def _scope_properties() -> dict[str, str]:
    """Scope field name → the Segment property it is sent as, over every scope."""
    mapping: dict[str, str] = {}
    for scope in SCOPES:
        mapping.update(scope.property_fields())
    return mapping


def recent_ids(entries: Iterable[AuditEntry]) -> dict[str, list[RecentId]]:
    """Per scope field, the distinct values in `entries` (newest first), each with its latest event."""
    properties = _scope_properties()
    recent: dict[str, dict[Any, RecentId]] = {"user_id": {}, **{name: {} for name in properties}}
    for entry in entries:
        payload_properties = entry.payload.get("properties") or {}
        values = {"user_id": entry.user_id}
        values.update({name: payload_properties.get(prop) for name, prop in properties.items()})
        for name, value in values.items():
            seen = recent[name]
            if value in (None, "") or value in seen or len(seen) >= RECENT_PER_FIELD:
                continue
            seen[value] = RecentId(value, message_name(entry), entry.recorded_at)
    return {name: list(seen.values()) for name, seen in recent.items()}
