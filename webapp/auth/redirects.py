"""Where a `next=` parameter may send people: only to a path on this site (no open redirects)."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`.

    Refuses absolute URLs, scheme-relative `//host`, and the forms browsers turn into them:
    backslashes (`/\\host`) and control characters (`/\\t/host`: browsers drop tabs and newlines).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
