"""Errors answer in the caller's language: JSON for the API, a partial for htmx, a page otherwise."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES

from analytics.errors import SchemaError
from webapp.extensions import db
from webapp.htmx import wants_fragment
from webapp.schema_guard import (
    READ_ONLY,
    access_denied,
    database_advice,
    forget_check,
    note_write_refused,
    recheck_on,
)

bp = Blueprint("errors", __name__)

View = TypeVar("View", bound=Callable[..., Any])


def wants_json() -> bool:
    """API paths, and clients that prefer JSON to HTML, get JSON errors."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    return _prefers_json()


def plain_text_errors(view: View) -> View:
    """Mark a download's view: every error it answers is text, one line per field, as its own
    refusals are (`text_error`). A script or a browser's download reads no HTML page."""
    view.plain_text_errors = True  # type: ignore[attr-defined]
    return view


def _wants_text() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "plain_text_errors", False)) and not scripted_download()


def scripted_download() -> bool:
    """Whether a script asks for an audit export (`TOKEN_DOWNLOADS`): with an API token, or asking
    for JSON. Its errors are the API's JSON, as its 401 is: a script that reads `error.fields` from
    the API read text from the export it is pointed to for more."""
    from webapp.auth import bearer  # the auth package answers its errors through this module

    return bearer.takes_token() and (bearer.presented_token() is not None or _prefers_json())


def _prefers_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def download_error(status: int, fields: Mapping[str, str]) -> ResponseReturnValue:
    """A download's refusal of its parameters: the API's JSON error for a script (`scripted_download`),
    else a line of text per field (`text_error`)."""
    if scripted_download():
        return json_error(status, "The download cannot run: fix the parameters below.", dict(fields))
    return text_error(status, fields)


def text_error(status: int, fields: Mapping[str, str]) -> Response:
    """A download's refusal: `name: problem`, one line per field."""
    return _text(status, [f"{name}: {problem}" for name, problem in fields.items()])


def _text(status: int, lines: list[str]) -> Response:
    return Response("".join(f"{line}\n" for line in lines), status=status, mimetype="text/plain")


def error_response(error: HTTPException) -> ResponseReturnValue:
    """Render an HTTP error for whoever asked, with the headers the error carries (a 405's `Allow`,
    a 401's `WWW-Authenticate`); the body's type is ours. An error that names a field (`field`, with
    its `problem`) is said of that field in a download's text."""
    status = error.code or 500
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    field, problem = getattr(error, "field", None), getattr(error, "problem", None)
    if _wants_text():
        line = f"{field}: {problem}" if field and problem else str(error.description)
        return _text(status, [line]), status, headers
    if wants_json() or scripted_download():
        body: dict[str, Any] = {"status": status, "name": error.name, "message": error.description}
        if field and problem:
            body["fields"] = {field: problem}  # as `json_error` names a refused field
        return jsonify({"error": body}), status, headers
    template = "errors/_error.html" if wants_fragment() else "errors/error.html"
    return render_template(template, error=error, status=status), status, headers


def json_error(status: int, message: str, fields: dict[str, str] | None = None) -> ResponseReturnValue:
    """An API error in the shape `error_response` gives, with the errors by field when there are
    some: what a view answers for bad input it can name, field by field."""
    body: dict[str, Any] = {"status": status, "name": HTTP_STATUS_CODES[status], "message": message}
    if fields:
        body["fields"] = fields
    return jsonify({"error": body}), status


@bp.app_errorhandler(HTTPException)
def handle_http_error(error: HTTPException) -> ResponseReturnValue:
    """Every 4xx/5xx raised by a view or by routing."""
    return error_response(error)


# Flask-WTF's reason when the session holds no CSRF token, as when the session cookie never came back.
MISSING_SESSION_TOKEN = "The CSRF session token is missing."
# Flask-WTF's reasons when the session's token is not the form's: signing in replaces it (a page is
# drawn with a new one only after that).
SESSION_TOKEN_REPLACED = (MISSING_SESSION_TOKEN, "The CSRF tokens do not match.")


def _secure_cookie_dropped() -> bool:
    """Whether the browser drops the session cookie: it is `Secure` and the page came over plain HTTP.

    A request through a TLS proxy (`X-Forwarded-Proto: https`, trusted or not: it only picks the
    wording) came over HTTPS, and browsers keep `Secure` cookies for localhost as over HTTPS.
    """
    if not current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure:
        return False
    if request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return False
    host = urlsplit(request.host_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


@bp.app_errorhandler(CSRFError)
def handle_csrf_error(error: CSRFError) -> ResponseReturnValue:
    """A form or htmx request without a valid token: say how to recover, or why no reload can.

    A person signed out meanwhile is sent to sign in again; one signed in again meanwhile (in
    another tab: the session's token changed) is told the page is older than that sign-in.
    """
    from webapp.auth.identity import signed_out_answer

    if error.description == MISSING_SESSION_TOKEN and _secure_cookie_dropped():
        error.description = (
            "The dashboard is served over plain HTTP, but its session cookie is Secure (the production "
            "default), so the browser never sends it back and no form can be accepted. Serve it over "
            "HTTPS (directly or behind a TLS proxy), or set SESSION_COOKIE_SECURE=false."
        )
    elif (signed_out := signed_out_answer()) is not None:
        return signed_out
    elif error.description in SESSION_TOKEN_REPLACED and g.get("user") is not None:
        error.description = (
            "This page was loaded before your latest sign-in (in this or another tab or window), so its "
            "forms are not accepted any more. Reload the page and try again."
        )
    else:
        error.description = "The form expired or was sent from another site. Reload the page and try again."
    return error_response(error)


@bp.app_errorhandler(RequestEntityTooLarge)
def handle_too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A body over `MAX_CONTENT_LENGTH`: say the limit, in megabytes."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    error.description = f"The request is larger than the {limit / 1024 / 1024:g} MB a request may carry."
    return error_response(error)


@bp.app_errorhandler(SchemaError)
def handle_schema_error(error: SchemaError) -> ResponseReturnValue:
    """The library refused the database mid-request: another release migrated it while this
    process ran (the guard trusts its last look for a while). 503 with what to do, not a 500, and
    the guard looks again on the next request."""
    db.session.rollback()
    forget_check(current_app)
    return error_response(ServiceUnavailable(description=database_advice(db.engine) or str(error)))


@bp.app_errorhandler(SQLAlchemyError)
def handle_database_error(error: SQLAlchemyError) -> ResponseReturnValue:
    """A write the database refuses to this user whatever is written (a role granted only SELECT,
    a standby), a read refused for want of a privilege (a table the grants missed), or a column or
    table missing because another release migrated the database (`recheck_on`): the 503 page saying
    which, and what to do, where it was a 500 and a traceback. Any other database error goes on to
    the 500 handler as before."""
    if note_write_refused(current_app, error):
        description = READ_ONLY
    elif (denied := access_denied(current_app, error)) is not None:
        description = denied
    elif (moved := recheck_on(current_app, db.engine, error)) is not None:
        description = moved
    else:
        raise error
    db.session.rollback()
    return error_response(ServiceUnavailable(description=description))


@bp.app_errorhandler(500)
def handle_server_error(error: Exception) -> ResponseReturnValue:
    """Roll the session back so the next request starts clean, then answer 500."""
    db.session.rollback()
    original = error if isinstance(error, HTTPException) else InternalServerError()
    return error_response(original)
