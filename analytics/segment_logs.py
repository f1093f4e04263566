"""What the Segment client's logger (`segment`) may write to a host application's log.

The Segment client logs every message it queues, every request body it posts and every answer it
gets at DEBUG: whole messages, personal data in clear, which a host logging at DEBUG (staging, often)
wrote to its log. It also logs a batch it gives up on at ERROR, once or twice, on its sending thread,
while the library's own line (`analytics.client`) says the same with the count and the HTTP status:
an alert counting ERROR lines counted each give-up two or three times.
`quiet_segment_logger()` puts a filter on that logger rather than a level, so the host's own levels
stay as it set them: the client's other lines, its warnings and errors and its DEBUG flow, still
reach the host's log.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping

SEGMENT_LOGGER = "segment"
"""The one logger every module of the Segment client logs through."""

_REPEATED_GIVE_UPS = re.compile(
    r"error uploading: |Non-retryable error |Queue full during rate-limit re-queue\."
)
"""How the Segment client's ERROR lines begin that repeat, on a sending thread of ours, a give-up the
library logs in one line with the same facts (HTTP status, reason, count): they are dropped."""

_GIVE_UPS_WITH_FACTS = re.compile(
    r"All \d+ retries exhausted |Max total backoff duration |Rate limit duration exceeded "
    r"|Rate limit budget |Fatal error after "
)
"""How its other give-up lines begin (segment-analytics-python 2.4.0, `consumer.py`): each is followed
by the library's line, but adds a fact of its own (attempts made, the budget spent), so it is kept at
WARNING. Its one other ERROR, `Item exceeds 32kb limit`, cannot happen here (the library refuses such
a message before the queue) and no line of the library's would repeat it, so it passes."""


def _carries_a_body(record: logging.LogRecord) -> bool:
    """Whether the record holds a message, a batch or an answer: an argument that is a dict or a
    list, or JSON text (`making request: {"batch": [...]}`), whatever words the client puts around it."""
    if isinstance(record.args, Mapping):  # logging unpacks a lone dict argument into `args`
        return True
    return any(
        isinstance(value, Mapping | list) or (isinstance(value, str) and value.lstrip()[:1] in ("{", "["))
        for value in record.args or ()
    )


def _gives_up(record: logging.LogRecord, wording: re.Pattern[str]) -> bool:
    """Whether the record is the Segment client's ERROR about a batch given up on, in `wording`,
    logged on a sending thread whose give-ups the library logs itself (`reports_give_ups`)."""
    return (
        record.levelno >= logging.ERROR
        and wording.match(str(record.msg)) is not None
        and getattr(threading.current_thread(), "reports_give_ups", False)
    )


class SegmentLogFilter(logging.Filter):
    """Drops the Segment client's DEBUG dumps of messages, requests and answers, and its ERROR lines
    that repeat a give-up the library logs itself; writes its give-ups with facts of their own at
    WARNING, so that one give-up is one ERROR line; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG and _carries_a_body(record):
            return False
        if _gives_up(record, _GIVE_UPS_WITH_FACTS):
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return not _gives_up(record, _REPEATED_GIVE_UPS)


def quiet_segment_logger() -> None:
    """Install `SegmentLogFilter` on the `segment` logger, once per process.

    Every client that makes a Segment client installs it (so `analytics.init()` does), and so does
    the dashboard's logging set-up, before any client exists.
    """
    logger = logging.getLogger(SEGMENT_LOGGER)
    if not any(isinstance(existing, SegmentLogFilter) for existing in logger.filters):
        logger.addFilter(SegmentLogFilter())
