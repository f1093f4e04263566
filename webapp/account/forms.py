"""The API tokens page's form; its errors appear next to the field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from webapp.auth import tokens

NO_EXPIRY = "never"

LIFETIMES = [
    SelectChoice("30", "30 days"),
    SelectChoice("90", "90 days"),
    SelectChoice("365", "1 year"),
    SelectChoice(NO_EXPIRY, "No expiry"),
]
"""The page's lifetimes: the usual choices; `users token create --expires-in DAYS` takes any other."""


def token_name(_form: FlaskForm, field: Field) -> None:
    """Trim the name in place, or say why it cannot be one (the bounds `users token create` applies)."""
    try:
        field.data = tokens.check_name(field.data or "")
    except tokens.TokenError as exc:
        raise ValidationError(exc.sentence()) from None


class LifetimeField(SelectField):
    """The lifetime's select: a refused value (`7` posted by hand) shows the default again.

    Kept, it matched no option, so the browser showed the first one (30 days), and submitting again
    made a 30-day token unnoticed where the page's default is 90.
    """

    def pre_validate(self, form: FlaskForm) -> None:
        """Refuse a value none of the options holds, and select the default in its place."""
        try:
            super().pre_validate(form)
        except ValidationError:
            self.data = self.default
            raise


class NewTokenForm(FlaskForm):
    """A name for the new token: what will use it, so the list says which one to revoke; and how
    long it works."""

    name = StringField(
        "Name",
        validators=[token_name],
        render_kw={"maxlength": tokens.MAX_NAME_LENGTH, "autocomplete": "off"},
    )
    expires_in = LifetimeField("Expires after", choices=LIFETIMES, default=str(tokens.DEFAULT_LIFETIME_DAYS))

    def lifetime_days(self) -> int | None:
        """The chosen lifetime in days, None for no expiry (a validated form holds one of `LIFETIMES`)."""
        chosen: str = self.expires_in.data
        return None if chosen == NO_EXPIRY else int(chosen)
