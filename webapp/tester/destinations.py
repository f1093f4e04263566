"""Where the tester sends: the dashboard's own Segment settings, and named write keys from the environment.

`TESTER_DESTINATIONS` is a JSON object of destinations by name::

    {"staging": {"write_key_env": "STAGING_SEGMENT_KEY"},
     "production": {"write_key_env": "PROD_SEGMENT_KEY", "production": true}}

A write key is a credential: it is read here and handed to the Segment client, and nothing else
ever sees it. Pages, logs and audit rows name a destination as `name:fingerprint`, with the same
12-digit fingerprint the local collector shows for the keys it receives.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from analytics.collector import key_fingerprint
from analytics.settings import http_url, shown_url
from analytics.strict_json import load_json

VARIABLE = "TESTER_DESTINATIONS"
DEFAULT_NAME = "default"
SEGMENT_API = "https://api.segment.io"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_FIELDS = frozenset({"write_key", "write_key_env", "host", "production"})


@dataclass(frozen=True)
class Destination:
    """A tracking API and the write key to send to it with.

    Attributes:
        name: what engineers choose it by.
        host: the tracking API's base URL.
        production: sends need an explicit confirmation, and off-schema payloads are refused.
        write_key: the key; None means sends are audited `disabled` and not sent. Kept out of
            `repr` so that it cannot reach a log by accident.
    """

    name: str
    host: str
    production: bool = False
    write_key: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str | None:
        """A short fingerprint of the write key, safe to show and to store."""
        return key_fingerprint(self.write_key) if self.write_key else None

    @property
    def shown_host(self) -> str:
        """The host as pages and answers show it: credentials in the URL are masked."""
        return shown_url(self.host)

    @property
    def label(self) -> str:
        """How the audit log records the destination: `name:fingerprint`, or the name alone without a key."""
        return f"{self.name}:{self.fingerprint}" if self.fingerprint else self.name

    @property
    def is_local(self) -> bool:
        """Whether the host is on this machine, where the local collector can show what it received."""
        hostname = urlsplit(self.host).hostname or ""
        if hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(hostname).is_loopback
        except ValueError:
            return False


def default_destination(write_key: str | None, host: str) -> Destination:
    """The dashboard's own settings (`SEGMENT_WRITE_KEY`, `SEGMENT_HOST`).

    A host off this machine may well be Segment itself with the production key, so it counts as
    production unless it is local: the safe reading when nothing says otherwise.
    """
    local = Destination(DEFAULT_NAME, host, write_key=write_key)
    return local if local.is_local else Destination(DEFAULT_NAME, host, True, write_key)


def _one(name: str, spec: Any, environ: Mapping[str, str]) -> Destination:
    where = f"{VARIABLE}: destination {name!r}"
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{where}: a name is 1-40 lowercase letters, digits, '-' or '_'")
    if name == DEFAULT_NAME:
        raise ValueError(f"{where}: {DEFAULT_NAME!r} is the dashboard's own SEGMENT_HOST/SEGMENT_WRITE_KEY")
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be an object with write_key or write_key_env")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(_FIELDS))})"
        )
    if ("write_key" in spec) == ("write_key_env" in spec):
        raise ValueError(f"{where} needs exactly one of write_key and write_key_env")
    if "write_key_env" in spec:
        variable = spec["write_key_env"]
        if not isinstance(variable, str) or not environ.get(variable):
            raise ValueError(f"{where}: write_key_env names {variable!r}, which is not set")
        write_key = environ[variable]
    else:
        write_key = spec["write_key"]
        if not isinstance(write_key, str) or not write_key:
            raise ValueError(f"{where}: write_key must be a non-empty string")
    host = spec.get("host", SEGMENT_API)
    try:
        host = http_url(host if isinstance(host, str) else "")
    except ValueError:
        raise ValueError(f"{where}: host must be an http(s) URL, not {spec['host']!r}") from None
    production = spec.get("production", False)
    if not isinstance(production, bool):
        raise ValueError(f"{where}: production must be true or false")
    return Destination(name, host, production, write_key)


def parse_destinations(raw: str, environ: Mapping[str, str]) -> tuple[Destination, ...]:
    """Read `TESTER_DESTINATIONS`.

    Args:
        raw: the variable's value.
        environ: where `write_key_env` references are looked up.

    Raises:
        ValueError: one line that names the variable and what is wrong.
    """
    try:
        parsed = load_json(raw)
    except ValueError as exc:
        raise ValueError(f"{VARIABLE}: not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{VARIABLE}: not a JSON object of destinations by name")
    return tuple(_one(name, spec, environ) for name, spec in parsed.items())
