"""The dashboard and a shared database that another release migrates while it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from tester_helpers import example_values, form_fields

from analytics.audit import SCHEMA_REVISION
from analytics.catalog import CATALOG
from analytics.collector import Collector
from webapp import create_app, schema_guard
from webapp.auth.roles import Role
from webapp.extensions import db

CLUSTER_SEND = {
    "event": "ClusterProvisioningSuccess",
    "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
    "properties": {"cluster_type": "eks", "infra_id": 9},
}
NEWER = "The database is at schema revision 0099_future, newer than this version of event-catalog"


def _migrate_elsewhere(app: Flask, revision: str, oldest_writer: str) -> None:
    """What a newer release's `db upgrade` leaves behind, as far as this release can tell."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        connection.execute(
            text("UPDATE audit_writer_compatibility SET oldest_writer = :o"), {"o": oldest_writer}
        )


def test_a_database_a_newer_release_migrated_is_refused_once_the_guard_looks_again(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/").status_code == 200
    _migrate_elsewhere(app, "0099_future", "0099_future")
    assert client.get("/").status_code == 200  # the last look is trusted for a while
    monkeypatch.setattr(schema_guard, "RECHECK_SECONDS", 0.0)
    page = client.get("/")
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert NEWER in html and "deploy the release that migrated it" in html
    assert "`event-catalog db upgrade` cannot take a database back" in html
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"]["error"].startswith(NEWER)


def test_an_older_database_still_says_to_run_db_upgrade(app: Flask, client: FlaskClient) -> None:
    _migrate_elsewhere(app, "0008_event_counts", "0009_tester_request_digest")
    page = client.get("/")
    assert page.status_code == 503
    assert f"this version needs {SCHEMA_REVISION}: run `event-catalog db upgrade`" in (
        page.get_data(as_text=True)
    )
    # Every page answers the same: the way on is this page again, not the catalog.
    other = client.get("/audit/?status=failed").get_data(as_text=True)
    assert '<a href="/audit/?status=failed">Try again</a>' in other and "Back to the catalog" not in other


def test_a_send_the_library_refuses_mid_flight_is_a_503_saying_what_to_do(
    app: Flask, client: FlaskClient, collector: Collector
) -> None:
    assert client.get("/").status_code == 200  # the guard has seen the schema current
    _migrate_elsewhere(app, "0099_future", "0099_future")
    response = client.post("/api/tester/send", json=CLUSTER_SEND)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["message"].startswith(NEWER)
    assert collector.received() == []
    # The guard looks again at once, and refuses every page until the right release serves.
    assert client.get("/").status_code == 503


@pytest.fixture
def any_app(database_url: str, collector: Collector) -> Iterator[Flask]:
    """The dashboard on each kind of migrated database, sending to the collector."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SEGMENT_WRITE_KEY": "test-key",
            "SEGMENT_HOST": collector.url,
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def _fold_preset_ids(app: Flask) -> None:
    """What a newer release's migration that folds a column this release reads leaves (0018 folded the
    presets' id columns): the column gone, the revision newer, writers of this library still welcome."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE scope_presets RENAME COLUMN ids TO ids_folded"))
    _migrate_elsewhere(app, "0099_future", "0009_tester_request_digest")


def test_a_column_a_newer_release_moved_answers_the_guard_s_503_at_once(any_app: Flask) -> None:
    """An older replica answered 500 (UndefinedColumn) until its next look, up to 30 s later."""
    client = signed_in_client(any_app, Role.ENGINEER)
    assert client.get("/tester/presets").status_code == 200  # the guard has seen the schema current
    _fold_preset_ids(any_app)
    page = client.get("/tester/presets")
    assert page.status_code == 503, page.get_data(as_text=True)
    assert NEWER in page.get_data(as_text=True)
    assert client.get("/").status_code == 503  # it looked again: every page refused until fixed


def test_a_send_whose_redraw_fails_still_shows_its_outcome(any_app: Flask, collector: Collector) -> None:
    """The send was delivered and audited, then redrawing the form's preset chips failed: the answer
    was a 500, and the engineer sent again (a second message reached the destination)."""
    client = signed_in_client(any_app, Role.ENGINEER)
    values = example_values(CATALOG.event("ProjectCreate"))
    data = {**form_fields(client, "event=ProjectCreate"), **values, "redraw": "1"}
    _fold_preset_ids(any_app)
    response = client.post("/tester/send", data=data, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert response.headers["HX-Retarget"] == "#result-slot"
    [sent] = collector.received()
    assert 'id="result-status">delivered<' in page and sent["messageId"] in page
    assert (
        "This send was made and its outcome is above, but the rest of the tester could not be drawn "
        f"after it: {NEWER}"
    ) in page
    # The guard looked again at once: pressing Send again is refused with what to do, and sends nothing.
    again = client.post("/tester/send", data=data, headers={"HX-Request": "true"})
    assert again.status_code == 503 and NEWER in again.get_data(as_text=True)
    assert len(collector.received()) == 1


def _guard_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "webapp.schema_guard"]


def test_a_database_that_cannot_be_reached_is_logged_once_with_the_driver_s_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every page answered 503 and the log held only access lines: no warning said why."""
    # Port 1 on this host: nothing listens, so the connection is refused at once.
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/x"})
    client = app.test_client()
    assert [client.get("/login").status_code for _ in range(3)] == [503, 503, 503]
    [(level, message)] = _guard_lines(caplog)
    assert level == logging.WARNING
    assert message.startswith(f"every page answers 503: {schema_guard.UNREACHABLE} (connection")
    assert "Connection refused" in message


def test_the_log_says_when_pages_are_refused_and_when_they_are_served_again(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/").status_code == 200
    _migrate_elsewhere(app, "0099_future", "0099_future")
    schema_guard.forget_check(app)
    assert client.get("/").status_code == 503 and client.get("/").status_code == 503
    _migrate_elsewhere(app, schema_guard.SCHEMA_REVISION, schema_guard.SCHEMA_REVISION)
    assert client.get("/").status_code == 200 and client.get("/").status_code == 200
    [(refused, why), (served, again)] = _guard_lines(caplog)
    assert refused == logging.WARNING and why.startswith(f"every page answers 503: {NEWER}")
    assert served == logging.INFO and again == "the database can be used again: pages are served"


def _end_connections_to(engine: Engine) -> int:
    """What a database restart or failover does to the dashboard's pool: every other connection to
    the test's own database is ended by the server. Returns how many were; waits until they are gone
    (the server ends a backend after answering)."""
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with engine.connect() as connection:
        ended = connection.execute(text(f"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) {others}"))
        count = int(ended.scalar_one())
        connection.commit()
        deadline = time.monotonic() + 10
        while (
            connection.execute(text(f"SELECT count(*) {others}")).scalar_one() and time.monotonic() < deadline
        ):
            connection.commit()  # a new snapshot of pg_stat_activity
            time.sleep(0.05)
    return count


def test_connections_the_database_ended_cost_no_request(
    empty_postgres_url: str, postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart the first request on each pooled connection answered 500 (a page) or 503 (the
    schema guard, /healthz), the database being up: the pool now pings a connection before use."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_postgres_url})
    client = signed_in_client(app, Role.ADMIN)
    monkeypatch.setattr(schema_guard, "RECHECK_SECONDS", 0.0)  # every request looks at the schema
    try:
        for path in ("/audit/", "/health", "/healthz", "/"):
            assert client.get(path).status_code == 200, path
            assert _end_connections_to(postgres_engine) >= 1
            assert client.get(path).status_code == 200, path
    finally:
        with app.app_context():
            db.engine.dispose()
