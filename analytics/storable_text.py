"""Text the audit log can store and Segment can carry, checked when a spec or scope is built.

Two kinds of text pass a `str` field and are then refused after `track` has returned, when the
message is written (in batched mode, off the caller's thread: the receipt already said `pending`):

- a NUL character (`\\u0000`), which PostgreSQL cannot hold in text;
- a surrogate code point (`\\ud800` to `\\udfff`), which is not Unicode text: UTF-8 cannot encode
  it, so no database and no JSON request can carry it. Python makes one from undecodable bytes
  (`surrogateescape`, `os.fsdecode`), or from a JSON `\\ud800` escape that pairs with nothing.

A number that is not finite (NaN, infinity) is refused the same way: JSON has none, PostgreSQL's
`jsonb` refuses it and pydantic sends one held in a free-form value as `null`. `check_json_value`
applies all of these to a property's whole value, and refuses what cannot be made JSON at all.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic_core import to_json, to_jsonable_python

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


def check_json_value(value: Any) -> Any:
    """Return a value as JSON data, or refuse one no message can carry or the audit log would refuse,
    at any depth.

    Checked when a spec is built, so that `track` cannot fail later: a value typed `Any` (a
    `dict[str, Any]` property, as `event-catalog import` writes for a free-form object) or held by a
    nested model is seen by no other check, and it raised from `track` (bytes that are not UTF-8, an
    object pydantic cannot serialise, a dict holding itself, one nested thousands deep) or was lost
    after an `ok` receipt (a NUL in a nested field or a dict key). Text, whole numbers and None, the
    common case, cost no conversion. A spec keeps its own values; a host's `context=` is sent as the
    data returned.

    Raises:
        ValueError: the value cannot be made JSON (pydantic's reason), or it holds text
            `check_storable` refuses (keys included) or a number that is not finite, named by where.
    """
    if isinstance(value, str):
        return check_storable(value)
    if value is None or isinstance(value, int):
        return value
    try:
        data = to_jsonable_python(value)
    except ValueError as exc:  # pydantic's serialisation error, invalid UTF-8, a cycle, too deep
        raise ValueError(f"cannot be sent as JSON: {exc}") from None
    if not _plainly_storable(data) and (found := unstorable_in(data)):
        path, problem = found
        raise ValueError(f"at {'.'.join(map(str, path))}: {problem}" if path else problem)
    return data


_SUSPECT = re.compile(rb"\\u0000|NaN|Infinity")
"""What JSON text holding a NUL or a number that is not finite shows (text may show it too)."""


def _plainly_storable(data: Any) -> bool:
    """Whether JSON data's text, made in pydantic's own code, shows none of `_SUSPECT`: then no walk is
    needed. Walking every nested value in Python cost a nested spec several times its whole build; data
    that fails here (a surrogate) or looks suspect is walked. It is given plain data, not models: a
    model's own settings write a NaN as `null`, which its message then holds as NaN."""
    try:
        encoded = to_json(data, inf_nan_mode="constants")
    except ValueError:
        return False
    return _SUSPECT.search(encoded) is None


def unstorable_in(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where a JSON value holds text `check_storable` refuses, keys included, or a number that is not
    finite, at any depth, and why.

    Off-schema properties (the tester's raw JSON, the API's `off_schema`) skip the spec's own check:
    without this one a `\\ud800` escape reached the audit log, which refused the message after the
    dry run had passed it.

    Returns:
        None when every text is storable and every number finite; else the keys and indexes that
        lead to the first refused text or number, and why. A refused key is reported at its object,
        named as JSON escapes it (it cannot be shown as it is): `the key "\\ud800": text cannot
        contain …`.
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
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"a number must be finite, not {item} (JSON has no NaN or Infinity)"
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in reversed(list(enumerate(item))))
    return None
