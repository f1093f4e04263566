"""What a large typed event costs the caller beyond building its message: finding its personal data,
and the checks a spec makes of its values when it is built.

An invoice of 500 typed lines (`list[Line]`, no free-form value) is the shape of event whose caller
cost grew most with masking inside free-form values and the build-time value checks: each send
walked every key of every line (~2.8 ms), each build serialised every line (~1.2 ms). The baselines
are measured in the same run: building the event's message, and building its 500 lines, which the
caller does for such an event anyway.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from analytics.catalog import personal_paths
from analytics.messages import build_message, payload_of
from analytics.scopes import ProjectScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop
from bench.harness import Row

LINES = 500
REPEAT = 200
_REGISTRY = SpecRegistry()


class _BenchEvent(StrEnum):
    InvoiceCreate = "Bench Invoice Created"


class Line(BaseModel):
    """An invoice line, every field typed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = prop("Product SKU.", example="pro-seat")
    quantity: int = prop("Units.", example=1)
    price: float = prop("Unit price.", example=9.5)


class InvoiceCreate(
    TrackSpec,
    event=_BenchEvent.InvoiceCreate,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=_REGISTRY,
):
    """An invoice was created."""

    scope: ProjectScope
    lines: list[Line] = prop("The invoice's lines.", example=[])


def _us(action: Callable[[], Any]) -> float:
    """The best of three averages of `REPEAT` calls, in µs: the least disturbed by other load."""
    return min(timeit.repeat(action, number=REPEAT, repeat=3)) / REPEAT * 1e6


def rows(database: str) -> list[Row]:
    """The two rows of a 500-line typed event, in-process (`database` only labels them)."""
    scope = ProjectScope(user_id=1, project_id=2)
    lines = [Line(sku=f"sku-{n}", quantity=n + 1, price=9.5) for n in range(LINES)]
    spec = InvoiceCreate(scope=scope, lines=lines)
    payload = payload_of(build_message(spec))
    built = _us(lambda: build_message(spec))
    found = _us(lambda: personal_paths(InvoiceCreate, payload, from_spec=True))
    made = _us(lambda: [Line(sku=f"sku-{n}", quantity=n + 1, price=9.5) for n in range(LINES)])
    checked = _us(lambda: InvoiceCreate(scope=scope, lines=lines))
    return [
        Row(
            f"personal-data paths per send vs building the message, {LINES} typed lines [{database}]",
            built,
            found,
            "µs",
            0.1,
        ),
        Row(
            f"spec build with its value checks vs making its {LINES} typed lines [{database}]",
            made,
            checked,
            "µs",
            0.25,
        ),
    ]
