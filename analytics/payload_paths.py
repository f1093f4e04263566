"""Paths into a payload's nested values, as the catalog's rows name them, for the audit log's search.

A path is written as the catalog names a nested model's fields: `payment_method.kind` is the `kind` of
the object `payment_method` holds (at any depth: `a.b.c`), and `line_items[].sku` the `sku` of any item
of the list `line_items` (`[]` after a list's name; `a[].b.c`, `a[][].b` for a list of lists, and
`tags[]` for any item of a list of plain values). A property's own name is a path of one step.

A name followed by `.` reads an object, or each item of a list of them, as MongoDB's and
Elasticsearch's dotted paths do: `line_items.sku` finds the `sku` of the object `line_items` holds or
of any of its items, so a search written without the `[]` still finds what the catalog spells
`line_items[].sku`. `[]` says "a list's items" and reads nothing else (`payment_method[].kind` is not
the `kind` of an object), and the value a path ends at is compared as it is (`tags = vip` is not an
item of the list `tags`: that is `tags[] = vip`). `spellings` lists the paths with every such step
made explicit, which the queries read one by one.

A name of letters, digits and `_` (in Unicode's sense: `größe`, `名前`, an accent written as a combining
mark) is a step as it is, so a search spells the same path the catalog page shows. Any other key an
off-schema property may have (`E-Mail`, `a.b`, `my key`) is a step in JSON's double quotes: `"E-Mail"`,
`address."post-code"`, with JSON's escapes for a quote or a backslash in it (`"say \\"hi\\""`). Only the
key `[]` cannot be searched: it would read as a list's items. `analytics.nested` spells
personal data's paths without the `[]` (`line_items.email`): `dotted` turns one of these into that form.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from analytics.storable_text import check_storable

ITEMS = "[]"
"""The step into each item of a list; no key can be spelt so (`parse_path` refuses a quoted `"[]"`)."""

MAX_STEPS = 32
"""How many steps a path may have. Real properties nest a few levels; each list step is one more
nested subquery on SQLite, and a few dozen stay far within its and SQLAlchemy's nesting limits."""

MAX_DOTTED = 6
"""How many names followed by `.` a path may have. Each may read an object or a list, so a path stands
for two to the power of that many `spellings`, each one more containment test on PostgreSQL and one
more condition on SQLite: 64 at most, for a property nested deeper than any real one is."""

RULE = (
    'names of letters, digits and _ (any script), or any other key in double quotes ("E-Mail"), '
    "with . before a field of an object (payment_method.kind) and [] after a list's name for any of "
    "its items (line_items[].sku)"
)
"""What a path is, in the words of the error that refuses one."""


def parse_path(text: str) -> tuple[str, ...]:
    """The steps of a path: keys, and `ITEMS` where it goes into a list's items.

    Raises:
        ValueError: it is not a path, saying what one is; or a key holds text no payload can (a NUL, a
            surrogate: `analytics.storable_text`).
    """
    steps = _steps(text)
    if steps is None:
        raise ValueError(f"{text!r} is not a property name or path: {RULE}")
    for step in steps:
        # A quoted key's escapes may spell a NUL or a lone surrogate, which no payload holds and no
        # database takes as a bind (PostgreSQL refuses the NUL, UTF-8 the surrogate).
        try:
            check_storable(step)
        except ValueError as exc:
            raise ValueError(f"no entry can hold the key {json.dumps(step)}: {exc}") from None
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{text!r} is too deep a path: at most {MAX_STEPS} names and []")
    if sum(_dotted(steps, at) for at in range(len(steps))) > MAX_DOTTED:
        raise ValueError(
            f"{text!r} is too deep a path: at most {MAX_DOTTED} names followed by . "
            "(each reads an object or a list's items; write [] after a list's name to say which)"
        )
    return steps


def split_search(text: str) -> tuple[str, str, str]:
    """`text.partition("=")`, but at the first `=` outside a quoted key (`"a=b" = x`); with no such `=`
    (a quote left open), at the first `=`, so that the key, not the form of the search, is refused."""
    quoted = False
    at = 0
    while at < len(text):
        char = text[at]
        if char == "\\" and quoted:
            at += 1
        elif char == '"':
            quoted = not quoted
        elif char == "=" and not quoted:
            return text[:at], "=", text[at + 1 :]
        at += 1
    return text.partition("=")


def _steps(text: str) -> tuple[str, ...] | None:
    """The steps `text` spells, or None when it spells no path."""
    steps: list[str] = []
    at = 0
    while True:
        key, at = _key(text, at)
        if key is None:
            return None
        steps.append(key)
        while text.startswith(ITEMS, at):
            steps.append(ITEMS)
            at += len(ITEMS)
        if at == len(text):
            return tuple(steps)
        if text[at] != ".":
            return None
        at += 1


def _key(text: str, at: int) -> tuple[str | None, int]:
    """The key that starts at `at` (a name, or a JSON string) and where it ends; None if none does."""
    if text.startswith('"', at):
        try:
            key, end = _JSON_TEXT.raw_decode(text, at)
        except ValueError:
            return None, at
        if not isinstance(key, str):
            return None, at
        if key == ITEMS:
            raise ValueError(f"{text!r}: the key [] cannot be searched (it reads as a list's items)")
        return key, end
    end = at
    while end < len(text) and _in_name(text[end], first=end == at):
        end += 1
    return (text[at:end], end) if end > at else (None, at)


def _in_name(char: str, *, first: bool) -> bool:
    """Whether `char` may stand in an unquoted name: a letter or `_` first, then also digits and
    combining marks (an accent typed as one: `é` as `e` and U+0301)."""
    if char == "_" or char.isalpha():
        return True
    return not first and (char.isalnum() or unicodedata.category(char).startswith("M"))


_JSON_TEXT = json.JSONDecoder()


def _dotted(steps: tuple[str, ...], at: int) -> bool:
    """Whether the step at `at` is a name followed by `.` (another name), which may read a list."""
    return steps[at] != ITEMS and at + 1 < len(steps) and steps[at + 1] != ITEMS


def spellings(steps: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every path `steps` stands for, with each name followed by `.` read as an object and as a list:
    `line_items.sku` is `line_items.sku` and `line_items[].sku`; a path without such a name is itself.

    The queries test each one (PostgreSQL's containment cannot say "an object or a list" in one
    document) and a payload matches when one holds the value, so both databases read the same paths.
    """
    found: list[tuple[str, ...]] = [()]
    for at, step in enumerate(steps):
        found = [(*path, step) for path in found] + (
            [(*path, step, ITEMS) for path in found] if _dotted(steps, at) else []
        )
    return found


def last_key(steps: tuple[str, ...]) -> str:
    """The key a path ends at (for `tags[]`, the list's own)."""
    return next(step for step in reversed(steps) if step != ITEMS)


def dotted(steps: tuple[str, ...]) -> str:
    """The path as `analytics.nested` spells it, without the items' `[]` (`line_items.email`)."""
    return ".".join(step for step in steps if step != ITEMS)


def containing(steps: tuple[str, ...], value: Any) -> Any:
    """The smallest JSON value that holds `value` at the path: `{"line_items": [{"sku": value}]}`.

    PostgreSQL's JSONB containment (`@>`) then means "the value sits there": an object contains
    another whose keys it has with contained values, and an array contains another whose every item
    is contained in one of its own, so `[{"sku": value}]` is "some item has that `sku`". Below the top,
    containment keeps the structure (an array does not contain a plain value, nor an object an array),
    so an object is not mistaken for a list, nor a list for one of its items.
    """
    for step in reversed(steps):
        value = [value] if step == ITEMS else {step: value}
    return value
