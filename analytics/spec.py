"""Base classes for track and identify specs, and the registry they enrol in by being defined.

A spec is a pydantic model: one class per event (or identify call), its scope as a typed field and
its own properties as further fields. Defining a subclass with its catalog metadata as class
arguments registers it; there is no second place to list it, so an event cannot be added to the
package without the catalog knowing about it::

    class ClusterProvisioningSuccess(
        TrackSpec, event=SegmentEvent.ClusterProvisioningSuccess, category=Category.PROVISIONING,
        owner=Team.INFRASTRUCTURE,
    ):
        \"\"\"A new cluster finished provisioning and is ready to use.\"\"\"

        scope: ClusterScope
        cluster_type: ClusterKind = prop("Kind of cluster.", example=ClusterKind.EKS)
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator
from pydantic.fields import FieldInfo

from analytics.catalog_package import in_catalog_package, refuse_shipped_registry, warn_foreign
from analytics.checked_model import CheckedModel
from analytics.events import SegmentEvent
from analytics.nested import PERSONAL_DATA_KEY as PERSONAL_DATA_KEY  # where diff, lint and forks read it
from analytics.nested import field_paths, has_serializer, schema_extra
from analytics.scopes import UserScope
from analytics.storable_text import TypedCheck, check_json_value, check_typed_value, typed_check

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

DEFAULT_STALE_AFTER = timedelta(days=30)
"""Catalog-wide default: an event not seen for this long is reported stale by `event-catalog drift`.

Rare events (teardowns, failures, quota requests) declare a longer threshold of their own with the
`stale_after=` class argument.
"""


class Status(StrEnum):
    """Lifecycle of an event or identify spec: planned → active → deprecated.

    A *planned* spec is declared before any application sends it, as a tracking-plan spreadsheet's
    status column has it: engineers build it from the catalog and try it in the tester, `drift` does
    not expect it to be sent (and says so when an application does: mark it active then), and `diff`
    treats its changes as compatible, since no data consumer has been promised its data yet.
    """

    PLANNED = "planned"
    ACTIVE = "active"
    DEPRECATED = "deprecated"

    @property
    def expects_traffic(self) -> bool:
        """Whether applications are meant to send it: a planned event is not yet, a deprecated one no
        longer, so neither is ever *never sent* or *stale*."""
        return self is Status.ACTIVE


class Category(StrEnum):
    """The groups of the original package, in its order."""

    ONBOARDING = "Onboarding"
    PROVISIONING = "Provisioning and connections"
    LAUNCH = "Launch flow"
    DELETION = "Delete events"
    APPS = "Apps"
    INFRASTRUCTURE = "New infrastructure flow"
    IDENTITY = "Identity"


class Team(StrEnum):
    """Owning teams: who to ask about an event, and who approves changes to it."""

    GROWTH = "growth"
    INFRASTRUCTURE = "infrastructure"
    APPLICATIONS = "applications"
    IDENTITY = "identity"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Contact:
    """How to reach an owning team: what a catalog reader needs to know *who to ask*.

    Attributes:
        channel: a chat channel (`#growth-analytics`) or a link to one.
        email: the team's address.

    Raises:
        TypeError: neither is given, one is blank or spans lines, or the email is not an address
            (at import, as a spec's own mistakes are).
    """

    channel: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if self.channel is None and self.email is None:
            raise TypeError("a Contact needs a channel=, an email= or both")
        for name, value in (("channel", self.channel), ("email", self.email)):
            if value is not None and (not value.strip() or value != value.strip() or "\n" in value):
                raise TypeError(f"Contact {name}={value!r}: give it without blanks around it, on one line")
        if self.email is not None and not _EMAIL.match(self.email):
            raise TypeError(f"Contact email={self.email!r} is not an email address")

    @property
    def channel_url(self) -> str | None:
        """The channel as a link when it is one (`https://…`), else None (a `#name` is shown as text)."""
        return self.channel if self.channel and self.channel.startswith(("https://", "http://")) else None

    def __str__(self) -> str:
        return " · ".join(value for value in (self.channel, self.email) if value)


TEAM_CONTACTS: dict[str, Contact] = {}
"""Who to ask about each team's events, by team; a team without an entry is shown by its name alone.

A fork fills it next to its `Team` members, e.g.
`TEAM_CONTACTS = {Team.GROWTH: Contact(channel="#growth-analytics", email="growth@example.com")}`:
the catalog pages, the exports and `event-catalog drift` then show it wherever the owner is shown.
"""


def contact_of(owner: str) -> Contact | None:
    """The owning team's contact, or None when `TEAM_CONTACTS` has none for it."""
    return TEAM_CONTACTS.get(str(owner))


def prop(description: str, *, example: Any, personal_data: bool | None = None, **constraints: Any) -> Any:
    """Declare a spec property with the metadata the catalog shows.

    Args:
        description: what the value means, in words a product manager understands.
        example: a realistic value; it feeds the catalog, the tester's placeholders and the
            generated example payloads.
        personal_data: whether the value identifies a person; such values are masked in the audit
            log unless configured otherwise. Unsaid (None), it is not personal data; `False` says so
            on purpose, which lint asks of a free-form value (EC017), and then no key inside it is
            masked for its name either.
        **constraints: further `pydantic.Field` arguments (`default`, `min_length`, …).

    Returns:
        A `pydantic.Field` carrying all of the above in its JSON Schema.
    """
    extra: dict[str, Any] = {} if personal_data is None else {PERSONAL_DATA_KEY: personal_data}
    return Field(description=description, examples=[example], json_schema_extra=extra, **constraints)


class SpecRegistry:
    """Every spec class defined so far, in definition order.

    Duplicates are kept rather than refused so that `event-catalog lint` can report them with both
    class names instead of the import failing halfway.
    """

    def __init__(self) -> None:
        self.tracks: list[type[TrackSpec]] = []
        self.identifiers: list[type[IdentifySpec]] = []


_PAYLOAD_MODELS: dict[type[BaseModel], type[BaseModel]] = {}
"""Each spec class's flat payload model (see `_Spec._payload_model`)."""

REGISTRY = SpecRegistry()
"""The registry of the shipped catalog: the specs the catalog package defines. Tests pass a registry of
their own (`registry=`); a spec defined elsewhere without one joins none (`_registry_for`)."""


class _Spec(CheckedModel):
    """What track and identify specs share: immutability, strictness, checked copies and catalog metadata.

    Attributes:
        outside_catalog: whether the spec was defined outside the catalog package and given no registry,
            so that it joined none (`_registry_for`): no `lint` read it, and the audit log masks its
            properties named like personal data whether it marks them or not (`analytics.catalog`).
    """

    category: ClassVar[Category]
    owner: ClassVar[str]
    status: ClassVar[Status]
    outside_catalog: ClassVar[bool] = False
    scope: UserScope

    def __init_subclass__(cls, **catalog_metadata: Any) -> None:
        """Accept the catalog metadata class arguments, which `__pydantic_init_subclass__` records."""
        super().__init_subclass__()

    @classmethod
    def __pydantic_init_subclass__(cls, **catalog_metadata: Any) -> None:
        """Record the catalog metadata class arguments once pydantic has built the class: in
        `__init_subclass__`, which runs first, the model's fields are not set up yet."""
        super().__pydantic_init_subclass__()
        cls._catalog_metadata(**catalog_metadata)

    @classmethod
    def _catalog_metadata(cls) -> None:
        """Record the class arguments: `TrackSpec` and `IdentifySpec` name theirs one by one, so that
        any other keyword fails the class statement."""

    @field_validator("*", mode="after")
    @classmethod
    def _sendable_value(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse a value no message can carry or the audit log would refuse (`check_json_value`), at
        any depth: in a nested model, a list, a dict's keys and values. Unchecked, `track` raised
        for it, or the message was lost after `track` had returned. The scope checks its own text.

        A field of a declared type (text, numbers, models and lists of them) has only its text and
        floats read (`typed_check`); a free-form one is made JSON whole (`check_json_value`).
        """
        if info.field_name is None or info.field_name == "scope":
            return value
        if (check := _typed_check(cls, info.field_name)) is not None:
            return check_typed_value(value, check)
        check_json_value(value)
        return value

    @field_validator("scope", mode="after")
    @classmethod
    def _exactly_the_declared_scope(cls, scope: UserScope) -> UserScope:
        """Refuse a narrower scope than the spec declares: pydantic keeps an instance of a subclass as
        it is, and its further ids (an `ApplicationScope`'s `app_name` on a cluster event) would be
        sent as properties the event's own schema forbids."""
        declared = cls.scope_class()
        if type(scope) is not declared:
            raise ValueError(
                f"must be exactly {declared.__name__}, not {type(scope).__name__}: "
                f"{cls.__name__} carries only the ids of its own scope"
            )
        return scope

    @classmethod
    def summary(cls) -> str:
        """The docstring's first line: the one-line description a product manager reads."""
        return cls.description().split("\n", 1)[0]

    @classmethod
    def description(cls) -> str:
        """The whole docstring, which also says how a scope was chosen where the source was silent."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def scope_class(cls) -> type[UserScope]:
        """The scope this spec requires."""
        annotation = cls.model_fields["scope"].annotation
        assert isinstance(annotation, type) and issubclass(annotation, UserScope)
        return annotation

    @classmethod
    def own_fields(cls) -> dict[str, Any]:
        """The spec's own property fields (everything but the scope), by name."""
        return {name: field for name, field in cls.model_fields.items() if name != "scope"}

    @classmethod
    def personal_data_keys(cls) -> frozenset[str]:
        """Paths of the payload values that hold personal data: a property's name, or a nested
        model's field by its path (`payment_method.cardholder_name`, `analytics.nested`). Worked
        out once per spec class: every send asks."""
        return _personal_data_keys(cls)

    def own_values(self) -> dict[str, Any]:
        """The spec's own values as JSON types; optional values left unset are not sent."""
        return self.model_dump(mode="json", exclude={"scope"}, exclude_none=True)

    @classmethod
    def _payload_model(cls, title: str, fields: Callable[[], dict[str, Any]]) -> type[BaseModel]:
        # Built once per spec class: pages, drift checks and schemas all ask for it, and building a
        # pydantic model costs far more than validating with one. Specs are immutable classes. The
        # fields are gathered only to build it: the event list asks once per event and page.
        model = _PAYLOAD_MODELS.get(cls)
        if model is None:
            model = create_model(  # type: ignore[call-overload]
                f"{cls.__name__}Payload",
                __config__=ConfigDict(extra="forbid", title=title),
                __doc__=cls.summary(),
                **{name: (field.annotation, copy(field)) for name, field in fields().items()},
            )
            _PAYLOAD_MODELS[cls] = model
        return model

    @classmethod
    def catalog_keywords(cls) -> dict[str, Any]:
        """Catalog metadata as `x-` keywords, so an exported schema bundle can be diffed alone."""
        return {
            "x-category": str(cls.category),
            "x-owner": str(cls.owner),
            "x-status": str(cls.status),
            "x-scope": cls.scope_class().label,
        }

    @classmethod
    def _schema(cls, model: type[BaseModel], schema_id: str) -> dict[str, Any]:
        schema = model.model_json_schema()
        return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_id, **schema, **cls.catalog_keywords()}


class TrackSpec(_Spec):
    """Base of every track spec.

    Attributes:
        event: the `SegmentEvent` this spec builds.
        category: the catalog group.
        owner: the owning team.
        status: planned (declared, not sent by an application yet), active or deprecated.
        replaced_by: for a deprecated event, the event to send instead.
        stale_after: how long the event may go unseen before drift calls it stale.
    """

    event: ClassVar[SegmentEvent]
    replaced_by: ClassVar[SegmentEvent | None] = None
    stale_after: ClassVar[timedelta] = DEFAULT_STALE_AFTER

    @classmethod
    def _catalog_metadata(
        cls,
        *,
        event: SegmentEvent | None = None,
        category: Category | None = None,
        owner: str | None = None,
        status: Status = Status.ACTIVE,
        replaced_by: SegmentEvent | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        registry: SpecRegistry | None = None,
    ) -> None:
        """Record the catalog metadata and register the class; a class without `event` is a base.

        Registered in `registry`, by default the shipped catalog's (`_registry_for`). The keywords are
        named one by one so that a misspelt one (`stale_afer=`) fails the class statement: taken as
        `**kwargs`, it was dropped silently. mypy does not check a class statement's keywords against
        this signature: it skips that check for a class with a metaclass of its own (pydantic's), so
        another enum's member as `event=` type-checks, and `lint` (EC008) is what holds a catalog
        spec's event to `SegmentEvent`'s strings.

        Raises:
            TypeError: a keyword it does not take, or `event` without `category` and `owner`.
        """
        if event is None:
            return
        if category is None or owner is None:
            raise TypeError(f"{cls.__name__}: a track spec needs category= and owner= as well as event=")
        cls.event, cls.category, cls.owner = event, category, owner
        cls.status, cls.replaced_by, cls.stale_after = _status(cls, status), replaced_by, stale_after
        into = _registry_for(cls, registry, "track spec", "analytics/tracks.py")
        cls.outside_catalog = into is None
        if into is not None:
            into.tracks.append(cls)

    @classmethod
    def catalog_keywords(cls) -> dict[str, Any]:
        """The shared keywords plus the event's constant and, when deprecated, its replacement."""
        keywords = {
            **super().catalog_keywords(),
            "x-event": cls.event.name,
            "x-stale-after-days": cls.stale_after.days,
        }
        if cls.replaced_by is not None:
            keywords["x-replaced-by"] = str(cls.replaced_by)
        return keywords

    def properties(self) -> dict[str, Any]:
        """The Segment `properties`: the scope's ids, then the spec's own values."""
        return {**self.scope.id_properties(), **self.own_values()}

    @classmethod
    def property_fields(cls) -> dict[str, Any]:
        """Every property the event carries, by Segment name: the scope's ids, then its own."""
        scope = cls.scope_class()
        fields = {prop: scope.model_fields[name] for name, prop in scope.property_fields().items()}
        return {**fields, **cls.own_fields()}

    @classmethod
    def payload_model(cls) -> type[BaseModel]:
        """A flat pydantic model of `properties`, so stored payloads can be validated again."""
        return cls._payload_model(str(cls.event), cls.property_fields)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the event's `properties`, generated by pydantic."""
        return cls._schema(cls.payload_model(), f"event-catalog:events/{cls.__name__}")


class IdentifySpec(_Spec):
    """Base of every identify spec: who a user is, sent on register, login and profile update.

    Attributes:
        name: the identify call's name in the catalog ("Register", …).
    """

    name: ClassVar[str]

    @classmethod
    def _catalog_metadata(
        cls,
        *,
        name: str | None = None,
        owner: str | None = None,
        status: Status = Status.ACTIVE,
        registry: SpecRegistry | None = None,
    ) -> None:
        """Record the catalog metadata and register the class; a class without `name` is a base.

        Registered in `registry`, by default the shipped catalog's (`_registry_for`); the keywords are
        named one by one as `TrackSpec`'s are.

        Raises:
            TypeError: a keyword it does not take, or `name` without `owner`.
        """
        if name is None:
            return
        if owner is None:
            raise TypeError(f"{cls.__name__}: an identify spec needs owner= as well as name=")
        cls.name, cls.owner, cls.status, cls.category = name, owner, _status(cls, status), Category.IDENTITY
        into = _registry_for(cls, registry, "identify spec", "analytics/identifiers.py")
        cls.outside_catalog = into is None
        if into is not None:
            into.identifiers.append(cls)

    def traits(self) -> dict[str, Any]:
        """The Segment `traits`: the spec's own values."""
        return self.own_values()

    @classmethod
    def property_fields(cls) -> dict[str, Any]:
        """Every trait, by Segment name."""
        return cls.own_fields()

    @classmethod
    def payload_model(cls) -> type[BaseModel]:
        """A flat pydantic model of `traits`, so stored payloads can be validated again."""
        return cls._payload_model(cls.name, cls.property_fields)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the identify call's `traits`, generated by pydantic."""
        return cls._schema(cls.payload_model(), f"event-catalog:identifiers/{cls.__name__}")


def _registry_for(spec: type, given: SpecRegistry | None, kind: str, home: str) -> SpecRegistry | None:
    """The registry a new spec joins: the one it was given, else the shipped catalog's, which only the
    catalog package's specs join. A spec an application defines in its own module is left out of it
    with a `ForeignSpecWarning` (`analytics.catalog_package`): in the catalog, it changed this process's
    catalog version alone, and the dashboard reported the application's events as removed. Given the
    shipped registry itself, it is refused, as it would join the catalog in that process alone.

    Raises:
        TypeError: a spec outside the catalog package given the shipped registry, or one the log would
            take for the catalog's (`_refuse_catalog_clash`).
    """
    if given is REGISTRY and not in_catalog_package(spec):
        raise refuse_shipped_registry(spec, kind, home)
    if given is not None:
        return given
    if in_catalog_package(spec):
        return REGISTRY
    _refuse_catalog_clash(spec)
    warn_foreign(spec, kind, home)
    return None


def _refuse_catalog_clash(spec: type) -> None:
    """Refuse a spec outside the catalog that the log would take for one of the catalog's.

    In the package a duplicate is kept for `lint` to report (EC009) rather than failing the import;
    no `lint` reads an application's spec, so its class statement is the one place to say it: a track
    spec for an event the catalog has sent the catalog's event string with another schema, which the
    audit log, `drift` and the event's page then mixed with the catalog's; an identify spec is named
    by its class (`Identify: <class>`), which a catalog identify spec's class or name would shadow.

    Raises:
        TypeError: the spec's event or class name is the catalog's.
    """
    import analytics.identifiers  # noqa: F401  (the catalog's specs, checked against: imported by now
    import analytics.tracks  # noqa: F401  in an application, but not necessarily before its own specs)

    if issubclass(spec, TrackSpec):
        for own in REGISTRY.tracks:
            if str(own.event) == str(spec.event):
                raise TypeError(
                    f'{spec.__name__} is declared for "{spec.event}", the event of the catalog\'s '
                    f"{own.__name__}, with a schema of its own the audit log would mix with it: send "
                    f"{own.__name__}, or declare a new event name for {spec.__name__}"
                )
        return
    for own_identify in REGISTRY.identifiers:
        if spec.__name__ in (own_identify.__name__, own_identify.name):
            raise TypeError(
                f"{spec.__name__} is named like the catalog's identify spec {own_identify.__name__} "
                f'("{own_identify.name}"), and the audit log would show both as one call: send '
                f"{own_identify.__name__}, or give {spec.__name__} another class name"
            )


def _status(spec: type, status: Status | str) -> Status:
    """The status as the enum member: every reader compares with `is`, so `status="planned"` written as
    text would otherwise pass for no status at all.

    Raises:
        TypeError: not one of the statuses.
    """
    try:
        return Status(status)
    except ValueError:
        choices = ", ".join(f"Status.{member.name}" for member in Status)
        raise TypeError(f"{spec.__name__}: status={status!r} is not a status; use {choices}") from None


@functools.cache
def _typed_check(spec: type[_Spec], name: str) -> TypedCheck | None:
    """The check of a spec's field's values (`typed_check`), None for a free-form one: made once per
    spec and field, as every build of the spec asks."""
    field, decorators = spec.model_fields[name], spec.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return None
    if has_serializer(field.metadata):
        return None
    return typed_check(field.annotation)


@functools.cache
def _personal_data_keys(spec: type[_Spec]) -> frozenset[str]:
    keys: list[str] = []
    for path, field in field_paths(spec.own_fields()):
        # A personal value is masked whole: what it holds needs no path of its own.
        if is_personal_field(field) and not any(path.startswith(f"{key}.") for key in keys):
            keys.append(path)
    return frozenset(keys)


def is_personal_field(field: FieldInfo) -> bool:
    """Whether a field (a spec's or a nested model's) was declared `personal_data=True`."""
    return bool(schema_extra(field).get(PERSONAL_DATA_KEY))


def says_personal_data(field: FieldInfo) -> bool:
    """Whether a field says whether it is personal data, `personal_data=True` or `False` (EC017)."""
    return PERSONAL_DATA_KEY in schema_extra(field)
