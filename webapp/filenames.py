"""Names for downloaded files that say which view they hold, so that several can be told apart."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

MAX_SLUG = 100
"""Characters a view's part of a file name may take: file systems allow 255 for the whole name."""

_UNSAFE = re.compile(r"[^\w,.-]+")
"""What a file name may not safely hold (spaces, slashes, colons, quotes): letters of any script,
digits, `_`, `,`, `.` and `-` stay."""


def file_slug(parts: Iterable[str]) -> str:
    """The parts joined by `_` with anything a file name may not safely hold (spaces, slashes, colons,
    quotes) made `-`, cut to `MAX_SLUG`, and ending in `-` to keep it apart from what follows; empty
    when there are no parts (the whole, unfiltered view). Letters of any script stay: `attachment`
    writes them for the browsers that read UTF-8 names, and an ASCII spelling for the others."""
    slug = _UNSAFE.sub("-", "_".join(parts)).strip("-_")[:MAX_SLUG]
    return f"{slug}-" if slug else ""


def attachment(filename: str) -> str:
    """A `Content-Disposition` that saves the download as `filename`.

    `filename` holds it in ASCII, accents dropped (`über-café` → `uber-cafe`) and other letters left
    out, for every client; when that is not the name itself, RFC 6266's `filename*` adds it in
    UTF-8 (RFC 5987), which browsers prefer: a search for `über café` is saved under those words.
    """
    decomposed = unicodedata.normalize("NFKD", filename)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    ascii_name = re.sub(r"-*[^A-Za-z0-9,._-]+-*", "-", plain)
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
