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

Only names of letters, digits and `_` are steps, so a path never needs quoting, and a search spells the
same path the catalog page shows. `analytics.nested` spells personal data's paths without the `[]`
(`line_items.email`): `dotted` turns one of these into that form.
"""

from __future__ import annotations

import re
from typing import Any

ITEMS = "[]"
"""The step into each item of a list; no key can be spelt so (`_NAME` refuses the brackets)."""

MAX_STEPS = 32
"""How many steps a path may have. Real properties nest a few levels; each list step is one more
nested subquery on SQLite, and a few dozen stay far within its and SQLAlchemy's nesting limits."""

MAX_DOTTED = 6
"""How many names followed by `.` a path may have. Each may read an object or a list, so a path stands
for two to the power of that many `spellings`, each one more containment test on PostgreSQL and one
more condition on SQLite: 64 at most, for a property nested deeper than any real one is."""

RULE = (
    "names of letters, digits and _, with . before a field of an object (payment_method.kind) "
    "and [] after a list's name for any of its items (line_items[].sku)"
)
"""What a path is, in the words of the error that refuses one."""

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"{_NAME}(\[\])*(\.{_NAME}(\[\])*)*")
_STEP = re.compile(rf"{_NAME}|\[\]")


def parse_path(text: str) -> tuple[str, ...]:
    """The steps of a path: keys, and `ITEMS` where it goes into a list's items.

    Raises:
        ValueError: it is not a path, saying what one is.
    """
    if not _PATH.fullmatch(text):
        raise ValueError(f"{text!r} is not a property name or path: {RULE}")
    steps = tuple(_STEP.findall(text))
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{text!r} is too deep a path: at most {MAX_STEPS} names and []")
    if sum(_dotted(steps, at) for at in range(len(steps))) > MAX_DOTTED:
        raise ValueError(
            f"{text!r} is too deep a path: at most {MAX_DOTTED} names followed by . "
            "(each reads an object or a list's items; write [] after a list's name to say which)"
        )
    return steps


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
