"""The names the audit search's `event` takes: today's catalog's, and those the log holds.

A name that is neither (`ProjectCreatd`, `Identify: Registr`) can match no entry, and a search for
it found nothing, in silence, as if the events had not been sent: the page, the API, the exports and
`event-catalog audit export` refuse it instead, with the closest name they know. Parsing a search
reads no database (`analytics.queries.parse_filters`), so the check is made here, where the views and
the command already hold a session.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from analytics.actions import ACTIONS
from analytics.audit import AuditEntry, EventDay
from analytics.catalog import CATALOG
from analytics.queries import IDENTIFY_PREFIX, AuditFilter, identify_call, identify_specs_outside_query
from webapp.audit.forms import events_outside_catalog_query
from webapp.lookups import echoed


def outside_catalog(session: Session) -> list[str]:
    """What the Event filter's "not in today's catalog" group offers: the log's events, then its
    identify calls by spec class (`Identify: BoardlySignup`), that today's catalog lacks."""
    events = session.scalars(events_outside_catalog_query([*CATALOG.events, *ACTIONS])).all()
    known = [info.constant for info in CATALOG.identifiers.values()]
    specs = session.scalars(identify_specs_outside_query(known)).all()
    return [*events, *(IDENTIFY_PREFIX + spec for spec in specs)]


def unknown_event(session: Session, filters: AuditFilter, *, hidden: Collection[str] = ()) -> str | None:
    """Why the search's event or identify call can match nothing, or None when some name knows it.

    Today's catalog answers without a read. Any other name is looked up as the Event filter lists the
    log's (the daily counts, by migration 0024's index), one probe for the name typed; only a name no
    probe finds reads those lists, for the closest name to suggest.

    Args:
        session: a session on the audit database.
        filters: the parsed search.
        hidden: actions the reader may not search, never suggested (the Event filter omits them).

    An identify call's name typed as an event (`Register`) is refused too, naming the call's filter:
    its entries carry no event string. The page once explained it under its empty list instead, and
    offered that view's export links, which refused it.
    """
    if filters.event is not None:
        typed = filters.event
        if typed in CATALOG.events or typed in ACTIONS:
            return None
        call = typed in {info.name for info in CATALOG.identifiers.values()}
        if _logged_event(session, typed):
            return None
        if call:
            return f"{typed!r} is an identify call: filter it as {IDENTIFY_PREFIX + typed!r}"
    elif filters.identify_spec is not None:
        constants = {info.constant for info in CATALOG.identifiers.values()}
        if filters.identify_spec in constants or _logged_identify(session, filters.identify_spec):
            return None
        typed = IDENTIFY_PREFIX + filters.identify_spec
    else:
        return None
    said = f"no event or identify spec named {echoed(typed)!r} in the catalog or the log"
    known = _known_names(session, hidden)
    closest = difflib.get_close_matches(typed, known, n=1)
    return f"{said}; did you mean {known[closest[0]]!r}?" if closest else said


def logged_event_query(event: str) -> Select[tuple[str]]:
    """Whether the log holds `event`: one of its daily count rows, found through the index by event
    (migration 0024). The live tail of a search for an event outside the catalog asks at every poll;
    the table's key leads with the day, and reading it for the event took ~30 ms a poll at a year's
    rows."""
    return select(EventDay.event).where(EventDay.event == event).limit(1)


def _logged_event(session: Session, event: str) -> bool:
    return session.scalar(logged_event_query(event)) is not None


def _logged_identify(session: Session, spec: str) -> bool:
    return session.scalar(select(AuditEntry.id).where(identify_call(spec)).limit(1)) is not None


def _known_names(session: Session, hidden: Collection[str]) -> dict[str, str]:
    """Every name the Event filter offers the reader, by itself and by what may be typed for it: a
    catalog spec's class (`ProjectCreate` for `New Project Event`, which the catalog's pages show)."""
    names: dict[str, str] = {}
    for info in CATALOG.events.values():
        names[info.constant] = names[info.name] = info.name
    for info in CATALOG.identifiers.values():
        name = IDENTIFY_PREFIX + info.name
        names[IDENTIFY_PREFIX + info.constant] = names[name] = name
    names.update((action, action) for action in ACTIONS if action not in hidden)
    names.update((name, name) for name in outside_catalog(session))
    return names
