"""The schema of a property's value, under the wrappers pydantic puts around it.

A spec's JSON Schema names a property's type through a `$ref` into `$defs` (enums, nested models)
or an `anyOf` with `null` (optional values). The catalog's type column, the bounds and the pattern
all read the value's own schema, so they unwrap it here, the same way. A nested model (a property
`payment_method: PaymentMethod`, or `line_items: list[LineItem]`) has fields of its own, which the
catalog lists and the diff compares as properties in their own right, by path
(`payment_method.kind`, `line_items[].quantity`): `held_object` finds them, the same way for both.
Whether such an object also takes keys it does not declare (a free-form `dict[str, Any]`, a model
with `extra="allow"`) is `other_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def value_schema(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property's value schema with `$ref`s followed and a nullable `anyOf` reduced to its type.

    Args:
        schema: the property's JSON Schema.
        defs: the enclosing schema's `$defs`, for `$ref`s.

    Returns:
        The value's schema (empty for a union of several types, which has no single type) and
        whether `null` is allowed too.
    """
    if "$ref" in schema:
        return value_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        return (value_schema(options[0], defs)[0] if len(options) == 1 else {}), nullable
    return schema, False


@dataclass(frozen=True)
class HeldObject:
    """The object with fields of its own that a property's value holds (a nested model), itself or as
    its array's items (a list of models).

    Attributes:
        marker: what a field's path puts between the property's name and `.field`: empty for an
            object (`payment_method.kind`), `[]` for the items of an array (`line_items[].quantity`),
            `[][]` for a list of lists.
        schema: the object's own schema, `$ref` followed: its `properties` and `required`.
    """

    marker: str
    schema: dict[str, Any]

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        """Each field's JSON Schema, by name, in declaration order."""
        fields: dict[str, dict[str, Any]] = self.schema.get("properties", {})
        return fields

    @property
    def required(self) -> frozenset[str]:
        """The fields every such object carries."""
        return frozenset(self.schema.get("required", ()))


def held_object(
    schema: dict[str, Any], defs: dict[str, Any], within: tuple[dict[str, Any], ...] = ()
) -> HeldObject | None:
    """The object with declared fields that a property holds, through `$ref`s, a nullable `anyOf` and
    arrays, if any.

    Args:
        schema: the property's (or a field's) JSON Schema.
        defs: the enclosing schema's `$defs`, for `$ref`s.
        within: the objects the property already sits in. A recursive model (a `Node` with
            `children: list[Node]`) holds one of them again: its fields are listed once, not
            without end, so that object is not returned.

    Returns:
        The object, or None for a value without fields of its own (a scalar, a list of scalars, a
        `dict[str, …]`, a union of several types).
    """
    value, _ = value_schema(schema, defs)
    if value.get("type") == "array":
        inner = held_object(value.get("items", {}), defs, within)
        return HeldObject(f"[]{inner.marker}", inner.schema) if inner else None
    if "properties" not in value or any(value is outer for outer in within):
        return None
    return HeldObject("", value)


def other_keys(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[str, bool] | None:
    """Whether the object a property's value holds (itself, or as its list's items) takes keys beyond
    the fields it declares, with the marker its fields' paths put after the property's (see
    `HeldObject.marker`).

    pydantic writes a model's `extra` as `additionalProperties`: `false` for `"forbid"`, `true` for
    `"allow"`, and nothing for `"ignore"`, which drops other keys before a message is built, so such a
    model sends none. A mapping (`dict[str, Any]`, `dict[str, int]`) declares no fields and takes any
    key: `additionalProperties` is `true` or the values' schema, or absent for a bare `dict`.

    Args:
        schema: the property's (or a field's) JSON Schema.
        defs: the enclosing schema's `$defs`, for `$ref`s.

    Returns:
        The marker and whether other keys are taken; None for a value that holds no object (a scalar,
        a list of scalars, a union of several types).
    """
    value, _ = value_schema(schema, defs)
    if value.get("type") == "array":
        inner = other_keys(value.get("items", {}), defs)
        return (f"[]{inner[0]}", inner[1]) if inner else None
    if value.get("type") != "object" and "properties" not in value:
        return None
    extra = value.get("additionalProperties")
    takes_others = "properties" not in value if extra is None else extra is not False
    return "", takes_others
