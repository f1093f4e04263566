"""The catalog diff inside nested models: a field of an object (`payment_method.last4`) or of a
list's items (`line_items[].quantity`) is compared as a property, in the library, the CLI and the
Changes page.

The bundles come from the test-only nested specs (`nested_specs`), changed the way pydantic would
write the change, as `test_diff` changes the shipped catalog's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nested_specs
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from nested_specs import EVENT, IDENTIFY
from pydantic import BaseModel, ConfigDict, Field

from analytics.catalog import Catalog
from analytics.diff import ChangeKind, diff_bundles
from analytics.events import SegmentEvent
from analytics.scopes import ProjectScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop
from analytics.versions import record_version
from webapp.cli import main

Bundle = dict[str, Any]

NARROWED = "1 ≤ value ≤ 10000 to 1 ≤ value ≤ 100"


def _event(bundle: Bundle) -> dict[str, Any]:
    schema: dict[str, Any] = bundle["events"][EVENT]
    return schema


def _model(bundle: Bundle, name: str, section: str = "events", item: str = EVENT) -> dict[str, Any]:
    model: dict[str, Any] = bundle[section][item]["$defs"][name]
    return model


def _remove_last4(bundle: Bundle) -> None:
    del _model(bundle, "PaymentMethod")["properties"]["last4"]


def _remove_sku(bundle: Bundle) -> None:
    line_item = _model(bundle, "LineItem")
    del line_item["properties"]["sku"]
    line_item["required"].remove("sku")


def _add_brand(bundle: Bundle) -> None:
    _model(bundle, "PaymentMethod")["properties"]["brand"] = {"type": "string", "description": "Card brand."}


def _set_max_quantity(maximum: int) -> Callable[[Bundle], None]:
    def mutate(bundle: Bundle) -> None:
        _model(bundle, "LineItem")["properties"]["quantity"]["maximum"] = maximum

    return mutate


def _drop_sepa(bundle: Bundle) -> None:
    _model(bundle, "PaymentKind")["enum"].remove("sepa")


def _quantity_as_text(bundle: Bundle) -> None:
    _model(bundle, "LineItem")["properties"]["quantity"]["type"] = "string"


def _quantity_optional(bundle: Bundle) -> None:
    _model(bundle, "LineItem")["required"].remove("quantity")


def _note_required(bundle: Bundle) -> None:
    _model(bundle, "LineItem")["required"].append("note")


def _rename_last4(bundle: Bundle) -> None:
    fields = _model(bundle, "PaymentMethod")["properties"]
    fields["last_four"] = fields.pop("last4")


def _remove_country(bundle: Bundle) -> None:
    address = _model(bundle, "BillingAddress", "identifiers", IDENTIFY)
    del address["properties"]["country"]
    address["required"].remove("country")


def _remove_payment_method(bundle: Bundle) -> None:
    schema = _event(bundle)
    del schema["properties"]["payment_method"]
    schema["required"].remove("payment_method")


def _payment_method_as_text(bundle: Bundle) -> None:
    _event(bundle)["properties"]["payment_method"] = {"type": "string", "description": "How it was paid."}


def _payment_method_free_form(bundle: Bundle) -> None:
    """`payment_method: dict[str, Any]`, as pydantic writes it."""
    _event(bundle)["properties"]["payment_method"] = {
        "additionalProperties": True,
        "description": "How it was paid.",
        "examples": [{"kind": "card", "last4": "4242"}],
        "type": "object",
    }


def _line_items_free_form(bundle: Bundle) -> None:
    """`line_items: list[dict[str, Any]]`, as pydantic writes it."""
    _event(bundle)["properties"]["line_items"]["items"] = {"additionalProperties": True, "type": "object"}


def _payment_method_extra_allowed(bundle: Bundle) -> None:
    """`PaymentMethod`'s `extra="allow"` in place of `"forbid"`."""
    _model(bundle, "PaymentMethod")["additionalProperties"] = True


FIELDS = ["kind", "last4"]


# (mutation of the new bundle, expected (kind, name, property, before, after), breaking)
CASES: dict[str, tuple[Callable[[Bundle], None], list[tuple[Any, ...]], bool]] = {
    "field of an object removed": (
        _remove_last4,
        [(ChangeKind.PROPERTY_REMOVED, EVENT, "payment_method.last4", "string or null", None)],
        True,
    ),
    "field of a list's items removed": (
        _remove_sku,
        [(ChangeKind.PROPERTY_REMOVED, EVENT, "line_items[].sku", "string", None)],
        True,
    ),
    "field added": (
        _add_brand,
        [(ChangeKind.PROPERTY_ADDED, EVENT, "payment_method.brand", None, "string, optional")],
        False,
    ),
    "bound narrowed": (
        _set_max_quantity(100),
        [
            (
                ChangeKind.BOUNDS_NARROWED,
                EVENT,
                "line_items[].quantity",
                "1 ≤ value ≤ 10000",
                "1 ≤ value ≤ 100",
            )
        ],
        True,
    ),
    "bound widened": (
        _set_max_quantity(20_000),
        [
            (
                ChangeKind.BOUNDS_WIDENED,
                EVENT,
                "line_items[].quantity",
                "1 ≤ value ≤ 10000",
                "1 ≤ value ≤ 20000",
            )
        ],
        False,
    ),
    "allowed value removed": (
        _drop_sepa,
        [(ChangeKind.VALUES_NARROWED, EVENT, "payment_method.kind", ["sepa"], ["card"])],
        True,
    ),
    "field retyped": (
        _quantity_as_text,
        [(ChangeKind.PROPERTY_RETYPED, EVENT, "line_items[].quantity", "integer", "string")],
        True,
    ),
    "field made optional": (
        _quantity_optional,
        [(ChangeKind.PROPERTY_MADE_OPTIONAL, EVENT, "line_items[].quantity", None, None)],
        True,
    ),
    "field made required": (
        _note_required,
        [(ChangeKind.PROPERTY_MADE_REQUIRED, EVENT, "line_items[].note", None, None)],
        False,
    ),
    "field renamed": (
        _rename_last4,
        [
            (
                ChangeKind.PROPERTY_RENAMED,
                EVENT,
                "payment_method.last_four",
                "payment_method.last4",
                "payment_method.last_four",
            )
        ],
        True,
    ),
    "trait's field removed": (
        _remove_country,
        [(ChangeKind.PROPERTY_REMOVED, IDENTIFY, "address.country", "string", None)],
        True,
    ),
    # The object's own change says it all: its fields are not listed one by one.
    "object removed": (
        _remove_payment_method,
        [(ChangeKind.PROPERTY_REMOVED, EVENT, "payment_method", "object", None)],
        True,
    ),
    "object retyped to text": (
        _payment_method_as_text,
        [(ChangeKind.PROPERTY_RETYPED, EVENT, "payment_method", "object", "string")],
        True,
    ),
    # A query on `payment_method.kind` can no longer rely on it: the model's fields are gone from the
    # schema though its type is still "object".
    "model turned into a free-form mapping": (
        _payment_method_free_form,
        [
            (ChangeKind.FIELDS_UNDECLARED, EVENT, "payment_method", FIELDS, None),
            (ChangeKind.OTHER_KEYS_TAKEN, EVENT, "payment_method", False, True),
        ],
        True,
    ),
    "list's items turned into free-form mappings": (
        _line_items_free_form,
        [
            (ChangeKind.FIELDS_UNDECLARED, EVENT, "line_items[]", ["sku", "quantity", "note"], None),
            (ChangeKind.OTHER_KEYS_TAKEN, EVENT, "line_items[]", False, True),
        ],
        True,
    ),
    "closed model opened to other keys": (
        _payment_method_extra_allowed,
        [(ChangeKind.OTHER_KEYS_TAKEN, EVENT, "payment_method", False, True)],
        False,
    ),
}

# The same mutations read backwards: the new bundle is the shipped one, the old one mutated.
REVERSED: dict[str, tuple[Callable[[Bundle], None], list[tuple[Any, ...]], bool]] = {
    "free-form mapping turned into a model": (
        _payment_method_free_form,
        [
            (ChangeKind.FIELDS_DECLARED, EVENT, "payment_method", None, FIELDS),
            (ChangeKind.OTHER_KEYS_REFUSED, EVENT, "payment_method", True, False),
        ],
        True,
    ),
    "open model closed to other keys": (
        _payment_method_extra_allowed,
        [(ChangeKind.OTHER_KEYS_REFUSED, EVENT, "payment_method", True, False)],
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_change_inside_a_nested_model_is_found_by_its_path(case: str) -> None:
    mutate, expected, breaking = CASES[case]
    old = nested_specs.bundle()
    new = nested_specs.bundle()
    mutate(new)
    diff = diff_bundles(old, new)
    assert [(c.kind, c.name, c.prop, c.before, c.after) for c in diff] == expected
    assert diff.is_breaking is breaking


@pytest.mark.parametrize("case", list(REVERSED))
def test_an_object_s_keys_narrowed_is_found_and_breaking(case: str) -> None:
    mutate, expected, breaking = REVERSED[case]
    old = nested_specs.bundle()
    mutate(old)
    diff = diff_bundles(old, nested_specs.bundle())
    assert [(c.kind, c.name, c.prop, c.before, c.after) for c in diff] == expected
    assert diff.is_breaking is breaking


def test_a_model_turned_free_form_reads_as_its_fields_no_longer_declared() -> None:
    old, new = nested_specs.bundle(), nested_specs.bundle()
    _payment_method_free_form(new)
    assert [(c.summary, c.breaking) for c in diff_bundles(old, new)] == [
        (f'{EVENT}: "payment_method" no longer declares its fields (kind, last4)', True),
        (f'{EVENT}: "payment_method" now also takes keys it does not declare', False),
    ]
    assert [c.summary for c in diff_bundles(new, old)] == [
        f'{EVENT}: "payment_method" now declares its fields (kind, last4)',
        f'{EVENT}: "payment_method" no longer takes keys it does not declare',
    ]


def test_the_same_nested_bundle_has_no_changes() -> None:
    assert len(diff_bundles(nested_specs.bundle(), nested_specs.bundle())) == 0


def test_nested_changes_read_as_the_top_level_ones_do() -> None:
    old, new = nested_specs.bundle(), nested_specs.bundle()
    for mutate in (_set_max_quantity(100), _remove_last4, _drop_sepa, _add_brand):
        mutate(new)
    assert [c.summary for c in diff_bundles(old, new)] == [
        f'{EVENT}: "line_items[].quantity" bounds narrowed from {NARROWED}',
        f'{EVENT}: "payment_method.kind" no longer allows sepa',
        f'{EVENT}: "payment_method.brand" added (string, optional)',
        f'{EVENT}: "payment_method.last4" removed',
    ]


class Card(BaseModel):
    """A card, closed to keys it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="Card kind.", examples=["visa"])


class OpenCard(Card):
    """A card that takes keys it does not declare."""

    model_config = ConfigDict(frozen=True, extra="allow")


def _card_bundle(held: Any) -> Bundle:
    """The bundle pydantic writes for an event holding `held` itself and a list of them."""
    registry = SpecRegistry()

    class Paid(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.DELETION,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """A card paid."""

        scope: ProjectScope
        card: held = prop("The card.", example={"kind": "visa"})
        cards: list[held] = prop("The cards.", example=[{"kind": "visa"}])  # type: ignore[valid-type]

    return Catalog(registry).schema_bundle()


@pytest.mark.parametrize(
    ("before", "after", "kinds", "breaking"),
    [
        (Card, dict[str, Any], [ChangeKind.FIELDS_UNDECLARED, ChangeKind.OTHER_KEYS_TAKEN], True),
        (dict[str, Any], Card, [ChangeKind.FIELDS_DECLARED, ChangeKind.OTHER_KEYS_REFUSED], True),
        (Card, OpenCard, [ChangeKind.OTHER_KEYS_TAKEN], False),
        (OpenCard, Card, [ChangeKind.OTHER_KEYS_REFUSED], True),
    ],
)
def test_what_keys_an_object_takes_is_compared_on_the_schemas_pydantic_writes(
    before: Any, after: Any, kinds: list[ChangeKind], breaking: bool
) -> None:
    diff = diff_bundles(_card_bundle(before), _card_bundle(after))
    assert [(c.kind, c.prop) for c in diff] == [(kind, "card") for kind in kinds] + [
        (kind, "cards[]") for kind in kinds
    ]
    assert diff.is_breaking is breaking


class Node(BaseModel):
    """A tree node: a model that holds itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(description="What the node says.", examples=["root"])
    children: list[Node] = Field(default=[], description="Its children.", examples=[[]])


def test_a_recursive_model_is_compared_once_through_its_fields() -> None:
    registry = SpecRegistry()

    class Tree(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.DELETION,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """A tree was saved."""

        scope: ProjectScope
        tree: Node = prop("The tree.", example={"label": "root"})

    old = Catalog(registry).schema_bundle()
    new = json.loads(json.dumps(old))
    new["events"]["Project Deleted"]["$defs"]["Node"]["properties"]["label"]["type"] = "integer"
    assert [(c.kind, c.prop) for c in diff_bundles(old, new)] == [(ChangeKind.PROPERTY_RETYPED, "tree.label")]


@pytest.fixture
def nested_files(tmp_path: Path) -> tuple[str, str]:
    """Two exported bundles of the nested specs: a narrowed bound, a field and an allowed value removed."""
    old, new = nested_specs.bundle(), nested_specs.bundle()
    for mutate in (_set_max_quantity(100), _remove_last4, _drop_sepa):
        mutate(new)
    paths = []
    for name, bundle in (("old.json", old), ("new.json", new)):
        path = tmp_path / name
        path.write_text(json.dumps({"version": name, **bundle}))
        paths.append(str(path))
    return paths[0], paths[1]


def test_the_diff_command_fails_on_a_breaking_nested_change_in_every_format(
    nested_files: tuple[str, str],
) -> None:
    old, new = nested_files
    text = CliRunner().invoke(main, ["diff", old, new])
    assert text.exit_code == 1, text.output
    assert text.output.splitlines() == [
        f'breaking    {EVENT}: "line_items[].quantity" bounds narrowed from {NARROWED}',
        f'breaking    {EVENT}: "payment_method.kind" no longer allows sepa',
        f'breaking    {EVENT}: "payment_method.last4" removed',
        f"3 changes: 3 breaking, 0 compatible ({old} → {new})",
    ]
    markdown = CliRunner().invoke(main, ["diff", old, new, "--format", "markdown"])
    assert markdown.exit_code == 1
    assert f'- {EVENT}: "payment_method.last4" removed' in markdown.output
    as_json = CliRunner().invoke(main, ["diff", old, new, "--format", "json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["breaking"] == 3
    assert [change["property"] for change in body["changes"]] == [
        "line_items[].quantity",
        "payment_method.kind",
        "payment_method.last4",
    ]
    reverse = CliRunner().invoke(main, ["diff", new, old])
    assert reverse.exit_code == 0, reverse.output


class _Recorded:
    """A catalog version as `record_version` reads it."""

    def __init__(self, version: str, bundle: Bundle) -> None:
        self.version = version
        self._bundle = bundle

    def schema_bundle(self) -> Bundle:
        return self._bundle


def test_the_changes_page_lists_breaking_nested_changes(app: Flask, client: FlaskClient) -> None:
    from webapp.extensions import db

    old, new = nested_specs.bundle(), nested_specs.bundle()
    _remove_last4(new)
    _remove_country(new)
    now = datetime.now(UTC)
    with app.app_context():
        record_version(db.engine, _Recorded("0ld0ld0ld0ld", old), now=now - timedelta(days=2))  # type: ignore[arg-type]
        record_version(db.engine, _Recorded("n3wn3wn3wn3w", new), now=now - timedelta(days=1))  # type: ignore[arg-type]
    response = client.get("/changes?from=0ld0ld0ld0ld&to=n3wn3wn3wn3w")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>2</strong> breaking, 0 compatible changes." in page
    assert f"{EVENT}: &#34;payment_method.last4&#34; removed" in page
    assert f"{IDENTIFY}: &#34;address.country&#34; removed" in page


def test_the_changes_page_lists_a_model_turned_free_form_as_breaking(app: Flask, client: FlaskClient) -> None:
    from webapp.extensions import db

    old, new = nested_specs.bundle(), nested_specs.bundle()
    _payment_method_free_form(new)
    now = datetime.now(UTC)
    with app.app_context():
        record_version(db.engine, _Recorded("0ld0ld0ld0ld", old), now=now - timedelta(days=2))  # type: ignore[arg-type]
        record_version(db.engine, _Recorded("n3wn3wn3wn3w", new), now=now - timedelta(days=1))  # type: ignore[arg-type]
    response = client.get("/changes?from=0ld0ld0ld0ld&to=n3wn3wn3wn3w")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<strong>1</strong> breaking, 1 compatible change." in page
    assert f"{EVENT}: &#34;payment_method&#34; no longer declares its fields (kind, last4)" in page
