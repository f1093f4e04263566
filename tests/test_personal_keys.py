"""Off-schema personal data is masked by its key's name in any spelling and, with
`AUDIT_PERSONAL_KEYS`, in the team's own languages: `E-Mail`, `vorname`, `名前` were stored in clear
and shown to viewers (the intl walk, finding F3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from sqlalchemy import select

import analytics
from analytics.audit import AuditEntry, AuditStore
from analytics.personal_data import is_mask, looks_personal, use_personal_keys
from analytics.settings import ConfigurationError
from webapp.auth.roles import Role
from webapp.config import from_environment
from webapp.extensions import db

TEAM_KEYS = "vorname, Nachname,telefon, 名前 ,メールアドレス,電話番号,correo_electrónico"
PERSONAL = {
    "E-Mail": "ada@example.de",
    "e.mail": "ada@example.org",
    "Mobile Phone": "+49 30 1234567",
    "vorname": "Ada",
    "Nachname": "Lovelace",
    "telefonnummer": "+49 30 7654321",
    "名前": "山田太郎",
    "メールアドレス": "taro@example.jp",
    "電話番号": "03-1234-5678",
    "correo-electrónico": "ana@example.es",
    "emailAddress": "x@example.com",
}


@pytest.fixture
def forget_team_keys() -> Iterator[None]:
    """The extra names are the process's: a test that sets them leaves none behind."""
    yield
    use_personal_keys(())


@pytest.mark.parametrize("key", ["E-Mail", "e.mail", "E Mail", "work-e-mail", "Mobile-Phone", "first name"])
def test_a_hyphen_dot_or_space_separates_words_as_an_underscore_does(key: str) -> None:
    assert looks_personal(key)


def test_the_team_s_key_names_are_personal_only_once_set(forget_team_keys: None) -> None:
    team = ["vorname", "TELEFON", "名前", "メールアドレス", "correo_electrónico"]
    typed = ["Vorname", "telefonnummer", "名前", "メールアドレス", "Correo-Electro\u0301nico"]
    assert not any(looks_personal(key) for key in typed)
    use_personal_keys(",".join(team))
    assert all(looks_personal(key) for key in typed)
    assert not looks_personal("cluster_type")
    use_personal_keys(())
    assert not looks_personal("vorname")


def test_the_library_and_the_dashboard_read_the_setting_alike(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: AuditStore, sqlite_url: str, forget_team_keys: None
) -> None:
    problem = (
        "AUDIT_PERSONAL_KEYS: names no key: list key names separated by commas, e.g. vorname,telefon,名前"
    )
    with pytest.raises(ConfigurationError) as refused:
        from_environment({"AUDIT_PERSONAL_KEYS": " , ,"})
    assert refused.value.problems == [problem]
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", " , ,")
    with pytest.raises(ConfigurationError) as refused:
        analytics.init(database_url=sqlite_url)
    assert refused.value.problems == [problem]
    assert from_environment({"AUDIT_PERSONAL_KEYS": TEAM_KEYS})["AUDIT_PERSONAL_KEYS"] == frozenset(
        ["vorname", "nachname", "telefon", "名前", "メールアドレス", "電話番号", "correo_electrónico"]
    )
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", TEAM_KEYS)
    analytics.init(database_url=sqlite_url)
    try:
        assert looks_personal("vorname") and looks_personal("名前")
    finally:
        analytics.shutdown()


def _stored_properties(app: Flask) -> dict[str, Any]:
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "track")).one()
        return dict(entry.payload["properties"])


def test_the_dashboard_masks_the_team_s_keys_and_the_chain_still_verifies(
    make_app: Callable[..., Flask],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    forget_team_keys: None,
) -> None:
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", TEAM_KEYS)
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    body = {
        "event": "StackLaunchFailure",
        "off_schema": True,
        "scope": {"user_id": 5, "project_id": 800, "cluster_id": 3},
        "properties": {"stack_name": "s", "error_message": "e", **PERSONAL},
    }
    response = client.post("/api/tester/send", json=body)
    assert response.status_code == 200, response.get_json()
    stored = _stored_properties(app)
    assert {key for key, value in stored.items() if is_mask(value)} == set(PERSONAL)
    assert (stored["stack_name"], stored["error_message"]) == ("s", "e")
    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    # A viewer's search on such a key is refused, as on an English one.
    viewer = signed_in_client(app, Role.VIEWER)
    search = viewer.get("/audit/", query_string={"project": "800", "prop": "vorname = Ada"})
    assert search.status_code == 400
    assert "Searching personal data by its value is for engineers and admins." in search.get_data(
        as_text=True
    )
