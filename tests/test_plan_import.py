"""`event-catalog import`: a CSV or Segment plan becomes spec classes that run, lint and read back.

Each generated module is written to a file, checked with ruff as the project's code is, and
imported with the spec registry set aside, so its specs join a catalog of their own: exporting that
catalog again gives back what was imported.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import io
import json
import subprocess
import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal, get_args

import jsonschema
import pytest
from flask.testing import FlaskCliRunner
from planned_specs import CATALOG_OF_PLANNED
from pydantic import BaseModel, ConfigDict, Field

from analytics.catalog import CATALOG, Catalog
from analytics.diff import diff_bundles
from analytics.events import SegmentEvent
from analytics.exports import catalog_document, events_csv, schema_bundle_document, segment_plan, specs_csv
from analytics.lint import lint
from analytics.plan_import import PlanFormat, _unsaid_free_form, import_plan
from analytics.scopes import MAX_ID, ProjectScope, UserScope
from analytics.spec import REGISTRY, Category, IdentifySpec, SpecRegistry, Status, Team, TrackSpec, prop
from analytics.spec_drafts import ModelDraft, PropertyDraft, SpecDraft, TypeDraft
from analytics.tracks import CloudProvider

ROOT = Path(__file__).resolve().parents[1]


def _load(source: str, tmp_path: Path, name: str) -> tuple[ModuleType, SpecRegistry]:
    """Import a generated module with the shipped registry set aside; its specs in a registry of their own."""
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    assert CATALOG.events and CATALOG.identifiers  # built from the shipped registry before it is set aside
    saved = REGISTRY.tracks, REGISTRY.identifiers
    REGISTRY.tracks, REGISTRY.identifiers = [], []
    try:
        # Imported as a module of the catalog package, where a fork pastes it: only specs defined
        # there join the shipped registry.
        spec = importlib.util.spec_from_file_location(f"analytics.{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        registry = SpecRegistry()
        registry.tracks, registry.identifiers = REGISTRY.tracks, REGISTRY.identifiers
    finally:
        REGISTRY.tracks, REGISTRY.identifiers = saved
        sys.modules.pop(f"analytics.{name}", None)
    return module, registry


def _ruff_clean(path: Path) -> None:
    """The file passes `ruff format --check` and `ruff check` with the project's settings."""
    config = ["--config", str(ROOT / "pyproject.toml")]
    for command in (["format", "--check"], ["check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *config, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _imported(text: str, fmt: PlanFormat, tmp_path: Path, name: str) -> tuple[Any, ModuleType, Catalog]:
    imported = import_plan(text, fmt, f"{name}.plan")
    module, registry = _load(imported.source, tmp_path, name)
    _ruff_clean(tmp_path / f"{name}.py")
    return imported, module, Catalog(registry)


def test_a_csv_export_imports_back_into_the_same_catalog(tmp_path: Path) -> None:
    imported, module, catalog = _imported(events_csv(), PlanFormat.CSV, tmp_path, "from_csv")
    again = specs_csv([*catalog.events.values(), *catalog.identifiers.values()])
    assert again == events_csv()
    assert lint(module.SegmentEvent, catalog.registry).findings == []
    assert (imported.tracks, imported.identifies) == (len(CATALOG.events), len(CATALOG.identifiers))
    (warning,) = imported.warnings
    assert warning.startswith("50 specs already in the catalog (New User, ")


def test_a_segment_plan_export_imports_back_into_the_same_rules(tmp_path: Path) -> None:
    plan = segment_plan()
    imported, module, catalog = _imported(json.dumps(plan), PlanFormat.SEGMENT_PLAN, tmp_path, "from_plan")
    again = segment_plan(catalog)
    tracks = [rule for rule in plan["rules"] if rule["type"] == "TRACK"]
    assert [rule for rule in again["rules"] if rule["type"] == "TRACK"] == tracks
    # Segment keeps one identify rule: one identify spec, whose traits are the merged ones. A trait
    # some identify spec leaves out is optional (`T | None`, unset), and exported as it came: a None
    # is never sent, so the plan does not accept null.
    (before,) = [
        rule["jsonSchema"]["properties"]["traits"] for rule in plan["rules"] if rule["type"] == "IDENTIFY"
    ]
    (after,) = [
        rule["jsonSchema"]["properties"]["traits"] for rule in again["rules"] if rule["type"] == "IDENTIFY"
    ]
    assert after["required"] == before["required"] == ["email"]
    assert after["properties"] == before["properties"]
    # Each rule's constant label names its class: lint's documented exceptions (keyed by the shipped
    # constants) apply as they do to the catalog itself, and the constants applications use are kept.
    assert lint(module.SegmentEvent, catalog.registry).findings == []
    assert [info.constant for info in catalog.events.values()] == [
        info.constant for info in CATALOG.events.values()
    ]
    # The plan says which properties are personal data: none is marked by its name alone.
    assert not [warning for warning in imported.warnings if "marked personal data by its name" in warning]


def _nested_catalog() -> Catalog:
    """Nested models, enums of text and of numbers, optional values and a deprecation."""
    registry = SpecRegistry()

    class PaymentKind(StrEnum):
        """How an invoice was paid."""

        CARD = "card"
        SEPA = "sepa"

    class Priority(IntEnum):
        """How urgent."""

        LOW = 1
        HIGH = 2

    class LineItem(BaseModel):
        """One line of an invoice."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        sku: str = prop("Product SKU.", example="pro-seat", min_length=1)
        quantity: int = prop("How many units.", example=3, ge=1, le=10_000)

    class PaymentMethod(BaseModel):
        """How the invoice was paid."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        kind: PaymentKind = prop("Payment method kind.", example=PaymentKind.CARD)
        last4: str | None = prop("Last four digits.", example="4242", pattern=r"^[0-9]{4}$", default=None)

    class BillingAddress(BaseModel):
        """A postal address for invoices."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        country: str = prop("ISO 3166-1 alpha-2 country code.", example="DE", pattern=r"^[A-Z]{2}$")

    class InvoicePaid(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner="billing",
        registry=registry,
    ):
        """A customer's invoice was paid.

        Fires from the Stripe `invoice.paid` webhook handler, once per invoice.
        """

        scope: ProjectScope
        amount_cents: int = prop("Total charged, in cents.", example=4900, gt=0, le=MAX_ID)
        tax_rate: float = prop("Tax rate applied, as a fraction.", example=0.2, ge=0, lt=1)
        line_items: list[LineItem] = prop(
            "Items invoiced.", example=[{"sku": "pro-seat", "quantity": 3}], min_length=1, max_length=50
        )
        payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card", "last4": "4242"})
        reason: Literal["upgrade", "renewal"] | None = prop(
            "Why it was invoiced.", example="upgrade", default=None
        )
        tags: list[str] = prop("Free-form tags.", example=["q3"], default=[])
        priority: Priority = prop("How urgent.", example=Priority.LOW)
        codes: list[Annotated[str, Field(min_length=2)]] = prop("Codes.", example=["ab"])
        kinds: list[PaymentKind] = prop("Kinds accepted.", example=["card"])

    class SubscriptionUpgrade(
        TrackSpec,
        event=SegmentEvent.ProjectCreate,
        category=Category.ONBOARDING,
        owner="billing",
        status=Status.DEPRECATED,
        replaced_by=SegmentEvent.ProjectDelete,
        registry=registry,
    ):
        """A project upgraded its subscription (send the invoice event instead)."""

        scope: UserScope

    class BillingProfileIdentify(IdentifySpec, name="Billing profile", owner="billing", registry=registry):
        """Sent when a user saves their billing profile."""

        scope: UserScope
        billing_email: str = prop("Where invoices go.", example="billing@example.com", personal_data=True)
        address: BillingAddress | None = prop("Billing address.", example={"country": "DE"}, default=None)

    return Catalog(registry)


def _without_enum_docstrings(schema: Any) -> Any:
    """A schema without the docstrings of the enum classes the importer wrote: below a property (a
    list's items, a branch of `anyOf`) an inlined enum carries its class's description, and a plan
    has no class docstring to give (`Literal` has none)."""
    if isinstance(schema, list):
        return [_without_enum_docstrings(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    clean = {key: _without_enum_docstrings(value) for key, value in schema.items()}
    for key in ("items", "anyOf"):
        for inner in clean.get(key) if isinstance(clean.get(key), list) else [clean.get(key)]:
            if (
                isinstance(inner, dict)
                and "enum" in inner
                and inner.get("description", "").startswith("Allowed values of")
            ):
                del inner["description"]
    return clean


def test_nested_models_and_enums_round_trip_through_a_segment_plan(tmp_path: Path) -> None:
    source = _nested_catalog()
    plan = segment_plan(source)
    imported, module, catalog = _imported(json.dumps(plan), PlanFormat.SEGMENT_PLAN, tmp_path, "nested_plan")
    again = segment_plan(catalog)
    tracks = [rule for rule in plan["rules"] if rule["type"] == "TRACK"]
    assert [_without_enum_docstrings(rule) for rule in again["rules"] if rule["type"] == "TRACK"] == tracks
    (before,) = [rule["jsonSchema"] for rule in plan["rules"] if rule["type"] == "IDENTIFY"]
    (after,) = [rule["jsonSchema"] for rule in again["rules"] if rule["type"] == "IDENTIFY"]
    assert after["properties"] == before["properties"]
    assert after["labels"] == before["labels"] == {"owner": "billing", "status": "active"}
    # The classes read as the team would have written them, and the examples still validate.
    assert issubclass(module.Kind, StrEnum) and issubclass(module.Priority, IntEnum)
    assert module.LineItem.model_config["extra"] == "forbid"
    for info in [*catalog.events.values(), *catalog.identifiers.values()]:
        jsonschema.Draft202012Validator(info.json_schema).validate(info.example_payload())
    assert module.ProjectCreate.replaced_by is module.SegmentEvent.ProjectDelete
    assert 'Team has no "billing": add Team.BILLING to analytics/spec.py' in imported.warnings
    assert '# Team.BILLING = "billing"' in imported.source


def test_nested_models_round_trip_through_a_csv_by_their_path_rows(tmp_path: Path) -> None:
    """The export writes a nested model's fields as rows by path (`payment_method.kind`): they come
    back as nested models, and the export of what was imported is the CSV it came from."""
    source = _nested_catalog()
    text = specs_csv([*source.events.values(), *source.identifiers.values()])
    imported, module, catalog = _imported(text, PlanFormat.CSV, tmp_path, "nested_csv")
    assert specs_csv([*catalog.events.values(), *catalog.identifiers.values()]) == text
    assert "    payment_method: PaymentMethod = prop(" in imported.source
    assert not any("does not say what this object holds" in warning for warning in imported.warnings)
    assert module.ProjectDelete.__doc__.endswith("once per invoice.\n    ")


def test_an_object_without_field_rows_stays_an_object_said_so(tmp_path: Path) -> None:
    rows = [
        {"event": "Invoice Paid", "property": "payment_method", "type": "object", "required": "yes"},
        {"event": "", "property": "note", "type": "string", "required": "no"},
    ]
    imported, _module, _catalog = _imported(_csv(rows), PlanFormat.CSV, tmp_path, "open_csv")
    assert (
        "InvoicePaid.payment_method: the CSV does not say what this object holds: dict[str, Any]; "
        "write a nested model" in imported.warnings
    )
    assert "    payment_method: dict[str, Any] = prop(" in imported.source


def test_cells_the_export_guarded_against_formulas_read_back_as_they_were(tmp_path: Path) -> None:
    registry = SpecRegistry()

    class Formulas(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner="growth",
        registry=registry,
    ):
        """=HYPERLINK("https://attacker.example","open")"""

        scope: ProjectScope
        delta: int = prop("@SUM(1+1)", example=-3)
        note: str = prop("+ how it went", example="=cmd|'/c calc'!a0")

    text = specs_csv(Catalog(registry).events.values())
    assert "'=HYPERLINK" in text and "'-3" in text
    imported, module, catalog = _imported(text, PlanFormat.CSV, tmp_path, "formulas")
    assert specs_csv(catalog.events.values()) == text
    assert module.ProjectDelete.description() == Formulas.description()
    assert '    delta: int = prop("@SUM(1+1)", example=-3)' in imported.source


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_csv_rows_named_by_path_become_nested_models(tmp_path: Path) -> None:
    def row(prop_name: str, type_: str, required: str = "yes", **cells: str) -> dict[str, str]:
        base = {"event": "", "property": prop_name, "type": type_, "required": required}
        base.update(
            {"allowed_values": "", "bounds": "", "pattern": "", "example": "", "property_description": "x."}
        )
        return {**base, **cells}

    rows = [
        {**row("line_items", "array of object", bounds="1 ≤ items ≤ 50"), "event": "Invoice Paid"},
        row("line_items[].sku", "string", example="pro-seat", bounds="length ≥ 1"),
        row("line_items[].quantity", "integer", example="3", bounds="1 ≤ value ≤ 10000"),
        row("payment_method", "object", example='{"kind": "card"}'),
        row("payment_method.kind", "string", allowed_values="card | sepa", example="card"),
        row("payment_method.last4", "string", "no", pattern="^[0-9]{4}$", example="4242"),
        row("payment_method.holder.name", "string", "no", example="Ada"),
    ]
    imported, module, catalog = _imported(_csv(rows), PlanFormat.CSV, tmp_path, "paths_csv")
    schema = catalog.event("Invoice Paid").json_schema
    payment = schema["$defs"]["PaymentMethod"]
    assert payment["required"] == ["kind"] and payment["additionalProperties"] is False
    assert payment["properties"]["last4"]["anyOf"][0] == {"pattern": "^[0-9]{4}$", "type": "string"}
    assert schema["$defs"]["Kind"]["enum"] == ["card", "sepa"]
    item = schema["$defs"]["LineItem"]["properties"]
    assert (item["quantity"]["minimum"], item["quantity"]["maximum"], item["sku"]["minLength"]) == (
        1,
        10000,
        1,
    )
    assert (
        schema["properties"]["line_items"]["minItems"],
        schema["properties"]["line_items"]["maxItems"],
    ) == (1, 50)
    # A row below a property that has no row of its own is not dropped in silence.
    assert any(
        "payment_method.holder.name" in warning and "no row for" in warning for warning in imported.warnings
    )
    assert "'payment_method.holder.name' has no row for 'payment_method.holder'" in imported.source
    payload = {"line_items": [{"sku": "a", "quantity": 2}], "payment_method": {"kind": "sepa"}}
    module.InvoicePaid(scope=UserScope(user_id=1), **payload)


SPREADSHEET = """\
Event Name,Property Name,Data Type,Required?,Description,Bounds,Example,Notes
Order Completed,count,int,yes,How many.,,3,
,big,Long,yes,A big count.,,5,
,total,float,Y,The total.,0 <= value <= 1000,9.5,
,ratio,double,no,A ratio.,0<value<1,0.5,
,price,Decimal,no,A price.,>= 0,1.25,
,gift,bool,no,A gift.,,true,
,note,Text,no,A note.,length<=5,hi,
,created_at,DateTime,yes,When.,,2024-05-01T10:00:00Z,
,sent_at,timestamp,no,When sent.,,2024-05-01T10:00:00Z,
,day,date,no,Which day.,,2024-05-01,
,day_of_month,integer,no,Day.,1-31,5,
,quantity,integer,no,How many.,<= 5,2,
,code,string,no,A code.,<= 5,ab,
,items,array,no,What.,,"[1, ""a""]",
,sizes,list of ints,no,Sizes.,"items >= 1, >= 0","[1, 2]",
"""
"""A plan typed into a spreadsheet: its usual headers, type words and bounds as people type them."""


def test_a_spreadsheet_s_headers_type_words_and_ascii_bounds_are_read(tmp_path: Path) -> None:
    imported, module, catalog = _imported(SPREADSHEET, PlanFormat.CSV, tmp_path, "spreadsheet")
    schema = catalog.event("Order Completed").json_schema
    properties = schema["properties"]

    def typed(name: str) -> dict[str, Any]:
        value = properties[name]
        return value["anyOf"][0] if "anyOf" in value else value

    assert {name: typed(name).get("type") for name in properties} == {
        **dict.fromkeys(("count", "big", "day_of_month", "quantity"), "integer"),
        **dict.fromkeys(("total", "ratio", "price"), "number"),
        "gift": "boolean",
        **dict.fromkeys(("note", "created_at", "sent_at", "day", "code"), "string"),
        **dict.fromkeys(("items", "sizes"), "array"),
    }
    assert schema["required"] == ["count", "big", "total", "created_at"]
    assert properties["total"]["description"] == "The total."
    assert (properties["total"]["minimum"], properties["total"]["maximum"]) == (0, 1000)
    assert (typed("ratio")["exclusiveMinimum"], typed("ratio")["exclusiveMaximum"]) == (0, 1)
    assert typed("price")["minimum"] == 0
    assert typed("note")["maxLength"] == 5
    assert (typed("day_of_month")["minimum"], typed("day_of_month")["maximum"]) == (1, 31)
    assert typed("quantity")["maximum"] == 5
    assert typed("sizes")["minItems"] == 1 and typed("sizes")["items"] == {"minimum": 0, "type": "integer"}
    assert typed("items")["items"] == {}
    assert "maxLength" not in typed("code") and "maximum" not in typed("code")
    warnings = imported.warnings
    assert "columns not imported: Notes (not a column of the export)" in warnings
    assert (
        "OrderCompleted.created_at: not imported: format 'date-time' of the type 'datetime' "
        "(the value is checked as any text)" in warnings
    )
    assert (
        "OrderCompleted.day: not imported: format 'date' of the type 'date' "
        "(the value is checked as any text)" in warnings
    )
    assert (
        "OrderCompleted.items: the type 'array' does not say what its items are: list[Any]; write "
        "`array of string` (of integer, object…) to check them" in warnings
    )
    assert (
        "OrderCompleted.code: not imported: the bounds '<= 5' (write them as `0 <= value <= 100`, `1-31`, "
        "`length >= 1` or `items <= 5`, items first)" in warnings
    )
    assert not any("the type" in warning and "(the type is Any)" in warning for warning in warnings)
    message = {
        "count": 1,
        "big": 2,
        "total": 9.5,
        "created_at": "2024-05-01T10:00:00Z",
    }
    module.OrderCompleted(scope=UserScope(user_id=1), **message)
    with pytest.raises(ValueError, match="total"):
        module.OrderCompleted(scope=UserScope(user_id=1), **{**message, "total": "a lot"})


def test_a_list_example_written_as_a_spreadsheet_does_is_read() -> None:
    """`red | blue` (as allowed values are written) and a lone `red` got a made-up example instead."""
    text = (
        "event,property,type,required,allowed_values,example,property_description\n"
        "A Done,colors,array of string,yes,,red | blue,x.\n"
        ",one,list of text,yes,,red,x.\n"
        ",sizes,array of string,yes,s|m|l,s|m,x.\n"
        ",nums,array of integer,yes,,1|2,x.\n"
        ",bad,array of integer,yes,,x|2,x.\n"
    )
    imported = import_plan(text, PlanFormat.CSV, "plan.csv")
    assert '    colors: list[str] = prop("x.", example=["red", "blue"])\n' in imported.source
    assert '    one: list[str] = prop("x.", example=["red"])\n' in imported.source
    assert '    sizes: list[Size] = prop("x.", example=[Size.S, Size.M])\n' in imported.source
    assert '    nums: list[int] = prop("x.", example=[1, 2])\n' in imported.source
    assert "ADone.bad: the example 'x|2' is not JSON: a made-up one is written" in imported.warnings


def test_a_column_named_twice_is_read_once_and_said_so() -> None:
    text = "event,property,type,Description,Property Description\nA Done,n,integer,First.,Second.\n"
    imported = import_plan(text, PlanFormat.CSV, "plan.csv")
    assert "columns not imported: Property Description (a second property_description column)" in (
        imported.warnings
    )
    assert '    n: int | None = prop("First.", example=1, default=None)' in imported.source


ACME_PLAN: dict[str, Any] = {
    "name": "workspaces/acme/tracking-plans/rs_1abc",
    "display_name": "Acme web",
    "rules": {
        "global": {"type": "object", "properties": {"context": {"type": "object"}}},
        "events": [
            {
                "name": "Order Completed",
                "description": "A customer completed an order.\n\nFires when the payment is confirmed.",
                "version": 2,
                "rules": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "labels": {"owner": "growth", "category": "Onboarding"},
                    "properties": {
                        "context": {},
                        "traits": {},
                        "properties": {
                            "type": "object",
                            "properties": {
                                "order_id": {"type": "string", "description": "Order id.", "minLength": 1},
                                "total": {
                                    "type": "number",
                                    "description": "Total, in dollars.",
                                    "minimum": 0,
                                    "examples": [99.5],
                                },
                                "currency": {
                                    "type": ["string", "null"],
                                    "enum": ["usd", "eur", None],
                                    "description": "Currency.",
                                },
                                "products": {
                                    "type": "array",
                                    "description": "What was bought.",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "description": "One product of the order.",
                                        "properties": {
                                            "sku": {"type": "string", "description": "Stock keeping unit."},
                                            "quantity": {
                                                "type": "integer",
                                                "description": "How many.",
                                                "minimum": 1,
                                                "maximum": 100,
                                            },
                                        },
                                        "required": ["sku", "quantity"],
                                        "additionalProperties": False,
                                    },
                                },
                                "shipping": {
                                    "$ref": "#/definitions/address",
                                    "description": "Where it ships.",
                                },
                                "tags": {
                                    "type": "array",
                                    "description": "Labels.",
                                    "items": {"type": "string"},
                                    "uniqueItems": True,
                                },
                                "coupon_url": {
                                    "type": "string",
                                    "description": "Coupon link.",
                                    "format": "uri",
                                },
                                "customer_email": {"type": "string", "description": "Who ordered."},
                                "paymentMethod": {"type": "string", "description": "How it was paid."},
                                "API Method": {"type": "string", "description": "Which API."},
                                "discount": {
                                    "description": "Discount.",
                                    "oneOf": [{"type": "number"}, {"type": "string"}],
                                },
                                "gift": {"type": "boolean", "description": "A gift order.", "default": False},
                            },
                            "required": ["order_id", "total", "products"],
                        },
                    },
                    "definitions": {
                        "address": {
                            "type": "object",
                            "properties": {
                                "country": {
                                    "type": "string",
                                    "description": "Country.",
                                    "pattern": "^[A-Z]{2}$",
                                }
                            },
                            "required": ["country"],
                            "additionalProperties": False,
                        }
                    },
                },
            },
            {
                "name": "product_viewed",
                "description": "A product page was viewed.",
                "rules": {
                    "properties": {
                        "properties": {
                            "type": "object",
                            "properties": {
                                "proj_id": {
                                    "type": "integer",
                                    "description": "Project.",
                                    "exclusiveMinimum": 0,
                                },
                                "product_id": {"type": "string", "description": "The product."},
                            },
                            "required": ["proj_id", "product_id"],
                        }
                    }
                },
            },
            {"name": "Order Completed", "version": 1, "rules": {}},
        ],
        "identify": {
            "type": "object",
            "properties": {
                "traits": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "description": "The user's email."},
                        "plan": {"type": "string", "enum": ["free", "pro"], "description": "Current plan."},
                    },
                    "required": ["email"],
                }
            },
        },
        "group": {"properties": {"traits": {"type": "object", "properties": {"name": {"type": "string"}}}}},
    },
}
"""A Config API plan as a team might have written it in Protocols: no examples, no scopes, a
snake_case event name and keywords a spec cannot say."""


def test_a_segment_config_api_plan_becomes_specs_with_every_gap_reported(tmp_path: Path) -> None:
    imported, module, catalog = _imported(json.dumps(ACME_PLAN), PlanFormat.SEGMENT_PLAN, tmp_path, "acme")
    warnings = imported.warnings
    for expected in (
        "Order Completed: several rules; rules.events[0], version 2, is imported, not rules.events[2] "
        "(version 1)",
        "rules.global: not imported: the catalog holds track and identify calls",
        "rules.group: not imported: the catalog holds track and identify calls",
        "OrderCompleted.tags: not imported: uniqueItems (items may repeat)",
        "OrderCompleted.coupon_url: not imported: format 'uri' (the value is checked as any text)",
        "OrderCompleted.API Method: not imported: is not a Python name",
        "OrderCompleted.discount: not imported: oneOf of 2 schemas (the type is left open: Any)",
        "OrderCompleted.customer_email: marked personal data by its name (the plan does not say)",
        'the plan names no category for product_viewed: "Imported" is written; change it',
        'ProductViewed: lint EC002 event string "product_viewed" is not Title Case',
        "OrderCompleted.paymentMethod: lint EC006 property name should be snake_case",
        "PlanIdentify: no description in the plan (lint EC005)",
    ):
        assert expected in warnings
    assert any(
        warning.endswith(
            'without an example in the plan: each gets a made-up one, marked "# made-up example"'
        )
        for warning in warnings
    )
    source = imported.source
    assert "# not imported: 'API Method' is not a Python name" in source
    assert '    ProductViewed = "product_viewed"' in source  # reported, not renamed
    assert "class Shipping(" not in source and "class Address(BaseModel):" in source
    order = catalog.event("Order Completed")
    assert order.spec.description() == ACME_PLAN["rules"]["events"][0]["description"]
    assert (order.scope, catalog.event("product_viewed").scope) == (UserScope, ProjectScope)
    assert order.spec.owner == "growth" and order.spec.category is Category.ONBOARDING
    # What the plan accepts, the spec accepts, and what it refuses, the spec refuses.
    rule = ACME_PLAN["rules"]["events"][0]["rules"]
    source_schema = copy.deepcopy(rule["properties"]["properties"]) | {"definitions": rule["definitions"]}
    valid = {
        "order_id": "o-1",
        "total": 10,
        "products": [{"sku": "a", "quantity": 2}],
        "currency": "eur",
        "shipping": {"country": "DE"},
        "gift": True,
    }
    wrong = [
        {**valid, "order_id": ""},
        {**valid, "total": -1},
        {**valid, "currency": "gbp"},
        {**valid, "products": []},
        {**valid, "products": [{"sku": "a", "quantity": 0}]},
        {**valid, "products": [{"sku": "a"}]},
        {**valid, "shipping": {"country": "de"}},
        {key: value for key, value in valid.items() if key != "total"},
    ]
    validator = jsonschema.Draft7Validator(source_schema)
    generated = jsonschema.Draft202012Validator(order.json_schema)
    assert validator.is_valid(valid) and generated.is_valid(valid)
    for payload in wrong:
        assert not validator.is_valid(payload) and not generated.is_valid(payload), payload
    for info in [*catalog.events.values(), *catalog.identifiers.values()]:
        generated_examples = jsonschema.Draft202012Validator(info.json_schema)
        generated_examples.validate(info.example_payload())
    assert module.Address.model_json_schema()["properties"]["country"]["examples"] == ["AA"]


def test_names_that_break_the_rules_are_reported_and_kept() -> None:
    plan = {
        "rules": [
            {"type": "TRACK", "key": "checkout_started", "jsonSchema": {"description": "Checkout began."}},
            {"type": "TRACK", "key": "New Checkout Event", "jsonSchema": {"description": "A checkout."}},
            {"type": "PAGE", "key": "Pricing", "jsonSchema": {}},
        ]
    }
    imported = import_plan(json.dumps(plan), PlanFormat.SEGMENT_PLAN, "plan.json")
    assert imported.warnings[0] == (
        "rule 3 (Pricing): not imported: a PAGE rule; the catalog holds track and identify calls"
    )
    assert (
        'CheckoutStarted: lint EC002 event string "checkout_started" is not Title Case' in imported.warnings
    )
    assert (
        'NewCheckoutEvent: lint EC011 event string "New Checkout Event" ends with the redundant word "Event"'
        in imported.warnings
    )
    assert (
        '    # lint EC002: event string "checkout_started" is not Title Case\n'
        '    CheckoutStarted = "checkout_started"\n' in imported.source
    )


def test_the_names_kept_come_with_the_lint_exceptions_that_accept_them(tmp_path: Path) -> None:
    """Accepting a kept name meant finding EXCEPTIONS in analytics/lint.py and writing its key by hand
    (a nested field's subject is its path under the spec, not its model's class)."""
    rows = [
        {"event": "checkout_started", "property": "cartId", "type": "string", "property_description": "x."},
        {"event": "New Order Event", "property": "line_items", "type": "array of object"},
        {
            "event": "",
            "property": "line_items[].unitPriceIncludingTaxesAndFees",
            "type": "number",
            "property_description": "x.",
        },
        {"event": "Invoice Paid", "property": "amount", "type": "integer", "property_description": "x."},
    ]
    rows = [{**row, "event_description": "Something happened.", "example": ""} for row in rows]
    rows[1]["property_description"] = "The items."
    imported, module, catalog = _imported(_csv(rows), PlanFormat.CSV, tmp_path, "kept_names")
    offered = module.IMPORTED_EXCEPTIONS
    assert list(offered) == [
        ("EC002", "CheckoutStarted"),
        ("EC011", "NewOrderEvent"),
        ("EC006", "CheckoutStarted.cartId"),
        ("EC006", "NewOrderEvent.line_items.unitPriceIncludingTaxesAndFees"),
    ]
    naming = {"EC001", "EC002", "EC003", "EC004", "EC006", "EC010", "EC011"}
    before = lint(module.SegmentEvent, catalog.registry)
    assert {(finding.code, finding.subject) for finding in before.findings if finding.code in naming} == set(
        offered
    )
    after = lint(module.SegmentEvent, catalog.registry, offered)
    assert [finding for finding in after.findings if finding.code in {*naming, "EC012"}] == []
    assert imported.warnings[-1] == (
        "4 lint findings on names kept as the plan has them (above): to accept them, paste the entries of "
        "IMPORTED_EXCEPTIONS (the output's last part) into EXCEPTIONS in analytics/lint.py, each with the "
        "real reason"
    )
    assert "# Part 3, for analytics/lint.py: the names kept that break lint's naming rules." in (
        imported.source
    )
    # Laid out as ruff formats it (`_imported` checks), a long subject's key split as lint.py's are.
    assert (
        '    (\n        "EC006",\n        "NewOrderEvent.line_items.unitPriceIncludingTaxesAndFees",\n    ): '
        in (imported.source)
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "plan.json",
            b"{rules",
            "plan.json: not JSON: line 1, column 2: Expecting property name enclosed in double quotes",
        ),
        (
            "plan.json",
            b'{"name": "x"}',
            "plan.json: not a Segment tracking plan: no rules (a list, or the Config API's rules object)",
        ),
        ("plan.json", b'{"rules": []}', "plan.json: the plan has no track or identify rule"),
        *(
            (
                "plan.json",
                json.dumps({"rules": rules}).encode(),
                f"plan.json: the plan has no track or identify rule to import: {why}",
            )
            for rules, why in (
                (
                    [{"type": "TRACK", "key": 123, "jsonSchema": {}}],
                    "rule 1: not imported: a TRACK rule whose key is 123, not an event name",
                ),
                (
                    [{"type": "TRACK", "key": "Invoice Paid", "jsonSchema": "nope"}],
                    'rule 1 (Invoice Paid): not imported: its jsonSchema is "nope", not a JSON object',
                ),
                (
                    [*({"type": "TRACK", "key": " "} for _ in range(4)), {"type": "PAGE", "key": "Home"}],
                    'rule 1: not imported: a TRACK rule whose key is " ", not an event name; rule 2: not '
                    'imported: a TRACK rule whose key is " ", not an event name; rule 3: not imported: a '
                    'TRACK rule whose key is " ", not an event name; and 2 more rules',
                ),
            )
        ),
        (
            "plan.json",
            json.dumps(
                {"rules": {"events": [{"name": "", "rules": {}}, {"name": "A B", "rules": []}]}}
            ).encode(),
            "plan.json: the plan has no track or identify rule to import: rules.events[0]: not imported: "
            'an event whose name is "", not an event name; rules.events[1] (A B): not imported: its rules '
            "are [], not a JSON object",
        ),
        *(
            (
                "catalog.json",
                json.dumps(document).encode(),
                "catalog.json: the catalog's JSON Schema bundle or /api/catalog document, which import does "
                "not read: export the catalog with --format segment-plan or --format csv and import that",
            )
            for document in (schema_bundle_document(), catalog_document())
        ),
        (
            "plan.json",
            b'{"rules": [{"type": "TRACK", "key": "A B", "jsonSchema": {"examples": [NaN]}}]}',
            "plan.json: not JSON: NaN is not a JSON number",
        ),
        (
            "plan.csv",
            b"Event,Description\nInvoice Paid,Paid\n",
            'plan.csv: not a tracking plan CSV: no column for property ("property", "Property Name" or '
            '"Prop") or type ("type", "Data Type", "Property Type" or "Value Type"); names are matched in '
            "any case, spaces and punctuation aside (the columns are those `event-catalog export "
            "--format csv` writes)",
        ),
        ("plan.csv", b"event,property,type\n", "plan.csv: the plan has no events"),
        *(
            (
                "plan.csv",
                content,
                f"plan.csv: not CSV: line {line}: {problem} (a cell that starts with a quote ends with one, "
                'and a quote inside it is written twice: "5"" screen")',
            )
            for content, line, problem in (
                (b'event,property,type\n"My Event,amount,integer\n', 2, "unexpected end of data"),
                (b'event,property,type\nA,n,integer\nB,"m"x,integer\n', 3, "',' expected after '\"'"),
                (b'event;property;type\nA;"n;integer\nB;m;integer\n', 2, "unexpected end of data"),
            )
        ),
        (
            "plan.csv",
            b"event,property,type\n,amount,integer\n",
            "plan.csv: line 2: a row without an event, and no event above it",
        ),
        (
            "plan.csv",
            b"event,property,type\nInvoice \xff,amount,integer\n",
            'plan.csv: not UTF-8 text (byte 0xff at offset 28); save it as UTF-8 (in a spreadsheet, as "CSV '
            'UTF-8") and import that',
        ),
        (
            "plan.txt",
            b"just some words\n",
            "plan.txt: cannot tell whether it is CSV or a Segment plan: give --format",
        ),
    ],
)
def test_a_file_that_is_no_plan_is_refused_in_one_line(
    runner: FlaskCliRunner, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {tmp_path}/{message}"]
    assert result.stdout == ""


def test_cli_import_writes_the_module_and_warns_on_stderr(runner: FlaskCliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(ACME_PLAN), encoding="utf-8")
    printed = runner.invoke(args=["import", str(plan)])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == import_plan(plan.read_text(), PlanFormat.SEGMENT_PLAN, "plan.json").source
    lines = printed.stderr.splitlines()
    assert lines[0] == "warning: rules.global: not imported: the catalog holds track and identify calls"
    assert all(line.startswith("warning: ") for line in lines[:-1])
    assert (
        lines[-1]
        == f"imported 2 track specs and 1 identify spec from {plan}; {len(lines) - 1} warnings above"
    )
    target = tmp_path / "specs.py"
    written = runner.invoke(args=["import", str(plan), "--format", "segment-plan", "-o", str(target)])
    assert written.exit_code == 0 and written.stdout == ""
    assert target.read_text(encoding="utf-8") == printed.stdout
    assert written.stderr.splitlines()[-1].startswith(
        f"imported 2 track specs and 1 identify spec from {plan} to {target}"
    )
    unwritable = runner.invoke(args=["import", str(plan), "-o", str(tmp_path / "missing" / "x.py")])
    assert unwritable.exit_code == 2
    assert (
        unwritable.stderr.splitlines()[-1]
        == f"error: cannot write {tmp_path / 'missing' / 'x.py'}: No such file or directory"
    )
    missing = runner.invoke(args=["import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_cli_import_reads_the_csv_export_with_its_byte_order_mark(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    exported = tmp_path / "event-catalog.csv"
    assert runner.invoke(args=["export", "--format", "csv", "-o", str(exported)]).exit_code == 0
    assert exported.read_bytes().startswith(b"\xef\xbb\xbf")
    result = runner.invoke(args=["import", str(exported)])
    assert result.exit_code == 0
    assert result.stdout == import_plan(events_csv(), PlanFormat.CSV, "event-catalog.csv").source


@pytest.mark.parametrize("separator", [";", "\t"])
def test_cli_import_reads_a_plan_a_spreadsheet_saved_with_another_separator(
    runner: FlaskCliRunner, tmp_path: Path, separator: str
) -> None:
    """A German Excel saves "CSV" with `;`: the import said "no event, property, type column"."""
    rows = csv.reader(io.StringIO(events_csv(), newline=""))
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=separator, lineterminator="\r\n").writerows(rows)
    saved = tmp_path / "plan-de.csv"
    saved.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
    result = runner.invoke(args=["import", str(saved)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == import_plan(events_csv(), PlanFormat.CSV, "plan-de.csv").source


def test_cli_import_of_a_japanese_excel_csv_says_to_save_it_as_csv_utf_8(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    saved = tmp_path / "plan-ja.csv"
    saved.write_bytes("event,property,type\n請求,amount,integer\n".encode("cp932"))
    result = runner.invoke(args=["import", str(saved)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {saved}: not UTF-8 text (byte 0x90 at offset 20); save it as UTF-8 "
        '(in a spreadsheet, as "CSV UTF-8") and import that'
    ]


def test_generated_modules_type_check_as_the_catalog_does(tmp_path: Path) -> None:
    """The output is pasted into `analytics/`, which mypy checks strictly with the pydantic plugin."""
    package = tmp_path / "pasted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    plans = {
        "nested": (json.dumps(segment_plan(_nested_catalog())), PlanFormat.SEGMENT_PLAN),
        "acme": (json.dumps(ACME_PLAN), PlanFormat.SEGMENT_PLAN),
        "catalog": (events_csv(), PlanFormat.CSV),
    }
    for name, (text, fmt) in plans.items():
        (package / f"{name}.py").write_text(import_plan(text, fmt, name).source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(package)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_planned_status_imports_back_as_planned(tmp_path: Path) -> None:
    """A spreadsheet's planned rows stay planned: the status column (and the Segment plan's status
    label) is written as `status=Status.PLANNED`, for identify calls too."""
    planned = [*CATALOG_OF_PLANNED.events.values(), *CATALOG_OF_PLANNED.identifiers.values()]
    text = specs_csv(planned)
    imported, _, catalog = _imported(text, PlanFormat.CSV, tmp_path, "planned_csv")
    assert imported.source.count("status=Status.PLANNED") == 2
    assert [info.spec.status for info in [*catalog.events.values(), *catalog.identifiers.values()]] == [
        Status.PLANNED,
        Status.PLANNED,
    ]
    assert specs_csv([*catalog.events.values(), *catalog.identifiers.values()]) == text
    plan = json.dumps(segment_plan(CATALOG_OF_PLANNED))
    imported, _, from_plan = _imported(plan, PlanFormat.SEGMENT_PLAN, tmp_path, "planned_plan")
    assert [info.spec.status for info in from_plan.events.values()] == [Status.PLANNED]
    # The identify rule's status label: the planned identify call came back active.
    assert [info.spec.status for info in from_plan.identifiers.values()] == [Status.PLANNED]
    assert imported.source.count("status=Status.PLANNED") == 2


def test_identify_calls_of_several_statuses_import_as_one_active_spec_said_so(tmp_path: Path) -> None:
    """Segment keeps one identify rule: its status label lists each merged call's status, and the one
    spec it becomes is active when any of them is sent."""
    registry = SpecRegistry()
    registry.tracks = list(REGISTRY.tracks)
    registry.identifiers = [*REGISTRY.identifiers, *CATALOG_OF_PLANNED.registry.identifiers]
    plan = segment_plan(Catalog(registry))
    (rule,) = [rule for rule in plan["rules"] if rule["type"] == "IDENTIFY"]
    assert rule["jsonSchema"]["labels"] == {"owner": "identity", "status": "active,planned"}
    imported, _, catalog = _imported(json.dumps(plan), PlanFormat.SEGMENT_PLAN, tmp_path, "mixed_plan")
    assert [info.spec.status for info in catalog.identifiers.values()] == [Status.ACTIVE]
    assert "Identify: the plan names several statuses (active, planned): active is used" in imported.warnings
    assert "# the plan names several statuses (active, planned): active is used" in imported.source


def test_a_status_the_catalog_does_not_have_is_imported_active_with_a_warning() -> None:
    rows = list(csv.DictReader(io.StringIO(specs_csv(CATALOG_OF_PLANNED.events.values()))))
    for row in rows:
        row["status"] = "Someday"
    imported = import_plan(_csv(rows), PlanFormat.CSV, "plan.csv")
    message = "the status 'someday' is not active, deprecated or planned: active"
    assert f"Invoice Sent: {message}" in imported.warnings
    assert f"# the plan's {message[4:]}" in imported.source and "status=Status." not in imported.source


def test_classes_the_catalog_already_has_are_reused_or_renamed_never_redefined(tmp_path: Path) -> None:
    """Pasted into tracks.py, an imported `class CloudProvider` or `class RegistryKind` rebound the
    catalog's own for every spec and application below it, silently. An enum with the same values
    is imported instead; a class with another shape gets the spec's prefix, a note and a warning."""

    def row(prop_name: str, type_: str, **cells: str) -> dict[str, str]:
        base = {"event": "", "property": prop_name, "type": type_, "required": "yes", "allowed_values": ""}
        base.update({"bounds": "", "pattern": "", "example": "", "property_description": "x."})
        return {**base, **cells}

    rows = [
        {
            **row("cloud_provider", "string", allowed_values="gcp | aws | azure | digitalocean"),
            "event": "Bill Paid",
        },
        row("cluster_kind", "string", allowed_values="eks | nomad", example="eks"),
        row("registry_kinds", "array of object"),
        row("registry_kinds[].sku", "string", example="a"),
    ]
    imported, module, catalog = _imported(_csv(rows), PlanFormat.CSV, tmp_path, "clash_csv")
    source = imported.source
    assert "from analytics.tracks import CloudProvider" in source
    for name in ("CloudProvider", "ClusterKind", "RegistryKind"):
        assert f"class {name}(" not in source
    assert (
        "class BillPaidClusterKind(StrEnum)" in source and "class BillPaidRegistryKind(BaseModel)" in source
    )
    clashes = [warning for warning in imported.warnings if "already has a class" in warning]
    assert clashes == [
        "BillPaid.cluster_kind: analytics.tracks already has a class ClusterKind: this one (an enum) is "
        "named BillPaidClusterKind; use the catalog's ClusterKind instead if it fits",
        "BillPaidRegistryKind: analytics.tracks already has a class RegistryKind: this one (a nested "
        "model) is named BillPaidRegistryKind; use the catalog's RegistryKind instead if it fits",
    ]
    assert "# analytics.tracks already has a class ClusterKind" in source
    assert module.CloudProvider is CloudProvider
    assert catalog.event("Bill Paid").json_schema["$defs"]["CloudProvider"]["enum"] == [
        p.value for p in CloudProvider
    ]


def _identify_rule(traits: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "IDENTIFY",
        "key": None,
        "version": 1,
        "jsonSchema": {
            "description": description,
            "properties": {"traits": {"type": "object", "properties": traits, "required": ["email"]}},
        },
    }


def test_each_identify_rule_of_a_plan_is_an_identify_spec_of_its_own(tmp_path: Path) -> None:
    """A plan put together from two sources' plans has an identify rule for each, with different
    traits: the second was left out, its traits with it, under a warning that named neither rule."""
    email = {"type": "string", "description": "The user's email.", "examples": ["ada@example.com"]}
    seats = {"type": "integer", "description": "Seats paid for.", "examples": [5]}
    plan = {
        "rules": [
            _identify_rule({"email": email}, "From the web app."),
            _identify_rule({"email": email, "seats": seats}, "From the billing service."),
        ]
    }
    imported, _, catalog = _imported(json.dumps(plan), PlanFormat.SEGMENT_PLAN, tmp_path, "two_identifies")
    assert imported.identifies == 2
    assert {name: list(info.json_schema["properties"]) for name, info in catalog.identifiers.items()} == {
        "Identify": ["email"],
        "Identify 2": ["email", "seats"],
    }
    assert [info.constant for info in catalog.identifiers.values()] == ["PlanIdentify", "PlanIdentify2"]
    assert (
        "the plan has 2 identify rules (rule 1, rule 2): each is an identify spec of its own (Identify, "
        "Identify 2), none merged or left out; name each after the moment it is sent"
    ) in imported.warnings


def test_the_rules_of_one_event_import_the_latest_and_name_those_left_out() -> None:
    """Two rules of one event at the same version: the first was kept under "version 1 is imported",
    which did not say which rule that was, nor that the other's properties were not."""
    rule = {"type": "TRACK", "key": "Order Completed", "version": 1, "jsonSchema": {"properties": {}}}
    plan = {"rules": [rule, {**rule, "version": 3}, rule]}
    imported = import_plan(json.dumps(plan), PlanFormat.SEGMENT_PLAN, "plan.json")
    assert imported.tracks == 1
    assert imported.warnings[0] == (
        "Order Completed: several rules; rule 2, version 3, is imported, not rule 1 (version 1), "
        "rule 3 (version 1)"
    )
    tie = import_plan(json.dumps({"rules": [rule, rule]}), PlanFormat.SEGMENT_PLAN, "plan.json")
    assert (
        tie.warnings[0]
        == "Order Completed: several rules; rule 1, version 1, is imported, not rule 2 (version 1)"
    )


_ORDER_RULE = {"type": "TRACK", "key": "Order Completed", "version": 1, "jsonSchema": {"properties": {}}}


@pytest.mark.parametrize(
    ("fmt", "plan"),
    [
        (PlanFormat.CSV, "event,constant,property,type\nOrder Completed,{constant},,\n"),
        (
            PlanFormat.SEGMENT_PLAN,
            json.dumps({"rules": [{**_ORDER_RULE, "jsonSchema": {"labels": {"constant": "{constant}"}}}]}),
        ),
    ],
)
def test_the_plan_s_constant_names_the_spec_class_when_it_is_a_python_name(
    fmt: PlanFormat, plan: str
) -> None:
    """The CSV's constant column and the Segment rule's constant label (our export writes both)."""
    kept = import_plan(plan.replace("{constant}", "OrderDone"), fmt, "plan")
    assert "class OrderDone(" in kept.source and "OrderDone = " in kept.source
    refused = import_plan(plan.replace("{constant}", "Order-Done"), fmt, "plan")
    assert "class OrderCompleted(" in refused.source
    assert "Order Completed: the constant 'Order-Done' is not a Python name: OrderCompleted is written" in (
        refused.warnings
    )


def _as_documented(schema: Any, defs: dict[str, Any]) -> Any:
    """A spec's JSON Schema without what the README says an import of our export does not keep:
    `stale_after`, an enum's class name and docstring, and an integer's exclusive lower bound (the
    catalog writes whole numbers' bounds inclusive: `gt=0` comes back `ge=1`)."""
    if isinstance(schema, list):
        return [_as_documented(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = {k: v for k, v in defs[schema["$ref"].rsplit("/", 1)[-1]].items() if k != "title"}
        if "enum" in target:
            target.pop("description", None)
        return _as_documented({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    plain = {key: _as_documented(value, defs) for key, value in schema.items()}
    for key in ("$defs", "x-stale-after-days"):
        plain.pop(key, None)
    if plain.get("type") == "integer" and isinstance(plain.get("exclusiveMinimum"), int):
        plain["minimum"] = plain.pop("exclusiveMinimum") + 1
    return plain


@pytest.mark.parametrize(
    ("fmt", "plan", "changes"),
    [
        (PlanFormat.CSV, events_csv(), []),
        (
            PlanFormat.SEGMENT_PLAN,
            json.dumps(segment_plan()),
            # Segment keeps one identify rule: the identify calls come back merged into one.
            [
                "Identify added (compatible)",
                "Register removed (breaking)",
                "Login removed (breaking)",
                "Profile update removed (breaking)",
            ],
        ),
    ],
)
def test_an_export_imported_again_differs_only_as_the_readme_says(
    tmp_path: Path, fmt: PlanFormat, plan: str, changes: list[str]
) -> None:
    """The round trip `event-catalog export` → `import` → `diff`: every difference it makes is one
    the README lists as a limit of the format ("What a round trip keeps")."""
    _, _, catalog = _imported(plan, fmt, tmp_path, f"round_trip_{fmt.name.lower()}")
    before, after = CATALOG.schema_bundle(), catalog.schema_bundle()
    found = diff_bundles(before, after).changes
    assert [f"{change.summary} ({'breaking' if change.breaking else 'compatible'})" for change in found] == (
        changes
    )
    sections = ("events", "identifiers") if fmt is PlanFormat.CSV else ("events",)
    for section in sections:
        assert list(after[section]) == list(before[section])
        for name, schema in before[section].items():
            old = _as_documented(schema, schema.get("$defs", {}))
            new = _as_documented(after[section][name], after[section][name].get("$defs", {}))
            assert new == old, name


class _AnsweredEvent(StrEnum):
    ReportFilter = "Report Filtered"


def _answered_catalog() -> Catalog:
    """A spec whose free-form `filters` says it holds no personal data (lint's EC017 answer), beside
    one that does not say."""
    registry = SpecRegistry()

    class ReportFilter(
        TrackSpec,
        event=_AnsweredEvent.ReportFilter,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """A user filtered a report."""

        scope: ProjectScope
        filters: dict[str, Any] = prop("The filters applied.", example={"region": "eu"}, personal_data=False)
        answers: dict[str, Any] = prop("The form's other answers.", example={"plan": "pro"})

    return Catalog(registry)


@pytest.mark.parametrize("fmt", [PlanFormat.CSV, PlanFormat.SEGMENT_PLAN])
def test_a_free_form_value_s_personal_data_false_survives_export_and_import(
    fmt: PlanFormat, tmp_path: Path
) -> None:
    """Both plan formats dropped the answer, so a re-imported spec failed lint's EC017 (the review's
    F1); a value that did not say still does not, rather than reading the export's `no` as an answer."""
    source = _answered_catalog()
    text = specs_csv(source.events.values()) if fmt is PlanFormat.CSV else json.dumps(segment_plan(source))
    imported, module, catalog = _imported(text, fmt, tmp_path, f"answered_{fmt.name.lower()}")
    assert (
        '    filters: dict[str, Any] = prop("The filters applied.", example={"region": "eu"}, '
        "personal_data=False)" in imported.source
    )
    assert '    answers: dict[str, Any] = prop("The form\'s other answers.", example={"plan": "pro"})' in (
        imported.source
    )
    findings = lint(SegmentEvent, catalog.registry).findings
    assert [finding.subject for finding in findings if finding.code == "EC017"] == ["ReportFilter.answers"]
    assert module.ReportFilter.__doc__


def test_the_free_form_properties_lint_will_ask_about_are_named_in_one_warning_with_the_answers(
    tmp_path: Path,
) -> None:
    """The import wrote them without a personal-data answer and said nothing of EC017, so `lint` failed
    on code just pasted; one warning now names them, the lint code and the ways to answer."""

    def row(prop_name: str, type_: str, personal: str = "", **cells: str) -> dict[str, str]:
        base = {"event": "", "property": prop_name, "type": type_, "required": "yes", "example": ""}
        return {**base, "property_description": "x.", "personal_data": personal, **cells}

    rows = [
        {**row("filters", "object", example='{"region": "eu"}'), "event": "Report Filtered"},
        row("answers", "object", "no", example='{"plan": "pro"}'),
        row("profile", "object", "yes", example='{"name": "Ada"}'),
        row("line_items", "array of object"),
        row("line_items[].sku", "string", example="pro-seat"),
        row("line_items[].options", "object", example='{"size": "m"}'),
        row("payer", "object", "yes"),
        row("payer.extra", "object", example='{"vat": "DE1"}'),
    ]
    imported, module, catalog = _imported(_csv(rows), PlanFormat.CSV, tmp_path, "unsaid_csv")
    assert imported.warnings[-1] == (
        "lint EC017 fails until you decide: 2 free-form properties do not say whether they hold personal "
        "data (ReportFiltered.filters, LineItem.options): for each, write personal_data=False in its "
        "prop(...) if it holds none, personal_data=True to mask it whole in the audit log, or declare its "
        "fields (a nested model) instead of a free-form type"
    )
    # Lint finds what the warning named, and nothing else: not the answered `answers`, nor anything
    # under a personal-data property, which is masked whole.
    findings = lint(module.SegmentEvent, catalog.registry).findings
    assert [finding.subject for finding in findings if finding.code == "EC017"] == [
        "ReportFiltered.filters",
        "ReportFiltered.line_items.options",
    ]
    assert imported.source.count("# lint EC017: say whether it holds personal data") == 2
    answered = imported.source.replace(
        'example={"region": "eu"})', 'example={"region": "eu"}, personal_data=False)'
    ).replace('example={"size": "m"})', 'example={"size": "m"}, personal_data=True)')
    decided, registry = _load(answered, tmp_path, "answered_csv")
    findings = lint(decided.SegmentEvent, registry).findings
    assert [finding for finding in findings if finding.code == "EC017"] == []


def test_a_single_free_form_property_without_an_answer_is_named_in_the_singular() -> None:
    plan = _csv([{"event": "Report Filtered", "property": "filters", "type": "object", "personal_data": ""}])
    imported = import_plan(plan, PlanFormat.CSV, "one.csv")
    assert (
        "lint EC017 fails until you decide: 1 free-form property does not say whether it holds personal data "
        "(ReportFiltered.filters): write personal_data=False in its prop(...) if it holds none, "
        in imported.warnings[-1]
    )


class _ShippedEvent(StrEnum):
    OrderShip = "Order Shipped"


def _personal_catalog() -> Catalog:
    """Personal data under names no rule reads as personal: a property, a nested model's field, the
    field of a model in a list, and an identify trait."""
    registry = SpecRegistry()

    class Address(BaseModel):
        """Where an order goes."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        street: str = prop("Street and number.", example="Main St 1", personal_data=True)
        country: str = prop("ISO country code.", example="DE")

    class Parcel(BaseModel):
        """One parcel of the order."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        recipient: str = prop("Who takes it in.", example="Ada L.", personal_data=True)

    class OrderShip(
        TrackSpec,
        event=_ShippedEvent.OrderShip,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """An order left the warehouse."""

        scope: ProjectScope
        handle: str = prop("The buyer's handle.", example="ada42", personal_data=True)
        address: Address = prop("Where it goes.", example={"street": "Main St 1", "country": "DE"})
        parcels: list[Parcel] = prop("Its parcels.", example=[{"recipient": "Ada L."}])

    class ShopIdentify(IdentifySpec, name="Shop profile", owner=Team.GROWTH, registry=registry):
        """Sent when a buyer saves their shop profile."""

        scope: UserScope
        handle: str = prop("The buyer's handle.", example="ada42", personal_data=True)

    return Catalog(registry)


def test_personal_data_survives_a_segment_plan_round_trip_whatever_its_name(tmp_path: Path) -> None:
    """The export kept `"x-personal-data"` only when false, so a personal field not named like
    personal data came back unmarked, and the audit log then stored it in clear (the plan walk's #1)."""
    source = _personal_catalog()
    plan = segment_plan(source)
    _, module, catalog = _imported(json.dumps(plan), PlanFormat.SEGMENT_PLAN, tmp_path, "personal_plan")
    (before,) = source.events.values()
    (after,) = catalog.events.values()
    personal = {"handle", "address.street", "parcels.recipient"}
    assert after.spec.personal_data_keys() == before.spec.personal_data_keys() == personal
    (identify,) = catalog.identifiers.values()
    assert identify.spec.personal_data_keys() == {"handle"}
    assert segment_plan(catalog)["rules"][0] == plan["rules"][0]


def _signup_rows() -> list[dict[str, str]]:
    """A sheet that marks only its personal rows, as many do, and says `no` on two free-form values
    (what exports before 2026-12-07 wrote on every object row)."""

    def row(prop_name: str, type_: str, personal: str, example: str) -> dict[str, str]:
        base = {"event": "", "property": prop_name, "type": type_, "required": "yes", "example": example}
        return {**base, "property_description": "x.", "personal_data": personal}

    return [
        {**row("email", "string", "", "ada@example.com"), "event": "Signed Up"},
        row("street", "string", "yes", "Main St 1"),
        row("phone", "string", "no", "+49 30 1234"),
        row("plan", "string", "", "pro"),
        row("answers", "object", "no", '{"plan": "pro"}'),
        row("form", "object", "", ""),
        row("form.extra", "object", "NO", '{"vat": "DE1"}'),
    ]


def test_a_blank_personal_data_cell_says_nothing_as_a_missing_column_does(tmp_path: Path) -> None:
    """A blank cell read as `no`: `email` came back not personal, with a comment that the plan said so
    (the plan walk's #3); only `no` says it now, and a blank cell leaves the name to decide."""
    imported, module, catalog = _imported(_csv(_signup_rows()), PlanFormat.CSV, tmp_path, "signup_csv")
    (info,) = catalog.events.values()
    assert info.spec.personal_data_keys() == {"email", "street"}
    assert "SignedUp.email: marked personal data by its name (the plan does not say)" in imported.warnings
    assert "SignedUp.phone: lint EC013 named like personal data, but the plan says it is not" in (
        imported.warnings
    )
    assert [warning for warning in imported.warnings if "the plan says it is not" in warning] == [
        "SignedUp.phone: lint EC013 named like personal data, but the plan says it is not"
    ]


def test_a_no_on_a_free_form_value_is_kept_but_named_since_old_exports_wrote_it_on_every_one(
    tmp_path: Path,
) -> None:
    """Exports before 2026-12-07 wrote `no` on every object row; read as `personal_data=False`, it
    turns off masking by key name inside the whole value, so each such property is named (the
    review's F1)."""
    imported, module, _ = _imported(_csv(_signup_rows()), PlanFormat.CSV, tmp_path, "free_form_no")
    warned = [warning for warning in imported.warnings if "no key inside it will be masked" in warning]
    assert [warning.split(":")[0] for warning in warned] == ["SignedUp.answers", "Form.extra"]
    assert warned[0] == (
        "SignedUp.answers: personal_data=False, as the plan's 'no' says: no key inside it will be masked "
        "by its name; if it may hold personal data (an export before 2026-12-07 wrote 'no' on every object "
        "row), write personal_data=True or declare its fields"
    )
    assert imported.source.count("# personal_data=False, as the plan's") == 2
    assert module.SignedUp.model_fields["answers"].json_schema_extra == {"x-personal-data": False}
    assert module.Form.model_fields["extra"].json_schema_extra == {"x-personal-data": False}


def test_a_segment_plan_s_optional_properties_come_back_without_accepting_null(tmp_path: Path) -> None:
    """An optional property is imported `T | None = None`, and the export wrote that as "string or
    null": Segment -> catalog -> Segment loosened the plan, a breaking change by diff's rules (the plan
    walk's #5). A None is never sent, so the export now writes the plain type, left out of `required`."""
    street = {"type": "string", "description": "Street.", "examples": ["Main St 1"]}
    address = {
        "type": "object",
        "description": "Where it goes.",
        "properties": {"street": street, "city": {**street, "description": "City."}},
        "required": ["city"],
        "additionalProperties": False,
    }
    properties = {"order_id": {**street, "description": "Order id."}, "note": street, "address": address}
    payload = {"type": "object", "properties": properties, "required": ["order_id"]}
    rule = {**_ORDER_RULE, "jsonSchema": {"properties": {"properties": payload}}}
    _, _, catalog = _imported(json.dumps({"rules": [rule]}), PlanFormat.SEGMENT_PLAN, tmp_path, "optional")
    (info,) = catalog.events.values()
    assert info.spec.model_fields["note"].default is None
    (again,) = segment_plan(catalog)["rules"]
    exported = again["jsonSchema"]["properties"]["properties"]
    assert exported["required"] == ["order_id"]
    assert exported["properties"]["note"] == street
    assert exported["properties"]["address"]["properties"]["street"] == street
    assert exported["properties"]["address"]["required"] == ["city"]
    assert "null" not in json.dumps(again)


@pytest.mark.parametrize("cell", ["ja", "perhaps", "unknown", "?"])
def test_a_personal_data_cell_the_import_cannot_read_is_named_and_left_unsaid(cell: str) -> None:
    """An unread cell was taken as a blank one without a word, so a sheet that marks its personal rows
    with its own word (`ja`) imported every one of them unmasked (the walk's F5)."""
    rows = [
        {"event": "Signed Up", "property": "kontakt", "type": "string", "personal_data": cell},
        {"event": "", "property": "email", "type": "string", "personal_data": cell},
    ]
    imported = import_plan(_csv(rows), PlanFormat.CSV, "plan.csv")
    for line, name in ((2, "kontakt"), (3, "email")):
        assert (
            f"SignedUp.{name}: personal_data is {cell!r} (line {line}), neither yes nor no: left unsaid, "
            "as a blank cell is; write yes or no"
        ) in imported.warnings
    assert f"    # personal_data is {cell!r} (line 2), neither yes nor no: left unsaid" in imported.source
    assert '    kontakt: str | None = prop("", example="example", default=None)' in imported.source
    # Unsaid, as a blank cell: a name like personal data still marks it.
    assert "SignedUp.email: marked personal data by its name (the plan does not say)" in imported.warnings


@pytest.mark.parametrize("cell", ["PII", "personal", "Personal data", "sensitive", "✓", "✔"])
def test_a_sheet_s_usual_words_for_personal_data_mark_the_property(cell: str) -> None:
    rows = [{"event": "Signed Up", "property": "kontakt", "type": "string", "personal_data": cell}]
    imported = import_plan(_csv(rows), PlanFormat.CSV, "plan.csv")
    assert "personal_data=True" in imported.source.split("kontakt:", 1)[1].partition("\n")[0]
    assert not [warning for warning in imported.warnings if "personal_data is" in warning]


def test_cells_beyond_the_header_s_columns_are_named_in_a_warning() -> None:
    """Cells past the header's last column were dropped without a word: a description with an
    unquoted comma lost its second half (the walk's F6). Blank ones, as spreadsheets leave, are not named."""
    text = (
        "event,property,type,property_description\n"
        "Invoice Paid,amount,integer,The amount, in cents,rounded\n"
        "Invoice Paid,note,string,A note.,,\n"
    )
    imported = import_plan(text, PlanFormat.CSV, "plan.csv")
    assert "line 2: not imported: 2 cells beyond the header's 4 columns (' in cents', 'rounded')" in (
        imported.warnings
    )
    assert [warning for warning in imported.warnings if "beyond the header" in warning] == [
        "line 2: not imported: 2 cells beyond the header's 4 columns (' in cents', 'rounded')"
    ]


def test_a_rule_without_an_event_name_is_left_out_and_named() -> None:
    """An empty key was imported as `Event = ""` with a garbled warning (the walk's F7)."""
    rules = [{"type": "TRACK", "key": "", "jsonSchema": {}}, _ORDER_RULE]
    imported = import_plan(json.dumps({"rules": rules}), PlanFormat.SEGMENT_PLAN, "plan.json")
    assert imported.warnings[0] == 'rule 1: not imported: a TRACK rule whose key is "", not an event name'
    assert imported.tracks == 1 and 'OrderCompleted = "Order Completed"' in imported.source
    assert not [warning for warning in imported.warnings if warning.startswith(":")]


def test_a_schema_keyword_of_the_wrong_json_type_is_named_not_dropped() -> None:
    """A known keyword whose value had the wrong type was dropped in silence (`minimum: "zero"`,
    `required: "amount"`, `enum: [1, "a"]` on an integer: the walk's F7), or stopped the import with a
    traceback (`minLength: "x"`, `enum: 5`)."""
    properties = {
        "amount": {"type": "integer", "minimum": "zero", "maximum": 100},
        "code": {"type": "string", "minLength": "x", "pattern": 5},
        "level": {"type": "integer", "enum": [1, "a", None]},
        "letters": {"type": "string", "enum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": -1, "uniqueItems": "yes"},
        "extra": {"type": "object", "properties": [], "required": ["x"]},
        "anything": {"type": 5},
    }
    payload = {"type": "object", "properties": properties, "required": "amount"}
    rule = {**_ORDER_RULE, "jsonSchema": {"properties": {"properties": payload}}}
    imported = import_plan(json.dumps({"rules": [rule]}), PlanFormat.SEGMENT_PLAN, "plan.json")
    for warning in (
        'OrderCompleted: not imported: required "amount", which is not a list of property names',
        'OrderCompleted.amount: not imported: minimum "zero", which is not a number',
        'OrderCompleted.code: not imported: minLength "x", which is not a whole number, 0 or more',
        "OrderCompleted.code: not imported: pattern 5, which is not text",
        'OrderCompleted.level: not imported: enum value "a", which is not an integer',
        "OrderCompleted.letters: not imported: enum 5, which is not a list of values",
        "OrderCompleted.tags: not imported: maxItems -1, which is not a whole number, 0 or more",
        'OrderCompleted.tags: not imported: uniqueItems "yes", which is not true or false',
        "OrderCompleted.extra: not imported: properties [], which is not an object of schemas",
        "OrderCompleted.anything: not imported: type 5, which is not a type name or a list of them",
    ):
        assert warning in imported.warnings
    source = imported.source
    assert '\n# not imported: required "amount", which is not a list of property names\n' in source
    assert '    amount: int | None = prop("", example=1, default=None, le=100)' in source
    level = source.split("class Level(IntEnum):", 1)[1].split("\n\n\n", 1)[0]
    assert level.endswith("\n    V1 = 1")


def test_a_required_name_the_properties_do_not_list_is_named_not_dropped() -> None:
    """`required: ["amount", "currency"]` beside properties that list only `amount`: nothing made
    `currency` required, and nothing said so."""
    payload = {
        "type": "object",
        "properties": {"amount": {"type": "integer"}},
        "required": ["amount", "currency"],
    }
    rule = {**_ORDER_RULE, "jsonSchema": {"properties": {"properties": payload}}}
    imported = import_plan(json.dumps({"rules": [rule]}), PlanFormat.SEGMENT_PLAN, "plan.json")
    assert "OrderCompleted: not imported: required 'currency', which its properties do not list" in (
        imported.warnings
    )
    assert "# not imported: required 'currency', which the properties do not list" in imported.source
    assert '    amount: int = prop("", example=1)' in imported.source


NODE = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "Label."},
        "child": {"$ref": "#/definitions/node", "description": "Child."},
        "parent": {"anyOf": [{"$ref": "#/definitions/node"}, {"type": "null"}], "description": "Parent."},
        "children": {"type": "array", "items": {"$ref": "#/definitions/node"}, "description": "Children."},
        "home": {"$ref": "#/definitions/address", "description": "Home."},
        "work": {"$ref": "#/definitions/address", "description": "Work."},
    },
}
"""A tree node: three ways to hold itself, and two siblings naming one other definition, which are
not inside it."""

TREE_PLAN = {
    "rules": {
        "events": [
            {
                "name": "Tree Viewed",
                "description": "A tree was viewed.",
                "rules": {
                    "type": "object",
                    "definitions": {
                        "node": NODE,
                        "address": {
                            "type": "object",
                            "properties": {"city": {"type": "string", "description": "City."}},
                        },
                    },
                    "properties": {
                        "properties": {
                            "type": "object",
                            "properties": {"root": {"$ref": "#/definitions/node", "description": "Root."}},
                        }
                    },
                },
            }
        ]
    }
}


def test_a_recursive_ref_imports_as_its_type_without_contents_said_so(tmp_path: Path) -> None:
    """A `node` whose `child` is a `node` was followed until Python's RecursionError ended the import
    with a traceback; the repeated level is now free-form, with a note and a warning naming it."""
    imported, module, catalog = _imported(json.dumps(TREE_PLAN), PlanFormat.SEGMENT_PLAN, tmp_path, "tree")
    fields = module.Node.model_fields
    assert fields["child"].annotation == dict[str, Any] | None
    assert fields["parent"].annotation == dict[str, Any] | None
    assert fields["children"].annotation == list[dict[str, Any]] | None
    for sibling in ("home", "work"):  # named twice, but not inside itself
        model, _ = get_args(fields[sibling].annotation)
        assert list(model.model_fields) == ["city"]
    said = "not imported: $ref #/definitions/node inside itself (a recursive schema"
    free = "the value is a free-form object (dict[str, Any])"
    for name in ("child", "parent", "children"):
        assert any(w.startswith(f"Node.{name}: {said}") and free in w for w in imported.warnings)
    assert f"# {said}" in imported.source
    assert catalog.event("TreeViewed") is not None


def test_the_warnings_on_a_nested_model_name_its_class_as_the_lint_lines_do() -> None:
    """They named a nested model's field by the event's class (`TreeViewed.a` for the field `a` of
    the model `B`, `TreeViewed:` for the model `A`'s `required`), where the lint lines printed next
    name the class it is written in (`B.a`); a model two properties hold is one class, said once."""
    model_a = {
        "type": "object",
        "properties": {
            "b": {"$ref": "#/definitions/b"},
            "m": {"type": "integer", "minimum": "zero"},
            "email": {"type": "string"},
        },
        "required": ["q"],
    }
    model_b = {"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}}}
    root = {"$ref": "#/definitions/a"}
    payload = {"type": "object", "properties": {"root": root, "other": root}, "required": 5}
    schema = {"definitions": {"a": model_a, "b": model_b}, "properties": {"properties": payload}}
    rule = {**_ORDER_RULE, "key": "Tree Viewed", "jsonSchema": schema}
    warnings = import_plan(json.dumps({"rules": [rule]}), PlanFormat.SEGMENT_PLAN, "plan.json").warnings
    for warning in (
        'A.m: not imported: minimum "zero", which is not a number',
        "A: not imported: required 'q', which its properties do not list",
        "A.email: marked personal data by its name (the plan does not say)",
        "TreeViewed: not imported: required 5, which is not a list of property names",
        "B.a: no description in the plan (lint EC005)",
    ):
        assert warnings.count(warning) == 1
    recursive = [w for w in warnings if "inside itself" in w]
    assert [warning.split(":")[0] for warning in recursive] == ["B.a"]
    assert not [w for w in warnings if w.startswith(("TreeViewed.a", "TreeViewed.m", "TreeViewed.email"))]


def test_the_warnings_on_a_csv_s_nested_rows_name_their_model_s_class() -> None:
    """A nested row's warnings named it by its path (`OrderShipped.shipping.level`), and one marked
    personal by its name by the event's class and the field (`OrderShipped.email`, no such field),
    where the lint lines printed next name the class it is written in (`Shipping.email`)."""

    def row(prop_name: str, type_: str, required: str = "yes") -> dict[str, str]:
        base = {"event": "", "property": prop_name, "type": type_, "required": required}
        return {**base, "property_description": "x.", "example": "", "personal_data": ""}

    rows = [
        {**row("shipping", "object"), "event": "Order Shipped"},
        row("shipping.email", "string"),
        row("shipping.level", "integer", "maybe"),
    ]
    warnings = import_plan(_csv(rows), PlanFormat.CSV, "plan.csv").warnings
    assert "Shipping.email: marked personal data by its name (the plan does not say)" in warnings
    assert "Shipping.level: required is 'maybe', neither yes nor no: optional" in warnings
    assert not [w for w in warnings if w.startswith(("OrderShipped.shipping.", "OrderShipped.email"))]


def test_the_free_form_walk_follows_a_model_once_on_a_path() -> None:
    """`_unsaid_free_form` walked nested models without the guard `_lint_paths` has: a model holding
    itself was followed until a RecursionError."""
    node = ModelDraft("Node", "A node.", [])
    node.properties = [
        PropertyDraft("child", TypeDraft("model", model=node), False, "Child.", None),
        PropertyDraft("meta", TypeDraft("dict"), False, "Meta.", None),
    ]
    spec = SpecDraft("track", "Tree Viewed", "TreeViewed", "A tree.", "Imported", "unowned")
    spec.properties = [PropertyDraft("root", TypeDraft("model", model=node), False, "Root.", None)]
    found = [(owner, prop.name) for owner, prop in _unsaid_free_form(spec.class_name, spec)]
    assert found == [("Node", "meta")]
