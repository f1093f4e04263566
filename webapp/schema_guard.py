"""Refuse to serve pages from a database that is missing, unreachable or not migrated.

Every page reads the database (sign-in reads the accounts table first), so without this a fresh or
half-upgraded database turns each request into a 500. Instead it answers 503 with the one command
that fixes it. Once the schema is seen current, the check is skipped for the life of the process.
`/healthz` and static files stay reachable, so orchestrators and the error page itself still work.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import SCHEMA_REVISION, schema_revision

EXEMPT_ENDPOINTS = frozenset({"static", "health.healthz", "health.metrics"})
_STATE = "schema_guard.current"


def init_app(app: Flask) -> None:
    """Install the check; it must run before anything that queries the database."""
    app.extensions[_STATE] = False

    @app.before_request
    def require_current_schema() -> None:
        """503 with the fix while the schema is not at this code's revision."""
        if current_app.extensions[_STATE] or request.endpoint in EXEMPT_ENDPOINTS:
            return
        from webapp.extensions import db

        try:
            revision = schema_revision(db.engine)
        except SQLAlchemyError:
            abort(
                503,
                description="The database cannot be reached. Check DATABASE_URL and that the server is up.",
            )
        if revision != SCHEMA_REVISION:
            abort(
                503,
                description=(
                    f"The database is at schema revision {revision or 'none'}, this version needs "
                    f"{SCHEMA_REVISION}: run `event-catalog db upgrade`."
                ),
            )
        current_app.extensions[_STATE] = True
