"""Which failures may have arrived: one rule, in Python (`may_have_arrived`, for the tester, the entry
page and a replay's risk) and in SQL (`may_have_arrived_clause`, for the audit search and the health
page), which must agree on every line `describe_network_error` writes, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from http.client import RemoteDisconnected

import pytest
import requests
from sqlalchemy import Engine, String, literal, select
from urllib3.exceptions import ProtocolError

from analytics.audit import create_audit_engine
from analytics.network_errors import (
    MAY_HAVE_ARRIVED,
    describe_network_error,
    may_have_arrived,
    may_have_arrived_clause,
)

_REQUEST = requests.Request("POST", "http://127.0.0.1:9/v1/batch").prepare()


def _line(error: requests.RequestException) -> str:
    error.request = _REQUEST
    return describe_network_error(error)


def _closed(kind: type[requests.ConnectionError], reason: BaseException) -> str:
    return _line(kind(ProtocolError("Connection aborted.", reason)))


ARRIVED = {
    "read timeout": _line(requests.ReadTimeout("read timed out")),
    "closed": _closed(requests.ConnectionError, RemoteDisconnected("Remote end closed connection")),
    "reset": _closed(requests.ConnectionError, ConnectionResetError(104, "Connection reset by peer")),
    "closed by a proxy": _closed(requests.exceptions.ProxyError, RemoteDisconnected("closed")),
    "closed during TLS": _closed(requests.exceptions.SSLError, ConnectionResetError(104, "reset")),
    "an older version's read timeout": "ReadTimeout: 127.0.0.1:9 did not answer within the timeout (x)",
    "a reason in French": f"ConnectionError: connexion à hôte fermée (réinitialisée), {MAY_HAVE_ARRIVED}",
    "the ending alone": MAY_HAVE_ARRIVED,
}
"""Lines that may have arrived: every branch of `describe_network_error` that says so, whatever the
class, and what older versions recorded for a read timeout."""

NEVER_ARRIVED = {
    "connect timeout": _line(requests.ConnectTimeout("connect timed out")),
    "refused": _line(requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))),
    "no reason": _line(requests.ConnectionError("no route")),
    "other": _line(requests.TooManyRedirects("too many")),
    "an HTTP error": "500: internal error",
    "dropped": "queue full",
    "empty": "",
    "shorter than the ending": MAY_HAVE_ARRIVED[1:],
    "the ending, then more": f"{MAY_HAVE_ARRIVED} (later)",
    "lowercase class": "readtimeout: 127.0.0.1:9 did not answer",
    "a LIKE wildcard where the colon is": "ReadTimeout_ 127.0.0.1:9",
    "the ending in capitals": f"ConnectionError: closed, {MAY_HAVE_ARRIVED.upper()}",
}
"""Lines that never arrived, with the texts on which a `LIKE` would differ between the databases
(SQLite's ignores case) or a prefix test on the class name would."""


@pytest.fixture
def any_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_audit_engine(empty_database_url)
    yield engine
    engine.dispose()


def test_the_lines_that_say_so_may_have_arrived() -> None:
    assert {name for name, line in ARRIVED.items() if not may_have_arrived(line)} == set()
    assert {name for name, line in NEVER_ARRIVED.items() if may_have_arrived(line)} == set()
    assert not may_have_arrived(None)


def test_a_subclass_closed_after_the_request_may_have_arrived() -> None:
    """A `ProxyError` says what a `ConnectionError` says; the class that leads the line must not decide."""
    line = ARRIVED["closed by a proxy"]
    assert line.startswith("ProxyError: ") and line.endswith(MAY_HAVE_ARRIVED)
    assert may_have_arrived(line)


def test_sql_and_python_agree(any_engine: Engine) -> None:
    lines = {**ARRIVED, **NEVER_ARRIVED, "none": None}
    with any_engine.connect() as connection:
        found = {
            name: connection.scalar(select(may_have_arrived_clause(literal(line, String()))))
            for name, line in lines.items()
        }
    # Never NULL, so that its negation (`outcome=refused`) holds for every other entry.
    assert {name for name, result in found.items() if result is None} == set()
    assert {
        name for name, result in found.items() if bool(result) is not may_have_arrived(lines[name])
    } == set()
