"""Configuration: safe defaults for `make run`, overridden by the environment (12-factor).

Every variable is listed in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.exc import ArgumentError

from analytics import parse_flag
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
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "info",
        "TESTER_DESTINATIONS": (),
        "TESTER_TIMEOUT": DEFAULT_TESTER_TIMEOUT,
    }


class ConfigurationError(ValueError):
    """Some environment variables have values that cannot be used.

    Attributes:
        problems: one line per bad variable, each starting with its name.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _http_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{raw!r} is not an http(s) URL, e.g. https://api.segment.io")
    return raw.rstrip("/")


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{raw!r} is not a port number (1-65535)")
    return int(raw)


def _database_url(raw: str) -> str:
    try:
        return normalise_database_url(raw)
    except ArgumentError as exc:
        raise ValueError(
            f"cannot parse {raw!r}: expected e.g. postgresql://user@host/db or sqlite:///path"
        ) from exc


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in allowed:
            raise ValueError(f"{raw!r} is not one of {', '.join(allowed)}")
        return raw.lower()

    return parse


class _Reader:
    """Reads variables one by one, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.settings: dict[str, Any] = {}
        self.problems: list[str] = []

    def take(self, name: str, setting: str, parse: Callable[[str], Any] = str) -> None:
        raw = self.environ.get(name)
        if not raw:
            return
        try:
            self.settings[setting] = parse(raw)
        except ValueError as exc:
            problem = str(exc)
            self.problems.append(problem if problem.startswith(name) else f"{name}: {problem}")


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment overrides; unset or empty variables keep their default.

    Raises:
        ConfigurationError: every variable whose value cannot be used, one line each.
    """
    read = _Reader(environ)
    read.take("SECRET_KEY", "SECRET_KEY")
    read.take("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", _database_url)
    read.take("SEGMENT_CLIENT_KEY", "SEGMENT_WRITE_KEY")
    read.take("SEGMENT_WRITE_KEY", "SEGMENT_WRITE_KEY")
    read.take("COLLECTOR_PORT", "SEGMENT_HOST", lambda raw: f"http://127.0.0.1:{_port(raw)}")
    read.take("SEGMENT_HOST", "SEGMENT_HOST", _http_url)
    read.take("PORT", "PORT", _port)
    read.take("AUDIT_MASK_PERSONAL_DATA", "AUDIT_MASK_PERSONAL_DATA", parse_flag)
    read.take("AUDIT_MASK_KEY", "AUDIT_MASK_KEY")
    read.take("LOG_FORMAT", "LOG_FORMAT", _choice("text", "json"))
    read.take("LOG_LEVEL", "LOG_LEVEL", _choice("debug", "info", "warning", "error"))
    read.take("TESTER_DESTINATIONS", "TESTER_DESTINATIONS", lambda raw: parse_destinations(raw, environ))
    read.take("TESTER_TIMEOUT", "TESTER_TIMEOUT", lambda raw: _positive_seconds("TESTER_TIMEOUT", raw))
    if read.problems:
        raise ConfigurationError(read.problems)
    return read.settings


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
