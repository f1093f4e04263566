"""A scope a team adds (a fork's `BillingAccountScope(ProjectScope)`): defining it is all it takes.

The scopes here are the tests' own: each is defined inside a fixture, registers itself as any scope
does, and is taken out of the registry again when the test ends (`scope_registry`), so that no other
test sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from flask.testing import FlaskClient
from pydantic import Field

from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.events import SegmentEvent
from analytics.scopes import (
    MAX_ID,
    SCOPES,
    ApplicationScope,
    ClusterScope,
    ProjectScope,
    RegistryScope,
    ScopeId,
    ScopeRegistry,
    UserScope,
)
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop

SHIPPED = (UserScope, ProjectScope, ClusterScope, RegistryScope, ApplicationScope)


@pytest.fixture
def scope_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScopeRegistry]:
    """The registry of scopes, with what a test defines taken out again afterwards."""
    monkeypatch.setattr(SCOPES, "defined", [*SCOPES.defined])
    yield SCOPES
    monkeypatch.undo()
    assert SCOPES.ordered() == SHIPPED


@pytest.fixture
def billing_scope(scope_registry: ScopeRegistry) -> type[ProjectScope]:
    """A scope one level below the project, as the adoption walk added it."""

    class BillingAccountScope(ProjectScope):
        """A user acting on the billing account of a project."""

        label: ClassVar[str] = "Billing account"
        description: ClassVar[str] = "Something that happened to a project's billing account."

        billing_account_id: ScopeId = Field(
            gt=0,
            le=MAX_ID,
            description="Id of the billing account.",
            examples=[55],
            json_schema_extra={"x-property": "billing_account_id"},
        )

    return BillingAccountScope


@pytest.fixture
def billing_event(billing_scope: type[ProjectScope], monkeypatch: pytest.MonkeyPatch) -> Iterator[SpecInfo]:
    """An event of the billing scope, in the shipped catalog for this test only.

    Specs take their name from `SegmentEvent`, which a test cannot extend: "Project Deleted" stands in
    for the billing event while the test runs, and is the shipped spec again afterwards, with what the
    catalog worked out meanwhile (its version, its personal-data names) forgotten.
    """
    account_scope = billing_scope
    registry = SpecRegistry()

    class InvoicePay(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """An invoice of a billing account was paid."""

        scope: account_scope  # type: ignore[valid-type]
        amount_cents: int = prop("Amount paid, in cents.", example=1500, gt=0)

    info = Catalog(registry).event("ProjectDelete")
    kept = dict(vars(CATALOG))
    monkeypatch.setitem(CATALOG.events, info.name, info)
    yield info
    vars(CATALOG).clear()
    vars(CATALOG).update(kept)


def test_a_scope_registers_itself_among_the_scopes_as_wide_as_it(billing_scope: type[ProjectScope]) -> None:
    assert CATALOG.scopes == (
        UserScope,
        ProjectScope,
        ClusterScope,
        RegistryScope,
        billing_scope,
        ApplicationScope,
    )
    assert billing_scope.parent() is ProjectScope


def test_a_scope_without_a_label_of_its_own_or_with_another_s_is_refused(
    scope_registry: ScopeRegistry,
) -> None:
    with pytest.raises(TypeError, match="NoLabelScope: a scope needs its own label and description"):

        class NoLabelScope(ProjectScope):
            shard_id: ScopeId = Field(gt=0, examples=[3])

    taken = r"SecondClusterScope: the label 'cluster' is taken by ClusterScope \('Cluster'\)"
    with pytest.raises(TypeError, match=taken):

        class SecondClusterScope(ProjectScope):
            """A second scope of the same name."""

            label: ClassVar[str] = "cluster"
            description: ClassVar[str] = "Another cluster."

            node_id: ScopeId = Field(gt=0, examples=[3])

    assert scope_registry.ordered() == SHIPPED


def test_the_scopes_page_and_the_event_list_filter_show_an_added_scope(
    client: FlaskClient, billing_event: SpecInfo
) -> None:
    scopes = client.get("/scopes")
    assert scopes.status_code == 200
    page = scopes.get_data(as_text=True)
    project = page.index('<li id="scope-project">')
    billing = page.index('<li id="scope-billing account">')
    assert project < billing and "<h2>Billing account</h2>" in page
    assert "Adds <code>billing_account_id</code>" in page
    assert f'<a href="/events/{billing_event.constant}">{billing_event.name}</a>' in page[billing:]
    listing = client.get("/", query_string={"scope": "billing account"})
    assert listing.status_code == 200
    rows = listing.get_data(as_text=True)
    assert "<option selected>Billing account</option>" in rows
    assert "is not a scope in the catalog" not in rows
    assert f'href="/events/{billing_event.constant}"' in rows


def test_the_tester_offers_the_recent_ids_of_an_added_scope(
    client: FlaskClient, billing_event: SpecInfo
) -> None:
    sent = client.post(
        "/api/tester/send",
        json={
            "event": billing_event.constant,
            "scope": {"user_id": 1, "project_id": 12, "billing_account_id": 5501},
            "properties": {"amount_cents": 1500},
        },
    )
    assert sent.status_code == 200, sent.get_json()
    recent = client.get("/tester/recent-ids", query_string={"scope": "Billing account"})
    assert recent.status_code == 200
    lists = recent.get_data(as_text=True)
    offered = f'<datalist id="recent-billing_account_id"><option value="5501">5501 · {billing_event.name}'
    assert offered in lists
