"""A team in Tokyo reads UTC times: a browser in Tokyo, on a PostgreSQL database set to Tokyo.

The pages printed such a database's Tokyo wall clock under a "UTC" label, 9 hours from the audit
pages' time for the same send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from auditlog import record
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import make_url

from analytics.audit import AuditStatus
from analytics.collector import Collector
from webapp import create_app
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db

MOMENT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@pytest.fixture
def app(empty_postgres_url: str, collector: Collector) -> Iterator[Flask]:
    """The dashboard on a PostgreSQL database whose time zone is Tokyo's, with one tester send."""
    name = make_url(empty_postgres_url).database
    with psycopg.connect(empty_postgres_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET timezone = 'Asia/Tokyo'")
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": empty_postgres_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    with app.app_context():
        upgrade()
        store = analytics_client.store(app)
    record(
        store,
        "ProjectCreate",
        scope={"user_id": 7, "project_id": 12},
        status=AuditStatus.DELIVERED,
        source="tester",
        actor="admin@example.com",
        recorded_at=MOMENT,
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def tokyo_page(
    browser: Browser, sign_in: Callable[[Page, str], None], make_account: Callable[..., str]
) -> Iterator[Page]:
    """An admin's page in a browser whose clock is Tokyo's."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Asia/Tokyo")
    page = context.new_page()
    sign_in(page, make_account(Role.ADMIN))
    yield page
    context.close()


def test_tester_history_and_audit_agree_on_the_utc_time(tokyo_page: Page, live_server: str) -> None:
    assert tokyo_page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"
    tokyo_page.goto(f"{live_server}/tester/history")
    when = tokyo_page.locator('td[data-label="When (UTC)"]').first
    expect(when).to_have_text(MOMENT.strftime("%Y-%m-%d %H:%M:%S"))
    tokyo_page.goto(f"{live_server}/audit/?project=12")
    expect(tokyo_page.get_by_text(MOMENT.strftime("%Y-%m-%d %H:%M:%S")).first).to_be_visible()
