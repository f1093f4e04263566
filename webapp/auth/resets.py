"""Password reset links: an admin makes one for a person, who opens it to choose a new password.

The dashboard sends no mail, so the admin passes the link on by a private channel, as they would a
first password. The link is signed with `SECRET_KEY` (itsdangerous) and names the account and a
stamp of its password hash and its reset nonce (`User.reset_nonce`, a random value each new link
replaces). So a link works once (setting the password changes the hash and clears the nonce), and
stops working when a newer link is made, when the password changes another way, when the account
is disabled (which clears the nonce: enabling it again does not revive the link), and when it is
older than `PASSWORD_RESET_LIFETIME`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from webapp.auth.identity import password_stamp
from webapp.auth.models import User
from webapp.extensions import db

_SALT = "event-catalog password reset"


NOT_VALID = (
    "This reset link is not valid: it was not copied whole, or the dashboard's key changed since it was "
    "made (which voids every open link). Check the link, or ask an admin for a new one."
)
"""A link whose signature fails: the signature tells a damaged link from one signed with a former
`SECRET_KEY` no better than from a forged one, so the page names both common causes."""


class ResetLinkError(ValueError):
    """A reset link that cannot be used; the message is one sentence for the person holding it."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt=_SALT)


def _stamp(user: User) -> str | None:
    """What a link must carry to be the account's current one; None when it has none."""
    if user.reset_nonce is None:
        return None
    return hashlib.sha256(f"{password_stamp(user)}:{user.reset_nonce}".encode()).hexdigest()[:16]


def reset_token(user: User) -> str:
    """The token of a new reset link for `user` (the part of the link after `/reset/`); any link
    made before for the account stops working."""
    user.reset_nonce = secrets.token_hex(16)
    db.session.commit()
    return str(_serializer().dumps([user.id, _stamp(user)]))


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
        raise ResetLinkError(NOT_VALID) from None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise ResetLinkError("The account of this reset link no longer exists.")
    if not user.active:
        raise ResetLinkError("This account is disabled. Ask an admin to enable it.")
    current = _stamp(user)
    if current is None or not hmac.compare_digest(str(stamp), current):
        raise ResetLinkError(
            "This reset link was already used, a newer one was made, or the password changed since. "
            "Ask an admin for a new one."
        )
    return user
