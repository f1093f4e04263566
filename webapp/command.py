"""The `event-catalog` console script: its metrics folder checked before the library is imported.

prometheus_client writes a file for each of the library's metrics as it is defined, on import. With
`PROMETHEUS_MULTIPROC_DIR` naming a folder that is not there (the Docker image sets it for gunicorn's
workers), every command ended in a FileNotFoundError traceback before it could say anything.
"""

from __future__ import annotations

import os
import sys

from webapp.metrics import multiprocess_problems


def main() -> None:
    """Refuse an unusable metrics folder in one line (exit 2), else run the command line."""
    problems = multiprocess_problems(os.environ)
    if problems:
        print(*(f"error: {problem}" for problem in problems), sep="\n", file=sys.stderr)
        sys.exit(2)
    from webapp.cli import main as command_line

    command_line()
