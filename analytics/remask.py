"""Personal data an entry holds in clear because it was recorded before today's catalog marked it.

Application hosts deploy on their own schedule: one still running the previous catalog version, where
`email` was not yet `personal_data=True`, records the email in clear, as does every entry recorded
before the change. A stored entry never changes (its chain hash covers it), so a reader without
personal-data access gets such a value masked when the entry is read: every property value that
today's catalog marks personal data (by the spec, or by its key's name where no spec declares the
key, as `analytics.catalog.personal_paths` decides on writing) and that is stored in clear is masked
as the library would have masked it, with the same keyed fingerprint (`AUDIT_MASK_KEY`), so that a
search by the value finds the entry as it finds the others.

A viewer's export passes every catalog message through `remask` (`needs_remask`), so it masks
exactly what the entry page masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from analytics.audit import MESSAGE_TYPES, AuditEntry
from analytics.catalog import named_personal_paths, personal_paths
from analytics.payload_drift import spec_of
from analytics.personal_data import is_mask, mask_paths, mask_value, masked_keys, personal_section


@dataclass(frozen=True)
class Remasked:
    """A stored payload as a reader without personal-data access gets it.

    Attributes:
        payload: the stored payload, or a copy with the values in `in_clear` masked.
        in_clear: the paths (in the properties, or an identify's traits) of the values stored in clear
            that today's catalog marks personal data; empty when the stored payload needs no mask.
    """

    payload: dict[str, Any]
    in_clear: tuple[str, ...]


def remask(payload: dict[str, Any], mask_key: bytes) -> Remasked:
    """The payload with every value today's catalog marks personal data masked, however it was stored."""
    if payload.get("type") not in MESSAGE_TYPES:
        # The log's own records (actions, maintenance) are no catalog message: they name accounts.
        return Remasked(payload, ())
    section = personal_section(payload)
    values = payload.get(section)
    if not isinstance(values, dict) or not values:
        return Remasked(payload, ())
    info = spec_of(payload)
    paths = personal_paths(info.spec, values) if info is not None else named_personal_paths(values)
    if not paths:
        return Remasked(payload, ())
    masked = mask_paths(values, paths, lambda value: value if is_mask(value) else mask_value(value, mask_key))
    in_clear = sorted(set(masked_keys(masked)) - set(masked_keys(values)))
    if not in_clear:
        return Remasked(payload, ())
    return Remasked({**payload, section: masked}, tuple(in_clear))


def needs_remask() -> ColumnElement[bool]:
    """Which entries a viewer's export passes through `remask`, in SQL: every catalog message (track,
    identify), as the entry page does.

    An entry's clear values cannot be told apart from its masked ones without reading them against
    today's catalog: a host of an older or unrecorded catalog version, one that did not mask, an event
    today's catalog does not have (its keys named like personal data), or a key no spec declares may
    hold any of them in clear. Selecting fewer (only a recorded older version whose bundle marked less)
    let a viewer's export carry values the entry page masked. The log's own records (actions,
    maintenance) are no catalog message and `remask` leaves them as they are."""
    return AuditEntry.__table__.c.type.in_(MESSAGE_TYPES)
