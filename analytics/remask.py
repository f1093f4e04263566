"""Personal data an entry holds in clear because it was recorded before today's catalog marked it.

Application hosts deploy on their own schedule: one still running the previous catalog version, where
`email` was not yet `personal_data=True`, records the email in clear, as does every entry recorded
before the change. A stored entry never changes (its chain hash covers it), so a reader without
personal-data access gets such a value masked when the entry is read: every property value that
today's catalog marks personal data (by the spec, or by its key's name where no spec declares the
key, as `analytics.catalog.personal_paths` decides on writing) and that is stored in clear is masked
as the library would have masked it, with the same keyed fingerprint (`AUDIT_MASK_KEY`), so that a
search by the value finds the entry as it finds the others.

Finding those entries without reading each payload: a catalog version's bundle is recorded
(`analytics.versions`), so the events whose personal data today's catalog widened since a version are
known (`widened_events`), and an export re-masks only the entries of those (version, event) pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_

from analytics.audit import MESSAGE_TYPES, AuditEntry
from analytics.catalog import Catalog, named_personal_paths, personal_paths
from analytics.diff import SECTIONS, personal_data_paths
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


def widened_events(
    bundles: Iterable[tuple[str, Mapping[str, Any]]], today: Catalog
) -> dict[str, frozenset[tuple[str, str]]]:
    """For each recorded catalog version, the events and identify specs (`(section, name)`) whose
    personal data today's catalog marks more of than that version's bundle did: the entries recorded
    under it may hold today's personal data in clear.

    Args:
        bundles: each recorded version with its schema bundle.
        today: the catalog this process runs.
    """
    widened: dict[str, frozenset[tuple[str, str]]] = {}
    for version, bundle in bundles:
        found = frozenset(
            (section, name)
            for (section, name), paths in _personal_today(today).items()
            if paths - personal_data_paths((bundle.get(section) or {}).get(name))
        )
        if found:
            widened[version] = found
    return widened


@functools.cache
def _personal_today(today: Catalog) -> dict[tuple[str, str], frozenset[str]]:
    """The events and identify specs of today's catalog that mark personal data, with its paths: read
    once per process, as only they can have widened (an export asks at each download)."""
    found = {
        (section, name): personal_data_paths(schema)
        for section in SECTIONS
        for name, schema in (today.shared_bundle.get(section) or {}).items()
    }
    return {key: paths for key, paths in found.items() if paths}


def needs_remask(widened: Mapping[str, frozenset[tuple[str, str]]]) -> ColumnElement[bool]:
    """Whether an entry is of a (version, event) pair of `widened_events`, in SQL.

    An identify entry has no event string: its spec is the name its catalog marker gives, which
    `remask` reads back, so every identify entry of a version that widened some identify spec is
    selected."""
    table = AuditEntry.__table__
    pairs: list[ColumnElement[bool]] = []
    for version, names in sorted(widened.items()):
        events = sorted(name for section, name in names if section == "events")
        kinds: list[ColumnElement[bool]] = [table.c.event.in_(events)] if events else []
        if any(section == "identifiers" for section, _ in names):
            kinds.append(table.c.type == "identify")
        pairs.append(and_(table.c.catalog_version == version, or_(*kinds)))
    return or_(false(), *pairs)
