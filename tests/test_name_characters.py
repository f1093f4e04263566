"""Display names and API token names are read back on every page and in an admin's terminal: they refuse
the invisible format characters emails refuse, on every form and command that sets one, and keep the
zero-width joiner and non-joiner that emoji and some scripts need."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from auth_helpers import post
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from webapp.auth import accounts
from webapp.auth.models import ApiToken, User
from webapp.auth.roles import Role
from webapp.extensions import db

PASSWORD = "a long enough password"
PASSWORD_TWICE = {"password": PASSWORD, "confirm": PASSWORD}

INVISIBLE = [
    ("Ada\u200b", "U+200B"),  # zero-width space: reads as "Ada"
    ("\ufeffAda", "U+FEFF"),  # byte-order mark, as a pasted file's first line carries it
    ("A\u00adda", "U+00AD"),  # soft hyphen
    ("Ada\u200e", "U+200E"),  # left-to-right mark
    ("Ada\u2060", "U+2060"),  # word joiner
    ("Ada \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "U+E0062, U+E0063"),
]
"""Names holding a format character (Unicode Cf) but the joiners, and the code points refused. The last
is Scotland's flag, whose tag characters are format characters too (the message lists them sorted,
de-duplicated: the check below reads its start)."""

LEGITIMATE = [
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian "I want": a non-joiner parts the prefix
    "\u0928\u092e\u0938\u094d\u200c\u0924\u0947",  # Hindi with a non-joiner after the virama
    "\u0915\u094d\u200d\u0937",  # Devanagari half-form: a joiner after the virama
    "Ada \U0001f469\u200d\U0001f4bb",  # woman technologist: an emoji joined by U+200D
]
"""Names that need a joiner or non-joiner to be written correctly."""


def _message(code_points: str) -> str:
    return f"a name cannot hold an invisible character ({code_points}"


def _refused_next_to(page: str, field: str, code_points: str) -> bool:
    """Whether the page says why next to `field` (its errors' list), in the form's sentence case."""
    errors = page.partition(f'<ul class="field-errors" id="{field}-errors"><li>')[2]
    return errors.startswith(html.escape("A" + _message(code_points)[1:], quote=False))


def _users(app: Flask) -> list[User]:
    with app.app_context():
        return list(db.session.scalars(select(User).order_by(User.id)))


def _tokens(app: Flask) -> list[ApiToken]:
    with app.app_context():
        return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


@pytest.mark.parametrize(("name", "code_points"), INVISIBLE)
def test_the_set_up_page_refuses_an_invisible_display_name_next_to_the_field(
    app: Flask, anonymous: FlaskClient, name: str, code_points: str
) -> None:
    """`Ada\u200b` was stored and greeted as `Ada`."""
    response = post(anonymous, "/setup", {"email": "ada@example.com", "display_name": name, **PASSWORD_TWICE})
    assert response.status_code == 400
    assert _refused_next_to(response.get_data(as_text=True), "display_name", code_points)
    assert _users(app) == []


@pytest.mark.parametrize(("name", "code_points"), INVISIBLE)
def test_the_users_page_refuses_an_invisible_display_name_next_to_the_field(
    app: Flask, login_as: Callable[..., FlaskClient], name: str, code_points: str
) -> None:
    admin = login_as(Role.ADMIN)
    fields = {"email": "bo@example.com", "display_name": name, "role": "viewer", **PASSWORD_TWICE}
    response = post(admin, "/users/", fields)
    assert response.status_code == 400
    assert _refused_next_to(response.get_data(as_text=True), "display_name", code_points)
    assert [user.email for user in _users(app)] == ["admin@example.com"]


@pytest.mark.parametrize(("name", "code_points"), INVISIBLE)
def test_users_add_refuses_an_invisible_display_name_in_one_line(
    app: Flask, runner: FlaskCliRunner, name: str, code_points: str
) -> None:
    args = ["users", "add", "bo@example.com", "--name", name, "--password-stdin"]
    result = runner.invoke(args=args, input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: display name: {_message(code_points)}")
    assert result.stderr.endswith("it makes the name look like another\n") and result.stderr.count("\n") == 1
    assert _users(app) == []


@pytest.mark.parametrize(("name", "code_points"), INVISIBLE)
def test_the_tokens_page_refuses_an_invisible_name_next_to_the_field(
    app: Flask, login_as: Callable[..., FlaskClient], name: str, code_points: str
) -> None:
    """`ci` and `ci\u200b` were two tokens of one account that read the same in its list."""
    client = login_as(Role.VIEWER)
    response = post(client, "/account/tokens", {"name": name})
    assert response.status_code == 400
    assert _refused_next_to(response.get_data(as_text=True), "name", code_points)
    assert _tokens(app) == []


@pytest.mark.parametrize(("name", "code_points"), INVISIBLE)
def test_users_token_create_refuses_an_invisible_name_in_one_line(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str], name: str, code_points: str
) -> None:
    email = make_account(Role.VIEWER)
    result = runner.invoke(args=["users", "token", "create", email, "--name", name])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {_message(code_points)}") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert _tokens(app) == []


@pytest.mark.parametrize("name", LEGITIMATE)
def test_names_that_need_a_joiner_are_kept_as_typed(
    app: Flask,
    anonymous: FlaskClient,
    runner: FlaskCliRunner,
    login_as: Callable[..., FlaskClient],
    name: str,
) -> None:
    """The joiners shape Persian and Indic words and build emoji sequences: refusing them would
    refuse these names; kept, they are stored as typed."""
    created = post(anonymous, "/setup", {"email": "ada@example.com", "display_name": name, **PASSWORD_TWICE})
    assert created.status_code == 303, created.get_data(as_text=True)
    admin = login_as(Role.ADMIN)
    fields = {"email": "bo@example.com", "display_name": name, "role": "viewer", **PASSWORD_TWICE}
    assert post(admin, "/users/", fields).status_code == 303
    added = runner.invoke(
        args=["users", "add", "cy@example.com", "--name", name, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert {user.email: user.display_name for user in _users(app)} == {
        "ada@example.com": name,
        "admin@example.com": None,
        "bo@example.com": name,
        "cy@example.com": name,
    }
    assert post(admin, "/account/tokens", {"name": name}).status_code == 201
    token = runner.invoke(args=["users", "token", "create", "cy@example.com", "--name", name])
    assert token.exit_code == 0, token.output
    assert [record.name for record in _tokens(app)] == [name, name]
    with app.app_context():
        assert accounts.checked_display_name(f" {name} ") == name
