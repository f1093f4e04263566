"""The dashboard shell: health, the catalog home, errors, configuration layers and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from analytics.audit import SCHEMA_REVISION
from analytics.catalog import CATALOG
from webapp import create_app
from webapp.config import from_environment


def test_healthz_reports_database_and_segment_client(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {
        "ok": True,
        "dialect": "sqlite",
        "revision": SCHEMA_REVISION,
        "expected_revision": SCHEMA_REVISION,
    }
    assert body["segment"]["enabled"] is True and body["segment"]["queue_depth"] == 0
    assert body["catalog_version"] == CATALOG.version


def test_healthz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"]["revision"] is None
    assert "event-catalog db upgrade" in body["database"]["error"]


def test_healthz_is_503_when_the_database_is_unreachable() -> None:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False


def test_home_lists_every_event_with_its_scope_and_status(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for name in CATALOG.events:
        assert f"<strong>{name}</strong>" in page
    assert "status-deprecated" in page
    assert CATALOG.version in page


def test_unknown_page_is_a_404_page_and_api_paths_answer_json(client: FlaskClient) -> None:
    page = client.get("/nowhere")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "404 Not Found" in page.get_data(as_text=True)
    api = client.get("/api/nowhere")
    assert api.status_code == 404 and api.mimetype == "application/json"
    assert api.get_json()["error"]["status"] == 404
    fragment = client.get("/nowhere", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)


def test_wrong_method_is_405(client: FlaskClient) -> None:
    assert client.post("/healthz").status_code == 405


def test_environment_overrides_defaults_and_normalises_urls() -> None:
    settings = from_environment(
        {"DATABASE_URL": "postgres://u@h/db", "SEGMENT_CLIENT_KEY": "k", "COLLECTOR_PORT": "5200"}
    )
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert settings["SEGMENT_WRITE_KEY"] == "k"
    assert settings["SEGMENT_HOST"] == "http://127.0.0.1:5200"


def test_environment_rejects_a_bad_flag_with_its_name() -> None:
    with pytest.raises(ValueError, match="AUDIT_MASK_PERSONAL_DATA must be true or false"):
        from_environment({"AUDIT_MASK_PERSONAL_DATA": "maybe"})


def test_test_config_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, app: Flask) -> None:
    monkeypatch.setenv("SEGMENT_HOST", "http://from-env")
    assert create_app({"SEGMENT_HOST": "http://from-test"}).config["SEGMENT_HOST"] == "http://from-test"
    assert create_app().config["SEGMENT_HOST"] == "http://from-env"


def test_db_upgrade_command_creates_the_schema_on_a_fresh_database(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'host.db'}"})
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert app.test_client().get("/healthz").status_code == 200


def test_collector_command_fails_in_one_line_when_the_port_is_taken(runner: FlaskCliRunner) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(args=["collector", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: cannot listen on 127.0.0.1:{port}")


def test_gunicorn_serves_the_app_with_the_image_configuration(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
        "WEB_CONCURRENCY": "1",
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "event-catalog", "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [bin_dir / "gunicorn", "--config", "gunicorn.conf.py", "webapp.wsgi:app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # the worker may still be booting
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["database"]["revision"] == SCHEMA_REVISION
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_actor_is_the_client_address_until_someone_signs_in(app: Flask) -> None:
    from flask import g

    from webapp.actor import current_actor

    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.7"}):
        assert current_actor() == "anonymous@10.0.0.7"
        g.user = type("User", (), {"name": "ada@example.com"})()
        assert current_actor() == "ada@example.com"
