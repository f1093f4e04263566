"""Personal data inside nested objects: found by its path, masked where it sits, never read in clear.

The shipped catalog is flat, so these specs are the test's own: a model property, a list of models
and an optional model, each holding a field declared `personal_data=True`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from personal_data_helpers import CHAIN_KEY, entry_of
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from werkzeug.datastructures import MultiDict

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import Catalog
from analytics.events import SegmentEvent
from analytics.integrity import verify
from analytics.messages import build_message
from analytics.payload_drift import drift_of
from analytics.personal_data import PersonalDataCipher, masked_keys, unmask
from analytics.replay import blocked_reason
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop
from webapp.auth.roles import Role
from webapp.catalog.filters import identify_matches, parse_filters
from webapp.extensions import analytics_client
from webapp.tester import forms
from webapp.tester.prefill import REENTER, input_from_entry
from webapp.tester.routes import _properties_query

Login = Callable[..., FlaskClient]

REGISTRY = SpecRegistry()
CLEAR = ("Grace Hopper", "grace@example.com", "Ada Lovelace", "Alan Turing")


class LineItem(BaseModel):
    """One line of an invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = prop("Product SKU.", example="pro-seat")
    buyer_email: str | None = prop(
        "Who bought it.", example="ap@example.com", personal_data=True, default=None, pattern=r"^[^@]+@[^@]+$"
    )


class PaymentMethod(BaseModel):
    """How an invoice was paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = prop("Payment kind.", example="card")
    cardholder_name: str | None = prop("Name on the card.", example="Ada", personal_data=True, default=None)


class BillingAddress(BaseModel):
    """Where invoices go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = prop("Country code.", example="DE")
    recipient_name: str = prop("Who receives them.", example="Ada", personal_data=True)


class InvoicePaid(
    TrackSpec,
    event=SegmentEvent.ProjectDelete,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """An invoice was paid."""

    scope: ProjectScope
    line_items: list[LineItem] = prop("Items invoiced.", example=[{"sku": "pro-seat"}])
    payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card"})
    backup_method: PaymentMethod | None = prop("Fallback.", example=None, default=None)


class BillingProfile(IdentifySpec, name="Billing profile", owner=Team.IDENTITY, registry=REGISTRY):
    """Who pays."""

    scope: UserScope
    address: BillingAddress | None = prop("Billing address.", example={"country": "DE"}, default=None)


CATALOG = Catalog(REGISTRY)
PAID_KEYS = {"line_items.buyer_email", "payment_method.cardholder_name", "backup_method.cardholder_name"}


def _recorded(
    store: AuditStore, message: dict[str, Any], spec: type[TrackSpec | IdentifySpec] = InvoicePaid
) -> AuditEntry:
    """`message`, a send of `spec`, recorded pending as the application records it; its stored entry."""
    store.record(
        message,
        status=AuditStatus.PENDING,
        source="application",
        personal_data_keys=spec.personal_data_keys(),
    )
    return entry_of(store, message["messageId"])


def _paid(**values: Any) -> InvoicePaid:
    defaults: dict[str, Any] = {
        "line_items": [{"sku": "a", "buyer_email": "grace@example.com"}, {"sku": "b"}],
        "payment_method": {"kind": "card", "cardholder_name": "Grace Hopper"},
        "backup_method": {"kind": "sepa", "cardholder_name": "Alan Turing"},
    }
    return InvoicePaid(scope=ProjectScope(user_id=7, project_id=12), **{**defaults, **values})


def test_a_nested_personal_field_counts_by_its_path_in_the_spec_and_the_catalog() -> None:
    """`personal_data_keys()` read the spec's own fields only: nested ones were no personal data."""
    assert InvoicePaid.personal_data_keys() == PAID_KEYS
    assert BillingProfile.personal_data_keys() == {"address.recipient_name"}
    paid = CATALOG.event("Project Deleted")
    assert paid.has_personal_data
    assert {p.name for p in paid.properties if p.personal_data} == {
        "line_items",
        "payment_method",
        "backup_method",
    }
    assert CATALOG.identifier("Billing profile").has_personal_data
    assert "recipient_name" in CATALOG.personal_data_names
    for pii, found in (("yes", ["Billing profile"]), ("no", [])):
        filters = parse_filters(MultiDict({"pii": pii, "q": "pays"}), CATALOG)
        assert [info.name for info in identify_matches(CATALOG, filters)] == found, pii


def test_the_audit_log_masks_nested_personal_data_seals_it_and_the_chain_verifies(engine: Engine) -> None:
    key = Fernet.generate_key().decode()
    store = AuditStore(engine, encryption_key=key)
    message = build_message(_paid())
    sent = json.loads(json.dumps(message))
    entry = _recorded(store, message)
    assert message == sent  # the copy Segment gets keeps the values
    stored = entry.payload["properties"]
    assert not any(value in json.dumps(entry.payload) for value in CLEAR)
    assert stored["line_items"][0]["buyer_email"].startswith("masked:")
    assert stored["line_items"][1] == {"sku": "b"}
    assert stored["payment_method"]["kind"] == "card"
    assert stored["payment_method"]["cardholder_name"].startswith("masked:")
    assert stored["backup_method"]["cardholder_name"].startswith("masked:")
    assert masked_keys(stored) == sorted(PAID_KEYS)
    assert entry.encrypted_personal_data is not None
    opened = unmask(entry.payload, entry.encrypted_personal_data, PersonalDataCipher(key))
    assert opened["properties"] == sent["properties"]
    assert verify(engine, CHAIN_KEY).ok
    # Without the sealed originals, a replay would send the nested masks: it is refused, naming them.
    assert blocked_reason(entry, None) == "its personal data is encrypted and AUDIT_ENCRYPTION_KEY is not set"
    unsealed = AuditStore(engine)
    kept = _recorded(unsealed, build_message(_paid(backup_method=None)))
    assert kept.encrypted_personal_data is None
    assert blocked_reason(kept, None) == (
        "personal data (line_items.buyer_email, payment_method.cardholder_name) was stored masked only, "
        "without AUDIT_ENCRYPTION_KEY: the real values cannot be re-sent"
    )


def test_a_message_without_nested_personal_values_seals_nothing(engine: Engine) -> None:
    """A seal where nothing is masked would make replay ask for a key it does not need."""
    store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
    message = build_message(
        _paid(line_items=[{"sku": "a"}], payment_method={"kind": "card"}, backup_method=None)
    )
    entry = _recorded(store, message)
    assert entry.encrypted_personal_data is None
    assert entry.payload == json.loads(json.dumps(message))


def test_a_masked_nested_value_is_not_drift_but_a_nested_error_is() -> None:
    message = build_message(_paid())
    items = message["properties"]["line_items"]
    items[0]["buyer_email"] = "masked:0123456789abcdef"  # fails its pattern: masked on purpose
    assert drift_of(message, CATALOG).validates
    items[1]["sku"] = 5
    assert [d.field for d in drift_of(message, CATALOG).differences] == ["line_items.1.sku"]


@pytest.fixture
def keyed_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())


def _record(app: Flask, spec: TrackSpec | IdentifySpec) -> str:
    with app.app_context():
        return _recorded(analytics_client.store(), build_message(spec), type(spec)).message_id


def test_a_viewer_reads_nested_personal_data_only_masked_by_any_url(
    keyed_app: Flask, login_as: Login
) -> None:
    """The viewer's API answer held `{'cardholder_name': 'Grace Hopper', …}` in clear."""
    paid = _record(keyed_app, _paid())
    profile = _record(
        keyed_app,
        BillingProfile(
            scope=UserScope(user_id=7), address={"country": "DE", "recipient_name": "Ada Lovelace"}
        ),
    )
    viewer = login_as(Role.VIEWER, on=keyed_app)
    urls = [
        f"/audit/entries/{paid}",
        f"/audit/entries/{profile}",
        f"/api/audit/entries/{paid}",
        f"/api/audit/entries/{profile}",
        "/api/audit/entries?user_id=7",
        "/audit/export.csv?user_id=7",
        "/audit/export.ndjson?user_id=7",
        "/audit/?user_id=7",
        "/audit/tail?user_id=7",
    ]
    for url in urls:
        # The live tail is htmx's poll: opened alone, it redirects to its search.
        response = viewer.get(url, headers={"HX-Request": "true"} if url.startswith("/audit/tail") else {})
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert not [value for value in CLEAR if value in body], url
    shown = viewer.get(f"/api/audit/entries/{profile}").get_json()
    assert shown["payload"]["traits"]["address"]["recipient_name"].startswith("masked:")
    assert shown["payload"]["traits"]["address"]["country"] == "DE"
    engineer = login_as(Role.ENGINEER, on=keyed_app)
    opened = engineer.get(f"/api/audit/entries/{paid}").get_json()
    assert opened["payload"]["properties"]["payment_method"]["cardholder_name"] == "Grace Hopper"
    assert opened["payload"]["properties"]["line_items"][0]["buyer_email"] == "grace@example.com"
    verified = keyed_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_the_tester_s_address_leaves_out_a_property_holding_nested_personal_data() -> None:
    """The address is kept in the browser's history: a property that holds personal data stays out."""
    info = CATALOG.event("Project Deleted")
    method = json.dumps({"kind": "card", "cardholder_name": "Grace Hopper"})
    fields = forms.TesterInput(spec=info.constant, props={"payment_method": method, "line_items": "[]"})
    assert _properties_query(fields, info) == {}
    raw = forms.TesterInput(
        spec=info.constant, mode=forms.RAW, raw=json.dumps({"payment_method": json.loads(method)})
    )
    assert _properties_query(raw, info) == {"raw": "{}"}


def test_send_again_asks_for_a_property_with_nested_masks_rather_than_sending_them(engine: Engine) -> None:
    """Pre-filling from the audit log looked for masks at the top only: the nested ones went out again."""
    store = AuditStore(engine)
    message = build_message(_paid(backup_method=None), source="tester", test=True)
    keys = InvoicePaid.personal_data_keys()
    store.record(message, status=AuditStatus.DELIVERED, source="tester", personal_data_keys=keys)
    entry = store.entry(message["messageId"])
    assert entry is not None
    typed, notes = input_from_entry(entry, None)
    assert "masked:" not in typed.raw and json.loads(typed.raw) == {}
    assert notes["raw"] == f"line_items, payment_method: {REENTER}"
