"""Payload drift of one audit entry: whether the stored message would still be valid today.

Specs change: a property is added, renamed, made required or narrowed. A message in the audit log
was valid when its catalog version built it; re-validating its payload against today's spec says
whether downstream consumers written against today's schema can read it, and how it differs.

Personal-data values are stored masked (`masked:<hex>`). A masked value of a string property (or
of a nested model's text field, or of a key masked for its name inside a free-form value) is what
the log keeps on purpose, not drift, so validation errors on such values are not reported.

`event-catalog drift`, the event list's "drifting" badge and the audit entry page all judge a stored
payload here, so they agree on what counts as drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from analytics.catalog import CATALOG, Catalog, SpecInfo, masked_by_name
from analytics.messages import catalog_marker, payload_of
from analytics.personal_data import covers, is_mask

# pydantic's error types that deserve words a reviewer reads without knowing pydantic.
_PROBLEMS = {
    "missing": "required today, absent from the stored message",
    "extra_forbidden": "not a property of this event today",
}


@dataclass(frozen=True)
class Difference:
    """One way a stored payload fails today's schema.

    Attributes:
        field: the property (dotted for nested values, empty for the payload as a whole).
        problem: what is wrong, in words.
        stored: the stored value, or None when the property is absent (`missing` tells which).
        missing: whether the property is absent from the stored payload.
    """

    field: str
    problem: str
    stored: Any = None
    missing: bool = False


@dataclass(frozen=True)
class Drift:
    """How a stored message compares with today's catalog.

    Attributes:
        spec: today's catalog entry for the message, or None when the catalog no longer has one.
        differences: what fails today's schema; empty when the payload still validates.
        sent_off_schema: the message was sent off-schema on purpose (a tester experiment marked
            `offSchema`): its differences are what was tried, not drift since it was sent.
    """

    spec: SpecInfo | None
    differences: tuple[Difference, ...] = ()
    sent_off_schema: bool = False

    @property
    def validates(self) -> bool:
        """Whether the stored payload is valid against today's schema."""
        return self.spec is not None and not self.differences

    @property
    def first_problem(self) -> str | None:
        """The first difference in one line (`field: problem`), or None when there is none."""
        if not self.differences:
            return None
        first = self.differences[0]
        return f"{first.field}: {first.problem}" if first.field else first.problem


def spec_of(message: dict[str, Any], catalog: Catalog = CATALOG) -> SpecInfo | None:
    """Today's catalog entry for a stored message: by event string, else by the spec that built it."""
    built_by = catalog_marker(message).get("spec")
    return spec_for(message.get("type"), message.get("event"), built_by, catalog)


def spec_for(kind: object, event: object, built_by: object, catalog: Catalog = CATALOG) -> SpecInfo | None:
    """`spec_of` from a message's type, event string and catalog marker's spec, however they were read
    (from the message, or by the database from the stored entry)."""
    if kind == "track" and isinstance(event, str) and event in catalog.events:
        return catalog.events[event]
    lookups = {"track": catalog.event, "identify": catalog.identifier}
    lookup = lookups.get(str(kind))
    if lookup is None or not isinstance(built_by, str):
        return None
    try:
        return lookup(built_by)
    except KeyError:
        return None


def _is_kept_mask(info: SpecInfo, error: ErrorDetails) -> bool:
    """A masked value of a personal-data string property, of a nested model's personal-data text
    field (a string's own check failing on the mask), or of a key masked for its name inside a
    free-form value (`filters: dict[str, int]` holding `{"phone": ...}`, whatever the values' type):
    stored that way on purpose. A key the spec forbids is reported all the same, masked or not."""
    value, location = error.get("input"), error["loc"]
    if not is_mask(value) or not location:
        return False
    steps = [str(step) for step in location if not isinstance(step, int)]
    if error["type"] != "extra_forbidden" and masked_by_name(info.spec, steps):
        return True
    if len(location) > 1:
        return error["type"].startswith("string_") and covers(info.spec.personal_data_keys(), location)
    name = str(location[0])
    return any(p.name == name and p.personal_data and p.type == "string" for p in info.properties)


def drift_of(message: dict[str, Any], catalog: Catalog = CATALOG) -> Drift:
    """Validate a stored message's `properties` (or `traits`) against today's spec.

    Validation is JSON-mode, as if the payload arrived over the wire today.

    Args:
        message: the stored message (`AuditEntry.payload`).
        catalog: today's catalog; the shipped one by default.
    """
    info = spec_of(message, catalog)
    if info is None:
        return Drift(None)
    off_schema = bool(catalog_marker(message).get("offSchema"))
    return payload_drift(info, json.dumps(payload_of(message)), off_schema=off_schema)


def payload_drift(info: SpecInfo, payload: str, *, off_schema: bool = False) -> Drift:
    """Validate a payload given as JSON text (a message's `properties` or `traits`) against `info`.

    What `drift_of` does once it has the spec; `event-catalog drift` calls it with the text the
    database extracts, so that a million entries are not decoded whole and encoded again.
    """
    try:
        info.spec.payload_model().model_validate_json(payload)
    except ValidationError as exc:
        differences = []
        for error in exc.errors():
            if _is_kept_mask(info, error):
                continue
            location = [str(part) for part in error["loc"]]
            missing = error["type"] == "missing"
            differences.append(
                Difference(
                    field=".".join(location),
                    problem=_PROBLEMS.get(error["type"], error["msg"]),
                    stored=None if missing else error.get("input"),
                    missing=missing,
                )
            )
        return Drift(info, tuple(differences), off_schema)
    return Drift(info, sent_off_schema=off_schema)
