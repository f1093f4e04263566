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
    thread = options.get("thread", 1)
    if isinstance(thread, bool) or not isinstance(thread, int) or thread < 1:
        problems.append(f"thread: must be a whole number of sending threads, 1 or more, not {thread!r}")
    if problems:
        raise ConfigurationError(problems)
