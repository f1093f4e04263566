"""Refuse to serve pages from a database that is missing, unreachable or not at this code's schema.

Every page reads the database (sign-in reads the accounts table first), so without this a fresh or
half-upgraded database turns each request into a 500. Instead it answers 503 with what to do: run
`event-catalog db upgrade` for an older schema; deploy the newer release for a schema that a newer
release migrated (a rolling upgrade or a rolled-back image), which `db upgrade` cannot undo.

A process trusts a current schema for `RECHECK_SECONDS`, then looks again: the database is shared,
and another release may migrate it while this one runs. `/healthz` and static files stay reachable,
so orchestrators and the error page itself still work.

The log says when a process starts refusing (a warning, with the driver's reason for a database it
cannot reach) and when it serves again: once each way, not once per refused request.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, abort, current_app, request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import (
    SCHEMA_REVISION,
    is_newer_revision,
    schema_revision,
    sqlite_problem,
)
from analytics.audit_failures import denies_access, reason, refuses_writes
from analytics.catalog import CATALOG
from analytics.versions import record_version, refuse_read_only
from analytics.wording import sentence

log = logging.getLogger(__name__)

EXEMPT_ENDPOINTS = frozenset({"static", "health.healthz", "health.metrics"})
UNREACHABLE = "The database cannot be reached. Check DATABASE_URL and that the server is up."
READ_ONLY = (
    "The database refuses writes for this user: grant the user in DATABASE_URL INSERT, UPDATE and "
    "DELETE on the dashboard's tables, or give it a user that may write."
)
ACCESS_DENIED = (
    "The database refuses this user what the page needs ({reason}): grant the user in DATABASE_URL the "
    "privileges the dashboard needs (SELECT, INSERT, UPDATE and DELETE on its tables)."
)
"""A read refused for want of a privilege (`denies_access`), with the driver's reason, which names
the table: a role the grants missed on one table, not one that may not write."""
RECHECK_SECONDS = 30.0
"""How long a process serves on its last look at a current schema before it reads the revision again."""

_CHECKED_AT = "schema_guard.checked_at"
_REFUSING = "schema_guard.refusing"
_REFUSING_LOCK = threading.Lock()
_READ_ONLY = "schema_guard.read_only"
_DENIED_LOGGED = "schema_guard.denied_logged"


def schema_problem(revision: str | None) -> str | None:
    """What stops this code from serving from a database at `revision`, and what to do; None if nothing."""
    if revision == SCHEMA_REVISION:
        return None
    if revision is None:
        return "The database has no schema yet: run `event-catalog db upgrade`."
    if is_newer_revision(revision):
        return (
            f"The database is at schema revision {revision}, newer than this version of event-catalog "
            f"({SCHEMA_REVISION}): deploy the release that migrated it. `event-catalog db upgrade` "
            "cannot take a database back."
        )
    return (
        f"The database is at schema revision {revision}, this version needs {SCHEMA_REVISION}: "
        "run `event-catalog db upgrade`."
    )


def database_advice(engine: Engine) -> str | None:
    """What to do about a database that refused a statement, when it is one of the usual causes:
    a SQLite file that does not exist, is a directory or is not a database, a server that cannot
    be reached, or a schema that is not this code's. None otherwise."""
    return diagnose(engine)[0]


def diagnose(engine: Engine) -> tuple[str | None, str | None]:
    """`database_advice`, and for a server that cannot be reached the driver's reason (`connection
    refused`, a failed password), which the page leaves out but the operator's log needs."""
    problem = sqlite_problem(engine)
    if problem is not None:
        return f"{sentence(problem)}.", None
    try:
        revision = schema_revision(engine)
    except SQLAlchemyError as exc:
        return UNREACHABLE, reason(exc)
    return schema_problem(revision), None


def log_change(app: Flask, problem: str | None, cause: str | None) -> None:
    """Log the guard's verdict when it differs from this process's last one: a warning when pages
    start answering 503, an info line when they are served again. Every refused request (and every
    health probe) looks again, so logging each look would bury the log in one line per request."""
    with _REFUSING_LOCK:
        before = app.extensions.get(_REFUSING)
        app.extensions[_REFUSING] = problem
    if problem == before:
        return
    if problem is None:
        log.info("the database can be used again: pages are served")
    else:
        log.warning("every page answers 503: %s%s", problem, f" ({cause})" if cause else "")


_UNDEFINED_COLUMN_OR_TABLE = frozenset({"42703", "42P01"})
"""PostgreSQL's SQLSTATEs for a column or table a statement names and the database does not have."""
_SQLITE_MISSING = ("no such column", "no such table")


def schema_moved_on(error: BaseException) -> bool:
    """Whether the database refused a statement for a column or table it does not have: what a
    migration this process has not seen yet leaves (a column folded, a table renamed), in the up to
    `RECHECK_SECONDS` it still trusts its last look."""
    cause = getattr(error, "orig", None) if isinstance(error, SQLAlchemyError) else None
    if getattr(cause, "sqlstate", None) in _UNDEFINED_COLUMN_OR_TABLE:
        return True
    return getattr(cause, "sqlite_errorcode", None) is not None and str(cause).startswith(_SQLITE_MISSING)


def recheck_on(app: Flask, engine: Engine, error: BaseException) -> str | None:
    """The guard's 503 text when `error` says the schema moved on and a look at once confirms it (the
    log says so, and later requests are refused until it is fixed); None otherwise. An old replica
    answered a bare 500 for such statements until its next look, a tester send it had made included."""
    if not schema_moved_on(error):
        return None
    forget_check(app)
    problem, cause = diagnose(engine)
    log_change(app, problem, cause)
    return problem


def forget_check(app: Flask) -> None:
    """Make the next request read the revision again (the database refused this code's writes)."""
    app.extensions[_CHECKED_AT] = None


def refuse_read_only_at_start(app: Flask) -> None:
    """The library's start check (`refuse_read_only`), for a server: a read-only database answered
    every sign-in with a 500 (neither the sign-in nor a failed one's audit entry can be written)
    while `/healthz` said "ok". A database that cannot be reached or is not migrated is left to
    the guard's 503 pages, which say what to do and recover by themselves.

    Raises:
        AuditDatabaseError: the database refuses writes.
    """
    from webapp.extensions import db

    with app.app_context():
        try:
            migrated = schema_revision(db.engine) == SCHEMA_REVISION
        except SQLAlchemyError:
            return
        if migrated:
            refuse_read_only(db.engine, CATALOG)


def note_write_refused(app: Flask, error: BaseException) -> bool:
    """Whether the database refused `error`'s write because this user may not write at all; if so,
    `/healthz` answers 503 until a write is accepted again, and the log says so once."""
    if not refuses_writes(error):
        return False
    with _REFUSING_LOCK:
        before = app.extensions.get(_READ_ONLY)
        app.extensions[_READ_ONLY] = True
    if not before:
        log.warning("writes are refused: %s (%s)", READ_ONLY, reason(error))
    return True


def access_denied(app: Flask, error: BaseException) -> str | None:
    """What to do about `error` when the database refused this user a read for want of a privilege
    (`ACCESS_DENIED`), or None. Such a read was told as a refused write, with the advice to grant
    what the user already had; and as `/healthz` found writes accepted at once, its "logged once"
    warning came again for every request. This one is logged once for each reason (each table)."""
    if not denies_access(error):
        return None
    why = reason(error)
    with _REFUSING_LOCK:
        logged: set[str] = app.extensions.setdefault(_DENIED_LOGGED, set())
        first = why not in logged
        logged.add(why)
    if first:
        log.warning("a read is refused: %s", ACCESS_DENIED.format(reason=why))
    return ACCESS_DENIED.format(reason=why)


def writes_refused(app: Flask, engine: Engine) -> bool:
    """Whether the database still refuses writes, once one was refused: the catalog version's write
    (a no-op once recorded) is tried again, so that `/healthz` recovers when the grant is fixed."""
    if not app.extensions.get(_READ_ONLY):
        return False
    try:
        record_version(engine, CATALOG)
    except SQLAlchemyError as exc:
        if refuses_writes(exc):
            return True
    with _REFUSING_LOCK:
        app.extensions[_READ_ONLY] = False
    log.info("the database accepts writes again")
    return False


def init_app(app: Flask) -> None:
    """Install the check; it must run before anything that queries the database."""
    forget_check(app)

    @app.before_request
    def require_current_schema() -> None:
        """503 with what to do while the schema is not at this code's revision."""
        checked_at = current_app.extensions[_CHECKED_AT]
        fresh = checked_at is not None and time.monotonic() - checked_at < RECHECK_SECONDS
        if fresh or request.endpoint in EXEMPT_ENDPOINTS:
            return
        from webapp.extensions import db

        problem, cause = diagnose(db.engine)
        log_change(current_app, problem, cause)
        if problem is not None:
            forget_check(current_app)
            abort(503, description=problem)
        current_app.extensions[_CHECKED_AT] = time.monotonic()
