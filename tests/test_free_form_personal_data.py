"""Personal data inside a free-form property (`dict[str, Any]`, what `event-catalog import` writes for an
object without fields) is masked by its key's name in the audit log, as the tester masks off-schema
keys: an application's `filters={"email": ...}` was stored in clear, and `audit erase` could not
reach it (the host-app walk, finding F15)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, ClassVar

import pytest
from personal_data_helpers import (
    entry_of,
    host_encryption_key,
    host_library,
    refused_host_send,
    replayed_then_erased,
    sealed_entry,
)
from pydantic import BaseModel, ConfigDict
from spies import CountCalls
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import analytics
import analytics.catalog
import analytics.personal_data
from analytics.audit import AuditStore
from analytics.catalog import Catalog, personal_paths
from analytics.collector import Collector
from analytics.messages import build_message
from analytics.payload_drift import drift_of
from analytics.personal_data import masked_keys, use_personal_keys
from analytics.queries import newest_first, parse_filters
from analytics.replay import blocked_reason
from analytics.scopes import ProjectScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop

REGISTRY = SpecRegistry()
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
    database_url: str, engine: Engine, collector: Collector, monkeypatch: pytest.MonkeyPatch, team_keys: None
) -> None:
    """Through `analytics.init` and `track`, as a host sends: stored masked and sealed, `verify` green,
    not drift, replayed with the real values, and `audit erase` clears them."""
    key = host_encryption_key(monkeypatch)
    monkeypatch.setenv("AUDIT_PERSONAL_KEYS", "vorname")
    spec = ReportExportStart(scope=SCOPE, report_format="csv", filters=FILTERS, counts={"phone": 5})
    receipt = refused_host_send(database_url, collector, lambda: analytics.track(spec))
    store = AuditStore(engine, encryption_key=key)
    entry = sealed_entry(store, receipt, key, CLEAR)
    stored = entry.payload["properties"]
    assert masked_keys(stored) == [
        "counts.phone",
        "filters.email",
        "filters.owner.phone",
        "filters.people.first_name",
        "filters.vorname",
    ]
    assert (stored["filters"]["region"], stored["filters"]["owner"]["team"]) == ("eu", "billing")
    assert drift_of(entry.payload, CATALOG).validates
    assert _found(engine, store, "filters.email = clear.person@example.com") == [receipt.message_id]
    sent = replayed_then_erased(store, collector, entry, "4711")
    assert sent == receipt.message and sent["properties"]["filters"]["email"] == FILTERS["email"]


def test_a_masked_value_inside_a_typed_mapping_is_not_drift_but_a_wrong_value_is() -> None:
    message = build_message(ReportExportStart(scope=SCOPE, report_format="csv", filters={}))
    message["properties"]["counts"] = {"phone": "masked:0123456789abcdef", "region": 3}
    assert drift_of(message, CATALOG).validates
    message["properties"]["counts"]["region"] = "masked:0123456789abcdef"
    assert [d.field for d in drift_of(message, CATALOG).differences] == ["counts.region"]


def _found(engine: Engine, store: AuditStore, search: str) -> list[str]:
    """The entries a property search finds: a personal key's value is matched through its mask."""
    filters = parse_filters({"prop": search}, mask_key=store.mask_key)
    with Session(engine) as session:
        return [entry.message_id for entry in session.scalars(newest_first(filters, limit=10))]


class Line(BaseModel):
    """An invoice line: every field typed, so a send has no key in it to read the name of."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = prop("Product SKU.", example="pro-seat")
    quantity: int = prop("Units.", example=1)
    email_template: str = prop("The template the invoice mail used, not an address.", example="plain")


class OpenLine(BaseModel):
    """A line that keeps whatever else it is given: its dump may hold keys no spec declares."""

    model_config = ConfigDict(frozen=True, extra="allow")

    sku: str = prop("Product SKU.", example="pro-seat")


class InvoiceEvent(StrEnum):
    InvoiceCreate = "Invoice Created"
    InvoiceFilter = "Invoice Filtered"
    InvoiceImport = "Invoice Imported"
    FormValidate = "Form Validated"


class InvoiceCreate(
    TrackSpec,
    event=InvoiceEvent.InvoiceCreate,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """An invoice was created."""

    scope: ProjectScope
    lines: list[Line] = prop("The invoice's lines.", example=[])


class InvoiceFilter(
    TrackSpec,
    event=InvoiceEvent.InvoiceFilter,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """Invoices were filtered."""

    scope: ProjectScope
    lines: list[Line] = prop("The lines shown.", example=[])
    filters: dict[str, Any] = prop("The filters applied.", example={})


class FormValidate(
    TrackSpec,
    event=InvoiceEvent.FormValidate,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A sign-up form was validated."""

    scope: ProjectScope
    errors_by_field: dict[str, int] = prop(
        "How many errors each form field had.", example={"email": 1}, personal_data=False
    )
    answers: dict[str, Any] = prop("The form's other answers.", example={}, default={})


class InvoiceImport(
    TrackSpec,
    event=InvoiceEvent.InvoiceImport,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """An invoice was imported with the lines as its file had them."""

    scope: ProjectScope
    lines: list[OpenLine] = prop("The lines imported.", example=[])


class Watched(dict[str, Any]):
    """A payload object that notes whether its keys were read: what a walk of the payload does."""

    read: ClassVar[list[Watched]] = []

    def items(self) -> Any:
        Watched.read.append(self)
        return super().items()

    def keys(self) -> Any:
        Watched.read.append(self)
        return super().keys()

    def __iter__(self) -> Any:
        Watched.read.append(self)
        return super().__iter__()


def _watched(value: Any) -> Any:
    if isinstance(value, dict):
        return Watched({key: _watched(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_watched(item) for item in value]
    return value


LINES = [Line(sku=f"sku-{n}", quantity=n + 1, email_template="plain") for n in range(50)]


def test_a_send_of_a_spec_without_free_form_values_reads_none_of_its_payload_s_keys() -> None:
    """Each send asked every key of every line whether it was declared (~2.8 ms for 500 typed lines,
    the review's F2): a spec that declares its whole payload has nothing to mask by name."""
    payload = _watched(build_message(InvoiceCreate(scope=SCOPE, lines=LINES))["properties"])
    Watched.read.clear()
    assert personal_paths(InvoiceCreate, payload, from_spec=True) == frozenset()
    assert Watched.read == []


def test_a_send_reads_only_its_free_form_values_keys() -> None:
    """The typed lines beside a free-form value are not walked; the free-form value still is, and its
    personal keys are masked as before."""
    filters = {"region": "eu", "owner": {"phone": "+49 30 1234567"}}
    spec = InvoiceFilter(scope=SCOPE, lines=LINES, filters=filters)
    payload = _watched(build_message(spec)["properties"])
    Watched.read.clear()
    assert personal_paths(InvoiceFilter, payload, from_spec=True) == {"filters.owner.phone"}
    lines = {id(line) for line in payload["lines"]}
    assert not [seen for seen in Watched.read if id(seen) in lines]
    assert {id(payload["filters"]), id(payload["filters"]["owner"])} <= {id(seen) for seen in Watched.read}


def test_a_model_that_keeps_undeclared_keys_is_still_walked() -> None:
    """A nested model with `extra="allow"` sends keys no spec declares: they are masked by name."""
    spec = InvoiceImport(scope=SCOPE, lines=[OpenLine(sku="a", email="ada@example.com")])  # type: ignore[call-arg]
    payload = build_message(spec)["properties"]
    assert personal_paths(InvoiceImport, payload, from_spec=True) == {"lines.email"}


def test_a_raw_payload_is_walked_whole_and_a_spec_s_own_send_masks_alike() -> None:
    """The tester's raw properties may hold off-schema keys inside typed values: they are still
    found; a spec's own payload gives the same paths with or without the shortcut."""
    raw = {"lines": [{"sku": "a", "quantity": 1, "email_template": "plain", "email": "ada@example.com"}]}
    assert personal_paths(InvoiceCreate, raw) == {"lines.email"}
    spec = ReportExportStart(
        scope=SCOPE,
        report_format="csv",
        filters=FILTERS,
        inboxes={"email": {"contact_email": "a@example.com"}},
    )
    payload = build_message(spec)["properties"]
    assert personal_paths(ReportExportStart, payload, from_spec=True) == personal_paths(
        ReportExportStart, payload
    )


def test_track_walks_only_the_free_form_values(
    database_url: str, collector: Collector, count_calls: CountCalls
) -> None:
    """Through `analytics.track`, as a host sends: the typed lines are not walked."""
    walked = count_calls(analytics.catalog, "_find_undeclared_personal")
    with host_library(database_url, collector):
        analytics.track(InvoiceCreate(scope=SCOPE, lines=LINES))
        assert walked == []
        analytics.track(InvoiceFilter(scope=SCOPE, lines=LINES, filters={"region": "eu"}))
    # The properties, then the filters: no line.
    assert [call.args[0] for call in walked][1:] == [{"region": "eu"}]


def test_a_key_s_name_is_read_once_however_often_it_is_sent(count_calls: CountCalls) -> None:
    """Keys repeat from send to send: whether one is named like personal data is worked out once,
    and again only when `AUDIT_PERSONAL_KEYS` changes the names."""
    key = f"kunde_{uuid.uuid4().hex}"
    spelt = count_calls(analytics.personal_data, "spelled")
    payload = {"filters": {key: "x"}}
    for _ in range(3):
        assert personal_paths(ReportExportStart, payload) == frozenset()
    assert [call.args for call in spelt] == [(key,)]
    use_personal_keys("kunde")
    try:
        assert personal_paths(ReportExportStart, payload) == {f"filters.{key}"}
    finally:
        use_personal_keys(())
    assert personal_paths(ReportExportStart, payload) == frozenset()


ERRORS = {"email": 1, "phone": 0, "company": 2}


def test_a_free_form_property_declared_without_personal_data_has_no_key_masked() -> None:
    """Lint's EC017 answer, `personal_data=False`, did not stop masking by name: a count per form field
    was stored `{"email": "masked:…"}` and could not be replayed without the key (the review's F4)."""
    spec = FormValidate(scope=SCOPE, errors_by_field=ERRORS, answers={"email": "ada@example.com"})
    payload = build_message(spec)["properties"]
    assert personal_paths(FormValidate, payload) == {"answers.email"}
    assert personal_paths(FormValidate, payload, from_spec=True) == {"answers.email"}
    tested = {"errors_by_field": {"email": 1, "owner": {"phone": "+49"}}}  # the tester's raw JSON
    assert personal_paths(FormValidate, tested) == frozenset()
    assert drift_of(build_message(spec), Catalog(REGISTRY)).validates


def test_its_counts_are_stored_and_replayable_without_the_encryption_key(
    database_url: str, engine: Engine, collector: Collector
) -> None:
    with host_library(database_url, collector):
        receipt = analytics.track(FormValidate(scope=SCOPE, errors_by_field=ERRORS))
        analytics.flush()
    store = AuditStore(engine)
    entry = entry_of(store, receipt.message_id)
    assert entry.payload["properties"]["errors_by_field"] == ERRORS
    assert blocked_reason(entry, store.cipher) is None
