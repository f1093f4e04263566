"""How many terminal columns text takes, so that command-line tables line up in any script.

`str.ljust` counts characters, but a terminal gives a wide character (CJK, most emoji) two columns
and a combining mark, a zero-width joiner or a variation selector none: a token named `CI 東京`
pushed every later column two to the right. The width is read from Unicode's own tables
(`east_asian_width`, the general category), as `wcwidth` does for the common cases, without adding
a dependency for it.
"""

from __future__ import annotations

import unicodedata

_ZERO_WIDTH = frozenset({"Mn", "Me", "Cf"})
"""Categories drawn on the character before (marks) or not at all (format characters: ZWJ, ZWSP)."""


def display_width(text: str) -> int:
    """The columns `text` takes in a terminal: two per wide character, none per mark."""
    return sum(_columns(char) for char in text)


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` columns (`str.ljust` by display width)."""
    return text + " " * max(0, width - display_width(text))


def _columns(char: str) -> int:
    if unicodedata.category(char) in _ZERO_WIDTH:
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
