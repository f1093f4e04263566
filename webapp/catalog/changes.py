"""The Changes page's data: which two catalog versions to compare, and their diff.

Versions come from `catalog_versions` (recorded by every process that ran them) plus the running
code's own, which is always available even before it is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.catalog import CATALOG
from analytics.diff import Change, diff_bundles
from analytics.durations import as_utc
from analytics.versions import bundle_query, versions_query
from webapp.catalog.reads import read_or_default
from webapp.extensions import db


@dataclass(frozen=True)
class VersionChoice:
    """One version the page can compare: its hash, when first seen, and whether it is running now."""

    version: str
    first_seen: datetime | None
    current: bool


def _recorded() -> list[VersionChoice]:
    return [
        VersionChoice(version, as_utc(first_seen), version == CATALOG.version)
        for version, first_seen in db.session.execute(versions_query())
    ]


def _choices(recorded: list[VersionChoice]) -> list[VersionChoice]:
    if not any(choice.current for choice in recorded):
        recorded.insert(0, VersionChoice(CATALOG.version, None, True))
    return recorded


def _bundle(version: str) -> dict[str, Any]:
    if version == CATALOG.version:
        return CATALOG.schema_bundle()
    bundle: dict[str, Any] = db.session.execute(bundle_query(version)).scalar_one()
    return bundle


def _pick(
    args: Mapping[str, str], name: str, known: set[str], default: str | None, errors: dict[str, str]
) -> str | None:
    value = args.get(name, "").strip()
    if value and value not in known:
        errors[name] = f"No catalog version “{value}” has been recorded."
        return default
    return value or default


def _default_pair(versions: list[VersionChoice]) -> tuple[str | None, str]:
    """What the page compares when not asked: the newest version first seen before the running one
    with the running one (what the latest release changed).

    A version first seen later (an application host already on a newer release) is not the one
    before: comparing it with the running one would read every addition as a removal. When there
    is no earlier version, the running one is compared with the newest later one instead.
    """
    running = next((choice.first_seen for choice in versions if choice.current), None)
    others = [choice for choice in versions if not choice.current]
    earlier = [c for c in others if running is None or c.first_seen is None or c.first_seen < running]
    if earlier or not others:
        return (earlier[0].version if earlier else None), CATALOG.version
    return CATALOG.version, others[0].version


def changes_view(args: Mapping[str, str]) -> dict[str, Any]:
    """Everything the page shows: the choices (with when each was first seen, by version, so that a
    hash is never shown without its date), the picked pair, and its changes grouped by item.

    By default it compares the version before the running one with the running one, which is
    what the latest release changed (see `_default_pair`).
    """
    recorded, unavailable = read_or_default(_recorded, [])
    versions = _choices(recorded)
    known = {choice.version for choice in versions}
    errors: dict[str, str] = {}
    default_old, default_new = _default_pair(versions)
    old = _pick(args, "from", known, default_old, errors)
    new = _pick(args, "to", known, default_new, errors)
    grouped: dict[tuple[str, str], list[Change]] = {}
    diff = None
    if old is not None and new is not None and old != new:
        diff = diff_bundles(_bundle(old), _bundle(new))
        for change in diff:
            grouped.setdefault((change.section, change.name), []).append(change)
    return {
        "versions": versions,
        "first_seen": {choice.version: choice.first_seen for choice in versions},
        "old": old,
        "new": new,
        "diff": diff,
        "grouped": grouped,
        "errors": errors,
        "unavailable": unavailable,
    }
