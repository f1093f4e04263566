"""Dashboard accounts: who may sign in, with which role, and since when they may not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

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
