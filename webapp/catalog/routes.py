"""The catalog pages product managers read: events, scopes, identify calls, changes, downloads.

Everything shown comes from `analytics.catalog` (what can be sent) joined with the audit log (what
was sent). Views are linear: look up, query, render; the event list serves its page and its htmx
fragment from one URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from analytics.activity import (
    NEVER_SENT,
    RECENT_DAYS,
    SPARKLINE_DAYS,
    EventActivity,
    daily_counts_query,
    daily_series,
    identify_activity,
    latest_entries_query,
    read_activity,
)
from analytics.audit import SCHEMA_REVISION, AuditEntry, schema_revision
from analytics.catalog import CATALOG, SpecInfo
from analytics.durations import as_utc
from analytics.exports import FORMATS, list_csv, list_json, spec_csv_lines, spec_json
from analytics.messages import build_message
from analytics.queries import IDENTIFY_PREFIX
from analytics.scopes import UserScope
from analytics.snippet import python_snippet
from analytics.spec import contact_of
from analytics.versions import LaterVersions, newer_versions, record_version_safely
from analytics.wording import counted
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.catalog.changes import changes_view
from webapp.catalog.filters import (
    EventFilters,
    EventRow,
    SpecRow,
    choices,
    event_rows,
    identify_matches,
    parse_filters,
)
from webapp.catalog.reads import read_or_default
from webapp.catalog.sparkline import sparkline
from webapp.catalog_documents import built
from webapp.errors.handlers import plain_text_errors, text_error
from webapp.extensions import db
from webapp.filenames import attachment, file_slug
from webapp.htmx import vary_on_htmx, wants_fragment
from webapp.lookups import echoed
from webapp.schema_guard import note_write_refused

bp = Blueprint("catalog", __name__)

DOWNLOADS = {
    "jsonschema": "One JSON Schema (draft 2020-12) per event and identify call, keyed by name, with the "
    "catalog version: for validators, code generators, and for comparing two versions.",
    "csv": "One row per event and property: type, required, allowed values, example, description, personal "
    "data. Opens directly in a spreadsheet.",
    "markdown": "A readable tracking plan, events grouped by category, for a wiki or a pull request.",
    "segment-plan": "A tracking plan in the shape Segment Protocols' API takes: one TRACK rule per event "
    "and one IDENTIFY rule, each with a draft-07 JSON Schema of its properties or traits.",
}
"""What each download is for, in the words of someone choosing one."""


def record_catalog_version() -> None:
    """Record the running catalog version once, as soon as the database is migrated.

    Not at start-up: `event-catalog db upgrade` builds this app on a database without the table.
    Whatever the request's outcome: it runs before the access check (`_first_of_every_request`), so
    that a dashboard that only ever sent visitors to the set-up page or the sign-in page still
    records the version it served.
    """
    state = current_app.extensions.setdefault("catalog_version_recorded", {"done": False})
    if state["done"]:
        return
    try:
        migrated = schema_revision(db.engine) == SCHEMA_REVISION
    except SQLAlchemyError:
        return  # unreachable: /healthz says so; try again on the next request
    if migrated:
        refused = record_version_safely(db.engine, CATALOG)
        if refused is not None:
            note_write_refused(current_app, refused)
        state["done"] = True


@bp.record_once
def _first_of_every_request(state: BlueprintSetupState) -> None:
    """Run `record_catalog_version` before every other `before_request` hook of the app.

    A blueprint's `before_app_request` hook runs after the app's own, and the access check
    (`webapp.auth.policy.enforce`, registered earlier) answers an anonymous request with a redirect,
    after which Flask runs no further hook: the version was never recorded.
    """
    state.app.before_request_funcs.setdefault(None, []).insert(0, record_catalog_version)


def _now() -> datetime:
    return datetime.now(UTC)


class NoSuchEvent(NotFound):
    """A 404 for an event the catalog lacks, with ways on for whoever typed the address by hand.

    Attributes:
        typed: the event as the address gave it, for a catalog search.
        shown: the same words as the page repeats them (`echoed`).
        meant: the event it names in another case or spacing, if any.
    """

    def __init__(self, typed: str) -> None:
        super().__init__(description=f"The catalog has no event “{echoed(typed)}”.")
        self.typed = typed
        self.shown = echoed(typed.replace("+", " "))
        self.meant = _event_meant(typed)


def _loose(text: str) -> str:
    """An event's name or constant without case, spaces or the `+` a form encodes a space as."""
    return "".join(text.replace("+", " ").split()).casefold()


def _event_meant(typed: str) -> SpecInfo | None:
    """The event whose string or constant `typed` spells in another case or spacing, if any."""
    wanted = _loose(typed)
    return next(
        (info for info in CATALOG.events.values() if wanted in (_loose(info.name), _loose(info.constant))),
        None,
    )


def _event_or_404(constant: str) -> SpecInfo:
    try:
        return CATALOG.event(constant)
    except KeyError:
        raise NoSuchEvent(constant) from None


def _identifier_or_404(name: str) -> SpecInfo:
    try:
        return CATALOG.identifier(name)
    except KeyError:
        abort(404, description=f"The catalog has no identify call “{echoed(name)}”.")


def _details(info: SpecInfo) -> list[str]:
    """The description's paragraphs after the summary line, each joined into one line."""
    paragraphs = info.spec.description().split("\n\n")
    first_rest = paragraphs[0].split("\n", 1)[1:]
    return [" ".join(p.split()) for p in [*first_rest, *paragraphs[1:]] if p.strip()]


def _pretty(document: object) -> str:
    """JSON as a person reads it, in the document's own key order."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def _spec_page(info: SpecInfo) -> dict[str, object]:
    """What the event and identify pages share.

    Examples that do not make a valid spec (lint's EC016) leave the example message and snippet out,
    and the page says why, rather than the page failing.
    """
    valid = info.example_problem is None
    return {
        "info": info,
        "details": _details(info),
        "message_json": _pretty(build_message(info.example_spec())) if valid else None,
        "snippet": python_snippet(info) if valid else None,
        "example_problem": info.example_problem,
        "schema_json": _pretty(info.json_schema),
    }


@dataclass(frozen=True)
class ScopeNode:
    """One scope in the hierarchy, with what it adds and the events that name it."""

    scope: type[UserScope]
    adds: list[tuple[str, str]]
    inherited: list[str]
    events: list[SpecInfo]
    children: list[ScopeNode]


def _scope_tree(scope: type[UserScope]) -> ScopeNode:
    parent = scope.parent()
    inherited = parent.property_fields() if parent is not None else {}
    adds = [(field, prop) for field, prop in scope.property_fields().items() if field not in inherited]
    children = [_scope_tree(child) for child in CATALOG.scopes if child.parent() is scope]
    return ScopeNode(scope, adds, list(inherited.values()), CATALOG.events_using(scope), children)


bp.add_app_template_global(contact_of, "contact_of")


@bp.app_template_filter("ago")
def ago(moment: datetime) -> str:
    """How long ago, in the largest whole unit: "just now", "5 minutes ago", "3 days ago"."""
    seconds = int((_now() - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"{counted(seconds // size, unit)} ago"
    return "just now"


_CODE_SPAN = re.compile(r"`([^`\n]+)`")
"""A Markdown code span as docstrings write one: `invoice.paid`."""


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """Docstring text with its `code` spans shown as code, and everything else escaped.

    Docstrings mark names with backticks, as Markdown does ("Fires from the Stripe `invoice.paid`
    webhook"), which read literally on the page. Only code spans are honoured: any other markup,
    HTML included, stays text.
    """
    # split() puts each span's text at the odd indexes; join() escapes the plain text between them.
    parts = enumerate(_CODE_SPAN.split(text))
    return Markup("").join(Markup("<code>%s</code>") % part if i % 2 else part for i, part in parts)


@bp.app_template_filter("utc")
def utc(moment: datetime) -> datetime:
    """A database timestamp as an aware UTC datetime, whichever database it came from."""
    return as_utc(moment)


def _schema_download(info: SpecInfo) -> Response:
    response = current_app.response_class(
        json.dumps(info.json_schema, indent=2) + "\n", mimetype="application/schema+json"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{info.constant}.schema.json"'
    return response


@dataclass(frozen=True)
class ListView:
    """What the event list shows for its query string, and what its downloads hold."""

    filters: EventFilters
    rows: list[EventRow]
    identify: list[SpecInfo]
    audit_error: str | None


def _list_view() -> ListView:
    filters = parse_filters(request.args, CATALOG)
    since = _now() - timedelta(days=RECENT_DAYS)
    events = list(CATALOG.events)
    (activity, newer), audit_error = read_or_default(
        lambda: (read_activity(db.session, events, since), _newer_versions()), ({}, LaterVersions())
    )
    return ListView(
        filters,
        event_rows(CATALOG, activity, filters, newer),
        identify_matches(CATALOG, filters),
        audit_error,
    )


def _newer_versions() -> LaterVersions:
    """The recorded catalog versions first seen after the dashboard's: what their messages carry is not
    drift when valid under their own version (`SpecRow.built_by_newer`)."""
    return LaterVersions(newer_versions(db.session, CATALOG.version))


@bp.get("/")
@requires(Role.VIEWER)
def index() -> ResponseReturnValue:
    """Every event, searchable and filterable, with what the audit log says about it."""
    view = _list_view()
    filters = view.filters
    template = "catalog/_results.html" if wants_fragment() else "catalog/index.html"
    page = render_template(
        template,
        rows=view.rows,
        identify=view.identify,
        filters=filters,
        choices=choices(CATALOG),
        total=len(CATALOG.events),
        recent_days=RECENT_DAYS,
        audit_error=view.audit_error,
        fragment=wants_fragment(),
    )
    response = vary_on_htmx(current_app.make_response(page))
    if wants_fragment():
        # The form sends its empty fields too; the address bar gets the short URL people share.
        response.headers["HX-Push-Url"] = url_for("catalog.index", **filters.query())
    return response


@bp.get("/events.<any(csv, json):extension>")
@plain_text_errors
@requires(Role.VIEWER)
def list_download(extension: str) -> ResponseReturnValue:
    """Exactly what the list shows for the same query string (its events in its order, then the
    identify calls its search finds), as the whole catalog's CSV or `/api/catalog`'s JSON shape.

    A filter value the list would ignore with a note is refused here: a file cannot show the note,
    and would hold more than was asked for. So is a list whose rows or order need the audit log
    while it cannot be read.
    """
    view = _list_view()
    if view.filters.refused:
        return text_error(400, view.filters.refused)
    if view.audit_error and view.filters.reads_activity:
        return Response(view.audit_error + "\n", status=503, mimetype="text/plain")
    if extension == "csv":
        fmt = FORMATS["csv"]
        activity = [(row.info, ("", "") if view.audit_error else row.activity_cells()) for row in view.rows]
        columns = ("last_seen", f"sent_last_{RECENT_DAYS}_days")
        body = list_csv(activity, view.identify, columns, lines=_spec_csv).encode(fmt.encoding)
        content_type = f"{fmt.media_type}; charset=utf-8"
    else:
        events = [(row.info, None if view.audit_error else row.activity_document()) for row in view.rows]
        text = list_json(events, view.identify, view.filters.query(), CATALOG.version, document=_spec_json)
        body = text.encode()
        content_type = "application/json"
    slug = file_slug(_file_parts(view.filters))
    return Response(
        body,
        content_type=content_type,
        headers={"Content-Disposition": attachment(f"events-{slug}{CATALOG.version}.{extension}")},
    )


def _spec_json(info: SpecInfo) -> str:
    """The list JSON's catalog part, written once per spec; only its activity is read per request."""
    return built(CATALOG, ("spec json", info.kind, info.name), lambda: spec_json(info))


def _spec_csv(info: SpecInfo) -> tuple[str, ...]:
    """The list CSV's rows of one spec, `userId` first as on its page, written once: they come from
    the catalog alone; each request adds only the event's activity cells."""
    return built(CATALOG, ("spec csv", info.kind, info.name), lambda: spec_csv_lines(info, user_id=True))


def _file_parts(filters: EventFilters) -> list[str]:
    """What a download's file name says of its filters: `q-stack`, `scope-Cluster`, and a descending
    sort as `sort-last_seen-desc` (its `-last_seen` made `sort--last_seen`)."""
    return [
        f"sort-{value[1:]}-desc" if name == "sort" and value.startswith("-") else f"{name}-{value}"
        for name, value in filters.query().items()
    ]


@bp.get("/events/<constant>")
@requires(Role.VIEWER)
def event(constant: str) -> ResponseReturnValue:
    """One event: what it means, what it carries, an example, and whether it is being sent."""
    info = _event_or_404(constant)
    if constant != info.constant:
        return redirect(url_for("catalog.event", constant=info.constant), 308)
    now = _now()

    def read() -> tuple[EventActivity, list[tuple[date, int]], list[AuditEntry], LaterVersions]:
        recent = read_activity(db.session, [info.name], now - timedelta(days=RECENT_DAYS))
        activity = recent.get(info.name, NEVER_SENT)
        counts = db.session.execute(daily_counts_query(info.name, now - timedelta(days=SPARKLINE_DAYS)))
        entries = list(db.session.scalars(latest_entries_query(info.name)))
        return activity, daily_series(counts, now.date()), entries, _newer_versions()

    (activity, series, entries, newer), audit_error = read_or_default(
        read, (NEVER_SENT, daily_series([], now.date()), [], LaterVersions())
    )
    return render_template(
        "catalog/event.html",
        **_spec_page(info),
        activity=activity,
        verdict=EventRow(info, activity, newer, now),
        chart=sparkline(series),
        entries=entries,
        audit_error=audit_error,
        recent_days=RECENT_DAYS,
        sparkline_days=SPARKLINE_DAYS,
    )


@bp.get("/events/<constant>/schema.json")
@requires(Role.VIEWER)
def event_schema(constant: str) -> ResponseReturnValue:
    """An event's JSON Schema, as a file."""
    return _schema_download(_event_or_404(constant))


@bp.get("/scopes")
@requires(Role.VIEWER)
def scopes() -> str:
    """The scope hierarchy, the ids each scope adds, and the events that use it.

    `?open=<scope>` (an event page's link to its scope) opens that scope's list of events, however long.
    """
    opened = request.args.get("open", "").lower()
    return render_template("catalog/scopes.html", tree=[_scope_tree(CATALOG.scopes[0])], opened=opened)


@bp.get("/identifiers")
@requires(Role.VIEWER)
def identifiers() -> str:
    """Every identify call, the traits it sends, and when the application last made it (as the
    event list says of events: one index range per call, `identify_activity`)."""
    infos = list(CATALOG.identifiers.values())
    since = _now() - timedelta(days=RECENT_DAYS)
    (activity, newer), audit_error = read_or_default(
        lambda: (
            {info.constant: identify_activity(db.session, info.constant, since) for info in infos},
            _newer_versions(),
        ),
        ({}, LaterVersions()),
    )
    return render_template(
        "catalog/identifiers.html",
        rows=[SpecRow(info, activity.get(info.constant, NEVER_SENT), newer) for info in infos],
        audit_error=audit_error,
        recent_days=RECENT_DAYS,
    )


@bp.get("/identifiers/<name>")
@requires(Role.VIEWER)
def identifier(name: str) -> ResponseReturnValue:
    """One identify call: its traits, an example and its JSON Schema."""
    info = _identifier_or_404(name)
    if name != info.constant:
        return redirect(url_for("catalog.identifier", name=info.constant), 308)
    since = _now() - timedelta(days=RECENT_DAYS)
    (activity, newer), audit_error = read_or_default(
        lambda: (identify_activity(db.session, info.constant, since), _newer_versions()),
        (NEVER_SENT, LaterVersions()),
    )
    return render_template(
        "catalog/identifier.html",
        **_spec_page(info),
        activity=activity,
        verdict=SpecRow(info, activity, newer),
        audit_error=audit_error,
        recent_days=RECENT_DAYS,
        audit_search=IDENTIFY_PREFIX + info.name,
    )


@bp.get("/identifiers/<name>/schema.json")
@requires(Role.VIEWER)
def identifier_schema(name: str) -> ResponseReturnValue:
    """An identify call's JSON Schema, as a file."""
    return _schema_download(_identifier_or_404(name))


@bp.get("/changes")
@requires(Role.VIEWER)
def changes() -> ResponseReturnValue:
    """What changed between two recorded catalog versions (or the running one); 400 for a version
    none recorded, which its picker says."""
    links = {
        "event_links": {name: info.constant for name, info in CATALOG.events.items()},
        "identifier_links": {name: info.constant for name, info in CATALOG.identifiers.items()},
    }
    view = changes_view(request.args)
    return render_template("catalog/changes.html", **view, **links), 400 if view["errors"] else 200


@bp.get("/downloads")
@requires(Role.VIEWER)
def downloads() -> str:
    """The whole catalog as files for spreadsheets, Segment Protocols and other tools."""
    return render_template("catalog/downloads.html", formats=FORMATS.values(), descriptions=DOWNLOADS)


@bp.get("/downloads/<name>")
@requires(Role.VIEWER)
def download(name: str) -> ResponseReturnValue:
    """One export, as a file named for the format."""
    fmt = FORMATS.get(name) or abort(404, description=f"There is no export format “{echoed(name)}”.")
    body = built(CATALOG, f"download {fmt.name}", lambda: fmt.render(CATALOG).encode(fmt.encoding))
    response = current_app.response_class(body, mimetype=fmt.media_type)
    if fmt.media_type.startswith("text/"):
        response.headers["Content-Type"] = f"{fmt.media_type}; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{fmt.filename}"'
    return response
