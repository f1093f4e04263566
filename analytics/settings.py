"""Reading settings from the environment: shared by `analytics.init()` and the dashboard.

One piece of code checks each variable both of them read, so that an application host and the
dashboard refuse the same value with the same line (`NAME: what is wrong`), every line at once
rather than the first, and before anything is sent: a `SEGMENT_HOST` without a scheme used to be
taken by `init()` and then failed every message (`InvalidSchema`) long after the start. The same
goes for the production checks of the keys that must be secret (`production_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunsplit

from analytics.personal_data import PersonalDataCipher

PUBLIC_AUDIT_KEY = "event-catalog"
"""The default of `AUDIT_CHAIN_KEY` and `AUDIT_MASK_KEY`. It is published with the code, so it keeps
nothing secret: it lets `make run` and tests work with nothing set, and production refuses it."""

AUDIT_KEYS = {
    "AUDIT_CHAIN_KEY": "it keys the audit log's hash chain, so that whoever can write to the database "
    "cannot recompute it; the same on every host",
    "AUDIT_MASK_KEY": "it keys the masks of personal data, so that they cannot be reversed by guessing",
}
"""The audit keys, each with why it must be a secret."""

RETIRED_CHAIN_KEYS = "AUDIT_CHAIN_KEYS_RETIRED"
"""Former `AUDIT_CHAIN_KEY`s, kept to verify the entries written with them: never to write."""

APP_ENVS = ("development", "production")

MIN_SECRET_LENGTH = 16
"""The shortest secret production accepts (`SECRET_KEY` and the audit keys): long enough that
guessing it is hopeless; `secrets.token_hex(32)` gives 64 characters."""


class ConfigurationError(ValueError):
    """Some environment variables (or `init()` options) have values that cannot be used.

    A `ValueError`, so that callers which caught `init()`'s earlier one-setting errors still do.

    Attributes:
        problems: one line per bad variable or option, each starting with its name.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class EnvironmentReader:
    """Reads variables one by one, collecting every problem instead of stopping at the first.

    Attributes:
        settings: the parsed value of each variable that was set, under its setting's name.
        problems: one line per variable whose value cannot be used.
        variables: every variable taken, set or not.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.settings: dict[str, Any] = {}
        self.problems: list[str] = []
        self.variables: list[str] = []

    def take(self, name: str, setting: str, parse: Callable[[str], Any] = str) -> None:
        """Parse `name` into `settings[setting]`; unset or empty leaves the setting out.

        Args:
            name: the environment variable.
            setting: where its value goes in `settings`.
            parse: turns the text into the value; its `ValueError` becomes a problem line.
        """
        self.variables.append(name)
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


def parse_flag(raw: str) -> bool:
    """Read a boolean setting: `1/true/yes/on` or `0/false/no/off`, in any case.

    Raises:
        ValueError: any other value.
    """
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


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


def shown_url(url: str) -> str:
    """A URL fit to show on a page or in a JSON answer: any user name and password replaced.

    A relay in front of Segment may take basic auth in `SEGMENT_HOST`; `/healthz` is public.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def encryption_key(raw: str) -> str:
    """`AUDIT_ENCRYPTION_KEY`, checked now, so a typo stops the start rather than the first replay.

    Raises:
        ValueError: it does not hold Fernet keys.
    """
    PersonalDataCipher(raw)
    return raw


def retired_chain_keys(raw: str) -> tuple[str, ...]:
    """`AUDIT_CHAIN_KEYS_RETIRED`: former chain keys separated by commas, as `AUDIT_ENCRYPTION_KEY`'s.

    Raises:
        ValueError: a key holds a space (two keys separated by one would be taken for a single key
            that verifies nothing), or a key is listed twice.
    """
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for position, key in enumerate(keys, 1):
        if any(character.isspace() for character in key):
            raise ValueError(f"key {position} holds a space: separate the keys with commas")
        if key in keys[: position - 1]:
            raise ValueError(f"key {position} repeats key {keys.index(key) + 1}")
    return keys


def app_env(raw: str) -> str:
    """`APP_ENV`, in lower case.

    Raises:
        ValueError: neither development nor production; a misspelt production must not pass for
            development and skip the production checks.
    """
    if raw.lower() not in APP_ENVS:
        raise ValueError(f"{raw!r} is not one of {', '.join(APP_ENVS)}")
    return raw.lower()


_PLACEHOLDER = re.compile(r"change-?me|replace-?me|placeholder|not-secret|your-secret", re.IGNORECASE)
MIN_DISTINCT_CHARACTERS = 8
"""A production secret has at least this many different characters: `aaaaaaaaaaaaaaaa` is 16 long."""


def guessable_secret(value: str) -> bool:
    """Whether a production secret is one a stranger could guess: the public audit key, too short, a
    placeholder from an example or a config file (`change-me-…`, as compose.yaml shipped, or the
    dashboard's development `SECRET_KEY`), or few characters repeated."""
    return (
        value == PUBLIC_AUDIT_KEY
        or len(value) < MIN_SECRET_LENGTH
        or len(set(value)) < MIN_DISTINCT_CHARACTERS
        or _PLACEHOLDER.search(value) is not None
    )


def own_secret(name: str, why: str, at_least: int | None = None, *, shared: str | None = None) -> str:
    """The line that refuses, under `APP_ENV=production`, a secret left at a published value or too short.

    Args:
        shared: who already holds the secret (`the dashboard`), for a process that must use that
            value: it is told to copy it, not to make a new one, which would key nothing it reads.
    """
    if shared is not None:
        return (
            f"{name}: APP_ENV=production needs {shared}'s {name}, not a placeholder ({why}): "
            f"set it to {shared}'s value, not a new one"
        )
    length = f", {at_least} characters or more" if at_least else ""
    return (
        f"{name}: APP_ENV=production needs a secret of your own{length}, not a placeholder ({why}): "
        f"set {name}=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    )


def production_secrets(
    settings: Mapping[str, Any], secrets: Mapping[str, str], *, shared: str | None = None
) -> list[str]:
    """The lines refusing, under `APP_ENV=production`, each of `secrets` (its name: why it must be a
    secret) that is unset, public or guessable, then each that repeats another's value; retired chain
    keys (`AUDIT_CHAIN_KEYS_RETIRED`) likewise, each of them.

    A key of a few characters is as easily guessed as the public one: masks made with it can be
    reversed, and the chain recomputed. The same holds for a retired chain key: what it verifies
    anyone could have hashed, so it is refused rather than trusted; it cannot be replaced, being the
    key old entries were written with, only left out. Two secrets of one value: one leaked would give
    away the other's job (a retired chain key that is still the current one, or the mask key, was not
    retired).

    Args:
        settings: the settings read.
        secrets: the secrets this process holds: the audit keys for an application host
            (`AUDIT_KEYS`), and `SECRET_KEY` too for the dashboard.
        shared: who already holds them, when this process must use their values (`own_secret`).
    """
    values = [(name, str(settings.get(name) or "")) for name in secrets]
    problems = [
        own_secret(name, secrets[name], MIN_SECRET_LENGTH, shared=shared)
        for name, value in values
        if guessable_secret(value)
    ]
    retired = [str(key) for key in settings.get(RETIRED_CHAIN_KEYS) or ()]
    weak = [str(at) for at, key in enumerate(retired, 1) if guessable_secret(key)]
    if weak:
        problems.append(
            f"{RETIRED_CHAIN_KEYS}: APP_ENV=production refuses a retired key it would refuse as "
            f"AUDIT_CHAIN_KEY (key {', '.join(weak)}: public, shorter than {MIN_SECRET_LENGTH} characters, "
            "a placeholder or a few characters repeated): anyone could have written what it verifies; "
            "leave it out"
        )
    seen: dict[str, str] = {}
    for name, value in [*values, *((RETIRED_CHAIN_KEYS, key) for key in retired)]:
        if guessable_secret(value):
            continue  # refused as it is, whatever else shares it
        if value in seen:
            problems.append(f"{name}: must differ from {seen[value]} (give each secret its own value)")
        seen.setdefault(value, name)
    return problems


def public_audit_keys(settings: Mapping[str, Any]) -> list[str]:
    """The audit keys that `settings` leaves unset, empty or at `PUBLIC_AUDIT_KEY`, by name."""
    return [name for name in AUDIT_KEYS if str(settings.get(name) or PUBLIC_AUDIT_KEY) == PUBLIC_AUDIT_KEY]
