"""Hostile values stay text: markup in properties, user ids, actors and account names, in Chromium.

The values go in through the real client (`AnalyticsClient` with the app's audit store, sending to
the local collector), one as a raw message whose `userId` was edited after building. Each page that
shows them must render them as text: no dialog, no element the markup would create, no inline
script (the `page` fixture also fails the test on any Content-Security-Policy violation, which is
what an unescaped `<script>` would cause before the policy blocked it).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from analytics.audit import AuditStore, Source
from analytics.catalog import CATALOG
from analytics.client import AnalyticsClient
from analytics.collector import Collector
from analytics.messages import build_message
from webapp.auth.roles import Role

pytestmark = pytest.mark.e2e

PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]

HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>"
"""A display name that is markup (emails cannot be: the address check refuses `<` and `>`)."""


@pytest.fixture
def hostile(sqlite_store: AuditStore, collector: Collector) -> dict[str, str]:
    """Per payload, a tester send carrying it in properties and actor, and a raw one in the userId.

    Returns: the payload each message carries, by messageId.
    """
    info = CATALOG.event("StackLaunchFailure")
    client = AnalyticsClient(
        "test-key", store=sqlite_store, host=collector.url, source=Source.TESTER, upload_interval=0.05
    )
    ids: dict[str, str] = {}
    try:
        for payload in PAYLOADS:
            spec = info.spec(
                scope=info.scope(user_id=1, project_id=12, cluster_id=4),
                stack_name=payload,
                error_message=payload,
            )
            ids[client.track(spec, actor=payload).message_id] = payload
            message = build_message(spec, source=str(Source.TESTER), actor=payload)
            message["userId"] = payload
            ids[client.deliver(message, actor=payload).message_id] = payload
    finally:
        client.shutdown()
    assert len(collector.received()) == 2 * len(PAYLOADS)
    return ids


def _visit(page: Page, url: str, dialogs: list[str], shown: list[str]) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    for value in shown:
        expect(page.get_by_text(value, exact=False).first).to_be_visible()
    # Nothing the markup would have created if it were not escaped.
    assert page.locator("img[src='x']").count() == 0, url
    assert page.locator("script:not([src])").count() == 0, url
    assert page.locator("[onerror]").count() == 0, url
    assert page.locator("a[href^='javascript:' i]").count() == 0, url
    assert dialogs == [], (url, dialogs)


@pytest.fixture
def dialogs(anonymous_page: Page) -> list[str]:
    """Every dialog a page opens (an `alert(1)` that ran), dismissed and kept for the assertions."""
    opened: list[str] = []

    def record(dialog: object) -> None:
        opened.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    anonymous_page.on("dialog", record)
    return opened


def test_hostile_values_show_as_text_on_every_page(
    live_server: str, page: Page, dialogs: list[str], hostile: dict[str, str]
) -> None:
    _visit(page, f"{live_server}/audit/?source=tester", dialogs, PAYLOADS)
    for message_id, payload in hostile.items():
        _visit(page, f"{live_server}/audit/entries/{message_id}", dialogs, [payload])
        _visit(page, f"{live_server}/tester/sends/{message_id}", dialogs, [payload])
    _visit(page, f"{live_server}/events/StackLaunchFailure", dialogs, PAYLOADS)
    _visit(page, f"{live_server}/tester/history", dialogs, PAYLOADS)
    _visit(page, f"{live_server}/tester/", dialogs, [])


def test_an_account_name_with_markup_shows_as_text(
    live_server: str,
    app: Flask,
    anonymous_page: Page,
    dialogs: list[str],
    make_account: Callable[..., str],
    sign_in: Callable[[Page, str], None],
) -> None:
    # An admin with that name: the header greets them on every page, and the user list shows it.
    email = make_account(Role.ADMIN)
    with app.app_context():
        from webapp.auth.accounts import find_user
        from webapp.extensions import db

        user = find_user(email)
        assert user is not None
        user.display_name = HOSTILE_NAME
        db.session.commit()
    sign_in(anonymous_page, email)
    _visit(anonymous_page, f"{live_server}/", dialogs, [HOSTILE_NAME])
    _visit(anonymous_page, f"{live_server}/users/", dialogs, [HOSTILE_NAME])
