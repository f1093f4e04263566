"""The check of the client's keyword arguments, made by `AnalyticsClient` and `analytics.init` alike.

Unchecked, a bad option failed only later, or never: `source="cron"` was written to the log (the
dashboard's audit filter then refused it), `strict="no"` turned strict mode on by its truth,
`thread=0` left nothing to send and `flush()` waiting for ever, and a misspelt keyword was ignored
without a write key, or a `TypeError` from the Segment client's `__init__` with one. So both the
client and `init` check before they create anything (a thread, an engine), with this one function.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from analytics.audit import Source
from analytics.settings import ConfigurationError

FLAGS = ("strict", "raise_errors", "mask_personal_data", "sync_mode", "gzip", "send", "debug")
"""Options that are True or False: any other value was taken by its truth. `mask_personal_data` is
`init`'s own (the client is given a store that masks or not)."""


COUNTS = {
    "thread": ("sending threads", 1),
    "max_batch": ("messages per audit transaction", 1),
    "max_queue_size": ("messages the Segment queue holds", 1),
    "upload_size": ("messages per batch", 1),
    "max_retries": ("retries", 0),
}
"""Whole-number options, what they count and their least value. A `max_queue_size` of 0 would be
Python's unbounded queue, which the back-pressure promise (a full queue drops, memory stays bounded)
rules out; `thread=0` left nothing to send and `flush()` waiting."""

DURATIONS = {"upload_interval": "between uploads", "timeout": "to wait for the endpoint"}
"""Options in seconds that must be positive: 0 or less made the Segment client spin or time out at once."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_options(
    options: Mapping[str, Any], *, known: Collection[str], caller: str, deferred: Collection[str] = ()
) -> None:
    """Refuse keyword arguments that cannot work.

    Args:
        options: the keyword arguments as given.
        known: every keyword the caller takes.
        caller: how the error names the caller (`init()`, `AnalyticsClient()`).
        deferred: flags that may also be None, for the environment to decide (`init`'s `strict`).

    Raises:
        TypeError: a keyword the caller does not take, named as Python names one, with a close match.
        ConfigurationError: every value that cannot be used, one line each.
    """
    for name in sorted(options.keys() - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{caller} got an unexpected keyword argument {name!r}{hint}")
    problems = []
    source = options.get("source", Source.APPLICATION)
    if not isinstance(source, str) or source not in set(Source):
        problems.append(f"source: {source!r} is not a source the audit log knows ({', '.join(Source)})")
    for name in FLAGS:
        value = options.get(name)
        if name in options and not isinstance(value, bool) and (value is not None or name not in deferred):
            problems.append(f"{name}: must be True or False, not {value!r}")
    for name, (what, least) in COUNTS.items():
        value = options.get(name, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(f"{name}: must be a whole number of {what}, {least} or more, not {value!r}")
    for name, what in DURATIONS.items():
        value = options.get(name, 1)
        if not _is_number(value) or value <= 0:
            problems.append(f"{name}: must be a number of seconds {what}, more than 0, not {value!r}")
    on_error = options.get("on_error")
    if on_error is not None and not callable(on_error):
        # Taken, it failed with a traceback for every message not delivered, far from the cause.
        problems.append(f"on_error: must be a function called with (error, messages), not {on_error!r}")
    delays = options.get("audit_retry_delays", ())
    if isinstance(delays, str | bytes) or not all(_is_number(delay) and delay >= 0 for delay in delays):
        problems.append(f"audit_retry_delays: must be waits in seconds, 0 or more each, not {delays!r}")
    if problems:
        raise ConfigurationError(problems)
