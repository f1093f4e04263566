"""Test-only specs with nested models, in a registry of their own, and a fixture that shows them in the
shipped catalog.

The shipped catalog is flat, so whatever reads a nested model (the catalog's rows, the diff, the
tester's fields, `send --prop`, the Python snippets, the audit search) would otherwise go untested.
These specs mirror what a fork adds: an order's `line_items` (a list of models) and `payment_method`
(a model with an enum field), a `dict` and a list of texts, and an identify call with an optional
nested address.

Defining a spec enrols it in `REGISTRY`, once, when this module is first imported; the shipped
catalog never sees it but through `joined_to_catalog` (the `nested_catalog` fixture), for one test.
Tests that read the specs alone use `CATALOG`, a catalog of this registry only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from analytics.catalog import CATALOG as SHIPPED
from analytics.catalog import Catalog
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

REGISTRY = SpecRegistry()

EVENT = "Order Placed"
"""The nested event's string."""

IDENTIFY = "Billing profile"
"""The nested identify call's name."""


class NestedEvent(StrEnum):
    """The test events' names (events are named by an enum; the shipped `SegmentEvent` has no room)."""

    OrderPlace = EVENT


class PaymentKind(StrEnum):
    """How an order was paid."""

    CARD = "card"
    SEPA = "sepa"


class LineItem(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(description="Product SKU.", examples=["pro-seat"], min_length=1)
    quantity: int = Field(description="How many units.", examples=[3], ge=1, le=10_000)
    note: str | None = Field(default=None, description="A remark printed on the line.", examples=["prorated"])


class PaymentMethod(BaseModel):
    """How the order was paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaymentKind = Field(description="Payment method kind.", examples=[PaymentKind.CARD])
    last4: str | None = Field(
        default=None, description="Last four digits of the card.", examples=["4242"], pattern=r"^[0-9]{4}$"
    )


class OrderPlaced(
    TrackSpec,
    event=NestedEvent.OrderPlace,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """An order was placed."""

    scope: ProjectScope
    line_items: list[LineItem] = prop(
        "Items ordered.",
        example=[{"sku": "pro-seat", "quantity": 3}, {"sku": "build-minutes", "quantity": 1000}],
        min_length=1,
    )
    payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card", "last4": "4242"})
    discounts: dict[str, int] | None = prop(
        "Discount per code, in cents.", example={"SPRING": 500}, default=None
    )
    tags: list[str] = prop("Free-form tags.", example=["q3-campaign", 'it\'s "quoted"'], default=[])
    coupon: str | None = prop("Coupon applied.", example="SPRING24", default=None)


class BillingAddress(BaseModel):
    """A postal address for invoices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(
        description="ISO 3166-1 alpha-2 country code.", examples=["DE"], pattern=r"^[A-Z]{2}$"
    )
    city: str | None = Field(default=None, description="City.")


class BillingProfile(IdentifySpec, name=IDENTIFY, owner=Team.IDENTITY, registry=REGISTRY):
    """A user saved their billing profile."""

    scope: UserScope
    seats: int = prop("Seats paid for.", example=5, ge=1, le=1000)
    address: BillingAddress | None = prop(
        "Billing address.", example={"country": "DE", "city": "Berlin"}, default=None
    )


CATALOG = Catalog(REGISTRY)
"""A catalog of the nested specs alone."""


def bundle() -> dict[str, Any]:
    """A fresh copy of the nested catalog's schema bundle, for a test to change."""
    return copy.deepcopy(CATALOG.schema_bundle())


_CACHED = ("events", "identifiers", "personal_data_names", "shared_bundle", "version")
"""The shipped catalog's tables built once from its registry (cached properties)."""


@contextmanager
def joined_to_catalog(registry: SpecRegistry) -> Iterator[None]:
    """The shipped catalog with a test registry's specs after its own, as a fork that defines them has
    it: its cached tables (events, personal-data names, version) are built again with them, and the
    shipped ones put back afterwards, so that no other test sees them."""
    shipped_lists = (SHIPPED.registry.tracks, SHIPPED.registry.identifiers)
    SHIPPED.registry.tracks = [*shipped_lists[0], *registry.tracks]
    SHIPPED.registry.identifiers = [*shipped_lists[1], *registry.identifiers]
    shipped = {name: SHIPPED.__dict__.pop(name) for name in _CACHED if name in SHIPPED.__dict__}
    try:
        yield
    finally:
        SHIPPED.registry.tracks, SHIPPED.registry.identifiers = shipped_lists
        for name in _CACHED:
            SHIPPED.__dict__.pop(name, None)
        SHIPPED.__dict__.update(shipped)


@pytest.fixture
def nested_catalog() -> Iterator[None]:
    """The shipped catalog with the nested specs above, for this test only."""
    with joined_to_catalog(REGISTRY):
        yield
