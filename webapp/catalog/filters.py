"""The event list's search, filters and sort, read from the query string.

The query string is the whole state of the list (so a filtered view can be bookmarked and shared),
and a hand-edited URL is as likely as a form: a value the catalog does not know is reported next to
its field and ignored, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from typing import Any

from werkzeug.datastructures import MultiDict

from analytics.activity import NEVER_SENT, RECENT_DAYS, EventActivity
from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.drift import deprecated_sent, planned_sent
from analytics.durations import format_instant
from analytics.messages import catalog_marker, payload_of
from analytics.payload_drift import drift_of
from analytics.scopes import UserScope
from analytics.spec import Status
from analytics.versions import LaterVersions

CHOICES = {
    "status": [str(s) for s in Status],
    "pii": ["yes", "no"],
}
"""Closed filters and their values; `category`, `owner` and `scope` are added from the catalog."""

_NOT_ALLOWED = {
    "category": ("“{value}” is not a category in the catalog", "showing every category"),
    "scope": ("“{value}” is not a scope in the catalog", "showing every scope"),
    "owner": ("“{value}” owns no event in the catalog", "showing every owner"),
    "status": ("“{value}” is not a status in the catalog", "showing every status"),
    "pii": ("“{value}” is not a personal-data choice (yes or no)", "showing every event"),
    "sort": ("Cannot sort by “{value}”", "showing the catalog's order"),
    "never_sent": (
        "“{value}” does not tick a box (1, on or yes does)",
        "not narrowing the list to events never sent",
    ),
    "attention": (
        "“{value}” does not tick a box (1, on or yes does)",
        "not narrowing the list to events that need attention",
    ),
}
"""What a filter says about a value it does not know, and what the list shows instead."""

_CHECKED = ("1", "on", "yes")
"""What a checkbox filter's value may be: the form sends 1, a hand-edited URL may say on or yes."""

PARAMS = ("q", "category", "scope", "owner", "status", "pii", "never_sent", "attention", "sort")
"""The list's query-string names: what `EventFilters.query` writes and `parse_filters` reads."""

_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SpecRow:
    """What the audit log says of one event or identify call, in `event-catalog drift`'s words, so
    that list, page and command agree: the event list and page, and the identify list and page.

    Attributes:
        info: the catalog entry.
        activity: the application's messages of it (`read_activity`, `identify_activity`).
        newer: the recorded catalog versions first seen after the dashboard's, shared by a page's rows
            (`analytics.versions.LaterVersions`).
    """

    info: SpecInfo
    activity: EventActivity
    newer: LaterVersions = field(default_factory=LaterVersions)

    @property
    def never_sent(self) -> bool:
        """Whether the audit log holds no message of it from an application."""
        return self.activity.last_seen is None

    @property
    def unsent_by_design(self) -> bool:
        """A deprecated or planned spec: going unsent is what it should do (no longer, or not yet), so
        it is flagged neither never sent nor stale, as `event-catalog drift` does not flag it."""
        return not self.info.spec.status.expects_traffic

    @cached_property
    def deprecated_sent(self) -> str | None:
        """What `event-catalog drift` says of a deprecated spec an application still sends, or None."""
        return deprecated_sent(self.info, self.activity)

    @cached_property
    def planned_sent(self) -> str | None:
        """What `event-catalog drift` says of a planned spec an application already sends, or None."""
        return planned_sent(self.info, self.activity)

    @cached_property
    def _newer_version(self) -> str | None:
        """The catalog version first seen after the dashboard's that built its latest message, when
        that version's own recorded schema accepts the message (`analytics.own_version`), or None."""
        latest = self.activity.latest
        if latest is None or self._problem is None:
            return None
        marker = catalog_marker(latest)
        version = marker.get("version")
        if not isinstance(version, str) or version not in self.newer.versions:
            return None
        kind, event, built_by = latest.get("type"), latest.get("event"), marker.get("spec")
        return (
            version if self.newer.own.validates(version, kind, event, built_by, payload_of(latest)) else None
        )

    @cached_property
    def _problem(self) -> str | None:
        """Why its latest message fails today's schema, or None (`drifting`)."""
        return drifting(self.activity)

    @cached_property
    def drifting(self) -> str | None:
        """Why its latest message (event properties or identify traits) no longer validates against
        today's schema, or None: what `event-catalog drift` reports as drifting for either. A message
        of a version first seen after the dashboard's, and valid under it, is not drift: the
        dashboard has not caught up (`built_by_newer`)."""
        return None if self._newer_version else self._problem

    @cached_property
    def built_by_newer(self) -> str | None:
        """What to say instead of drifting when its latest message fails the dashboard's schema but
        was built by a catalog version first seen after the dashboard's and is valid under that
        version's own schema (an application host upgraded before the dashboard, as the README
        allows), or None. First seen is all the database knows of a version's age, so the words
        claim no more."""
        version, problem = self._newer_version, self._problem
        if version is None or problem is None:
            return None
        seen = self.newer.versions[version].first_seen.strftime("%d %b %Y %H:%M UTC")
        return (
            f"built by catalog version {version}, first seen ({seen}) after this dashboard's "
            f"{CATALOG.version}, and valid under it: this dashboard's schema does not know all it carries "
            f"({problem})"
        )


@dataclass(frozen=True)
class EventRow(SpecRow):
    """One line of the event list: what `SpecRow` says, and the verdict only events get (stale past
    their own threshold), as of `now`."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def stale_after_days(self) -> int:
        """The event's own staleness threshold, in days."""
        threshold: timedelta = getattr(self.info.spec, "stale_after")  # noqa: B009  (TrackSpec only)
        return threshold.days

    @property
    def stale(self) -> bool:
        """Sent before, but not within its threshold: what `event-catalog drift` calls stale."""
        return not self.unsent_by_design and self.activity.is_stale(
            timedelta(days=self.stale_after_days), self.now
        )

    def activity_document(self) -> dict[str, Any]:
        """What the list shows of the event's traffic, for the list's JSON download: a spreadsheet of
        the list kept its rows but lost the columns and badges that made someone download it."""
        return {
            "last_seen": format_instant(self.activity.last_seen),
            "sent_last_days": {"days": RECENT_DAYS, "messages": self.activity.recent},
            "never_sent": self.never_sent,
            "stale": self.stale,
            "stale_after_days": self.stale_after_days,
            "drifting": self.drifting,
            "built_by_newer": self.built_by_newer,
            "deprecated_sent": self.deprecated_sent,
            "planned_sent": self.planned_sent,
        }

    def activity_cells(self) -> tuple[str, str]:
        """The list CSV's Last seen (ISO UTC, empty when never sent) and its recent days' count: the
        counts the list already read, so the download costs the audit log nothing more."""
        return format_instant(self.activity.last_seen) or "", str(self.activity.recent)

    @property
    def needs_attention(self) -> bool:
        """Whether any of `event-catalog drift`'s verdicts on what is sent applies: stale, drifting,
        deprecated but still sent, planned but already sent. Never sent is left to its own filter: on
        a new install it is every event, which would drown the rest."""
        return self.stale or bool(self.drifting) or bool(self.deprecated_sent) or bool(self.planned_sent)


def drifting(activity: EventActivity) -> str | None:
    """Why the latest message of an event or identify call no longer validates against today's
    schema, or None: what the lists' *drifting* badge and the spec pages say."""
    return drift_of(activity.latest).first_problem if activity.latest is not None else None


SORTS: dict[str, Callable[[EventRow], Any]] = {
    "name": lambda row: row.info.name.lower(),
    "category": lambda row: str(row.info.spec.category),
    "owner": lambda row: str(row.info.spec.owner),
    "scope": lambda row: row.info.scope.label,
    "status": lambda row: str(row.info.spec.status),
    "last_seen": lambda row: row.activity.last_seen or _OLDEST,
    "recent": lambda row: row.activity.recent,
}
"""Sortable columns; `-name` sorts descending. No sort keeps the catalog's own order."""

DESCENDING_FIRST = frozenset({"last_seen", "recent"})
"""Columns whose first click puts the largest value on top: the busiest, the latest."""

ACTIVITY_SORTS = frozenset({"last_seen", "recent"})
"""Columns whose order comes from the audit log's figures, not from the catalog."""


@dataclass
class EventFilters:
    """The list's state as read from the query string.

    Attributes:
        q: free text, matched word by word against name, constant, description and property names.
        category, scope, owner, status: exact values; empty means any.
        pii: `yes` (carries personal data), `no`, or empty.
        never_sent: only events the audit log has never seen.
        attention: only events that need attention (`EventRow.needs_attention`).
        sort: a `SORTS` key, `-` prefixed for descending; empty for catalog order.
        errors: a message per field whose value was not understood (and so not applied), saying
            what the list shows instead.
        refused: the same problems without what the list shows instead, for a download, which
            refuses them since it cannot carry a note; and, which the page lets pass as a browser's
            address bar may add them, a name the list does not take or a name given more than once.
    """

    q: str = ""
    category: str = ""
    scope: str = ""
    owner: str = ""
    status: str = ""
    pii: str = ""
    never_sent: bool = False
    attention: bool = False
    sort: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def not_understood(self, name: str, value: str) -> None:
        """Note a value the filter `name` does not know: the list ignores it."""
        problem, instead = _NOT_ALLOWED[name]
        self.refused[name] = problem.format(value=value) + "."
        self.errors[name] = f"{problem.format(value=value)}; {instead}."

    @property
    def active(self) -> bool:
        """Whether anything narrows the list."""
        return bool(
            self.q
            or self.category
            or self.scope
            or self.owner
            or self.status
            or self.pii
            or self.never_sent
            or self.attention
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """The non-empty parameters of this state, with `changes` applied: for links that keep it."""
        values = {
            "q": self.q,
            "category": self.category,
            "scope": self.scope,
            "owner": self.owner,
            "status": self.status,
            "pii": self.pii,
            "never_sent": "1" if self.never_sent else "",
            "attention": "1" if self.attention else "",
            "sort": self.sort,
            **changes,
        }
        return {key: value for key, value in values.items() if value}

    @property
    def reads_activity(self) -> bool:
        """Whether what the list holds, or its order, depends on the audit log's figures."""
        return self.never_sent or self.attention or self.sort.removeprefix("-") in ACTIVITY_SORTS

    def sort_link(self, column: str) -> dict[str, str]:
        """Parameters that sort by `column`, flipping the direction when it is already the sort."""
        first = f"-{column}" if column in DESCENDING_FIRST else column
        second = column if first.startswith("-") else f"-{column}"
        return self.query(sort=second if self.sort == first else first)

    def aria_sort(self, column: str) -> str:
        """The `aria-sort` of a column header: how the list is sorted by it, if it is."""
        if self.sort == column:
            return "ascending"
        return "descending" if self.sort == f"-{column}" else "none"


def choices(catalog: Catalog) -> dict[str, list[str]]:
    """Every closed filter's values, scopes in hierarchy order; only the categories and teams of an
    event, as one that only identify calls have would filter the list down to nothing. Categories and
    teams are read from the specs, so a plain string (`category="Commerce"`) can be filtered by."""
    return _choices(catalog, catalog.scopes)


@cache
def _choices(catalog: Catalog, scopes: tuple[type[UserScope], ...]) -> dict[str, list[str]]:
    # Made once per catalog and set of scopes: scopes register as they are defined, so a scope
    # defined after a first page (a test's own) must not be answered from the old set.
    return {
        **CHOICES,
        "category": catalog.categories(events_only=True),
        "owner": catalog.owners(events_only=True),
        "scope": [scope.label for scope in scopes],
    }


def parse_filters(args: MultiDict[str, str], catalog: Catalog) -> EventFilters:
    """Read the list's state; unknown values are reported in `errors` and left out, and unknown or
    repeated names in `refused` (the first of a repeated name's values is read)."""
    filters = EventFilters(q=args.get("q", "").strip())
    for name in dict.fromkeys(args):
        if name not in PARAMS:
            filters.refused[name] = "the list has no such filter; it takes " + ", ".join(PARAMS) + "."
        elif len(args.getlist(name)) > 1:
            filters.refused[name] = "given more than once; give one value."
    for name in ("never_sent", "attention"):
        value = args.get(name, "").strip()
        if value.casefold() in _CHECKED:
            setattr(filters, name, True)
        elif value:
            filters.not_understood(name, value)
    for name, allowed in choices(catalog).items():
        value = args.get(name, "").strip()
        # Hand-typed and shared URLs say `scope=project` as often as `Project`: any case is the value.
        known = {choice.casefold(): choice for choice in allowed}.get(value.casefold())
        if value and known is None:
            filters.not_understood(name, value)
        elif known is not None:
            setattr(filters, name, known)
    sort = args.get("sort", "").strip()
    if sort and sort.removeprefix("-") not in SORTS:
        filters.not_understood("sort", sort)
    elif sort:
        filters.sort = sort
    return filters


@dataclass(frozen=True)
class SearchText:
    """What a search looks through for one spec, in two parts that a search word matches differently.

    Attributes:
        text: what the event page shows of it, lowercased: a word matches any part of it (`prov`
            finds "provisioning", `growth` the events that team owns).
        ids: the names of its scope's ids, lowercased, as code, properties and messages spell them
            (`project_id`, `proj_id`, `userid`). Every event of a scope carries them, so a part such
            as `user`, `id` or `project` would find nearly the whole catalog: a word matches them
            only whole, or as a part that holds `_` and so is plainly an id's name (`project_`).
    """

    text: str
    ids: frozenset[str]

    def finds(self, words: list[str]) -> bool:
        """Whether every lowercased word is in the text or names one of the ids."""
        return all(word in self.text or self._names_id(word) for word in words)

    def _names_id(self, word: str) -> bool:
        return any(word == name or ("_" in word and word in name) for name in self.ids)


def search_text(info: SpecInfo) -> SearchText:
    """`_search_text_of`, made once per spec: a catalog search and every picker keystroke read it."""
    text = _SEARCH_TEXTS.get(info.spec)
    if text is None:
        text = _SEARCH_TEXTS[info.spec] = _search_text_of(info)
    return text


_SEARCH_TEXTS: dict[type, SearchText] = {}
"""Each spec's search text; specs are classes fixed for the life of the process."""


def _search_text_of(info: SpecInfo) -> SearchText:
    """What a search looks through: its names (the string, and the enum member as code writes it),
    its description, its category, owning team and scope (`billing` finds what the billing team
    owns, a category named Billing or a Billing account scope, as a product manager types a team's
    name first), its own properties' names, descriptions and allowed values (`eks` finds the events
    that can carry it), those of the fields of its nested models too (`sku`, `sepa`); and, matched
    whole, its scope's ids as code, properties and the message name them (`project_id`, `proj_id`,
    `userId`: the names a snippet, a property table or an example message shows). The tester's
    picker searches the same."""
    properties = [
        text
        for prop in info.rows
        if not prop.from_scope
        for text in (prop.name, prop.description, *(str(value) for value in prop.allowed_values or ()))
    ]
    code = f"SegmentEvent.{info.constant}" if info.kind == "track" else info.constant
    ids = [*info.scope.model_fields, *info.scope.property_fields().values(), "userId"]
    return SearchText(
        text=" ".join(
            [
                info.name,
                code,
                info.spec.description(),
                str(info.spec.category),
                str(info.spec.owner),
                info.scope.label,
                *properties,
            ]
        ).lower(),
        ids=frozenset(name.lower() for name in ids),
    )


def _matches_spec(info: SpecInfo, filters: EventFilters, words: list[str]) -> bool:
    """The filters that read the catalog alone, so they apply to identify calls as to events."""
    spec = info.spec
    checks = (
        not filters.category or str(spec.category) == filters.category,
        not filters.scope or info.scope.label == filters.scope,
        not filters.owner or str(spec.owner) == filters.owner,
        not filters.status or str(spec.status) == filters.status,
        not filters.pii or info.has_personal_data == (filters.pii == "yes"),
        not words or search_text(info).finds(words),
    )
    return all(checks)


def _matches(row: EventRow, filters: EventFilters, words: list[str]) -> bool:
    return (
        _matches_spec(row.info, filters, words)
        and (not filters.never_sent or row.never_sent)
        and (not filters.attention or row.needs_attention)
    )


def event_rows(
    catalog: Catalog,
    activity: Mapping[str, EventActivity],
    filters: EventFilters,
    newer: LaterVersions,
) -> list[EventRow]:
    """The catalog's events joined with their activity, filtered and sorted as asked (`newer`: the
    recorded catalog versions first seen after the dashboard's, see `SpecRow`)."""
    words = filters.q.lower().split()
    rows = [EventRow(info, activity.get(name, NEVER_SENT), newer) for name, info in catalog.events.items()]
    rows = [row for row in rows if _matches(row, filters, words)]
    if filters.sort:
        column = filters.sort.removeprefix("-")
        rows.sort(key=SORTS[column], reverse=filters.sort.startswith("-"))
    return rows


def identify_matches(catalog: Catalog, filters: EventFilters) -> list[SpecInfo]:
    """The identify calls a text search finds (by name, description, trait names and descriptions),
    which the list shows below its events: a trait such as `first_name` is carried by no event.

    Without search words none: the list is of events. "Never sent" and "needs attention" read an
    event's traffic, which the list does not read for identify calls, so they leave them out too.
    """
    words = filters.q.lower().split()
    if not words or filters.never_sent or filters.attention:
        return []
    return [info for info in catalog.identifiers.values() if _matches_spec(info, filters, words)]
