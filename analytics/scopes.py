"""Scopes: who and what an event is about, and the id properties that follow from it.

A scope is the chain of objects an event belongs to (user → project → cluster or registry →
application). Every track spec names the narrowest scope it needs; the scope then adds its ids to
the event's properties under the property names of the original Go package (`proj_id`,
`cluster_id`, …), so that warehouse queries written against the old events keep working.

Attributes on each field's `json_schema_extra`:
    x-property: the Segment property name the id is sent as (absent for `user_id`, which becomes
        the message's `userId` instead of a property).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from analytics.storable_text import check_storable

MAX_ID = 2**63 - 1
"""The largest id an event may carry: ids are 64-bit integers in the warehouses Segment loads into
and in the audit log's filter columns, so a larger one is refused when the spec is built."""


def is_id_text(text: str) -> bool:
    """Whether `text` writes a number as ids are written: the ASCII digits 0-9 alone.

    `str.isdigit` alone takes other scripts' digits (`"١٢"`, which `int()` reads as 12), and `int()`
    also takes a sign, `_` between digits and spaces around them.
    """
    return text.isascii() and text.isdigit()


def _whole_number(value: Any) -> Any:
    """Take an id as an integer, or as text of the digits 0-9 alone, which the tester's form, command
    line and API give. Pydantic's lax integer also took `"1.0"`, `"1_000"`, `" 1"`, `"+1"`, `1.0`
    and `True`, each silently as an id (1000 for `"1_000"`): a mistake upstream, sent as a real id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and is_id_text(value):
        return value  # pydantic reads it, and refuses one too large for any int with its own words
    raise PydanticCustomError(
        "scope_id", "Input should be a valid integer, as a whole number or as text of the digits 0-9 only"
    )


ScopeId = Annotated[int, BeforeValidator(_whole_number)]
"""A scope's id: an integer, or text of digits only (see `_whole_number`)."""


def _id_field(description: str, example: int, prop: str | None) -> Any:
    extra: dict[str, Any] = {"x-property": prop} if prop else {}
    return Field(gt=0, le=MAX_ID, description=description, examples=[example], json_schema_extra=extra)


class UserScope(BaseModel):
    """A signed-in user: the widest scope, and so the base of every other one.

    Its id becomes the message's `userId` rather than a property.

    Attributes:
        label: the scope's short name as shown in the catalog ("Project", "Cluster", …).
        description: what the scope means, for product managers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: ClassVar[str] = "User"
    description: ClassVar[str] = "Something a person did before or outside any project."

    user_id: ScopeId = _id_field("Id of the user the event is about.", 1, None)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Refuse text the audit log cannot store in a scope's names (an `ApplicationScope`'s), as a
        spec refuses it in its own properties: `analytics.storable_text`."""
        return check_storable(value) if isinstance(value, str) else value

    @classmethod
    def property_fields(cls) -> dict[str, str]:
        """Map each id field that becomes a property to its Segment property name."""
        mapping: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and isinstance(extra.get("x-property"), str):
                mapping[name] = str(extra["x-property"])
        return mapping

    @classmethod
    def parent(cls) -> type[UserScope] | None:
        """The next wider scope, or None for the user scope itself."""
        base = cls.__bases__[0]
        return base if issubclass(base, UserScope) else None

    def segment_user_id(self) -> str:
        """Segment ids are strings; the original package sent the decimal id."""
        return str(self.user_id)

    def id_properties(self) -> dict[str, Any]:
        """The ids this scope adds to an event's properties, under their Segment names."""
        return {prop: getattr(self, name) for name, prop in _id_property_names(type(self))}


class ProjectScope(UserScope):
    """A user acting inside one project."""

    label: ClassVar[str] = "Project"
    description: ClassVar[str] = "Something that happened in a project, done by one of its users."

    project_id: ScopeId = _id_field("Id of the project.", 12, "proj_id")


class ClusterScope(ProjectScope):
    """A user acting on one cluster of a project."""

    label: ClassVar[str] = "Cluster"
    description: ClassVar[str] = "Something that happened to a cluster that already exists."

    cluster_id: ScopeId = _id_field("Id of the cluster.", 4, "cluster_id")


class RegistryScope(ProjectScope):
    """A user acting on one container registry of a project."""

    label: ClassVar[str] = "Registry"
    description: ClassVar[str] = "Something that happened to a container registry that already exists."

    registry_id: ScopeId = _id_field("Id of the container registry.", 7, "registry_id")


class ApplicationScope(ClusterScope):
    """A user acting on one application deployed to a cluster."""

    label: ClassVar[str] = "Application"
    description: ClassVar[str] = "Something that happened to an application deployed on a cluster."

    app_name: str = Field(
        min_length=1,
        description="Name of the application (its Helm release).",
        examples=["web"],
        json_schema_extra={"x-property": "app_name"},
    )
    app_namespace: str = Field(
        min_length=1,
        description="Kubernetes namespace the application runs in.",
        examples=["default"],
        json_schema_extra={"x-property": "app_namespace"},
    )
    chart_name: str = Field(
        min_length=1,
        description="Helm chart the application was deployed from.",
        examples=["web"],
        json_schema_extra={"x-property": "chart_name"},
    )


SCOPES: tuple[type[UserScope], ...] = (UserScope, ProjectScope, ClusterScope, RegistryScope, ApplicationScope)
"""Every scope, widest first: the order the catalog shows them in."""


@functools.cache
def _id_property_names(scope: type[UserScope]) -> tuple[tuple[str, str], ...]:
    """`property_fields` as (field, property) pairs, worked out once per scope class: every
    `track` call reads them, and scope classes do not change."""
    return tuple(scope.property_fields().items())
