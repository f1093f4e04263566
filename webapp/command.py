"""The `event-catalog` console script: what stops the library from loading, said in one line.

Two things fail as the library is imported, before any command can speak:

- prometheus_client writes a file for each of the library's metrics as it is defined: with
  `PROMETHEUS_MULTIPROC_DIR` naming a folder that is not there (the Docker image sets it for
  gunicorn's workers), every command ended in a FileNotFoundError traceback.
- the catalog is code, checked as its classes are defined: a duplicate event string, a spec
  without a description or example, an enum member a spec names but `events.py` lacks. `lint`
  is where a developer looks for those, and it printed the traceback instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from webapp.metrics import multiprocess_problems


def main() -> None:
    """Refuse an unusable metrics folder in one line (exit 2), else run the command line."""
    problems = multiprocess_problems(os.environ)
    if problems:
        print(*(f"error: {problem}" for problem in problems), sep="\n", file=sys.stderr)
        sys.exit(2)
    try:
        from webapp.cli import main as command_line
    except Exception as exc:  # any mistake in the catalog's code: said, not shown as a traceback
        print(f"error: event-catalog cannot start: {_where(exc)}{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    command_line()


_DECLARATIONS = ("events.py", "scopes.py", "tracks.py", "identifiers.py")
"""The catalog's own modules, where a team's mistakes are, rather than the checks that found them."""


_CLASS_HOOKS = frozenset({"__init_subclass__", "__pydantic_init_subclass__"})
"""What Python and pydantic run on a class statement: a scope's or spec's registration, whose checks
refuse the class statement itself."""


def _where(exc: BaseException) -> str:
    """`analytics/tracks.py:412: `, the line that failed: the deepest in the catalog's declarations,
    else in the `analytics` package; nothing when the failure lies elsewhere. A failure in a class
    hook is the class statement's (`scopes.py` holds both a scope's registration and the scopes)."""
    package = Path(__file__).resolve().parents[1] / "analytics"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).is_relative_to(package)
    ]
    hook = next((index for index, frame in enumerate(frames) if frame.name in _CLASS_HOOKS), None)
    frames = frames if hook is None else frames[:hook]
    declared = [frame for frame in frames if Path(frame.filename).name in _DECLARATIONS]
    if not (declared or frames):
        return ""
    frame = (declared or frames)[-1]
    return f"{Path(frame.filename).relative_to(package.parent)}:{frame.lineno}: "
