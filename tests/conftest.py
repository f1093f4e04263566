"""Shared fixtures: the app, its clients, real databases (SQLite and PostgreSQL) and a collector.

Every page but the health check needs a signed-in user: `client` is signed in as an admin,
`anonymous` is not, and `login_as(Role.VIEWER)` gives a client signed in with that role.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from client_budgets import FAST_BUDGETS
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from spies import Call, CountCalls
from sqlalchemy import Engine, update
from werkzeug.serving import make_server

from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message
from webapp import create_app
from webapp.auth.roles import Role

PASSWORD = "correct horse battery staple"
"""The password of every account the fixtures create."""

# The server every storage test also runs against; CI starts it if it is down.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_RUN_ID = uuid.uuid4().hex[:8]
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure through arguments; a developer's own settings must not leak in.

    They run as development, as `make run` does: the library then takes the public audit keys
    without a warning (tests about APP_ENV set or remove it themselves).
    """
    for name in (
        "DATABASE_URL",
        "SEGMENT_WRITE_KEY",
        "SEGMENT_CLIENT_KEY",
        "SEGMENT_HOST",
        "SECRET_KEY",
        "AUDIT_CHAIN_KEY",
        "AUDIT_CHAIN_KEYS_RETIRED",
        "AUDIT_MASK_KEY",
        "AUDIT_PERSONAL_KEYS",
        "AUTH_MODE",
        "TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "development")


def _postgres_database() -> Iterator[str]:
    """A fresh database on the real server, unique to this run and test, dropped afterwards."""
    name = f"ec_test_{_RUN_ID}_{next(_counter)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        # A language's collation, as most servers are set up, not this one's bytewise C.UTF-8:
        # text ordering must not work here by accident and fail on the team's server.
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 '
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: storage tests run on both (on SQLite, an empty file)."""
    if request.param == "sqlite":
        (tmp_path / "audit.db").touch()
        yield f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """An empty database on the real PostgreSQL server, for what only PostgreSQL has (partitions)."""
    yield from _postgres_database()


@pytest.fixture
def postgres_engine(empty_postgres_url: str) -> Iterator[Engine]:
    """An engine on a migrated PostgreSQL database, disposed afterwards."""
    migrate_to_head(empty_postgres_url)
    engine = create_audit_engine(empty_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def patient_engine(empty_postgres_url: str, postgres_engine: Engine) -> Iterator[Engine]:
    """A second engine on `postgres_engine`'s database whose statements wait up to 60 s for a lock:
    a test that holds a row on purpose releases it however loaded the machine is, where the library's
    own `lock_timeout` (a few seconds) would fail the waiting side first."""
    patient = create_audit_engine(f"{empty_postgres_url}?options=-c%20lock_timeout%3D60s")
    yield patient
    patient.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database, for tests that are not about storage."""
    return f"sqlite:///{tmp_path / 'audit.db'}"


def migrate_to_head(database_url: str) -> None:
    """Apply every migration, exactly as `event-catalog db upgrade` does."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        upgrade()
        from webapp.extensions import db

        db.engine.dispose()


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A migrated database of each kind."""
    migrate_to_head(empty_database_url)
    return empty_database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the migrated database, disposed afterwards."""
    engine = create_audit_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> AuditStore:
    """The audit store on each kind of database."""
    return AuditStore(engine)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[AuditStore]:
    """The audit store on a migrated SQLite file, for delivery tests."""
    migrate_to_head(sqlite_url)
    engine = create_audit_engine(sqlite_url)
    yield AuditStore(engine)
    engine.dispose()


@pytest.fixture
def make_client(collector: Collector) -> Iterator[Callable[..., AnalyticsClient]]:
    """Build library clients against the collector (fast budgets) and shut them all down afterwards."""
    clients: list[AnalyticsClient] = []

    def build(store: AuditStore, write_key: str | None = "test-key", **options: Any) -> AnalyticsClient:
        client = AnalyticsClient(
            write_key, store=store, host=options.pop("host", collector.url), **{**FAST_BUDGETS, **options}
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown()


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A local collector on a free port."""
    with Collector() as running:
        yield running


@pytest.fixture
def make_app(sqlite_url: str, collector: Collector) -> Iterator[Callable[..., Flask]]:
    """Build the dashboard with extra settings, on one migrated SQLite database, sending to the collector."""
    migrate_to_head(sqlite_url)
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": sqlite_url,
                "SEGMENT_WRITE_KEY": "test-key",
                "SEGMENT_HOST": collector.url,
                **settings,
            }
        )
        apps.append(app)
        return app

    yield make
    from webapp.extensions import db

    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The dashboard on a migrated SQLite database, sending to the local collector."""
    return make_app()


@functools.cache
def _password_hash() -> str:
    from webapp.auth.accounts import hash_password

    return hash_password(PASSWORD)


@pytest.fixture
def account_password() -> str:
    """The password of the accounts `make_account` creates, for tests that type it."""
    return PASSWORD


@pytest.fixture
def make_account(app: Flask) -> Callable[..., str]:
    """Create an account with `PASSWORD` (kept out of the audit log, unlike a person's `users add`)."""

    def make(role: Role = Role.ADMIN, email: str | None = None) -> str:
        from webapp.auth.accounts import find_user
        from webapp.auth.models import User
        from webapp.extensions import db

        email = email or f"{role}@example.com"
        with app.app_context():
            if find_user(email) is None:
                db.session.add(
                    User(email=email, password_hash=_password_hash(), role=role, created_at=datetime.now(UTC))
                )
                db.session.commit()
        return email

    return make


@pytest.fixture
def login_as(app: Flask, make_account: Callable[..., str]) -> Callable[..., FlaskClient]:
    """A new test client signed in as an account of `role` (`<role>@example.com` unless named).

    `on=` signs in to another app from `make_app` (they share the database).
    """

    def login(role: Role, email: str | None = None, on: Flask | None = None) -> FlaskClient:
        from webapp.auth.accounts import find_user
        from webapp.auth.identity import sign_in

        target = on or app
        email = make_account(role, email)
        client = target.test_client()
        with target.app_context(), client.session_transaction() as session:
            user = find_user(email)
            assert user is not None
            sign_in(session, user)
        return client

    return login


@pytest.fixture
def client(login_as: Callable[..., FlaskClient]) -> FlaskClient:
    """A test client signed in as an admin, who may open every page."""
    return login_as(Role.ADMIN)


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    """A test client no one has signed in with."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner for the dashboard's commands."""
    return app.test_cli_runner()


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> CountCalls:
    """`count_calls(owner, name)` wraps `owner.name` until the test ends and returns the list of its calls.

    The wrapper still does the work, so the pages answer as before: tests of what is built once count
    the work that must not be repeated, where timing it would be slow and flaky.
    """

    def wrap(owner: object, name: str) -> list[Call]:
        calls: list[Call] = []
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append(Call(args, kwargs))
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
        return calls

    return wrap


SentRecorder = Callable[..., str]


def _recorder(store: AuditStore) -> SentRecorder:
    def record_sent(
        constant: str, when: datetime, status: str = "delivered", source: str = "application"
    ) -> str:
        """Audit a real message of an event as if it had been recorded at `when`; return its messageId."""
        message = build_message(CATALOG.event(constant).example_spec(), timestamp=when)
        store.record(message, status=AuditStatus(status), source=source)
        with store.engine.begin() as connection:
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.message_id == message["messageId"])
                .values(recorded_at=when)
            )
        return str(message["messageId"])

    return record_sent


@pytest.fixture
def record_sent(store: AuditStore) -> SentRecorder:
    """Put past messages in the audit log of each kind of database (history a test can control)."""
    return _recorder(store)


@pytest.fixture
def app_record_sent(app: Flask) -> Iterator[SentRecorder]:
    """`record_sent` on the dashboard's own database."""
    from webapp.extensions import analytics_client

    store = analytics_client.store(app)
    yield _recorder(store)


def _read_whole(app: Flask) -> Callable[[dict[str, Any], Any], list[bytes]]:
    """The app, each answer read whole before the server writes it.

    Werkzeug's server reads what is left of the request before it closes the answer; when the browser
    has dropped the connection (a test navigating on while a static file loads), that read raises and
    the file stays open, a ResourceWarning that `filterwarnings = error` turns into a failed test.
    """

    def answer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return answer


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Serve apps on 127.0.0.1 and free ports, each in a thread, until the test ends; returns the URL."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, _read_whole(app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join()
        server.server_close()
