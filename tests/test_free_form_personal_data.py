"""Personal data inside a free-form property (`dict[str, Any]`, what `event-catalog import` writes for an
object without fields) is masked by its key's name in the audit log, as the tester masks off-schema
keys: an application's `filters={"email": ...}` was stored in clear, and `audit erase` could not
reach it (the host-app walk, finding F15)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import analytics
from analytics.audit import AuditEntry, AuditStore, create_audit_engine
from analytics.catalog import Catalog, personal_paths
from analytics.collector import Collector
from analytics.erasure import erase
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.payload_drift import drift_of
from analytics.personal_data import PersonalDataCipher, masked_keys, unmask, use_personal_keys
from analytics.queries import newest_first, parse_filters
from analytics.replay import ReplaySelection, blocked_reason, open_replay_client, replay
from analytics.scopes import ProjectScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop

REGISTRY = SpecRegistry()
CHAIN_KEY = b"event-catalog"  # the public default `init` takes under APP_ENV=development
FILTERS = {
    "email": "clear.person@example.com",
    "vorname": "Ada",
    "region": "eu",
    "owner": {"phone": "+49 30 1234567", "team": "billing"},
    "people": [{"first_name": "Grace", "role": "admin"}],
}
CLEAR = ("clear.person@example.com", "Ada", "+49 30 1234567", "Grace")


class ReportEvent(StrEnum):
    ReportExportStart = "Report Export Started"


class Contact(BaseModel):
    """A contact a report is sent to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_email: str = prop("A shared team inbox, not a person's.", example="billing@example.com")


class ReportExportStart(
    TrackSpec,
    event=ReportEvent.ReportExportStart,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A report export was started."""

    scope: ProjectScope
    report_format: str = prop("File format.", example="csv")
    filters: dict[str, Any] = prop("The filters applied, as the host's form sent them.", example={})
    counts: dict[str, int] = prop("Rows per filter.", example={"region": 3}, default={})
    inboxes: dict[str, Contact] = prop("Shared inboxes by region.", example={}, default={})


CATALOG = Catalog(REGISTRY)
SCOPE = ProjectScope(user_id=4711, project_id=2)


@pytest.fixture
def team_keys() -> Iterator[None]:
    """`vorname` is one of the team's names of personal data (`AUDIT_PERSONAL_KEYS`), for this test."""
    use_personal_keys("vorname")
    yield
    use_personal_keys(())


def test_keys_named_like_personal_data_inside_a_free_form_value_are_personal_paths(team_keys: None) -> None:
    """The spec's word holds where it declares a field: a mapping of models keeps its fields'."""
    spec = ReportExportStart(
        scope=SCOPE,
        report_format="csv",
        filters=FILTERS,
        counts={"phone": 2, "region": 3},
        inboxes={"eu": {"contact_email": "billing@example.com"}},
    )
    payload = build_message(spec)["properties"]
    assert personal_paths(ReportExportStart, payload) == {
        "filters.email",
        "filters.vorname",
        "filters.owner.phone",
        "filters.people.first_name",
        "counts.phone",
    }


def test_an_application_s_free_form_personal_values_are_masked_sealed_replayed_and_erased(
    database_url: str, collector: Collector, monkeypatch: pytest.MonkeyPatch, team_keys: None
) -> None:
    """Through `analytics.init` and `track`, as a host sends: stored masked and sealed, `verify` green,
    not drift, replayed with the real values, and `audit erase` clears them."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AUDIT_ENCRYPTION_KEY", key)
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", "vorname")
    collector.inject(500, times=10_000)  # the entry ends `failed`, for replay to send again
    analytics.init("test-key", host=collector.url, database_url=database_url, max_retries=0, timeout=5)
    try:
        receipt = analytics.track(
            ReportExportStart(scope=SCOPE, report_format="csv", filters=FILTERS, counts={"phone": 5})
        )
    finally:
        analytics.shutdown()
    collector.reset()
    engine = create_audit_engine(database_url)
    try:
        store = AuditStore(engine, encryption_key=key)
        entry = _entry(store, receipt.message_id)
        stored = entry.payload["properties"]
        assert entry.status == "failed"
        assert not [value for value in CLEAR if value in json.dumps(entry.payload)]
        assert masked_keys(stored) == [
            "counts.phone",
            "filters.email",
            "filters.owner.phone",
            "filters.people.first_name",
            "filters.vorname",
        ]
        assert (stored["filters"]["region"], stored["filters"]["owner"]["team"]) == ("eu", "billing")
        assert entry.encrypted_personal_data is not None
        opened = unmask(entry.payload, entry.encrypted_personal_data, PersonalDataCipher(key))
        assert opened["properties"] == receipt.message["properties"]
        assert verify(engine, CHAIN_KEY).ok
        assert drift_of(entry.payload, CATALOG).validates
        assert _found(engine, store, "filters.email = clear.person@example.com") == [receipt.message_id]
        _replay(store, collector)
        [sent] = collector.received()
        assert sent == receipt.message and sent["properties"]["filters"]["email"] == FILTERS["email"]
        assert erase(store, "4711", actor="cli:dpo").entries == 1
        erased = _entry(store, receipt.message_id)
        assert erased.encrypted_personal_data is None and erased.payload == entry.payload
        assert blocked_reason(erased, store.cipher) is not None
        checked = verify(engine, CHAIN_KEY)
        assert checked.ok, checked.findings
    finally:
        engine.dispose()


def test_a_masked_value_inside_a_typed_mapping_is_not_drift_but_a_wrong_value_is() -> None:
    message = build_message(ReportExportStart(scope=SCOPE, report_format="csv", filters={}))
    message["properties"]["counts"] = {"phone": "masked:0123456789abcdef", "region": 3}
    assert drift_of(message, CATALOG).validates
    message["properties"]["counts"]["region"] = "masked:0123456789abcdef"
    assert [d.field for d in drift_of(message, CATALOG).differences] == ["counts.region"]


def _replay(store: AuditStore, collector: Collector) -> None:
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    try:
        assert replay(store, client, ReplaySelection()).delivered == 1
    finally:
        client.shutdown()


def _found(engine: Engine, store: AuditStore, search: str) -> list[str]:
    """The entries a property search finds: a personal key's value is matched through its mask."""
    filters = parse_filters({"prop": search}, mask_key=store.mask_key)
    with Session(engine) as session:
        return [entry.message_id for entry in session.scalars(newest_first(filters, limit=10))]


def _entry(store: AuditStore, message_id: str) -> AuditEntry:
    entry = store.entry(message_id)
    assert entry is not None
    return entry
