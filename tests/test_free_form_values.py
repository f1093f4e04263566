"""Values a spec holds beyond its declared types: free-form (`dict[str, Any]`) properties and nested models.

A host-app walk found `track` raising into the host for a `dict[str, Any]` property holding bytes, an
object, a dict that holds itself or one nested thousands deep, and messages lost after an `ok` receipt
for a NUL or a surrogate in a nested model's field or a dict's key or value. The specs here are the
test's own, in a registry of their own, as a fork declares them.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from spies import CountCalls

import analytics
import analytics.storable_text
from analytics import AuditStatus, AuditStore, MessageBuildError, NotInitializedError
from analytics.collector import Collector
from analytics.personal_data import mask_value
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

REGISTRY = SpecRegistry()

"""Small budgets: the defaults retry for hours, a test needs an answer in seconds."""


class FreeFormEvent(StrEnum):
    """The test event's name."""

    ReportExportStart = "Report Export Started"


class ReportLine(BaseModel):
    """One line of a report."""

    label: str = prop("What the line counts.", example="seats")
    share: float = prop("Its share of the total.", example=0.5)


class ReportExportStart(
    TrackSpec,
    event=FreeFormEvent.ReportExportStart,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A user started exporting a report."""

    scope: ProjectScope
    report_format: str = prop("File format asked for.", example="csv")
    filters: dict[str, Any] = prop("Filters the report was asked with.", example={"month": "2026-11"})
    lines: list[ReportLine] = prop("The report's lines.", example=[], default=[])
    ratio: float = prop("A ratio.", example=0.5, default=0.5)
    share: float | None = prop("A share, when known.", example=0.5, default=None)
    labels: tuple[str, ...] = prop("Labels.", example=("a",), default=())


class ReportPreferences(IdentifySpec, name="Report preferences", owner=Team.GROWTH, registry=REGISTRY):
    """A user saved their report preferences."""

    scope: UserScope
    preferences: dict[str, Any] = prop("Free-form preferences.", example={"theme": "dark"})


PROJECT = ProjectScope(user_id=1, project_id=2)


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


class _Opaque:
    """An object of the application's own, which pydantic cannot serialise."""


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"filters": {"raw": b"\xff"}}, r"filters\n.*cannot be sent as JSON: 'utf-8' codec can't decode"),
        ({"filters": {"v": _Opaque()}}, r"filters\n.*cannot be sent as JSON: Unable to serialize unknown"),
        ({"filters": _circular()}, r"filters\n.*cannot be sent as JSON: Circular reference detected"),
        ({"filters": _deep(5_000)}, r"filters\n.*cannot be sent as JSON: Maximum serialization depth"),
        ({"filters": {"q": "a\x00b"}}, r"filters\n.*at q: text cannot contain a NUL character"),
        ({"filters": {"a\x00b": 1}}, r'filters\n.*the key "a\\u0000b": text cannot contain a NUL'),
        ({"filters": {"q": ["x", {"y": "\ud800"}]}}, r"at q\.1\.y: text cannot contain a surrogate"),
        ({"filters": {"n": math.nan}}, r"filters\n.*at n: a number must be finite, not nan"),
        ({"filters": {}, "ratio": math.inf}, r"ratio\n.*a number must be finite, not inf"),
        (
            {"filters": {}, "lines": [ReportLine(label="a\x00b", share=1)]},
            r"lines\n.*at 0\.label: text cannot contain a NUL character",
        ),
        (
            {"filters": {}, "lines": [{"label": "seats", "share": math.nan}]},
            r"lines\n.*at 0\.share: a number must be finite",
        ),
        (
            {"filters": {}, "lines": [ReportLine(label="ok", share=1), ReportLine(label="\udc80", share=1)]},
            r"lines\n.*at 1\.label: text cannot contain a surrogate",
        ),
        ({"filters": {}, "ratio": -math.inf}, r"ratio\n.*a number must be finite, not -inf"),
        ({"filters": {}, "share": math.nan}, r"share\n.*a number must be finite, not nan"),
        ({"filters": {}, "labels": ("a", "b\x00")}, r"labels\n.*at 1: text cannot contain a NUL"),
    ],
)
def test_a_value_no_message_can_carry_is_refused_when_the_spec_is_built(
    values: dict[str, Any], said: str
) -> None:
    """As a `str` property given invalid bytes is: the spec is the contract, and `track` raised for
    these (or the audit log refused the message after an `ok` receipt)."""
    with pytest.raises(ValidationError, match=said):
        ReportExportStart(scope=PROJECT, report_format="csv", **values)


def test_a_spec_s_typed_values_are_not_made_json_to_be_checked(count_calls: CountCalls) -> None:
    """Building a spec serialised every nested or float value to look for what JSON cannot carry
    (500 typed lines: 1.2 ms against 44 us before, the review's F3): its typed values have only their
    text and floats read; a free-form value is still made JSON."""
    made_json = count_calls(analytics.storable_text, "to_jsonable_python")
    lines = [ReportLine(label=f"line {n}", share=0.5) for n in range(500)]
    ReportExportStart(scope=PROJECT, report_format="csv", filters={}, lines=lines, ratio=0.25, share=0.5)
    assert [call.args[0] for call in made_json] == [{}]


def test_a_free_form_text_merely_naming_infinity_is_not_walked(count_calls: CountCalls) -> None:
    """A product named "Infinity" or a text saying "NaN" made each build walk the whole value in
    Python (3.1 ms for 500 lines), as if it held a number JSON has not."""
    walked = count_calls(analytics.storable_text, "unstorable_in")
    filters = {f"k{n}": {"product": "Infinity Pro", "note": "NaN, -Infinity"} for n in range(300)}
    ReportExportStart(scope=PROJECT, report_format="csv", filters=filters)
    assert walked == []
    with pytest.raises(ValidationError, match=r"at k1: a number must be finite, not -inf"):
        ReportExportStart(scope=PROJECT, report_format="csv", filters={"k0": "Infinity", "k1": -math.inf})


def test_an_identify_spec_refuses_them_too() -> None:
    with pytest.raises(ValidationError, match=r"preferences\n.*at theme: text cannot contain a NUL"):
        ReportPreferences(scope=UserScope(user_id=1), preferences={"theme": "da\x00rk"})


def test_free_form_values_are_audited_and_sent_as_pydantic_turns_them_into_json(
    store: AuditStore, make_client: Any, collector: Collector
) -> None:
    """What the README says a free-form property's values become, held to it on both databases."""
    client = make_client(store)
    filters = {"price": Decimal("1.10"), "ids": {3}, "pair": (1, 2), "by_id": {7: "seven"}}
    filters |= {"raw": b"abc", "n": None}
    receipt = client.track(
        ReportExportStart(
            scope=PROJECT, report_format="csv", filters=filters, lines=[ReportLine(label="seats", share=1)]
        )
    )
    client.flush()
    sent = {"price": "1.10", "ids": [3], "pair": [1, 2], "by_id": {"7": "seven"}, "raw": "abc", "n": None}
    [message] = collector.received()
    assert message["properties"]["filters"] == sent
    assert message["properties"]["lines"] == [{"label": "seats", "share": 1.0}]
    entry = store.entry(receipt.message_id)
    assert entry is not None and entry.status == AuditStatus.DELIVERED
    assert entry.payload["properties"]["filters"] == sent


def _unbuildable() -> list[Any]:
    """Specs made with `model_construct`, which skips the checks: values no message can carry."""
    user = UserScope(user_id=1)
    return [
        ReportExportStart.model_construct(scope=PROJECT, report_format="csv", filters={"raw": b"\xff"}),
        ReportExportStart.model_construct(scope=PROJECT, report_format="csv", filters={"v": _Opaque()}),
        ReportExportStart.model_construct(scope=PROJECT, report_format="csv", filters=_circular()),
        ReportExportStart.model_construct(scope=None, report_format="csv", filters={}),
        ReportPreferences.model_construct(scope=None, preferences={}),
        ReportPreferences.model_construct(scope=user, preferences={"deep": _deep(5_000)}),
    ]


@pytest.mark.parametrize("spec", _unbuildable())
@pytest.mark.parametrize("strict", [False, True])
def test_a_spec_whose_values_make_no_message_gets_an_error_receipt_instead_of_raising(
    store: AuditStore,
    make_client: Any,
    collector: Collector,
    spec: Any,
    strict: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`track` raised UnicodeDecodeError, PydanticSerializationError, ValueError or AttributeError
    into the host for these; the README promises it never raises for an analytics reason."""
    client = make_client(store, strict=strict)
    send = client.track if isinstance(spec, TrackSpec) else client.identify
    with caplog.at_level(logging.ERROR, logger="analytics"):
        receipt = send(spec)
    assert receipt.status is None and isinstance(receipt.error, MessageBuildError)
    said = str(receipt.error)
    assert said.startswith(f"{type(spec).__name__} could not be made into a message (was it made with")
    assert said.endswith("; not audited, not sent")
    assert "properties" not in receipt.message and "traits" not in receipt.message
    assert receipt.message["messageId"] == receipt.message_id
    assert f"message {receipt.message_id}: {said}" in caplog.messages
    client.flush()
    assert store.entry(receipt.message_id) is None
    assert collector.received() == []


def test_raise_errors_raises_the_message_build_error(store: AuditStore, make_client: Any) -> None:
    client = make_client(store, raise_errors=True)
    with pytest.raises(MessageBuildError, match="AttributeError: 'NoneType' object has no attribute"):
        client.track(ReportExportStart.model_construct(scope=None, report_format="csv", filters={}))


def test_before_init_such_a_spec_gets_the_not_initialized_receipt() -> None:
    analytics.shutdown()
    receipt = analytics.track(ReportExportStart.model_construct(scope=None, report_format="c", filters={}))
    assert receipt.status is None and isinstance(receipt.error, NotInitializedError)


HOST_CONTEXT = {"ip": "203.0.113.7", "userAgent": "Mozilla/5.0", "locale": "de-DE"}


@pytest.mark.parametrize("sync_mode", [False, True])
def test_a_host_s_context_is_sent_and_audited_beside_the_library_s_own(
    store: AuditStore, make_client: Any, collector: Collector, sync_mode: bool
) -> None:
    """The README was silent on how a host passes Segment's `context` (ip, userAgent, locale), and
    `track(spec, context=…)` raised `TypeError: build_message() got an unexpected keyword argument`."""
    client = make_client(store, sync_mode=sync_mode)
    tracked = client.track(
        ReportExportStart(scope=PROJECT, report_format="csv", filters={}), context=HOST_CONTEXT
    )
    identified = client.identify(
        ReportPreferences(scope=UserScope(user_id=1), preferences={}), context={"locale": "ja-JP"}
    )
    client.flush()
    assert tracked.ok and identified.ok
    sent = {message["messageId"]: message["context"] for message in collector.received()}
    for receipt, given in ((tracked, HOST_CONTEXT), (identified, {"locale": "ja-JP"})):
        context = sent[receipt.message_id]
        assert {key: context[key] for key in given} == given
        assert context["eventCatalog"]["spec"] in {"ReportExportStart", "ReportPreferences"}
        assert context["library"]["name"] == "analytics-python"
        entry = store.entry(receipt.message_id)
        assert entry is not None and entry.status == AuditStatus.DELIVERED
        # The audit log keeps the IP address masked (tests/test_context_personal_data.py).
        audited = {
            key: mask_value(value, store.mask_key) if key == "ip" else value for key, value in given.items()
        }
        assert {key: entry.payload["context"][key] for key in given} == audited


@pytest.mark.parametrize(
    ("context", "said"),
    [
        ({"library": {"name": "mine"}}, "context cannot set 'library': the library writes it"),
        ({"eventCatalog": {}, "ip": "1.2.3.4"}, "context cannot set 'eventCatalog': the library writes it"),
        ("ip=1.2.3.4", "context must be a mapping (ip, userAgent, locale, …), got str 'ip=1.2.3.4'"),
    ],
)
@pytest.mark.parametrize("initialised", [False, True])
def test_a_context_no_value_makes_right_raises_a_type_error(
    store: AuditStore, make_client: Any, collector: Collector, context: Any, said: str, initialised: bool
) -> None:
    analytics.shutdown()
    client = make_client(store) if initialised else analytics
    spec = ReportExportStart(scope=PROJECT, report_format="csv", filters={})
    with pytest.raises(TypeError) as caught:
        client.track(spec, context=context)
    assert str(caught.value) == said
    assert collector.received() == []


@pytest.mark.parametrize(
    ("context", "said"),
    [
        ({"ip": b"\xff"}, "context= cannot be sent: cannot be sent as JSON: 'utf-8' codec can't decode"),
        ({"userAgent": "a\x00b"}, "context= cannot be sent: at userAgent: text cannot contain a NUL"),
        # Keys that become the same text: pydantic kept the last one's value, without a word.
        ({1: "a", "1": "b"}, "context= cannot be sent: keys 1 and '1' both become \"1\" in JSON: one value"),
        (
            {"page": {"q": [{(1, 2): "a", "1,2": "b"}]}},
            "context= cannot be sent: at page.q.0: keys (1, 2) and '1,2' both become \"1,2\" in JSON",
        ),
    ],
)
def test_a_context_value_no_message_can_carry_gets_an_error_receipt(
    store: AuditStore, make_client: Any, collector: Collector, context: Any, said: str
) -> None:
    client = make_client(store)
    receipt = client.track(ReportExportStart(scope=PROJECT, report_format="csv", filters={}), context=context)
    assert receipt.status is None and isinstance(receipt.error, MessageBuildError)
    assert said in str(receipt.error)
    client.flush()
    assert store.entry(receipt.message_id) is None and collector.received() == []


@pytest.mark.parametrize("initialised", [False, True])
@pytest.mark.parametrize("call", ["track", "identify"])
def test_a_keyword_track_does_not_take_is_a_type_error_naming_it(
    store: AuditStore, make_client: Any, call: str, initialised: bool
) -> None:
    """It named `build_message()`, an inner function, and mypy could not find it (`**kwargs: Any`)."""
    analytics.shutdown()
    client = make_client(store) if initialised else analytics
    spec = (
        ReportExportStart(scope=PROJECT, report_format="csv", filters={})
        if call == "track"
        else ReportPreferences(scope=UserScope(user_id=1), preferences={})
    )
    with pytest.raises(TypeError, match=rf"\b{call}\(\) got an unexpected keyword argument 'propertes'"):
        getattr(client, call)(spec, propertes={})
