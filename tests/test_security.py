"""Web safety: CSRF, security headers, cookies, the production secret, open redirects, rate limits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import itsdangerous
import pytest
from auth_helpers import sign_in, signed_in_client
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from production_settings import AUDIT_KEY_LINES, AUDIT_KEYS, HOST_AUDIT_KEY_LINES, SECRET_LINE
from production_settings import SECRET_KEY as PRODUCTION_SECRET
from sqlalchemy import Engine, select

from webapp import create_app, limits
from webapp.auth.identity import SIGNED_OUT
from webapp.auth.policy import requires
from webapp.auth.redirects import safe_next
from webapp.auth.roles import Role
from webapp.config import ConfigurationError, from_environment
from webapp.security import HEADERS

BIN = Path(sys.executable).parent


def _event_catalog(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed `event-catalog` command run with `env`, its output as text; no input, so that a
    command that would wait for some (`shell`, a server) is caught by the timeout instead."""
    return subprocess.run(
        [BIN / "event-catalog", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _token(client: FlaskClient) -> str:
    import re

    found = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/").get_data(as_text=True))
    assert found is not None
    return found.group(1)


# CSRF


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_state_changing_request_without_the_token_is_refused(
    app: Flask, client: FlaskClient, htmx: bool
) -> None:
    headers = {"HX-Request": "true"} if htmx else {}
    before = len(client.get("/users/").get_data(as_text=True))
    refused = client.post(
        "/users/",
        data={
            "email": "x@example.com",
            "role": "admin",
            "password": "a long enough password",
            "confirm": "a long enough password",
        },
        headers=headers,
    )
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "The form expired or was sent from another site." in body
    assert ("<html" in body) is not htmx
    assert client.post("/logout", headers=headers).status_code == 400
    assert client.get("/").status_code == 200
    with app.app_context():
        from webapp.auth.accounts import find_user

        assert find_user("x@example.com") is None
    assert len(client.get("/users/").get_data(as_text=True)) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_the_same_request_with_the_token_goes_through(client: FlaskClient, htmx: bool) -> None:
    headers = {"X-CSRFToken": _token(client), **({"HX-Request": "true"} if htmx else {})}
    assert client.post("/logout", headers=headers).status_code == 303
    assert client.get("/").status_code == 302


def test_a_token_from_another_session_is_refused(
    client: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    other = login_as(Role.VIEWER)
    assert client.post("/logout", headers={"X-CSRFToken": _token(other)}).status_code == 400


@pytest.mark.parametrize(("hours", "accepted"), [(5, True), (13, False)], ids=["5h", "13h"])
def test_a_form_s_token_lasts_as_long_as_the_sign_in(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, hours: int, accepted: bool
) -> None:
    """Flask-WTF's tokens expired after its default hour while a sign-in lasts SESSION_LIFETIME (12 h):
    a tester left open over lunch refused Send and Save preset as "form expired". Past the sign-in's
    lifetime the session itself ends, and its token with it."""
    token = _token(client)
    later = time.time() + hours * 3600
    # The clock of every signed value: the form's token and the session cookie that holds its secret.
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: int(later))
    saved = client.post("/tester/presets", data={"csrf_token": token, "name": "lunch", "user_id": "5"})
    assert saved.status_code == (303 if accepted else 302), saved.get_data(as_text=True)
    assert saved.headers["Location"] == ("/tester/presets" if accepted else "/login")
    with app.app_context():
        from webapp.extensions import db
        from webapp.tester.models import ScopePreset

        assert [p.name for p in db.session.scalars(select(ScopePreset))] == (["lunch"] if accepted else [])


def _signed_out_elsewhere(client: FlaskClient) -> str:
    """Sign the client out as another tab of the same browser would; returns a token of the page
    still open in this one."""
    token = _token(client)
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 303
    return token


def test_a_form_sent_after_signing_out_in_another_tab_leads_to_sign_in_and_says_why(
    client: FlaskClient,
) -> None:
    """The CSRF check runs before the sign-in is read: a form from a tab left open was refused as
    "The form expired or was sent from another site", which did not say that no one was signed in."""
    token = _signed_out_elsewhere(client)
    refused = client.post("/users/", data={"csrf_token": token, "email": "x@example.com", "role": "viewer"})
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert str(escape(SIGNED_OUT)) in page
    assert "The form expired" not in page


def test_an_htmx_request_sent_after_signing_out_in_another_tab_goes_to_sign_in(client: FlaskClient) -> None:
    """As any htmx request without a sign-in: the whole page goes to the sign-in page, back here after."""
    token = _signed_out_elsewhere(client)
    refused = client.post(
        "/account/tokens/1/revoke",
        headers={
            "X-CSRFToken": token,
            "HX-Request": "true",
            "HX-Current-URL": "http://localhost/account/tokens",
        },
    )
    assert refused.status_code == 401
    assert refused.headers["HX-Redirect"] == "/login?next=/account/tokens"
    assert str(escape(SIGNED_OUT)) in client.get("/login").get_data(as_text=True)


def test_a_form_from_before_the_latest_sign_in_says_so(
    client: FlaskClient, make_account: Callable[..., str], account_password: str
) -> None:
    token = _signed_out_elsewhere(client)
    assert sign_in(client, make_account(Role.ADMIN), account_password).status_code == 303
    for headers in ({}, {"HX-Request": "true"}):
        refused = client.post("/users/5/role", data={"csrf_token": token, "role": "viewer"}, headers=headers)
        assert refused.status_code == 400
        body = refused.get_data(as_text=True)
        assert "This page was loaded before your latest sign-in (in this or another tab or window)" in body
        # The refusal's page keeps the navigation of the person signed in.
        assert ("Sign out" in body) is not bool(headers)


def test_signing_in_needs_the_token_too(
    anonymous: FlaskClient, make_account: Callable[..., str], account_password: str
) -> None:
    make_account(Role.VIEWER)
    response = anonymous.post("/login", data={"email": "viewer@example.com", "password": account_password})
    assert response.status_code == 400
    assert anonymous.get("/").status_code == 302


PLAIN_HTTP = (
    "The dashboard is served over plain HTTP, but its session cookie is Secure (the production default), "
    "so the browser never sends it back and no form can be accepted. Serve it over HTTPS (directly or "
    "behind a TLS proxy), or set SESSION_COOKIE_SECURE=false."
)
EXPIRED = "The form expired or was sent from another site. Reload the page and try again."


@pytest.mark.parametrize(
    ("base_url", "headers", "with_token", "says"),
    [
        ("http://catalog.internal", {}, True, PLAIN_HTTP),
        ("https://catalog.internal", {}, True, EXPIRED),
        ("http://catalog.internal", {"X-Forwarded-Proto": "https"}, True, EXPIRED),
        ("http://localhost:5000", {}, True, EXPIRED),
        ("http://127.0.0.1:5000", {}, True, EXPIRED),
        ("http://catalog.internal", {}, False, EXPIRED),
    ],
    ids=["plain-http", "https", "tls-proxy", "localhost", "loopback", "no-token"],
)
def test_a_secure_session_cookie_over_plain_http_is_named_as_the_cause(
    make_app: Callable[..., Flask],
    make_account: Callable[..., str],
    account_password: str,
    base_url: str,
    headers: dict[str, str],
    with_token: bool,
    says: str,
) -> None:
    """A browser keeps a Secure cookie only from HTTPS (and localhost), so over plain HTTP the sign-in
    form comes back without its session: no reload helps. Elsewhere the same failure is a session that
    expired. (The test client keeps every cookie: a second one stands for the browser that dropped it.)"""
    email = make_account(Role.ADMIN)
    production = make_app(APP_ENV="production", SECRET_KEY=PRODUCTION_SECRET, **AUDIT_KEYS)
    page = production.test_client().get("/login", base_url=base_url, headers=headers)
    assert page.status_code == 200 and "Secure" in page.headers["Set-Cookie"]
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    form = {"email": email, "password": account_password}
    if with_token:
        form["csrf_token"] = token.group(1)
    refused = production.test_client().post("/login", base_url=base_url, headers=headers, data=form)
    assert refused.status_code == 400
    assert f'<div class="error" role="alert">{escape(says)}</div>' in refused.get_data(as_text=True)


# Headers and cookies


def _assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in HEADERS.items():
        assert headers[name] == value, name
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_security_headers_are_on_pages_api_errors_static_files_and_redirects(
    app: Flask, client: FlaskClient, anonymous: FlaskClient
) -> None:
    app.add_url_rule("/api/things", "things", requires(Role.VIEWER)(lambda: {"things": []}))
    page = client.get("/")
    api_error = anonymous.get("/api/things")
    not_found = client.get("/api/nowhere")
    static = client.get("/static/style.css")
    redirect = anonymous.get("/")
    static.close()
    assert (page.status_code, api_error.status_code, not_found.status_code) == (200, 401, 404)
    assert (api_error.mimetype, not_found.mimetype) == ("application/json", "application/json")
    assert (static.status_code, redirect.status_code) == (200, 302)
    for response in (page, api_error, not_found, static, redirect):
        _assert_security_headers(response)
    assert page.headers["Cache-Control"] == "no-store"
    assert "no-store" not in static.headers.get("Cache-Control", "")
    assert "Strict-Transport-Security" not in page.headers


def test_a_static_file_carries_one_date_header_through_the_development_server(
    app: Flask, serve: Callable[[Flask], str]
) -> None:
    """Werkzeug's conditional responses add a Date and the server writes its own: two, until removed."""
    import requests

    stylesheet = requests.get(f"{serve(app)}/static/style.css", timeout=15)
    assert stylesheet.status_code == 200
    assert len(stylesheet.raw.headers.getlist("Date")) == 1


def test_security_headers_are_on_server_errors(app: Flask, client: FlaskClient) -> None:
    def broken() -> str:
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/broken", "broken", requires(Role.VIEWER)(broken))
    response = client.get("/broken")
    assert response.status_code == 500
    _assert_security_headers(response)


def test_https_responses_ask_browsers_to_stay_on_https(client: FlaskClient) -> None:
    response = client.get("/healthz", base_url="https://dashboard.example.com")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_session_cookie_is_secure_in_production(
    make_app: Callable[..., Flask], anonymous: FlaskClient
) -> None:
    development = anonymous.get("/setup").headers["Set-Cookie"]
    assert "HttpOnly" in development and "SameSite=Lax" in development and "Secure" not in development
    production = make_app(APP_ENV="production", SECRET_KEY=PRODUCTION_SECRET, **AUDIT_KEYS)
    cookie = (
        production.test_client().get("/setup", base_url="https://dashboard.example.com").headers["Set-Cookie"]
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    settings = from_environment({"SESSION_COOKIE_SECURE": "false"})
    assert (
        make_app(APP_ENV="production", SECRET_KEY=PRODUCTION_SECRET, **AUDIT_KEYS, **settings).config[
            "SESSION_COOKIE_SECURE"
        ]
        is False
    )


# The production secret


@pytest.mark.parametrize("secret", [None, "dev-only-not-secret", "short"])
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path: Path, secret: str | None) -> None:
    settings = {"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"}
    if secret is not None:
        settings["SECRET_KEY"] = secret
    with pytest.raises(ConfigurationError) as caught:
        create_app({**settings, **AUDIT_KEYS})
    assert caught.value.problems == [SECRET_LINE]


@pytest.mark.parametrize("key", [None, "", "event-catalog", "x", "c" * 15])
def test_production_refuses_to_start_with_public_or_short_audit_keys(tmp_path: Path, key: str | None) -> None:
    """Anyone who can write to the database could recompute the chain, and guess the masks."""
    settings = {
        "APP_ENV": "production",
        "SECRET_KEY": PRODUCTION_SECRET,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
    }
    if key is not None:
        settings.update(AUDIT_CHAIN_KEY=key, AUDIT_MASK_KEY=key)
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert caught.value.problems == AUDIT_KEY_LINES
    with pytest.raises(ConfigurationError) as caught:
        create_app({**settings, "AUDIT_CHAIN_KEY": AUDIT_KEYS["AUDIT_CHAIN_KEY"]})
    assert caught.value.problems == AUDIT_KEY_LINES[1:]


@pytest.mark.parametrize(
    "secret",
    ["change-me-outside-a-laptop", "CHANGEME-before-deploying-it", "a" * 40, "abababababababababab"],
)
def test_production_refuses_placeholder_and_repeated_character_secrets(tmp_path: Path, secret: str) -> None:
    """compose.yaml's published placeholders passed (16 characters or more): anyone could work out the
    set-up code from SECRET_KEY, claim the admin account and forge sessions."""
    settings = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
        "SECRET_KEY": secret,
        "AUDIT_CHAIN_KEY": secret + "-chain",
        "AUDIT_MASK_KEY": secret + "-mask",
    }
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert caught.value.problems == [SECRET_LINE, *AUDIT_KEY_LINES]


def test_production_refuses_one_value_for_two_secrets(tmp_path: Path) -> None:
    settings = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
        "SECRET_KEY": PRODUCTION_SECRET,
        "AUDIT_CHAIN_KEY": PRODUCTION_SECRET,
        "AUDIT_MASK_KEY": AUDIT_KEYS["AUDIT_CHAIN_KEY"],
    }
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert caught.value.problems == [
        "AUDIT_CHAIN_KEY: must differ from SECRET_KEY (give each secret its own value)"
    ]


def test_the_start_script_s_commands_refuse_the_public_chain_key_saying_to_copy_the_dashboard_s(
    tmp_path: Path,
) -> None:
    """`db upgrade` writes the chain's checkpoints but signs no session and makes no mask: it asked
    for SECRET_KEY and AUDIT_MASK_KEY too, each with a line saying to generate one."""
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "AUDIT_CHAIN_KEY": "",
    }
    for name in ("SECRET_KEY", "AUDIT_MASK_KEY"):
        env.pop(name, None)
    done = _event_catalog("db", "upgrade", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid configuration:",
        "  AUDIT_CHAIN_KEY: APP_ENV=production needs the dashboard's AUDIT_CHAIN_KEY, not a placeholder "
        "(it keys the audit log's hash chain, so that whoever can write to the database cannot recompute "
        "it; the same on every host): set it to the dashboard's value, not a new one",
    ]


def test_an_application_host_s_and_a_cron_job_s_commands_need_no_secret_key(tmp_path: Path) -> None:
    """The README's application host (both audit keys, no SECRET_KEY) could not run `db upgrade`
    or `replay`, nor a verify job given the chain key alone `audit verify`: each command asked for
    every secret of the dashboard's. Each now checks those it uses."""
    env = {**os.environ, "APP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.update(AUDIT_KEYS, SEGMENT_WRITE_KEY="a-write-key")
    env.pop("SECRET_KEY", None)
    for command in (["db", "upgrade"], ["replay"]):
        done = _event_catalog(*command, env=env)
        assert (command, done.returncode) == (command, 0), done.stderr
    env.pop("AUDIT_MASK_KEY")
    done = _event_catalog("audit", "verify", env=env)
    assert (done.returncode, done.stdout) == (0, "verified 0 entries in 0 writer chains\n")
    done = _event_catalog("replay", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines()[1].startswith(
        "  AUDIT_MASK_KEY: APP_ENV=production needs the dashboard's AUDIT_MASK_KEY"
    )


def test_the_development_server_exits_with_the_secret_key_message_in_production(tmp_path: Path) -> None:
    """`run` is the dashboard: it makes its own SECRET_KEY. (This test ran `routes`, which lists URLs
    and uses no secret: it was refused all the same.)"""
    env = {**os.environ, "APP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.update(AUDIT_KEYS)
    env.pop("SECRET_KEY", None)
    done = _event_catalog("run", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: invalid configuration:", f"  {SECRET_LINE}"]


def _walk(
    command: click.Command, path: tuple[str, ...], ctx: click.Context
) -> Iterator[tuple[str, click.Command]]:
    """Every command under `command` (not the groups), with its path, as the console script finds them."""
    if not isinstance(command, click.Group):
        yield " ".join(path), command
        return
    for name in command.list_commands(ctx):
        subcommand = command.get_command(ctx, name)
        assert subcommand is not None, name
        yield from _walk(subcommand, (*path, name), ctx)


def test_every_command_declares_the_production_secrets_it_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A command the check did not name was given the dashboard's three secrets, and the dashboard's
    advice to make new audit keys, which on an application host key chains and masks nothing else
    reads. Each command now declares its own (`webapp.cli_secrets.uses_secrets`): one that declares
    nothing fails here. Flask's and Flask-Migrate's commands are declared on copies, their shared
    objects left alone."""
    import flask.cli
    import flask_migrate.cli

    from webapp.cli import main
    from webapp.cli_secrets import DASHBOARD, secrets_declared

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    with main.make_context("event-catalog", ["--help"], resilient_parsing=True) as ctx:
        commands = dict(_walk(main, (), ctx))
    assert {"run", "shell", "routes", "db current", "audit verify", "users token list"} <= commands.keys()
    assert [path for path, command in commands.items() if secrets_declared(command) is None] == []
    # Audit keys are the dashboard's everywhere but on the dashboard's own server.
    assert [path for path, command in commands.items() if secrets_declared(command).shared != DASHBOARD] == [
        "run"
    ]
    shared = [flask.cli.run_command, flask.cli.shell_command, flask.cli.routes_command]
    assert [secrets_declared(command) for command in [*shared, *flask_migrate.cli.db.commands.values()]] == [
        None
    ] * (3 + len(flask_migrate.cli.db.commands))


def test_a_command_outside_the_dashboard_says_to_copy_its_secrets_and_asks_only_for_those_it_uses(
    tmp_path: Path,
) -> None:
    """`shell` opens the dashboard's app: it needs the dashboard's values, not new ones. `drift`
    (it reads the database only) was refused without both audit keys, and Flask's `routes` without
    all three."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "AUDIT_CHAIN_KEY": AUDIT_KEYS["AUDIT_CHAIN_KEY"],
    }
    for name in ("SECRET_KEY", "AUDIT_MASK_KEY"):
        env.pop(name, None)
    upgraded = _event_catalog("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    env.pop("AUDIT_CHAIN_KEY")
    for command in (["drift", "--since", "1h"], ["routes"]):
        done = _event_catalog(*command, env=env)
        assert (command, "invalid configuration" in done.stderr) == (command, False), done.stderr
        assert done.returncode in (0, 1), done.stderr
    done = _event_catalog("shell", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid configuration:",
        "  SECRET_KEY: APP_ENV=production needs the dashboard's SECRET_KEY, not a placeholder "
        "(it signs sessions and CSRF tokens): set it to the dashboard's value, not a new one",
        *(f"  {line}" for line in HOST_AUDIT_KEY_LINES),
    ]


def test_the_wsgi_entry_point_exits_with_the_secret_key_message_in_production(tmp_path: Path) -> None:
    env = {**os.environ, "APP_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.update(AUDIT_KEYS)
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 4
    assert done.stderr.splitlines() == ["error: invalid configuration:", f"  {SECRET_LINE}"]


def test_access_settings_report_every_bad_value_in_one_line_each() -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_environment(
            {
                "APP_ENV": "staging",
                "AUTH_MODE": "ldap",
                "SESSION_LIFETIME": "forever",
                "SESSION_COOKIE_SECURE": "sometimes",
                "TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal",
                "PROXY_USER_HEADER": "X Email",
                "PROXY_DEFAULT_ROLE": "boss",
                "LOGIN_FAILURES_PER_ACCOUNT": "lots",
                "TESTER_LIMIT_PER_PERSON": "30 per fortnight",
                "RATELIMIT_STORAGE_URI": "postgresql://db/limits",
            }
        )
    assert caught.value.problems == [
        "APP_ENV: 'staging' is not one of development, production",
        "AUTH_MODE: 'ldap' is not one of accounts, proxy",
        "SESSION_LIFETIME: 'forever' is not a duration: "
        "use a positive number and a unit, like 15m, 24h, 30d or 2w",
        "SESSION_COOKIE_SECURE: must be true or false, not 'sometimes'",
        "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or CIDR range, e.g. 10.0.0.0/8",
        "PROXY_USER_HEADER: 'X Email' is not an HTTP header name, e.g. X-Forwarded-Email",
        "PROXY_DEFAULT_ROLE: 'boss' is not a role: use viewer, engineer, admin",
        "LOGIN_FAILURES_PER_ACCOUNT: 'lots' is not a rate limit, e.g. 5 per 15 minutes or 30/minute",
        "TESTER_LIMIT_PER_PERSON: '30 per fortnight' is not a rate limit, e.g. 5 per 15 minutes or 30/minute",
        "RATELIMIT_STORAGE_URI: 'postgresql://db/limits' is not a rate-limit storage URI, e.g. memory:// or redis://host:6379",
    ]


def test_a_rate_limit_store_without_its_client_library_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_app(
            {
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            }
        )
    [problem] = caught.value.problems
    assert problem.startswith("RATELIMIT_STORAGE_URI: 'redis' prerequisite not available.")


def test_proxy_mode_needs_the_proxy_addresses(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_app({"AUTH_MODE": "proxy", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"})
    assert caught.value.problems == [
        "TRUSTED_PROXIES: AUTH_MODE=proxy needs the addresses of the proxy that sets X-Forwarded-Email, "
        "e.g. TRUSTED_PROXIES=10.0.0.0/8"
    ]


# Open redirects


HOSTILE_NEXT = [
    "https://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leaves_the_site(
    anonymous: FlaskClient, make_account: Callable[..., str], account_password: str, target: str
) -> None:
    import re

    make_account(Role.VIEWER)
    page = anonymous.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert token is not None
    response = anonymous.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "email": "viewer@example.com",
            "password": account_password,
            "next": target,
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert anonymous.get("/login", query_string={"next": target}).headers["Location"] == "/"


def test_next_keeps_paths_on_the_site() -> None:
    assert safe_next("/?q=cluster&sort=name") == "/?q=cluster&sort=name"
    assert safe_next("/audit/entries/abc#attempts") == "/audit/entries/abc#attempts"
    assert safe_next(None) == "/"


# Rate limits on sending (the tester's route applies `send_limit`)


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def make(**settings: str) -> Flask:
        app = make_app(WTF_CSRF_ENABLED=False, **settings)

        @requires(Role.ENGINEER)
        @limits.send_limit
        def send() -> dict[str, bool]:
            limits.count_as_sent()
            return {"sent": True}

        app.add_url_rule("/api/send", "send", send, methods=["GET", "POST"])
        return app

    return make


def test_sends_are_limited_per_person_with_a_json_429(
    limited_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    app = limited_app(TESTER_LIMIT_PER_PERSON="2 per minute")
    ada, bo = (
        login_as(Role.ENGINEER, "ada@example.com", on=app),
        login_as(Role.ENGINEER, "bo@example.com", on=app),
    )
    assert [ada.post("/api/send").status_code for _ in range(2)] == [200, 200]
    refused = ada.post("/api/send")
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    message = refused.get_json()["error"]["message"]
    assert message.startswith("You have sent too many test events. Try again in ")
    _assert_security_headers(refused)
    assert ada.get("/api/send").status_code == 200
    assert bo.post("/api/send").status_code == 200


def test_retry_after_never_exceeds_the_window_of_the_limit_reached(
    limited_app: Callable[..., Flask],
    login_as: Callable[..., FlaskClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window's reset time is rounded up and read a moment before the clock: under load the header
    said 61 for a limit of a minute. A clock a minute late puts any reset beyond the window."""
    app = limited_app(TESTER_LIMIT_PER_PERSON="1 per minute")
    ada = login_as(Role.ENGINEER, "ada@example.com", on=app)
    assert ada.post("/api/send").status_code == 200
    late_clock = time.time
    monkeypatch.setattr(limits, "time", type("Clock", (), {"time": staticmethod(lambda: late_clock() - 60)}))
    refused = ada.post("/api/send")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 60
    assert "Try again in 60 seconds." in refused.get_json()["error"]["message"]


def test_sends_are_limited_per_address(
    limited_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    app = limited_app(TESTER_LIMIT_PER_ADDRESS="3 per minute")
    ada, bo = (
        login_as(Role.ENGINEER, "ada@example.com", on=app),
        login_as(Role.ENGINEER, "bo@example.com", on=app),
    )
    assert [ada.post("/api/send").status_code for _ in range(2)] + [bo.post("/api/send").status_code] == [
        200
    ] * 3
    refused = bo.post("/api/send")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["message"].startswith(
        "Too many test events were sent from your address."
    )
    assert bo.post("/api/send", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200


def test_refused_people_do_not_use_up_the_limit(
    limited_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    app = limited_app(TESTER_LIMIT_PER_ADDRESS="2 per minute")
    viewer = login_as(Role.VIEWER, on=app)
    assert [viewer.post("/api/send").status_code for _ in range(3)] == [403] * 3
    assert login_as(Role.ENGINEER, on=app).post("/api/send").status_code == 200


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"email": "a\x00@example.com", "password": "x"}),
        ("/account/tokens", {"name": "ci\x00"}),
        ("/users/", {"email": "bo@example.com", "display_name": "Bo\x00"}),
    ],
)
def test_a_nul_character_in_any_form_field_is_a_400_not_a_database_error(
    client: FlaskClient, path: str, fields: dict[str, str]
) -> None:
    """PostgreSQL cannot store (or even compare) a NUL: it answered 500, the sign-in page to anyone."""
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/").get_data(as_text=True))
    assert token is not None
    response = client.post(path, data={"csrf_token": token.group(1), **fields})
    assert response.status_code == 400
    name = next(key for key, value in fields.items() if "\x00" in value)
    page = response.get_data(as_text=True)
    assert f"The field &#39;{name}&#39; holds a NUL character" in page
    # Refused after the signed-in user is known: the page keeps the navigation to go back by.
    assert '<nav aria-label="Main">' in page
    assert client.get("/?q=a%00b").status_code == 400


def test_a_nul_character_in_an_audit_filter_is_said_next_to_its_field(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """The check in front of every view answered the audit search with a bare 400 page, the form and
    the other filters gone, and the API's 400 without the `fields` its other refusals carry."""
    client = signed_in_client(make_app(SQLALCHEMY_DATABASE_URI=database_url), Role.VIEWER)
    page = client.get("/audit/?http_status=%00&project=12")
    html = page.get_data(as_text=True)
    assert page.status_code != 500 and "<form" in html
    assert 'aria-invalid="true"' in html and "cannot contain a NUL character" in html
    assert 'value="12"' in html  # the other filter kept
    api = client.get("/api/audit/entries?event=a%00b")
    assert api.status_code == 400
    assert api.get_json()["error"]["fields"] == {
        "event": "holds a NUL character (\\u0000), which cannot be stored."
    }


def test_a_nul_character_in_the_re_send_page_s_view_or_the_health_window_is_said_next_to_its_field(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """The audit page alone was spared the bare 400 page: the re-send confirmation page (the same
    filters) lost the view and its list of unusable filters, the health page its Window field."""
    client = signed_in_client(make_app(SQLALCHEMY_DATABASE_URI=database_url), Role.ADMIN)
    page = client.get("/audit/replay/?event=a%00b&project=12")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "<li><code>event</code>: cannot contain a NUL character</li>" in html
    assert "<dt>project</dt><dd><code>12</code></dd>" in html  # the rest of the view kept
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert token is not None
    resend = client.post("/audit/replay/?event=a%00b&project=12", data={"csrf_token": token.group(1)})
    assert resend.status_code == 400
    assert "<code>event</code>: cannot contain a NUL character" in resend.get_data(as_text=True)
    health = client.get("/health?window=1%00h")
    html = health.get_data(as_text=True)
    assert health.status_code == 400 and 'id="window" name="window"' in html
    assert 'aria-invalid="true"' in html and 'id="window-error">cannot contain a NUL character<' in html


@pytest.mark.parametrize("ident", [2**31, 2**63 - 1, 2**63, 2**64, 10**40])
def test_an_id_past_its_column_is_no_such_row_not_a_500(
    make_app: Callable[..., Flask], database_url: str, ident: int
) -> None:
    """`users.id` and `api_tokens.id` are 32-bit on PostgreSQL and every id is 64-bit on SQLite: an
    id past the column in the address (or `apply_preset`) was a 500 (integer out of range,
    OverflowError), where a small unknown id is no such account, token or preset."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ADMIN)
    csrf = {"csrf_token": _token(client)}
    for path in (
        *(f"/users/{ident}/{action}" for action in ("role", "disable", "enable", "reset-link")),
        f"/account/tokens/{ident}/revoke",
    ):
        assert client.post(path, data={**csrf, "role": "viewer"}).status_code == 404, path
    deleted = client.post(f"/tester/presets/{ident}/delete", data=csrf, follow_redirects=True)
    assert deleted.status_code == 200 and "That preset was already deleted." in deleted.get_data(as_text=True)
    query = {"spec": "ProjectCreate", "apply_preset": str(ident)}
    for applied in (client.get("/tester/", query_string=query), client.post("/tester/", data=query)):
        assert applied.status_code == 404 and "That preset no longer exists." in applied.get_data(
            as_text=True
        )


def test_a_nul_character_in_an_address_is_a_404_on_postgresql(
    make_app: Callable[..., Flask], empty_postgres_url: str, postgres_engine: Engine
) -> None:
    """PostgreSQL cannot compare a NUL: an entry's or a send's page with one in its id answered 500."""
    # `postgres_engine` has migrated the database `empty_postgres_url` names.
    app = make_app(SQLALCHEMY_DATABASE_URI=empty_postgres_url)
    client = signed_in_client(app, Role.ADMIN)
    for path in ("/audit/entries/%00", "/tester/sends/%00", "/tester/sends/a%00b/received", "/reset/%00"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "No page has a NUL character" in response.get_data(as_text=True), path
    api = client.get("/api/catalog/events/%00")
    assert api.status_code == 404 and api.is_json
