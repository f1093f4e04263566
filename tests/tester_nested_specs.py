"""Test-only specs with nested objects, and a fixture that shows them in the shipped catalog.

The shipped catalog is flat, so the paths that carry a nested model, a list of models, a nested enum
or a dict (the tester's fields, `send --prop`, the Python snippets) are exercised with these. They are
defined in a registry of their own and joined to the shipped catalog only for the test that asks for
`nested_catalog`, so no other test sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

import pytest
from pydantic import BaseModel, ConfigDict, Field

from analytics.catalog import CATALOG
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

NESTED = SpecRegistry()


class NestedEvent(StrEnum):
    """The test events' names."""

    OrderPlace = "Order Placed"


class PaymentKind(StrEnum):
    """How an order was paid."""

    CARD = "card"
    SEPA = "sepa"


class LineItem(BaseModel):
    """One line of an order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(description="Product SKU.", examples=["pro-seat"], min_length=1)
    quantity: int = Field(description="How many units.", examples=[3], ge=1, le=10_000)


class PaymentMethod(BaseModel):
    """How the order was paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaymentKind = Field(description="Payment method kind.", examples=[PaymentKind.CARD])
    last4: str | None = Field(default=None, description="Last four digits.", pattern=r"^[0-9]{4}$")


class Address(BaseModel):
    """A postal address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(description="ISO 3166-1 alpha-2 code.", examples=["DE"], pattern=r"^[A-Z]{2}$")
    city: str | None = Field(default=None, description="City.")


class OrderPlaced(
    TrackSpec, event=NestedEvent.OrderPlace, category=Category.ONBOARDING, owner=Team.GROWTH, registry=NESTED
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


class BillingProfileIdentify(IdentifySpec, name="Billing profile", owner=Team.IDENTITY, registry=NESTED):
    """A user saved their billing profile."""

    scope: UserScope
    seats: int = prop("Seats paid for.", example=5, ge=1, le=1000)
    address: Address | None = prop(
        "Billing address.", example={"country": "DE", "city": "Berlin"}, default=None
    )


_CACHED = ("events", "identifiers", "personal_data_names", "version")
"""The catalog's tables built once from its registry (cached properties)."""


@pytest.fixture
def nested_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped catalog with the nested specs above, for this test only: its cached tables are
    built again with them, and the shipped ones put back when the test ends."""
    monkeypatch.setattr(CATALOG.registry, "tracks", [*CATALOG.registry.tracks, *NESTED.tracks])
    monkeypatch.setattr(CATALOG.registry, "identifiers", [*CATALOG.registry.identifiers, *NESTED.identifiers])
    shipped = {name: CATALOG.__dict__.pop(name) for name in _CACHED if name in CATALOG.__dict__}
    yield
    for name in _CACHED:
        CATALOG.__dict__.pop(name, None)
    CATALOG.__dict__.update(shipped)
