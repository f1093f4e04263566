"""Names for downloaded files that say which view they hold, so that several can be told apart."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_SLUG = 100
"""Characters a view's part of a file name may take: file systems allow 255 for the whole name."""


def file_slug(parts: Iterable[str]) -> str:
    """The parts joined by `_` with anything a file name may not safely hold (spaces, slashes, colons,
    quotes) made `-`, cut to `MAX_SLUG`, and ending in `-` to keep it apart from what follows; empty
    when there are no parts (the whole, unfiltered view)."""
    slug = re.sub(r"[^A-Za-z0-9,._-]+", "-", "_".join(parts)).strip("-_")[:MAX_SLUG]
    return f"{slug}-" if slug else ""
