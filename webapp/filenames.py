"""Names for downloaded files that say which view they hold, so that several can be told apart."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import groupby
from urllib.parse import quote

MAX_SLUG_BYTES = 150
"""UTF-8 bytes a view's part of a file name may take. File systems allow 255 bytes for a whole name
(ext4, APFS), not 255 characters: 100 Japanese characters are 300 bytes, and the browser then fails
to save the file. The rest of a name (`audit-`, the time or version, the extension) takes about 40."""

_KEPT = ",.-_"
"""What a file name may hold besides letters, digits and marks of any script."""


def file_slug(parts: Iterable[str]) -> str:
    """The parts joined by `_` with anything a file name may not safely hold (spaces, slashes, colons,
    quotes) made `-`, cut to `MAX_SLUG_BYTES`, and ending in `-` to keep it apart from what follows;
    empty when there are no parts (the whole, unfiltered view). Letters of any script stay, with their
    combining marks (`é` typed as `e` and U+0301, Devanagari's vowel signs): `attachment` writes them
    for the browsers that read UTF-8 names, and an ASCII spelling for the others."""
    runs = groupby("_".join(parts), _safe)
    text = "".join("".join(chars) if safe else "-" for safe, chars in runs)
    slug = _cut(text.strip("-_"), MAX_SLUG_BYTES).rstrip("-_")
    return f"{slug}-" if slug else ""


def _safe(char: str) -> bool:
    return char.isalnum() or char in _KEPT or unicodedata.category(char).startswith("M")


def _cut(text: str, limit: int) -> str:
    """`text` within `limit` UTF-8 bytes, never between a letter and the combining marks on it."""
    if len(text.encode()) <= limit:
        return text
    kept = text.encode()[:limit].decode(errors="ignore")
    while kept and unicodedata.category(text[len(kept)]).startswith("M"):
        kept = kept[:-1]
    return kept


def attachment(filename: str) -> str:
    """A `Content-Disposition` that saves the download as `filename`.

    `filename` holds it in ASCII, accents dropped (`über-café` → `uber-cafe`) and other letters left
    out (a run of them one `-`), for every client; when that is not the name itself, RFC 6266's
    `filename*` adds it in UTF-8 (RFC 5987), which browsers prefer: a search for `über café` is saved
    under those words.
    """
    decomposed = unicodedata.normalize("NFKD", filename)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    ascii_name = re.sub(r"-*(?:[^A-Za-z0-9,._-]+-*)+", "-", plain)
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
