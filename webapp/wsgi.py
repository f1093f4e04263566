"""WSGI entry point for gunicorn: `gunicorn webapp.wsgi:app`.

Bad settings stop the process with one line per variable instead of a traceback per worker.
"""

import os

from flask import Flask

from webapp.metrics import multiprocess_problems, refuse


def _load() -> Flask:
    """The app, or exit 4 (gunicorn's "App failed to load", which stops the master too)."""
    # Before anything imports the library, whose metrics are written into that folder on import.
    problems = multiprocess_problems(os.environ)
    if not problems:
        from webapp import create_app
        from webapp.config import ConfigurationError

        try:
            return create_app()
        except ConfigurationError as exc:
            problems = exc.problems
    refuse(problems)


app = _load()
