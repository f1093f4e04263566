"""`/api/audit`: the audit log as JSON for scripts (a CI job's "was it delivered?", an incident's
timeline), read-only.

It answers what the audit pages show, through the same functions: the search's filters and the
role's limits on them (`webapp.audit.visibility`), its keyset pages (`webapp.audit.results`), the
personal data each role may see (`webapp.audit.personal`), and an entry's delivery attempts and
integrity verdict as its page reads them. Each entry has the fields of an NDJSON export line
(`analytics.export.entry_record`). There is no total: counting every match costs a pass over all
of them, where a page costs the same at any depth (the page's count is on `/audit/`). A property
search without a start time reads at most `SCAN_MOST` entries an answer, in either order.

Newest first suits a person's question; a script that reads the log as it grows reads it oldest
first (`order=oldest`, then `after=<next>`). Entries are not committed in the order of their times
(a writer stamps its batch before its transaction, and with several writers one commits after newer
ones), so a reader that moved past the newest time it saw (`since=`) never lists an entry committed
behind it. An oldest-first answer lists only entries older than the settle horizon, the live tail's
`TAIL_LAG` before the request, by when an entry is taken to be committed; its `next` never passes
that horizon, so following it lists every entry once (an `after` past the horizon is sent back to it).
Oldest first takes no filter on what changes after an entry is recorded (`CHANGING_FILTERS`).

What does change (an outcome recorded, a re-send claimed, sealed personal data erased) is read as a
changes feed (`order=changed`, then `after=<next>`): the entries in the order of when their outcome
last changed (`AuditEntry.changed_at`, kept by the database's triggers), behind the same horizon, as
those changes commit out of the order of their times too. It takes no search filter: it is the
log's own feed for a copy kept in sync, and a filter on a keyset it does not lead would read every
change it skips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from analytics.audit import AuditEntry
from analytics.durations import as_utc, format_instant
from analytics.export import attempt_record, attempts_by_message, entry_record
from analytics.integrity import entry_integrity
from analytics.queries import FILTER_PARAMS, Cursor, changed_after, delivery_attempts, oldest_first_after
from analytics.scopes import is_id_text
from webapp.audit.forms import SearchForm, includes_attempts
from webapp.audit.personal import erasure_time, shown_payload
from webapp.audit.results import PAGE_SIZE, page_of, read_end
from webapp.audit.tail import TAIL_LAG
from webapp.audit.visibility import entry_or_404, search_form
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.errors.handlers import json_error
from webapp.extensions import analytics_client, db

bp = Blueprint("audit_api", __name__)

MAX_LIMIT = 200
"""Most entries one answer holds: at up to 32 KB of payload each, a few megabytes. More is what the
NDJSON export (`/audit/export.ndjson`, streamed, with the same token) is for."""

PAGE_PARAMS = ("limit", "cursor", "order", "after", "include")
"""The parameters the API takes besides the audit page's filters."""

NEWEST, OLDEST, CHANGED = "newest", "oldest", "changed"
"""The orders of `/api/audit/entries`: newest first (`cursor` pages back), oldest first (`after`
reads on, up to the settle horizon), and by when the outcome last changed (`after` reads on too)."""

SETTLE = TAIL_LAG
"""How long before a request an entry must have been recorded for an oldest-first answer to list it:
the live tail's lag, one constant, as both compensate for the same late commits."""

_UNKNOWN = (
    "unknown parameter: the API takes the audit page's filters ("
    + ", ".join(FILTER_PARAMS)
    + "), limit, order, cursor or after (the `next` of the previous answer), and include=attempts"
)

_FEED_UNFILTERED = (
    "the changes feed (order=changed) takes no search filter: it lists every entry whose outcome changed, "
    "once per change, for a copy kept in sync (filter your copy); for what matches now, leave out `order` "
    "and `after` (newest first)"
)

CHANGING_FILTERS = {
    "status": "its `status`",
    "http_status": "its `http_status`",
    "outcome": "its `status`, `http_status` and `error`",
    "attempts": "its `attempts` (add include=attempts)",
}
"""The filters on what changes after an entry is recorded (a retry or a replay delivers it, an attempt
is added), refused oldest first, each with what the entry carries instead. An oldest-first read lists
each entry once, as it is when the read passes it, and its `next` moves on: an entry that was `pending`
then and `delivered` later was never listed by a resumed `status=delivered`, without a sign (the API
walk). Newest first they are answered as the page answers them: what matches now."""

_NO_PARAMETERS = "unknown parameter: an entry's answer takes none (search with /api/audit/entries)"

# Entries hold personal data (masked or not): no cache keeps a copy, as for the export.
_NO_STORE = {"Cache-Control": "no-store"}


def _one(name: str, errors: dict[str, str]) -> str | None:
    """The one value given for an API parameter (None when absent or empty)."""
    values = [value.strip() for value in request.args.getlist(name) if value.strip()]
    if len(values) > 1:
        errors[name] = "give one value"
        return None
    return values[0] if values else None


def _limit(errors: dict[str, str]) -> int:
    text = _one("limit", errors)
    if text is None:
        return PAGE_SIZE
    if not is_id_text(text) or not 1 <= int(text) <= MAX_LIMIT:
        errors["limit"] = (
            f"{text!r} is not a limit: a whole number from 1 to {MAX_LIMIT}; for more entries, follow "
            "`next`, or download the NDJSON export (/audit/export.ndjson, same filters, same token)"
        )
        return PAGE_SIZE
    return int(text)


def _position(name: str, errors: dict[str, str]) -> Cursor | None:
    """The position a `cursor` or `after` parameter gives (None when absent or not one)."""
    text = _one(name, errors)
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except ValueError:
        errors[name] = f"{text!r} is not a cursor: give the `next` of a previous answer, or none"
        return None


def _order(errors: dict[str, str]) -> str:
    """`newest`, `oldest` or `changed`: as asked, else oldest when `after` is given, else newest."""
    text = _one("order", errors)
    if text is None:
        return OLDEST if _one("after", {}) is not None else NEWEST
    if text not in (NEWEST, OLDEST, CHANGED):
        errors["order"] = f"{text!r} is not an order: `newest` (the default), `oldest` or `changed`"
        return NEWEST
    if text == NEWEST and _one("after", {}) is not None:
        errors["after"] = "`after` reads oldest first: leave out `order`, or give `order=oldest`"
    return text


def _changing_filters() -> dict[str, str]:
    """Each filter on what changes after an entry is recorded that an oldest-first read was given."""
    return {
        name: (
            f"an entry's `{name}` can change after it is recorded, and oldest first each entry is listed "
            "once, as it is when read: one that matched only later would never be listed. Read without "
            f"`{name}`: every entry comes once, with {carries}, and the changes feed (order=changed) "
            "lists it again when its outcome changes; for what matches now, leave out `order` and `after` "
            "(newest first)"
        )
        for name, carries in CHANGING_FILTERS.items()
        if any(value.strip() for value in request.args.getlist(name))
    }


def _now() -> datetime:
    return datetime.now(UTC)


@bp.get("/entries")
@requires(Role.VIEWER)
def entries() -> ResponseReturnValue:
    """A page of the entries matching the audit page's filters, newest first or oldest first."""
    errors = {name: _UNKNOWN for name in request.args if name not in FILTER_PARAMS + PAGE_PARAMS}
    # `status` alone takes several values (the page's checkboxes repeat it); a repeated `include` is
    # refused as every other parameter's is, rather than read as one.
    _one("include", errors)
    attempts = includes_attempts(request.args, errors, reader="the list")
    limit, order = _limit(errors), _order(errors)
    cursor, after = _position("cursor", errors), _position("after", errors)
    if order == OLDEST and cursor is not None:
        errors["cursor"] = "`cursor` pages newest first: oldest first, give the previous `next` as `after`"
    if order == CHANGED and cursor is not None:
        errors["cursor"] = "`cursor` pages newest first: the changes feed reads on with `after=<next>`"
    if order == OLDEST:
        errors.update(_changing_filters())
    if order == CHANGED:
        errors.update({name: _FEED_UNFILTERED for name in request.args if name in FILTER_PARAMS})
    form = search_form(request.args)
    errors = {**form.errors, **errors}
    if errors or form.filters is None:
        return json_error(400, "The search cannot run: fix the parameters below.", errors)
    if order == OLDEST:
        return jsonify(_settled_page(form, after, limit, attempts=attempts)), _NO_STORE
    if order == CHANGED:
        return jsonify(_changes_page(form, after, limit, attempts=attempts)), _NO_STORE
    form.before = cursor
    page = page_of(db.session, form, page_size=limit)
    found = _records(page.entries, attempts=attempts)
    body = {"entries": found, "next": page.older.encode() if page.older is not None else None}
    return jsonify(body), _NO_STORE


def _records(entries: Sequence[AuditEntry], *, attempts: bool) -> list[dict[str, Any]]:
    """The entries as the API gives them, each with its delivery attempts when asked
    (`include=attempts`, in the entry's answer's shape): one query for the page, as the export reads
    them per batch, rather than one request per entry for a script reviewing an incident."""
    records = [entry_record(entry, shown_payload(entry).payload) for entry in entries]
    if attempts:
        found = attempts_by_message(db.session, [entry.message_id for entry in entries])
        for record, entry in zip(records, entries, strict=True):
            record["attempts"] = found[entry.message_id]
    return records


def _settled_page(form: SearchForm, after: Cursor | None, limit: int, *, attempts: bool) -> dict[str, Any]:
    """The matching entries after `after`, oldest first, recorded before the settle horizon.

    `next` is the last entry's position when the answer is full, else where the answer stopped reading
    (every matching entry before it is listed): the horizon, or for a property search without a start
    time the end of its `SCAN_MOST` entries. An empty answer moves on too. It never goes back, except to
    the horizon from an `after` beyond it (written from a clock ahead of this one, or answered by a
    replica whose clock is): entries can still be committed before such a position, and a poller
    that kept it would never list them. Refusing it instead would stop a poller whose clock runs a
    little ahead, until this one caught up.
    """
    assert form.filters is not None
    horizon = _now() - SETTLE
    end = horizon if form.filters.until is None else min(form.filters.until, horizon)
    # A property search without a start time reads at most `SCAN_MOST` entries an answer: then `next`
    # is where it stopped, earlier than the horizon.
    end = read_end(db.session, form.filters, after=after, end=end)
    rows = db.session.scalars(oldest_first_after(replace(form.filters, until=end), after, limit=limit)).all()
    reached = Cursor.of(rows[-1]) if len(rows) == limit else Cursor(end, 0)
    moved = reached if after is None else max(after, reached)
    return {
        "entries": _records(rows, attempts=attempts),
        "next": min(moved, Cursor(horizon, 0)).encode(),
        "settled_before": format_instant(horizon, "microseconds", zulu=True),
    }


def _changes_page(form: SearchForm, after: Cursor | None, limit: int, *, attempts: bool) -> dict[str, Any]:
    """The entries whose outcome last changed after `after`, in that order, before the settle horizon.

    As `_settled_page`, with the change's time in place of the entry's: an outcome's UPDATE is dated
    by the database as it runs and commits a moment later, out of order with other writers', so
    `next` never passes the horizon either. Each entry carries its `changed_at`.
    """
    assert form.filters is not None
    horizon = _now() - SETTLE
    rows = db.session.scalars(changed_after(form.filters, after, end=horizon, limit=limit)).all()
    records = _records(rows, attempts=attempts)
    for record, row in zip(records, rows, strict=True):
        record["changed_at"] = format_instant(row.changed_at, "microseconds", zulu=True)
    reached = Cursor(horizon, 0)
    if len(rows) == limit and rows[-1].changed_at is not None:
        reached = Cursor(as_utc(rows[-1].changed_at), rows[-1].id)
    moved = reached if after is None else max(after, reached)
    return {
        "entries": records,
        "next": min(moved, Cursor(horizon, 0)).encode(),
        "settled_before": format_instant(horizon, "microseconds", zulu=True),
    }


@bp.get("/entries/<message_id>")
@requires(Role.VIEWER)
def entry(message_id: str) -> ResponseReturnValue:
    """One entry with its delivery attempts and whether it verifies in its hash chain."""
    if request.args:
        # Refused as the list refuses one: `?fields=status` answering everything would look obeyed.
        unknown = {name: _NO_PARAMETERS for name in request.args}
        return json_error(400, "The entry cannot be read: fix the parameters below.", unknown)
    found = entry_or_404(message_id)
    shown = shown_payload(found, erased=erasure_time(found))
    attempts = db.session.scalars(delivery_attempts(message_id)).all()
    integrity = entry_integrity(analytics_client.store(), found)
    body = {
        **entry_record(found, shown.payload),
        "payload_note": shown.note,
        "in_clear_note": shown.in_clear_note,
        "attempts": [attempt_record(attempt) for attempt in attempts],
        "integrity": {
            "verifies": integrity.verifies,
            "problems": list(integrity.problems),
            "notes": list(integrity.notes),
            "writer_id": found.writer_id,
            "seq": found.seq,
        },
    }
    return jsonify(body), _NO_STORE
