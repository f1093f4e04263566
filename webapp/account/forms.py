"""The API tokens page's form; its errors appear next to the field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from webapp.auth import tokens


def token_name(_form: FlaskForm, field: Field) -> None:
    """Trim the name in place, or say why it cannot be one (the bounds `users token create` applies)."""
    try:
        field.data = tokens.check_name(field.data or "")
    except tokens.TokenError as exc:
        raise ValidationError(exc.sentence()) from None


class NewTokenForm(FlaskForm):
    """A name for the new token: what will use it, so the list says which one to revoke."""

    name = StringField(
        "Name",
        validators=[token_name],
        render_kw={"maxlength": tokens.MAX_NAME_LENGTH, "autocomplete": "off"},
    )
