"""`event-catalog db upgrade|downgrade|stamp`: what an operator meets when a migration cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import text

from analytics.audit import SCHEMA_REVISION, schema_revision
from webapp import create_app
from webapp.extensions import db
from webapp.offline_migrations import OFFLINE_REFUSED


def _revision(app: Flask) -> str | None:
    with app.app_context():
        return schema_revision(db.engine)


def test_a_database_a_newer_release_migrated_is_refused_with_the_dashboards_advice(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future_thing'"))
    for command in ("upgrade", "downgrade"):
        result = runner.invoke(args=["db", command])
        assert result.exit_code == 2, command
        assert result.output == (
            "error: the database is at schema revision 0099_future_thing, newer than this version of "
            f"event-catalog ({SCHEMA_REVISION}): deploy the release that migrated it. "
            "`event-catalog db upgrade` cannot take a database back.\n"
        )
    assert _revision(app) == "0099_future_thing"


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (["upgrade"], "Can't locate revision identified by 'nosuchrev'"),
        (["downgrade"], "No such revision or branch 'nosuchrev'"),
        (["downgrade", "--yes"], "Can't locate revision identified by 'nosuchrev'"),
        (["stamp"], "Can't locate revision identified by 'nosuchrev'"),
    ],
)
def test_an_unknown_revision_is_one_error_line(
    app: Flask, runner: FlaskCliRunner, args: list[str], refusal: str
) -> None:
    result = runner.invoke(args=["db", *args, "nosuchrev"])
    assert result.exit_code == 2
    assert result.output == f"error: {refusal}\n"
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


def test_a_downgrade_that_deletes_data_needs_yes(app: Flask, runner: FlaskCliRunner) -> None:
    refused = runner.invoke(args=["db", "downgrade", "base"])
    assert refused.exit_code == 2
    assert refused.output.startswith(
        "error: this downgrade deletes the audit log (audit_entries, delivery_attempts), "
    )
    assert "every account (users), " in refused.output and refused.output.count("\n") == 1
    assert refused.output.endswith(
        "for good (upgrading again brings none of it back): back the database "
        "up, and pass --yes if you mean it\n"
    )
    changes = runner.invoke(args=["db", "downgrade"])
    assert changes.exit_code == 2
    assert changes.output.startswith(
        "error: this downgrade deletes when each entry's outcome last changed (audit_entries.changed_at: "
        "the API's changes feed) for good"
    )
    assert runner.invoke(args=["db", "downgrade", "--yes"]).exit_code == 0
    # Undoing 0024, 0023 and 0022 drops four indexes: nothing is deleted, nothing asked.
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    erasures = runner.invoke(args=["db", "downgrade"])
    assert erasures.exit_code == 2
    assert erasures.output.startswith(
        "error: this downgrade deletes the erasure records that keep erased entries verifying "
        "(audit_erasures: `audit verify` then reports each as edited) for good"
    )
    assert runner.invoke(args=["db", "downgrade", "--yes"]).exit_code == 0
    # Undoing 0020 drops a key computed from the names, and 0019 only lets SQLite number presets as
    # before: nothing is deleted, nothing asked.
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    presets = runner.invoke(args=["db", "downgrade"])
    assert presets.exit_code == 2
    assert "deletes the ids of scopes added to the catalog that scope presets hold" in presets.output
    assert _revision(app) == "0018_scope_preset_ids"
    assert runner.invoke(args=["db", "downgrade", "--yes"]).exit_code == 0
    one_step = runner.invoke(args=["db", "downgrade"])
    assert one_step.exit_code == 2
    # A column, not tables: the refusal said an upgrade "creates the tables empty".
    assert one_step.output == (
        "error: this downgrade deletes the expiry of every API token (api_tokens.expires_at: each then "
        "works until revoked) for good (upgrading again brings none of it back): back the database up, "
        "and pass --yes if you mean it\n"
    )
    assert runner.invoke(args=["db", "downgrade", "--yes"]).exit_code == 0
    sessions = runner.invoke(args=["db", "downgrade"])
    assert sessions.exit_code == 2
    assert "deletes the record of signed-out sessions (ended_sessions) for good" in sessions.output
    assert runner.invoke(args=["db", "downgrade", "--yes"]).exit_code == 0
    # 0015 only added an index: undoing it deletes nothing.
    assert runner.invoke(args=["db", "downgrade"]).exit_code == 0
    assert _revision(app) == "0014_event_count_reads"
    assert runner.invoke(args=["db", "downgrade", "base", "--yes"]).exit_code == 0
    assert _revision(app) is None
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert _revision(app) == SCHEMA_REVISION


def test_upgrade_says_when_it_creates_a_sqlite_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The start script runs `db upgrade` first: a mistyped SQLite DATABASE_URL became a new, empty
    audit log without a word. The upgrade that creates the file says so; the next one does not."""
    typo = tmp_path / "instance" / "audt.db"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{typo}"})
    runner = app.test_cli_runner()
    try:
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        created = [r for r in caplog.records if r.getMessage().startswith("created a new SQLite database")]
        assert [(r.levelname, r.getMessage()) for r in created] == [
            (
                "WARNING",
                f"created a new SQLite database at {typo}: if an audit log should already be there, "
                "check DATABASE_URL",
            )
        ]
        caplog.clear()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        assert not [r for r in caplog.records if "created a new SQLite" in r.getMessage()]
    finally:
        with app.app_context():
            db.engine.dispose()
