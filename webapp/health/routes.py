"""Operational endpoints: `/healthz` (can the database and Segment client do their jobs), `/metrics`,
and the admins' `/health` page (is delivery working, per destination)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import SCHEMA_REVISION, schema_revision
from analytics.audit_failures import reason
from analytics.catalog import CATALOG
from analytics.durations import format_duration, parse_duration
from analytics.health import DestinationHealth, destination_health
from webapp.audit.routes import audit_iso
from webapp.auth.bearer import unauthorized
from webapp.auth.policy import public, requires
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db
from webapp.htmx import vary_on_htmx, wants_fragment
from webapp.metrics import exposition
from webapp.schema_guard import READ_ONLY, UNREACHABLE, diagnose, log_change, schema_problem, writes_refused
from webapp.tester.sending import destinations
from webapp.text_input import NUL, query_checked_by_its_form

bp = Blueprint("health", __name__)

DEFAULT_WINDOW = "24h"
WINDOW_CHOICES = ("1h", "24h", "7d", "30d")


# `1 h`, `15 min` in any template, rather than a timedelta's `1:00:00`.
bp.add_app_template_filter(format_duration, "duration")


def database_state() -> dict[str, Any]:
    """Reachability and schema revision of the audit database.

    `/healthz` is public: a database that cannot be used is said in the pages' words (`diagnose`),
    and the driver's reason, which can name the server's address and the database user, goes to the
    log (once per change, as the pages' guard logs it).
    """
    try:
        db.session.execute(text("SELECT 1"))
        revision = schema_revision(db.engine)
    except SQLAlchemyError as exc:
        problem, cause = diagnose(db.engine)
        log_change(current_app, problem or UNREACHABLE, cause or reason(exc))
        return {"ok": False, "error": problem or UNREACHABLE}
    problem = schema_problem(revision)
    if problem is None and writes_refused(current_app, db.engine):
        problem = READ_ONLY
    state: dict[str, Any] = {
        "ok": problem is None,
        "dialect": db.engine.dialect.name,
        "revision": revision,
        "expected_revision": SCHEMA_REVISION,
    }
    if problem is not None:
        state["error"] = problem
    return state


@bp.get("/metrics")
@public
def metrics() -> ResponseReturnValue:
    """Prometheus exposition of delivery and request metrics; with `METRICS_TOKEN`, only for its bearer."""
    token = current_app.config["METRICS_TOKEN"]
    presented = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(presented, f"Bearer {token}"):
        # RFC 6750, as the API's 401s: the scheme to use, and `invalid_token` for one refused.
        raise unauthorized(
            "/metrics needs the bearer token set in METRICS_TOKEN.",
            error="invalid_token" if presented else None,
        )
    return exposition()


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """200 when the database is reachable and migrated, 503 otherwise."""
    database = database_state()
    body = {
        "status": "ok" if database["ok"] else "error",
        "database": database,
        "segment": analytics_client.state(),
        "catalog_version": CATALOG.version,
    }
    response = jsonify(body)
    response.status_code = 200 if database["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def audit_search(health: DestinationHealth, since: datetime | None = None, **filters: str) -> str:
    """The audit search for a destination's messages (since `since`), by literal path: `/audit/`.

    The application's client records no destination: its messages are `source=application`. A
    tester destination's card is the destination as recorded, key included, as the card counts it.
    """
    query = {"source": "application"} if health.destination is None else {"destination": health.destination}
    if since is not None:
        query["since"] = audit_iso(since)
    return "/audit/?" + urlencode({**query, **filters})


def _window() -> tuple[str, str | None]:
    """The window typed (the default when none is), and why it cannot be used when it is given more
    than once: `?window=1h&window=7d` showed the first in silence, where the audit page refuses a
    repeated filter; or when it holds a NUL, said next to the field (`query_checked_by_its_form`)."""
    windows = [value.strip() for value in request.args.getlist("window") if value.strip()]
    if any(NUL in value for value in windows):
        # Said as the audit page says it of its filters (`analytics.queries.parse_filters`).
        return windows[0], "cannot contain a NUL character"
    if len(windows) > 1:
        return windows[0], f"given {len(windows)} times ({', '.join(windows)}): give one value"
    return (windows[0] if windows else DEFAULT_WINDOW), None


@bp.get("/health")
@query_checked_by_its_form
@requires(Role.ADMIN)
def delivery() -> ResponseReturnValue:
    """Delivery health per destination: success rate over a window, backlog, latest endpoint errors."""
    window, error = _window()
    span = parse_duration(DEFAULT_WINDOW)
    if error is None:
        try:
            span = parse_duration(window)
        except ValueError as exc:
            error = str(exc)
    now = datetime.now(UTC)
    since = now - span
    stuck_after = current_app.config["AUDIT_STUCK_AFTER"]
    context = {
        "destinations": destination_health(db.session, since=since, now=now, stuck_after=stuck_after),
        "window": window,
        "window_error": error,
        "window_choices": WINDOW_CHOICES,
        "since": since,
        "stuck_after": stuck_after,
        "audit_search": audit_search,
        # Cards are per recorded key: say which of them is not how the tester sends today.
        "configured_labels": {destination.name: destination.label for destination in destinations()},
    }
    fragment = wants_fragment()
    template = "health/_destinations.html" if fragment else "health/index.html"
    html = render_template(template, fragment=fragment, **context)
    # htmx swaps only 2xx answers; its fragment carries the field's error out of band.
    status = 200 if error is None or fragment else 400
    return vary_on_htmx(current_app.make_response((html, status)))
