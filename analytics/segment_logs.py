"""What the Segment client's logger (`segment`) may write to a host application's log.

The Segment client logs every message it queues, every request body it posts and every answer it
gets at DEBUG: whole messages, personal data in clear, which a host logging at DEBUG (staging, often)
wrote to its log. It also logs a batch it gives up on at ERROR twice on its sending thread, while
the library's own line (`analytics.client`) says the same with the count and the HTTP status.
`quiet_segment_logger()` puts a filter on that logger rather than a level, so the host's own levels
stay as it set them: the client's other lines, its warnings and errors and its DEBUG flow, still
reach the host's log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

SEGMENT_LOGGER = "segment"
"""The one logger every module of the Segment client logs through."""

_REPEATED_GIVE_UPS = ("error uploading: ", "Non-retryable error ")
"""How the Segment client's ERROR lines begin that repeat, on a sending thread of ours, a give-up the
library logs in one line with the same facts (HTTP status, reason, count)."""


def _carries_a_body(record: logging.LogRecord) -> bool:
    """Whether the record holds a message, a batch or an answer: an argument that is a dict or a
    list, or JSON text (`making request: {"batch": [...]}`), whatever words the client puts around it."""
    if isinstance(record.args, Mapping):  # logging unpacks a lone dict argument into `args`
        return True
    return any(
        isinstance(value, Mapping | list) or (isinstance(value, str) and value.lstrip()[:1] in ("{", "["))
        for value in record.args or ()
    )


def _repeats_a_give_up(record: logging.LogRecord) -> bool:
    """Whether the record is the Segment client's ERROR about a batch given up on, logged on a
    sending thread whose give-ups the library logs itself (`reports_give_ups`)."""
    return (
        record.levelno >= logging.ERROR
        and str(record.msg).startswith(_REPEATED_GIVE_UPS)
        and getattr(threading.current_thread(), "reports_give_ups", False)
    )


class SegmentLogFilter(logging.Filter):
    """Drops the Segment client's DEBUG dumps of messages, requests and answers, and its ERROR lines
    that repeat a give-up the library logs itself; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG and _carries_a_body(record):
            return False
        return not _repeats_a_give_up(record)


def quiet_segment_logger() -> None:
    """Install `SegmentLogFilter` on the `segment` logger, once per process.

    Every client that makes a Segment client installs it (so `analytics.init()` does), and so does
    the dashboard's logging set-up, before any client exists.
    """
    logger = logging.getLogger(SEGMENT_LOGGER)
    if not any(isinstance(existing, SegmentLogFilter) for existing in logger.filters):
        logger.addFilter(SegmentLogFilter())
