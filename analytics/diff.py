"""Compare two catalog versions from their schema bundles, and say which changes break consumers.

The input is what `Catalog.schema_bundle()` returns (and what `catalog_versions` keeps): JSON
Schemas keyed by event string and identify name, with the catalog's `x-` keywords. Nothing else is
needed, so a bundle exported from an old release compares as well as the running code::

    changes = diff_bundles(old_bundle, CATALOG.schema_bundle())
    for change in changes.breaking:
        print(change.summary)

A change is **breaking** when a query, dashboard or pipeline written against the old version can
give wrong or failing results on data sent under the new one: an event or property disappears or
is renamed, a property's type changes, a property that was always there becomes optional, or a
value it filtered on stops being allowed (an allowed value dropped, a bound tightened). Everything
else is **compatible**: new events and properties, a property that becomes required, new allowed
values, looser bounds, a deprecation (the event is still sent) or a change of the personal-data
flag (which changes masking in the audit log, not what Segment receives). Descriptions, owners,
examples and patterns are not compared.

A **planned** event (`Status.PLANNED`) is declared before any application sends it, so no report
can have been built on its data yet: every change to an event the old version lists as planned is
compatible, its removal and renaming included (`Change.planned`), and so is its going active. An
event going back from active (or deprecated) to planned is breaking: the catalog now says that
applications do not send it, so whatever reads it stops getting data, as if it were removed.

The fields of a nested model are properties too, named by their path: `payment_method.last4` for
a field of an object, `line_items[].quantity` for a field of each item of a list. A query reads
them as it reads a top-level property, so the same rules classify their changes. The fields of an
object that was added, removed or retyped to something without fields are not listed one by one:
that object's own change says it.

What keys such an object takes is compared too, named by the object's path (`payment_method`, or
`line_items[]` for a list's items). A model that becomes a free-form mapping (`dict[str, Any]`)
**no longer declares its fields**: breaking, as each field removed is, since a query on
`payment_method.kind` can no longer rely on the key being there nor on its type or values. A mapping
that becomes a model **declares its fields**: breaking too, as a free value restricted is, since a key
that could hold anything now holds only its field's type (and a query on `metadata.kind = 5` stops
finding new data). An object that **takes keys it does not declare** from now on (`extra="allow"`,
or a mapping in place of a model) is compatible, as a property added is: the old keys keep their
meaning. One that **no longer takes them** (`extra="forbid"`, or a model in place of a mapping) is
breaking, as a property removed is: a query on such a key stops finding new data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from analytics.bounds import Bounds, bounds_of
from analytics.catalog import describe_type
from analytics.property_schema import held_object, other_keys
from analytics.spec import PERSONAL_DATA_KEY, Status

SECTIONS = ("events", "identifiers")
"""The bundle's sections: track events by event string, identify specs by name."""


class ChangeKind(StrEnum):
    """What happened to an event (or identify spec) or to one of its properties."""

    EVENT_ADDED = "event added"
    EVENT_REMOVED = "event removed"
    EVENT_RENAMED = "event renamed"
    EVENT_DEPRECATED = "event deprecated"
    EVENT_REINSTATED = "event no longer deprecated"
    EVENT_ACTIVATED = "event no longer planned"
    EVENT_BACK_TO_PLANNED = "event back to planned"
    PROPERTY_ADDED = "property added"
    PROPERTY_REMOVED = "property removed"
    PROPERTY_RENAMED = "property renamed"
    PROPERTY_RETYPED = "property retyped"
    PROPERTY_MADE_REQUIRED = "property made required"
    PROPERTY_MADE_OPTIONAL = "property made optional"
    VALUES_NARROWED = "allowed values narrowed"
    VALUES_WIDENED = "allowed values widened"
    BOUNDS_NARROWED = "bounds narrowed"
    BOUNDS_WIDENED = "bounds widened"
    PERSONAL_DATA_CHANGED = "personal data flag changed"
    FIELDS_UNDECLARED = "fields no longer declared"
    FIELDS_DECLARED = "fields declared"
    OTHER_KEYS_TAKEN = "other keys taken"
    OTHER_KEYS_REFUSED = "other keys refused"


BREAKING_KINDS = frozenset(
    {
        ChangeKind.EVENT_REMOVED,
        ChangeKind.EVENT_RENAMED,
        ChangeKind.EVENT_BACK_TO_PLANNED,
        ChangeKind.PROPERTY_REMOVED,
        ChangeKind.PROPERTY_RENAMED,
        ChangeKind.PROPERTY_RETYPED,
        ChangeKind.PROPERTY_MADE_OPTIONAL,
        ChangeKind.VALUES_NARROWED,
        ChangeKind.BOUNDS_NARROWED,
        ChangeKind.FIELDS_UNDECLARED,
        ChangeKind.FIELDS_DECLARED,
        ChangeKind.OTHER_KEYS_REFUSED,
    }
)
"""The kinds that break a data consumer (see the module docstring for the rule)."""


@dataclass(frozen=True)
class Change:
    """One difference between two catalog versions.

    Attributes:
        kind: what happened.
        section: `events` or `identifiers`.
        name: the event string (identify name); the new one for a rename.
        prop: the property (trait) concerned, or None for a change to the whole event.
        before: the old value where one applies (old name, type, allowed values, …).
        after: the new value where one applies.
        planned: the event is only planned (in the old version; for an added event, in the new):
            no application sends it yet, so no change to it breaks a data consumer.
    """

    kind: ChangeKind
    section: str
    name: str
    prop: str | None = None
    before: Any = None
    after: Any = None
    planned: bool = False

    @property
    def breaking(self) -> bool:
        """Whether a consumer of the old version's data can break on the new one's."""
        return self.kind in BREAKING_KINDS and not self.planned

    @property
    def summary(self) -> str:
        """One line a product manager can read, e.g. `New User: "email" removed`."""
        summary = _SUMMARIES[self.kind](self)
        if not self.planned:
            return summary
        return f"{summary} (planned)" if self.kind is ChangeKind.EVENT_ADDED else f"{summary} (while planned)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for the API and the CLI's `--json`."""
        return {
            "kind": self.kind.value,
            "breaking": self.breaking,
            "section": self.section,
            "name": self.name,
            "property": self.prop,
            "before": self.before,
            "after": self.after,
            "planned": self.planned,
            "summary": self.summary,
        }


def _values(values: Any) -> str:
    return ", ".join(str(value) for value in values)


def _prop(change: Change) -> str:
    return f'{change.name}: "{change.prop}"'


_SUMMARIES = {
    ChangeKind.EVENT_ADDED: lambda c: f"{c.name} added",
    ChangeKind.EVENT_REMOVED: lambda c: f"{c.name} removed",
    ChangeKind.EVENT_RENAMED: lambda c: f'"{c.before}" renamed to "{c.after}"',
    ChangeKind.EVENT_DEPRECATED: lambda c: (
        f"{c.name} deprecated" + (f" (use {c.after} instead)" if c.after else "")
    ),
    ChangeKind.EVENT_REINSTATED: lambda c: f"{c.name} no longer deprecated",
    ChangeKind.EVENT_ACTIVATED: lambda c: f"{c.name} no longer planned: now {c.after}",
    ChangeKind.EVENT_BACK_TO_PLANNED: lambda c: f"{c.name} back to planned: applications no longer send it",
    ChangeKind.PROPERTY_ADDED: lambda c: f"{_prop(c)} added ({c.after})",
    ChangeKind.PROPERTY_REMOVED: lambda c: f"{_prop(c)} removed",
    ChangeKind.PROPERTY_RENAMED: lambda c: f'{c.name}: "{c.before}" renamed to "{c.after}"',
    ChangeKind.PROPERTY_RETYPED: lambda c: f"{_prop(c)} changed type from {c.before} to {c.after}",
    ChangeKind.PROPERTY_MADE_REQUIRED: lambda c: f"{_prop(c)} is now required",
    ChangeKind.PROPERTY_MADE_OPTIONAL: lambda c: f"{_prop(c)} is now optional",
    ChangeKind.VALUES_NARROWED: lambda c: (
        f"{_prop(c)} no longer allows {_values(c.before)}"
        if c.before
        else f"{_prop(c)} now only allows {_values(c.after)}"
    ),
    ChangeKind.VALUES_WIDENED: lambda c: (
        f"{_prop(c)} now also allows {_values(c.after)}" if c.after else f"{_prop(c)} now allows any value"
    ),
    ChangeKind.BOUNDS_NARROWED: lambda c: f"{_prop(c)} bounds narrowed from {c.before} to {c.after}",
    ChangeKind.BOUNDS_WIDENED: lambda c: f"{_prop(c)} bounds widened from {c.before} to {c.after}",
    ChangeKind.PERSONAL_DATA_CHANGED: lambda c: (
        f"{_prop(c)} is {'now' if c.after else 'no longer'} personal data"
    ),
    ChangeKind.FIELDS_UNDECLARED: lambda c: f"{_prop(c)} no longer declares its fields ({_values(c.before)})",
    ChangeKind.FIELDS_DECLARED: lambda c: f"{_prop(c)} now declares its fields ({_values(c.after)})",
    ChangeKind.OTHER_KEYS_TAKEN: lambda c: f"{_prop(c)} now also takes keys it does not declare",
    ChangeKind.OTHER_KEYS_REFUSED: lambda c: f"{_prop(c)} no longer takes keys it does not declare",
}


@dataclass(frozen=True)
class CatalogDiff:
    """Every change from one bundle to another, in catalog order.

    Attributes:
        changes: the changes, events before identify specs, each item's event-level change first.
    """

    changes: tuple[Change, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    @property
    def breaking(self) -> tuple[Change, ...]:
        """The changes that break consumers."""
        return tuple(change for change in self.changes if change.breaking)

    @property
    def compatible(self) -> tuple[Change, ...]:
        """The changes that do not."""
        return tuple(change for change in self.changes if not change.breaking)

    @property
    def is_breaking(self) -> bool:
        """Whether any change breaks consumers."""
        return any(change.breaking for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: counts, then every change."""
        return {
            "breaking": len(self.breaking),
            "compatible": len(self.compatible),
            "changes": [change.to_dict() for change in self.changes],
        }


@dataclass(frozen=True)
class _Property:
    """What the diff compares of one property.

    Attributes:
        fields: the fields of the object it holds (a nested model, or a list's items), by name, in
            declaration order; None when it holds none, or one that declares none (a mapping).
        marker: what its fields' paths put after its own (`[]` for a list's items).
        other_keys: whether the object it holds takes keys it does not declare (a mapping, a model
            with `extra="allow"`); None when it holds no object.
    """

    type: str
    allowed: tuple[Any, ...] | None
    bounds: Bounds
    required: bool
    personal_data: bool
    description: str
    fields: tuple[tuple[str, _Property], ...] | None = None
    marker: str = ""
    other_keys: bool | None = None

    @property
    def shape(self) -> tuple[str, tuple[Any, ...] | None, str]:
        """What must match for a removed and an added property to be one property renamed."""
        return self.type, self.allowed, self.description


def _properties(
    schema: Mapping[str, Any], defs: dict[str, Any], within: tuple[dict[str, Any], ...] = ()
) -> dict[str, _Property]:
    """The properties of an object's schema (an event's, or a nested model's), each with its fields."""
    required = set(schema.get("required", ()))
    found = {}
    for name, prop in schema.get("properties", {}).items():
        kind, allowed, nullable = describe_type(prop, defs)
        held = held_object(prop, defs, within)
        fields = _properties(held.schema, defs, (*within, held.schema)) if held else None
        keys = other_keys(prop, defs)
        found[name] = _Property(
            type=f"{kind} or null" if nullable else kind,
            allowed=allowed,
            bounds=bounds_of(prop, defs),
            required=name in required,
            personal_data=bool(prop.get(PERSONAL_DATA_KEY)),
            description=prop.get("description", ""),
            fields=tuple(fields.items()) if fields is not None else None,
            marker=keys[0] if keys else "",
            other_keys=keys[1] if keys else None,
        )
    return found


def _payload_properties(schema: Mapping[str, Any]) -> dict[str, _Property]:
    """An event's (or identify spec's) properties, from its whole schema."""
    return _properties(schema, schema.get("$defs", {}))


def personal_data_paths(schema: Mapping[str, Any] | None) -> frozenset[str]:
    """The properties (at any depth, by path) an event's schema in a bundle marks personal data; none
    for an event the bundle does not have (`analytics.remask` compares them across versions)."""
    if schema is None:
        return frozenset()
    found: list[str] = []
    pending = [("", _payload_properties(schema))]
    while pending:
        above, properties = pending.pop()
        for name, prop in properties.items():
            if prop.personal_data:
                found.append(f"{above}{name}")
            if prop.fields is not None:
                pending.append((f"{above}{name}{prop.marker}.", dict(prop.fields)))
    return frozenset(found)


def _shape(schema: Mapping[str, Any]) -> tuple[str, frozenset[tuple[str, Any]]]:
    """What must match for a removed and an added event to be one event renamed."""
    properties = _payload_properties(schema)
    return schema.get("description", ""), frozenset((name, prop) for name, prop in properties.items())


def _pair_renames(
    removed: list[str], added: list[str], key_old: Mapping[str, Any], key_new: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Pair each removed name with the first added name of equal key; each name pairs at most once."""
    pairs = []
    unpaired = list(added)
    for old in removed:
        match = next((new for new in unpaired if key_new[new] == key_old[old]), None)
        if match is not None:
            unpaired.remove(match)
            pairs.append((old, match))
    return pairs


def _event_renames(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Renamed events: the same `x-event` constant under a new string, or the same description and shape."""
    removed = [name for name in old if name not in new]
    added = [name for name in new if name not in old]
    by_constant = _pair_renames(
        [n for n in removed if old[n].get("x-event")],
        added,
        {n: old[n].get("x-event") for n in removed},
        {n: new[n].get("x-event") for n in added},
    )
    removed = [n for n in removed if n not in {o for o, _ in by_constant}]
    added = [n for n in added if n not in {a for _, a in by_constant}]
    by_shape = _pair_renames(
        removed, added, {n: _shape(old[n]) for n in removed}, {n: _shape(new[n]) for n in added}
    )
    return by_constant + by_shape


def _planned(schema: Mapping[str, Any]) -> bool:
    return schema.get("x-status") == Status.PLANNED


def _status_changes(section: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    was, now = old.get("x-status"), new.get("x-status")
    if was == now:
        return []
    if now == Status.PLANNED:
        return [Change(ChangeKind.EVENT_BACK_TO_PLANNED, section, name, before=was)]
    if was == Status.PLANNED:
        return [Change(ChangeKind.EVENT_ACTIVATED, section, name, before=was, after=now)]
    if now == Status.DEPRECATED:
        return [Change(ChangeKind.EVENT_DEPRECATED, section, name, after=new.get("x-replaced-by"))]
    if was == Status.DEPRECATED:
        return [Change(ChangeKind.EVENT_REINSTATED, section, name)]
    return []


def _property_changes(
    section: str,
    name: str,
    before: Mapping[str, _Property],
    after: Mapping[str, _Property],
    holder: str = "",
) -> list[Change]:
    """The changes to one object's properties, then to their fields', each named by its path.

    Args:
        section: `events` or `identifiers`.
        name: the event string (identify name).
        before: the old version's properties, by name.
        after: the new version's.
        holder: the path their object sits at with its marker (`payment_method`, `line_items[]`),
            empty for the payload's own properties.
    """

    def path(prop: str) -> str:
        return f"{holder}.{prop}" if holder else prop

    removed = [p for p in before if p not in after]
    added = [p for p in after if p not in before]
    renames = _pair_renames(
        removed, added, {p: before[p].shape for p in removed}, {p: after[p].shape for p in added}
    )
    renamed_from = {old_name: new_name for old_name, new_name in renames}
    renamed_to = {new_name: old_name for old_name, new_name in renames}
    changes: list[Change] = []
    for prop, now in after.items():
        origin = renamed_to.get(prop, prop)
        was = before.get(origin)
        if was is None:
            required = "required" if now.required else "optional"
            changes.append(
                Change(ChangeKind.PROPERTY_ADDED, section, name, path(prop), after=f"{now.type}, {required}")
            )
            continue
        if origin != prop:
            changes.append(
                Change(
                    ChangeKind.PROPERTY_RENAMED,
                    section,
                    name,
                    path(prop),
                    before=path(origin),
                    after=path(prop),
                )
            )
        changes.extend(_compare_property(section, name, path(prop), was, now))
        changes.extend(_compare_keys(section, name, path(prop), was, now))
        if was.fields is not None and now.fields is not None:
            changes.extend(
                _property_changes(
                    section, name, dict(was.fields), dict(now.fields), f"{path(prop)}{now.marker}"
                )
            )
    changes.extend(
        Change(ChangeKind.PROPERTY_REMOVED, section, name, path(prop), before=before[prop].type)
        for prop in removed
        if prop not in renamed_from
    )
    return changes


def _compare_property(section: str, name: str, prop: str, was: _Property, now: _Property) -> list[Change]:
    changes = []
    if was.type != now.type:
        changes.append(
            Change(ChangeKind.PROPERTY_RETYPED, section, name, prop, before=was.type, after=now.type)
        )
    elif was.allowed != now.allowed:
        dropped = [v for v in was.allowed or () if v not in (now.allowed or ())]
        new_values = [v for v in now.allowed or () if v not in (was.allowed or ())]
        if now.allowed is not None and (was.allowed is None or dropped):
            changes.append(
                Change(
                    ChangeKind.VALUES_NARROWED,
                    section,
                    name,
                    prop,
                    before=dropped or None,
                    after=list(now.allowed),
                )
            )
        if was.allowed is not None and (now.allowed is None or new_values):
            changes.append(
                Change(
                    ChangeKind.VALUES_WIDENED,
                    section,
                    name,
                    prop,
                    before=list(was.allowed),
                    after=new_values or None,
                )
            )
    if was.type == now.type:
        changes.extend(_compare_bounds(section, name, prop, was.bounds, now.bounds))
    if was.required != now.required:
        kind = ChangeKind.PROPERTY_MADE_REQUIRED if now.required else ChangeKind.PROPERTY_MADE_OPTIONAL
        changes.append(Change(kind, section, name, prop))
    if was.personal_data != now.personal_data:
        changes.append(
            Change(
                ChangeKind.PERSONAL_DATA_CHANGED,
                section,
                name,
                prop,
                before=was.personal_data,
                after=now.personal_data,
            )
        )
    return changes


def _compare_keys(section: str, name: str, prop: str, was: _Property, now: _Property) -> list[Change]:
    """How the keys of the object a property holds changed: its fields declared or no longer, other
    keys taken or no longer (see the module docstring for why each breaks or not).

    Only for an object in the same place on both sides (`payment_method`, or a list's items): a
    property retyped to or from something else, or from an object to a list of them, is retyped.
    """
    if was.other_keys is None or now.other_keys is None or was.marker != now.marker:
        return []
    at = f"{prop}{now.marker}"
    changes: list[Change] = []
    if was.fields is not None and now.fields is None and now.other_keys:
        changes.append(
            Change(ChangeKind.FIELDS_UNDECLARED, section, name, at, before=[field for field, _ in was.fields])
        )
    elif was.fields is None and was.other_keys and now.fields is not None:
        changes.append(
            Change(ChangeKind.FIELDS_DECLARED, section, name, at, after=[field for field, _ in now.fields])
        )
    if was.other_keys != now.other_keys:
        kind = ChangeKind.OTHER_KEYS_TAKEN if now.other_keys else ChangeKind.OTHER_KEYS_REFUSED
        changes.append(Change(kind, section, name, at, before=was.other_keys, after=now.other_keys))
    return changes


def _compare_bounds(section: str, name: str, prop: str, was: Bounds, now: Bounds) -> list[Change]:
    """One change when the bounds moved: narrowed if any value they allowed is now refused."""
    if now.excludes_some_of(was):
        kind = ChangeKind.BOUNDS_NARROWED
    elif was.excludes_some_of(now):
        kind = ChangeKind.BOUNDS_WIDENED
    else:
        return []
    return [Change(kind, section, name, prop, before=was.text, after=now.text)]


def _section_changes(section: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    renames = _event_renames(old, new) if section == "events" else []
    renamed_to = {new_name: old_name for old_name, new_name in renames}
    renamed_from = set(renamed_to.values())
    changes: list[Change] = []
    for name, schema in new.items():
        origin = renamed_to.get(name, name)
        if origin not in old:
            changes.append(Change(ChangeKind.EVENT_ADDED, section, name, planned=_planned(schema)))
            continue
        planned = _planned(old[origin])
        if origin != name:
            changes.append(
                Change(ChangeKind.EVENT_RENAMED, section, name, before=origin, after=name, planned=planned)
            )
        changes.extend(_status_changes(section, name, old[origin], schema))
        properties = _property_changes(
            section, name, _payload_properties(old[origin]), _payload_properties(schema)
        )
        changes.extend(replace(change, planned=True) if planned else change for change in properties)
    changes.extend(
        Change(ChangeKind.EVENT_REMOVED, section, name, planned=_planned(old[name]))
        for name in old
        if name not in new and name not in renamed_from
    )
    return changes


def diff_bundles(old: Mapping[str, Any], new: Mapping[str, Any]) -> CatalogDiff:
    """Compare two schema bundles (`Catalog.schema_bundle()` shape).

    Args:
        old: the earlier version's bundle.
        new: the later version's bundle.

    Returns:
        Every change, classified breaking or compatible; empty when the bundles describe the same
        data.
    """
    changes: list[Change] = []
    for section in SECTIONS:
        changes.extend(_section_changes(section, old.get(section, {}), new.get(section, {})))
    return CatalogDiff(tuple(changes))
