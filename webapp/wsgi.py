"""WSGI entry point for gunicorn: `gunicorn webapp.wsgi:app`.

Bad settings stop the process with one line per variable instead of a traceback per worker.
"""

import sys

from webapp import create_app
from webapp.config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as exc:
    print(
        "error: invalid configuration:",
        *(f"  {problem}" for problem in exc.problems),
        sep="\n",
        file=sys.stderr,
    )
    sys.exit(4)
