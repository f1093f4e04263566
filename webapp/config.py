"""Configuration: safe defaults for `make run`, overridden by the environment (12-factor).

Every variable is listed in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from analytics import env_flag
from analytics.audit import normalise_database_url
from webapp.tester.destinations import parse_destinations

DEFAULT_COLLECTOR_PORT = 5100
DEV_SECRET_KEY = "dev-only-not-secret"
# The tester waits for the endpoint's answer while the engineer watches: seconds, not Segment's 15.
DEFAULT_TESTER_TIMEOUT = 10.0


def defaults(instance_path: str) -> dict[str, Any]:
    """What `make run` needs with nothing set: SQLite under the instance folder, the local collector."""
    return {
        "SECRET_KEY": DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(instance_path) / 'event-catalog.db'}",
        "SEGMENT_WRITE_KEY": None,
        "SEGMENT_HOST": f"http://127.0.0.1:{DEFAULT_COLLECTOR_PORT}",
        "AUDIT_MASK_PERSONAL_DATA": True,
        "AUDIT_MASK_KEY": "event-catalog",
        "TESTER_DESTINATIONS": (),
        "TESTER_TIMEOUT": DEFAULT_TESTER_TIMEOUT,
    }


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment overrides; unset or empty variables keep their default.

    Raises:
        ValueError: a variable has a value that cannot be used, with its name.
    """
    settings: dict[str, Any] = {}
    if environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = environ["SECRET_KEY"]
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(environ["DATABASE_URL"])
    key = environ.get("SEGMENT_WRITE_KEY") or environ.get("SEGMENT_CLIENT_KEY")
    if key:
        settings["SEGMENT_WRITE_KEY"] = key
    if environ.get("SEGMENT_HOST"):
        settings["SEGMENT_HOST"] = environ["SEGMENT_HOST"]
    elif environ.get("COLLECTOR_PORT"):
        settings["SEGMENT_HOST"] = f"http://127.0.0.1:{int(environ['COLLECTOR_PORT'])}"
    if "AUDIT_MASK_PERSONAL_DATA" in environ:
        settings["AUDIT_MASK_PERSONAL_DATA"] = env_flag("AUDIT_MASK_PERSONAL_DATA", True, environ)
    if environ.get("AUDIT_MASK_KEY"):
        settings["AUDIT_MASK_KEY"] = environ["AUDIT_MASK_KEY"]
    if environ.get("TESTER_DESTINATIONS"):
        settings["TESTER_DESTINATIONS"] = parse_destinations(environ["TESTER_DESTINATIONS"], environ)
    if environ.get("TESTER_TIMEOUT"):
        settings["TESTER_TIMEOUT"] = _positive_seconds("TESTER_TIMEOUT", environ["TESTER_TIMEOUT"])
    return settings


def _positive_seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 300:
        raise ValueError(f"{name} must be a number of seconds between 0 and 300, not {raw!r}")
    return seconds


def current_environment() -> dict[str, Any]:
    """`from_environment` over this process's environment."""
    return from_environment(os.environ)
