"""A Segment Protocols tracking plan read as spec drafts, for `event-catalog import`.

Two shapes of plan are read:

- the Public API's (and `event-catalog export --format segment-plan`'s): `rules` is a list of
  `{type, key, version, jsonSchema}`, `TRACK` rules keyed by the event string and an `IDENTIFY`
  rule (each of several, as a plan put together from several sources' has, an identify spec of its
  own); also wrapped in the API's `{"data": {"trackingPlan": …}}` or `{"data": {"rules": […]}}`;
- the Config API's: `rules.events[]` with `name`, `description`, `version` and `rules` (the JSON
  Schema), and `rules.identify`.

In each JSON Schema (draft-07) the event's properties are `properties.properties`, the traits
`properties.traits`; `labels` may say the category, owner, status, replacement and scope, as our
export writes them. A plan that does not say the scope gets the narrowest one whose id properties
(`proj_id`, `cluster_id`, …) it lists. Keywords a spec cannot say (`oneOf`, `format`,
`uniqueItems`, `context` constraints, group, page and screen rules…) become notes and warnings, and
so do a keyword whose value has the wrong JSON type (`minimum: "zero"`, `required: "amount"`, an
`enum` value not of the schema's type) and a rule without an event name, which is left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from analytics.exports import LABEL_SEPARATOR
from analytics.spec import PERSONAL_DATA_KEY, Status
from analytics.spec_drafts import (
    DraftBuilder,
    ModelDraft,
    PlanError,
    PropertyDraft,
    SpecDraft,
    TypeDraft,
    example_problem,
    made_up_example,
    pascal,
    personal_by_name,
    scalar,
    settle_scope,
    singular,
    unusable_name,
)
from analytics.wording import counted

IDENTIFY_NAME = "Identify"
"""The catalog name of the one identify spec a Segment plan's identify rule becomes."""

_NUMBER_BOUNDS = {"minimum": "ge", "exclusiveMinimum": "gt", "maximum": "le", "exclusiveMaximum": "lt"}
_TEXT_BOUNDS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}
_LIST_BOUNDS = {"minItems": "min_length", "maxItems": "max_length"}
_ANNOTATIONS = {"description", "examples", "example", "default", "title", "$schema", "$id", "$comment"}
_STRUCTURE = {"type", "$ref", "enum", "const", "anyOf", "oneOf", "allOf", "definitions", "$defs", "labels"}
_TYPED = {"multipleOf", "items", "properties", "required", "additionalProperties", "format", "uniqueItems"}
_KNOWN = _ANNOTATIONS | _STRUCTURE | _TYPED | set(_NUMBER_BOUNDS) | set(_TEXT_BOUNDS) | set(_LIST_BOUNDS)


@dataclass
class _Rule:
    kind: str
    key: str
    version: int
    description: str
    labels: dict[str, str]
    schema: dict[str, Any]
    place: str
    """Where the plan has it (`rule 3`, `rules.events[2]`), for the warnings that name one rule."""


def _unwrapped(document: Any) -> Any:
    """The plan inside the Public API's envelopes (`data`, `trackingPlan`)."""
    while isinstance(document, dict):
        inner = document.get("data", document.get("trackingPlan"))
        if inner is None or "rules" in document:
            break
        document = inner
    return document


def _rules(document: Any) -> Iterator[_Rule | str]:
    """The plan's rules; a rule that cannot be read is a warning line (str) instead."""
    document = _unwrapped(document)
    rules = document.get("rules") if isinstance(document, dict) else document
    if isinstance(rules, list):
        for number, rule in enumerate(rules, 1):
            yield _public_rule(number, rule)
    elif isinstance(rules, dict):
        yield from _config_rules(rules)
    elif isinstance(document, dict) and "events" in document:
        raise PlanError(
            "the catalog's JSON Schema bundle or /api/catalog document, which import does not read: "
            "export the catalog with --format segment-plan or --format csv and import that"
        )
    else:
        raise PlanError("not a Segment tracking plan: no rules (a list, or the Config API's rules object)")


def _public_rule(number: int, rule: Any) -> _Rule | str:
    if not isinstance(rule, dict):
        return f"rule {number}: not imported: not a rule object with a jsonSchema"
    kind = str(rule.get("type", "")).upper()
    named = _is_name(rule.get("key"))
    where = f"rule {number} ({rule['key']})" if named else f"rule {number}"
    if kind not in ("TRACK", "IDENTIFY"):
        return (
            f"{where}: not imported: a {kind or 'untyped'} rule; the catalog holds track and identify calls"
        )
    if not isinstance(rule.get("jsonSchema", {}), dict):
        return f"{where}: not imported: its jsonSchema is {_shown(rule['jsonSchema'])}, not a JSON object"
    if kind == "TRACK" and "key" not in rule:
        return f"{where}: not imported: a TRACK rule without an event name (key)"
    if kind == "TRACK" and not named:
        return f"{where}: not imported: a TRACK rule whose key is {_shown(rule['key'])}, not an event name"
    schema = _mapping(rule.get("jsonSchema"))
    description = str(schema.get("description") or "")
    return _Rule(
        kind.lower(),
        str(rule.get("key") or ""),
        _version(rule.get("version")),
        description,
        _labels(schema.get("labels")),
        schema,
        f"rule {number}",
    )


def _config_rules(rules: dict[str, Any]) -> Iterator[_Rule | str]:
    events = rules.get("events") or []
    if not isinstance(events, list):
        raise PlanError("not a Segment tracking plan: rules.events is not a list")
    for number, event in enumerate(events, 1):
        place = f"rules.events[{number - 1}]"
        problem = _unreadable_event(event)
        if problem is not None:
            named = f"{place} ({event['name']})" if _is_name(event.get("name")) else place
            yield f"{named}: not imported: {problem}"
            continue
        schema = _mapping(event.get("rules"))
        description = event.get("description") or schema.get("description") or ""
        labels = {**_labels(event.get("labels")), **_labels(schema.get("labels"))}
        version = _version(event.get("version"))
        yield _Rule("track", event["name"], version, str(description), labels, schema, place)
    identify = rules.get("identify")
    if isinstance(identify, dict) and identify:
        yield _Rule(
            "identify",
            "",
            1,
            str(identify.get("description") or ""),
            _labels(identify.get("labels")),
            identify,
            "rules.identify",
        )
    elif identify and not isinstance(identify, dict):
        yield f"rules.identify: not imported: {_shown(identify)}, not a JSON object"
    for section in sorted(set(rules) - {"events", "identify"}):
        if rules[section]:
            yield f"rules.{section}: not imported: the catalog holds track and identify calls"


def _unreadable_event(event: Any) -> str | None:
    """Why a Config API plan's event cannot be imported, or None when it can."""
    if not isinstance(event, dict) or "name" not in event:
        return "not an event with a name"
    if not _is_name(event["name"]):
        return f"an event whose name is {_shown(event['name'])}, not an event name"
    if not isinstance(event.get("rules", {}), dict):
        return f"its rules are {_shown(event['rules'])}, not a JSON object"
    return None


def _version(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _is_name(value: Any) -> bool:
    """Whether a rule's key (or event's name) can be an event string: an empty one was imported as
    `Event = ""`."""
    return isinstance(value, str) and bool(value.strip())


def _shown(value: Any) -> str:
    """A plan's value as its JSON says it (`"zero"`, `123`, `[]`), cut short for a warning line."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _labels(value: Any) -> dict[str, str]:
    """Labels as Protocols keeps them: a mapping, or a list of `{key, value}`."""
    if isinstance(value, dict):
        return {str(key): str(text) for key, text in value.items()}
    if isinstance(value, list):
        return {str(item["key"]): str(item.get("value", "")) for item in value if isinstance(item, dict)}
    return {}


class _SchemaReader:
    """Turns one rule's JSON Schema into drafts; `$ref`s resolve against the rule's own schema.

    A `$ref` met again inside its own target (a tree: a `node` whose `child` is a `node`) is read as
    its target's type without its contents (`dict[str, Any]` for an object), with a note: a spec's
    nested models hold no cycle (the catalog's checks and walks follow every field), and following
    it never ended (a RecursionError).

    Its warnings are said of the class being read (`DraftBuilder.say`), so a nested model's field is
    `B.a`, as the lint lines after it name it, not the event's class with a field it does not have;
    `owner`, the spec's class, only prefixes a class name two specs would share.
    """

    def __init__(self, builder: DraftBuilder, root: dict[str, Any]) -> None:
        self.builder = builder
        self.root = root
        self.reading: list[str] = []
        """The `$ref`s whose targets are being read, outermost first."""

    def resolve(self, schema: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        """`schema` with a local `$ref` replaced by its target (the siblings kept over it), titled
        after the definition it names when it has no title of its own. The refs followed stay in
        `reading` until the caller that resolved returns (`_reading`)."""
        seen: set[str] = set()
        while isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            target: Any = self.root if ref.startswith("#") else None
            for part in ref.lstrip("#").strip("/").split("/") if target is not None else []:
                target = target.get(part) if isinstance(target, dict) and part else target
            if ref in seen or not isinstance(target, dict):
                notes.append(f"not imported: $ref {ref} (not a schema inside this rule)")
                return siblings
            if ref in self.reading:
                return self._recursive(ref, target, siblings, notes)
            seen.add(ref)
            self.reading.append(ref)
            named = {"title": pascal(ref.rsplit("/", 1)[-1]), **target}
            schema = {**named, **siblings}
        return schema

    def _recursive(
        self, ref: str, target: dict[str, Any], siblings: dict[str, Any], notes: list[str]
    ) -> dict[str, Any]:
        """A `$ref` inside its own target, as its target's type alone (`object` is free-form)."""
        kind = target.get("type")
        free = {"object": "a free-form object (dict[str, Any])", "array": "a list of Any"}
        what = free.get(kind, "Any") if isinstance(kind, str) else "Any"
        notes.append(
            f"not imported: $ref {ref} inside itself (a recursive schema, which a spec's nested models "
            f"cannot hold): the value is {what}; declare the levels you need by hand"
        )
        return {**({"type": kind} if isinstance(kind, str | list) else {}), **siblings}

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Keep the refs a schema's resolve follows in `reading` while its value is read, no longer:
        a sibling may name the same definition without being inside it."""
        depth = len(self.reading)
        try:
            yield
        finally:
            del self.reading[depth:]

    def properties(
        self, schema: dict[str, Any], owner: str, where: str
    ) -> tuple[list[PropertyDraft], list[str]]:
        """The drafts of an object schema's properties, and notes on those that cannot be fields."""
        drafts: list[PropertyDraft] = []
        notes: list[str] = []
        listed = schema.get("required")
        required = {name for name in listed if isinstance(name, str)} if isinstance(listed, list) else set()
        for name, prop_schema in _mapping(schema.get("properties")).items():
            problem = unusable_name(name, where)
            if problem is not None or not isinstance(prop_schema, dict):
                problem = problem or "has no schema"
                notes.append(f"not imported: {name!r} {problem}; rename it in the plan, or add it by hand")
                self.builder.say(name, f"not imported: {problem}")
                continue
            drafts.append(self.property(name, prop_schema, name in required, owner))
        for name in sorted(required - set(_mapping(schema.get("properties")))):
            # Nothing to make required: said, as every keyword the spec cannot honour is.
            notes.append(f"not imported: required {name!r}, which the properties do not list")
            self.builder.say("", f"not imported: required {name!r}, which its properties do not list")
        return drafts, notes

    def property(self, name: str, schema: dict[str, Any], required: bool, owner: str) -> PropertyDraft:
        """One property's draft: its type, description, example, default and notes."""
        notes: list[str] = []
        with self._reading():
            schema = self.resolve(schema, notes)
            draft = self.type(schema, name, owner, notes)
        examples = schema.get("examples")
        example = examples[0] if isinstance(examples, list) and examples else schema.get("example")
        prop = PropertyDraft(
            name=name,
            type=draft,
            required=required,
            description=str(schema.get("description") or ""),
            example=example,
            personal_data=bool(schema.get(PERSONAL_DATA_KEY)),
            says_not_personal=schema.get(PERSONAL_DATA_KEY) is False,
            notes=notes,
        )
        if example is None and not (isinstance(examples, list) and examples) and "example" not in schema:
            prop.example, prop.example_made_up = made_up_example(draft), True
        problem = example_problem(draft, prop.example)
        if problem is not None:
            notes.append(problem)
        if schema.get("default") is not None:
            if required:
                notes.append(f"not imported: the default {schema['default']!r} of a required property")
            else:
                prop.default = schema["default"]
        for note in notes:
            self.builder.say(name, note)
        return prop

    def type(
        self, schema: dict[str, Any], name: str, owner: str, notes: list[str], docstring: str = ""
    ) -> TypeDraft:
        """A schema's type, its constraints at this level, and notes on what it cannot say.

        `docstring` is the description of the value's own schema, below a property's (a list's
        items, one branch of `anyOf`): for an enum, its class's docstring. A nested model is named
        after its `title` (a `$ref`'s definition gives one), else after the property.
        """
        with self._reading():
            return self._type(schema, name, owner, notes, docstring)

    def _type(
        self, schema: dict[str, Any], name: str, owner: str, notes: list[str], docstring: str
    ) -> TypeDraft:
        schema = self.resolve(schema, notes)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self._union(schema, keyword, name, owner, notes)
        if "allOf" in schema:
            parts = schema["allOf"]
            if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict):
                merged = {
                    **self.resolve(parts[0], notes),
                    **{k: v for k, v in schema.items() if k != "allOf"},
                }
                return self.type(merged, name, owner, notes)
            notes.append("not imported: allOf of several schemas (the type is left open: Any)")
            return scalar("Any")
        schema = _checked(schema, notes)
        skipped = sorted(key for key in schema if key not in _KNOWN and not key.startswith("x-"))
        if skipped:
            notes.append(f"not imported: {', '.join(skipped)}")
        types = schema.get("type")
        names = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
        nullable = "null" in names
        names = [kind for kind in names if kind != "null"]
        if "enum" in schema or "const" in schema:
            values = list(schema["enum"]) if "enum" in schema else [schema["const"]]
            nullable = nullable or None in values
            values = _of_type([value for value in values if value is not None], names, schema, notes)
            draft = self.builder.enum(name, values, owner, notes, docstring) if values else scalar("Any")
        elif len(names) > 1:
            notes.append(f"not imported: a value of several types ({', '.join(names)}); the type is Any")
            draft = scalar("Any")
        else:
            draft = self._typed(schema, names[0] if names else "", name, owner, notes, docstring)
        draft.nullable = nullable
        return draft

    def _union(
        self, schema: dict[str, Any], keyword: str, name: str, owner: str, notes: list[str]
    ) -> TypeDraft:
        options = [self.resolve(option, notes) for option in schema[keyword] if isinstance(option, dict)]
        values = [option for option in options if option.get("type") != "null"]
        if len(values) != 1:
            notes.append(f"not imported: {keyword} of {len(values)} schemas (the type is left open: Any)")
            return scalar("Any")
        rest = {key: value for key, value in schema.items() if key not in (keyword, "default")}
        own = str(values[0].get("description") or "")
        draft = self.type({**values[0], **rest}, name, owner, notes, own)
        draft.nullable = draft.nullable or len(values) < len(options)
        return draft

    def _typed(
        self, schema: dict[str, Any], kind: str, name: str, owner: str, notes: list[str], docstring: str
    ) -> TypeDraft:
        if kind in ("integer", "number"):
            bounds = {arg: schema[key] for key, arg in _NUMBER_BOUNDS.items() if _is_number(schema.get(key))}
            # Draft-04 wrote an exclusive bound as `exclusiveMinimum: true` beside `minimum`.
            if schema.get("exclusiveMinimum") is True and "ge" in bounds:
                bounds["gt"] = bounds.pop("ge")
            if schema.get("exclusiveMaximum") is True and "le" in bounds:
                bounds["lt"] = bounds.pop("le")
            if _is_number(schema.get("multipleOf")):
                bounds["multiple_of"] = schema["multipleOf"]
            return scalar("int" if kind == "integer" else "float", **bounds)
        if kind == "string":
            if "format" in schema:
                notes.append(f"not imported: format {schema['format']!r} (the value is checked as any text)")
            return scalar("str", **{arg: schema[key] for key, arg in _TEXT_BOUNDS.items() if key in schema})
        if kind == "boolean":
            return scalar("bool")
        if kind == "array":
            return self._array(schema, name, owner, notes)
        if kind == "object" or "properties" in schema:
            return self._object(schema, name, owner, notes, docstring)
        if kind:
            notes.append(f"not imported: the type {kind!r}; the type is Any")
        return scalar("Any")

    def _array(self, schema: dict[str, Any], name: str, owner: str, notes: list[str]) -> TypeDraft:
        if schema.get("uniqueItems"):
            notes.append("not imported: uniqueItems (items may repeat)")
        items = schema.get("items")
        if isinstance(items, dict) and items:
            items = self.resolve(items, notes)
            item = self.type(items, singular(name), owner, notes, str(items.get("description") or ""))
        else:
            if items:
                notes.append("not imported: items as a list of schemas (each item is Any)")
            item = scalar("Any")
        bounds = {arg: schema[key] for key, arg in _LIST_BOUNDS.items() if key in schema}
        return TypeDraft("list", item=item, constraints=bounds)

    def _object(
        self, schema: dict[str, Any], name: str, owner: str, notes: list[str], docstring: str
    ) -> TypeDraft:
        if not schema.get("properties"):
            if isinstance(schema.get("additionalProperties"), dict):
                notes.append("not imported: additionalProperties' schema (the values are Any)")
            return TypeDraft("dict")
        self.builder.open_fields()
        properties, field_notes = self.properties(schema, owner, "model")
        for prop in properties:
            personal_by_name(prop, self.builder)
        title = str(schema.get("title") or "")
        model = ModelDraft(
            class_name=title if title.isidentifier() and title[0].isupper() else "",
            docstring=docstring or str(schema.get("description") or ""),
            properties=properties,
            extra="forbid" if schema.get("additionalProperties") is False else "allow",
            notes=field_notes,
        )
        typed = self.builder.model(name, model, owner)
        self.builder.close_fields(model.class_name if typed.model is model else None)
        return typed


def _mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a plan's file may hold anything)."""
    return value if isinstance(value, dict) else {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_type(value: Any) -> bool:
    names = value if isinstance(value, list) else [value]
    return all(isinstance(name, str) for name in names)


def _is_a(*kinds: type) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kinds)


_KEYWORD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{key: (_is_number, "a number") for key in ("minimum", "maximum")},
    # Draft-04 wrote an exclusive bound as true beside minimum or maximum.
    **{
        key: (lambda value: _is_number(value) or isinstance(value, bool), "a number, or true or false")
        for key in ("exclusiveMinimum", "exclusiveMaximum")
    },
    "multipleOf": (lambda value: _is_number(value) and value > 0, "a number above 0"),
    **{
        key: (_is_count, "a whole number, 0 or more")
        for key in ("minLength", "maxLength", "minItems", "maxItems")
    },
    **{key: (_is_a(str), "text") for key in ("pattern", "format")},
    "type": (_is_type, "a type name or a list of them"),
    "enum": (_is_a(list), "a list of values"),
    "examples": (_is_a(list), "a list of values"),
    "required": (
        lambda value: isinstance(value, list) and all(isinstance(name, str) for name in value),
        "a list of property names",
    ),
    "properties": (_is_a(dict), "an object of schemas"),
    "items": (_is_a(dict, list), "a schema or a list of schemas"),
    "additionalProperties": (_is_a(bool, dict), "true, false or a schema"),
    "uniqueItems": (_is_a(bool), "true or false"),
}
"""The JSON type of each keyword the import reads, as JSON Schema (draft-07) has it, and how a
warning names it (`anyOf`, `oneOf` and `allOf` are read before, each saying what it cannot)."""

_VALUE_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "integer": (lambda value: _is_number(value) and float(value).is_integer(), "an integer"),
    "number": (_is_number, "a number"),
    "string": (_is_a(str), "text"),
    "boolean": (_is_a(bool), "true or false"),
    "array": (_is_a(list), "a list"),
    "object": (_is_a(dict), "an object"),
}
"""What a value of each JSON type is, for the allowed values (`enum`, `const`) of a typed schema."""


def _checked(schema: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """`schema` without the keywords whose value has the wrong JSON type, each named in `notes`:
    read as they were, `minimum: "zero"` or `required: "amount"` was dropped in silence, and
    `minLength: "x"` or `enum: 5` stopped the import with a traceback."""
    wrong = [key for key, (fits, _) in _KEYWORD_TYPES.items() if key in schema and not fits(schema[key])]
    for key in wrong:
        notes.append(f"not imported: {key} {_shown(schema[key])}, which is not {_KEYWORD_TYPES[key][1]}")
    return {key: value for key, value in schema.items() if key not in wrong}


def _of_type(values: list[Any], names: list[str], schema: dict[str, Any], notes: list[str]) -> list[Any]:
    """The allowed values a schema of one type can hold, the others named in `notes`: no value
    `"a"` is an integer, so `{"type": "integer", "enum": [1, "a"]}` accepts 1 alone."""
    if len(names) != 1 or names[0] not in _VALUE_TYPES:
        return values
    fits, kind = _VALUE_TYPES[names[0]]
    keyword = "enum" if "enum" in schema else "const"
    for value in values:
        if not fits(value):
            notes.append(f"not imported: {keyword} value {_shown(value)}, which is not {kind}")
    return [value for value in values if fits(value)]


def read_segment_plan(document: Any, builder: DraftBuilder) -> None:
    """Add a Segment plan's specs to `builder`'s plan.

    Raises:
        PlanError: the document is not a tracking plan.
    """
    found: dict[tuple[str, str], list[_Rule]] = {}
    unread: list[str] = []
    for rule in _rules(document):
        if isinstance(rule, str):
            builder.warn(rule)
            unread.append(rule)
            continue
        # Each identify rule is a spec of its own; the rules of one event are versions of one spec.
        slot = (rule.kind, rule.key if rule.kind == "track" else str(len(found)))
        found.setdefault(slot, []).append(rule)
    if not found:
        raise PlanError("the plan has no track or identify rule" + _why_none(unread))
    rules = [_latest(versions, builder) for versions in found.values()]
    places = [rule.place for rule in rules if rule.kind == "identify"]
    names = [IDENTIFY_NAME, *(f"{IDENTIFY_NAME} {n}" for n in range(2, len(places) + 1))]
    if len(places) > 1:
        builder.warn(
            f"the plan has {len(places)} identify rules ({', '.join(places)}): each is an identify spec "
            f"of its own ({', '.join(names)}), none merged or left out; name each after the moment it is sent"
        )
    unnamed = iter(names)
    specs = [
        (_header(rule, builder, next(unnamed) if rule.kind == "identify" else ""), rule) for rule in rules
    ]
    for spec, rule in specs:
        _fill(spec, rule, builder)
        builder.plan.specs.append(spec)


def _why_none(unread: list[str]) -> str:
    """The rules left out of a plan that imports none, which its one error line names (the warnings
    that name them are not printed): "no track or identify rule" alone was wrong when a rule had
    only a malformed key or jsonSchema."""
    if not unread:
        return ""
    more = f"; and {counted(len(unread) - 3, 'more rule')}" if len(unread) > 3 else ""
    return f" to import: {'; '.join(unread[:3])}{more}"


def _latest(versions: list[_Rule], builder: DraftBuilder) -> _Rule:
    """The rule of the highest version among one event's (the first of them on a tie), the others
    named in a warning: a spec has one shape, so their properties are not imported."""
    kept = max(versions, key=lambda rule: rule.version)
    others = [f"{rule.place} (version {rule.version})" for rule in versions if rule is not kept]
    if others:
        builder.warn(
            f"{kept.key}: several rules; {kept.place}, version {kept.version}, is imported, "
            f"not {', '.join(others)}"
        )
    return kept


def _header(rule: _Rule, builder: DraftBuilder, identify_name: str) -> SpecDraft:
    labels = rule.labels
    owners = _listed(labels.get("owner", ""))
    if rule.kind == "identify":
        spec = SpecDraft("identify", identify_name, builder.claim("PlanIdentify"), rule.description, "", "")
        spec.notes.append(
            "Segment keeps one identify rule for every identify call: name this spec after the moment it "
            "is sent (Register, Login…), and split it when several calls send different traits."
        )
    else:
        constant = builder.spec_class(rule.key, "track", labels.get("constant", "").strip())
        spec = SpecDraft("track", rule.key, constant, rule.description, labels.get("category", ""), "")
    if len(owners) > 1:
        spec.notes.append(f"the plan names several owners ({', '.join(owners)}): the first is used")
        builder.warn(f"{spec.name}: the plan names several owners ({', '.join(owners)}); the first is used")
    spec.owner = owners[0] if owners else ""
    spec.status = _status(spec, _listed(labels.get("status", "").lower()), builder)
    spec.replaced_by = labels.get("replaced_by")
    return spec


def _listed(label: str) -> list[str]:
    """A label's values: our export lists the owners and statuses of the identify calls it merges."""
    return list(dict.fromkeys(value.strip() for value in label.split(LABEL_SEPARATOR) if value.strip()))


def _status(spec: SpecDraft, statuses: list[str], builder: DraftBuilder) -> str:
    """The status of a spec whose rule may merge calls of several: active when any of them is sent,
    since the one spec then stands for a call applications make; else the first named."""
    if len(statuses) <= 1:
        return statuses[0] if statuses else str(Status.ACTIVE)
    status = str(Status.ACTIVE) if Status.ACTIVE in statuses else statuses[0]
    message = f"the plan names several statuses ({', '.join(statuses)}): {status} is used"
    spec.notes.append(message)
    builder.warn(f"{spec.name}: {message}")
    return status


def _fill(spec: SpecDraft, rule: _Rule, builder: DraftBuilder) -> None:
    reader = _SchemaReader(builder, rule.schema)
    own: list[str] = []
    sections = _mapping(_checked(rule.schema, own).get("properties"))
    section = "traits" if spec.kind == "identify" else "properties"
    for other, value in sections.items():
        if other != section and value:
            own.append(f"not imported: the rule's {other} constraints")
    if not isinstance(sections.get(section, {}), dict):
        own.append(f"not imported: the rule's {section}, {_shown(sections[section])}, which is not a schema")
    payload = reader.resolve(_mapping(sections.get(section)), spec.notes)
    payload = _checked(payload, own)
    builder.open_fields()
    for note in own:
        spec.notes.append(note)
        builder.say("", note)
    properties, notes = reader.properties(payload, spec.class_name, spec.kind)
    spec.notes.extend(notes)
    if properties and payload.get("additionalProperties") is not False:
        spec.notes.append("the plan allows properties it does not list; a spec refuses them")
    if spec.kind == "track":
        names = [prop.name for prop in properties]
        added = settle_scope(spec, rule.labels.get("scope", ""), [], names, builder)
        properties = [prop for prop in properties if prop.name not in added]
    for prop in properties:
        personal_by_name(prop, builder)
    builder.close_fields(spec.class_name)
    spec.properties = properties
