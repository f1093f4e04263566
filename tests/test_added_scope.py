"""A scope a team adds (as a fork's `BillingAccountScope(ProjectScope)`): defining it is all it takes.

The scopes here are the tests' own: each is defined inside a test or fixture, registers itself in the
registry it is given (`registry=`: a scope defined outside the catalog package joins none by default)
and is taken out of it again when the test ends (`scope_registry`), so that no other test sees it.
They hold only when the shipped scopes are there, whatever scopes a fork adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from pydantic import Field
from sqlalchemy import select, text
from tester_helpers import HTMX, error_slot, form_fields, hidden, input_value

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
from webapp import create_app
from webapp.extensions import db
from webapp.tester.models import ScopePreset
from webapp.tester.presets import level

SHIPPED = (UserScope, ProjectScope, ClusterScope, RegistryScope, ApplicationScope)


@pytest.fixture
def scope_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScopeRegistry]:
    """The registry of scopes, with what a test defines taken out again afterwards."""
    before = SCOPES.ordered()
    monkeypatch.setattr(SCOPES, "defined", [*SCOPES.defined])
    yield SCOPES
    monkeypatch.undo()
    assert SCOPES.ordered() == before


@pytest.fixture
def ledger_scope(scope_registry: ScopeRegistry) -> type[ProjectScope]:
    """A scope one level below the project, as a fork's billing account scope is."""

    class LedgerScope(ProjectScope, registry=scope_registry):
        """A user acting on the ledger of a project."""

        label: ClassVar[str] = "Ledger"
        description: ClassVar[str] = "Something that happened to a project's ledger."

        ledger_id: ScopeId = Field(
            gt=0,
            le=MAX_ID,
            description="Id of the ledger.",
            examples=[55],
            json_schema_extra={"x-property": "ledger_id"},
        )

    return LedgerScope


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
            """An invoice of a ledger was paid."""

            scope: scope_class  # type: ignore[valid-type]
            amount_cents: int = prop("Amount paid, in cents.", example=1500, gt=0)

        info = Catalog(registry).event("ProjectDelete")
        monkeypatch.setitem(CATALOG.events, info.name, info)
        return info

    yield make
    vars(CATALOG).clear()
    vars(CATALOG).update(kept)


@pytest.fixture
def ledger_event(
    ledger_scope: type[ProjectScope], event_of: Callable[[type[UserScope]], SpecInfo]
) -> SpecInfo:
    """An event of the ledger scope ("Project Deleted" for the test, see `event_of`)."""
    return event_of(ledger_scope)


def test_a_scope_registers_itself_among_the_scopes_as_wide_as_it(ledger_scope: type[ProjectScope]) -> None:
    assert [scope for scope in CATALOG.scopes if scope in (*SHIPPED, ledger_scope)] == [
        UserScope,
        ProjectScope,
        ClusterScope,
        RegistryScope,
        ledger_scope,
        ApplicationScope,
    ]
    assert ledger_scope.parent() is ProjectScope


def test_a_scope_without_a_label_of_its_own_or_with_another_s_is_refused(
    scope_registry: ScopeRegistry,
) -> None:
    with pytest.raises(TypeError, match="NoLabelScope: a scope needs its own label and description"):

        class NoLabelScope(ProjectScope, registry=scope_registry):
            shard_id: ScopeId = Field(gt=0, examples=[3])

    taken = r"SecondClusterScope: the label 'cluster' is taken by ClusterScope \('Cluster'\)"
    with pytest.raises(TypeError, match=taken):

        class SecondClusterScope(ProjectScope, registry=scope_registry):
            """A second scope of the same name."""

            label: ClassVar[str] = "cluster"
            description: ClassVar[str] = "Another cluster."

            node_id: ScopeId = Field(gt=0, examples=[3])

    assert not {"NoLabelScope", "SecondClusterScope"} & {scope.__name__ for scope in scope_registry.defined}


def test_the_scopes_page_and_the_event_list_filter_show_an_added_scope(
    client: FlaskClient, ledger_event: SpecInfo
) -> None:
    scopes = client.get("/scopes")
    assert scopes.status_code == 200
    page = scopes.get_data(as_text=True)
    project = page.index('<li id="scope-project">')
    billing = page.index('<li id="scope-ledger">')
    assert project < billing and "<h2>Ledger</h2>" in page
    assert "Adds <code>ledger_id</code>" in page
    assert f'<a href="/events/{ledger_event.constant}">{ledger_event.name}</a>' in page[billing:]
    listing = client.get("/", query_string={"scope": "ledger"})
    assert listing.status_code == 200
    rows = listing.get_data(as_text=True)
    assert "<option selected>Ledger</option>" in rows
    assert "is not a scope in the catalog" not in rows
    assert f'href="/events/{ledger_event.constant}"' in rows


def test_the_tester_offers_the_recent_ids_of_an_added_scope(
    client: FlaskClient, ledger_event: SpecInfo
) -> None:
    sent = client.post(
        "/api/tester/send",
        json={
            "event": ledger_event.constant,
            "scope": {"user_id": 1, "project_id": 12, "ledger_id": 5501},
            "properties": {"amount_cents": 1500},
        },
    )
    assert sent.status_code == 200, sent.get_json()
    recent = client.get(
        "/tester/recent-ids", query_string={"scope": "Ledger"}, headers={"HX-Request": "true"}
    )
    assert recent.status_code == 200
    lists = recent.get_data(as_text=True)
    offered = f'<datalist id="recent-ledger_id"><option value="5501">5501 · {ledger_event.name}'
    assert offered in lists


@pytest.mark.parametrize("named", ["ledger", "ledger_id"])
def test_send_takes_an_added_scope_s_id_by_its_short_or_field_name(
    runner: FlaskCliRunner, collector: Collector, ledger_event: SpecInfo, named: str
) -> None:
    result = runner.invoke(
        args=[
            "send",
            ledger_event.constant,
            "--scope",
            f"user=1,project=12,{named}=55",
            "--prop",
            "amount_cents=9",
        ]
    )
    assert result.exit_code == 0, result.output
    assert collector.received()[0]["properties"] == {
        "proj_id": 12,
        "ledger_id": 55,
        "amount_cents": 9,
    }


def test_send_names_an_added_scope_s_ids_in_its_errors(
    runner: FlaskCliRunner, ledger_event: SpecInfo
) -> None:
    unknown = runner.invoke(args=["send", ledger_event.constant, "--scope", "user=1,project=12,ledgr=55"])
    names = ", ".join(SCOPES.id_fields().values())
    assert {"user", "project", "cluster", "registry", "ledger", "app", "namespace", "chart"} <= {
        *names.split(", ")
    }
    assert (unknown.exit_code, unknown.stderr) == (
        2,
        f"error: --scope 'ledgr' is not a scope id: one of {names}\n",
    )
    missing = runner.invoke(
        args=["send", ledger_event.constant, "--scope", "user=1,project=12", "--prop", "amount_cents=9"]
    )
    assert (missing.exit_code, missing.stderr) == (
        2,
        "error: not sent: --scope ledger: Field required\n",
    )


def test_a_short_name_another_scope_has_is_refused(scope_registry: ScopeRegistry) -> None:
    clash = r"TenantScope: the short name 'cluster' of 'tenant_id' is 'cluster_id''s already"
    with pytest.raises(TypeError, match=clash):

        class TenantScope(ProjectScope, registry=scope_registry):
            """A tenant, whose short name a cluster already has."""

            label: ClassVar[str] = "Tenant"
            description: ClassVar[str] = "Something that happened to a tenant."
            short_names: ClassVar[Mapping[str, str]] = {"tenant_id": "cluster"}

            tenant_id: ScopeId = Field(gt=0, examples=[3])

    assert "TenantScope" not in {scope.__name__ for scope in scope_registry.defined}


def test_the_api_says_an_added_scope_s_name_is_text(
    client: FlaskClient, scope_registry: ScopeRegistry, event_of: Callable[[type[UserScope]], SpecInfo]
) -> None:
    class WorkspaceScope(ProjectScope, registry=scope_registry):
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


def restarted(client: FlaskClient) -> None:
    """Forget the documents the app built once (`webapp.catalog_documents`), as a new process would."""
    client.application.extensions.pop("catalog_documents")


def test_the_catalog_api_s_etag_changes_with_a_scope_the_version_does_not_cover(
    client: FlaskClient, scope_registry: ScopeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scope no event uses, or a scope's new description, changes `/api/catalog` but not the catalog
    version: the ETag followed the version, so a client polling with it got 304 and kept its stale
    list of scopes."""
    version = CATALOG.version
    first = client.get("/api/catalog")
    assert first.status_code == 200

    class VaultScope(ProjectScope, registry=scope_registry):
        """A user acting on a vault of a project."""

        label: ClassVar[str] = "Vault"
        description: ClassVar[str] = "Something that happened to a project's vault."

        vault_id: ScopeId = Field(gt=0, le=MAX_ID, examples=[4], json_schema_extra={"x-property": "vault_id"})

    # A catalog changes with a release, which is a new process: its documents are built afresh.
    restarted(client)
    added = client.get("/api/catalog", headers={"If-None-Match": first.headers["ETag"]})
    assert CATALOG.version == version
    assert added.status_code == 200 and added.headers["ETag"] != first.headers["ETag"]
    assert "Vault" in [scope["label"] for scope in added.get_json()["scopes"]]
    monkeypatch.setattr(ClusterScope, "description", "Something that happened to a cluster, or its nodes.")
    restarted(client)
    described = client.get("/api/catalog", headers={"If-None-Match": added.headers["ETag"]})
    assert described.status_code == 200
    [cluster] = [scope for scope in described.get_json()["scopes"] if scope["label"] == "Cluster"]
    assert cluster["description"] == "Something that happened to a cluster, or its nodes."
    unchanged = client.get("/api/catalog", headers={"If-None-Match": described.headers["ETag"]})
    assert unchanged.status_code == 304


def test_a_preset_saved_in_the_tester_keeps_an_added_scope_s_id_and_fills_it_again(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, collector: Collector, ledger_event: SpecInfo
) -> None:
    data = {
        **form_fields(client, f"event={ledger_event.constant}"),
        "scope.user_id": "7",
        "scope.project_id": "70",
        "scope.ledger_id": "700",
        "preset_name": "ledger 700",
    }
    saved = client.post("/tester/presets", data=data, headers=HTMX).get_data(as_text=True)
    assert "Saved the preset &#39;ledger 700&#39;." in saved
    with app.app_context():
        preset = db.session.scalars(select(ScopePreset)).one()
        assert preset.ids == {"user_id": 7, "project_id": 70, "ledger_id": 700}
    listing = client.get("/tester/presets").get_data(as_text=True)
    assert '<td data-label="Scope">Ledger</td>' in listing and "user 7 · project 70 · ledger 700" in listing
    applied = client.get(
        "/tester/", query_string={"spec": ledger_event.constant, "apply_preset": preset.id}, headers=HTMX
    ).get_data(as_text=True)
    assert input_value(applied, "scope.ledger_id") == "700"
    assert error_slot(applied, "scope.ledger_id") == ""
    sent = runner.invoke(
        args=["send", ledger_event.constant, "--preset", "ledger 700", "--prop", "amount_cents=9"]
    )
    assert sent.exit_code == 0, sent.output
    assert collector.received()[0]["properties"]["ledger_id"] == 700


def test_the_presets_page_takes_an_added_scope_s_id_in_its_chain(
    app: Flask, client: FlaskClient, ledger_scope: type[ProjectScope]
) -> None:
    page = client.get("/tester/presets").get_data(as_text=True)
    field = re.search(r'<input id="p-ledger_id" name="ledger_id"[^>]*>', page)
    assert field is not None and 'type="number"' in field.group(0)
    assert page.index('id="p-project_id"') < page.index('id="p-ledger_id"')
    csrf = hidden(page, "csrf_token")
    unchained = client.post(
        "/tester/presets", data={"csrf_token": csrf, "name": "b", "user_id": "1", "ledger_id": "5"}
    )
    assert unchained.status_code == 422
    assert "ledger id needs the project id it belongs to" in unchained.get_data(as_text=True)
    lax = {"csrf_token": csrf, "name": "b", "user_id": "1", "project_id": "2", "ledger_id": "+5"}
    refused = client.post("/tester/presets", data=lax)
    assert refused.status_code == 422
    assert "Enter the ledger id in the digits 0-9 only" in refused.get_data(as_text=True)
    saved = client.post("/tester/presets", data={**lax, "ledger_id": "5"})
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(ScopePreset.ids)).one() == {
            "user_id": 1,
            "project_id": 2,
            "ledger_id": 5,
        }


def test_migration_0018_moves_every_preset_s_ids_into_one_column_and_back(database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "downgrade", "0017_api_token_expiry", "--yes"]).exit_code == 0
    columns = "user_id, project_id, cluster_id, registry_id, app_name, app_namespace, chart_name"
    rows = {
        "user": (1, None, None, None, None, None, None),
        "both": (2, 12, 4, 7, None, None, None),
        "app": (MAX_ID, 12, 4, None, "web", "default", "web-chart"),
    }
    with app.app_context():
        for name, values in rows.items():
            db.session.execute(
                text(
                    f"INSERT INTO scope_presets (name, {columns}, created_by, created_at) "
                    "VALUES (:name, :v0, :v1, :v2, :v3, :v4, :v5, :v6, 'ada', :now)"
                ),
                {"name": name, "now": datetime.now(UTC), **{f"v{i}": v for i, v in enumerate(values)}},
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        presets = {p.name: p for p in db.session.scalars(select(ScopePreset))}
        assert {name: p.ids for name, p in presets.items()} == {
            "user": {"user_id": 1},
            "both": {"user_id": 2, "project_id": 12, "cluster_id": 4, "registry_id": 7},
            "app": {
                "user_id": MAX_ID,
                "project_id": 12,
                "cluster_id": 4,
                "app_name": "web",
                "app_namespace": "default",
                "chart_name": "web-chart",
            },
        }
        assert [level(presets[n]) for n in rows] == ["User", "Cluster and Registry", "Application"]
        presets["user"].ids = {"user_id": 1, "project_id": 3, "ledger_id": 55}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    refused = runner.invoke(args=["db", "downgrade", "0017_api_token_expiry"])
    assert refused.exit_code == 2 and "the ids of scopes added to the catalog" in refused.output
    assert runner.invoke(args=["db", "downgrade", "0017_api_token_expiry", "--yes"]).exit_code == 0
    with app.app_context():
        back = db.session.execute(text(f"SELECT name, {columns} FROM scope_presets ORDER BY name")).all()
        db.session.remove()
        db.engine.dispose()
    assert {row[0]: tuple(row[1:]) for row in back} == {**rows, "user": (1, 3, None, None, None, None, None)}
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    with app.app_context():
        db.engine.dispose()


def test_the_audit_log_finds_an_added_scope_s_id_as_a_property(
    client: FlaskClient, ledger_event: SpecInfo
) -> None:
    """What the README's "Adding a scope" promises: no filter of its own, the property search finds it."""
    for ledger_id in (5501, 5502):
        sent = client.post(
            "/api/tester/send",
            json={
                "event": ledger_event.constant,
                "scope": {"user_id": 1, "project_id": 12, "ledger_id": ledger_id},
                "properties": {"amount_cents": 1500},
            },
        )
        assert sent.status_code == 200, sent.get_json()
    rows = '<td data-label="Event">'
    assert client.get("/audit/").get_data(as_text=True).count(rows) == 2
    found = client.get("/audit/", query_string={"prop": "ledger_id = 5502"})
    assert found.status_code == 200
    assert found.get_data(as_text=True).count(rows) == 1
