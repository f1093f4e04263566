"""The audit search form: the query string as typed, its errors, and the filter it makes.

The form is a plain GET form whose state lives entirely in the URL, so a search can be bookmarked,
shared in an incident channel and reloaded. Values are kept exactly as typed, so a mistake is shown
next to its field with the text still there to correct; but a word of a fixed list (a status, an
outcome) is kept as the log spells it, `Failed` as failed (`canonical_args`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import Select, select
from werkzeug.datastructures import MultiDict

from analytics.audit import EventDay
from analytics.export import INCLUDE_ATTEMPTS
from analytics.queries import (
    FILTER_PARAMS,
    AuditFilter,
    Cursor,
    FilterError,
    canonical_value,
    parse_filters,
)

PAGE_PARAMS = ("before", "after")
"""Keyset cursors: `before` continues to older entries, `after` back to newer ones."""

OWN_PARAMS = (*PAGE_PARAMS, "live", "total")
"""The page's own parameters besides the filters, which its address carries: a download or a re-send
of that address leaves them aside. `total` is a later page's count floor (`Results.carried_total`)."""

UNKNOWN_PARAM = "unknown parameter: the audit page's filters are " + ", ".join(FILTER_PARAMS)


def events_outside_catalog_query(known: Iterable[str]) -> Select[tuple[str]]:
    """Every event string the log holds but `known` (today's catalog events, the actions), by name:
    the Event filter offers them in a group of their own, so that an event drift reports as unknown
    (an older version's, an application's own) can be picked rather than typed into the address.

    Read from the daily counts the triggers keep (`EventDay`, migration 0008), which hold a row for
    every event some entry of the log has, and none once its entries are purged: one row per day,
    event, source and writer, not one per entry. A year of 50 events from 4 writers a day is some
    200,000 rows, read in about 30 ms on either database; a DISTINCT over the entries reads the log.
    """
    return (
        select(EventDay.event)
        .where(EventDay.event.not_in(sorted(set(known))))
        .group_by(EventDay.event)
        .order_by(EventDay.event)
    )


def canonical_args(args: MultiDict[str, str]) -> MultiDict[str, str]:
    """The query string with each worded filter's values as the log spells them (`status=Failed` is
    failed: `analytics.queries.canonical_value`): the one place the page, the API, the exports and the
    re-send page read them, so that each accepts any case and then shows, links and names the file
    with the lowercase word."""
    return MultiDict([(name, canonical_value(name, value)) for name, value in args.items(multi=True)])


def unknown_params(args: MultiDict[str, str]) -> dict[str, str]:
    """Each parameter that is neither a filter nor the page's own, refused: where the whole log is
    the answer to no filter (the export, a re-send), a mistyped `stauts=failed` took all of it."""
    return {name: UNKNOWN_PARAM for name in args if name not in FILTER_PARAMS + OWN_PARAMS}


def includes_attempts(args: MultiDict[str, str], errors: dict[str, str], *, reader: str) -> bool:
    """Whether `include=attempts` asks for each entry's delivery attempts (the export's, the API's
    list's); anything else `reader` cannot include is refused, as a filter it cannot take."""
    # Read in any case, as the filters' words are (`canonical_args`) and `--include` is.
    asked = {
        INCLUDE_ATTEMPTS if value.strip().lower() == INCLUDE_ATTEMPTS else value.strip()
        for value in args.getlist("include")
        if value.strip()
    }
    if other := sorted(asked - {INCLUDE_ATTEMPTS}):
        errors["include"] = (
            f"{reader} cannot include {', '.join(map(repr, other))}: "
            f"include={INCLUDE_ATTEMPTS} adds each entry's delivery attempts"
        )
    return INCLUDE_ATTEMPTS in asked


@dataclass
class SearchForm:
    """A search as typed, and what it means once parsed.

    Attributes:
        args: the query string as typed.
        filters: the parsed filter; None while any value is wrong.
        errors: one message per parameter name.
        before: continue with entries older than this position.
        after: continue with entries newer than this position.
        live: whether the live tail is on.
    """

    args: MultiDict[str, str]
    filters: AuditFilter | None = None
    errors: dict[str, str] = field(default_factory=dict)
    before: Cursor | None = None
    after: Cursor | None = None
    live: bool = False

    @classmethod
    def from_args(
        cls, args: MultiDict[str, str], *, mask_key: bytes | None, now: datetime | None = None
    ) -> SearchForm:
        """Parse a query string; errors are collected, never raised."""
        args = canonical_args(args)
        form = cls(args, live=args.get("live") == "1")
        params: Mapping[str, list[str]] = {name: args.getlist(name) for name in FILTER_PARAMS}
        try:
            form.filters = parse_filters(params, now=now, mask_key=mask_key)
        except FilterError as exc:
            form.errors.update(exc.errors)
        for name in PAGE_PARAMS:
            if args.get(name):
                try:
                    setattr(form, name, Cursor.decode(args[name]))
                except ValueError:
                    form.errors[name] = "this page link is not valid any more: start again from the newest"
        return form

    @property
    def field_names(self) -> tuple[str, ...]:
        """Every filter field, each with an error slot in the form."""
        return FILTER_PARAMS

    @property
    def valid(self) -> bool:
        """Whether the search can run."""
        return self.filters is not None and not self.errors

    def value(self, name: str) -> str:
        """The first value typed for a parameter, for the field that shows it."""
        return self.args.get(name, "")

    def any_filled(self, names: Iterable[str]) -> bool:
        """Whether any of these fields holds a value or an error: a folded group of them must open."""
        return any(self.value(name) or name in self.errors for name in names)

    @property
    def statuses(self) -> set[str]:
        """The statuses ticked, whether repeated or comma-separated in the URL."""
        return {s.strip() for value in self.args.getlist("status") for s in value.split(",") if s.strip()}

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The non-empty filter parameters as typed (and the live toggle), with overrides applied.

        An override of None removes a parameter. Page cursors are never carried over: a link that
        changes the filters starts at the newest entry.
        """
        params: dict[str, Any] = {}
        for name in FILTER_PARAMS:
            values = [value for value in self.args.getlist(name) if value.strip()]
            if values:
                params[name] = values if len(values) > 1 else values[0]
        if self.live:
            params["live"] = "1"
        for name, value in overrides.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return params

    def url(self, endpoint: str = "audit.index", **overrides: Any) -> str:
        """A URL of this search (see `params`) at another endpoint or with other values."""
        return url_for(endpoint, **self.params(**overrides))

    def canonical_url(self, **overrides: Any) -> str:
        """This very search and page, without the empty parameters a submitted form carries."""
        cursors = {name: self.args.get(name) or None for name in PAGE_PARAMS}
        return self.url(**cursors, **overrides)
