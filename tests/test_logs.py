"""Structured logs: JSON lines with request ids, and no write key in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dashboard_server import running_dashboard
from flask import Flask
from flask.testing import FlaskClient

from webapp import create_app
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role
from webapp.logs import key_fingerprint


def _our_handler() -> logging.StreamHandler:  # type: ignore[type-arg]
    [handler] = [h for h in logging.getLogger().handlers if getattr(h, "_event_catalog", False)]
    assert isinstance(handler, logging.StreamHandler)
    return handler


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def log_output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def json_app(sqlite_url: str, sqlite_store: object, log_output: io.StringIO) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": sqlite_url,
            "SEGMENT_WRITE_KEY": "sk_live_secret_value",
            "LOG_FORMAT": "json",
        }
    )
    _our_handler().setStream(log_output)
    yield app
    logging.getLogger().removeHandler(_our_handler())


def test_every_request_gets_an_id_echoed_and_logged(json_app: Flask, log_output: io.StringIO) -> None:
    response = json_app.test_client().get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    [access] = [line for line in _json_lines(log_output.getvalue()) if line["logger"] == "webapp.access"]
    assert access["request_id"] == "abc-123"
    assert access["message"] == "GET /healthz 200"
    assert access["route"] == "/healthz" and isinstance(access["latency_ms"], float)


def test_the_access_line_says_who_asked_and_what_was_answered(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], log_output: io.StringIO
) -> None:
    """For incident work: the line held only the method, path and status in its text, and no
    client address or user at all."""
    app = make_app(LOG_FORMAT="json", TRUSTED_PROXIES=parse_networks("192.0.2.2"))
    _our_handler().setStream(log_output)
    try:
        client = login_as(Role.VIEWER, on=app)
        response = client.get(
            "/",
            headers={"X-Forwarded-For": "203.0.113.7", "User-Agent": "curl/8.5"},
            environ_base={"REMOTE_ADDR": "192.0.2.2"},
        )
        assert response.status_code == 200
        app.test_client().get("/login", environ_base={"REMOTE_ADDR": "198.51.100.9"})
    finally:
        logging.getLogger().removeHandler(_our_handler())
    [page, login] = [line for line in _json_lines(log_output.getvalue()) if line["logger"] == "webapp.access"]
    assert page["message"] == "GET / 200"
    assert (page["method"], page["path"], page["route"], page["status"]) == ("GET", "/", "/", 200)
    assert page["size"] == len(response.get_data())
    assert (page["client"], page["user"], page["user_agent"]) == (
        "203.0.113.7",
        "viewer@example.com",
        "curl/8.5",
    )
    assert (login["client"], login["user"], login["status"]) == ("198.51.100.9", None, 200)


def test_a_reset_link_s_token_is_never_written_to_the_access_log(
    json_app: Flask, log_output: io.StringIO
) -> None:
    secret = "WzIsImFiYyJd.aGVsbG8.c2lnbmF0dXJl"
    assert json_app.test_client().get(f"/reset/{secret}").status_code == 400
    [access] = [line for line in _json_lines(log_output.getvalue()) if line["logger"] == "webapp.access"]
    assert access["message"] == "GET /reset/<token> 400" and access["route"] == "/reset/<token>"
    assert secret not in log_output.getvalue()


def test_an_unsafe_incoming_request_id_is_replaced(json_app: Flask) -> None:
    response = json_app.test_client().get("/healthz", headers={"X-Request-ID": "<script> ; drop"})
    assert response.headers["X-Request-ID"] != "<script> ; drop"
    assert len(response.headers["X-Request-ID"]) == 32


def test_the_write_key_never_reaches_a_log_line(json_app: Flask, log_output: io.StringIO) -> None:
    with json_app.test_request_context("/"):
        logging.getLogger("analytics.client").warning("sending with %s", "sk_live_secret_value")
    text = log_output.getvalue()
    assert "sk_live_secret_value" not in text
    assert key_fingerprint("sk_live_secret_value") in text


def test_segment_debug_output_stays_off_at_debug_level(tmp_path: Path) -> None:
    """By the library's own filter (`analytics.segment_logs`), the one a host application gets."""
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "LOG_LEVEL": "debug"})
    output = io.StringIO()
    _our_handler().setStream(output)
    try:
        assert logging.getLogger().level == logging.DEBUG
        logging.getLogger("segment").debug("making request: %s", '{"batch": [{"email": "a@example.com"}]}')
        logging.getLogger("segment").debug("queueing: %s", {"traits": {"email": "a@example.com"}})
        logging.getLogger("segment").debug("consumer is running...")
        assert "a@example.com" not in output.getvalue()
        assert "consumer is running..." in output.getvalue()
    finally:
        logging.getLogger().removeHandler(_our_handler())
        logging.getLogger().setLevel(logging.WARNING)


def test_every_line_of_the_production_process_is_json(tmp_path: Path) -> None:
    """Log pipelines parse each line: the migrations' lines, gunicorn's own and the partitions'
    summary on standard output were plain text."""
    log: list[str] = []
    with running_dashboard(log, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", LOG_FORMAT="json"):
        pass
    entries = _json_lines("\n".join(log))
    by_logger = {entry["logger"] for entry in entries}
    assert {"alembic.runtime.migration", "gunicorn.error", "webapp.access"} <= by_logger, by_logger
    messages = [str(entry["message"]) for entry in entries]
    assert any(message.startswith("Running upgrade") for message in messages)
    assert any(message.startswith("audit partitions: ") for message in messages)
    assert any(message.startswith("Starting gunicorn") for message in messages)
    assert "Handling signal: term" in messages


def test_text_lines_give_the_time_in_utc_whatever_the_process_zone() -> None:
    """A process under TZ=Asia/Tokyo wrote its text lines in Tokyo time, unmarked, 9 hours away
    from the pages, the JSON lines and the audit log."""
    program = (
        "import logging; from webapp.logs import install_root_handler; "
        "install_root_handler('text', 'INFO'); logging.getLogger('check').info('hello')"
    )
    child = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "TZ": "Asia/Tokyo"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stamp, _, rest = child.stderr.strip().partition("Z ")
    assert rest == "INFO [-] check: hello", child.stderr
    written = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    assert abs(written - datetime.now(UTC)) < timedelta(minutes=1), child.stderr


def test_gunicorn_s_own_text_lines_give_the_time_in_utc(tmp_path: Path) -> None:
    """gunicorn stamps its own lines (start, workers, signals) with its time format's `%z`: under
    TZ=Asia/Tokyo they read `+0900` beside the app's lines in UTC."""
    log: list[str] = []
    with running_dashboard(log, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", TZ="Asia/Tokyo"):
        pass
    stamps = [line[1:26] for line in log if "] [INFO] " in line]
    assert stamps and all(stamp.endswith("+0000") for stamp in stamps), log
    written = datetime.strptime(stamps[0], "%Y-%m-%d %H:%M:%S %z")
    assert abs(written - datetime.now(UTC)) < timedelta(minutes=1), log
