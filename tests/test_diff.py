"""The catalog diff: one table row per change kind, each classified breaking or compatible."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from analytics.catalog import CATALOG
from analytics.diff import ChangeKind, diff_bundles
from analytics.reporting import ReportFormat, render_diff

Bundle = dict[str, Any]

SUCCESS = "Cluster Provisioning Success"
NEW_USER = "New User"


def _event(bundle: Bundle, name: str = SUCCESS) -> dict[str, Any]:
    schema: dict[str, Any] = bundle["events"][name]
    return schema


def _rename_key(section: dict[str, Any], old: str, new: str) -> None:
    """Rename a key in place, keeping the order (the catalog's order is part of what is compared)."""
    items = [(new if key == old else key, value) for key, value in section.items()]
    section.clear()
    section.update(items)


def _add_event(bundle: Bundle) -> None:
    schema = copy.deepcopy(_event(bundle))
    schema.update({"description": "A cluster was resized.", "x-event": "ClusterResize"})
    bundle["events"]["Cluster Resized"] = schema


def _rename_event_keeping_constant(bundle: Bundle) -> None:
    _rename_key(bundle["events"], SUCCESS, "Cluster Provisioning Succeeded")


def _rename_event_and_constant(bundle: Bundle) -> None:
    _rename_event_keeping_constant(bundle)
    _event(bundle, "Cluster Provisioning Succeeded")["x-event"] = "ClusterProvisioningSucceeded"


def _deprecate(bundle: Bundle) -> None:
    _event(bundle).update({"x-status": "deprecated", "x-replaced-by": "Cluster Connection Success"})


def _reinstate(bundle: Bundle) -> None:
    schema = _event(bundle, "Stack Launch Complete")
    schema["x-status"] = "active"
    del schema["x-replaced-by"]


def _add_property(required: bool) -> Callable[[Bundle], None]:
    def mutate(bundle: Bundle) -> None:
        schema = _event(bundle)
        schema["properties"]["region"] = {"type": "string", "description": "Cloud region."}
        if required:
            schema["required"].append("region")

    return mutate


def _remove_property(bundle: Bundle) -> None:
    schema = _event(bundle)
    del schema["properties"]["infra_id"]
    schema["required"].remove("infra_id")


def _rename_property(bundle: Bundle) -> None:
    schema = _event(bundle)
    _rename_key(schema["properties"], "infra_id", "infrastructure_id")
    schema["required"] = [("infrastructure_id" if p == "infra_id" else p) for p in schema["required"]]


def _retype_property(bundle: Bundle) -> None:
    _event(bundle)["properties"]["infra_id"]["type"] = "string"


def _make_nullable(bundle: Bundle) -> None:
    prop = _event(bundle)["properties"]["infra_id"]
    prop["anyOf"] = [{"type": prop.pop("type")}, {"type": "null"}]


def _make_optional(bundle: Bundle) -> None:
    _event(bundle)["required"].remove("infra_id")


def _make_required(bundle: Bundle) -> None:
    bundle["identifiers"]["Profile update"]["required"].append("company_name")


def _set_cluster_kinds(*kinds: str) -> Callable[[Bundle], None]:
    def mutate(bundle: Bundle) -> None:
        _event(bundle)["$defs"]["ClusterKind"]["enum"] = list(kinds)

    return mutate


def _free_cluster_kind(bundle: Bundle) -> None:
    _event(bundle)["properties"]["cluster_type"] = {
        "type": "string",
        "description": "Kind of managed Kubernetes cluster.",
    }


def _restrict_infra_id(bundle: Bundle) -> None:
    _event(bundle)["properties"]["infra_id"]["enum"] = [9, 10]


def _set_infra_id_bounds(**bounds: int) -> Callable[[Bundle], None]:
    def mutate(bundle: Bundle) -> None:
        prop = _event(bundle)["properties"]["infra_id"]
        for keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            prop.pop(keyword, None)
        prop.update(bounds)

    return mutate


def _allow_no_failed_checks(bundle: Bundle) -> None:
    del _event(bundle, "Cluster Preflight Checks Failed")["properties"]["failed_checks"]["minItems"]


def _unflag_personal_data(bundle: Bundle) -> None:
    del _event(bundle, NEW_USER)["properties"]["email"]["x-personal-data"]


def _remove_event(bundle: Bundle) -> None:
    del bundle["events"][SUCCESS]


def _remove_identifier(bundle: Bundle) -> None:
    del bundle["identifiers"]["Login"]


# (mutation of the new bundle, expected (kind, name, property, before, after), breaking)
CASES: dict[str, tuple[Callable[[Bundle], None], list[tuple[Any, ...]], bool]] = {
    "event added": (_add_event, [(ChangeKind.EVENT_ADDED, "Cluster Resized", None, None, None)], False),
    "event removed": (_remove_event, [(ChangeKind.EVENT_REMOVED, SUCCESS, None, None, None)], True),
    "identifier removed": (_remove_identifier, [(ChangeKind.EVENT_REMOVED, "Login", None, None, None)], True),
    "event renamed, same constant": (
        _rename_event_keeping_constant,
        [
            (
                ChangeKind.EVENT_RENAMED,
                "Cluster Provisioning Succeeded",
                None,
                SUCCESS,
                "Cluster Provisioning Succeeded",
            )
        ],
        True,
    ),
    "event renamed, same description and shape": (
        _rename_event_and_constant,
        [
            (
                ChangeKind.EVENT_RENAMED,
                "Cluster Provisioning Succeeded",
                None,
                SUCCESS,
                "Cluster Provisioning Succeeded",
            )
        ],
        True,
    ),
    "event deprecated": (
        _deprecate,
        [(ChangeKind.EVENT_DEPRECATED, SUCCESS, None, None, "Cluster Connection Success")],
        False,
    ),
    "event no longer deprecated": (
        _reinstate,
        [(ChangeKind.EVENT_REINSTATED, "Stack Launch Complete", None, None, None)],
        False,
    ),
    "optional property added": (
        _add_property(required=False),
        [(ChangeKind.PROPERTY_ADDED, SUCCESS, "region", None, "string, optional")],
        False,
    ),
    "required property added": (
        _add_property(required=True),
        [(ChangeKind.PROPERTY_ADDED, SUCCESS, "region", None, "string, required")],
        False,
    ),
    "property removed": (
        _remove_property,
        [(ChangeKind.PROPERTY_REMOVED, SUCCESS, "infra_id", "integer", None)],
        True,
    ),
    "property renamed": (
        _rename_property,
        [(ChangeKind.PROPERTY_RENAMED, SUCCESS, "infrastructure_id", "infra_id", "infrastructure_id")],
        True,
    ),
    "property retyped": (
        _retype_property,
        [(ChangeKind.PROPERTY_RETYPED, SUCCESS, "infra_id", "integer", "string")],
        True,
    ),
    "property made nullable": (
        _make_nullable,
        [(ChangeKind.PROPERTY_RETYPED, SUCCESS, "infra_id", "integer", "integer or null")],
        True,
    ),
    "property made optional": (
        _make_optional,
        [(ChangeKind.PROPERTY_MADE_OPTIONAL, SUCCESS, "infra_id", None, None)],
        True,
    ),
    "property made required": (
        _make_required,
        [(ChangeKind.PROPERTY_MADE_REQUIRED, "Profile update", "company_name", None, None)],
        False,
    ),
    "allowed values narrowed": (
        _set_cluster_kinds("eks", "gke", "aks"),
        [(ChangeKind.VALUES_NARROWED, SUCCESS, "cluster_type", ["doks"], ["eks", "gke", "aks"])],
        True,
    ),
    "allowed values widened": (
        _set_cluster_kinds("eks", "gke", "aks", "doks", "oke"),
        [(ChangeKind.VALUES_WIDENED, SUCCESS, "cluster_type", ["eks", "gke", "aks", "doks"], ["oke"])],
        False,
    ),
    "allowed values swapped": (
        _set_cluster_kinds("eks", "gke", "aks", "oke"),
        [
            (ChangeKind.VALUES_NARROWED, SUCCESS, "cluster_type", ["doks"], ["eks", "gke", "aks", "oke"]),
            (ChangeKind.VALUES_WIDENED, SUCCESS, "cluster_type", ["eks", "gke", "aks", "doks"], ["oke"]),
        ],
        True,
    ),
    "closed set opened": (
        _free_cluster_kind,
        [(ChangeKind.VALUES_WIDENED, SUCCESS, "cluster_type", ["eks", "gke", "aks", "doks"], None)],
        False,
    ),
    "free value restricted": (
        _restrict_infra_id,
        [(ChangeKind.VALUES_NARROWED, SUCCESS, "infra_id", None, [9, 10])],
        True,
    ),
    "upper bound tightened": (
        _set_infra_id_bounds(exclusiveMinimum=0, maximum=2**31 - 1),
        [
            (
                ChangeKind.BOUNDS_NARROWED,
                SUCCESS,
                "infra_id",
                "1 ≤ value ≤ 2⁶³−1",
                "1 ≤ value ≤ 2147483647",
            )
        ],
        True,
    ),
    "range shifted": (
        _set_infra_id_bounds(minimum=10),
        [(ChangeKind.BOUNDS_NARROWED, SUCCESS, "infra_id", "1 ≤ value ≤ 2⁶³−1", "value ≥ 10")],
        True,
    ),
    "bounds dropped": (
        _set_infra_id_bounds(),
        [(ChangeKind.BOUNDS_WIDENED, SUCCESS, "infra_id", "1 ≤ value ≤ 2⁶³−1", "no bounds")],
        False,
    ),
    "the same integers bounded another way": (
        _set_infra_id_bounds(minimum=1, exclusiveMaximum=2**63),
        [],
        False,
    ),
    "array size bound dropped": (
        _allow_no_failed_checks,
        [
            (
                ChangeKind.BOUNDS_WIDENED,
                "Cluster Preflight Checks Failed",
                "failed_checks",
                "items ≥ 1",
                "no bounds",
            )
        ],
        False,
    ),
    "personal data flag dropped": (
        _unflag_personal_data,
        [(ChangeKind.PERSONAL_DATA_CHANGED, NEW_USER, "email", True, False)],
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_change_kind_is_found_and_classified(case: str) -> None:
    mutate, expected, breaking = CASES[case]
    old = CATALOG.schema_bundle()
    new = copy.deepcopy(old)
    mutate(new)
    diff = diff_bundles(old, new)
    assert [(c.kind, c.name, c.prop, c.before, c.after) for c in diff] == expected
    assert diff.is_breaking is breaking
    assert all(c.summary for c in diff)


def test_the_same_bundle_has_no_changes() -> None:
    diff = diff_bundles(CATALOG.schema_bundle(), CATALOG.schema_bundle())
    assert len(diff) == 0 and not diff.is_breaking
    assert diff.to_dict() == {"breaking": 0, "compatible": 0, "changes": []}


def test_an_empty_bundle_against_the_catalog_adds_every_event_and_identifier() -> None:
    diff = diff_bundles({}, CATALOG.schema_bundle())
    assert len(diff) == len(CATALOG.events) + len(CATALOG.identifiers)
    assert {c.kind for c in diff} == {ChangeKind.EVENT_ADDED}
    assert diff.compatible == diff.changes and diff.breaking == ()


def test_summaries_read_as_sentences() -> None:
    old = CATALOG.schema_bundle()
    new = copy.deepcopy(old)
    _remove_property(new)
    _deprecate(new)
    _set_cluster_kinds("eks")(new)
    assert [c.summary for c in diff_bundles(old, new)] == [
        "Cluster Provisioning Success deprecated (use Cluster Connection Success instead)",
        'Cluster Provisioning Success: "cluster_type" no longer allows gke, aks, doks',
        'Cluster Provisioning Success: "infra_id" removed',
    ]
    change = diff_bundles(old, new).breaking[0].to_dict()
    assert change["kind"] == "allowed values narrowed" and change["breaking"] is True
    assert change["property"] == "cluster_type"


def test_the_same_property_change_in_many_events_is_one_line_naming_them() -> None:
    old = CATALOG.schema_bundle()
    new = copy.deepcopy(old)
    widened = [name for name, schema in new["events"].items() if "cluster_id" in schema["properties"]]
    for name in widened:
        del new["events"][name]["properties"]["cluster_id"]["maximum"]
    _remove_property(new)
    diff = diff_bundles(old, new)
    text = render_diff(diff, ReportFormat.TEXT, old="v1", new="v2").splitlines()
    assert text == [
        'breaking    Cluster Provisioning Success: "infra_id" removed',
        f'compatible  {len(widened)} events: "cluster_id" bounds widened '
        f"from 1 ≤ value ≤ 2⁶³−1 to value ≥ 1 ({', '.join(widened)})",
        f"{len(widened) + 1} changes: 1 breaking, {len(widened)} compatible (v1 → v2)",
    ]
    markdown = render_diff(diff, ReportFormat.MARKDOWN, old="v1", new="v2")
    assert f'- {len(widened)} events: "cluster_id" bounds widened' in markdown
    assert (
        len(json.loads(render_diff(diff, ReportFormat.JSON, old="v1", new="v2"))["changes"])
        == len(widened) + 1
    )


def _plan(bundle: Bundle, name: str = SUCCESS) -> None:
    _event(bundle, name)["x-status"] = "planned"


def test_a_planned_event_going_active_is_compatible_and_going_back_is_breaking() -> None:
    shipped = CATALOG.schema_bundle()
    planned = copy.deepcopy(shipped)
    _plan(planned)
    live = diff_bundles(planned, shipped)
    assert [(c.kind, c.name, c.before, c.after) for c in live] == [
        (ChangeKind.EVENT_ACTIVATED, SUCCESS, "planned", "active")
    ]
    assert not live.is_breaking and live.changes[0].summary == f"{SUCCESS} no longer planned: now active"
    back = diff_bundles(shipped, planned)
    assert [(c.kind, c.name, c.before) for c in back] == [
        (ChangeKind.EVENT_BACK_TO_PLANNED, SUCCESS, "active")
    ]
    assert back.is_breaking
    assert back.changes[0].summary == f"{SUCCESS} back to planned: applications no longer send it"


def test_no_change_to_an_event_that_was_only_planned_breaks_a_consumer() -> None:
    """No application sent it, so no report was built on it: refining a plan is not breaking it."""
    old = copy.deepcopy(CATALOG.schema_bundle())
    _plan(old)
    _plan(old, "Cluster Connection Success")
    new = copy.deepcopy(old)
    _remove_property(new)
    del new["events"]["Cluster Connection Success"]
    diff = diff_bundles(old, new)
    assert [(c.kind, c.name, c.prop, c.planned) for c in diff] == [
        (ChangeKind.PROPERTY_REMOVED, SUCCESS, "infra_id", True),
        (ChangeKind.EVENT_REMOVED, "Cluster Connection Success", None, True),
    ]
    assert not diff.is_breaking and diff.breaking == ()
    assert render_diff(diff, ReportFormat.TEXT, old="a", new="b").splitlines() == [
        f'compatible  {SUCCESS}: "infra_id" removed (while planned)',
        "compatible  Cluster Connection Success removed (while planned)",
        "2 changes: 0 breaking, 2 compatible (a → b)",
    ]
    assert diff.to_dict()["changes"][1]["planned"] is True
    # The same removal from an active event still breaks.
    assert diff_bundles(CATALOG.schema_bundle(), new).is_breaking


def test_an_event_added_as_planned_says_so() -> None:
    old = CATALOG.schema_bundle()
    new = copy.deepcopy(old)
    _add_event(new)
    _plan(new, "Cluster Resized")
    [change] = diff_bundles(old, new)
    assert (change.kind, change.planned, change.breaking) == (ChangeKind.EVENT_ADDED, True, False)
    assert change.summary == "Cluster Resized added (planned)"
