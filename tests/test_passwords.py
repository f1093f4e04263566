"""Passwords from the dashboard: people change their own, and admins make one-time reset links."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from auth_helpers import actions, post, sign_in, token
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner

from webapp.auth import accounts, resets
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role

NEW_PASSWORD = "a brand new long password"
_LINK = re.compile(r'id="reset-link-\d+"[^>]*>([^<]+)</textarea>')


def change(client: FlaskClient, current: str, new: str = NEW_PASSWORD, again: str | None = None) -> Any:
    fields = {"current": current, "password": new, "confirm": new if again is None else again}
    return post(client, "/account/password", fields)


def make_reset_link(app: Flask, admin: FlaskClient, email: str) -> Any:
    with app.app_context():
        user = accounts.find_user(email)
        assert user is not None
        user_id = user.id
    return admin.post(f"/users/{user_id}/reset-link", data={"csrf_token": token(admin, "/users/")})


def shown_link(page: str) -> str:
    found = _LINK.search(page)
    assert found is not None, page
    return html.unescape(found.group(1))


def path_of(link: str) -> str:
    return link.removeprefix("http://localhost")


def audited(app: Flask, name: str) -> list[dict[str, Any]]:
    return [entry.payload["properties"] for entry in actions(app) if entry.event == name]


# Changing one's own password


def test_a_person_changes_their_password_and_their_other_sessions_end(
    app: Flask, login_as: Callable[..., FlaskClient], account_password: str
) -> None:
    this_browser = login_as(Role.VIEWER)
    other_browser = login_as(Role.VIEWER)
    page = this_browser.get("/account/password")
    assert page.status_code == 200 and "Change your password" in page.get_data(as_text=True)

    answer = change(this_browser, account_password)
    assert answer.status_code == 303 and answer.headers["Location"] == "/account/password"
    landed = this_browser.get("/account/password").get_data(as_text=True)
    assert "Your password is changed. Your other sessions are signed out." in landed
    assert this_browser.get("/").status_code == 200
    assert other_browser.get("/").status_code == 302
    assert sign_in(app.test_client(), "viewer@example.com", account_password).status_code == 401
    assert sign_in(app.test_client(), "viewer@example.com", NEW_PASSWORD).status_code == 303
    assert audited(app, "User Password Changed") == [{"email": "viewer@example.com", "via": "account page"}]


@pytest.mark.parametrize(
    ("current", "new", "again", "field", "message"),
    [
        ("not my password at all", NEW_PASSWORD, None, "current", "This is not your current password."),
        (None, "short", None, "password", "The password must have at least 12 characters."),
        (None, " " * 12, None, "password", "The password must not be one character repeated."),
        (None, NEW_PASSWORD, "something else entirely", "confirm", "The two passwords differ."),
        (None, None, None, "password", "This is your current password: choose a new one."),
        ("", NEW_PASSWORD, None, "current", "Enter your current password."),
    ],
)
def test_a_refused_change_says_why_next_to_the_field_and_keeps_the_password(
    app: Flask,
    login_as: Callable[..., FlaskClient],
    account_password: str,
    current: str | None,
    new: str | None,
    again: str | None,
    field: str,
    message: str,
) -> None:
    browser = login_as(Role.ENGINEER)
    answer = change(browser, account_password if current is None else current, new or account_password, again)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert f'<ul class="field-errors" id="{field}-errors"><li>{message}</li></ul>' in page
    assert 'aria-invalid="true"' in page and account_password not in page
    assert sign_in(app.test_client(), "engineer@example.com", account_password).status_code == 303
    assert audited(app, "User Password Changed") == []


def _focused(page: str) -> list[str]:
    """The ids of the fields a page gives the focus to (`autofocus`)."""
    inputs = re.findall(r"<input [^>]*>", page)
    return [re.findall(r'\bid="([^"]+)"', field)[0] for field in inputs if re.search(r"\bautofocus\b", field)]


@pytest.mark.parametrize("form", ["password page", "add a user", "first run", "reset link"])
def test_after_two_different_passwords_the_focus_is_on_the_first_emptied_password_field(
    app: Flask,
    anonymous: FlaskClient,
    login_as: Callable[..., FlaskClient],
    make_account: Callable[..., str],
    account_password: str,
    form: str,
) -> None:
    """Every password field comes back empty, but the focus went to "Password again", the one field with an
    error: retyping it alone sent the form back with more errors."""
    mismatch = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + " but not quite"}
    if form == "password page":
        answer = change(login_as(Role.VIEWER), account_password, again=mismatch["confirm"])
        first = "current"
    elif form == "add a user":
        answer = post(
            login_as(Role.ADMIN), "/users/", {"email": "new@example.com", "role": "viewer", **mismatch}
        )
        first = "password"
    elif form == "first run":
        answer = post(anonymous, "/setup", {"email": "ada@example.com", **mismatch})
        first = "password"
    else:
        link = shown_link(
            make_reset_link(app, login_as(Role.ADMIN), make_account(Role.VIEWER)).get_data(as_text=True)
        )
        answer = post(anonymous, path_of(link), mismatch)
        first = "password"
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "The two passwords differ." in page
    assert _focused(page) == [first]


def test_a_wrong_current_password_is_audited_and_throttled_like_a_sign_in(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="2 per hour")
    browser = login_as(Role.VIEWER, on=app)
    for _ in range(2):
        assert change(browser, "a guess that is wrong").status_code == 400
    throttled = change(browser, account_password)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 3600
    page = throttled.get_data(as_text=True)
    assert "Too many wrong passwords for this account. Try again in" in page and 'name="current"' in page
    reasons = [properties["reason"] for properties in audited(app, "Password Change Refused")]
    assert reasons == ["wrong current password", "wrong current password", "throttled"]
    # One budget for both forms: the guesses count against signing in to that account too, and
    # failed sign-ins against the password page.
    assert sign_in(app.test_client(), "viewer@example.com", account_password).status_code == 429
    assert sign_in(app.test_client(), "engineer@example.com", "not the password at all").status_code == 401


def test_failed_sign_ins_count_against_the_password_page_too(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="2 per hour")
    browser = login_as(Role.VIEWER, on=app)
    for _ in range(2):
        assert sign_in(app.test_client(), "viewer@example.com", "a wrong guess here").status_code == 401
    assert change(browser, account_password).status_code == 429


def test_the_header_links_the_password_page_in_accounts_mode_only(
    client: FlaskClient, make_app: Callable[..., Flask]
) -> None:
    assert 'href="/account/password"' in client.get("/").get_data(as_text=True)
    proxy = make_app(AUTH_MODE="proxy", TRUSTED_PROXIES=parse_networks("10.0.0.0/8"))
    behind = proxy.test_client()
    headers, origin = {"X-Forwarded-Email": "admin@example.com"}, {"REMOTE_ADDR": "10.1.2.3"}
    assert 'href="/account/password"' not in behind.get("/", headers=headers, environ_base=origin).get_data(
        as_text=True
    )
    assert behind.get("/account/password", headers=headers, environ_base=origin).status_code == 404
    users = behind.get("/users/", headers=headers, environ_base=origin).get_data(as_text=True)
    assert "Reset link" not in users


# Reset links


def test_an_admin_makes_a_reset_link_that_sets_a_password_once(
    app: Flask, client: FlaskClient, make_account: Callable[..., str], account_password: str
) -> None:
    email = make_account(Role.VIEWER)
    made = make_reset_link(app, client, email)
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    assert f"Reset link for {email}" in page and "it is not shown again. It works once, for 1 d" in page
    link = shown_link(page)
    assert link.startswith("http://localhost/reset/")
    assert "Reset link for" not in client.get("/users/").get_data(as_text=True)
    assert audited(app, "Password Reset Link Created") == [{"email": email}]

    visitor = app.test_client()
    form = visitor.get(path_of(link))
    assert form.status_code == 200 and f'For <strong class="free-text">{email}</strong>' in form.get_data(
        as_text=True
    )
    # The old password works until the link is used.
    assert sign_in(app.test_client(), email, account_password).status_code == 303
    short = post(visitor, path_of(link), {"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "The password must have at least 12 characters." in short.get_data(as_text=True)

    done = post(visitor, path_of(link), {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/"
    assert "Your password is set, and you are signed in." in visitor.get("/").get_data(as_text=True)
    assert sign_in(app.test_client(), email, account_password).status_code == 401
    assert sign_in(app.test_client(), email, NEW_PASSWORD).status_code == 303
    assert audited(app, "User Password Changed") == [{"email": email, "via": "reset link"}]

    again = app.test_client().get(path_of(link))
    assert again.status_code == 400
    assert "This reset link was already used, a newer one was made, or the password changed since" in (
        again.get_data(as_text=True)
    )
    replayed = post(
        app.test_client(),
        path_of(link),
        {"password": "another long password", "confirm": "another long password"},
    )
    assert replayed.status_code == 400
    assert sign_in(app.test_client(), email, NEW_PASSWORD).status_code == 303


def test_a_reset_link_stops_working_when_too_old_forged_or_the_account_is_disabled(
    app: Flask, client: FlaskClient, make_account: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    email = make_account(Role.ENGINEER)
    with app.test_request_context():
        user = accounts.find_user(email)
        assert user is not None
        two_days_ago = int(TimestampSigner.get_timestamp(TimestampSigner("k"))) - 2 * 86400
        with monkeypatch.context() as patched:
            patched.setattr(TimestampSigner, "get_timestamp", lambda _self: two_days_ago)
            old = resets.reset_token(user)
        fresh = resets.reset_token(user)
    visitor = app.test_client()
    expired = visitor.get(f"/reset/{old}")
    assert expired.status_code == 400
    assert "This reset link has expired. Ask an admin for a new one." in expired.get_data(as_text=True)
    forged = visitor.get(f"/reset/{fresh[:-2]}xx")
    assert forged.status_code == 400
    assert resets.NOT_VALID in html.unescape(forged.get_data(as_text=True))

    assert post(client, f"/users/{user.id}/disable", {}).status_code == 303
    disabled = visitor.get(f"/reset/{fresh}")
    assert disabled.status_code == 400
    assert "This account is disabled. Ask an admin to enable it." in disabled.get_data(as_text=True)
    refused = make_reset_link(app, client, email)
    assert refused.status_code == 409
    assert f"{email} is disabled: enable the account before making a reset link." in refused.get_data(
        as_text=True
    )
    assert audited(app, "Password Reset Link Created") == []


def test_a_reset_link_voided_by_a_new_secret_key_does_not_blame_the_copy(
    app: Flask, client: FlaskClient, make_account: Callable[..., str], make_app: Callable[..., Flask]
) -> None:
    """A link made before a SECRET_KEY rotation said only "check that it was copied whole"."""
    email = make_account(Role.ENGINEER)
    link = shown_link(make_reset_link(app, client, email).get_data(as_text=True))
    rotated = make_app(SECRET_KEY="a-new-secret-key-0123456789")
    page = rotated.test_client().get(path_of(link))
    assert page.status_code == 400
    assert "the dashboard's key changed since it was made" in html.unescape(page.get_data(as_text=True))


def test_only_admins_make_reset_links(
    app: Flask, login_as: Callable[..., FlaskClient], make_account: Callable[..., str]
) -> None:
    email = make_account(Role.VIEWER)
    engineer = login_as(Role.ENGINEER)
    assert make_reset_link(app, engineer, email).status_code == 403
    assert audited(app, "Password Reset Link Created") == []


def test_a_newer_link_or_disabling_the_account_voids_a_reset_link_for_good(
    app: Flask, client: FlaskClient, make_account: Callable[..., str]
) -> None:
    email = make_account(Role.VIEWER)
    first = path_of(shown_link(make_reset_link(app, client, email).get_data(as_text=True)))
    second = path_of(shown_link(make_reset_link(app, client, email).get_data(as_text=True)))
    visitor = app.test_client()
    replaced = visitor.get(first)
    assert replaced.status_code == 400 and "a newer one was made" in replaced.get_data(as_text=True)
    assert visitor.get(second).status_code == 200
    # Disabled, then enabled again: the link made before stays void (an admin's way to cancel it).
    with app.app_context():
        user = accounts.find_user(email)
        assert user is not None
        user_id = user.id
    assert post(client, f"/users/{user_id}/disable", {}).status_code == 303
    assert post(client, f"/users/{user_id}/enable", {}).status_code == 303
    revived = visitor.get(second)
    assert revived.status_code == 400 and "a newer one was made" in revived.get_data(as_text=True)
    assert (
        visitor.get(
            path_of(shown_link(make_reset_link(app, client, email).get_data(as_text=True)))
        ).status_code
        == 200
    )
