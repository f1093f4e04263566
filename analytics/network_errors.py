"""One line for a request that got no HTTP answer, for the audit log and the tester's panel.

`requests` reports a refused connection as three nested exceptions whose text runs to several
lines of pool and object names ("HTTPConnectionPool(host=…): Max retries exceeded … Caused by
NewConnectionError(<urllib3.connection.HTTPConnection object at 0x…>…"). What a person reviewing a
failed delivery needs is which host, what went wrong, and the operating system's reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_
from urllib3.exceptions import ProtocolError

MAY_HAVE_ARRIVED = "so it may have received the request all the same"
"""What a read timeout or a connection closed before the answer leaves open: the request went out,
and only the answer is missing. Every line that says so ends with it, whatever the exception's class
(a `ProxyError` or `SSLError` closed after the request is a `ConnectionError` too)."""

_READ_TIMEOUT = f"{requests.ReadTimeout.__name__}:"
"""How every read timeout's line starts: those recorded before the lines said `MAY_HAVE_ARRIVED`
(December 2026, a218b6e) say only this, and counted as may have arrived all the same."""


def describe_network_error(error: requests.RequestException) -> str:
    """`ConnectionError: could not connect to 127.0.0.1:5211 (Connection refused)` and the like.

    The exception's class name leads, as it did before, so that searches for it still match; the
    original text is kept only when no operating-system reason can be found in the chain. A read
    timeout, and a connection closed after it was made, say that the request may have arrived
    (`may_have_arrived` finds such a line): only a connection that was never made leaves it lost.
    """
    where = _host(error)
    closed = _closed_before_answer(error)
    if isinstance(error, requests.ConnectTimeout):
        what = f"no connection to {where} within the timeout"
    elif isinstance(error, requests.ReadTimeout):
        # Its text only repeats this, with the connection pool's repr; the timeout is the caller's own.
        return f"{type(error).__name__}: {where} did not answer within the timeout, {MAY_HAVE_ARRIVED}"
    elif closed is not None:
        why = _os_reason(closed) or str(closed)
        return (
            f"{type(error).__name__}: the connection to {where} closed before an answer ({why}), "
            f"{MAY_HAVE_ARRIVED}"
        )
    elif isinstance(error, requests.ConnectionError):
        what = f"could not connect to {where}"
    else:
        what = f"the request to {where} failed"
    reason = _os_reason(error)
    detail = f" ({reason})" if reason else f": {error}"
    return f"{type(error).__name__}: {what}{detail}"


def _host(error: requests.RequestException) -> str:
    url = getattr(error.request, "url", None)
    return urlsplit(url).netloc if url else "the endpoint"


def _closed_before_answer(error: requests.RequestException) -> BaseException | None:
    """Why the connection closed, when it closed after it was made and before an answer came.

    urllib3 raises `ProtocolError` ("Connection aborted.") only on a connection it has made: the
    endpoint closed or reset it (`RemoteDisconnected`, `ConnectionResetError`) while the request was
    being written or answered. It cannot tell which, and the endpoint may have read the request whole,
    as a load balancer that resets after its backend took the batch does. A refused or failed connect
    is a `NewConnectionError` instead, and a cut answer body is `ChunkedEncodingError`, not this.
    """
    if not isinstance(error, requests.ConnectionError):
        return None
    for current in _chain(error):
        if isinstance(current, ProtocolError):
            inner = [item for item in current.args if isinstance(item, BaseException)]
            return inner[0] if inner else current
    return None


def _os_reason(error: BaseException) -> str | None:
    """The first operating-system error message in the exception's chain (causes, contexts, args)."""
    for current in _chain(error):
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exception and those it links to (causes, contexts, urllib3's `reason`, args), nearest first."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending += [item for item in linked if isinstance(item, BaseException)]


def may_have_arrived(described: str | None) -> bool:
    """Whether a failure as `describe_network_error` recorded it leaves open that the endpoint has the
    message: a read timeout or a connection closed before the answer, which is still a failed
    delivery (no answer came) but not a lost one.

    Decided by what the line says (it ends with `MAY_HAVE_ARRIVED`), not by the class name that leads
    it, so that a subclass taking the same branch counts; and by the `ReadTimeout:` that leads the
    lines older versions recorded. `may_have_arrived_clause` is the same test in SQL: change both.
    """
    if described is None:
        return False
    return described.startswith(_READ_TIMEOUT) or described.endswith(MAY_HAVE_ARRIVED)


def may_have_arrived_clause(described: SQLColumnExpression[str | None]) -> ColumnElement[bool]:
    """`may_have_arrived` in SQL, the same on SQLite and PostgreSQL: true or false, never NULL.

    What lets a search or a count select such failures without reading their texts into Python first.
    The texts are compared with `substr` and `=`, which are exact on both databases, rather than with
    `LIKE`, which ignores case on SQLite (`readtimeout: …` would match) and not on PostgreSQL. A text
    shorter than the ending has a shorter `substr` (SQLite counts a start below 1 from the right,
    PostgreSQL clips it), which cannot equal it.
    """
    ending = len(MAY_HAVE_ARRIVED)
    starts = func.substr(described, 1, len(_READ_TIMEOUT)) == _READ_TIMEOUT
    ends = func.substr(described, func.length(described) - (ending - 1)) == MAY_HAVE_ARRIVED
    return and_(described.is_not(None), or_(starts, ends))
