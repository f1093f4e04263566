"""Test-only planned specs, and a fixture that shows them in the shipped catalog.

The shipped catalog is the original package's, where every event is live, so what the catalog, drift,
the exports and the dashboard do with a planned event (declared before any application sends it)
is exercised with these: a planned track event and a planned identify call, in a registry of their
own, joined to the shipped catalog only for the test that asks for `planned_catalog`.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

import pytest

from analytics.catalog import CATALOG, Catalog
from analytics.scopes import ProjectScope, UserScope
from analytics.spec import Category, IdentifySpec, SpecRegistry, Status, Team, TrackSpec, prop

PLANNED = SpecRegistry()

EVENT = "Invoice Sent"
IDENTIFY = "Workspace join"


class PlannedEvent(StrEnum):
    """The test event's name (a fork would add it to `SegmentEvent`)."""

    InvoiceSend = EVENT


class InvoiceSent(
    TrackSpec,
    event=PlannedEvent.InvoiceSend,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    status=Status.PLANNED,
    registry=PLANNED,
):
    """An invoice was emailed to a project's billing contact."""

    scope: ProjectScope
    amount_cents: int = prop("Total invoiced, in cents.", example=4900, ge=0)


class WorkspaceJoinIdentify(
    IdentifySpec, name=IDENTIFY, owner=Team.IDENTITY, status=Status.PLANNED, registry=PLANNED
):
    """A user joined a workspace they were invited to."""

    scope: UserScope
    workspace_role: str = prop("Role given by the invitation.", example="member")


CATALOG_OF_PLANNED = Catalog(PLANNED)
"""The planned specs alone, for library tests that take a catalog."""

_CACHED = ("events", "identifiers", "personal_data_names", "version")
"""The catalog's tables built once from its registry (cached properties)."""


@pytest.fixture
def planned_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped catalog with the planned specs above, for this test only: its cached tables are
    built again with them, and the shipped ones put back when the test ends."""
    monkeypatch.setattr(CATALOG.registry, "tracks", [*CATALOG.registry.tracks, *PLANNED.tracks])
    monkeypatch.setattr(
        CATALOG.registry, "identifiers", [*CATALOG.registry.identifiers, *PLANNED.identifiers]
    )
    shipped = {name: CATALOG.__dict__.pop(name) for name in _CACHED if name in CATALOG.__dict__}
    yield
    for name in _CACHED:
        CATALOG.__dict__.pop(name, None)
    CATALOG.__dict__.update(shipped)
