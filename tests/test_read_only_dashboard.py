"""The dashboard on a database user that may read but not write: refused at start, 503 (not 500) after."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from auth_helpers import sign_in
from markupsafe import escape
from pg_roles import temporary_role
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from analytics.audit_failures import denies_access, refuses_writes
from analytics.collector import Collector
from webapp import ROOT, create_app
from webapp.auth.accounts import hash_password
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.schema_guard import ACCESS_DENIED, READ_ONLY

PASSWORD = "a long enough password"
DENIED = "permission denied for table catalog_versions"


def _with_an_admin(database_url: str) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        created = datetime.now(UTC)
        db.session.add(
            User(
                email="admin@example.com",
                password_hash=hash_password(PASSWORD),
                role=Role.ADMIN,
                created_at=created,
            )
        )
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def reader_url(postgres_engine: Engine, empty_postgres_url: str) -> Iterator[str]:
    """The migrated database, with an admin account, through a role granted SELECT only."""
    _with_an_admin(empty_postgres_url)
    with temporary_role(
        postgres_engine, "ec_reader", ["GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"]
    ) as url:
        yield url


@pytest.fixture
def users_unreadable_url(postgres_engine: Engine, empty_postgres_url: str) -> Iterator[str]:
    """The migrated database, with an admin account, through a role granted every privilege the
    dashboard needs but SELECT on `users`: what a grant script that missed one table leaves."""
    _with_an_admin(empty_postgres_url)
    grants = [
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "REVOKE SELECT ON users FROM {role}",
    ]
    with temporary_role(postgres_engine, "ec_no_users", grants) as url:
        yield url


def test_a_server_refuses_a_read_only_database_at_start_in_one_line(reader_url: str) -> None:
    """gunicorn's workers import webapp.wsgi: the dashboard started "healthy" on a role granted only
    SELECT. It now stops as `init()` does, with the library's line."""
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DATABASE_URL=reader_url, APP_ENV="development")
    loaded = subprocess.run(
        [sys.executable, "-c", "import webapp.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    where = reader_url.replace("postgresql+psycopg://", "postgresql://")
    assert loaded.returncode == 4
    assert loaded.stderr.splitlines()[-1] == f"error: the audit database {where} cannot be used: {DENIED}"
    assert "Traceback" not in loaded.stderr


def test_a_read_only_database_answers_503_saying_so(reader_url: str, collector: Collector) -> None:
    """Built without the start check (`flask run`), or a grant revoked while it runs: every sign-in
    was a 500 with a traceback (its UPDATE, or a failed one's audit entry, refused) and /healthz 200."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": reader_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    try:
        client = app.test_client()
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json is not None and health.json["database"]["error"] == READ_ONLY
        for password in (PASSWORD, "not the password at all"):
            refused = sign_in(client, "admin@example.com", password)
            assert refused.status_code == 503
            assert str(escape(READ_ONLY)) in refused.get_data(as_text=True)
        assert client.get("/login").status_code == 200  # reading still works
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_read_the_grants_missed_answers_503_naming_it_not_as_a_refused_write(
    users_unreadable_url: str, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refuses a read without SELECT with the SQLSTATE of a write without INSERT: the page
    and the log said the database refuses writes and to grant INSERT, UPDATE and DELETE, which the
    user had; and as /healthz found writes accepted, the "logged once" warning came back for every
    request."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": users_unreadable_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    advice = ACCESS_DENIED.format(reason="permission denied for table users")
    try:
        client = app.test_client()
        for _ in range(2):
            refused = sign_in(client, "admin@example.com", PASSWORD)
            assert refused.status_code == 503
            page = refused.get_data(as_text=True)
            assert str(escape(advice)) in page and str(escape(READ_ONLY)) not in page
            health = client.get("/healthz")
            assert health.status_code == 200, health.json
    finally:
        with app.app_context():
            db.engine.dispose()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [f"a read is refused: {advice}"]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT id FROM users FOR UPDATE",
        "SELECT id FROM users FOR SHARE",
        "WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone",
    ],
)
def test_a_statement_that_writes_but_does_not_start_with_its_keyword_is_a_refused_write(
    reader_url: str, statement: str
) -> None:
    """A row lock (the accounts' and the erasure's `with_for_update()`) and a data-modifying WITH
    need writes; read by the first keyword alone, PostgreSQL's refusal of them to a role granted
    SELECT was told as a read the grants missed, with the advice to grant what it had."""
    engine = create_engine(reader_url)
    try:
        with pytest.raises(DBAPIError) as refused, engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
    assert refuses_writes(refused.value) and not denies_access(refused.value)
