"""WSGI entry point for gunicorn: `gunicorn webapp.wsgi:app`.

Bad settings stop the process with one line per variable instead of a traceback per worker, and so
does a database that refuses this user's writes (`init()`'s line, as an application host gets it).
"""

import os
import sys

from flask import Flask

from webapp.metrics import multiprocess_problems, refuse


def _load() -> Flask:
    """The app, or exit 4 (gunicorn's "App failed to load", which stops the master too)."""
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
