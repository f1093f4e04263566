"""Dashboard accounts: who may sign in, with which role, and since when they may not; their API tokens;
the sessions signed out before they expired."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from analytics.audit import partial_index
from analytics.durations import as_utc
from webapp.auth.roles import Role
from webapp.extensions import db


class User(db.Model):  # type: ignore[name-defined,misc]
    """A person who uses the dashboard.

    Attributes:
        email: the sign-in name, stored lower-case; unique.
        display_name: how the header greets them; the email when unset.
        password_hash: werkzeug's scrypt hash; None for accounts provisioned by the sign-in proxy.
        role: what they may do (`webapp.auth.roles`).
        disabled_at: when an admin disabled the account; a disabled account cannot sign in and
            its open sessions end on their next request.
        reset_nonce: what the account's current password reset link carries (`webapp.auth.resets`);
            replaced by each new link and cleared by disabling, which voids the links before.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda roles: [r.value for r in roles])
    )
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    reset_nonce: Mapped[str | None] = mapped_column(String(32))

    @property
    def name(self) -> str:
        """Who actions are recorded against (`webapp.actor.current_actor`): the email, being unique."""
        return self.email

    @property
    def label(self) -> str:
        """How pages greet the user."""
        return self.display_name or self.email

    @property
    def active(self) -> bool:
        """Whether the account may sign in."""
        return self.disabled_at is None


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A personal API token: lets a script act on the JSON API as its account (`webapp.auth.bearer`).

    Only the token's SHA-256 is stored, so a copy of the database lets no one call the API; the
    token itself is shown once, when it is created. A token has no role of its own: each request
    gets its account's role at that moment, so demoting or disabling the account applies at once.

    Attributes:
        user_id: the account the token acts as.
        name: what its owner called it (`ci`, `release script`); unique among the account's
            active tokens, so the list tells them apart.
        prefix: the token's first characters, shown in lists to recognise it (not a secret).
        token_hash: SHA-256 of the token, hex; how a request's token is looked up.
        last_used_at: when a request last used it, to the minute (`bearer.LAST_USED_EVERY`).
        expires_at: when it stops working by itself (None: never, as for every token made before
            migration 0017); an expired token is refused, stays listed and keeps its name until revoked.
        revoked_at: when it was revoked; a revoked token is refused and stays listed.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        # Two tabs submitting the same name at once must not both win the duplicate-name check.
        partial_index(
            "uq_api_tokens_user_id_name_active", "user_id", "name", where="revoked_at IS NULL", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        """Whether the token has not been revoked (it may still have expired, or its account be disabled)."""
        return self.revoked_at is None

    @property
    def expired(self) -> bool:
        """Whether the token's lifetime is over; SQLite hands its time back without a zone (UTC)."""
        return self.expires_at is not None and as_utc(self.expires_at) <= datetime.now(UTC)


class EndedSession(db.Model):  # type: ignore[name-defined,misc]
    """A browser session signed out before it expired.

    The session itself lives in Flask's signed cookie, which the server cannot take back: a copy of
    the cookie (a shared machine, a proxy's log) would sign its holder in until it expires. Each
    session carries a random id; signing out records it here, and a request with an ended id is
    anonymous. A row is needed only until its session would have expired anyway.

    Attributes:
        session_id: the id `webapp.auth.identity.sign_in` gave the session.
        expires_at: when the session would have ended by itself; later, the row is deleted.
    """

    __tablename__ = "ended_sessions"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
