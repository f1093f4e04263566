"""Calls that interrupt another on the same thread: a signal handler's.

Python runs a signal handler in the main thread between two steps of whatever that thread was
doing. A handler that called `track()` while the main thread was inside `track()` waited for ever
for a lock the interrupted call held (the message-id pool's, the audit writer's queue, SQLite's
write lock in strict mode): one signal at the wrong moment stopped the process for good, and
recording "service stopping" from a SIGTERM handler is a natural thing to write. Such a call is
queued on its thread instead, and made as soon as the interrupted call returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_THREAD = threading.local()


def interrupting() -> bool:
    """Whether this thread is inside a call already: a call made now interrupts it."""
    return getattr(_THREAD, "inside", False)


@contextmanager
def one_call() -> Iterator[None]:
    """Mark the thread as inside a call; once it ends, make the calls that interrupted it. Inside a
    call already, it changes nothing: the outer call makes them."""
    if interrupting():
        yield
        return
    _THREAD.inside = True
    try:
        yield
    finally:
        _THREAD.inside = False
        _make_queued()


def queue_call(call: Callable[[], object]) -> None:
    """Make `call` once the interrupted call on this thread returns."""
    _THREAD.__dict__.setdefault("queued", []).append(call)


def _make_queued() -> None:
    queued: list[Callable[[], object]] = getattr(_THREAD, "queued", [])
    while True:
        try:
            # Not `while queued`: a signal between the test and the pop may make the calls itself.
            call = queued.pop(0)
        except IndexError:
            return
        _THREAD.inside = True  # a signal during this one is queued behind it
        try:
            call()
        except Exception:
            # Its caller, a signal handler, has long returned: the log is the only one to tell.
            log.exception("a call queued behind the call it interrupted failed")
        finally:
            _THREAD.inside = False
