"""Personal API tokens as plain functions, shared by the API tokens page and `event-catalog users token`.

A token is `ect_` + 32 random bytes (`secrets.token_urlsafe`), shown once; only its SHA-256 is
kept, which is enough to find it again from a request and useless to anyone who reads the
database. Creating and revoking a token are recorded in the audit log like the other account
changes (`accounts.audit`), with the token's name and prefix, never the token. As there, the
change is committed before it is recorded.

A token expires `DEFAULT_LIFETIME_DAYS` after it is made unless its maker chooses another lifetime
or none: a token copied into a CI job outlives the job's memory, and one nobody revokes should
not work for ever by default.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from analytics.durations import format_instant
from analytics.wording import sentence
from webapp.auth import accounts
from webapp.auth.models import ApiToken, User
from webapp.extensions import db
from webapp.lookups import get_row
from webapp.readable_names import hidden, unreadable

TOKEN_PREFIX = "ect_"
"""What every token starts with, so secret scanners and people can tell what it is."""

SHOWN_PREFIX_LENGTH = 8
"""How much of a token lists show to recognise it: `ect_` and four random characters."""

MAX_NAME_LENGTH = 100

DEFAULT_LIFETIME_DAYS = 90
"""How long a token works when its maker does not choose: a quarter, long enough that a CI job is
not re-keyed every month, short enough that a forgotten copy stops working."""

MAX_LIFETIME_DAYS = 3650
"""The longest lifetime in days (ten years): longer is what "no expiry" is for, and a bound keeps a
mistyped number from overflowing the date."""


class TokenError(ValueError):
    """A request about a token that cannot be carried out; the message is one line for a person."""

    def sentence(self) -> str:
        """The message as a sentence on a page: a capital and a full stop (the name's case kept)."""
        message = str(self)
        return f"{sentence(message)}."


@dataclass(frozen=True)
class NewToken:
    """A token just created: the only time its secret exists outside the caller's hands.

    Attributes:
        record: the stored row (hash and prefix, never the token).
        secret: the token itself, to show once.
    """

    record: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    """The stored form of a token: SHA-256, hex. Tokens are random, so no salt or slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(raw: str) -> str:
    """A token's name, trimmed.

    The tokens page and `users token list` tell an account's tokens apart by their names, so a name
    holds no invisible format character (`ci\u200b` would read as `ci`), but the zero-width joiner
    and non-joiner that emoji and some scripts need (`webapp.readable_names.hidden`).

    Raises:
        TokenError: it is empty, longer than `MAX_NAME_LENGTH`, would not read as typed, or holds an
            invisible character (`webapp.readable_names`).
    """
    name = raw.strip()
    if not name:
        raise TokenError("give the token a name, e.g. the script or CI job that will use it")
    if len(name) > MAX_NAME_LENGTH:
        raise TokenError(f"the name must have at most {MAX_NAME_LENGTH} characters")
    problem = unreadable(name) or hidden(name)
    if problem is not None:
        raise TokenError(problem)
    return name


def check_lifetime(days: int | None) -> timedelta | None:
    """How long a token will work: `days` days, or None (no expiry) for None.

    Raises:
        TokenError: `days` is below 1 or above `MAX_LIFETIME_DAYS`.
    """
    if days is None:
        return None
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        raise TokenError(
            f"a token's lifetime is 1 to {MAX_LIFETIME_DAYS} days, not {days}: "
            "for a token that works until revoked, choose no expiry"
        )
    return timedelta(days=days)


def tokens_query(user: User | None = None) -> Select[ApiToken]:
    """Every token (or one account's), not revoked ones first (expired ones among them), newest first
    within each group."""
    query = select(ApiToken)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return query.order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())


def find_by_secret(secret: str) -> ApiToken | None:
    """The token a request presents, revoked or not, or None when no token has that hash."""
    return db.session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(secret))).first()


def _duplicate(user: User, name: str, holder: ApiToken | None = None) -> TokenError:
    if holder is not None and holder.expired:
        # The name stays taken until revoked: the unique index cannot read the clock.
        return TokenError(
            f"an expired token of {user.email} is still named {name!r}: revoke it, or choose another name"
        )
    return TokenError(f"an active token of {user.email} is already named {name!r}: choose another name")


def create_token(
    user: User, raw_name: str, *, actor: str, lifetime_days: int | None = DEFAULT_LIFETIME_DAYS
) -> NewToken:
    """Create a token for `user` that works for `lifetime_days` days (None: until revoked).

    Raises:
        TokenError: a bad name or lifetime, or one of the account's tokens that are not revoked
            already has the name.
    """
    name = check_name(raw_name)
    lifetime = check_lifetime(lifetime_days)
    taken = select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked_at.is_(None)
    )
    holder = db.session.scalars(taken).first()
    if holder is not None:
        raise _duplicate(user, name, holder)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    record = ApiToken(
        user=user,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        token_hash=token_hash(secret),
        created_at=now,
        expires_at=now + lifetime if lifetime is not None else None,
    )
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate(user, name) from None
    accounts.audit(
        "API Token Created",
        actor=actor,
        properties={**_described(record), "expires_at": format_instant(record.expires_at)},
    )
    return NewToken(record, secret)


def get_token(token_id: int) -> ApiToken:
    """The token with this id.

    Raises:
        TokenError: there is none.
    """
    record = get_row(ApiToken, token_id)
    if record is None:
        raise TokenError(f"there is no API token {token_id}")
    return record


def revoke_token(record: ApiToken, *, actor: str) -> bool:
    """Revoke a token; requests that present it are refused from now on.

    Returns:
        False when it was already revoked (nothing changes and nothing is recorded).
    """
    if not record.active:
        return False
    record.revoked_at = datetime.now(UTC)
    db.session.commit()
    accounts.audit("API Token Revoked", actor=actor, properties=_described(record))
    return True


def _described(record: ApiToken) -> dict[str, str | int]:
    """What the audit log says about a token: whose, which, never the token."""
    return {"email": record.user.email, "token_id": record.id, "name": record.name, "prefix": record.prefix}
