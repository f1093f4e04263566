"""Whether a stored payload is valid under the catalog version that built it.

A message that fails the reader's schema but was built by a version first seen after the reader's
may only be ahead of it: a host that upgraded first. First seen is not release order, though (an
older release's host may start late), so the one thing that lets such a message off is its own
version's recorded schema (`catalog_versions.bundle`) accepting it. A message its own version
rejects is drift, however new or old that version is.

The bundle holds JSON Schemas, so they are checked with `jsonschema`, not with the spec classes
(which only today's code has). Personal data is stored masked (`masked:<hex>`) on purpose: an error
about a masked string value is not counted, as `analytics.payload_drift` does not count it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from analytics.personal_data import is_mask


def schema_in(
    bundle: Mapping[str, Any], kind: object, event: object, built_by: object
) -> Mapping[str, Any] | None:
    """The JSON Schema a recorded bundle has for a message: a track's by its event string, an
    identify call's by the spec that built it (its name, or the class name its `$id` ends with)."""
    if kind == "track":
        section: Mapping[str, Any] = bundle.get("events") or {}
        schema = section.get(event) if isinstance(event, str) else None
        return schema if isinstance(schema, Mapping) else None
    if kind != "identify" or not isinstance(built_by, str):
        return None
    calls: Mapping[str, Any] = bundle.get("identifiers") or {}
    for name, schema in calls.items():
        if isinstance(schema, Mapping) and built_by in (name, str(schema.get("$id", "")).rpartition("/")[2]):
            return schema
    return None


class OwnVersions:
    """Checks payloads against their own versions' bundles, each schema's validator built once."""

    def __init__(self, bundles: Mapping[str, Mapping[str, Any]]) -> None:
        self._bundles = bundles
        self._validators: dict[tuple[str, object, object, object], Draft202012Validator | None] = {}

    def validates(self, version: str, kind: object, event: object, built_by: object, payload: Any) -> bool:
        """Whether `version`'s recorded schema for the message accepts `payload` (its properties or
        traits, decoded); False when that version is not among the bundles or has no such schema."""
        key = (version, kind, event, built_by)
        if key not in self._validators:
            bundle = self._bundles.get(version)
            schema = schema_in(bundle, kind, event, built_by) if bundle is not None else None
            self._validators[key] = Draft202012Validator(schema) if schema is not None else None
        validator = self._validators[key]
        if validator is None:
            return False
        return not any(not is_mask(error.instance) for error in validator.iter_errors(payload))
