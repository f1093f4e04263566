"""The catalog: every event, scope and identify spec, read from the specs themselves.

This is what the dashboard, the exports and `event-catalog lint` read. It is built from the spec
registry, which specs join by being defined (`analytics.spec`), so nothing here lists events by
hand. Property tables are derived from the JSON Schemas pydantic generates, so the catalog shows
exactly what validation enforces, the fields of nested models included (`SpecInfo.rows`).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from typing import Any

from pydantic import ValidationError

import analytics.identifiers  # noqa: F401  (defining the specs registers them)
import analytics.tracks  # noqa: F401
from analytics.bounds import bounds_of, pattern_of
from analytics.examples import build_example, example_problem, example_scope
from analytics.nested import ANY_KEY, FieldTree, field_paths, model_dumps_fields_only
from analytics.personal_data import looks_personal
from analytics.property_schema import held_object, value_schema
from analytics.scopes import SCOPES, UserScope
from analytics.spec import REGISTRY, Category, IdentifySpec, SpecRegistry, Team, TrackSpec

AnySpec = type[TrackSpec] | type[IdentifySpec]


@dataclass(frozen=True)
class PropertyInfo:
    """One property (or trait) as the catalog shows it.

    A field of a nested model (`payment_method: PaymentMethod`, `line_items: list[LineItem]`) is one
    too, named by its path: `payment_method.kind`, `line_items[].quantity`.

    Attributes:
        name: the key in the Segment payload, or a nested field's path.
        type: the JSON type, e.g. `integer`, `string`, `array of string`.
        required: whether every message carries it (a nested field: every object that holds it).
        description: what it means.
        allowed_values: the closed set of values, when there is one.
        bounds: the numeric, length or size bounds as text (`1 ≤ value ≤ 31`), empty when none.
        pattern: the regular expression a string must match, empty when none.
        example: a realistic value.
        personal_data: whether it identifies a person, or holds a value that does (a field of a
            nested model declared `personal_data=True`).
        from_scope: whether the scope adds it (ids) rather than the spec itself.
        holder: for a nested field, the path of the property (or field) that holds its object
            (`payment_method`, `line_items`); None for a property of the payload itself.
        fields: the names of the fields of the object it holds (each item's, for a list), which
            follow it as rows of their own; None when it holds no object with declared fields.
        default: what an optional property is sent as when none is given; None when it is then left
            out of the message (only None is left out: a `default=[]` is sent as `[]`).
    """

    name: str
    type: str
    required: bool
    description: str
    allowed_values: tuple[Any, ...] | None
    bounds: str
    pattern: str
    example: Any
    personal_data: bool
    from_scope: bool
    holder: str | None = None
    fields: tuple[str, ...] | None = None
    default: Any = None

    @property
    def in_items(self) -> bool:
        """Whether it is a field of each item of a list (`line_items[].quantity`), not of one object."""
        return self.holder is not None and self.name.startswith(f"{self.holder}[]")


@dataclass(frozen=True)
class SpecInfo:
    """An event or identify spec with everything the catalog pages need.

    Attributes:
        name: the event string, or the identify spec's name.
        constant: the `SegmentEvent` constant (the class name for identify specs).
        kind: `track` or `identify`.
        spec: the spec class.
        properties: its properties (traits for identify specs), scope ids first.
        json_schema: JSON Schema of its `properties` (or `traits`).
        rows: its properties, each followed by the fields of the nested models it holds, at any
            depth: what the property tables, the exports and the search list. The tester's form and
            checks read `properties`, the keys a payload has at its top level.
    """

    name: str
    constant: str
    kind: str
    spec: AnySpec
    properties: tuple[PropertyInfo, ...]
    json_schema: dict[str, Any]
    rows: tuple[PropertyInfo, ...]

    @property
    def scope(self) -> type[UserScope]:
        """The scope the spec requires."""
        return self.spec.scope_class()

    @property
    def has_personal_data(self) -> bool:
        """Whether any property identifies a person."""
        return any(p.personal_data for p in self.properties)

    @cached_property
    def user_id(self) -> PropertyInfo:
        """The message's `userId`, shown with the properties because every message carries it.

        It is not a property (nor a trait): it sits at the top of the message, so the JSON Schema,
        which describes `properties` (or `traits`), does not hold it. Its value is the scope's
        `user_id` as Segment's string ids spell it, so its bounds are the id's, said of digits (a
        string is not "≤ 2⁶³−1"); the example is the example message's own.
        """
        schema = self.scope.model_json_schema()
        bounds = bounds_of(schema["properties"]["user_id"], schema.get("$defs", {}))
        about = "event" if self.kind == "track" else "call"
        return PropertyInfo(
            name="userId",
            type="string",
            required=True,
            description=f"Id of the user the {about} is about: the scope's user_id, sent as text.",
            allowed_values=None,
            bounds=f"digits of a whole number, {bounds.intervals[0].ends}" if bounds else "",
            pattern="",
            example=self._example_user_id(),
            personal_data=False,
            from_scope=True,
        )

    def _example_user_id(self) -> str | None:
        """The scope's example user id as a message spells it; None when the scope's examples are
        wrong (`example_problem` says so), so the property table still shows."""
        try:
            return example_scope(self.scope).segment_user_id()
        except ValidationError:
            return None

    def example_spec(self) -> TrackSpec | IdentifySpec:
        """A valid spec built from the examples of its scope and properties.

        Raises:
            pydantic.ValidationError: the examples do not make a valid spec (`example_problem` says
                why; `event-catalog lint` reports it as EC016).
        """
        return build_example(self.spec)

    @cached_property
    def example_problem(self) -> str | None:
        """Why the examples do not make a valid spec, in one line (`seats: Input should be …`);
        None when they do. Pages that show the example message or snippet show this instead."""
        return example_problem(self.spec)

    def example_payload(self) -> dict[str, Any]:
        """The example spec's `properties` (or `traits`), exactly as a message would carry them."""
        spec = self.example_spec()
        return spec.properties() if isinstance(spec, TrackSpec) else spec.traits()


def describe_type(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[str, tuple[Any, ...] | None, bool]:
    """Reduce a property's JSON Schema to a readable type, its allowed values and nullability."""
    value, nullable = value_schema(schema, defs)
    allowed = tuple(value["enum"]) if "enum" in value else None
    kind = value.get("type", "any")
    if kind == "array":
        item_kind, item_allowed, _ = describe_type(value.get("items", {}), defs)
        return f"array of {item_kind}", item_allowed, nullable
    return kind, allowed, nullable


def _example_object(example: Any, marker: str) -> dict[str, Any]:
    """The object inside a property's example whose fields a nested row's example falls back on: the
    example itself, or its first item (`[]`), or the first item's first item (`[][]`)."""
    for _ in range(marker.count("[]")):
        example = example[0] if isinstance(example, list) and example else None
    return example if isinstance(example, dict) else {}


def _description(prop_schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """A property's description; pydantic leaves it out of a field that holds a model when it is the
    model's docstring word for word (the `$ref`'s own description says it), so it is read there."""
    if "description" in prop_schema or "$ref" not in prop_schema:
        return str(prop_schema.get("description", ""))
    return str(value_schema(prop_schema, defs)[0].get("description", ""))


def _holds_personal(path: str, personal: Collection[str]) -> bool:
    """Whether a row's value is personal data, sits in some, or holds some: `personal` names values by
    their path without the `[]` of a list's items (`line_items.email`), as `personal_data_keys` does."""
    dotted = path.replace("[]", "")
    return any(
        key == dotted or dotted.startswith(f"{key}.") or key.startswith(f"{dotted}.") for key in personal
    )


def _rows(
    schema: dict[str, Any],
    defs: dict[str, Any],
    from_scope: set[str],
    personal: Collection[str],
    holder: str | None = None,
    marker: str = "",
    within: tuple[dict[str, Any], ...] = (),
    example_of: Mapping[str, Any] | None = None,
) -> list[PropertyInfo]:
    """The rows of an object's properties (an event's, or a nested model's fields), each followed by
    its own fields' rows.

    Args:
        schema: the object's JSON Schema.
        defs: the enclosing schema's `$defs`.
        from_scope: the names the scope adds (ids), at the top level only.
        personal: the paths of the spec's personal data (`SpecInfo.spec.personal_data_keys`).
        holder: the path of the property (or field) that holds the object; None at the top.
        marker: what the holder's fields' paths put after its path (`[]` for a list's items).
        within: the objects it sits in, so a recursive model's fields are listed once.
        example_of: the holder's example object, for a field whose schema gives no example.
    """
    required = set(schema.get("required", ()))
    rows: list[PropertyInfo] = []
    for name, prop_schema in schema.get("properties", {}).items():
        path = f"{holder}{marker}.{name}" if holder is not None else name
        kind, allowed, _ = describe_type(prop_schema, defs)
        examples = prop_schema.get("examples") or [(example_of or {}).get(name)]
        bounds = bounds_of(prop_schema, defs)
        held = held_object(prop_schema, defs, within)
        fields = (
            _rows(
                held.schema,
                defs,
                set(),
                personal,
                path,
                held.marker,
                (*within, held.schema),
                _example_object(examples[0], held.marker),
            )
            if held
            else []
        )
        rows.append(
            PropertyInfo(
                name=path,
                type=kind,
                required=name in required,
                description=_description(prop_schema, defs),
                allowed_values=allowed,
                bounds=bounds.text if bounds else "",
                pattern=pattern_of(prop_schema, defs) or "",
                example=examples[0],
                personal_data=_holds_personal(path, personal),
                from_scope=name in from_scope,
                holder=holder,
                fields=tuple(held.fields) if held else None,
                default=prop_schema.get("default"),
            )
        )
        rows.extend(fields)
    return rows


def _info(spec: AnySpec) -> SpecInfo:
    schema = spec.json_schema()
    if issubclass(spec, TrackSpec):
        name, constant, kind = str(spec.event), spec.event.name, "track"
    else:
        name, constant, kind = spec.name, spec.__name__, "identify"
    from_scope = set(spec.scope_class().property_fields().values())
    rows = tuple(_rows(schema, schema.get("$defs", {}), from_scope, spec.personal_data_keys()))
    properties = tuple(row for row in rows if row.holder is None)
    return SpecInfo(name, constant, kind, spec, properties, schema, rows)


class Catalog:
    """A read-only view of a spec registry.

    Args:
        registry: the specs to show.
    """

    def __init__(self, registry: SpecRegistry) -> None:
        self.registry = registry

    @cached_property
    def events(self) -> dict[str, SpecInfo]:
        """Track specs by event string, in declaration order; the first spec wins a duplicate."""
        infos: dict[str, SpecInfo] = {}
        for spec in self.registry.tracks:
            infos.setdefault(str(spec.event), _info(spec))
        return infos

    @cached_property
    def identifiers(self) -> dict[str, SpecInfo]:
        """Identify specs by name, in declaration order."""
        infos: dict[str, SpecInfo] = {}
        for spec in self.registry.identifiers:
            infos.setdefault(spec.name, _info(spec))
        return infos

    @cached_property
    def personal_data_names(self) -> frozenset[str]:
        """Every property or trait name some spec marks as personal data, at any depth (the last
        step of each path of `personal_data_keys`), so that a search and a mask never disagree on a
        key: the audit log masks such a key wherever no spec declares it (`personal_paths`).

        Read from the specs, not from `events`: an application's first send that asks builds no
        schemas."""
        specs = [*self.registry.tracks, *self.registry.identifiers]
        return frozenset(path.rsplit(".", 1)[-1] for spec in specs for path in spec.personal_data_keys())

    @property
    def scopes(self) -> tuple[type[UserScope], ...]:
        """Every scope, widest first: each is registered by being defined (`analytics.scopes`)."""
        return SCOPES.ordered()

    def event(self, name: str) -> SpecInfo:
        """Look an event up by its string or its constant.

        Raises:
            KeyError: no such event in the catalog.
        """
        if name in self.events:
            return self.events[name]
        for info in self.events.values():
            if info.constant == name:
                return info
        raise KeyError(name)

    def closest(self, typed: str, *, kinds: Collection[str] = ("track", "identify")) -> str | None:
        """The event string or identify name closest to a mistyped one (by its string or constant,
        case aside), for a "did you mean"; None when nothing is close.

        At 300 events a name someone mistyped is hard to find by eye in the list an error could
        print; difflib's ratio of 0.85 takes a letter or two wrong and leaves unrelated names out.
        """
        infos = [info for info in (*self.events.values(), *self.identifiers.values()) if info.kind in kinds]
        spellings = {spelling.lower(): info.name for info in infos for spelling in (info.name, info.constant)}
        close = difflib.get_close_matches(typed.lower(), list(spellings), n=1, cutoff=0.85)
        return spellings[close[0]] if close else None

    def identifier(self, name: str) -> SpecInfo:
        """Look an identify spec up by its name or class name.

        Raises:
            KeyError: no such identify spec.
        """
        for info in self.identifiers.values():
            if name in (info.name, info.constant):
                return info
        raise KeyError(name)

    def events_using(self, scope: type[UserScope]) -> list[SpecInfo]:
        """Events whose spec requires exactly this scope."""
        return [info for info in self.events.values() if info.scope is scope]

    def owners(self, *, events_only: bool = False) -> list[str]:
        """The owners the specs declare (all of them, or the track specs' only): `Team` members in
        the enum's order, then owners given as plain strings (`owner="sre"`, which the class argument
        allows), by name. Read from the specs, not `Team`: a fork's own teams were left out of the
        list's Owner filter and refused by `drift --owner`."""
        return _members_first(Team, {str(info.spec.owner) for info in self._infos(events_only)})

    def categories(self, *, events_only: bool = False) -> list[str]:
        """The categories the specs declare (all of them, or the track specs' only): `Category`
        members in the enum's order, then categories given as plain strings (`category="Commerce"`,
        which `event-catalog import` writes for a category `Category` lacks), by name. Read from the
        specs, as `owners` is: a plain string was shown in the list but refused by its Category
        filter, `/events.csv` and `drift --category`."""
        return _members_first(Category, {str(info.spec.category) for info in self._infos(events_only)})

    def _infos(self, events_only: bool) -> Collection[SpecInfo]:
        return self.events.values() if events_only else [*self.events.values(), *self.identifiers.values()]

    @cached_property
    def shared_bundle(self) -> Mapping[str, Any]:
        """Every JSON Schema, keyed by event string and identify name, built once and shared: not
        to be edited.

        The schemas in it are the catalog's own, which /api/catalog, diff, the exports and the
        version read for the rest of the process. What only reads them (the version, the dashboard's
        Changes page) takes this one; anyone else takes `schema_bundle()`, a copy of their own.
        """
        return {
            "events": {name: info.json_schema for name, info in self.events.items()},
            "identifiers": {name: info.json_schema for name, info in self.identifiers.items()},
        }

    def schema_bundle(self) -> dict[str, Any]:
        """Every JSON Schema, keyed by event string and identify name, without the version.

        A copy of its own for each caller: a script that adds a key before dumping the bundle would
        otherwise change the catalog's schemas (`shared_bundle`) for the rest of the process.
        Copying 300 events' schemas takes some 25 ms, about what diffing them does, which is why the
        dashboard reads `shared_bundle` instead; read-only views would not dump as JSON.
        """
        return copy.deepcopy(dict(self.shared_bundle))

    @cached_property
    def version(self) -> str:
        """A content hash of the schema bundle: it changes exactly when what is sent can change."""
        canonical = json.dumps(self.shared_bundle, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


CATALOG = Catalog(REGISTRY)
"""The shipped catalog."""


def _members_first(members: type[StrEnum], declared: set[str]) -> list[str]:
    """`declared`, the enum's members among them in the enum's order, then the plain strings by name."""
    known = [str(member) for member in members if str(member) in declared]
    return known + sorted(declared - set(known), key=str.casefold)


def is_personal_key(key: str) -> bool:
    """Whether a property key holds personal data: some spec marks it so, or its name says so (the
    audit log masks such keys where no spec speaks for them, see `personal_paths`)."""
    return key in CATALOG.personal_data_names or looks_personal(key)


def personal_paths(spec: AnySpec, payload: Mapping[str, Any], *, from_spec: bool = False) -> frozenset[str]:
    """The paths of a payload's personal data (`analytics.nested`), which the audit log masks and seals:
    those the spec declares, and every key named like personal data (`is_personal_key`) where the spec
    declares none (or, for a spec outside the catalog, which no `lint` checked, wherever: `_personal_keys`).

    A spec declares no keys inside a free-form value (a `dict[str, Any]` property, what
    `event-catalog import` writes for an object without fields) nor for the tester's off-schema
    properties: an application's `filters={"email": ...}` was stored in clear. Such a key is masked
    whole, at any depth (inside an object, in the objects of a list). A key the spec declares keeps the
    spec's word, and so does a property declared `personal_data=False`: no key inside it is masked
    (a count per form field, `{"email": 1}`, was masked and could no longer be replayed). Application
    sends and the tester both ask here, so they mask alike.

    Every send asks, so a payload is walked only where a key may be undeclared: with `from_spec` (the
    payload is the spec's own dump, `build_message(spec)`), a value the spec fully declares
    (`analytics.nested.fully_declared`) is not walked, and a spec that declares its whole payload
    (no free-form value) walks nothing. Without it (the tester's raw properties, which may hold
    off-schema keys anywhere), every value is walked, each key looked up where it sits.
    """
    declared, keys = _declared(spec), _personal_keys(spec)
    if from_spec and declared.closed:
        return keys
    found: list[str] = []
    _find_undeclared_personal(dict(payload), declared, "", from_spec, found)
    return keys | frozenset(found)


@cache
def _personal_keys(spec: AnySpec) -> frozenset[str]:
    """The paths a spec's fields make personal data: those it marks `personal_data=True` and, for a
    spec outside the catalog (`outside_catalog`), every field named like personal data too. No `lint`
    reads such a spec to ask it to mark them (EC013), and an application's unmarked `share_email`
    was stored in the clear."""
    keys = spec.personal_data_keys()
    if not spec.outside_catalog:
        return keys
    named: list[str] = []
    for path, _ in field_paths(spec.own_fields()):
        # A personal value is masked whole, as `personal_data_keys` has it: what it holds needs no path.
        covered = any(path == key or path.startswith(f"{key}.") for key in (*keys, *named))
        if not covered and looks_personal(path.rsplit(".", 1)[-1]):
            named.append(path)
    return keys | frozenset(named)


def _find_undeclared_personal(
    value: dict[str, Any] | list[Any], node: FieldTree | None, above: str, from_spec: bool, found: list[str]
) -> None:
    """Add to `found` the paths below `above` of the undeclared keys named like personal data
    (`personal_paths`), `node` being where `value` sits in the spec's fields (None: outside them).
    What such a key holds is masked whole, so it is not walked further.

    A payload is JSON data: its objects are dicts, which are told apart from text and numbers far
    faster than any `Mapping` is, at every value of a large payload."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _find_undeclared_personal(item, node, above, from_spec, found)
        return
    for key, item in value.items():
        key = str(key)
        field = node and (node.fields.get(key) or node.fields.get(ANY_KEY))
        if field is not None and field.here:
            if field.vouched or (from_spec and field.closed):
                continue
        elif is_personal_key(key):
            found.append(above + key)
            continue
        if isinstance(item, (dict, list)):
            _find_undeclared_personal(item, field, f"{above}{key}.", from_spec, found)


SEGMENT_PERSONAL_CONTEXT = frozenset({"ip"})
"""The keys of Segment's own context fields that hold personal data whatever their name says: the
request's IP address (personal data in the GDPR's sense). `userAgent` is not among them: the browser
and its version, which Segment's destinations read for device reports, do not point at a person on
their own (list `user_agent` in `AUDIT_PERSONAL_KEYS` to mask it too)."""


def named_personal_paths(values: Mapping[str, Any]) -> frozenset[str]:
    """The paths of the keys named like personal data (`is_personal_key`) in values no spec declares,
    at any depth: what the audit log masks of a message today's catalog has no spec for."""
    found: list[str] = []
    _find_undeclared_personal(dict(values), None, "", False, found)
    return frozenset(found)


def personal_context_paths(context: Mapping[str, Any]) -> frozenset[str]:
    """The paths, from the context, of a host's own `context=` values that the audit log masks and seals
    as it does properties' (`personal_paths`): Segment's `ip`, and every key named like personal data
    (`is_personal_key`) at any depth (`traits.email`, `page.user_name`). No spec declares the context,
    so names alone decide: it is walked as a payload's undeclared values are."""
    own = frozenset(key for key in context if key in SEGMENT_PERSONAL_CONTEXT)
    rest = {key: value for key, value in context.items() if key not in SEGMENT_PERSONAL_CONTEXT}
    return own | named_personal_paths(rest)


def masked_by_name(spec: AnySpec, steps: Sequence[str]) -> bool:
    """Whether the value at `steps` (the keys from the payload's top) is masked for its key's name: the
    key is named like personal data and the spec declares no field there (`personal_paths`); payload
    drift asks too, so that such a mask is not read as a changed value."""
    tree = _declared(spec)
    return not tree.declares(steps) and not tree.vouched_for(steps) and is_personal_key(steps[-1])


def declared_fields(spec: AnySpec) -> FieldTree:
    """The spec's fields as a tree (`analytics.nested.FieldTree`), as `personal_paths` walks a payload
    against them: what `analytics.remask.needs_remask` reads to tell, in SQL, which entries it leaves."""
    return _declared(spec)


@cache
def _declared(spec: AnySpec) -> FieldTree:
    """The spec's fields, the scope's ids among them: every send asks, so they are walked once per spec.

    The whole payload is declared (`FieldTree.closed`) when each property is, or says it holds no
    personal data, and the spec's dump writes its fields alone (the scope's ids are whole numbers and
    text)."""
    tree = FieldTree(field_paths(spec.property_fields()))
    tree.closed = model_dumps_fields_only(spec) and all(
        field.closed or field.vouched for field in tree.fields.values()
    )
    return tree
