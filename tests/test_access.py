"""Who may reach what: every registered URL rule × anonymous, viewer, engineer and admin.

`EXPECTED` is the access table, written out by hand. A route added without an entry here fails
`test_every_route_is_in_the_expected_table`; a route whose view declares no rule is refused to
everyone (`test_a_route_without_a_rule_is_refused_to_everyone`) and fails the matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from auditlog import record
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from analytics.audit import AuditStore
from webapp.auth.policy import allows, require, requires, rules
from webapp.auth.roles import Role

PUBLIC = None

EXPECTED: dict[str, Role | None] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "health.metrics": PUBLIC,
    "health.delivery": Role.ADMIN,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.setup": PUBLIC,
    "auth.reset_password": PUBLIC,
    "catalog.index": Role.VIEWER,
    "catalog.list_download": Role.VIEWER,
    "catalog.event": Role.VIEWER,
    "catalog.event_schema": Role.VIEWER,
    "catalog.scopes": Role.VIEWER,
    "catalog.identifiers": Role.VIEWER,
    "catalog.identifier": Role.VIEWER,
    "catalog.identifier_schema": Role.VIEWER,
    "catalog.changes": Role.VIEWER,
    "catalog.downloads": Role.VIEWER,
    "catalog.download": Role.VIEWER,
    "api.catalog": Role.VIEWER,
    "api.catalog_event": Role.VIEWER,
    "tester.index": Role.ENGINEER,
    "tester.specs": Role.ENGINEER,
    "tester.preview": Role.ENGINEER,
    "tester.send_view": Role.ENGINEER,
    "tester.send_result": Role.ENGINEER,
    "tester.received": Role.ENGINEER,
    "tester.recent_ids_view": Role.ENGINEER,
    "tester.history_view": Role.ENGINEER,
    "tester.presets_view": Role.ENGINEER,
    "tester.delete_preset": Role.ENGINEER,
    "tester_api.list_destinations": Role.ENGINEER,
    "tester_api.send_json": Role.ENGINEER,
    "audit.index": Role.VIEWER,
    "audit.tail": Role.VIEWER,
    "audit.entry": Role.VIEWER,
    "audit.export": Role.VIEWER,
    "audit_api.entries": Role.VIEWER,
    "audit_api.entry": Role.VIEWER,
    "replay.preview": Role.ENGINEER,
    "replay.run": Role.ENGINEER,
    "replay.listing": Role.ENGINEER,
    "auth.users": Role.ADMIN,
    "auth.add_user": Role.ADMIN,
    "auth.change_role": Role.ADMIN,
    "auth.disable": Role.ADMIN,
    "auth.enable": Role.ADMIN,
    "auth.reset_link": Role.ADMIN,
    "auth.account_change_address": Role.ADMIN,
    "account.tokens_page": Role.VIEWER,
    "account.create_token": Role.VIEWER,
    "account.revoke_token": Role.VIEWER,
    "account.password_page": Role.VIEWER,
}

# A sample value for every URL argument name the rules use; `user_id` is filled in at run time.
ARGUMENT_VALUES: dict[str, object] = {
    "filename": "style.css",
    "constant": "ClusterProvisioningSuccess",
    "name": "RegisterIdentify",
    "message_id": "00000000-0000-0000-0000-000000000000",
    "preset_id": 1,
    "extension": "csv",
    "token_id": 1,
    "token": "not-a-reset-link",
    "action": "role",
}

IDENTITIES: list[Role | None] = [None, Role.VIEWER, Role.ENGINEER, Role.ADMIN]


def _url(rule: Rule, values: dict[str, object]) -> str:
    missing = sorted(set(rule.arguments) - set(values))
    assert not missing, f"{rule.rule}: add a sample value for {missing} to ARGUMENT_VALUES"
    return rule.build({name: values[name] for name in rule.arguments})[1]


def _refused_as_anonymous(method: str, url: str, status: int, location: str) -> bool:
    if url.startswith("/api/"):
        return status == 401
    # A page comes back to itself after signing in; a form post's URL cannot be opened again.
    return status == 302 and location == (f"/login?next={url}" if method == "GET" else "/login")


def _allowed(status: int, location: str) -> bool:
    return status not in (401, 403) and not location.startswith(("/login", "/setup"))


def _check(method: str, url: str, required: Role | None, identity: Role | None, client: FlaskClient) -> str:
    response = client.open(url, method=method)
    response.close()
    status, location = response.status_code, response.headers.get("Location", "")
    if required is PUBLIC:
        ok = status not in (401, 403)
        wanted = "not 401/403"
    elif identity is None:
        ok = _refused_as_anonymous(method, url, status, location)
        wanted = "401" if url.startswith("/api/") else "302 to /login"
    elif not identity.includes(required):
        ok = status == 403
        wanted = "403"
    else:
        ok = _allowed(status, location)
        wanted = "allowed"
    return "" if ok else f"{method} {url} as {identity or 'anonymous'}: {status} {location}, wanted {wanted}"


def test_every_route_is_in_the_expected_table(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(endpoints - set(EXPECTED)) == [], "new routes: add them to EXPECTED with their rule"
    assert sorted(set(EXPECTED) - endpoints) == [], "EXPECTED lists routes that no longer exist"
    assert rules(app) == EXPECTED


def test_the_readme_s_admin_row_names_the_admin_pages_and_no_other(app: Flask) -> None:
    """The README listed a "retention purge" for admins in the dashboard, which has no such page
    (`audit purge` is a command), and left out the delivery health page."""
    from webapp import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [admin] = [line for line in readme.splitlines() if line.startswith("| **admin** |")]
    urls = [rule.rule for rule in app.url_map.iter_rules()]
    assert ("purge" in admin) == any("purge" in url for url in urls)
    assert "**Users**" in admin and "**Delivery health**" in admin


@pytest.mark.parametrize("identity", IDENTITIES, ids=lambda identity: str(identity or "anonymous"))
def test_route_role_matrix(
    app: Flask,
    identity: Role | None,
    login_as: Callable[..., FlaskClient],
    make_account: Callable[..., str],
) -> None:
    # CSRF has its own tests (test_security.py); here a refused token would hide the access answer.
    app.config["WTF_CSRF_ENABLED"] = False
    make_account(Role.ADMIN, "other-admin@example.com")
    target = make_account(Role.VIEWER, "target@example.com")
    with app.app_context():
        from webapp.auth.accounts import find_user

        found = find_user(target)
        assert found is not None
        values = {**ARGUMENT_VALUES, "user_id": found.id}
    problems = []
    for rule in app.url_map.iter_rules():
        url = _url(rule, values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            # A fresh client each time: a POST (sign-out, disable) must not change the next answer.
            client = app.test_client() if identity is None else login_as(identity)
            problems.append(_check(method, url, EXPECTED[rule.endpoint], identity, client))
    assert [problem for problem in problems if problem] == []


def test_a_route_without_a_rule_is_refused_to_everyone(
    app: Flask, client: FlaskClient, anonymous: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert "forgotten" not in rules(app)
    with caplog.at_level(logging.ERROR, logger="webapp.auth.policy"):
        as_admin = client.get("/forgotten")
    assert as_admin.status_code == 403
    assert "secret" not in as_admin.get_data(as_text=True)
    assert anonymous.get("/forgotten").status_code == 403
    assert any("forgotten declares no access rule" in record.getMessage() for record in caplog.records)


def test_anonymous_pages_redirect_to_sign_in_with_the_way_back(
    anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    response = anonymous.get("/?q=cluster&sort=name")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?q%3Dcluster%26sort%3Dname"


def test_an_anonymous_form_post_is_sent_to_sign_in_without_a_way_back(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    make_account(Role.VIEWER)
    response = anonymous.post("/users/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_anonymous_api_and_json_callers_get_401(
    app: Flask, anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    app.add_url_rule("/api/things", "things", requires(Role.VIEWER)(lambda: {"things": []}))
    make_account(Role.VIEWER)
    api = anonymous.get("/api/things")
    assert api.status_code == 401 and api.mimetype == "application/json"
    assert "Location" not in api.headers
    json = anonymous.get("/", headers={"Accept": "application/json"})
    assert json.status_code == 401 and json.mimetype == "application/json"
    assert json.get_json()["error"]["message"] == "Sign in to the dashboard first."


def test_anonymous_calls_to_the_json_api_are_told_to_send_a_token(
    anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    answer = anonymous.get("/api/catalog")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer realm=event-catalog"
    assert answer.get_json()["error"]["message"].startswith(
        "Send an API token, `Authorization: Bearer <token>`"
    )


def test_anonymous_htmx_calls_navigate_the_whole_page_to_sign_in(
    anonymous: FlaskClient, make_account: Callable[..., str]
) -> None:
    make_account(Role.VIEWER)
    response = anonymous.get(
        "/", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/?category=cluster"}
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/?category%3Dcluster"


def test_a_history_restore_gets_whole_pages_signed_out_and_on_errors(
    anonymous: FlaskClient, client: FlaskClient, make_account: Callable[..., str]
) -> None:
    """Back to a page htmx keeps no copy of asks for it with `HX-Request` and puts the answer in place
    of the whole page: it got the error's fragment, and signed out a 401 it does not follow."""
    make_account(Role.VIEWER)
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    signed_out = anonymous.get("/?category=cluster", headers=restore)
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"] == "/login?next=/?category%3Dcluster"
    missing = client.get("/events/NoSuchEvent", headers=restore)
    assert missing.status_code == 404 and "<html" in missing.get_data(as_text=True)
    swapped = client.get("/events/NoSuchEvent", headers={"HX-Request": "true"})
    assert "<html" not in swapped.get_data(as_text=True)


def test_first_visit_without_accounts_goes_to_set_up(anonymous: FlaskClient) -> None:
    response = anonymous.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup?next=/"
    assert anonymous.get("/login").headers["Location"] == "/setup"


def test_a_lower_role_is_told_what_it_needs(login_as: Callable[..., FlaskClient]) -> None:
    response = login_as(Role.ENGINEER).get("/users/")
    assert response.status_code == 403
    assert "Your role (engineer) cannot do this; it needs admin." in response.get_data(as_text=True)


def test_views_can_require_more_for_some_requests_and_show_more_to_some_roles(
    app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    @requires(Role.VIEWER)
    def send() -> dict[str, bool]:
        from flask import request

        if request.args.get("destination") == "production":
            require(Role.ADMIN)
        return {"unmasked": allows(Role.ENGINEER)}

    app.add_url_rule("/api/try", "try", send)
    viewer, engineer, admin = (login_as(role) for role in (Role.VIEWER, Role.ENGINEER, Role.ADMIN))
    assert viewer.get("/api/try").get_json() == {"unmasked": False}
    assert engineer.get("/api/try").get_json() == {"unmasked": True}
    refused = engineer.get("/api/try?destination=production")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"].startswith(
        "Your role (engineer) cannot do this; it needs admin."
    )
    assert admin.get("/api/try?destination=production").status_code == 200


def test_the_navigation_offers_only_what_the_role_may_open(
    anonymous: FlaskClient, login_as: Callable[..., FlaskClient]
) -> None:
    signin = anonymous.get("/login").get_data(as_text=True)
    assert 'aria-label="Main"' not in signin
    viewer = login_as(Role.VIEWER).get("/").get_data(as_text=True)
    assert ">Catalog</a>" in viewer and ">Audit log</a>" in viewer and ">Tester</a>" not in viewer
    engineer = login_as(Role.ENGINEER).get("/").get_data(as_text=True)
    assert ">Tester</a>" in engineer


def test_pages_offer_sending_and_re_sending_only_to_roles_that_may(
    login_as: Callable[..., FlaskClient], sqlite_store: AuditStore
) -> None:
    """A viewer is not shown buttons that answer 403 (nor does the audit page load the re-send
    widget for them, which failed on every search)."""
    message_id = record(
        sqlite_store, "ProjectCreate", scope={"user_id": 1, "project_id": 12}, status="failed"
    )
    pages = {
        "/audit/": 'id="audit-replay"',
        "/events/ProjectCreate": "Try it in the tester",
        "/identifiers/RegisterIdentify": "Try it in the tester",
        f"/audit/entries/{message_id}": "Edit and send",
    }
    viewer, engineer = login_as(Role.VIEWER), login_as(Role.ENGINEER)
    for url, offer in pages.items():
        assert offer not in viewer.get(url).get_data(as_text=True), url
        assert offer in engineer.get(url).get_data(as_text=True), url
    assert "Re-send unchanged" not in viewer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    entry = engineer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    # Two actions side by side, told apart: the tester pre-filled (a send gives a new message id), a
    # secondary button as "Edit and send" elsewhere; and the re-send of this message, the primary one.
    assert f'<a class="button secondary" href="/tester/?from={message_id}">Edit and send</a>' in entry
    assert '<button type="submit">Re-send unchanged</button>' in entry and "Send again" not in entry
