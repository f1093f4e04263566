"""How long a flush or a shutdown waits: as long as work progresses, up to a timeout without any.

A shutdown must not hang on a database or an endpoint that stopped answering, nor cut short a
backlog that is being worked through: a total timeout would do one or the other. So the timeout
counts seconds without progress. It is one budget for every stage of a flush or a shutdown (the
audit writer's queue, then the Segment client's, then its threads): each stage waiting a timeout of
its own added up to (2 + consumers) × timeout when both stalled, and 16 s with the default 8 s,
past the 10 s that `SHUTDOWN_TIMEOUT` was chosen to fit in.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable, Sequence
from typing import Any

SHUTDOWN_TIMEOUT = 8.0
"""Seconds `shutdown()`, the drain at exit and `flush()` wait at most, by default, while nothing
progresses: a stalled database or endpoint is given up within the 10 s `docker stop` grants before
SIGKILL, two to spare for the rest of the host's exit, while a long backlog that is being written
and sent is waited for whole."""

_PROGRESS_CHECK = 0.5
"""Seconds between two looks at the work left while a flush or a shutdown waits."""


def check_timeout(timeout: object, caller: str) -> None:
    """Refuse a timeout `Patience` cannot keep, before the caller changes anything.

    Unchecked, `"5"` failed deep inside (after `shutdown()` had begun: the client then refused every
    message), `nan` never gave up, and 0 or less gave up at once, logging "no progress for 0s".

    Args:
        timeout: seconds without progress, or None for no limit.
        caller: how the error names the call (`flush()`, `shutdown()`).

    Raises:
        TypeError: not a number (a bool is not one) nor None.
        ValueError: not finite, or not more than 0.
    """
    if timeout is None:
        return
    said = (
        f"{caller} timeout: must be a finite number of seconds without progress, more than 0 "
        f"(None: no limit), not {timeout!r}"
    )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(said)
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(said)


class Patience:
    """The seconds a flush or a shutdown may still wait without progress, shared by all its stages.

    Progress is any count of work left falling since the last look: a queue's unfinished tasks
    fall only when a message is done with (written, or sent or given up on), while new messages
    and a batch handed from one queue to the next make counts rise. Watching every count in every
    stage means that the Segment client sending while the audit writer stalls is progress too.

    Args:
        stall: the most seconds without progress (None: wait as long as it takes).
        work_left: the counts to watch (messages in the audit writer's queue, in the Segment client's).
    """

    def __init__(self, stall: float | None, work_left: Sequence[Callable[[], int]]) -> None:
        self.stall = stall
        self._work_left = tuple(work_left)
        self._last = [count() for count in self._work_left]
        self._since = time.monotonic()

    def left(self) -> float | None:
        """Seconds that may still pass without progress (None: no limit)."""
        if self.stall is None:
            return None
        return max(0.0, self.stall - (time.monotonic() - self._since))

    def wait(self, done_within: Callable[[float | None], bool]) -> bool:
        """Wait until done while there is patience left; whether it is done.

        Args:
            done_within: waits up to that many seconds (None: until done) and says whether it is done.
        """
        while True:
            left = self.left()
            done = done_within(None if left is None else min(left, _PROGRESS_CHECK))
            self._look()
            if done:
                return True
            if self.left() == 0:
                return False

    def _look(self) -> None:
        counts = [count() for count in self._work_left]
        if any(now < before for now, before in zip(counts, self._last, strict=True)):
            self._since = time.monotonic()
        self._last = counts


def join_within(tasks: queue.Queue[Any], timeout: float | None) -> bool:
    """`Queue.join()` giving up after `timeout` seconds (None: never): whether every task is done."""
    with tasks.all_tasks_done:
        return tasks.all_tasks_done.wait_for(lambda: not tasks.unfinished_tasks, timeout)
