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


class _Calls(threading.local):
    """This thread's state: whether it is inside a call, and the calls that interrupted it."""

    inside = False

    def __init__(self) -> None:
        self.queued: list[Callable[[], object]] = []


_THREAD = _Calls()


def interrupting() -> bool:
    """Whether this thread is inside a call already: a call made now interrupts it."""
    return _THREAD.inside


def start_call() -> None:
    """Mark the thread as inside a call (`track`'s path: a plain function, no context manager, whose
    generator would cost the caller more than the rest of this module)."""
    _THREAD.inside = True


def end_call() -> None:
    """The call started by `start_call` ended: make the calls that interrupted it."""
    _THREAD.inside = False
    if _THREAD.queued:
        _make_queued()


@contextmanager
def one_call() -> Iterator[None]:
    """`start_call` and `end_call` around a block; inside a call already, it changes nothing: the
    outer call makes the queued ones."""
    if interrupting():
        yield
        return
    start_call()
    try:
        yield
    finally:
        end_call()


def queue_call(call: Callable[[], object]) -> None:
    """Make `call` once the interrupted call on this thread returns."""
    _THREAD.queued.append(call)


def _make_queued() -> None:
    queued = _THREAD.queued
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
