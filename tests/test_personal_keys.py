"""Off-schema personal data is masked by its key's name in any spelling and, with
`AUDIT_PERSONAL_KEYS`, in the team's own languages: `E-Mail`, `vorname`, `名前` were stored in clear
and shown to viewers (the intl walk, finding F3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import pytest
from auth_helpers import signed_in_client
from flask import Flask
from sqlalchemy import select

import analytics
from analytics.audit import AuditEntry, AuditStore
from analytics.lint import lint
from analytics.personal_data import is_mask, looks_personal, use_personal_keys
from analytics.scopes import UserScope
from analytics.settings import ConfigurationError
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop
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


REGISTRY = SpecRegistry()


class PlacesEvent(StrEnum):
    PlaceListed = "Place Listed"


class PlaceListed(
    TrackSpec,
    event=PlacesEvent.PlaceListed,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A place was listed."""

    scope: UserScope
    wohn_ort: str = prop("Where the person lives.", example="Berlin")
    lieferadresse: str = prop("Where the order goes.", example="Hauptstr. 1")
    sort_order: int = prop("Place in the list.", example=3)
    report_id: str = prop("The report it is listed in.", example="r-1")


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


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("ort", True),
        ("wohn_ort", True),
        ("Ort-Name", True),
        ("ortsteil", True),
        ("sort_order", False),
        ("report_id", False),
        ("port", False),
        ("plz", True),
        ("kundenPlz", True),
        ("plz_bereich", True),
        ("aplz", False),
        ("nom", True),
        ("nom_client", True),
        ("denomination", False),
        ("hotel_name", False),
        ("support_tier", False),
        ("hostel", False),
        ("tel", True),
        ("tel_mobile", True),
        ("kunden-tel", True),
        ("telemetry", True),
        ("hotel_id", False),
        ("intel_cpu", False),
    ],
)
def test_a_short_team_name_is_a_word_or_a_word_s_start_never_inside_one(
    key: str, personal: bool, forget_team_keys: None
) -> None:
    """`ort` was matched inside any key: `sort_order` and `report_id` were personal data, and lint's
    EC013 failed CI for them. Names of one to three letters still are."""
    use_personal_keys("ort,plz,nom,tel")
    assert looks_personal(key) is personal


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("telefon", True),
        ("telefonnummer", True),
        ("kunden_telefon", True),
        ("kundenTelefon", True),
        ("mobiltelefon", True),
        ("nachname", True),
        ("kunden_nachname", True),
        ("vornamen", True),
        ("名前", True),
        ("顧客名前", True),
        ("customer_名前", True),
        ("顧客メールアドレス", True),
        ("名", False),
    ],
)
def test_the_readme_s_team_names_find_their_keys(key: str, personal: bool, forget_team_keys: None) -> None:
    """The names `AUDIT_PERSONAL_KEYS` gives as its example, as its row in the README reads them:
    anywhere in the key, as all are four letters or more."""
    use_personal_keys("vorname,nachname,telefon,名前,メールアドレス")
    assert looks_personal(key) is personal


@pytest.mark.parametrize(
    ("key", "personal"),
    [
        ("mobiltelefon", True),
        ("festnetztelefon", True),
        ("kundenMobiltelefon", True),
        ("lieferadresse", True),
        ("rechnungsadresse", True),
        ("Rechnungs-Adresse", True),
        ("zweitadresse_strasse", True),
        ("ip_address", True),
        ("address_line", False),
        ("telefax", False),
    ],
)
def test_a_team_name_of_four_letters_or_more_is_found_inside_a_compound(
    key: str, personal: bool, forget_team_keys: None
) -> None:
    """German and Dutch join words without a separator: when names had to start a word, `mobiltelefon`
    and `lieferadresse` stopped being personal data after an upgrade, so the tester stored them in clear
    and lint no longer asked to mark them (the review, finding 6)."""
    use_personal_keys("telefon,adresse")
    assert looks_personal(key) is personal


@pytest.mark.parametrize(
    ("name", "key"),
    [("โทรศัพท์", "เบอร์โทรศัพท์"), ("ﾒｰﾙ", "顧客ﾒｰﾙ"), ("電話", "customer電話番号")],
)
def test_a_name_in_a_script_written_without_spaces_is_found_anywhere_in_a_key(
    name: str, key: str, forget_team_keys: None
) -> None:
    """Thai and Japanese (half-width kana included) mark no word's start, so a name there is found
    inside a key, as it was before names had to start a word."""
    use_personal_keys(name)
    assert looks_personal(key)


def test_lint_the_tester_and_the_search_read_a_team_s_names_alike(
    make_app: Callable[..., Flask], database_url: str, monkeypatch: pytest.MonkeyPatch, forget_team_keys: None
) -> None:
    """With `ort,adresse` listed, off-schema `wohn_ort` and `rechnungsadresse` are masked and refused to
    viewers' search, and lint asks to mark `wohn_ort` and `lieferadresse` (EC013), while `sort_order` and
    `report_id` are stored in clear, searchable, and pass lint."""
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", "ort,adresse")
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    engineer = signed_in_client(app, Role.ENGINEER)
    body = {
        "event": "StackLaunchFailure",
        "off_schema": True,
        "scope": {"user_id": 5, "project_id": 801, "cluster_id": 3},
        "properties": {
            "stack_name": "s",
            "error_message": "e",
            "wohn_ort": "Berlin",
            "rechnungsadresse": "Hauptstr. 1",
            "sort_order": "3",
            "report_id": "r-1",
        },
    }
    response = engineer.post("/api/tester/send", json=body)
    assert response.status_code == 200, response.get_json()
    stored = _stored_properties(app)
    assert {key for key, value in stored.items() if is_mask(value)} == {"wohn_ort", "rechnungsadresse"}
    assert (stored["sort_order"], stored["report_id"]) == ("3", "r-1")
    viewer = signed_in_client(app, Role.VIEWER)
    for search in ("wohn_ort = Berlin", "rechnungsadresse = Hauptstr. 1"):
        assert viewer.get("/audit/", query_string={"project": "801", "prop": search}).status_code == 400
    found = viewer.get("/audit/", query_string={"project": "801", "prop": "report_id = r-1"})
    assert found.status_code == 200
    assert '<strong id="audit-count">1 entry</strong>' in found.get_data(as_text=True)
    linted = lint(PlacesEvent, REGISTRY, {})
    assert [f"{f.code} {f.subject}" for f in linted.findings if f.code == "EC013"] == [
        "EC013 PlaceListed.wohn_ort",
        "EC013 PlaceListed.lieferadresse",
    ]


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
