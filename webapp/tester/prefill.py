"""Pre-fill the tester from a stored message: "Edit and send" from the audit log and the tester's History.

The audit log keeps personal data masked (`masked:<fingerprint>`), which cannot be turned back into
the value: such fields are left empty with a note asking for the value again, rather than sending
the mask as if it were an email address.
"""

from __future__ import annotations

from typing import Any

from analytics.audit import AuditEntry
from analytics.catalog import CATALOG, SpecInfo
from analytics.messages import catalog_marker, payload_of
from analytics.personal_data import masked_keys
from webapp.tester.destinations import DEFAULT_NAME, Destination
from webapp.tester.forms import (
    FIELDS,
    PROP,
    RAW,
    TesterInput,
    display_value,
    dump_raw,
    field_text,
    own_properties,
)

REENTER = "Stored masked in the audit log: enter the value again."


def entry_spec(entry: AuditEntry) -> SpecInfo | None:
    """Today's catalog entry for a stored message, or None when today's catalog has no spec for it
    (the tester cannot pre-fill it: pages leave out their "Edit and send" for it)."""
    marker = catalog_marker(entry.payload)
    infos = [*CATALOG.events.values(), *CATALOG.identifiers.values()]
    by_class = next((info for info in infos if info.spec.__name__ == marker.get("spec")), None)
    if by_class is not None or entry.event is None:
        return by_class
    return CATALOG.events.get(entry.event)


def input_from_entry(
    entry: AuditEntry, destination: Destination | None
) -> tuple[TesterInput, dict[str, str]]:
    """The tester input that sends this message again, and notes by form key on what must be re-entered.

    Args:
        entry: the stored message.
        destination: the configured destination of the name it went to, if there still is one
            (its key may have changed since).

    Returns:
        The input (a fresh message id and time will be given at send) and the notes.
    """
    notes: dict[str, str] = {}
    info = entry_spec(entry)
    if destination is None and entry.destination:
        notes["destination"] = f"It went to {entry.destination}, which is not configured here any more."
    chosen = destination.name if destination is not None else DEFAULT_NAME
    if info is None:
        name = entry.event or "this identify call"
        notes["spec"] = f"{name} is not in today's catalog."
        return TesterInput(spec=entry.event or "", destination=chosen), notes
    payload = payload_of(entry.payload)
    scope_props = info.scope.property_fields()
    scope: dict[str, Any] = {name: display_value(payload.get(prop)) for name, prop in scope_props.items()}
    scope["user_id"] = entry.user_id or ""
    own_names = {p.name for p in own_properties(info)}
    own = {k: v for k, v in payload.items() if k not in scope_props.values()}
    # A mask inside an object (a nested model's personal data) leaves the whole property to enter again.
    masked = [k for k, v in own.items() if masked_keys({k: v})]
    kept = {k: v for k, v in own.items() if k not in masked}
    marker = catalog_marker(entry.payload)
    off_schema = bool(marker.get("offSchema")) or not set(own) <= own_names
    if off_schema:
        if masked:
            notes["raw"] = f"{', '.join(masked)}: {REENTER}"
        typed = TesterInput(spec=info.constant, scope=scope, mode=RAW, raw=dump_raw(kept), destination=chosen)
        return typed, notes
    notes.update({PROP + k: REENTER for k in masked})
    fields = {p.name: p for p in own_properties(info)}
    props = {k: field_text(fields[k], v) for k, v in kept.items()}
    return TesterInput(spec=info.constant, scope=scope, props=props, mode=FIELDS, destination=chosen), notes
