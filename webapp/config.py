"""Configuration: safe defaults for `make run`, overridden by the environment (12-factor).

Every variable is listed in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Config
from limits import parse_many
from limits.storage import SCHEMES as RATELIMIT_STORAGE_SCHEMES

from analytics import default_sqlite_url
from analytics.audit import engine_options, normalise_database_url
from analytics.audit_settings import take_audit_variables
from analytics.durations import parse_duration
from analytics.partitions import DEFAULT_AHEAD, Interval
from analytics.replay import DEFAULT_STUCK_AFTER
from analytics.settings import (
    AUDIT_KEYS,
    PUBLIC_AUDIT_KEY,
    RETIRED_CHAIN_KEYS,
    ConfigurationError,
    EnvironmentReader,
    app_env,
    http_url,
    parse_flag,
    production_secrets,
)
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role
from webapp.tester.destinations import parse_destinations

DEFAULT_COLLECTOR_PORT = 5100
DEV_SECRET_KEY = "dev-only-not-secret"
"""`make run`'s session key: a placeholder (`not-secret`), which production refuses as guessable."""
SECRETS = {"SECRET_KEY": "it signs sessions and CSRF tokens", **AUDIT_KEYS}
"""The secrets the dashboard holds (each with why it must be one): its own and the audit keys."""
CHAIN_KEY = {"AUDIT_CHAIN_KEY": AUDIT_KEYS["AUDIT_CHAIN_KEY"]}
"""The one secret of the commands that keep the audit log but read no personal data (`db upgrade`,
`audit verify`, `audit purge`, `audit partitions`)."""
# The tester waits for the endpoint's answer while the engineer watches: seconds, not Segment's 15.
DEFAULT_TESTER_TIMEOUT = 10.0
RATE_LIMITS = (
    "LOGIN_FAILURES_PER_ACCOUNT",
    "LOGIN_FAILURES_PER_ADDRESS",
    "TESTER_LIMIT_PER_PERSON",
    "TESTER_LIMIT_PER_ADDRESS",
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def defaults() -> dict[str, Any]:
    """What `make run` needs with nothing set: the library's default SQLite file, the local collector."""
    return {
        "SECRET_KEY": DEV_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": default_sqlite_url(),
        "SEGMENT_WRITE_KEY": None,
        "SEGMENT_HOST": f"http://127.0.0.1:{DEFAULT_COLLECTOR_PORT}",
        "AUDIT_MASK_PERSONAL_DATA": True,
        "AUDIT_MASK_KEY": PUBLIC_AUDIT_KEY,
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "info",
        "TESTER_DESTINATIONS": (),
        "TESTER_TIMEOUT": DEFAULT_TESTER_TIMEOUT,
        "APP_ENV": "development",
        "CATALOG_API_PUBLIC": False,
        "METRICS_TOKEN": None,
        # Access (webapp/auth): built-in accounts unless a sign-in proxy is configured.
        "AUTH_MODE": "accounts",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # A form's CSRF token holds as long as the session whose secret signs it: a sign-in, a
        # sign-out and the end of SESSION_LIFETIME replace or drop that secret. Flask-WTF's own
        # default, one hour, refused a tester left open over lunch in a 12-hour sign-in.
        "WTF_CSRF_TIME_LIMIT": None,
        "PASSWORD_RESET_LIFETIME": timedelta(hours=24),
        # Requests carry forms and single messages (Segment takes 32 KB each): a larger body is
        # refused with 413 before anything reads it.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # None: secure in production, not in development (see `finalise`).
        "SESSION_COOKIE_SECURE": None,
        "TRUSTED_PROXIES": (),
        "PROXY_USER_HEADER": "X-Forwarded-Email",
        "PROXY_DEFAULT_ROLE": Role.VIEWER,
        # Rate limits (webapp/limits.py), in Flask-Limiter's notation.
        "LOGIN_FAILURES_PER_ACCOUNT": "5 per 15 minutes",
        "LOGIN_FAILURES_PER_ADDRESS": "20 per 15 minutes",
        "TESTER_LIMIT_PER_PERSON": "30 per minute",
        "TESTER_LIMIT_PER_ADDRESS": "120 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "AUDIT_CHAIN_KEY": PUBLIC_AUDIT_KEY,
        RETIRED_CHAIN_KEYS: (),
        "AUDIT_ENCRYPTION_KEY": None,
        "AUDIT_STUCK_AFTER": DEFAULT_STUCK_AFTER,
        # PostgreSQL only (analytics/partitions.py): one partition per month, three months ahead.
        "AUDIT_PARTITION_INTERVAL": Interval.MONTH,
        "AUDIT_PARTITIONS_AHEAD": DEFAULT_AHEAD,
    }


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{raw!r} is not a port number (1-65535)")
    return int(raw)


def _rate_limit(raw: str) -> str:
    try:
        parse_many(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a rate limit, e.g. 5 per 15 minutes or 30/minute") from None
    return raw


def _storage_uri(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    # Flask-Limiter is synchronous: the async+ flavours of the same stores do not apply.
    if scheme not in RATELIMIT_STORAGE_SCHEMES or scheme.startswith("async+"):
        raise ValueError(f"{raw!r} is not a rate-limit storage URI, e.g. memory:// or redis://host:6379")
    return raw


def _header_name(raw: str) -> str:
    if not _HEADER_NAME.match(raw):
        raise ValueError(f"{raw!r} is not an HTTP header name, e.g. X-Forwarded-Email")
    return raw


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in allowed:
            raise ValueError(f"{raw!r} is not one of {', '.join(allowed)}")
        return raw.lower()

    return parse


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment overrides; unset or empty variables keep their default.

    Raises:
        ConfigurationError: every variable whose value cannot be used, one line each.
    """
    return read_environment(environ).check()


def read_environment(
    environ: Mapping[str, str], key_variables: Mapping[str, str] | None = None
) -> EnvironmentReader:
    """The settings the environment overrides, and a line for each variable that cannot be used.

    The problems are not raised here, so that `finalise` can list them with its own: an operator
    fixes every setting after one start, not one setting per start.

    Args:
        environ: the variables to read.
        key_variables: where the variables that `TESTER_DESTINATIONS` names (`write_key_env`) are
            looked up; `environ` by default.
    """
    read = EnvironmentReader(environ)
    references = environ if key_variables is None else key_variables
    read.take("SECRET_KEY", "SECRET_KEY")
    read.take("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", normalise_database_url)
    read.take("SEGMENT_CLIENT_KEY", "SEGMENT_WRITE_KEY")
    read.take("SEGMENT_WRITE_KEY", "SEGMENT_WRITE_KEY")
    read.take("COLLECTOR_PORT", "SEGMENT_HOST", lambda raw: f"http://127.0.0.1:{_port(raw)}")
    read.take("SEGMENT_HOST", "SEGMENT_HOST", http_url)
    read.take("PORT", "PORT", _port)
    take_audit_variables(read)
    _take_logging(read)
    read.take("TESTER_DESTINATIONS", "TESTER_DESTINATIONS", lambda raw: parse_destinations(raw, references))
    read.take("TESTER_TIMEOUT", "TESTER_TIMEOUT", _positive_seconds)
    read.take("APP_ENV", "APP_ENV", app_env)
    read.take("CATALOG_API_PUBLIC", "CATALOG_API_PUBLIC", parse_flag)
    read.take("METRICS_TOKEN", "METRICS_TOKEN")
    read.take("AUTH_MODE", "AUTH_MODE", _choice("accounts", "proxy"))
    read.take("SESSION_LIFETIME", "PERMANENT_SESSION_LIFETIME", parse_duration)
    read.take("PASSWORD_RESET_LIFETIME", "PASSWORD_RESET_LIFETIME", parse_duration)
    read.take("SESSION_COOKIE_SECURE", "SESSION_COOKIE_SECURE", parse_flag)
    read.take("TRUSTED_PROXIES", "TRUSTED_PROXIES", parse_networks)
    read.take("PROXY_USER_HEADER", "PROXY_USER_HEADER", _header_name)
    read.take("PROXY_DEFAULT_ROLE", "PROXY_DEFAULT_ROLE", Role.parse)
    for limit in RATE_LIMITS:
        read.take(limit, limit, _rate_limit)
    read.take("RATELIMIT_STORAGE_URI", "RATELIMIT_STORAGE_URI", _storage_uri)
    read.take("AUDIT_STUCK_AFTER", "AUDIT_STUCK_AFTER", parse_duration)
    return read


def read_instance_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The settings of an optional instance file (`instance/config.py`), checked as the environment is.

    A name that is a variable of the environment is read as that variable, from its value as text
    (a number or a boolean as its text too): `SEGMENT_HOST = "collector:5100"` is refused as
    `SEGMENT_HOST=collector:5100` is, and `SESSION_LIFETIME = "30m"` sets the session's lifetime.
    Such a variable given a value of another type (`TESTER_TIMEOUT = [1, 2]`) is refused too: taken
    as it is, it broke the first send instead; `None` leaves its default, as an empty variable does.
    Other names are Flask settings, taken as they are, whatever their type (a `timedelta`).

    Returns:
        The file's settings, with the variables' parsed values over them, and a line for each
        variable that cannot be used, naming the file; or no settings and one line naming the
        file's line when the file itself fails (a syntax error, an import that fails).
    """
    file = Config(str(path.parent))
    try:
        file.from_pyfile(path.name, silent=True)
    except Exception as exc:  # the operator's own code: any mistake in it is said in one line
        return {}, [_file_failure(path, exc)]
    text = {name: str(value) for name, value in file.items() if isinstance(value, str | int | float)}
    read = read_environment(text, key_variables=os.environ)
    variables = set(read.variables)
    mistyped = [
        f"{name}: {value!r} is a {type(value).__name__}: give the variable's value as text or a "
        "number, as in the environment"
        for name, value in file.items()
        if name in variables and name not in text and value is not None
    ]
    settings = {name: value for name, value in file.items() if name not in variables}
    return {**settings, **read.settings}, [
        f"{problem} (in {path})" for problem in [*read.problems, *mistyped]
    ]


def unread_instance_file(read: Path, working_directory: Path) -> str | None:
    """The warning for an `instance/config.py` in the working directory that is not the file read.

    An installed package's instance folder is Flask's `<prefix>/var/webapp-instance`, while the
    default SQLite file is under the working directory's `instance/`: a `./instance/config.py`
    beside it was silently ignored, its settings (a `SESSION_LIFETIME`) never applied.
    """
    beside = working_directory / "instance" / "config.py"
    if not beside.is_file() or beside.resolve() == read.resolve():
        return None
    return f"{beside} is not read: this installation reads its settings from {read}; move the file there"


def _file_failure(path: Path, exc: Exception) -> str:
    """One line for an instance file that fails as it runs: the file and line, the exception's type
    and the first line of its message (`…/config.py:3: SyntaxError: invalid syntax`)."""
    line = _failed_line(path, exc)
    message = (exc.msg if isinstance(exc, SyntaxError) else str(exc)).strip()
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {type(exc).__name__}" + (f": {message.splitlines()[0]}" if message else "")


def _failed_line(path: Path, exc: Exception) -> int | None:
    """The line of the instance file where `exc` arose: a syntax error's own, else the deepest
    frame of the traceback that runs the file's code (an import that fails names the file's
    `import` line, not the imported module's)."""
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == str(path)]
    return lines[-1] if lines else None


def _take_logging(read: EnvironmentReader) -> None:
    read.take("LOG_FORMAT", "LOG_FORMAT", _choice("text", "json"))
    read.take("LOG_LEVEL", "LOG_LEVEL", _choice("debug", "info", "warning", "error"))


def collector_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """What `event-catalog collector` reads: its port and how to log, and none of the dashboard's
    settings, so that the image's `APP_ENV=production` asks no dashboard secrets of it.

    Raises:
        ConfigurationError: every variable whose value cannot be used, one line each.
    """
    read = EnvironmentReader(environ)
    read.take("COLLECTOR_PORT", "COLLECTOR_PORT", _port)
    _take_logging(read)
    settings = read.check()
    return {
        "COLLECTOR_PORT": DEFAULT_COLLECTOR_PORT,
        **{name: defaults()[name] for name in ("LOG_FORMAT", "LOG_LEVEL")},
        **settings,
    }


def _positive_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 300:
        raise ValueError(f"{raw!r} is not a number of seconds above 0 and at most 300")
    return seconds


def finalise(
    config: dict[str, Any], earlier: Sequence[str] = (), secrets: Mapping[str, str] = SECRETS
) -> None:
    """Settings that depend on others, and the checks only the merged configuration allows.

    Runs after every layer (defaults, instance file, environment, test mapping) is applied.

    Args:
        config: the merged settings.
        earlier: problems found while reading the environment, listed first; a check here on a
            variable already named there is left out, its value being the default it fell back to.
        secrets: the secrets checked under `APP_ENV=production`: all of them for the dashboard;
            none for the command line, whose commands each check those they use (`command_secrets`).

    Raises:
        ConfigurationError: one line per problem, saying how to fix it.
    """
    production = config["APP_ENV"] == "production"
    problems = production_secrets(config, secrets) if production else []
    if config["AUTH_MODE"] == "proxy" and not config["TRUSTED_PROXIES"]:
        problems.append(
            f"TRUSTED_PROXIES: AUTH_MODE=proxy needs the addresses of the proxy that sets "
            f"{config['PROXY_USER_HEADER']}, e.g. TRUSTED_PROXIES=10.0.0.0/8"
        )
    named = {problem.split(":", 1)[0] for problem in earlier}
    problems = [*earlier, *(problem for problem in problems if problem.split(":", 1)[0] not in named)]
    if problems:
        raise ConfigurationError(problems)
    if config["SESSION_COOKIE_SECURE"] is None:
        config["SESSION_COOKIE_SECURE"] = production
    # The library's pool settings, so that a database restart or failover costs no request its
    # first use of a pooled connection; options set in instance/config.py or by a test win.
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(config["SQLALCHEMY_DATABASE_URI"], lock_timeout=False),
        **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }


def command_secrets(config: Mapping[str, Any], secrets: Mapping[str, str], *, shared: str | None) -> None:
    """Under `APP_ENV=production`, refuse the `secrets` a command uses when they are unset, public or
    guessable. Every command needed `SECRET_KEY` and both audit keys, so the README's application
    host and cron steps, which give a command only what it uses, failed.

    Args:
        shared: who holds the secrets already (`the dashboard`), for a command that must use the
            same values: its line says to copy them, since a new key would not match what the
            dashboard wrote; None for the dashboard itself (`run`), told to make its own.

    Raises:
        ConfigurationError: one line per secret.
    """
    if config["APP_ENV"] != "production":
        return
    problems = production_secrets(config, secrets, shared=shared)
    if problems:
        raise ConfigurationError(problems)


def current_environment() -> EnvironmentReader:
    """`read_environment` over this process's environment."""
    return read_environment(os.environ)
