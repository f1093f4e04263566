"""Text the audit log can store and Segment can carry, checked when a spec or scope is built.

Two kinds of text pass a `str` field and are then refused after `track` has returned, when the
message is written (in batched mode, off the caller's thread: the receipt already said `pending`):

- a NUL character (`\\u0000`), which PostgreSQL cannot hold in text;
- a surrogate code point (`\\ud800` to `\\udfff`), which is not Unicode text: UTF-8 cannot encode
  it, so no database and no JSON request can carry it. Python makes one from undecodable bytes
  (`surrogateescape`, `os.fsdecode`), or from a JSON `\\ud800` escape that pairs with nothing.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_storable(text: str) -> str:
    """Return the text, or refuse it where the audit log would lose the message later.

    Raises:
        ValueError: the text holds a NUL character or a surrogate code point, named as an escape.
    """
    if "\x00" in text:
        raise ValueError("text cannot contain a NUL character (\\u0000)")
    if surrogate := _SURROGATE.search(text):
        raise ValueError(
            f"text cannot contain a surrogate code point (\\u{ord(surrogate.group()):04x}): it is not "
            "Unicode text, and can be neither stored nor sent (was it decoded with surrogateescape?)"
        )
    return text
