"""Identify specs: who a user is, sent only on register, login and profile update.

Identify calls carry traits that describe the person, most of them personal data; the original
package kept them to these three moments so that traits are never sent from arbitrary code paths.
"""

from __future__ import annotations

from typing import Any

from analytics.scopes import UserScope
from analytics.spec import IdentifySpec, Team, prop


def _email() -> Any:
    return prop("The user's email address.", example="ada@example.com", personal_data=True)


def _github() -> Any:
    return prop("Whether the user registered through GitHub rather than email.", example=False)


class RegisterIdentify(IdentifySpec, name="Register", owner=Team.IDENTITY):
    """Sent once when a person registers: the traits of the new user."""

    scope: UserScope
    email: str = _email()
    github: bool = _github()


class LoginIdentify(IdentifySpec, name="Login", owner=Team.IDENTITY):
    """Sent when a user logs in, so traits stay current for users created before tracking began."""

    scope: UserScope
    email: str = _email()
    github: bool = _github()


class ProfileUpdateIdentify(IdentifySpec, name="Profile update", owner=Team.IDENTITY):
    """Sent when a user changes their profile: the traits as they are after the change."""

    scope: UserScope
    email: str = _email()
    first_name: str | None = prop("The user's first name.", example="Ada", personal_data=True, default=None)
    last_name: str | None = prop(
        "The user's last name.", example="Lovelace", personal_data=True, default=None
    )
    company_name: str | None = prop(
        "The company the user works for.", example="Analytical Engines", default=None
    )
