"""Scopes: who and what an event is about, and the id properties that follow from it.

A scope is the chain of objects an event belongs to (user → project → cluster or registry →
application). Every track spec names the narrowest scope it needs; the scope then adds its ids to
the event's properties under the property names of the original Go package (`proj_id`,
`cluster_id`, …), so that warehouse queries written against the old events keep working.

A scope is registered by being defined, as a spec is (`analytics.spec`): a subclass of a scope with
its own `label` and `description` joins `SCOPES`, which the catalog's pages, the tester and the
command line read, so a new scope cannot be half known::

    class BillingAccountScope(ProjectScope):
        \"\"\"A user acting on the billing account of a project.\"\"\"

        label: ClassVar[str] = "Billing account"
        description: ClassVar[str] = "Something that happened to a project's billing account."

        billing_account_id: ScopeId = _id_field("Id of the billing account.", 55, "billing_account_id")

Attributes on each field's `json_schema_extra`:
    x-property: the Segment property name the id is sent as (absent for `user_id`, which becomes
        the message's `userId` instead of a property).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from analytics.catalog_package import in_catalog_package, warn_foreign
from analytics.checked_model import CheckedModel
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


def _depth(scope: type[UserScope]) -> int:
    """How many scopes are wider than this one: 0 for the user scope."""
    parent = scope.parent()
    return 0 if parent is None else 1 + _depth(parent)


def _short_names(scope: type[UserScope]) -> dict[str, str]:
    """Each of the scope's fields with its short name: its `short_names` entry, or the name without
    `_id`."""
    return {name: scope.short_names.get(name, name.removesuffix("_id")) for name in scope.model_fields}


class ScopeRegistry:
    """Every scope class defined so far: a scope joins by being defined (`UserScope`'s subclasses).

    Iterating gives them widest first, the order the catalog shows them in: by depth in the
    hierarchy, then in the order they were defined (user → project → cluster, registry →
    application), so a scope a fork adds sits among the scopes as wide as it, not at the end.

    Attributes:
        defined: the scope classes in the order they were defined.
    """

    def __init__(self) -> None:
        self.defined: list[type[UserScope]] = []

    def add(self, scope: type[UserScope]) -> None:
        """Register a scope; one whose label or field short name another scope has is refused.

        Raises:
            TypeError: the label or a short name is taken: the catalog's scope filter, the tester
                and `event-catalog send --scope` would not know which scope or id is meant.
        """
        for other in self.defined:
            if other.label.casefold() == scope.label.casefold():
                taken = f"{other.__name__} ({other.label!r})"
                raise TypeError(f"{scope.__name__}: the label {scope.label!r} is taken by {taken}")
        fields = self.id_fields()
        for name, short in _short_names(scope).items():
            clash = next(
                (field for field, other in fields.items() if field != name and short in (field, other)), None
            )
            if clash is not None:
                raise TypeError(
                    f"{scope.__name__}: the short name {short!r} of {name!r} is {clash!r}'s already: "
                    "give the field another in the scope's short_names"
                )
        self.defined.append(scope)

    def __iter__(self) -> Iterator[type[UserScope]]:
        return iter(self.ordered())

    def ordered(self) -> tuple[type[UserScope], ...]:
        """The scopes widest first (see the class docstring)."""
        return tuple(sorted(self.defined, key=_depth))

    def id_fields(self) -> dict[str, str]:
        """Every scope field (an id, or an application's name), widest first, with its short name:
        `project_id` → `project`, as `event-catalog send --scope project=12` spells it."""
        fields: dict[str, str] = {}
        for scope in self.ordered():
            for name, short in _short_names(scope).items():
                fields.setdefault(name, short)
        return fields


SCOPES = ScopeRegistry()
"""Every scope, registered by being defined; iterate for the scopes widest first."""


class UserScope(CheckedModel):
    """A signed-in user: the widest scope, and so the base of every other one.

    Its id becomes the message's `userId` rather than a property. A subclass adds the ids of a
    narrower scope and is registered in `SCOPES` by being defined; it needs its own `label` and
    `description`.

    Attributes:
        label: the scope's short name as shown in the catalog ("Project", "Cluster", …).
        description: what the scope means, for product managers.
        short_names: a field's short name on the command line where it is not the field's name
            without `_id` (`--scope app=web` for `app_name`).
    """

    label: ClassVar[str] = "User"
    description: ClassVar[str] = "Something a person did before or outside any project."
    short_names: ClassVar[Mapping[str, str]] = {}

    user_id: ScopeId = _id_field("Id of the user the event is about.", 1, None)

    def __init_subclass__(cls, **registration: Any) -> None:
        """Accept the `registry=` class argument; `__pydantic_init_subclass__` reads it."""
        super().__init_subclass__()

    @classmethod
    def __pydantic_init_subclass__(cls, *, registry: ScopeRegistry | None = None, **kwargs: Any) -> None:
        """Register the new scope: defining it is what adds it to the catalog (`SCOPES`).

        A scope defined outside the catalog package joins no registry unless it is given one
        (`registry=`, as tests do): it warns (`analytics.catalog_package.ForeignSpecWarning`), as a
        spec does, since the catalog's pages, the tester and `lint` would not know it.

        Raises:
            TypeError: it has no `label` or `description` of its own, and would show as its
                parent's; or its label or a field's short name is another scope's.
        """
        super().__pydantic_init_subclass__(**kwargs)
        missing = [name for name in ("label", "description") if name not in vars(cls)]
        if missing:
            raise TypeError(
                f"{cls.__name__}: a scope needs its own {' and '.join(missing)} (ClassVar[str]), "
                f"or the catalog would show it as {cls.__bases__[0].__name__}"
            )
        if registry is not None:
            registry.add(cls)
        elif in_catalog_package(cls):
            SCOPES.add(cls)
        else:
            warn_foreign(cls, "scope", "analytics/scopes.py")

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


SCOPES.add(UserScope)


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
    short_names: ClassVar[Mapping[str, str]] = {
        "app_name": "app",
        "app_namespace": "namespace",
        "chart_name": "chart",
    }

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


@functools.cache
def _id_property_names(scope: type[UserScope]) -> tuple[tuple[str, str], ...]:
    """`property_fields` as (field, property) pairs, worked out once per scope class: every
    `track` call reads them, and scope classes do not change."""
    return tuple(scope.property_fields().items())
