"""`event-catalog db upgrade|downgrade|stamp`: what an operator meets when a migration cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import text

from analytics.audit import SCHEMA_REVISION, schema_revision
from webapp import create_app
from webapp.db_cli import OFFLINE_REFUSED
from webapp.extensions import db


def _revision(app: Flask) -> str | None:
    with app.app_context():
        return schema_revision(db.engine)


def test_a_database_a_newer_release_migrated_is_refused_with_the_dashboards_advice(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0017_future_thing'"))
    for command in ("upgrade", "downgrade"):
        result = runner.invoke(args=["db", command])
        assert result.exit_code == 2, command
        assert result.output == (
            "error: the database is at schema revision 0017_future_thing, newer than this version of "
            f"event-catalog ({SCHEMA_REVISION}): deploy the release that migrated it. "
            "`event-catalog db upgrade` cannot take a database back.\n"
        )
    assert _revision(app) == "0017_future_thing"


@pytest.mark.parametrize("command", ["upgrade", "downgrade", "stamp"])
def test_an_unknown_revision_is_one_error_line(app: Flask, runner: FlaskCliRunner, command: str) -> None:
    result = runner.invoke(args=["db", command, "nosuchrev"])
    assert result.exit_code == 2
    assert result.output == "error: Can't locate revision identified by 'nosuchrev'\n"
    assert _revision(app) == SCHEMA_REVISION


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_offline_mode_is_refused_with_the_reason(app: Flask, runner: FlaskCliRunner, command: str) -> None:
    result = runner.invoke(args=["db", command, "--sql"])
    assert result.exit_code == 2
    assert result.output == f"error: {OFFLINE_REFUSED}\n"
    assert _revision(app) == SCHEMA_REVISION


def test_offline_mode_through_flask_migrate_is_refused_before_any_migration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}"})
    with app.app_context(), pytest.raises(SystemExit), caplog.at_level("ERROR", logger="flask_migrate"):
        upgrade(sql=True)
    assert caplog.messages == [f"Error: {OFFLINE_REFUSED}"]
