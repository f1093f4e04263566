"""Emails are the audit log's actor and are shown on every page: an email must read as the address it
is, one address is one account whatever form its accents were typed in, and accounts stored before
these rules keep signing in and can still be managed."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from auth_helpers import post, sign_in, signed_in_client
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from webapp.auth import accounts
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import db

PASSWORD = "a long enough password"
NFC = "jos\u00e9@example.com"
NFD = "jose\u0301@example.com"


@pytest.mark.parametrize(
    ("address", "code_point"),
    [
        ("dani\u202emoc.elpmaxe@evil.io", "U+202E"),  # shows as danioi.live@example.com
        ("ada\u200b@example.com", "U+200B"),  # the admin's twin
        ("ada@exa\u00admple.com", "U+00AD"),
        ("\u200fada@example.com", "U+200F"),
        ("ada@example.com\ufeff", "U+FEFF"),
        ("ad\u2066a@example.com", "U+2066"),
    ],
)
def test_an_email_with_an_invisible_character_is_refused(address: str, code_point: str) -> None:
    with pytest.raises(accounts.AccountError) as refused:
        accounts.normalise_email(address)
    assert str(refused.value) == (
        f"{address!r} is not an email address: it holds an invisible character ({code_point}) "
        "that makes it read as another address"
    )
    assert "\u202e" not in str(refused.value) and "\u200b" not in str(refused.value)


def test_an_email_is_stored_composed_and_lower_case() -> None:
    assert accounts.normalise_email(NFD) == NFC
    assert accounts.normalise_email(" JOSE\u0301@Example.com ") == NFC
    assert accounts.normalise_email("JOS\u00c9@example.com") == NFC


def _count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(User.id))) or 0)


def test_users_add_refuses_an_invisible_character_in_one_line(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["users", "add", "ada\u200b@example.com", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: 'ada\\u200b@example.com' is not an email address: it holds an invisible character "
        "(U+200B) that makes it read as another address\n"
    )
    assert _count(app) == 0


def test_the_decomposed_form_of_an_existing_email_is_the_same_account(
    app: Flask, runner: FlaskCliRunner
) -> None:
    added = runner.invoke(args=["users", "add", NFC, "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    twin = runner.invoke(args=["users", "add", NFD.upper(), "--password-stdin"], input=PASSWORD + "\n")
    assert (twin.exit_code, twin.stderr) == (2, f"error: {NFC} already has an account\n")
    assert _count(app) == 1


def test_the_users_form_says_why_next_to_the_email(app: Flask, login_as: Callable[..., FlaskClient]) -> None:
    admin = login_as(Role.ADMIN)
    fields = {"role": "viewer", "password": PASSWORD, "confirm": PASSWORD}
    response = post(admin, "/users/", {"email": "dani\u202emoc.elpmaxe@evil.io", **fields})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    message = html.escape(
        "'dani\\u202emoc.elpmaxe@evil.io' is not an email address: it holds an invisible character "
        "(U+202E) that makes it read as another address.",
        quote=False,
    ).replace("'", "&#39;")
    assert message in page
    assert page.index('name="email"') < page.index(message) < page.index('name="display_name"')
    assert _count(app) == 1


def _store_as_before(app: Flask, email: str) -> None:
    """An account written before emails were composed and checked (its row as it was stored)."""
    with app.app_context():
        db.session.add(
            User(
                email=email,
                password_hash=accounts.hash_password(PASSWORD),
                role=Role.ENGINEER,
                created_at=datetime.now(UTC),
            )
        )
        db.session.commit()


def test_an_account_stored_decomposed_signs_in_with_either_form(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    signed_in_client(app, Role.ADMIN)  # accounts exist: /login signs in rather than setting up
    _store_as_before(app, NFD)
    for typed in (NFC, NFD, "JOS\u00c9@EXAMPLE.COM"):
        response = sign_in(app.test_client(), typed, PASSWORD)
        assert (response.status_code, response.headers.get("Location")) == (303, "/"), typed
    with app.app_context():
        assert accounts.get_user(NFC).email == NFD
        assert accounts.set_role(NFC, Role.VIEWER, actor="test").role is Role.VIEWER
        with pytest.raises(accounts.AccountError, match="already has an account"):
            accounts.new_email(NFC)


def test_an_account_stored_with_an_invisible_character_can_still_be_disabled(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """It cannot sign in any more (the address is refused as typed), but an admin still reaches it."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    signed_in_client(app, Role.ADMIN)
    _store_as_before(app, "ada\u200b@example.com")
    assert sign_in(app.test_client(), "ada\u200b@example.com", PASSWORD).status_code == 400
    result = app.test_cli_runner().invoke(args=["users", "disable", "ada\u200b@example.com"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert not accounts.get_user("ada\u200b@example.com").active
