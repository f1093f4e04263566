"""A scope a team adds (a fork's `BillingAccountScope(ProjectScope)`): defining it is all it takes.

The scopes here are the tests' own: each is defined inside a fixture, registers itself as any scope
does, and is taken out of the registry again when the test ends (`scope_registry`), so that no other
test sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from pydantic import Field

from analytics.catalog import CATALOG, Catalog, SpecInfo
from analytics.collector import Collector
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
def event_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[type[UserScope]], SpecInfo]]:
    """Make an event of a given scope, in the shipped catalog for this test only.

    Specs take their name from `SegmentEvent`, which a test cannot extend: "Project Deleted" stands in
    for the event while the test runs, and is the shipped spec again afterwards, with what the
    catalog worked out meanwhile (its version, its personal-data names) forgotten.
    """
    kept = dict(vars(CATALOG))

    def make(scope_class: type[UserScope]) -> SpecInfo:
        registry = SpecRegistry()

        class InvoicePay(
            TrackSpec,
            event=SegmentEvent.ProjectDelete,
            category=Category.ONBOARDING,
            owner=Team.GROWTH,
            registry=registry,
        ):
            """An invoice of a billing account was paid."""

            scope: scope_class  # type: ignore[valid-type]
            amount_cents: int = prop("Amount paid, in cents.", example=1500, gt=0)

        info = Catalog(registry).event("ProjectDelete")
        monkeypatch.setitem(CATALOG.events, info.name, info)
        return info

    yield make
    vars(CATALOG).clear()
    vars(CATALOG).update(kept)


@pytest.fixture
def billing_event(
    billing_scope: type[ProjectScope], event_of: Callable[[type[UserScope]], SpecInfo]
) -> SpecInfo:
    """An event of the billing scope ("Project Deleted" for the test, see `event_of`)."""
    return event_of(billing_scope)


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


@pytest.mark.parametrize("named", ["billing_account", "billing_account_id"])
def test_send_takes_an_added_scope_s_id_by_its_short_or_field_name(
    runner: FlaskCliRunner, collector: Collector, billing_event: SpecInfo, named: str
) -> None:
    result = runner.invoke(
        args=[
            "send",
            billing_event.constant,
            "--scope",
            f"user=1,project=12,{named}=55",
            "--prop",
            "amount_cents=9",
        ]
    )
    assert result.exit_code == 0, result.output
    assert collector.received()[0]["properties"] == {
        "proj_id": 12,
        "billing_account_id": 55,
        "amount_cents": 9,
    }


def test_send_names_an_added_scope_s_ids_in_its_errors(
    runner: FlaskCliRunner, billing_event: SpecInfo
) -> None:
    unknown = runner.invoke(args=["send", billing_event.constant, "--scope", "user=1,project=12,billing=55"])
    assert (unknown.exit_code, unknown.stderr) == (
        2,
        "error: --scope 'billing' is not a scope id: one of user, project, cluster, registry, "
        "billing_account, app, namespace, chart\n",
    )
    missing = runner.invoke(
        args=["send", billing_event.constant, "--scope", "user=1,project=12", "--prop", "amount_cents=9"]
    )
    assert (missing.exit_code, missing.stderr) == (
        2,
        "error: not sent: --scope billing_account: Field required\n",
    )


def test_a_short_name_another_scope_has_is_refused(scope_registry: ScopeRegistry) -> None:
    clash = r"TenantScope: the short name 'cluster' of 'tenant_id' is 'cluster_id''s already"
    with pytest.raises(TypeError, match=clash):

        class TenantScope(ProjectScope):
            """A tenant, whose short name a cluster already has."""

            label: ClassVar[str] = "Tenant"
            description: ClassVar[str] = "Something that happened to a tenant."
            short_names: ClassVar[Mapping[str, str]] = {"tenant_id": "cluster"}

            tenant_id: ScopeId = Field(gt=0, examples=[3])

    assert scope_registry.ordered() == SHIPPED


def test_the_api_says_an_added_scope_s_name_is_text(
    client: FlaskClient, scope_registry: ScopeRegistry, event_of: Callable[[type[UserScope]], SpecInfo]
) -> None:
    class WorkspaceScope(ProjectScope):
        """A named workspace of a project."""

        label: ClassVar[str] = "Workspace"
        description: ClassVar[str] = "Something that happened in a workspace."

        workspace: str = Field(min_length=1, examples=["ops"], json_schema_extra={"x-property": "workspace"})

    info = event_of(WorkspaceScope)
    answer = client.post(
        "/api/tester/send",
        json={
            "event": info.constant,
            "scope": {"user_id": 1, "project_id": 12, "workspace": True},
            "properties": {"amount_cents": 1500},
            "dry_run": True,
        },
    )
    assert answer.status_code == 422
    assert answer.get_json()["error"]["fields"] == {"scope.workspace": "Text is needed, got true."}
