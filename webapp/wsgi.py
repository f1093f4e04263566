"""WSGI entry point for gunicorn: `gunicorn webapp.wsgi:app`.

Bad settings stop the process with one line per variable instead of a traceback per worker, and so
do a database that refuses this user's writes (`init()`'s line, as an application host gets it) and
a package without htmx (`missing_htmx`).
"""

import os
import sys
from pathlib import Path

from flask import Flask

from webapp.metrics import multiprocess_problems, refuse

HTMX = Path(__file__).resolve().parent / "static" / "vendor" / "htmx.min.js"
"""Fetched by `make install` (`npm ci`), not kept in git: a package built from a checkout without it
lacks it, and every page's htmx then answered 404 with nothing in the log but the 404s."""


def missing_htmx(htmx: Path = HTMX) -> str | None:
    """The line refusing a dashboard whose package lacks htmx; None when it is there."""
    if htmx.is_file():
        return None
    return (
        f"error: {htmx} is missing, so no page's forms and searches would work: run `make install` "
        "(it runs `npm ci`) in the checkout, then build or install the package from it"
    )


def _load() -> Flask:
    """The app, or exit 4 (gunicorn's "App failed to load", which stops the master too)."""
    missing = missing_htmx()
    if missing is not None:
        print(missing, file=sys.stderr)
        sys.exit(4)
    # Before anything imports the library, whose metrics are written into that folder on import.
    problems = multiprocess_problems(os.environ)
    if not problems:
        from analytics.errors import AuditDatabaseError
        from webapp import create_app
        from webapp.config import ConfigurationError
        from webapp.schema_guard import refuse_read_only_at_start

        try:
            app = create_app()
            refuse_read_only_at_start(app)
            return app
        except ConfigurationError as exc:
            problems = exc.problems
        except AuditDatabaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(4)
    refuse(problems)


app = _load()
