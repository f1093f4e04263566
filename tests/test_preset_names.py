"""Two preset names that read alike are one name, by the same rule on SQLite and PostgreSQL.

Saving compared `lower(name)`: SQLite folds only ASCII, so `ÜBERSICHT Berlin` and `übersicht berlin`
were two presets there and one on PostgreSQL; on both, `Café` typed composed and decomposed, or
`東京` with a zero-width space, made two chips that look the same; and `send --preset` looked the
name up exactly. The intl walk, finding F7.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, text
from tester_helpers import form_fields

from analytics.collector import Collector
from webapp import create_app
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.tester.models import ScopePreset
from webapp.tester.presets import PresetIds, create_preset, parse_preset

TWINS = [
    ("ÜBERSICHT Berlin", "übersicht berlin"),
    ("Straße", "STRASSE"),
    ("Café", "Cafe\u0301"),
    ("CAFE\u0301", "café"),
    ("Ωμέγα", "ΩΜΈΓΑ"),
]


@pytest.mark.parametrize(("first", "second"), TWINS)
def test_names_that_read_alike_are_one_preset_on_both_databases(
    database_url: str, first: str, second: str
) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        assert create_preset(PresetIds(name=first, ids={"user_id": 1}), created_by="ada") is not None
        assert create_preset(PresetIds(name=second, ids={"user_id": 2}), created_by="ada") is None
        assert db.session.scalars(select(ScopePreset.name)).all() == [first]
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("char", ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u061c"])
def test_a_name_with_an_invisible_character_is_refused(char: str) -> None:
    parsed, errors = parse_preset({"name": f"東京{char}", "user_id": "1"})
    assert parsed is None
    assert errors == {
        "name": f"a name cannot hold an invisible character (U+{ord(char):04X}): it makes the name look "
        "like another"
    }


def test_a_name_is_stored_composed_and_may_hold_joiners() -> None:
    parsed, errors = parse_preset({"name": "Cafe\u0301", "user_id": "1"})
    assert errors == {} and parsed is not None and parsed.name == "Café"
    for name in ("👩\u200d💻 dev", "می\u200cخواهم"):  # an emoji sequence, a Persian word
        parsed, errors = parse_preset({"name": name, "user_id": "1"})
        assert errors == {} and parsed is not None and parsed.name == name


def test_the_presets_page_says_why_next_to_the_name(app: Flask) -> None:
    client = signed_in_client(app, Role.ENGINEER)
    csrf = form_fields(client, "event=ProjectCreate")["csrf_token"]
    saved = client.post("/tester/presets", data={"csrf_token": csrf, "name": "Café", "user_id": "1"})
    assert saved.status_code == 303
    twin = client.post("/tester/presets", data={"csrf_token": csrf, "name": "CAFE\u0301", "user_id": "2"})
    assert twin.status_code == 422
    assert "A preset named &#39;CAFÉ&#39; already exists." in twin.get_data(as_text=True)
    hidden = client.post("/tester/presets", data={"csrf_token": csrf, "name": "東京\u200b", "user_id": "3"})
    assert hidden.status_code == 422
    assert "a name cannot hold an invisible character (U+200B)" in hidden.get_data(as_text=True)


def test_send_preset_finds_a_preset_the_way_saving_compares_names(
    app: Flask, runner: FlaskCliRunner, collector: Collector
) -> None:
    with app.app_context():
        assert create_preset(PresetIds(name="Übersicht Café", ids={"user_id": 5}), created_by="t") is not None
    result = runner.invoke(
        args=["send", "ProjectCreate", "--preset", "übersicht CAFE\u0301", "--scope", "project=7"]
    )
    assert result.exit_code == 0, result.output
    assert collector.received()[0]["userId"] == "5"
    missing = runner.invoke(args=["send", "ProjectCreate", "--preset", "Übersicht", "--scope", "project=7"])
    assert (missing.exit_code, missing.stderr) == (2, "error: no scope preset named 'Übersicht'\n")


def test_migration_0020_keys_existing_presets_and_keeps_twins(empty_database_url: str) -> None:
    """Presets saved before 0020 stay as they are; of two that compare alike, `send --preset` and a new
    save find the oldest, and the later one is still listed (and can be deleted) by its id."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "TESTING": True})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0019_scope_preset_autoincrement"]).exit_code == 0
    names = ["Café", "Cafe\u0301", "東京", "東京\u200b", "ÜBERSICHT", "übersicht", "other"]
    with app.app_context():
        for number, name in enumerate(names, start=1):
            db.session.execute(
                text(
                    "INSERT INTO scope_presets (name, ids, created_by, created_at) "
                    "VALUES (:name, :ids, 'ada', :now)"
                ),
                {"name": name, "ids": f'{{"user_id": {number}}}', "now": datetime.now(UTC)},
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        keys = {
            row.id: row.name_key for row in db.session.execute(select(ScopePreset.id, ScopePreset.name_key))
        }
        assert keys == {
            1: "café",
            2: "café\x1f2",
            3: "東京",
            4: "東京\x1f4",
            5: "übersicht",
            6: "übersicht\x1f6",
            7: "other",
        }
        assert db.session.scalars(select(ScopePreset.name).order_by(ScopePreset.id)).all() == names
        assert create_preset(PresetIds(name="CAFÉ", ids={"user_id": 9}), created_by="ada") is None
        assert create_preset(PresetIds(name="東京 prod", ids={"user_id": 9}), created_by="ada") is not None
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "downgrade", "0019_scope_preset_autoincrement", "--yes"]).exit_code == 0
    with app.app_context():
        assert len(db.session.scalars(select(ScopePreset.name)).all()) == 8
        db.session.remove()
        db.engine.dispose()
