"""Rows by the id a request names: an id past its column's range is no such row, not a database error.

An address or a query string can name any whole number (`/users/9223372036854775808/disable`).
Handed to the database, one past the id column's range fails the query: SQLite's driver raises
OverflowError past 64 bits, and PostgreSQL answers `integer out of range` past 32 bits for the
`integer` ids (`users.id`, `api_tokens.id`). Either was a 500 where a small unknown id is a 404.
No row can have such an id, so none is looked for.

A name or id an address holds is repeated in its 404 at most `ECHOED` characters long (`echoed`).
"""

from __future__ import annotations

import functools
from typing import TypeVar

from flask import abort
from sqlalchemy import BigInteger, SmallInteger, inspect

from webapp.extensions import db

Row = TypeVar("Row")

ECHOED = 100
"""Characters of a typed name or id that a refusal repeats: a message id is 36, an event string well
under 100; an address holding 5000 characters had its 404 repeat all of them."""


def echoed(text: str) -> str:
    """`text` as a refusal repeats it: its first `ECHOED` characters, an ellipsis for the rest."""
    return text if len(text) <= ECHOED else f"{text[: ECHOED - 1]}…"


@functools.cache
def _id_bits(model: type) -> int:
    """The bits of a model's integer id as PostgreSQL stores it; SQLite stores any of them in 64."""
    id_type = inspect(model).primary_key[0].type
    if isinstance(id_type, BigInteger):
        return 64
    if isinstance(id_type, SmallInteger):
        return 16
    return 32


def id_fits(model: type, ident: int) -> bool:
    """Whether `ident` is within the range of the model's id column, so that a row might have it."""
    bound = 2 ** (_id_bits(model) - 1)
    return -bound <= ident < bound


def get_row(model: type[Row], ident: int) -> Row | None:
    """The row with this id, or None (`db.session.get`, for any whole number a request names)."""
    return db.session.get(model, ident) if id_fits(model, ident) else None


def get_row_or_404(model: type[Row], ident: int) -> Row:
    """The row with this id, or a 404 (`db.get_or_404`, for any whole number a request names)."""
    row = get_row(model, ident)
    if row is None:
        abort(404)
    return row
