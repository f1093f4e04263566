"""Audit review pages: search with live tail and histogram, one entry in full, and exports.

Every view reads only; person-initiated actions on the log (replay) live with their own routes.
What each role may search and read is `webapp.audit.visibility`'s to say.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue

from analytics.actions import ACTIONS
from analytics.audit import MESSAGE_TYPES, AuditEntry, AuditStatus, DeliveryAttempt, Source
from analytics.catalog import CATALOG
from analytics.durations import as_utc, format_instant
from analytics.export import INCLUDE_ATTEMPTS, Export, ExportFormat
from analytics.integrity import entry_integrity
from analytics.messages import catalog_marker, payload_of
from analytics.own_version import OwnVersions
from analytics.payload_drift import drift_of
from analytics.queries import (
    FAILED_ATTEMPTS,
    IDENTIFY_PREFIX,
    MAY_HAVE_ARRIVED,
    RANGES,
    REFUSED,
    REPLAYED_ATTEMPTS,
    TYPES,
    delivery_attempts,
    message_name,
)
from analytics.replay import (
    Unreplayable,
    entry_first_possible_arrival,
    is_stuck,
    past_window,
    restore_message,
)
from analytics.versions import bundle_has_spec, bundle_query
from webapp.audit import results as searching
from webapp.audit.event_names import outside_catalog
from webapp.audit.forms import (
    UNKNOWN_PARAM,
    SearchForm,
    includes_attempts,
    unknown_params,
)
from webapp.audit.personal import drift_shown, erasure_time, remask_key, shown_payload, unmasking_cipher
from webapp.audit.results import PAGE_SIZE, Overview, after_tail, search
from webapp.audit.tail import (
    BEHIND_COUNT_MOST,
    TAIL_BATCH,
    TAIL_CATCH_UP,
    TAIL_LAG,
    TailState,
    decode_moving,
    decode_seen,
    following,
    listed_moving,
    read_tail,
    shown_state,
    start_of_tail,
    unlisted,
)
from webapp.audit.visibility import entry_or_404, hidden_actions, search_form
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.errors.handlers import download_error, plain_text_errors
from webapp.extensions import analytics_client, db
from webapp.filenames import attachment, file_slug
from webapp.htmx import shown_status, vary_on_htmx, wants_fragment
from webapp.tester.sending import destination_named_by, destinations, own_destination
from webapp.text_input import query_checked_by_its_form

bp = Blueprint("audit", __name__)

RANGE_LABELS = {"15m": "Last 15 minutes", "1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days"}
"""How the relative ranges of `analytics.queries.RANGES` read in the form."""

OUTCOME_OPTIONS = [
    (REFUSED, "refused or never arrived"),
    (MAY_HAVE_ARRIVED, "no answer, may have arrived"),
]
"""How the `outcome` classes read in the form, in the health page's words."""

ENTRY_SOURCES = (Source.APPLICATION, Source.TESTER, Source.DASHBOARD, Source.REPLAY, Source.RETENTION)
"""The sources the search offers: every one that writes entries (actions come from the dashboard
and the commands, purge records from retention). A replay adds delivery attempts to the entries it
re-sends, and one action per run: `source=replay` lists the runs."""

# htmx stops a polling element when the answer has this status.
_STOP_POLLING = 286

TAIL_GRACE = TAIL_LAG
"""How long the live tail goes on reading a range that has ended: the entries of its last moments
are committed after it (as late as `TAIL_LAG`), and their deliveries later still. Then one last
read, and it stops."""


@bp.app_template_filter("audit_time")
def audit_time(value: datetime | None, precise: bool = False) -> str:
    """A stored time as people read it in the audit pages: UTC, to the second (or microsecond)."""
    if value is None:
        return ""
    # isoformat, not strftime: glibc's %Y writes year 738 as "738", and a search can reach that far back.
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds" if precise else "seconds")


@bp.app_template_test("sent_off_schema")
def sent_off_schema(entry: AuditEntry) -> bool:
    """Whether the entry was sent off-schema on purpose (the tester's Raw JSON, marked `offSchema`):
    the lists badge it, so that a reviewer tells it from the valid messages around it unopened."""
    return bool(catalog_marker(entry.payload or {}).get("offSchema"))


@bp.app_template_filter("audit_iso")
def audit_iso(value: datetime) -> str:
    """A time as the search's `since` / `until` take it (ISO 8601, UTC)."""
    return format_instant(value, zulu=True)


def _destination_options() -> list[tuple[str, str]]:
    """The tester's destinations as the destination filter takes them: by name, whatever key sent,
    and as `name:fingerprint`, only what the current key sent (the log keeps each send's key)."""
    options = []
    for destination in destinations():
        options.append((destination.name, f"{destination.name}: every key"))
        if destination.fingerprint:
            options.append((destination.label, f"{destination.name}: current key only"))
    return options


@bp.context_processor
def audit_vocabulary() -> dict[str, object]:
    """The choices the audit templates offer, the stuck check their rows make and an entry's name."""
    stuck_after = current_app.config["AUDIT_STUCK_AFTER"]
    now = datetime.now(UTC)
    hidden = hidden_actions()
    return {
        "audit_range_options": [(key, RANGE_LABELS[key]) for key in RANGES],
        "audit_type_options": [(kind, kind) for kind in TYPES],
        "audit_identify_calls": [IDENTIFY_PREFIX + info.name for info in CATALOG.identifiers.values()],
        "audit_actions": sorted(set(ACTIONS) - set(hidden)),
        "audit_hidden_actions": hidden,
        "audit_source_options": [(str(source), str(source)) for source in ENTRY_SOURCES],
        "audit_outcome_options": OUTCOME_OPTIONS,
        "audit_attempts_options": [
            # Short enough for the field on a laptop screen; the hint under it says the range bounds both.
            (FAILED_ATTEMPTS, "had a failed or dropped attempt"),
            (REPLAYED_ATTEMPTS, "re-sent by a replay"),
        ],
        "audit_destination_options": _destination_options(),
        "destination_named_by": destination_named_by,
        "audit_statuses": [str(status) for status in AuditStatus],
        "audit_scan_most": searching.SCAN_MOST,
        "audit_stuck": lambda entry: is_stuck(entry, now, stuck_after),
        "message_name": message_name,
        # Plain JSON text for the page to escape: `tojson` would show `<` as `\u003c` inside <code>.
        "as_json": lambda value: json.dumps(value, ensure_ascii=False),
    }


@bp.get("/")
@query_checked_by_its_form
@requires(Role.VIEWER)
def index() -> ResponseReturnValue:
    """Search the log; htmx requests get the results fragment (with field errors out of band)."""
    form = search_form(request.args)
    now = datetime.now(UTC)
    floor = request.args.get("total", 0, type=int)
    results = search(db.session, form, page_size=PAGE_SIZE, now=now, floor=floor) if form.valid else None
    stuck_after = current_app.config["AUDIT_STUCK_AFTER"]
    tail = start_of_tail(results.page, now, stuck_after) if results and form.live else None
    htmx = wants_fragment()
    template = "audit/_results.html" if htmx else "audit/index.html"
    # Only the full page draws the form, and with it the Event filter's choices.
    outside = [] if htmx else outside_catalog(db.session)
    html = render_template(
        template, form=form, results=results, tail=tail, catalog=CATALOG, oob=htmx, outside_catalog=outside
    )
    # The search's field errors travel in its fragment, which htmx would not swap as a 400.
    status = shown_status(200 if form.valid else 400)
    response = vary_on_htmx(make_response(html, status))
    if htmx:
        # The address bar shows the search, not every empty field of the form that asked for it.
        # A later page keeps the floor it was reached with, and only that (`Results.carried_total`).
        later = form.before is not None or form.after is not None
        carried = results.carried_total if results and later else None
        response.headers["HX-Push-Url"] = form.canonical_url(total=carried)
    return response


@bp.get("/tail")
@requires(Role.VIEWER)
def tail() -> ResponseReturnValue:
    """The live-tail widget: entries it has not shown yet (`webapp.audit.tail`), added above the list
    out of band."""
    form = search_form(request.args)
    if not wants_fragment():
        # A poll's address opened as a page (a link copied from the browser's tools): its live search.
        return redirect(form.url(live="1"), 303)
    now = datetime.now(UTC)
    filters = form.filters if form.valid else None
    try:
        seen = decode_seen(request.args.get("seen", ""))
        moving = decode_moving(request.args.get("moving", ""))
    except ValueError:
        filters = None
    # Nothing can match a search that cannot run: stop polling.
    if filters is None:
        return "", _STOP_POLLING
    # A range that has ended is read for a little longer, then a last time (`TAIL_GRACE`).
    ended = filters.until is not None and filters.until <= now
    final = filters.until is not None and filters.until <= now - TAIL_GRACE
    # Behind at the last poll: this one adds more, so that a busy log is caught up with.
    batch = TAIL_CATCH_UP if request.args.get("behind") == "1" else TAIL_BATCH
    state = TailState(form.after, seen, moving)
    step = read_tail(db.session, filters, state, now, batch=batch)
    behind = unlisted(db.session, filters, step.state) if step.more else 0
    entries = step.entries
    # Listed rows whose status moved on since they were drawn, or that turned stuck, are drawn again.
    stuck_after = current_app.config["AUDIT_STUCK_AFTER"]
    followed = listed_moving(db.session, state, hidden_actions())
    settled = [row for row in followed if shown_state(row, now, stuck_after) != moving[row.id]]
    # Something changed: the head (count, range, histogram) is read again rather than added up.
    listed = Overview(request.args.get("total", 0, type=int), None, request.args.get("complete") != "0")
    head = (
        after_tail(db.session, filters, now, listed=listed, arrived=len(entries))
        if entries or settled
        else listed
    )
    page = render_template(
        "audit/_tail.html",
        form=form,
        entries=entries,
        settled=settled,
        tail=replace(step.state, moving=following([*entries, *followed], now, stuck_after)),
        behind=behind,
        behind_most=BEHIND_COUNT_MOST,
        catch_up=TAIL_CATCH_UP,
        head=head,
        was_empty=listed.total == 0,
        checked=now,
        ended=ended,
        final=final,
    )
    response = make_response(page, _STOP_POLLING if final else 200)
    if entries or settled:
        # The re-send widget under the results counts these rows too: it reads its offer again.
        response.headers["HX-Trigger"] = "audit-entries-changed"
    return response


@bp.get("/entries/<message_id>")
@requires(Role.VIEWER)
def entry(message_id: str) -> str:
    """One entry in full: message, delivery history, catalog version and drift."""
    found = entry_or_404(message_id)
    attempts = db.session.scalars(delivery_attempts(message_id)).all()
    is_message = found.type in MESSAGE_TYPES
    erased = erasure_time(found)
    shown = shown_payload(found, erased=erased)
    # Said instead of a button that would only skip it ("Re-sent 0 entries: … 1 skipped").
    replay_blocked = _replay_blocked(found, erased) if is_message else None
    # Judged on what is stored, for every role; a viewer's table shows the values masked as the message is.
    drift = drift_shown(drift_of(found.payload), shown, found.payload) if is_message else None
    return render_template(
        "audit/entry.html",
        entry=found,
        attempts=attempts,
        is_message=is_message,
        # A replay sends with the dashboard's own key: the tester's sends elsewhere are sent again
        # from the tester instead.
        replayable=is_message and found.destination in (None, own_destination().label),
        replay_blocked=replay_blocked,
        replay_risk=_replay_risk(found, attempts) if is_message else None,
        drift=drift,
        sender_has_spec=_sender_has_spec(found) if drift and drift.spec is None else None,
        valid_under_own_version=bool(
            drift and drift.spec and not drift.validates and _valid_under_own_version(found)
        ),
        built_by=_built_by(found),
        current_version=CATALOG.version,
        shown=shown,
        payload_json=json.dumps(shown.payload, indent=2, ensure_ascii=False),
        # issue 6 integrity: whether the entry still verifies in its writer's hash chain
        integrity=entry_integrity(analytics_client.store(), found),
    )


def _sender_has_spec(entry: AuditEntry) -> bool | None:
    """Whether the catalog version that built a message today's catalog has no spec for had one, by
    the bundle the database recorded for it; None when that version is not recorded. The entry page
    says which, rather than that the spec was removed: an application's own spec, or a release newer
    than the dashboard's, was never in the dashboard's catalog."""
    if entry.catalog_version is None:
        return None
    bundle = db.session.scalar(bundle_query(entry.catalog_version))
    return None if bundle is None else bundle_has_spec(bundle, entry.payload)


def _valid_under_own_version(entry: AuditEntry) -> bool:
    """Whether the catalog version that built a message today's schema rejects, when it is another
    one, accepts it by the schema the database recorded for it (`analytics.own_version`): the catalog
    pages call such a message a later version's rather than drift, and the entry page said "no longer
    validate" of the same message."""
    version = entry.catalog_version
    if version is None or version == CATALOG.version:
        return False
    bundle = db.session.scalar(bundle_query(version))
    if bundle is None:
        return False
    payload = entry.payload or {}
    built_by = catalog_marker(payload).get("spec")
    return OwnVersions({version: bundle}).validates(
        version, entry.type, entry.event, built_by, payload_of(payload)
    )


def _built_by(entry: AuditEntry) -> str | None:
    """The spec class a message names as its builder: one no recorded version holds was declared
    outside the catalog package (`ForeignSpecWarning`), which the entry page says rather than calling
    it a raw send."""
    spec = catalog_marker(entry.payload or {}).get("spec")
    return spec if isinstance(spec, str) and spec else None


def _replay_risk(entry: AuditEntry, attempts: Sequence[DeliveryAttempt]) -> str | None:
    """What a re-send of this entry may do twice, said beside its button: it may already be in Segment
    (`first_possible_arrival`, by its status and every attempt), which drops a second copy only within
    about 24 hours of the first, so the note says since when."""
    arrival = entry_first_possible_arrival(entry, attempts)
    if arrival is None:
        return None
    since = f"It may already be in Segment, since {audit_time(arrival)} UTC"
    if past_window(arrival, datetime.now(UTC)):
        return (
            f"{since}, over 24 h ago: past Segment's de-duplication window, a re-sent copy would be counted "
            "twice"
        )
    return f"{since}: a re-sent copy is dropped by Segment only within about 24 hours of that"


def _replay_blocked(entry: AuditEntry, erased: datetime | None) -> str | None:
    """Why a re-send would skip this entry (its personal data cannot be restored), or None."""
    try:
        restore_message(entry, analytics_client.store().cipher, erased=erased)
    except Unreplayable as exc:
        return str(exc)
    return None


# Filters whose values are the catalog's or the log's own words, safe in a file name; the others
# (ids, a property value that may be an email, actors) are named without their value.
_NAMED_BY_VALUE = ("range", "event", "type", "status", "source")

# Filters a file name says as the time window they make (times are not sensitive).
_WINDOW = ("since", "until")


def _file_time(moment: datetime) -> str:
    """A UTC time for a file name, without the colons some systems refuse: `2026-12-06T0700Z`, with
    seconds only when it has some."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H%M%S}Z" if moment.second or moment.microsecond else f"{moment:%Y-%m-%dT%H%M}Z"


def _window_slug(form: SearchForm) -> str:
    """The view's time window (`2026-12-06T0700Z--2026-12-06T0800Z`, `since-…`, `until-…`): two
    incident windows exported a minute apart differed only by the time of the export."""
    assert form.filters is not None
    since, until = (None if t is None else _file_time(t) for t in (form.filters.since, form.filters.until))
    if since and until:
        return f"{since}--{until}"
    return f"since-{since}" if since else f"until-{until}"


def _view_slug(form: SearchForm, *, attempts: bool = False) -> str:
    """What an export file's name says of its view (`2026-12-06T0700Z--2026-12-06T0800Z_status-failed-`),
    so that several exports can be told apart; empty for the whole log. An export with the delivery
    attempts says so (`with-attempts`): saved beside the same view's plain one, it had the same name."""
    params = form.params(live=None)
    parts = [_window_slug(form)] if any(name in params for name in _WINDOW) else []
    for name, value in params.items():
        text = value if isinstance(value, str) else ",".join(value)
        if name not in _WINDOW:
            parts.append(f"{name}-{text}" if name in _NAMED_BY_VALUE else name)
    if attempts:
        parts.append(f"with-{INCLUDE_ATTEMPTS}")
    return file_slug(parts)


_UNKNOWN_EXPORT_PARAM = f"{UNKNOWN_PARAM}; and an export takes include={INCLUDE_ATTEMPTS}"


@bp.get("/export.<any(csv, ndjson):extension>")
@plain_text_errors
@requires(Role.VIEWER)
def export(extension: str) -> ResponseReturnValue:
    """Every entry of a filtered view, streamed as a download (the page cursor is ignored; an unknown
    parameter is refused), with its delivery attempts when asked (`include=attempts`).

    Personal data leaves unmasked only for engineers and admins, and only with the key configured.
    """
    unknown = {name: _UNKNOWN_EXPORT_PARAM for name in unknown_params(request.args) if name != "include"}
    attempts = includes_attempts(request.args, unknown, reader="an export")
    form = search_form(request.args)
    if unknown or form.filters is None:
        return download_error(400, {**form.errors, **unknown})
    export_format = ExportFormat(extension)
    slug = _view_slug(form, attempts=attempts)
    filename = f"audit-{slug}{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{export_format}"
    return Response(
        Export(
            db.engine,
            form.filters,
            export_format,
            cipher=unmasking_cipher(),
            attempts=attempts,
            remask_key=remask_key(),
        ),
        content_type=export_format.media_type,
        headers={"Content-Disposition": attachment(filename), "Cache-Control": "no-store"},
    )
