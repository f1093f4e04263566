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

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

ANY_KEY = "*"
"""The path step for every key of a mapping."""


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


class FieldTree:
    """Field paths (`field_paths`) as a tree of their steps, so that a payload's key is looked up where
    it sits rather than compared with every path: every send asks it of every key.

    Attributes:
        fields: the steps below, by name (`ANY_KEY` for every key of a mapping).
        here: whether a field ends at this step.
    """

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self.fields: dict[str, FieldTree] = {}
        self.here = False
        for path in paths:
            node = self
            for step in path.split("."):
                node = node.fields.setdefault(step, FieldTree())
            node.here = True

    def declares(self, steps: Iterable[str]) -> bool:
        """Whether a value's location (its keys from the top, list items not a step) is a field."""
        node: FieldTree | None = self
        for step in steps:
            if node is None:
                return False
            node = node.fields.get(step) or node.fields.get(ANY_KEY)
        return node is not None and node.here
