"""A deleted preset's id is never handed to another preset, so a stale page cannot act on a newer one.

SQLite gave a plain `INTEGER PRIMARY KEY` the largest id plus one: once the newest preset was
deleted, the next one saved took its id. A teammate's open tester applied the new preset's ids under
the old chip, and a stale Delete deleted the teammate's new preset (the multi-user walk, on the
`make run` default). Migration 0019 makes SQLite number presets with AUTOINCREMENT.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from tester_helpers import form_fields, input_value

from webapp import create_app
from webapp.extensions import db
from webapp.tester.models import ScopePreset
from webapp.tester.presets import PresetIds, create_preset, delete_preset

HTMX = {"HX-Request": "true"}


def _save(client: FlaskClient, csrf: str, name: str, **ids: str) -> None:
    saved = client.post("/tester/presets", data={"csrf_token": csrf, "name": name, **ids})
    assert saved.status_code == 303


def _id_of(app: Flask, name: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(ScopePreset.id).where(ScopePreset.name == name))
        assert found is not None
        return found


def test_a_stale_chip_or_delete_of_a_deleted_preset_does_not_reach_the_next_one(
    app: Flask, client: FlaskClient
) -> None:
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    _save(client, csrf, "staging-walk", user_id="1", project_id="12")
    staging = _id_of(app, "staging-walk")
    assert client.post(f"/tester/presets/{staging}/delete", data={"csrf_token": csrf}).status_code == 303
    _save(client, csrf, "PROD-walk", user_id="777", project_id="888")
    assert _id_of(app, "PROD-walk") != staging
    # The tester tab opened before the delete: its chip still names the old preset's id.
    stale_chip = client.get(
        "/tester/", query_string={"event": "ProjectCreate", "apply_preset": staging}, headers=HTMX
    ).get_data(as_text=True)
    assert "That preset no longer exists." in stale_chip
    assert (
        input_value(stale_chip, "scope.user_id") == "" and input_value(stale_chip, "scope.project_id") == ""
    )
    # The presets tab opened before the delete: its Delete button too.
    client.post(f"/tester/presets/{staging}/delete", data={"csrf_token": csrf})
    listing = client.get("/tester/presets").get_data(as_text=True)
    assert "That preset was already deleted." in listing and "PROD-walk" in listing


def test_preset_ids_are_not_reused_on_either_database(database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        first = create_preset(PresetIds(name="first", ids={"user_id": 1}), created_by="ada")
        assert first is not None
        first_id = first.id
        delete_preset(first, actor="ada")
        second = create_preset(PresetIds(name="second", ids={"user_id": 2}), created_by="ada")
        assert second is not None and second.id > first_id
        db.session.remove()
        db.engine.dispose()


def test_migration_0019_numbers_sqlite_presets_for_good_and_back(sqlite_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url, "TESTING": True})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert runner.invoke(args=["db", "downgrade", "0018_scope_preset_ids", "--yes"]).exit_code == 0

    def table_sql() -> str:
        with app.app_context():
            found = db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'scope_presets'"))
            db.session.remove()
            db.engine.dispose()
        return str(found)

    assert "AUTOINCREMENT" not in table_sql()
    with app.app_context():
        for number in (1, 2, 3):
            db.session.execute(
                text(
                    "INSERT INTO scope_presets (name, ids, created_by, created_at) "
                    "VALUES (:name, :ids, 'ada', :now)"
                ),
                {"name": f"p{number}", "ids": f'{{"user_id": {number}}}', "now": datetime.now(UTC)},
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert "AUTOINCREMENT" in table_sql()
    with app.app_context():
        kept = {preset.name: (preset.id, preset.ids) for preset in db.session.scalars(select(ScopePreset))}
        assert kept == {f"p{n}": (n, {"user_id": n}) for n in (1, 2, 3)}
        newest = db.session.get(ScopePreset, 3)
        assert newest is not None
        delete_preset(newest, actor="ada")
        saved = create_preset(PresetIds(name="p4", ids={"user_id": 4}), created_by="ada")
        assert saved is not None and saved.id == 4
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "downgrade", "0018_scope_preset_ids", "--yes"]).exit_code == 0
    assert "AUTOINCREMENT" not in table_sql()
    with app.app_context():
        assert sorted(db.session.scalars(select(ScopePreset.name))) == ["p1", "p2", "p4"]
        db.session.remove()
        db.engine.dispose()


def test_a_preset_id_that_is_no_number_is_refused_not_ignored(client: FlaskClient) -> None:
    """`apply_preset=abc` (a link cut short, a hand-edited address) drew the form as if no preset was
    asked for, without a word."""
    for typed in ("abc", "", "1.5"):
        answer = client.get("/tester/", query_string={"event": "ProjectCreate", "apply_preset": typed})
        assert answer.status_code == 400, typed
        assert f"{typed!r} is not a preset id" in answer.get_data(as_text=True).replace("&#39;", "'")
