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
from urllib3.exceptions import ProtocolError

MAY_HAVE_ARRIVED = "so it may have received the request all the same"
"""What a read timeout or a connection closed before the answer leaves open: the request went out,
and only the answer is missing."""


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
    delivery (no answer came) but not a lost one."""
    if described is None:
        return False
    if described.startswith(f"{requests.ReadTimeout.__name__}:"):
        return True
    connection_error = described.startswith(f"{requests.ConnectionError.__name__}:")
    return connection_error and described.endswith(MAY_HAVE_ARRIVED)
