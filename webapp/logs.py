"""Logs operators can ship: JSON lines (or text for a terminal), each tagged with its request id.

A request id comes from the `X-Request-ID` header when a proxy set a sane one, else is generated;
it is echoed on the response so a user's bug report leads to the log lines. Write keys never reach
a log line: a filter replaces any configured key with its fingerprint, and the Segment client's
DEBUG dumps (whole messages, personal data included) are kept off whatever the log level, by the
library's own filter (`analytics.segment_logs`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

from webapp.actor import signed_in_name
from webapp.auth.proxies import client_address

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Attributes every LogRecord has; anything else was passed through `extra=` and is kept.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def key_fingerprint(key: str) -> str:
    """A short, stable stand-in for a secret: enough to tell keys apart, useless to an attacker."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:8]


class RedactSecrets(logging.Filter):
    """Replace configured secrets in a record's message with their fingerprints."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, key_fingerprint(secret))
            record.msg, record.args = message, None
        return True


class RequestId(logging.Filter):
    """Tag each record with the current request's id (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class TextFormatter(logging.Formatter):
    """A line for a terminal, its time in UTC and said so (`2026-12-06 19:31:17.615Z`).

    The pages, the JSON lines and the audit log all give UTC: local time here (the logging default)
    put a process under `TZ=Asia/Tokyo` 9 hours away from them, with nothing on the line to say so.
    """

    converter = staticmethod(time.gmtime)
    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def install_root_handler(log_format: str, log_level: str, secrets: Iterable[str] = ()) -> None:
    """Install this process's root handler, per `LOG_FORMAT` and `LOG_LEVEL`, hiding `secrets`.

    Shared by the dashboard and the commands that run without it (the collector).
    """
    handler = logging.StreamHandler()
    handler.addFilter(RequestId())
    handler.addFilter(RedactSecrets(secrets))
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for existing in [h for h in root.handlers if getattr(h, "_event_catalog", False)]:
        root.removeHandler(existing)
    handler._event_catalog = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = logging.getLevelName(log_level.upper())
    root.setLevel(level)
    # The Segment client logs every queued message at DEBUG, personal data included. Imported here:
    # gunicorn's master imports this module for its formatter (gunicorn.conf.py), and the library's
    # import checks PROMETHEUS_MULTIPROC_DIR, which the app's own configuration check words better.
    from analytics.segment_logs import quiet_segment_logger

    quiet_segment_logger()
    # Werkzeug's own access lines would duplicate ours.
    logging.getLogger("werkzeug").setLevel(max(level, logging.WARNING))


def configure_logging(app: Flask) -> None:
    """Install the root handler for the app's process, and tag and log each request."""
    install_root_handler(
        app.config["LOG_FORMAT"], app.config["LOG_LEVEL"], [str(app.config.get("SEGMENT_WRITE_KEY") or "")]
    )

    @app.before_request
    def assign_request_id() -> None:
        """Take the proxy's id when it is sane, else make one."""
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        """Echo the id and write one access line: who asked (client address, signed-in user), what
        (method, path, route) and the answer (status, size, latency), each its own field in JSON."""
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        started = g.get("request_started")
        latency_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        path = _logged_path()
        logging.getLogger("webapp.access").info(
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "route": request.url_rule.rule if request.url_rule else None,
                "status": response.status_code,
                "size": response.content_length,
                "latency_ms": latency_ms,
                "client": client_address(),
                "user": signed_in_name(),
                "user_agent": request.user_agent.string or None,
            },
        )
        return response


_SECRET_PATH_ARGUMENTS = frozenset({"token"})
"""URL variables that are credentials (a password reset link's token): never written to a log."""


def _logged_path() -> str:
    """The request's path for the access line; a path holding a secret is logged as its route."""
    if request.url_rule is not None and _SECRET_PATH_ARGUMENTS & set(request.view_args or {}):
        return request.url_rule.rule
    return request.path
