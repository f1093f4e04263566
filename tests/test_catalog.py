"""The catalog as code: completeness against the reference, schemas, validation, registration."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from pydantic import ValidationError

from analytics.catalog import CATALOG, Catalog
from analytics.events import SegmentEvent
from analytics.exports import schema_bundle_document
from analytics.identifiers import RegisterIdentify
from analytics.scopes import ApplicationScope, ClusterScope, ProjectScope, UserScope
from analytics.spec import Category, SpecRegistry, Status, Team, TrackSpec, prop
from analytics.tracks import ClusterProvisioningStart, ClusterProvisioningSuccess, ProjectCreate, UserCreate

# Every event string of shared/reference/original-go-package.md, in its order.
REFERENCE_EVENTS = [
    "New User", "User Verified Email", "New Project Event", "Project Connected to Sandbox", "Project Deleted",
    "Cluster Deleted", "Cost Consent Opened", "Cost Consent Complete", "Credential Step Complete",
    "Pre Provision Check Started", "AWS Account ID Inputted", "AWS Cloudformation Redirect",
    "AWS Login Redirect", "AWS Create Integration Success", "AWS Create Integration Failure",
    "AWS Quota Increase Requested", "Provisioning Attempted", "Provisioning Failure",
    "Cluster Provisioning Started", "Cluster Provisioning Error",
    "Cluster Provisioning Success", "Registry Provisioning Started", "Registry Provisioning Error",
    "Registry Provisioning Success", "Cluster Connection Started", "Cluster Connection Success",
    "Registry Connection Started", "Registry Connection Success", "Github Connection Started",
    "Github Connection Success", "Application Launch Started", "Application Launch Success",
    "Triggered Re-deploy via Webhook", "Cluster Destroying Start", "Cluster Destroying Success",
    "Stack Launch Started", "Stack Launch Complete", "Stack Launch Success", "Stack Launch Failure",
    "Stack Deletion", "Stack Build Progressing", "Stack Build Failure", "Stack Build Success",
    "Porter App Update Failure", "Cloud Provider Permissions Granted", "Cluster Preflight Checks Failed",
    "Cluster Update Failed",
]  # fmt: skip

# The reference's table of tracks whose scope and properties the source spells out.
REFERENCE_TRACKS = {
    "UserCreate": (UserScope, {"email"}),
    "UserVerifyEmail": (UserScope, {"email"}),
    "ProjectCreate": (ProjectScope, {"proj_id"}),
    "ClusterProvisioningStart": (ProjectScope, {"proj_id", "cluster_type", "infra_id"}),
    "ClusterProvisioningError": (ProjectScope, {"proj_id", "cluster_type", "infra_id"}),
    "ClusterProvisioningSuccess": (ClusterScope, {"proj_id", "cluster_id", "cluster_type", "infra_id"}),
    "ClusterConnectionStart": (ProjectScope, {"proj_id", "cc_id"}),
    "ClusterConnectionSuccess": (ClusterScope, {"proj_id", "cluster_id", "cc_id"}),
    "RegistryConnectionStart": (ProjectScope, {"proj_id", "flow_id"}),
    "RegistryConnectionSuccess": (None, {"proj_id", "registry_id", "flow_id"}),
    "GithubConnectionStart": (UserScope, set()),
    "GithubConnectionSuccess": (UserScope, set()),
    "ApplicationLaunchStart": (ClusterScope, {"proj_id", "cluster_id", "flow_id"}),
    "ApplicationLaunchSuccess": (
        ApplicationScope,
        {"proj_id", "cluster_id", "app_name", "app_namespace", "chart_name", "flow_id"},
    ),
    "ApplicationDeploymentWebhook": (
        ApplicationScope,
        {"proj_id", "cluster_id", "app_name", "app_namespace", "chart_name", "image_uri"},
    ),
    "RegistryProvisioningStart": (ProjectScope, {"proj_id", "registry_type", "infra_id"}),
    "RegistryProvisioningError": (ProjectScope, {"proj_id", "registry_type", "infra_id"}),
    "RegistryProvisioningSuccess": (None, {"proj_id", "registry_id", "registry_type", "infra_id"}),
}

ALL_SPECS = [*CATALOG.events.values(), *CATALOG.identifiers.values()]


def test_catalog_has_every_reference_event_and_nothing_else() -> None:
    assert [str(event) for event in SegmentEvent] == REFERENCE_EVENTS
    assert list(CATALOG.events) == REFERENCE_EVENTS


@pytest.mark.parametrize("constant", sorted(REFERENCE_TRACKS))
def test_reference_tracks_keep_their_scope_and_property_keys(constant: str) -> None:
    scope, keys = REFERENCE_TRACKS[constant]
    info = CATALOG.event(constant)
    if scope is not None:
        assert info.scope is scope
    assert {p.name for p in info.properties} == keys


@pytest.mark.parametrize("info", ALL_SPECS, ids=lambda info: info.constant)
def test_every_schema_is_valid_2020_12_and_accepts_its_example_payload(info) -> None:  # type: ignore[no-untyped-def]
    schema = info.json_schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(info.example_payload())


@pytest.mark.parametrize("info", ALL_SPECS, ids=lambda info: info.constant)
def test_every_spec_has_a_description_owner_category_and_status(info) -> None:  # type: ignore[no-untyped-def]
    assert info.spec.summary()
    assert info.spec.owner in set(Team)
    assert info.spec.category in set(Category)
    assert info.spec.status in set(Status)
    assert all(p.description and p.example is not None for p in info.properties)


def test_schema_rejects_a_payload_with_a_wrong_type_or_unknown_property() -> None:
    validator = jsonschema.Draft202012Validator(CATALOG.event("Cluster Provisioning Success").json_schema)
    good = {"proj_id": 2, "cluster_id": 3, "cluster_type": "eks", "infra_id": 9}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "infra_id": "nine"})
    assert not validator.is_valid({**good, "cluster_type": "openshift"})
    assert not validator.is_valid({**good, "surprise": 1})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "cluster_id"})


def test_wrong_types_fail_at_construction_with_field_level_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        ClusterProvisioningSuccess(
            scope=ProjectScope(user_id=1, project_id=2),  # type: ignore[arg-type]
            cluster_type="openshift",  # type: ignore[arg-type]
            infra_id="nine",  # type: ignore[arg-type]
        )
    locations = {error["loc"][0] for error in caught.value.errors()}
    assert locations == {"scope", "cluster_type", "infra_id"}


@pytest.mark.parametrize(
    ("spec", "scope", "values"),
    [
        (
            ClusterProvisioningSuccess,
            ApplicationScope(
                user_id=1, project_id=2, cluster_id=3, app_name="web", app_namespace="ns", chart_name="c"
            ),
            {"cluster_type": "eks", "infra_id": 9},
        ),
        (ProjectCreate, ClusterScope(user_id=1, project_id=2, cluster_id=3), {}),
    ],
)
def test_a_narrower_scope_than_declared_is_refused_at_construction(
    spec: type[TrackSpec], scope: UserScope, values: dict[str, object]
) -> None:
    """Pydantic keeps a subclass instance: its further ids were sent as properties the event forbids."""
    with pytest.raises(ValidationError) as caught:
        spec(scope=scope, **values)
    [error] = caught.value.errors()
    assert error["loc"] == ("scope",)
    declared, given = spec.scope_class().__name__, type(scope).__name__
    own = f"{spec.__name__} carries only the ids of its own scope"
    assert error["msg"] == f"Value error, must be exactly {declared}, not {given}: {own}"


def test_scope_ids_must_be_positive_and_complete() -> None:
    with pytest.raises(ValidationError, match="project_id"):
        ProjectScope(user_id=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="greater than 0"):
        ClusterScope(user_id=1, project_id=0, cluster_id=3)


@pytest.mark.parametrize("given", ["1.0", "1_000", " 1", "1 ", "+1", "１", 1.0, True])
def test_scope_ids_are_whole_numbers_or_digits_alone(given: object) -> None:
    """Pydantic's lax integer took each of these as an id (`"1_000"` as 1000, `" 1"` as 1)."""
    with pytest.raises(ValidationError) as caught:
        ClusterScope(user_id=1, project_id=given, cluster_id=3)  # type: ignore[arg-type]
    [error] = caught.value.errors()
    assert error["loc"] == ("project_id",)
    assert error["msg"] == (
        "Input should be a valid integer, as a whole number or as text of the digits 0-9 only"
    )


def test_scope_ids_take_digits_as_text_as_the_tester_sends_them() -> None:
    scope = ClusterScope(user_id="1", project_id="012", cluster_id=3)  # type: ignore[arg-type]
    assert (scope.user_id, scope.project_id, scope.cluster_id) == (1, 12, 3)


def test_scope_ids_become_properties_under_the_original_names() -> None:
    spec = ClusterProvisioningSuccess(
        scope=ClusterScope(user_id=1, project_id=2, cluster_id=3),
        cluster_type="eks",  # type: ignore[arg-type]
        infra_id=9,
    )
    assert spec.properties() == {"proj_id": 2, "cluster_id": 3, "cluster_type": "eks", "infra_id": 9}
    assert spec.scope.segment_user_id() == "1"


def test_scope_hierarchy_matches_the_reference() -> None:
    assert UserScope.parent() is None
    assert ProjectScope.parent() is UserScope
    assert ClusterScope.parent() is ProjectScope
    assert ApplicationScope.parent() is ClusterScope
    assert ApplicationScope.property_fields() == {
        "project_id": "proj_id",
        "cluster_id": "cluster_id",
        "app_name": "app_name",
        "app_namespace": "app_namespace",
        "chart_name": "chart_name",
    }


def test_email_is_personal_data_and_infrastructure_kinds_are_a_closed_set() -> None:
    assert UserCreate.personal_data_keys() == {"email"}
    assert RegisterIdentify.personal_data_keys() == {"email"}
    email = next(p for p in CATALOG.event("New User").properties if p.name == "email")
    assert email.personal_data
    kind = next(
        p for p in CATALOG.event("Cluster Provisioning Started").properties if p.name == "cluster_type"
    )
    assert kind.allowed_values == ("eks", "gke", "aks", "doks")
    assert not ClusterProvisioningStart.personal_data_keys()


def test_identify_specs_cover_register_login_and_profile_update() -> None:
    assert list(CATALOG.identifiers) == ["Register", "Login", "Profile update"]
    register = CATALOG.identifier("Register")
    assert {p.name for p in register.properties} == {"email", "github"}


def test_defining_a_spec_registers_it_without_any_other_step() -> None:
    registry = SpecRegistry()

    class Extra(
        TrackSpec,
        event=SegmentEvent.ProjectDelete,
        category=Category.ONBOARDING,
        owner=Team.GROWTH,
        registry=registry,
    ):
        """A test event."""

        scope: ProjectScope
        reason: str = prop("Why.", example="cleanup")

    catalog = Catalog(registry)
    assert registry.tracks == [Extra]
    assert catalog.event("Project Deleted").spec is Extra
    assert "reason" in catalog.event("ProjectDelete").json_schema["properties"]


def test_a_spec_without_owner_or_category_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="category= and owner="):

        class Incomplete(TrackSpec, event=SegmentEvent.ProjectDelete, registry=SpecRegistry()):
            """Missing metadata."""

            scope: ProjectScope


def test_catalog_version_is_a_stable_content_hash() -> None:
    assert CATALOG.version == Catalog(CATALOG.registry).version
    assert len(CATALOG.version) == 12


def test_deprecated_event_names_its_replacement() -> None:
    info = CATALOG.event("Stack Launch Complete")
    assert info.spec.status is Status.DEPRECATED
    assert info.json_schema["x-replaced-by"] == "Stack Launch Success"


def test_unknown_event_lookup_raises_key_error() -> None:
    with pytest.raises(KeyError):
        CATALOG.event("Nope")
    with pytest.raises(KeyError):
        CATALOG.identifier("Nope")


def test_a_schema_bundle_changed_by_its_caller_leaves_the_next_one_as_it_was() -> None:
    """A script that added a key to the bundle before dumping it changed the catalog's own schemas,
    so /api/catalog, diff and the exports of the same process served the changed ones."""
    catalog = Catalog(CATALOG.registry)
    pristine = copy.deepcopy(catalog.schema_bundle())
    changed = catalog.schema_bundle()
    changed["generated_by"] = "a script"
    changed["events"]["New User"]["x-owner"] = "someone else"
    changed["events"]["New User"]["properties"]["email"]["type"] = "integer"
    changed["identifiers"]["Register"]["required"].append("nickname")
    del changed["events"]["Stack Launch Complete"]
    assert catalog.schema_bundle() == pristine
    assert catalog.shared_bundle == pristine
    assert catalog.event("New User").json_schema == pristine["events"]["New User"]
    assert schema_bundle_document(catalog) == {"version": Catalog(CATALOG.registry).version, **pristine}
