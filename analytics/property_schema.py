"""The schema of a property's value, under the wrappers pydantic puts around it.

A spec's JSON Schema names a property's type through a `$ref` into `$defs` (enums) or an `anyOf`
with `null` (optional values). The catalog's type column, the bounds and the pattern all read the
value's own schema, so they unwrap it here, the same way.
"""

from __future__ import annotations

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
