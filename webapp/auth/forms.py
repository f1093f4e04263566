"""Forms of the sign-in, first-run and users pages; errors appear next to their field."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Optional, ValidationError

from webapp.auth import accounts
from webapp.auth.roles import Role
from webapp.readable_names import hidden, unreadable

ROLE_CHOICES = [role.value for role in Role]


def email_address(_form: FlaskForm, field: Field) -> None:
    """Normalise the email in place, or say why it is not one."""
    try:
        field.data = accounts.normalise_email(field.data or "")
    except accounts.AccountError as exc:
        raise ValidationError(f"{exc}.") from None


def readable_name(_form: FlaskForm, field: Field) -> None:
    """Refuse a name that would not read as typed or holds an invisible character (but the joiners:
    `accounts.checked_display_name`)."""
    problem = unreadable(field.data or "") or hidden(field.data or "")
    if problem is not None:
        raise ValidationError(f"{problem[0].upper()}{problem[1:]}.")


def strong_password(_form: FlaskForm, field: Field) -> None:
    """Apply the password bounds `event-catalog users` applies too."""
    try:
        accounts.check_password(field.data or "")
    except accounts.AccountError as exc:
        raise ValidationError(f"{str(exc).capitalize()}.") from None


def setup_code(secret_key: str) -> str:
    """The first-run code a production set-up asks for: derived from `SECRET_KEY`, so every worker agrees."""
    digest = hmac.new(secret_key.encode(), b"event-catalog first-run setup", hashlib.sha256).hexdigest()
    return digest[:12]


class LoginForm(FlaskForm):
    """Email and password; `next` is where to go afterwards."""

    email = StringField(
        "Email",
        validators=[InputRequired("Enter your email."), email_address],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=accounts.MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


def new_password_fields(label: str) -> tuple[PasswordField, PasswordField]:
    """A new password and the same typed again, with the bounds `event-catalog users` applies."""
    password = PasswordField(
        label,
        validators=[InputRequired("Choose a password."), strong_password],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        f"{label} again",
        validators=[
            InputRequired("Type the password again."),
            EqualTo("password", "The two passwords differ."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class NewAccountFields(FlaskForm):
    """What every new account needs: email, an optional display name, a password typed twice."""

    email = StringField(
        "Email",
        validators=[InputRequired("Enter an email."), email_address],
        render_kw={"autocomplete": "email"},
    )
    display_name = StringField(
        "Display name (optional)",
        validators=[Optional(), Length(max=accounts.MAX_DISPLAY_NAME_LENGTH), readable_name],
    )
    password, confirm = new_password_fields("Password")


class SetupForm(NewAccountFields):
    """The first admin account; in production, also the set-up code from the log."""

    setup_code = StringField("Set-up code", render_kw={"autocomplete": "off"})
    next = HiddenField()

    def validate_setup_code(self, field: Field) -> None:
        """Only someone who can read the server's log may claim a production dashboard."""
        expected = setup_code(str(current_app.config["SECRET_KEY"]))
        if not hmac.compare_digest((field.data or "").strip().lower(), expected):
            raise ValidationError("This is not the set-up code. It is in the dashboard's log.")


class AddUserForm(NewAccountFields):
    """An admin adds an account (behind the sign-in proxy, without a password)."""

    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.VIEWER.value)


class RoleForm(FlaskForm):
    """A new role for one account."""

    role = SelectField("Role", choices=ROLE_CHOICES)


class ResetPasswordForm(FlaskForm):
    """A new password, typed twice: what a reset link asks for."""

    password, confirm = new_password_fields("New password")


class ChangePasswordForm(FlaskForm):
    """A signed-in person's new password, after their current one (a borrowed session cannot)."""

    current = PasswordField(
        "Current password",
        validators=[InputRequired("Enter your current password."), Length(max=accounts.MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields("New password")
