"""The WARNING about messages the Segment client refused, at most one line per kind of drop and interval.

Under sustained overload (callers faster than the endpoint takes them) the Segment client's queue
stays full and every batch the audit writer hands on is dropped in part: a line per batch was some
370 lines in 50 s. The first drop of a kind (`queue_full`, `too_large`, `refused`: the code
`event_catalog_enqueue_failures_total` counts it by) is said at once, with its reason; the drops after
it are counted and said in one line, with the first one's reason, once `DROP_LOG_INTERVAL` seconds
have passed, at the next hand-over, or when the client shuts down or the process exits. Kinds, not
reasons' texts, are grouped: a reason names an oversize message's own size or the client's own
error, so grouping by its text said every oversize message in a line of its own. Nothing goes
unsaid, only later: every dropped message is also audited `dropped` with its reason, counted in
`event_catalog_enqueue_failures_total`, and (batched) passed to `on_error` or (strict) refused in its
receipt, as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from analytics.wording import counted

DROP_LOG_INTERVAL = 10.0
"""Seconds between two lines for the same reason: a handful of lines a minute under overload, and
the first drop is still said at once."""


@dataclass
class _Held:
    """Drops of one kind not said yet: how many, the first one's messageId and reason, since when."""

    count: int
    first: str
    reason: str
    since: float


class DropLog:
    """Says how many messages were dropped and why, at most once per kind every `interval` seconds.

    Thread-safe: drops are found on the audit writer's thread and, in strict mode, on the callers'.

    Args:
        log: the logger the lines go to (the client's).
        interval: the most seconds a reason's drops wait before they are said; None takes
            `DROP_LOG_INTERVAL` as it is when the client is made.
    """

    def __init__(self, log: logging.Logger, interval: float | None = None) -> None:
        self._log = log
        self._interval = DROP_LOG_INTERVAL if interval is None else interval
        self._lock = threading.Lock()
        self._said_at: dict[str, float] = {}
        self._held: dict[str, _Held] = {}

    def dropped(self, messages: list[dict[str, Any]], kind: str, reason: str) -> None:
        """Say these drops now if nothing was said of their `kind` within the interval, else hold them.

        Args:
            messages: the messages dropped together, for one reason.
            kind: what grouped lines go by: the drop's code (`queue_full`, `too_large`, `refused`).
            reason: why, in words (`message is 40,505 bytes, over …`), said for the first of a line.
        """
        now = time.monotonic()
        first = str(messages[0]["messageId"])
        with self._lock:
            held, last = self._held.get(kind), self._said_at.get(kind)
            if held is None and (last is None or now - last >= self._interval):
                self._say(kind, len(messages), first, reason, now, None)
                return
            if held is None:
                self._held[kind] = _Held(len(messages), first, reason, now)
            else:
                held.count += len(messages)
            self._say_due(now)

    def tick(self) -> None:
        """Say the held drops whose interval has passed (called at every hand-over, cheap when none)."""
        if self._held:
            with self._lock:
                self._say_due(time.monotonic())

    def close(self) -> None:
        """Say every held drop now: the client is shutting down, or the process exiting."""
        with self._lock:
            now = time.monotonic()
            for kind in list(self._held):
                self._say_held(kind, now)

    def _say_due(self, now: float) -> None:
        for kind in list(self._held):
            if now - self._said_at[kind] >= self._interval:
                self._say_held(kind, now)

    def _say_held(self, kind: str, now: float) -> None:
        held = self._held.pop(kind)
        self._say(kind, held.count, held.first, held.reason, now, now - self._said_at[kind])

    def _say(self, kind: str, count: int, first: str, reason: str, now: float, over: float | None) -> None:
        self._said_at[kind] = now
        if over is None:
            self._log.warning(
                "%s dropped (first %s): %s (further drops of this kind: one line every %.0f s)",
                counted(count, "message", grouped=True),
                first,
                reason,
                self._interval,
            )
            return
        self._log.warning(
            "%s dropped in the last %.0f s (first %s): %s (one line every %.0f s while drops go on)",
            counted(count, "more message", grouped=True),
            over,
            first,
            reason,
            self._interval,
        )
