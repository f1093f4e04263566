"""Words in sentences: counts ("1 entry", "2 entries"), since a wrong plural reads like a wrong
number, and messages opening a sentence.

The dashboard's templates use the same rules through its `counted` and `noun` filters, so a page and
the CLI never disagree on a plural."""

from __future__ import annotations


def noun(count: int, singular: str) -> str:
    """The form of a regular noun that agrees with `count`, for sentences that write the number
    themselves (`500+ entries`, `More than 1 entry`)."""
    if count == 1:
        return singular
    if singular.endswith("y") and singular[-2:-1] not in tuple("aeiou"):
        return f"{singular[:-1]}ies"
    return f"{singular}s"


def counted(count: int, singular: str, *, grouped: bool = False) -> str:
    """`count` and the noun that agrees with it, for the regular nouns summaries use.

    Args:
        count: how many.
        singular: the noun, or words ending with it (`new entry`): only the last one agrees.
        grouped: write thousands with commas (`1,234 entries`), as the audit pages' totals do.
    """
    number = f"{count:,}" if grouped else f"{count}"
    return f"{number} {noun(count, singular)}"


def sentence(text: str) -> str:
    """Text opening a sentence: its first letter upper-case and the rest as it is (Jinja's
    `capitalize` lowers the rest, and wrote `audit_encryption_key` for `AUDIT_ENCRYPTION_KEY`)."""
    return text[:1].upper() + text[1:]
