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
from analytics.durations import parse_duration
from analytics.personal_data import PersonalDataCipher
from analytics.replay import DEFAULT_STUCK_AFTER

DEFAULT_COLLECTOR_PORT = 5100
DEV_SECRET_KEY = "dev-only-not-secret"


def defaults(instance_path: str) -> dict[str, Any]:
    """What `make run` needs with nothing set: SQLite under the instance folder, the local collector."""
    return {
        "SECRET_KEY": DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(instance_path) / 'event-catalog.db'}",
        "SEGMENT_WRITE_KEY": None,
        "SEGMENT_HOST": f"http://127.0.0.1:{DEFAULT_COLLECTOR_PORT}",
        "AUDIT_MASK_PERSONAL_DATA": True,
        "AUDIT_MASK_KEY": "event-catalog",
        "AUDIT_CHAIN_KEY": "event-catalog",
        "AUDIT_ENCRYPTION_KEY": None,
        "AUDIT_STUCK_AFTER": DEFAULT_STUCK_AFTER,
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
    if environ.get("AUDIT_CHAIN_KEY"):
        settings["AUDIT_CHAIN_KEY"] = environ["AUDIT_CHAIN_KEY"]
    if environ.get("AUDIT_ENCRYPTION_KEY"):
        PersonalDataCipher(environ["AUDIT_ENCRYPTION_KEY"])
        settings["AUDIT_ENCRYPTION_KEY"] = environ["AUDIT_ENCRYPTION_KEY"]
    if environ.get("AUDIT_STUCK_AFTER"):
        try:
            settings["AUDIT_STUCK_AFTER"] = parse_duration(environ["AUDIT_STUCK_AFTER"])
        except ValueError as exc:
            raise ValueError(f"AUDIT_STUCK_AFTER: {exc}") from None
    return settings


def current_environment() -> dict[str, Any]:
    """`from_environment` over this process's environment."""
    return from_environment(os.environ)
