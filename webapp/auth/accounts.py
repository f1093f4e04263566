"""Accounts as plain functions, shared by the sign-in pages, the users page and `event-catalog users`.

Every change a person makes is recorded in the audit log with its actor (`analytics.actions`).
Changes are committed before they are recorded: on SQLite the audit write uses its own
connection, which would wait on the session's write lock if the session still held it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, false, func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from analytics.actions import record_action
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db
from webapp.readable_names import code_points, hidden, invisible, unreadable

MIN_PASSWORD_LENGTH = 12
# scrypt hashes any length, but a hostile form must not make every request hash megabytes.
MAX_PASSWORD_LENGTH = 1024
MAX_DISPLAY_NAME_LENGTH = 255
"""The `users.display_name` column's length: PostgreSQL refuses more (SQLite would store any)."""
# Deliberately loose: the address is a sign-in name, not something we mail to.
_EMAIL = re.compile(r'^[^@\s<>()\[\]\\,;:"\x00-\x1f\x7f]+@[^@\s<>()\[\]\\,;:"\x00-\x1f\x7f]+$')
"""One `@`, and none of the characters an unquoted address cannot hold (`<script>@x.com` is refused),
control characters included (an ESC or a backspace would rewrite a terminal that prints the address)."""


class AccountError(ValueError):
    """A request about an account that cannot be carried out; the message is one line for a person."""


def fold_email(raw: str) -> str:
    """`raw` trimmed, lower-case and in Unicode's composed form (NFC): `josé` typed as one character
    or as `e` + a combining accent (what some keyboards and macOS file names give) is one address.

    What finds an account (`normalise_email`) and what keys its failed sign-ins
    (`webapp.limits`): one form for both, so each spelling of an address is not its own budget.
    """
    return unicodedata.normalize("NFC", raw.strip().lower())


def normalise_email(raw: str) -> str:
    """The stored form of an email: trimmed, lower-case, composed (NFC).

    The email is the audit log's actor and is shown on every page: an invisible character in it
    (a zero-width space, a direction control) would make a second account read as another one's.

    Raises:
        AccountError: it does not look like an email address, or holds an invisible character.
    """
    email = fold_email(raw)
    hidden = invisible(email)
    if hidden:
        raise AccountError(
            f"{raw.strip()!r} is not an email address: it holds an invisible character "
            f"({code_points(hidden)}) that makes it read as another address"
        )
    if not _EMAIL.match(email) or len(email) > 255:
        raise AccountError(f"{raw.strip()!r} is not an email address")
    return email


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, too long to hash cheaply, or not text: bytes
    that are not UTF-8 (read from a pipe or a terminal) cannot be hashed, nor typed again at sign-in.

    Raises:
        AccountError: saying which bound was missed.
    """
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise AccountError("the password must be UTF-8 text") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(set(password)) < 2:
        raise AccountError("the password must not be one character repeated")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """werkzeug's scrypt hash, salted; the only form a password is ever stored in."""
    return generate_password_hash(password, method="scrypt")


@functools.cache
def _decoy_hash() -> str:
    return hash_password("decoy password, never matches anything typed")


def users_query() -> Select[User]:
    """Every account, by email."""
    return select(User).order_by(User.email)


def active_admins_query() -> Select[Any]:
    """How many enabled accounts are admins."""
    return select(func.count(User.id)).where(User.role == Role.ADMIN, User.disabled_at.is_(None))


def find_user(email: str) -> User | None:
    """The account with this (normalised) email, if any.

    An account stored before emails were composed (NFC) may hold the decomposed form: a non-ASCII
    email that matches no row exactly is compared composed with every account's (a short list).
    """
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is not None or email.isascii():
        return user
    stored = db.session.scalars(users_query())
    return next((user for user in stored if unicodedata.normalize("NFC", user.email) == email), None)


def has_users() -> bool:
    """Whether any account exists yet (none: the first visit offers to create the admin)."""
    return db.session.scalars(select(User.id).limit(1)).first() is not None


def get_user(email: str) -> User:
    """The account with this email; an account stored before a rule on emails (an invisible
    character) is found as it is stored, so that an admin can still disable it or change it.

    Raises:
        AccountError: there is none.
    """
    user = db.session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        user = find_user(normalise_email(email))
    if user is None:
        raise AccountError(f"there is no account {email.strip()!r}")
    return user


def new_email(email: str) -> str:
    """`email` normalised, for an account to be created: checked before a password is asked for.

    Raises:
        AccountError: a bad email, or one that already has an account.
    """
    email = normalise_email(email)
    if find_user(email) is not None:
        raise AccountError(f"{email} already has an account")
    return email


def checked_display_name(raw: str | None) -> str | None:
    """A display name trimmed, None for none: checked before a password is asked for.

    It greets its account in the header and names it on the users page, so, as an email, it holds
    no invisible format character (a zero-width space, a byte-order mark: `Ada\u200b` reads as
    `Ada`), but the zero-width joiner and non-joiner, which emoji sequences (`👩\u200d💻`) and
    Persian or Indic words (`می\u200cخواهم`) need (`webapp.readable_names.hidden`).

    Raises:
        AccountError: it would not read as typed (`webapp.readable_names`), or is longer than
            `MAX_DISPLAY_NAME_LENGTH`.
    """
    problem = unreadable(raw or "") or hidden(raw or "")
    if problem is not None:
        raise AccountError(f"display name: {problem}")
    name = (raw or "").strip()
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise AccountError(
            f"display name: a name must have at most {MAX_DISPLAY_NAME_LENGTH} characters (this one has "
            f"{len(name)})"
        )
    return name or None


def audit(name: str, *, actor: str, properties: Mapping[str, Any], user_id: str | None = None) -> None:
    """Record an account action in the audit log; `user_id` is the application's user it is about."""
    record_action(analytics_client.store(), name, actor=actor, properties=properties, user_id=user_id)


def add_user(
    email: str, password: str | None, role: Role, *, actor: str, display_name: str | None = None
) -> User:
    """Create an account; `password` None makes one that signs in only through the sign-in proxy.

    Raises:
        AccountError: a bad email, display name or password, or the email already has an account.
    """
    email = new_email(email)
    name = checked_display_name(display_name)
    if password is not None:
        check_password(password)
    user = User(
        email=email,
        display_name=name,
        password_hash=hash_password(password) if password is not None else None,
        role=role,
        created_at=datetime.now(UTC),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError(f"{email} already has an account") from None
    audit("User Added", actor=actor, properties={"email": email, "role": str(role)})
    return user


def provision(email: str, role: Role, *, actor: str) -> User:
    """The proxy's user, created with the default role on their first request.

    Two first requests can race; the loser finds the winner's account.
    """
    try:
        return add_user(email, None, role, actor=actor)
    except AccountError:
        user = find_user(email)
        if user is None:
            raise
        return user


def _lock_admins() -> None:
    """Hold the active admins until this transaction ends, so that two changes cannot each count them.

    Two admins demoting or disabling each other at the same moment each counted two active admins
    and each committed, leaving none. PostgreSQL locks the active admins' rows (in id order, so
    that two requests queue rather than deadlock), and a request that waited counts again what
    the other committed. SQLite has no row locks: a write that matches nothing takes the file's
    write lock, which the other request then waits for (the busy timeout) before it counts.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(User).where(false()).values(role=User.role))
        return
    active = select(User.id).where(User.role == Role.ADMIN, User.disabled_at.is_(None))
    db.session.execute(active.order_by(User.id).with_for_update())


def _keep_an_admin(user: User) -> None:
    """Lock the admins and read `user` again (another request may have changed it meanwhile).

    Raises:
        AccountError: `user` is the last active admin (the lock is released).
    """
    _lock_admins()
    db.session.refresh(user)
    if user.role is Role.ADMIN and user.active and int(db.session.scalar(active_admins_query()) or 0) <= 1:
        db.session.rollback()
        raise AccountError(f"{user.email} is the last active admin: make another account admin first")


def set_role(email: str, role: Role, *, actor: str) -> User:
    """Change an account's role; it applies from the account's next request.

    Raises:
        AccountError: no such account, or it is the last active admin being demoted.
    """
    user = get_user(email)
    if user.role is role:
        return user
    _keep_an_admin(user)
    previous = user.role
    if previous is role:
        db.session.rollback()
        return user
    user.role = role
    db.session.commit()
    audit(
        "User Role Changed",
        actor=actor,
        properties={"email": user.email, "from": str(previous), "to": str(role)},
    )
    return user


def disable_user(email: str, *, actor: str) -> User:
    """Stop an account from signing in; its open sessions end on their next request.

    Raises:
        AccountError: no such account, or it is the last active admin.
    """
    user = get_user(email)
    if not user.active:
        return user
    _keep_an_admin(user)
    if not user.active:
        db.session.rollback()
        return user
    user.disabled_at = datetime.now(UTC)
    user.reset_nonce = None  # its reset links stay void when the account is enabled again
    db.session.commit()
    audit("User Disabled", actor=actor, properties={"email": user.email})
    return user


def enable_user(email: str, *, actor: str) -> User:
    """Let a disabled account sign in again.

    Raises:
        AccountError: no such account.
    """
    user = get_user(email)
    if user.active:
        return user
    user.disabled_at = None
    db.session.commit()
    audit("User Enabled", actor=actor, properties={"email": user.email})
    return user


def set_password(email: str, password: str, *, actor: str, via: str = "command line") -> User:
    """Replace an account's password; sessions signed in with the old one end, and so do reset links.

    Args:
        via: how it was set, for the audit entry (`command line`, `account page`, `reset link`).

    Raises:
        AccountError: no such account, or a password out of bounds.
    """
    user = get_user(email)
    check_password(password)
    user.password_hash = hash_password(password)
    user.reset_nonce = None
    db.session.commit()
    audit("User Password Changed", actor=actor, properties={"email": user.email, "via": via})
    return user


def has_password(user: User, password: str) -> bool:
    """Whether `password` is the account's password (an account without one has none to match)."""
    if user.password_hash is None:
        check_password_hash(_decoy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def authenticate(email: str, password: str) -> tuple[User | None, str]:
    """Check a sign-in attempt.

    Returns:
        The account and "" on success; otherwise None and the reason, for the audit log only
        (people are told the same thing whatever it was, so the form does not reveal who has an
        account). A disabled account is named as such only to someone who knew its password.
    """
    try:
        user = find_user(normalise_email(email))
    except AccountError:
        user = None
    if user is None:
        # The same work as a real check, so the answer's timing does not reveal who has an account.
        check_password_hash(_decoy_hash(), password)
        return None, "unknown account"
    if not has_password(user, password):
        return None, "wrong password" if user.password_hash is not None else "account has no password"
    if not user.active:
        return None, "account disabled"
    mark_signed_in(user)
    return user, ""


def mark_signed_in(user: User) -> None:
    """Note when the account last signed in (the users page and `users list` show it)."""
    user.last_login_at = datetime.now(UTC)
    db.session.commit()
