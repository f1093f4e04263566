"""The fields of a spec's nested models, by the path at which their values sit in a payload.

A property may hold a pydantic model (`payment_method: PaymentMethod`), a list of them
(`line_items: list[LineItem]`), an optional one, or a mapping of them. The catalog's rules are the
same for their fields as for the spec's own: masking must find personal data there, and lint must
check their names and descriptions. Both read them here, so they agree on what is nested and how its
path is spelt.

A path names keys from the payload's top, joined by dots (`payment_method.cardholder_name`). A
list is not a step of its own: `line_items.sku` is the `sku` of every item, as a product manager
reads it. The keys of a mapping are written `*` (`by_region.*.contact_email`).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import (
    AnyUrl,
    BaseModel,
    EmailStr,
    NameEmail,
    PlainSerializer,
    RootModel,
    SerializeAsAny,
    WrapSerializer,
)
from pydantic.fields import FieldInfo

ANY_KEY = "*"
"""The path step for every key of a mapping."""

PERSONAL_DATA_KEY = "x-personal-data"
"""JSON Schema keyword that flags a property as personal data (validators ignore unknown keywords)."""


def nested_models(annotation: Any) -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    """The models a field's annotation holds, each with the path steps to reach its fields.

    Optionals, unions, lists, tuples and sets add no step; a mapping adds `ANY_KEY` for its keys.
    """
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield (), annotation
        return
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping) and arguments:
        for steps, model in nested_models(arguments[-1]):
            yield (ANY_KEY, *steps), model
        return
    for argument in arguments:
        yield from nested_models(argument)


def is_free_form(annotation: Any) -> bool:
    """Whether a field's value may hold keys that no spec declares: `Any`, or a mapping of anything but
    models (`dict[str, Any]`, `dict[str, int]`), alone, optional or in a list. The audit log masks the
    keys inside it by their names only (`analytics.catalog.personal_paths`), so lint asks the spec to
    say whether it holds personal data."""
    if annotation is Any or annotation is dict:
        return True
    origin, arguments = get_origin(annotation), get_args(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return not arguments or next(nested_models(arguments[-1]), None) is None
    return any(is_free_form(argument) for argument in arguments)


_SCALARS = (
    str,
    int,
    float,
    bytes,
    Decimal,
    date,
    time,
    timedelta,
    UUID,
    PurePath,
    AnyUrl,
    EmailStr,
    NameEmail,
)
"""Types whose values a dump writes as JSON text, numbers or booleans, never as an object."""

SERIALIZERS = (PlainSerializer, WrapSerializer, SerializeAsAny)
"""`Annotated` metadata that may make a dump write other keys than the annotation's own."""


def has_serializer(metadata: Iterable[Any]) -> bool:
    """Whether a field's `Annotated` metadata (`FieldInfo.metadata`) holds one of `SERIALIZERS`: its
    values are then dumped by code of the author's, which no check here can read ahead."""
    return any(isinstance(item, SERIALIZERS) for item in metadata)


def fully_declared(annotation: Any, metadata: Iterable[Any] = ()) -> bool:
    """Whether every key of a value of this annotation, as its model dumps it, is a field `field_paths`
    names: no key in it can then be masked for its name (`analytics.catalog.personal_paths`), so a
    send need not walk it.

    Scalars are, and models (alone, optional, in a list) whose fields all are. A mapping (its keys are
    no field), a free-form value, a model that writes keys of its own (`model_dumps_fields_only`) or
    holds itself (`field_paths` stops there), and any type not known here are not: they are walked.

    Args:
        annotation: the field's type.
        metadata: what pydantic took out of its `Annotated` (`FieldInfo.metadata`).
    """
    return _fully_declared(annotation, metadata, frozenset())


def _fully_declared(annotation: Any, metadata: Iterable[Any], walking: frozenset[type[BaseModel]]) -> bool:
    if has_serializer(metadata):
        return False
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _fully_declared(arguments[0], annotation.__metadata__, walking)
    if annotation is None or annotation is type(None) or origin is Literal:
        return True
    if origin in (Union, types.UnionType, list, tuple, set, frozenset):
        return bool(arguments) and all(
            argument is Ellipsis or _fully_declared(argument, (), walking) for argument in arguments
        )
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, enum.Enum):
        return all(isinstance(member.value, (*_SCALARS, type(None))) for member in annotation)
    if issubclass(annotation, BaseModel):
        return (
            annotation not in walking
            and model_dumps_fields_only(annotation)
            and all(
                _fully_declared(field.annotation, field.metadata, walking | {annotation})
                for field in annotation.model_fields.values()
            )
        )
    return issubclass(annotation, _SCALARS)


def model_dumps_fields_only(model: type[BaseModel]) -> bool:
    """Whether a model's dump holds its fields by their names and nothing else: not a root model, no
    extra keys kept (`extra="allow"`), no computed field, serializer or alias."""
    decorators = model.__pydantic_decorators__
    return not (
        issubclass(model, RootModel)
        or model.model_config.get("extra") == "allow"
        or decorators.computed_fields
        or decorators.field_serializers
        or decorators.model_serializers
        or any(field.alias or field.serialization_alias for field in model.model_fields.values())
    )


def field_paths(fields: Mapping[str, FieldInfo]) -> Iterator[tuple[str, FieldInfo]]:
    """Every field by its payload path: the given ones, then those of the models they hold, depth first.

    A model that holds itself (a tree) is walked once per path from the top, not forever.
    """
    yield from _field_paths(fields, "", frozenset())


def _field_paths(
    fields: Mapping[str, FieldInfo], prefix: str, walking: frozenset[type[BaseModel]]
) -> Iterator[tuple[str, FieldInfo]]:
    for name, field in fields.items():
        path = f"{prefix}{name}"
        yield path, field
        for steps, model in nested_models(field.annotation):
            if model in walking:
                continue
            inner = ".".join((path, *steps)) + "."
            yield from _field_paths(model.model_fields, inner, walking | {model})


def schema_extra(field: FieldInfo) -> dict[str, Any]:
    """A field's `json_schema_extra`, where `prop()` writes `PERSONAL_DATA_KEY`; empty when it is none
    or a callable (pydantic takes one too), which says nothing here."""
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def says_no_personal_data(field: FieldInfo) -> bool:
    """Whether a field was declared `personal_data=False`: its author vouches that nothing in it is
    personal data, so no key inside it is masked for its name (`analytics.catalog.personal_paths`)."""
    return schema_extra(field).get(PERSONAL_DATA_KEY) is False


class FieldTree:
    """Fields (`field_paths`) as a tree of their paths' steps, so that a payload's key is looked up
    where it sits rather than compared with every path, and a value whose keys are all declared is
    known as such without walking it.

    Attributes:
        fields: the steps below, by name (`ANY_KEY` for every key of a mapping).
        here: whether a field ends at this step.
        closed: whether every key a dump writes below is a field (`fully_declared`); at the top, set by
            the tree's owner, who knows what else its dump writes.
        vouched: whether the field says it holds no personal data (`says_no_personal_data`).
    """

    def __init__(self, fields: Iterable[tuple[str, FieldInfo]] = ()) -> None:
        self.fields: dict[str, FieldTree] = {}
        self.here = False
        self.closed = False
        self.vouched = False
        for path, field in fields:
            node = self
            for step in path.split("."):
                node = node.fields.setdefault(step, FieldTree())
            # Two fields at one path (the members of a union): closed or vouched only if both are.
            node.closed = (node.closed or not node.here) and fully_declared(field.annotation, field.metadata)
            node.vouched = (node.vouched or not node.here) and says_no_personal_data(field)
            node.here = True

    def declares(self, steps: Iterable[str]) -> bool:
        """Whether a value's location (its keys from the top, list items not a step) is a field."""
        node: FieldTree | None = self
        for step in steps:
            if node is None:
                return False
            node = node.fields.get(step) or node.fields.get(ANY_KEY)
        return node is not None and node.here

    def vouched_for(self, steps: Iterable[str]) -> bool:
        """Whether a value's location is in a field declared `personal_data=False` (at or above it)."""
        node = self
        for step in steps:
            below = node.fields.get(step) or node.fields.get(ANY_KEY)
            if below is None:
                return False
            if below.here and below.vouched:
                return True
            node = below
        return False
