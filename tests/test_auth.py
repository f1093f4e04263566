"""Identity: first-run set-up, sign-in and its throttle, session expiry, the sign-in proxy, users."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import actions, post, sign_in
from dashboard_server import ROOT
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from production_settings import AUDIT_KEYS
from production_settings import SECRET_KEY as PRODUCTION_SECRET
from sqlalchemy import select, text, update

from analytics.audit import AuditEntry
from webapp import create_app
from webapp.auth import accounts
from webapp.auth.identity import SESSION_ENDED
from webapp.auth.models import EndedSession
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role
from webapp.extensions import db

NEW_PASSWORD = "a different long password"
PASSWORD_TWICE = {"password": "a long enough password", "confirm": "a long enough password"}
WELCOME = "Welcome. You are the admin; add the others on the Users page."


def account(app: Flask, email: str) -> Any:
    with app.app_context():
        return accounts.find_user(email)


# First run


def test_first_run_creates_the_admin_and_signs_them_in(app: Flask, anonymous: FlaskClient) -> None:
    page = anonymous.get("/setup?next=/")
    assert page.status_code == 200 and "Create the admin account" in page.get_data(as_text=True)
    response = post(
        anonymous,
        "/setup",
        {
            "email": " Ada@Example.com ",
            "display_name": "Ada",
            "password": "a long enough password",
            "confirm": "a long enough password",
            "next": "/",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/"
    home = anonymous.get("/")
    assert home.status_code == 200
    assert (
        '<span class="who-name" title="Ada">Ada</span> <span class="badge role">admin</span>'
        in home.get_data(as_text=True)
    )
    assert home.get_data(as_text=True).count(WELCOME) == 1  # on the page set-up lands on
    assert WELCOME not in anonymous.get("/users/").get_data(as_text=True)
    [added] = actions(app)
    assert (added.event, added.status, added.source, added.actor) == (
        "User Added",
        "recorded",
        "dashboard",
        "ada@example.com",
    )
    assert added.payload["properties"] == {"email": "ada@example.com", "role": "admin"}
    assert "a long enough password" not in str(added.payload)
    assert anonymous.get("/setup").headers["Location"] == "/login"
    assert account(app, "ada@example.com").last_login_at is not None


def test_set_up_keeps_what_was_typed_and_says_what_is_wrong(anonymous: FlaskClient) -> None:
    response = post(
        anonymous, "/setup", {"email": "ada@example.com", "password": "short", "confirm": "shorter"}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'value="ada@example.com"' in page
    assert "The password must have at least 12 characters." in page
    assert "The two passwords differ." in page
    assert "short" not in re.sub(r"<[^>]+>", "", page).replace("shorter", "")
    with anonymous.application.app_context():
        assert not accounts.has_users()
    # Screen readers hear a field's hint and its errors; a field with neither points at nothing.
    password = re.search(r'<input [^>]*id="password"[^>]*>', page)
    assert password is not None and 'aria-describedby="password-hint password-errors"' in password.group(0)
    assert 'id="password-hint"' in page and 'id="password-errors"' in page
    first_visit = anonymous.get("/setup").get_data(as_text=True)
    assert 'aria-describedby="None"' not in first_visit
    email = re.search(r'<input [^>]*id="email"[^>]*>', first_visit)
    assert email is not None and "aria-describedby" not in email.group(0)


def test_a_production_set_up_asks_for_the_code_in_the_log(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        APP_ENV="production",
        SECRET_KEY=PRODUCTION_SECRET,
        **AUDIT_KEYS,
        SESSION_COOKIE_SECURE=False,
    )
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="webapp.auth.routes"):
        client.get("/setup")
        client.get("/setup")
    # Once per process: anyone can open the page, and each visit added a line to the log.
    [code] = re.findall(r"the set-up code is (\w+)", caplog.text)
    form = {"email": "ops@example.com", **PASSWORD_TWICE}
    refused = post(client, "/setup", {**form, "setup_code": "guess"})
    assert refused.status_code == 400
    assert "This is not the set-up code." in refused.get_data(as_text=True)
    accepted = post(client, "/setup", {**form, "setup_code": code})
    assert accepted.status_code == 303
    assert account(app, "ops@example.com").role is Role.ADMIN


def test_make_run_says_where_the_first_run_set_up_is_while_no_account_exists(
    sqlite_url: str, make_account: Callable[..., str]
) -> None:
    venv = f"BIN={Path(sys.executable).parent}"

    def hint() -> str:
        done = subprocess.run(
            ["make", "-s", "--no-print-directory", "first-run-hint", "PORT=5999", venv],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": sqlite_url},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    assert hint() == "First run? Open http://127.0.0.1:5999/setup to create the admin account.\n"
    make_account(Role.ADMIN)
    assert hint() == ""


# Signing in and out


def test_sign_in_goes_where_the_person_was_going(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str], account_password: str
) -> None:
    email = make_account(Role.VIEWER)
    form = anonymous.get("/login?next=/%3Fq%3Dcluster").get_data(as_text=True)
    assert 'name="next" type="hidden" value="/?q=cluster"' in form
    assert "Sign in to continue to <code>/?q=cluster</code>." in form
    # Only a path on this site is named; the catalog itself goes without saying.
    assert "continue to" not in anonymous.get("/login?next=https://evil.example/").get_data(as_text=True)
    assert "continue to" not in anonymous.get("/login?next=/").get_data(as_text=True)
    redirected = anonymous.get("/audit/?project=12", follow_redirects=True).get_data(as_text=True)
    assert "Sign in to continue to <code>/audit/?project=12</code>." in redirected
    response = post(
        anonymous,
        "/login",
        {"email": "VIEWER@example.com", "password": account_password, "next": "/?q=cluster"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/?q=cluster"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert anonymous.get("/").status_code == 200
    assert account(app, email).last_login_at is not None
    assert actions(app) == []


def test_a_failed_sign_in_is_recorded_without_the_password(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    wrong = sign_in(anonymous, "viewer@example.com", "not the password at all")
    assert wrong.status_code == 401
    page = wrong.get_data(as_text=True)
    assert "Wrong email or password." in page and 'value="viewer@example.com"' in page
    unknown = sign_in(anonymous, "nobody@example.com", "not the password at all")
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.get_data(as_text=True)
    recorded = actions(app)
    assert [(entry.event, entry.status, entry.source) for entry in recorded] == [
        ("Login Failed", "recorded", "dashboard")
    ] * 2
    assert [entry.payload["properties"] for entry in recorded] == [
        {"email": "viewer@example.com", "address": "127.0.0.1", "reason": "wrong password"},
        {"email": "nobody@example.com", "address": "127.0.0.1", "reason": "unknown account"},
    ]
    assert recorded[0].actor == "anonymous@127.0.0.1"
    assert "not the password at all" not in str([entry.payload for entry in recorded])
    assert anonymous.get("/").status_code == 302


def test_a_typed_email_cannot_write_control_characters_into_the_log(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """An anonymous visitor's ESC c (a terminal reset) and backspaces reached a followed log as they were."""
    make_account(Role.VIEWER)
    caplog.set_level(logging.INFO)
    typed = sign_in(anonymous, "x\x1bc\x07\x08\x08evil@example.com", "not the password at all")
    assert typed.status_code == 400
    assert r"&#39;x\x1bc\x07\x08\x08evil@example.com&#39; is not an email address." in typed.get_data(
        as_text=True
    )
    assert actions(app) == []  # nor a Login Failed entry holding them
    sign_in(anonymous, "nobody@example.com", "not the password at all")
    [line] = [record.getMessage() for record in caplog.records if "sign-in failed" in record.getMessage()]
    assert line.startswith("sign-in failed for 'nobody@example.com' from 127.0.0.1")
    # A direction control is refused at the form, escaped, like a control character.
    reversed_ = sign_in(anonymous, "nobody\u202e@example.com", "not the password at all")
    assert reversed_.status_code == 400
    assert r"&#39;nobody\u202e@example.com&#39; is not an email address: it holds an invisible" in (
        reversed_.get_data(as_text=True)
    )
    assert len(actions(app)) == 1


def test_a_display_name_must_read_as_typed(anonymous: FlaskClient, runner: FlaskCliRunner) -> None:
    """`users list` prints display names in an admin's terminal."""
    fields = {"email": "ada@example.com", **PASSWORD_TWICE}
    refused = post(anonymous, "/setup", {**fields, "display_name": "Ada\x1b[2J"})
    assert refused.status_code == 400
    assert "A name cannot hold a control character (U+001B)." in refused.get_data(as_text=True)
    added = runner.invoke(args=["users", "add", "bob@example.com", "--name", "Bob\u202e", "--role", "viewer"])
    assert added.exit_code != 0 and "display name: a name cannot hold a direction control" in added.output
    with anonymous.application.app_context():
        assert not accounts.has_users()


def test_a_display_name_from_the_command_line_has_the_form_s_bound(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """The form refuses over 255 characters; the command line stored 100,000 on SQLite, and PostgreSQL's
    refusal read as a fault of the accounts table."""
    args = ["users", "add", "--password-stdin", "--name"]
    refused = runner.invoke(args=[*args, "n" * 256, "long@example.com"], input=NEW_PASSWORD + "\n")
    assert (refused.exit_code, refused.stderr) == (
        2,
        "error: display name: a name must have at most 255 characters (this one has 256)\n",
    )
    assert account(app, "long@example.com") is None
    added = runner.invoke(args=[*args, f" {'n' * 255} ", "long@example.com"], input=NEW_PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert account(app, "long@example.com").display_name == "n" * 255


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(
    app: Flask, login_as: Callable[..., FlaskClient], account_password: str
) -> None:
    viewer = login_as(Role.VIEWER)
    assert viewer.get("/").status_code == 200
    with app.app_context():
        accounts.disable_user("viewer@example.com", actor="test")
    assert viewer.get("/").headers["Location"] == "/login?next=/"
    refused = sign_in(viewer, "viewer@example.com", account_password)
    assert refused.status_code == 401 and "This account is disabled." in refused.get_data(as_text=True)


def test_a_role_change_applies_on_the_next_request(app: Flask, login_as: Callable[..., FlaskClient]) -> None:
    engineer = login_as(Role.ENGINEER)
    assert engineer.get("/users/").status_code == 403
    with app.app_context():
        accounts.set_role("engineer@example.com", Role.ADMIN, actor="test")
    assert engineer.get("/users/").status_code == 200


def test_a_new_password_ends_the_other_sessions(app: Flask, login_as: Callable[..., FlaskClient]) -> None:
    viewer = login_as(Role.VIEWER)
    with app.app_context():
        accounts.set_password("viewer@example.com", NEW_PASSWORD, actor="test")
    assert viewer.get("/").status_code == 302
    assert sign_in(viewer, "viewer@example.com", NEW_PASSWORD).status_code == 303


def test_sessions_end_after_their_lifetime(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=1))
    viewer = login_as(Role.VIEWER, on=app)
    with viewer.session_transaction() as session:
        session["signed_in_at"] = time.time() - 59 * 60
    assert viewer.get("/").status_code == 200
    with viewer.session_transaction() as session:
        session["signed_in_at"] = time.time() - 61 * 60
    expired = viewer.get("/")
    assert expired.status_code == 302 and expired.headers["Location"] == "/login?next=/"
    assert viewer.get("/login").get_data(as_text=True).count("Your session has expired. Sign in again.") == 1
    assert viewer.get("/").status_code == 302


def test_signing_out_ends_the_session(client: FlaskClient) -> None:
    response = post(client, "/logout", {})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/login").get_data(as_text=True).count("You have signed out.") == 1
    assert client.get("/").status_code == 302


def test_a_copy_of_a_signed_out_session_cookie_signs_no_one_in(
    app: Flask, client: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    """The cookie is signed, not stored: a copy taken before sign-out kept working for 12 hours."""
    copied = client.get_cookie("session")
    other_browser = login_as(Role.ADMIN)
    assert copied is not None and post(client, "/logout", {}).status_code == 303
    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    assert thief.get("/").status_code == 302
    assert thief.get("/api/catalog").status_code == 401
    assert other_browser.get("/").status_code == 200  # only that session ended, not the account's others
    # Each sign-out forgets the ended sessions that would have expired by now.
    with app.app_context():
        db.session.execute(update(EndedSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    assert post(other_browser, "/logout", {}).status_code == 303
    with app.app_context():
        assert len(db.session.scalars(select(EndedSession)).all()) == 1


def test_a_session_from_before_session_ids_signs_in_again(client: FlaskClient) -> None:
    """Every session of a release before migration 0016 ends at the upgrade: the sign-in page said
    nothing, which made people wonder whether they had been signed out by an attack."""
    with client.session_transaction() as session:
        del session["session_id"]
    assert client.get("/").status_code == 302
    assert html.unescape(client.get("/login").get_data(as_text=True)).count(SESSION_ENDED) == 1


def test_a_session_signed_with_a_former_secret_key_says_why_it_ended(
    make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    """A new SECRET_KEY signs everyone out, as documented, but the sign-in page said nothing."""
    before = make_app(SECRET_KEY="the-first-secret-key-0123")
    after = make_app(SECRET_KEY="the-second-secret-key-0123")
    signed_in = login_as(Role.VIEWER, on=before).get_cookie("session")
    never_signed_in = before.test_client()
    never_signed_in.get("/login")  # a session holding only a CSRF token
    anonymous_cookie = never_signed_in.get_cookie("session")
    assert signed_in is not None and anonymous_cookie is not None
    browser = after.test_client()
    browser.set_cookie("session", signed_in.value)
    assert browser.get("/").headers["Location"] == "/login?next=/"
    assert html.unescape(browser.get("/login").get_data(as_text=True)).count(SESSION_ENDED) == 1
    assert SESSION_ENDED not in html.unescape(browser.get("/login").get_data(as_text=True))
    visitor = after.test_client()
    visitor.set_cookie("session", anonymous_cookie.value)
    assert SESSION_ENDED not in html.unescape(visitor.get("/login").get_data(as_text=True))


def test_signed_in_people_skip_the_sign_in_page(client: FlaskClient) -> None:
    response = client.get("/login?next=/%3Fq%3Dx")
    assert response.status_code == 302 and response.headers["Location"] == "/?q=x"


# Throttling


def test_failed_sign_ins_are_throttled_per_account(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="3 per hour")
    make_account(Role.VIEWER)
    make_account(Role.ENGINEER)
    client = app.test_client()
    for _ in range(3):
        assert sign_in(client, "viewer@example.com", "wrong password, again").status_code == 401
    throttled = sign_in(client, "viewer@example.com", account_password)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 3600
    page = throttled.get_data(as_text=True)
    assert "Too many failed sign-ins for this account. Try again in" in page
    # The sign-in form stays, with the address as typed; the refused attempt is audited too.
    assert 'name="password"' in page and 'value="viewer@example.com"' in page
    with app.app_context():
        from webapp.extensions import db

        reasons = db.session.scalars(
            select(AuditEntry.payload).where(AuditEntry.event == "Login Failed")
        ).all()
    assert [payload["properties"]["reason"] for payload in reasons].count("throttled") == 1
    assert sign_in(client, "engineer@example.com", account_password).status_code == 303


def test_every_spelling_of_an_address_shares_its_accounts_failure_budget(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    """`josé` typed composed or as `e` + U+0301 signs in to one account, but the limit keyed the
    address only trimmed and lower-cased: each spelling had its own failures, 2^k budgets for an
    address with k accented letters."""
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="3 per hour")
    make_account(Role.VIEWER, "josé@example.com")
    spellings = ["josé@example.com", "jose\u0301@example.com", " JOSE\u0301@Example.com "]
    for spelling in spellings:
        assert sign_in(app.test_client(), spelling, "wrong password, again").status_code == 401
    for spelling in spellings:
        assert sign_in(app.test_client(), spelling, account_password).status_code == 429, spelling


def test_an_account_stored_decomposed_has_one_budget_for_both_password_forms(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    """An account stored before emails were composed may hold `e` + U+0301: its wrong current
    passwords counted under that spelling, its failed sign-ins under the composed one."""
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="2 per hour")
    make_account(Role.VIEWER, "rene\u0301@example.com")
    assert sign_in(app.test_client(), "rené@example.com", "wrong password, again").status_code == 401
    browser = app.test_client()
    assert sign_in(browser, "rené@example.com", account_password).status_code == 303
    new = "a brand new long password"
    wrong = {"current": "a guess that is wrong", "password": new, "confirm": new}
    assert post(browser, "/account/password", wrong).status_code == 400
    assert sign_in(app.test_client(), "rené@example.com", account_password).status_code == 429


def test_failed_sign_ins_are_throttled_per_address(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ADDRESS="3 per hour")
    make_account(Role.VIEWER)
    client = app.test_client()
    for name in ("a", "b", "c"):
        assert sign_in(client, f"{name}@example.com", "wrong password, again").status_code == 401
    throttled = sign_in(client, "viewer@example.com", account_password)
    assert throttled.status_code == 429
    assert "Too many failed sign-ins from your address." in throttled.get_data(as_text=True)
    elsewhere = app.test_client()
    answer = sign_in(
        elsewhere, "viewer@example.com", account_password, environ_base={"REMOTE_ADDR": "192.0.2.8"}
    )
    assert answer.status_code == 303


def test_successful_sign_ins_do_not_count_towards_the_throttle(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ACCOUNT="2 per hour")
    make_account(Role.VIEWER)
    for _ in range(4):
        assert sign_in(app.test_client(), "viewer@example.com", account_password).status_code == 303


def test_behind_a_trusted_proxy_the_throttle_counts_the_real_client(
    make_app: Callable[..., Flask], make_account: Callable[..., str], account_password: str
) -> None:
    app = make_app(LOGIN_FAILURES_PER_ADDRESS="2 per hour", TRUSTED_PROXIES=parse_networks("10.0.0.1"))
    make_account(Role.VIEWER)

    def attempt(peer: str, forwarded_for: str, password: str = "wrong password, again") -> int:
        client = app.test_client()
        options = {"environ_base": {"REMOTE_ADDR": peer}, "headers": {"X-Forwarded-For": forwarded_for}}
        status: int = sign_in(client, "viewer@example.com", password, **options).status_code
        return status

    assert [attempt("10.0.0.1", "203.0.113.5") for _ in range(2)] == [401, 401]
    assert attempt("10.0.0.1", "203.0.113.5", account_password) == 429
    assert attempt("10.0.0.1", "203.0.113.6", account_password) == 303
    # From an untrusted peer, X-Forwarded-For is the client's own claim: the peer is what counts.
    assert [attempt("192.0.2.1", f"198.51.100.{n}") for n in range(2)] == [401, 401]
    assert attempt("192.0.2.1", "198.51.100.9", account_password) == 429


# The sign-in proxy


@pytest.fixture
def proxy_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUTH_MODE="proxy", TRUSTED_PROXIES=parse_networks("10.0.0.0/8, 192.168.1.5"))


FROM_PROXY = {"REMOTE_ADDR": "10.1.2.3"}


def test_the_proxy_header_from_a_trusted_proxy_signs_in_and_provisions(proxy_app: Flask) -> None:
    client = proxy_app.test_client()
    page = client.get("/", headers={"X-Forwarded-Email": "Grace@Example.com"}, environ_base=FROM_PROXY)
    assert page.status_code == 200
    assert (
        'title="grace@example.com">grace@example.com</span> <span class="badge role">viewer</span>'
        in page.get_data(as_text=True)
    )
    assert "Sign out" not in page.get_data(as_text=True)
    assert (
        client.get(
            "/", headers={"X-Forwarded-Email": "grace@example.com"}, environ_base=FROM_PROXY
        ).status_code
        == 200
    )
    [added] = actions(proxy_app)
    assert (added.event, added.actor) == ("User Added", "proxy@10.1.2.3")
    assert added.payload["properties"] == {"email": "grace@example.com", "role": "viewer"}
    users = client.get("/users/", headers={"X-Forwarded-Email": "grace@example.com"}, environ_base=FROM_PROXY)
    assert users.status_code == 403


def test_a_spoofed_proxy_header_from_an_untrusted_address_is_ignored(
    proxy_app: Flask, make_account: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    make_account(Role.ADMIN, "boss@example.com")
    client = proxy_app.test_client()
    with caplog.at_level(logging.WARNING, logger="webapp.auth.identity"):
        spoofed = client.get(
            "/users/",
            headers={"X-Forwarded-Email": "boss@example.com"},
            environ_base={"REMOTE_ADDR": "192.168.1.6"},
        )
    assert spoofed.status_code == 401
    assert "Sign-in happens at your organisation&#39;s sign-in proxy" in spoofed.get_data(as_text=True)
    assert "ignored X-Forwarded-Email from 192.168.1.6" in caplog.text
    without = client.get("/", environ_base=FROM_PROXY)
    assert without.status_code == 401
    assert (
        client.get(
            "/users/",
            headers={"X-Forwarded-Email": "boss@example.com"},
            environ_base={"REMOTE_ADDR": "192.168.1.5"},
        ).status_code
        == 200
    )
    assert actions(proxy_app) == []


def test_only_the_configured_header_is_believed(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        AUTH_MODE="proxy",
        TRUSTED_PROXIES=parse_networks("10.0.0.0/8"),
        PROXY_USER_HEADER="X-Auth-Request-Email",
    )
    client = app.test_client()
    refused = client.get("/", headers={"X-Forwarded-Email": "a@example.com"}, environ_base=FROM_PROXY)
    assert refused.status_code == 401
    assert '<a href="/">Try again</a>' in refused.get_data(as_text=True)
    assert (
        client.get(
            "/", headers={"X-Auth-Request-Email": "a@example.com"}, environ_base=FROM_PROXY
        ).status_code
        == 200
    )


def test_provisioned_accounts_get_the_configured_role(make_app: Callable[..., Flask]) -> None:
    app = make_app(
        AUTH_MODE="proxy", TRUSTED_PROXIES=parse_networks("10.0.0.0/8"), PROXY_DEFAULT_ROLE=Role.ENGINEER
    )
    app.test_client().get("/", headers={"X-Forwarded-Email": "lin@example.com"}, environ_base=FROM_PROXY)
    assert account(app, "lin@example.com").role is Role.ENGINEER


def test_a_disabled_proxy_account_is_refused(proxy_app: Flask, make_account: Callable[..., str]) -> None:
    make_account(Role.ADMIN, "boss@example.com")
    make_account(Role.VIEWER, "gone@example.com")
    with proxy_app.app_context():
        accounts.disable_user("gone@example.com", actor="test")
    response = proxy_app.test_client().get(
        "/", headers={"X-Forwarded-Email": "gone@example.com"}, environ_base=FROM_PROXY
    )
    assert response.status_code == 403
    assert "The account gone@example.com is disabled." in response.get_data(as_text=True)


def test_sign_in_pages_do_not_exist_behind_the_proxy(proxy_app: Flask) -> None:
    client = proxy_app.test_client()
    assert client.get("/login").status_code == 404
    assert client.get("/setup").status_code == 404


# The users page


def test_an_admin_adds_an_account_and_mistakes_stay_next_to_the_field(
    app: Flask, client: FlaskClient
) -> None:
    form = {"email": "admin@example.com", "role": "engineer", **PASSWORD_TWICE}
    taken = post(client, "/users/", form)
    assert taken.status_code == 409
    assert "admin@example.com already has an account." in taken.get_data(as_text=True)
    added = post(client, "/users/", {**form, "email": "new@example.com", "display_name": "Newt"})
    assert added.status_code == 303 and added.headers["Location"] == "/users/"
    page = client.get("/users/").get_data(as_text=True)
    assert page.count("Added new@example.com as engineer.") == 1 and "Newt" in page
    [recorded] = actions(app)
    assert (recorded.event, recorded.actor) == ("User Added", "admin@example.com")
    assert account(app, "new@example.com").role is Role.ENGINEER


def test_an_admin_changes_roles_but_never_removes_the_last_admin(
    app: Flask, client: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    admin, viewer = account(app, "admin@example.com"), account(app, "viewer@example.com")
    last = post(client, f"/users/{admin.id}/role", {"role": "viewer"})
    assert last.status_code == 409
    assert "admin@example.com is the last active admin" in last.get_data(as_text=True)
    # That answer leaves the POST's address in the bar: opened again, it is the users page (was 405).
    for action in ("role", "disable", "enable", "reset-link"):
        again = client.get(f"/users/{admin.id}/{action}")
        assert (again.status_code, again.headers["Location"]) == (303, "/users/")
    assert post(client, f"/users/{admin.id}/disable", {}).status_code == 409
    assert post(client, f"/users/{viewer.id}/role", {"role": "boss"}).status_code == 400
    changed = post(client, f"/users/{viewer.id}/role", {"role": "engineer"})
    assert changed.status_code == 303
    [recorded] = actions(app)
    assert recorded.event == "User Role Changed" and recorded.actor == "admin@example.com"
    assert recorded.payload["properties"] == {
        "email": "viewer@example.com",
        "from": "viewer",
        "to": "engineer",
    }


def test_an_admin_disables_and_enables_an_account(
    app: Flask, client: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    viewer_client = login_as(Role.VIEWER)
    viewer = account(app, "viewer@example.com")
    # Disabling asks first (enabling does not: it takes nothing away).
    assert 'hx-confirm="Disable viewer@example.com? Their sessions' in client.get("/users/").get_data(
        as_text=True
    )
    assert post(client, f"/users/{viewer.id}/disable", {}).status_code == 303
    assert viewer_client.get("/").status_code == 302
    listing = client.get("/users/").get_data(as_text=True)
    assert "disabled" in listing and 'hx-confirm="Disable viewer@example.com' not in listing
    assert post(client, f"/users/{viewer.id}/enable", {}).status_code == 303
    assert [entry.event for entry in actions(app)] == ["User Disabled", "User Enabled"]
    assert post(client, "/users/999/disable", {}).status_code == 404


# event-catalog users


def test_users_add_reads_the_password_from_stdin_and_list_shows_the_account(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["users", "add", "Ada@Example.com", "--role", "admin", "--name", "Ada", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "added ada@example.com as admin\n"
    with app.app_context():
        user, _ = accounts.authenticate("ada@example.com", "a long enough password")
        assert user is not None and user.role is Role.ADMIN
    listing = runner.invoke(args=["users", "list"]).stdout.splitlines()
    assert listing[0].split() == ["EMAIL", "ROLE", "STATE", "LAST", "SIGN-IN", "(UTC)", "NAME"]
    assert listing[1].split()[:3] == ["ada@example.com", "admin", "active"]
    [account] = json.loads(runner.invoke(args=["users", "list", "--format", "json"]).stdout)["accounts"]
    signed_in = account.pop("last_sign_in")  # authenticate() above signed in
    assert account == {"email": "ada@example.com", "role": "admin", "active": True, "name": "Ada"}
    assert signed_in.endswith("+00:00")
    [added] = actions(app)
    assert added.actor is not None and added.actor.startswith("cli:")


def test_users_add_prompts_for_the_password_twice(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "add", "bo@example.com"], input="a long enough password\n" * 2)
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    assert account(app, "bo@example.com").role is Role.VIEWER


def test_users_add_without_a_password_says_how_to_give_one(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "add", "bo@example.com"], input="")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: no password given: type it at the prompt, or pipe it in with --password-stdin"
    )


def test_users_add_refuses_an_existing_account_before_asking_for_a_password(
    runner: FlaskCliRunner, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    for stdin in ("", "a long enough password\n" * 2):
        result = runner.invoke(args=["users", "add", "Viewer@example.com"], input=stdin)
        assert result.exit_code == 2
        assert "Password" not in result.output
        assert result.stderr == "error: viewer@example.com already has an account\n"


def test_users_commands_change_roles_and_states(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str]
) -> None:
    make_account(Role.ADMIN)
    make_account(Role.VIEWER)
    assert (
        runner.invoke(args=["users", "set-role", "viewer@example.com", "Engineer"]).stdout
        == "viewer@example.com is engineer\n"
    )
    assert (
        runner.invoke(args=["users", "disable", "viewer@example.com"]).stdout
        == "viewer@example.com is disabled\n"
    )
    assert (
        runner.invoke(args=["users", "enable", "viewer@example.com"]).stdout
        == "viewer@example.com is enabled\n"
    )
    reset = runner.invoke(
        args=["users", "set-password", "viewer@example.com", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert reset.exit_code == 0
    with app.app_context():
        assert accounts.authenticate("viewer@example.com", NEW_PASSWORD)[0] is not None
    assert [entry.event for entry in actions(app)] == [
        "User Role Changed",
        "User Disabled",
        "User Enabled",
        "User Password Changed",
    ]


def test_users_add_asks_no_password_behind_the_sign_in_proxy(proxy_app: Flask) -> None:
    result = proxy_app.test_cli_runner().invoke(args=["users", "add", "cy@example.com", "--role", "engineer"])
    assert result.exit_code == 0 and result.stdout == "added cy@example.com as engineer\n"
    user = account(proxy_app, "cy@example.com")
    assert user.password_hash is None and user.role is Role.ENGINEER


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["add", "x@example.com", "--role", "boss"],
            "",
            "error: 'boss' is not a role: use viewer, engineer, admin",
        ),
        (
            ["add", "not-an-email", "--password-stdin"],
            "a long enough password\n",
            "error: 'not-an-email' is not an email address",
        ),
        (
            ["add", "x@example.com", "--password-stdin"],
            "short\n",
            "error: the password must have at least 12 characters",
        ),
        (
            ["add", "admin@example.com", "--password-stdin"],
            "a long enough password\n",
            "error: admin@example.com already has an account",
        ),
        (["set-role", "nobody@example.com", "admin"], "", "error: there is no account 'nobody@example.com'"),
        (
            ["set-role", "admin@example.com", "viewer"],
            "",
            "error: admin@example.com is the last active admin: make another account admin first",
        ),
        (
            ["disable", "admin@example.com"],
            "",
            "error: admin@example.com is the last active admin: make another account admin first",
        ),
    ],
)
def test_users_commands_fail_in_one_line(
    runner: FlaskCliRunner, make_account: Callable[..., str], args: list[str], stdin: str, message: str
) -> None:
    make_account(Role.ADMIN)
    result = runner.invoke(args=["users", *args], input=stdin)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


@pytest.mark.parametrize(
    "args",
    [
        ["add", "bin@example.com", "--password-stdin"],
        ["set-password", "admin@example.com", "--password-stdin"],
    ],
)
def test_a_password_piped_in_that_is_not_utf8_text_is_refused_in_one_line(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str], args: list[str]
) -> None:
    make_account(Role.ADMIN)
    hash_before = account(app, "admin@example.com").password_hash
    result = runner.invoke(args=["users", *args], input=b"\xff\xfe password long\n")
    assert result.exit_code == 2
    assert result.stderr == "error: the password must be UTF-8 text\n"
    assert account(app, "bin@example.com") is None
    assert account(app, "admin@example.com").password_hash == hash_before


@pytest.mark.parametrize(
    "args",
    [
        ["add", "closed@example.com"],
        ["add", "closed@example.com", "--password-stdin"],
        ["set-password", "admin@example.com"],
        ["set-password", "admin@example.com", "--password-stdin"],
    ],
)
def test_a_password_from_a_closed_standard_input_is_refused_in_one_line(
    app: Flask, sqlite_url: str, make_account: Callable[..., str], args: list[str]
) -> None:
    """With standard input closed (`<&-`) Python has no sys.stdin: reading or prompting from it was
    an AttributeError traceback."""
    make_account(Role.ADMIN)
    hash_before = account(app, "admin@example.com").password_hash
    command = Path(sys.executable).parent / "event-catalog"
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", command, "users", *args],
        env={**os.environ, "DATABASE_URL": sqlite_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        ["error: no password: standard input is closed (pipe the password in with --password-stdin)"],
    )
    assert account(app, "closed@example.com") is None
    assert account(app, "admin@example.com").password_hash == hash_before


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("postgresql://nobody@127.0.0.1:1/none", "Check DATABASE_URL and that the server is up."),
        ("sqlite:///{tmp}/empty.db", "The database has no schema yet: run `event-catalog db upgrade`."),
    ],
)
def test_a_command_the_database_refuses_says_what_to_do_in_one_line(
    tmp_path: Path, url: str, advice: str
) -> None:
    (tmp_path / "empty.db").touch()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url.format(tmp=tmp_path)})
    result = app.test_cli_runner().invoke(args=["users", "list"])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot use the accounts table: ") and line.endswith(advice), line
    tokens = app.test_cli_runner().invoke(args=["users", "token", "list"])
    [line] = tokens.stderr.splitlines()
    assert line.startswith("error: cannot use the API tokens table: ") and line.endswith(advice), line


def test_a_token_command_the_database_refuses_names_the_api_tokens_table(
    app: Flask, runner: FlaskCliRunner, make_account: Callable[..., str]
) -> None:
    """Token commands said "cannot use the accounts table" though what failed was api_tokens."""
    make_account(Role.ENGINEER)
    with app.app_context():
        db.session.execute(text("DROP TABLE api_tokens"))
        db.session.commit()
    for args in (
        ["create", "engineer@example.com", "--name", "ci"],
        ["list"],
        ["list", "engineer@example.com"],
    ):
        result = runner.invoke(args=["users", "token", *args])
        assert (result.exit_code, result.stderr) == (
            2,
            "error: cannot use the API tokens table: no such table: api_tokens\n",
        ), args


@pytest.mark.parametrize(
    "address", ["<script>alert(1)</script>@x.com", "a b@x.com", "a@b@c", 'ada"@x.com', "ada@x.com;bob@y.com"]
)
def test_an_address_with_characters_no_email_holds_is_refused(address: str) -> None:
    from webapp.auth.accounts import AccountError, normalise_email

    with pytest.raises(AccountError, match="is not an email address"):
        normalise_email(address)
    assert normalise_email(" First.Last+ci@Sub.Example.co ") == "first.last+ci@sub.example.co"


def _title_and_focus(page: str) -> tuple[str, list[str]]:
    """A page's title, and what it gives the focus to (`autofocus`): each by its id, or its class."""
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None
    focused = []
    for tag in re.findall(r"<\w+\s[^>]*>", page):
        if re.search(r"\sautofocus(?=[\s>=])", tag):
            named = re.search(r'\bid="([^"]+)"', tag) or re.search(r'\bclass="([^"]+)"', tag)
            focused.append(named.group(1) if named else tag)
    return title.group(1), focused


@pytest.mark.parametrize(
    ("path", "role", "fields", "focus"),
    [
        (
            "/login",
            Role.ADMIN,
            {"email": "admin@example.com", "password": "not the password at all"},
            "error",
        ),
        ("/login", Role.ADMIN, {"email": "", "password": ""}, "email"),
        ("/setup", None, {"email": "not an email", **PASSWORD_TWICE}, "email"),
        ("/users/", Role.ADMIN, {"email": "", "role": "viewer", **PASSWORD_TWICE}, "email"),
        ("/account/password", Role.VIEWER, {"current": "a wrong guess here", **PASSWORD_TWICE}, "current"),
        ("/account/tokens", Role.VIEWER, {"name": ""}, "name"),
        ("/tester/presets", Role.ENGINEER, {"name": ""}, "p-name"),
        ("/reset/not-a-real-token", None, None, "error"),
    ],
)
def test_a_form_returned_with_errors_says_so_in_its_title_and_focuses_what_to_fix(
    anonymous: FlaskClient,
    login_as: Callable[..., FlaskClient],
    make_account: Callable[..., str],
    path: str,
    role: Role | None,
    fields: dict[str, str] | None,
    focus: str,
) -> None:
    """After a wrong password, /login came back with the same title and the focus at the document's start;
    no form page's title changed with its errors, which is what a screen reader says first."""
    browser = anonymous
    if role is not None and path == "/login":
        make_account(role)
    elif role is not None:
        browser = login_as(role)
    before = browser.get(path)
    answer = post(browser, path, fields) if fields is not None else before
    assert answer.status_code in (400, 401, 409, 422)
    title, focused = _title_and_focus(answer.get_data(as_text=True))
    assert title.startswith("Error: ") and focused == [focus]
    if fields is not None:
        assert not _title_and_focus(before.get_data(as_text=True))[0].startswith("Error")
