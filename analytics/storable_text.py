"""Text the audit log can store and Segment can carry, checked when a spec or scope is built.

Two kinds of text pass a `str` field and are then refused after `track` has returned, when the
message is written (in batched mode, off the caller's thread: the receipt already said `pending`):

- a NUL character (`\\u0000`), which PostgreSQL cannot hold in text;
- a surrogate code point (`\\ud800` to `\\udfff`), which is not Unicode text: UTF-8 cannot encode
  it, so no database and no JSON request can carry it. Python makes one from undecodable bytes
  (`surrogateescape`, `os.fsdecode`), or from a JSON `\\ud800` escape that pairs with nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate code point: what `check_storable` refuses, the CLI and the raw editor look for."""


def check_storable(text: str) -> str:
    """Return the text, or refuse it where the audit log would lose the message later.

    Raises:
        ValueError: the text holds a NUL character or a surrogate code point, named as an escape.
    """
    if "\x00" in text:
        raise ValueError("text cannot contain a NUL character (\\u0000)")
    if surrogate := SURROGATE.search(text):
        raise ValueError(
            f"text cannot contain a surrogate code point (\\u{ord(surrogate.group()):04x}): it is not "
            "Unicode text, and can be neither stored nor sent (was it decoded with surrogateescape?)"
        )
    return text


def unstorable_in(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where a JSON value holds text `check_storable` refuses, keys included, at any depth, and why.

    Off-schema properties (the tester's raw JSON, the API's `off_schema`) skip the spec's own check:
    without this one a `\\ud800` escape reached the audit log, which refused the message after the
    dry run had passed it.

    Returns:
        None when every text is storable; else the keys and indexes that lead to the first refused
        text, and why. A refused key is reported at its object, named as JSON escapes it (it cannot
        be shown as it is): `the key "\\ud800": text cannot contain …`.
    """
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            try:
                check_storable(item)
            except ValueError as exc:
                return path, str(exc)
        elif isinstance(item, dict):
            for key in item:
                try:
                    check_storable(key)
                except ValueError as exc:
                    return path, f"the key {json.dumps(key)}: {exc}"
            pending.extend(((*path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in reversed(list(enumerate(item))))
    return None
