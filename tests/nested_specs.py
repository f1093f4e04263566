"""Test-only specs with nested models, in their own registry: an event carrying a list of models and
a model with an enum field, and an identify call with an optional nested address.

The shipped catalog is flat, so the catalog's and the diff's handling of nested fields would
otherwise go untested; these specs mirror what a fork adds (an invoice's `line_items` and
`payment_method`, a billing profile's `address`) without adding events to the shipped catalog.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from analytics.catalog import Catalog
from analytics.events import SegmentEvent
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Team, TrackSpec, prop

REGISTRY = SpecRegistry()

EVENT = "Project Deleted"
"""The nested event's string (events are `SegmentEvent` members; the spec is this registry's own)."""

IDENTIFY = "Billing profile"


class PaymentKind(StrEnum):
    """How an invoice was paid."""

    CARD = "card"
    SEPA = "sepa"
    WIRE = "wire"


class LineItem(BaseModel):
    """One line of an invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(description="Product SKU.", examples=["pro-seat"], min_length=1)
    quantity: int = Field(description="How many units.", examples=[3], ge=1, le=10_000)
    note: str | None = Field(default=None, description="A remark printed on the line.", examples=["prorated"])


class PaymentMethod(BaseModel):
    """How the invoice was paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaymentKind = Field(description="Payment method kind.", examples=[PaymentKind.CARD])
    last4: str | None = Field(
        default=None, description="Last four digits of the card.", examples=["4242"], pattern=r"^[0-9]{4}$"
    )


class Invoice(
    TrackSpec,
    event=SegmentEvent.ProjectDelete,
    category=Category.DELETION,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A customer's invoice was paid."""

    scope: ProjectScope
    amount_cents: int = prop("Total charged, in cents.", example=4900, ge=0)
    line_items: list[LineItem] = prop(
        "Items invoiced.",
        example=[{"sku": "pro-seat", "quantity": 3}],
        min_length=1,
        max_length=50,
    )
    payment_method: PaymentMethod = prop("How it was paid.", example={"kind": "card", "last4": "4242"})


class BillingAddress(BaseModel):
    """A postal address for invoices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(
        description="ISO 3166-1 alpha-2 country code.", examples=["DE"], pattern=r"^[A-Z]{2}$"
    )
    city: str | None = Field(default=None, description="City.")


class BillingProfile(IdentifySpec, name=IDENTIFY, owner=Team.IDENTITY, registry=REGISTRY):
    """Sent when a user saves their billing profile."""

    scope: UserScope
    seats: int = prop("Seats paid for.", example=5, ge=1)
    address: BillingAddress | None = prop(
        "Billing address.", example={"country": "DE", "city": "Berlin"}, default=None
    )


CATALOG = Catalog(REGISTRY)
"""A catalog of the nested specs alone."""


def bundle() -> dict[str, Any]:
    """A fresh copy of the nested catalog's schema bundle, for a test to change."""
    return copy.deepcopy(CATALOG.schema_bundle())
