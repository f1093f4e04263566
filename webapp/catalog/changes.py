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
from analytics.reporting import ChangeGroup, group_changes
from analytics.versions import bundle_query, versions_query
from analytics.wording import counted
from webapp.catalog.reads import read_or_default
from webapp.extensions import db
from webapp.lookups import echoed


@dataclass(frozen=True)
class VersionChoice:
    """One version the page can compare: its hash, when first seen, and whether it is the one this
    dashboard runs (`current`; application hosts may run older or newer ones)."""

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


def _bundle(version: str) -> Mapping[str, Any]:
    """A version's bundle, to diff and never edit: the running one is the catalog's own, not a copy."""
    if version == CATALOG.version:
        return CATALOG.shared_bundle
    bundle: dict[str, Any] = db.session.execute(bundle_query(version)).scalar_one()
    return bundle


def _pick(
    args: Mapping[str, str], name: str, known: set[str], default: str | None, errors: dict[str, str]
) -> str | None:
    value = args.get(name, "").strip()
    if value and value not in known:
        errors[name] = f"No catalog version “{echoed(value)}” has been recorded."
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


_PRECISIONS = ("%d %b %Y", "%d %b %Y, %H:%M UTC", "%d %b %Y, %H:%M:%S UTC")
"""How a first-seen moment may be written, coarsest first."""


def _seen_texts(moments: dict[str, datetime | None]) -> dict[str, str]:
    """When each compared version was first seen, as the page writes it: the date, with the time (to
    the minute, else the second) when the date alone would read the same for both, as it does for
    two releases of one day; the tooltip is out of reach of touch and keyboard."""
    known = {version: moment for version, moment in moments.items() if moment is not None}
    texts: dict[str, str] = {}
    for fmt in _PRECISIONS:
        texts = {version: moment.strftime(fmt) for version, moment in known.items()}
        if len(set(texts.values())) == len(texts):
            break
    return texts


def _newer(versions: list[VersionChoice]) -> list[VersionChoice]:
    """The versions first seen after the dashboard's, newest first: application hosts deploy first,
    so these are releases already sending that the default comparison leaves out. None while the
    dashboard's own version is not recorded (it is then the newest, as `_backwards` reads it)."""
    running = next((choice.first_seen for choice in versions if choice.current), None)
    if running is None:
        return []
    return [c for c in versions if not c.current and c.first_seen is not None and c.first_seen > running]


def _items(grouped: Mapping[tuple[str, str], list[Change]]) -> str:
    """What the per-event list counts, in words: `5 events and 1 identify call`."""
    events = sum(section == "events" for section, _ in grouped)
    calls = len(grouped) - events
    parts = [counted(events, "event")] if events else []
    return " and ".join([*parts, counted(calls, "identify call")] if calls else parts)


def _backwards(old: VersionChoice, new: VersionChoice) -> bool:
    """Whether `from` is the newer version, so that what a release added reads as removed. The
    running version not recorded yet is the newest."""
    if old.first_seen is None or new.first_seen is None:
        return new.first_seen is not None
    return old.first_seen > new.first_seen


def changes_view(args: Mapping[str, str]) -> dict[str, Any]:
    """Everything the page shows: the choices (with when each was first seen, by version, so that a
    hash is never shown without its date), the picked pair (when each was first seen, in words that
    tell the two apart, and whether it reads backwards), and its changes grouped by item.

    When a change was made in several events (`group_changes`, as `event-catalog diff` folds it),
    `by_change` lists each change once, breaking first, with the events it affects: a release of
    three changes shared by 60 events was 143 sections, one per event. Otherwise it is empty and
    the page lists the changes by event only.

    By default it compares the version before the running one with the running one, which is
    what the latest release changed (see `_default_pair`); `newer` lists the versions recorded
    after the dashboard's, which the page then points to.
    """
    recorded, unavailable = read_or_default(_recorded, [])
    versions = _choices(recorded)
    known = {choice.version for choice in versions}
    errors: dict[str, str] = {}
    default_old, default_new = _default_pair(versions)
    old = _pick(args, "from", known, default_old, errors)
    new = _pick(args, "to", known, default_new, errors)
    grouped: dict[tuple[str, str], list[Change]] = {}
    by_change: list[ChangeGroup] = []
    diff = None
    backwards = False
    if old is not None and new is not None and old != new:
        diff = diff_bundles(_bundle(old), _bundle(new))
        by_version = {choice.version: choice for choice in versions}
        backwards = _backwards(by_version[old], by_version[new])
        for change in diff:
            grouped.setdefault((change.section, change.name), []).append(change)
        by_change = group_changes(diff.breaking) + group_changes(diff.compatible)
    first_seen = {choice.version: choice.first_seen for choice in versions}
    shared = any(group.shared for group in by_change)
    return {
        "versions": versions,
        "first_seen": first_seen,
        "seen_texts": _seen_texts({v: first_seen[v] for v in (old, new) if v is not None}),
        # The choices by the same rule, dated as precisely as telling them apart needs: all of them to
        # the second cut the dashboard's own version's label off at 1366 px.
        "choice_texts": _seen_texts(first_seen),
        "backwards": backwards,
        "old": old,
        "new": new,
        "diff": diff,
        "grouped": grouped,
        "by_change": by_change if shared else [],
        # When changes are grouped, the summary counts the lines listed under "By change".
        "breaking_lines": sum(group.breaking for group in by_change) if shared else None,
        "compatible_lines": sum(not group.breaking for group in by_change) if shared else None,
        "items": _items(grouped),
        "newer": _newer(versions),
        "dashboard_version": CATALOG.version,
        # A version the unreadable database may well hold is not refused: the page says it cannot read it.
        "errors": {} if unavailable else errors,
        "unavailable": unavailable,
    }
