"""Password reset links: an admin makes one for a person, who opens it to choose a new password.

The dashboard sends no mail, so the admin passes the link on by a private channel, as they would a
first password. Nothing is stored: the link is signed with `SECRET_KEY` (itsdangerous) and names
the account and a stamp of its password hash at the time. Setting a password changes the hash, so
a link works once; it also stops working when the person changes their password another way, when
it is older than `PASSWORD_RESET_LIFETIME`, or while the account is disabled.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from webapp.auth.identity import password_stamp
from webapp.auth.models import User
from webapp.extensions import db

_SALT = "event-catalog password reset"


class ResetLinkError(ValueError):
    """A reset link that cannot be used; the message is one sentence for the person holding it."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt=_SALT)


def reset_token(user: User) -> str:
    """The token of a new reset link for `user` (the part of the link after `/reset/`)."""
    return str(_serializer().dumps([user.id, password_stamp(user)]))


def user_for_reset(token: str) -> User:
    """The account a reset link may set the password of.

    Raises:
        ResetLinkError: the link is forged or damaged, too old, already used (or the password
            changed since), or its account is gone or disabled.
    """
    lifetime = current_app.config["PASSWORD_RESET_LIFETIME"].total_seconds()
    try:
        user_id, stamp = _serializer().loads(token, max_age=lifetime)
    except SignatureExpired:
        raise ResetLinkError("This reset link has expired. Ask an admin for a new one.") from None
    except (BadSignature, TypeError, ValueError):
        raise ResetLinkError("This is not a valid reset link: check that it was copied whole.") from None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise ResetLinkError("The account of this reset link no longer exists.")
    if stamp != password_stamp(user):
        raise ResetLinkError(
            "This reset link was already used, or the password changed since it was made. "
            "Ask an admin for a new one."
        )
    if not user.active:
        raise ResetLinkError("This account is disabled. Ask an admin to enable it.")
    return user
