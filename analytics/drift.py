"""`event-catalog drift`: where the catalog and the traffic in the audit log disagree.

Seven kinds of finding:

- `never-sent`: a catalog event, or an identify call, the application never sent;
- `stale`: an event not sent for longer than its own threshold (`TrackSpec.stale_after`, with the
  catalog-wide `DEFAULT_STALE_AFTER`);
- `deprecated-sent`: a deprecated event an application still sent in the last days (a deprecated
  event that goes unsent is the goal, so it is never `never-sent` or `stale`);
- `planned-sent`: a planned event (or identify call) an application sent in the last days: it has
  shipped, so the catalog should say it is active (a planned event that goes unsent is what planned
  means, so it too is never `never-sent` or `stale`);
- `unknown-event`: events in the log that today's catalog does not know (older catalog versions,
  raw tester sends);
- `unknown-identify`: identify calls in the log built by a spec today's catalog does not know (the
  spec's class name is in the message's catalog marker: identify entries have no event string);
- `invalid-payload`: stored payloads that no longer validate against today's schema, counted per
  event and catalog version.

And one kind that is news rather than a fault, `newer-version`: payloads that fail today's schema but
are valid under the schema their own catalog version recorded, and events today's catalog does not
know, all built by a catalog version first seen after this one (`analytics.versions.newer_versions`).
Application hosts upgrade before the dashboard, and a run from an older checkout lags behind the
hosts: what a newer release added is not drift, and this catalog cannot judge it. First seen is not
release order (an older release's host may start late), so a payload its own version rejects is
`invalid-payload` all the same. Such notes are reported but do not fail the run (`DriftFinding.fails`).

Traffic means what applications (and replays) sent: tester sends prove an event can be built, not
that production sends it, so they do not keep an event from being stale. They do count as unknown
events (and identify calls) and invalid payloads, except the tester's deliberate off-schema experiments
(`context.eventCatalog.offSchema`): those never validated, and the entry page says so too, so they
would fail a CI gate for what someone tried by hand.

A team gates its own events (`only`, the command's `--owner`/`--category`/`--event`): another team's
never-sent events would fail its CI for good. Unknown events and identify calls belong to no spec,
hence to no team, so a scoped run leaves them out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Select, Text, case, func, or_, select
from sqlalchemy.orm import Session

from analytics.activity import NEVER_SENT, RECENT_DAYS, EventActivity, identify_activity, read_activity
from analytics.audit import IDENTIFY_TYPE, AuditEntry, called_spec
from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.payload_drift import payload_drift, spec_for
from analytics.spec import Status
from analytics.sql_functions import dialect_function
from analytics.versions import LaterVersion, LaterVersions, newer_versions
from analytics.wording import counted


@dataclass(frozen=True)
class DriftFinding:
    """One disagreement between catalog and traffic.

    Attributes:
        kind: `never-sent`, `stale`, `deprecated-sent`, `planned-sent`, `unknown-event`,
            `unknown-identify`, `invalid-payload` or `newer-version`.
        subject: the event or identify call (and, for payloads, the catalog version).
        message: what was found, with the numbers behind it.
        owner: the team that owns the spec, who to ask (`analytics.spec.contact_of`); None for an
            unknown event or identify call, which no spec owns.
    """

    kind: str
    subject: str
    message: str
    owner: str | None = None

    @property
    def fails(self) -> bool:
        """Whether it fails a CI gate: all but `newer-version`, which says this catalog is behind."""
        return self.kind != NEWER_VERSION


NEWER_VERSION = "newer-version"


def events_in_window_query(since: datetime) -> Select[str | None, str | None, int]:
    """Every event string in the window, from any source, per catalog version that built it, counted."""
    return (
        select(AuditEntry.event, AuditEntry.catalog_version, func.count())
        .where(AuditEntry.type == "track", AuditEntry.recorded_at >= since)
        .group_by(AuditEntry.event, AuditEntry.catalog_version)
        .order_by(AuditEntry.event, AuditEntry.catalog_version)
    )


def unknown_identify_query(since: datetime, known: Collection[str]) -> Select[str | None, str | None, int]:
    """The identify calls of the window built by none of the specs `known` (their names and class
    names) or by no spec at all, per spec and catalog version, counted.

    Read as `events_in_window_query` reads events: one grouped pass over the window, the known
    specs left out by the database. SQLite reads the partial index on an identify call's spec and
    time (`ix_audit_entries_identify_spec_recorded_at`, migration 0015), then only the rows of
    unknown calls, normally none; PostgreSQL reads the window's identify rows by type and time. With
    200,000 identify calls among a million entries: about 0.1 s on SQLite, 0.2 s on PostgreSQL,
    less than the events' pass.
    """
    spec = called_spec(AuditEntry.payload)
    return (
        select(spec, AuditEntry.catalog_version, func.count())
        .where(
            AuditEntry.type == IDENTIFY_TYPE,
            AuditEntry.recorded_at >= since,
            or_(spec.is_(None), spec.not_in(sorted(known))),
        )
        .group_by(spec, AuditEntry.catalog_version)
        .order_by(spec, AuditEntry.catalog_version)
    )


_PROPERTIES = dialect_function(
    "stored_properties",
    Text(),
    sqlite="({0} -> '$.properties')",
    postgresql="(({0} -> 'properties')::text)",
    doc="A stored message's `properties` as JSON text; NULL when it has none.",
)
_TRAITS = dialect_function(
    "stored_traits",
    Text(),
    sqlite="({0} -> '$.traits')",
    postgresql="(({0} -> 'traits')::text)",
    doc="A stored message's `traits` as JSON text; NULL when it has none.",
)
_OFF_SCHEMA = dialect_function(
    "stored_off_schema",
    Text(),
    # The catalog marker's key (`analytics.messages.CONTEXT_KEY`) is spelled out, as in `called_spec`.
    sqlite="({0} -> '$.context.eventCatalog.offSchema')",
    postgresql="(((({0} -> 'context') -> 'eventCatalog') -> 'offSchema')::text)",
    doc="The catalog marker's `offSchema` as JSON text; NULL when it has none.",
)


def payloads_in_window_query(
    since: datetime,
) -> Select[str | None, str, str | None, str | None, str | None, str | None]:
    """What judging each track and identify entry of the window takes: its catalog version, type,
    event, the spec that built it, its `offSchema` mark and its payload (`properties` or `traits`),
    the last two as JSON text.

    The database reads them out of the stored message: decoding each message whole in Python and
    encoding its payload again to validate it took most of the run (at a million entries, 63 s of
    CPU on SQLite, where the whole run now takes 25 s).
    """
    payload = case(
        (AuditEntry.type == "track", _PROPERTIES(AuditEntry.payload)), else_=_TRAITS(AuditEntry.payload)
    )
    return select(
        AuditEntry.catalog_version,
        AuditEntry.type,
        AuditEntry.event,
        called_spec(AuditEntry.payload),
        _OFF_SCHEMA(AuditEntry.payload),
        payload,
    ).where(AuditEntry.recorded_at >= since, AuditEntry.type.in_(("track", "identify")))


def _days(delta: timedelta) -> str:
    return counted(delta.days, "day")


def deprecated_sent(info: SpecInfo, seen: EventActivity) -> str | None:
    """The `deprecated-sent` finding's message for a deprecated event (or identify call) an application
    sent in the last `RECENT_DAYS` days, or None: the dashboard's lists and pages of events and identify
    calls show the same words, so list, page and command agree."""
    if info.spec.status is not Status.DEPRECATED or not seen.recent:
        return None
    instead = getattr(info.spec, "replaced_by", None)  # a track spec's; an identify spec has none
    return f"deprecated, still sent by an application ({seen.recent} in the last {RECENT_DAYS} days)" + (
        f": send {instead} instead" if instead else ""
    )


def planned_sent(info: SpecInfo, seen: EventActivity) -> str | None:
    """The `planned-sent` finding's message for a planned event (or identify call) an application sent
    in the last `RECENT_DAYS` days, or None: it has shipped, and the catalog still says it has not.
    Tester sends do not count: trying a planned event there is what it is for."""
    if info.spec.status is not Status.PLANNED or not seen.recent:
        return None
    return (
        f"planned, but sent by an application ({seen.recent} in the last {RECENT_DAYS} days): "
        "it has shipped, so mark it active in the catalog (drop status=Status.PLANNED from its spec)"
    )


def _lifecycle_findings(info: SpecInfo, seen: EventActivity, subject: str) -> list[DriftFinding]:
    """What drift says of a spec that is not expected to be sent (deprecated or planned), event or
    identify call alike: a finding only while an application sends it, never never-sent or stale."""
    for kind, verdict in (("deprecated-sent", deprecated_sent), ("planned-sent", planned_sent)):
        if message := verdict(info, seen):
            return [DriftFinding(kind, subject, message, str(info.spec.owner))]
    return []


SpecFilter = Callable[[SpecInfo], bool]
"""Which specs a run reports on (events and identify calls alike)."""


def _traffic_findings(
    session: Session, catalog: Catalog, now: datetime, only: SpecFilter
) -> list[DriftFinding]:
    events = {name: info for name, info in catalog.events.items() if only(info)}
    activity = read_activity(session, list(events), now - timedelta(days=RECENT_DAYS))
    findings = []
    for name, info in events.items():
        threshold: timedelta = getattr(info.spec, "stale_after")  # noqa: B009  (TrackSpec only)
        seen = activity.get(name, NEVER_SENT)
        if not info.spec.status.expects_traffic:
            findings += _lifecycle_findings(info, seen, name)
        elif seen.last_seen is None:
            message = f"never sent by an application (threshold {_days(threshold)})"
            findings.append(DriftFinding("never-sent", name, message, str(info.spec.owner)))
        elif seen.is_stale(threshold, now):
            ago = _days(now - seen.last_seen)
            message = (
                f"last sent {seen.last_seen:%Y-%m-%d %H:%M} UTC, {ago} ago; threshold {_days(threshold)}"
            )
            findings.append(DriftFinding("stale", name, message, str(info.spec.owner)))
    return findings


def _identify_findings(
    session: Session, catalog: Catalog, now: datetime, only: SpecFilter
) -> list[DriftFinding]:
    """Identify calls an application never made: a spec for a sign-up or a profile change that no
    code calls is the same gap in the tracking plan as a never-sent event (identify calls have no
    staleness threshold: how often a person signs up or edits a profile says nothing of the code).
    A planned one is expected to go uncalled, and is a finding once an application calls it; a
    deprecated one is expected to stop, and is a finding while an application still calls it."""
    recent = now - timedelta(days=RECENT_DAYS)
    findings = []
    for info in catalog.identifiers.values():
        if not only(info):
            continue
        seen = identify_activity(session, info.constant, recent)
        subject = f"identify {info.name}"
        if not info.spec.status.expects_traffic:
            findings += _lifecycle_findings(info, seen, subject)
        elif seen.last_seen is None:
            findings.append(
                DriftFinding("never-sent", subject, "never called by an application", str(info.spec.owner))
            )
    return findings


def _unknown_findings(
    session: Session, catalog: Catalog, since: datetime, newer: Collection[str]
) -> list[DriftFinding]:
    """One finding per unknown event, and per identify call of an unknown spec, naming every catalog
    version that sent it, with its count: the versions are where to look (the Changes page, the audit
    search by version). One that only `newer` versions sent is `newer-version`: not in this catalog yet.
    (Its payloads are not checked against those versions' bundles, as `_payload_findings` does.)"""
    events = (
        (event, version, count)
        for event, version, count in session.execute(events_in_window_query(since))
        if event is not None and event not in catalog.events
    )
    known = {name for info in catalog.identifiers.values() for name in (info.name, info.constant)}
    calls = (
        (f"identify {spec}" if spec else "identify without a spec", version, count)
        for spec, version, count in session.execute(unknown_identify_query(since, known))
    )
    return [*_unknown("unknown-event", events, newer), *_unknown("unknown-identify", calls, newer)]


def _unknown(
    kind: str, rows: Iterable[tuple[str, str | None, int]], newer: Collection[str]
) -> list[DriftFinding]:
    """The findings of one kind from (subject, catalog version, count) rows, a subject's rows together."""
    versions: dict[str, Counter[str]] = {}
    for subject, version, count in rows:
        versions.setdefault(subject, Counter())[version or "unknown"] += count
    findings = []
    for subject, counts in versions.items():
        named = ", ".join(f"{version}: {count}" for version, count in counts.items())
        which = f"version {next(iter(counts))}" if len(counts) == 1 else f"versions {named}"
        if all(version in newer for version in counts):
            message = (
                f"{sum(counts.values())} sent in the window by a catalog first seen after this one "
                f"({which}), not in this one"
            )
            findings.append(DriftFinding(NEWER_VERSION, subject, message))
            continue
        message = f"{sum(counts.values())} sent in the window, not in today's catalog ({which})"
        findings.append(DriftFinding(kind, subject, message))
    return findings


VERDICTS_KEPT = 10_000
"""Payloads whose verdict a run keeps, so that the same payload sent again is not validated again:
an application sends the same properties many times (the same user, project and values). A bound,
so that memory stays the same at any size of the log."""


def _as_payload(text: str | None) -> str:
    """A stored payload's JSON text as `payload_of` reads the message: an object as it is, none or a
    false value (null, "", 0, []) as the empty object, any other value as itself (which fails)."""
    if text is None:
        return "{}"
    if text.startswith("{"):
        return text
    return json.dumps(json.loads(text) or {})


def _payload_findings(
    session: Session, catalog: Catalog, since: datetime, only: SpecFilter, newer: Mapping[str, LaterVersion]
) -> list[DriftFinding]:
    """`invalid-payload` per event and catalog version; `newer-version` for the payloads of a version
    in `newer` that its own recorded schema accepts (`analytics.own_version`)."""
    invalid: Counter[tuple[str, str, bool]] = Counter()
    first_problem: dict[tuple[str, str, bool], str] = {}
    owners: dict[str, str] = {}
    verdicts: dict[tuple[str, str, str], str | None] = {}
    own = LaterVersions(newer).own
    rows = session.execute(payloads_in_window_query(since).execution_options(yield_per=1000))
    for version, kind, event, built_by, off_schema, payload in rows:
        info = spec_for(kind, event, built_by, catalog)
        # Messages today's catalog cannot place are reported as unknown events, not as payloads;
        # a tester send made off-schema on purpose never validated, so it did not drift since.
        if info is None or (off_schema is not None and json.loads(off_schema)) or not only(info):
            continue
        text = _as_payload(payload)
        key = (info.kind, info.name, text)
        if key not in verdicts:
            if len(verdicts) >= VERDICTS_KEPT:
                verdicts.clear()
            verdicts[key] = payload_drift(info, text).first_problem
        problem = verdicts[key]
        if problem is None:
            continue
        ahead = version in newer and own.validates(str(version), kind, event, built_by, json.loads(text))
        subject = (info.name, str(version), ahead)
        owners[info.name] = str(info.spec.owner)
        invalid[subject] += 1
        first_problem.setdefault(subject, problem)
    return [
        DriftFinding(NEWER_VERSION, f"{name} @ {version}", _ahead(count, version, problem), owners[name])
        if ahead
        else DriftFinding(
            "invalid-payload",
            f"{name} @ {version}",
            f"{count} stored payload(s) no longer validate; first: {problem}",
            owners[name],
        )
        for (name, version, ahead), count in sorted(invalid.items())
        for problem in [first_problem[(name, version, ahead)]]
    ]


def _ahead(count: int, version: str, problem: str) -> str:
    return (
        f"{count} stored payload(s) built by catalog version {version}, first seen after this one, and "
        f"valid under it carry what this one does not know (first: {problem}); not drift: judge them "
        "with that release"
    )


def drift(
    engine: Engine,
    *,
    since: timedelta,
    catalog: Catalog = CATALOG,
    now: datetime | None = None,
    only: SpecFilter | None = None,
) -> list[DriftFinding]:
    """Compare the catalog with the audit log.

    Args:
        engine: the audit database.
        since: the window for unknown events and payload validation (staleness looks at all time).
        catalog: the catalog to compare with.
        now: the reference time (tests pin it).
        only: report on these specs alone (a team's); unknown events and identify calls are then
            left out.

    Returns:
        Findings: never sent, stale, deprecated-sent and planned-sent first (catalog order), identify
        calls never made or planned but made, then unknown events and identify calls, then payloads;
        those of catalog versions first seen after `catalog`'s (payloads: and valid under their own) are
        `newer-version` (`DriftFinding.fails`).
    """
    moment = now or datetime.now(UTC)
    window_start = moment - since
    chosen = only or (lambda info: True)
    with Session(engine) as session:
        newer = newer_versions(session, catalog.version)
        return [
            *_traffic_findings(session, catalog, moment, chosen),
            *_identify_findings(session, catalog, moment, chosen),
            *([] if only else _unknown_findings(session, catalog, window_start, newer)),
            *_payload_findings(session, catalog, window_start, chosen, newer),
        ]
