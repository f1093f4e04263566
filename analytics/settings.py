"""Reading settings from the environment: shared by `analytics.init()` and the dashboard.

One piece of code checks each variable both of them read, so that an application host and the
dashboard refuse the same value with the same line (`NAME: what is wrong`), every line at once
rather than the first, and before anything is sent: a `SEGMENT_HOST` without a scheme used to be
taken by `init()` and then failed every message (`InvalidSchema`) long after the start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from analytics.personal_data import PersonalDataCipher


class ConfigurationError(ValueError):
    """Some environment variables have values that cannot be used.

    A `ValueError`, so that callers which caught `init()`'s earlier one-setting errors still do.

    Attributes:
        problems: one line per bad variable, each starting with its name.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class EnvironmentReader:
    """Reads variables one by one, collecting every problem instead of stopping at the first.

    Attributes:
        settings: the parsed value of each variable that was set, under its setting's name.
        problems: one line per variable whose value cannot be used.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.settings: dict[str, Any] = {}
        self.problems: list[str] = []

    def take(self, name: str, setting: str, parse: Callable[[str], Any] = str) -> None:
        """Parse `name` into `settings[setting]`; unset or empty leaves the setting out.

        Args:
            name: the environment variable.
            setting: where its value goes in `settings`.
            parse: turns the text into the value; its `ValueError` becomes a problem line.
        """
        raw = self.environ.get(name)
        if not raw:
            return
        try:
            self.settings[setting] = parse(raw)
        except ValueError as exc:
            problem = str(exc)
            self.problems.append(problem if problem.startswith(f"{name}: ") else f"{name}: {problem}")

    def check(self) -> dict[str, Any]:
        """The settings read, once every variable has been taken.

        Raises:
            ConfigurationError: every variable whose value cannot be used, one line each.
        """
        if self.problems:
            raise ConfigurationError(self.problems)
        return self.settings


def http_url(raw: str) -> str:
    """A tracking API's address (`SEGMENT_HOST`), without a trailing slash.

    Raises:
        ValueError: it is not an http(s) URL; the Segment client would only find out at the first
            message, with `InvalidSchema: No connection adapters were found`.
    """
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{raw!r} is not an http(s) URL, e.g. https://api.segment.io")
    return raw.rstrip("/")


def encryption_key(raw: str) -> str:
    """`AUDIT_ENCRYPTION_KEY`, checked now, so a typo stops the start rather than the first replay.

    Raises:
        ValueError: it does not hold Fernet keys.
    """
    PersonalDataCipher(raw)
    return raw
