"""Times are shown in UTC whatever time zone the PostgreSQL session would have had.

A database created on a host in Tokyo (`initdb` writes the host's zone), one set with `ALTER
DATABASE … SET timezone`, or `PGTZ` in the environment made psycopg hand every time back in Tokyo
time: the pages and commands printed it 9 hours off under a "UTC" label, while the audit pages,
which converted, showed the real time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from auditlog import record, record_delivery
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from analytics.audit import AuditStatus, create_audit_engine
from analytics.collector import Collector
from webapp import create_app
from webapp.auth.identity import sign_in
from webapp.auth.models import ApiToken, User
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db
from webapp.tester.models import ScopePreset

ADMIN = "admin@example.com"
TESTER = "staging:0123456789ab"
# An hour ago, to the millisecond: inside the health page's window, and a different day in Tokyo
# for much of the day.
MOMENT = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=345000)
MINUTE = MOMENT.strftime("%Y-%m-%d %H:%M")
SECOND = MOMENT.strftime("%Y-%m-%d %H:%M:%S")
TOKYO = (MOMENT + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")


@pytest.fixture(params=["sqlite", "database-in-tokyo", "pgtz-tokyo"])
def zoned_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated database whose sessions would not be in UTC: the database's own setting, or `PGTZ`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    postgres_url = request.getfixturevalue("empty_postgres_url")
    if request.param == "pgtz-tokyo":
        monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    else:
        name = make_url(postgres_url).database
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE \"{name}\" SET timezone = 'Asia/Tokyo'")
    yield postgres_url


@pytest.fixture
def zoned_app(zoned_url: str, collector: Collector) -> Iterator[Flask]:
    """The dashboard on that database, migrated, with history recorded at `MOMENT`."""
    from flask_migrate import upgrade

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": zoned_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    with app.app_context():
        upgrade()
        admin = User(email=ADMIN, role=Role.ADMIN, created_at=MOMENT, last_login_at=MOMENT)
        gone = User(email="gone@example.com", role=Role.VIEWER, created_at=MOMENT, disabled_at=MOMENT)
        db.session.add_all([admin, gone])
        db.session.flush()
        for name, revoked in (("ci", None), ("old", MOMENT)):
            db.session.add(
                ApiToken(
                    user_id=admin.id,
                    name=name,
                    prefix=f"ect_{name}",
                    token_hash=name * 16,
                    created_at=MOMENT,
                    last_used_at=MOMENT,
                    expires_at=MOMENT + timedelta(days=90),
                    revoked_at=revoked,
                )
            )
        db.session.add(ScopePreset(name="staging", ids={"user_id": 7}, created_by=ADMIN, created_at=MOMENT))
        db.session.commit()
        store = analytics_client.store(app)
    sent = record(
        store,
        "ProjectCreate",
        scope={"user_id": 7, "project_id": 12},
        status=AuditStatus.DELIVERED,
        source="tester",
        actor=ADMIN,
        recorded_at=MOMENT,
        destination=TESTER,
    )
    failed = record_delivery(store, AuditStatus.FAILED, recorded=MOMENT, http_status=503, error="down")
    app.config["SENT"], app.config["FAILED"] = sent, failed
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def admin_client(zoned_app: Flask) -> FlaskClient:
    client = zoned_app.test_client()
    with zoned_app.app_context(), client.session_transaction() as session:
        sign_in(session, db.session.scalars(db.select(User).filter_by(email=ADMIN)).one())
    return client


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


# SQLite has no session time zone: the PostgreSQL zones alone.
@pytest.mark.parametrize("zoned_url", ["database-in-tokyo", "pgtz-tokyo"], indirect=True)
def test_sessions_of_the_library_and_the_dashboard_are_in_utc(zoned_url: str, zoned_app: Flask) -> None:
    engine = create_audit_engine(zoned_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"
            # The setting holds in the transactions that follow, and no transaction was left open.
            connection.commit()
            assert connection.execute(text("SHOW TimeZone")).scalar() == "UTC"
    finally:
        engine.dispose()
    with zoned_app.app_context():
        assert db.session.execute(text("SHOW TimeZone")).scalar() == "UTC"


def test_account_pages_show_utc(admin_client: FlaskClient) -> None:
    users = _page(admin_client, "/users/")
    assert f"{MINUTE} UTC</td>" in users and f"disabled {MINUTE} UTC" in users
    tokens = _page(admin_client, "/account/tokens")
    assert f'<td data-label="Created">{MINUTE} UTC</td>' in tokens
    assert f'<td data-label="Last used">{MINUTE} UTC</td>' in tokens
    assert f"revoked {MINUTE} UTC" in tokens
    expiry = (MOMENT + timedelta(days=90)).strftime("%Y-%m-%d %H:%M")
    assert f'<td data-label="Expires">{expiry} UTC</td>' in tokens
    assert TOKYO not in users + tokens


def test_tester_pages_show_utc(zoned_app: Flask, admin_client: FlaskClient) -> None:
    sent = zoned_app.config["SENT"]
    history = _page(admin_client, "/tester/history")
    day, time = SECOND.split(" ")
    assert f'<span class="nowrap">{day}</span> <span class="nowrap">{time}</span>' in history
    assert f"at {time}</span>" in history
    assert f'datetime="{MOMENT.isoformat()}"' in history
    result = _page(admin_client, f"/tester/sends/{sent}")
    assert f"{MOMENT:%H:%M:%S.%f}"[:-3] + " UTC</time> audited" in result
    presets = _page(admin_client, "/tester/presets")
    assert f'<span class="muted small">{MINUTE} UTC</span>' in presets
    tester = _page(admin_client, "/tester/?event=ProjectCreate")
    assert f"· New Project Event · {MINUTE} UTC</option>" in tester
    assert TOKYO not in history + result + presets + tester


def test_health_errors_show_utc(admin_client: FlaskClient) -> None:
    health = _page(admin_client, "/health")
    assert f'<td data-label="When (UTC)">{SECOND}</td>' in health


def test_account_commands_show_utc(zoned_app: Flask) -> None:
    runner = zoned_app.test_cli_runner()
    users = runner.invoke(args=["users", "list"])
    assert users.exit_code == 0, users.output
    assert re.search(rf"{ADMIN} +admin +active +{MINUTE}\s", users.output)
    tokens = runner.invoke(args=["users", "token", "list"])
    assert tokens.exit_code == 0, tokens.output
    assert f"{MINUTE}  {MINUTE}" in tokens.output and f"revoked {MINUTE}" in tokens.output
    created = runner.invoke(
        args=["users", "token", "create", ADMIN, "--name", "release", "--expires-in", "3"]
    )
    assert created.exit_code == 0, created.output
    expected = datetime.now(UTC) + timedelta(days=3)
    shown = re.search(r"expiring (\S+ \S+) UTC", created.output)
    assert shown is not None, created.output
    delta = datetime.strptime(shown[1], "%Y-%m-%d %H:%M").replace(tzinfo=UTC) - expected
    assert abs(delta) < timedelta(minutes=2), created.output
    assert TOKYO not in users.output + tokens.output


def test_replay_lists_utc(zoned_app: Flask) -> None:
    listed = zoned_app.test_cli_runner().invoke(args=["replay", "--dry-run"])
    assert f"{zoned_app.config['FAILED']} {SECOND} " in listed.output, listed.output
