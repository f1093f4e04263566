"""Words in sentences: counts ("1 entry", "2 entries"), since a wrong plural reads like a wrong
number, and messages opening a sentence."""

from __future__ import annotations


def counted(count: int, singular: str) -> str:
    """`count` and the noun that agrees with it, for the regular nouns summaries use."""
    if count == 1:
        return f"1 {singular}"
    if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
        return f"{count} {singular[:-1]}ies"
    return f"{count} {singular}s"


def sentence(text: str) -> str:
    """Text opening a sentence: its first letter upper-case and the rest as it is (Jinja's
    `capitalize` lowers the rest, and wrote `audit_encryption_key` for `AUDIT_ENCRYPTION_KEY`)."""
    return text[:1].upper() + text[1:]
