"""Counts in sentences ("1 entry", "2 entries"): summaries are read by people, and a wrong plural
reads like a wrong number."""

from __future__ import annotations


def counted(count: int, singular: str) -> str:
    """`count` and the noun that agrees with it, for the regular nouns summaries use."""
    if count == 1:
        return f"1 {singular}"
    if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
        return f"{count} {singular[:-1]}ies"
    return f"{count} {singular}s"
