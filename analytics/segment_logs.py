"""What the Segment client's logger (`segment`) may write to a host application's log.

The Segment client logs every message it queues, every request body it posts and every answer it
gets at DEBUG: whole messages, personal data in clear, which a host logging at DEBUG (staging, often)
wrote to its log. `quiet_segment_logger()` puts a filter on that logger rather than a level, so the
host's own levels stay as it set them: the client's other lines, its warnings and errors and its
DEBUG flow, still reach the host's log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

SEGMENT_LOGGER = "segment"
"""The one logger every module of the Segment client logs through."""


def _carries_a_body(record: logging.LogRecord) -> bool:
    """Whether the record holds a message, a batch or an answer: an argument that is a dict or a
    list, or JSON text (`making request: {"batch": [...]}`), whatever words the client puts around it."""
    if isinstance(record.args, Mapping):  # logging unpacks a lone dict argument into `args`
        return True
    return any(
        isinstance(value, Mapping | list) or (isinstance(value, str) and value.lstrip()[:1] in ("{", "["))
        for value in record.args or ()
    )


class SegmentLogFilter(logging.Filter):
    """Drops the Segment client's DEBUG dumps of messages, requests and answers; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.DEBUG and _carries_a_body(record))


def quiet_segment_logger() -> None:
    """Install `SegmentLogFilter` on the `segment` logger, once per process.

    Every client that makes a Segment client installs it (so `analytics.init()` does), and so does
    the dashboard's logging set-up, before any client exists.
    """
    logger = logging.getLogger(SEGMENT_LOGGER)
    if not any(isinstance(existing, SegmentLogFilter) for existing in logger.filters):
        logger.addFilter(SegmentLogFilter())
