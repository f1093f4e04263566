"""A spec or scope copied with changes is checked as building one is (`analytics.checked_model`)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from analytics.events import SegmentEvent
from analytics.scopes import ClusterScope, ProjectScope, UserScope
from analytics.spec import Category, SpecRegistry, Team, TrackSpec, prop
from analytics.tracks import ClusterKind, ClusterProvisioningSuccess

SPEC = ClusterProvisioningSuccess(
    scope=ClusterScope(user_id=1, project_id=2, cluster_id=3), cluster_type=ClusterKind.EKS, infra_id=9
)

REGISTRY = SpecRegistry()


class PlanChosen(
    TrackSpec,
    event=SegmentEvent.ProjectDelete,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    registry=REGISTRY,
):
    """A plan was chosen; its fields are read from keywords that are not their names."""

    scope: UserScope
    kind: str = prop("Plan kind.", example="pro", alias="type")
    seats: int = prop("Seats bought.", example=3, validation_alias="seat_count", ge=1)


def test_a_copy_of_a_spec_with_aliased_fields_is_checked_by_field_name() -> None:
    """The copy was validated from the fields by name while validation reads an aliased field by its
    alias: every copy with changes was refused, even one that left the aliased fields alone."""
    spec = PlanChosen(scope=UserScope(user_id=1), type="pro", seat_count=3)

    other = spec.model_copy(update={"scope": UserScope(user_id=2)})
    assert (other.scope.user_id, other.kind, other.seats) == (2, "pro", 3)
    assert spec.model_copy(update={"kind": "team", "seats": 5}).own_values() == {"kind": "team", "seats": 5}
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        spec.model_copy(update={"seats": 0})


def test_a_copy_for_another_cluster_is_the_same_event_with_the_new_ids() -> None:
    other = SPEC.model_copy(update={"scope": ClusterScope(user_id=1, project_id=2, cluster_id=4)})

    assert type(other) is ClusterProvisioningSuccess
    assert other.properties() == {**SPEC.properties(), "cluster_id": 4}
    assert SPEC.properties()["cluster_id"] == 3, "the original is unchanged"


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (
            {"scope": ProjectScope(user_id=1, project_id=2)},
            "instance of ClusterScope",
        ),
        ({"infra_id": "nine"}, "valid integer"),
        ({"infra_idd": 9}, "Extra inputs are not permitted"),
    ],
)
def test_a_copy_with_a_value_no_constructor_accepts_is_refused(
    update: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SPEC.model_copy(update=update)


def test_a_scope_copied_with_a_bad_id_is_refused() -> None:
    scope = ClusterScope(user_id=1, project_id=2, cluster_id=3)

    with pytest.raises(ValidationError, match="cluster_id"):
        scope.model_copy(update={"cluster_id": -5})
    assert scope.model_copy(update={"cluster_id": 8}).cluster_id == 8


def test_a_deep_copy_without_changes_is_equal_and_still_frozen() -> None:
    copied = SPEC.model_copy(deep=True)

    assert copied == SPEC and copied is not SPEC
    with pytest.raises(ValidationError, match="frozen"):
        copied.infra_id = 10  # type: ignore[misc]
