"""Specs read from another tracking plan, before they are written as Python: `event-catalog import`.

The CSV and Segment Protocols readers (`analytics.plan_csv`, `analytics.plan_segment`) each turn a
plan into the drafts here; `analytics.spec_source` writes the drafts as the Python of
`analytics/tracks.py`. The two readers share the naming rules (class names, enum members, one enum
class or nested model for one set of values or fields), the choice of scope and the examples a plan
does not give, so that one plan reads the same in either format.

What a draft cannot say is never dropped: it becomes a note, written as a comment where the team
pastes the code, and a warning the command prints.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from analytics.personal_data import looks_personal
from analytics.scopes import SCOPES, UserScope
from analytics.spec import IdentifySpec, TrackSpec

NO_DEFAULT: Any = object()
"""A property without a default: required, or optional with `None`."""

MADE_UP = "made-up example: the plan gives none"
"""The note on an example the plan does not give, so that a reviewer replaces it."""

_WORDS = re.compile(r"[A-Za-z0-9]+")


class PlanError(ValueError):
    """The file is not a plan that can be read: said in one line."""


@dataclass
class EnumDraft:
    """An enum class for a closed set of values.

    Attributes:
        class_name: the class's name.
        base: `StrEnum` or `IntEnum`.
        members: (member name, value) pairs, in the plan's order.
        docstring: the class's docstring.
        module: the catalog module that already defines this enum (with these values), which the
            import uses instead of defining it again; empty for a class the module defines.
    """

    class_name: str
    base: str
    members: list[tuple[str, Any]]
    docstring: str
    module: str = ""

    def member(self, value: Any) -> str | None:
        """The member name of `value`, or None when it is not one of the values."""
        return next((name for name, member in self.members if member == value), None)


@dataclass
class TypeDraft:
    """A property's type, with the constraints at its own level.

    Attributes:
        kind: `scalar` (`python` names it: str, int, float, bool, Any), `enum`, `literal`,
            `model`, `list` (of `item`) or `dict` (an object the plan does not describe).
        python: the scalar's Python name.
        enum: the enum class, for `enum`.
        values: the allowed values, for `literal`.
        model: the nested model, for `model`.
        item: the item type, for `list`.
        constraints: `pydantic.Field` arguments at this level (`ge`, `min_length`, `pattern`…);
            below the top level they are written as `Annotated[T, Field(...)]`.
        nullable: whether `None` is a value too.
    """

    kind: str
    python: str = ""
    enum: EnumDraft | None = None
    values: tuple[Any, ...] = ()
    model: ModelDraft | None = None
    item: TypeDraft | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    nullable: bool = False


def enum_docstring(prop: str) -> str:
    """The docstring of an enum class whose plan gives it none."""
    return f"Allowed values of `{prop}`."


def scalar(python: str, **constraints: Any) -> TypeDraft:
    """A str, int, float, bool or Any type."""
    return TypeDraft("scalar", python=python, constraints=constraints)


@dataclass
class PropertyDraft:
    """One property (or trait, or nested field).

    Attributes:
        name: the key in the payload.
        type: its type.
        required: whether every message carries it.
        description: what it means.
        example: a realistic value as JSON, or None when made up (`example_made_up`).
        example_made_up: whether the plan gave no example.
        personal_data: whether it identifies a person.
        says_not_personal: whether the plan says on purpose that it holds none (a Segment plan's
            `"x-personal-data": false`, a CSV's `no`): a free-form value is then written
            `personal_data=False`, the answer lint's EC017 asks of it.
        default: the default value when optional, or `NO_DEFAULT` (then `None` when optional).
        notes: what the plan said that the property cannot, as comment lines.
    """

    name: str
    type: TypeDraft
    required: bool
    description: str
    example: Any
    example_made_up: bool = False
    personal_data: bool = False
    says_not_personal: bool = False
    default: Any = NO_DEFAULT
    notes: list[str] = field(default_factory=list)


@dataclass
class ModelDraft:
    """A nested object's model.

    Attributes:
        class_name: the class's name.
        docstring: the class's docstring.
        properties: its fields.
        extra: `forbid` when the plan refuses fields it does not list, else `allow`.
        notes: comments above its fields (fields the plan has but Python cannot name).
    """

    class_name: str
    docstring: str
    properties: list[PropertyDraft]
    extra: str = "forbid"
    notes: list[str] = field(default_factory=list)


@dataclass
class SpecDraft:
    """A track or identify spec.

    Attributes:
        kind: `track` or `identify`.
        name: the event string, or the identify call's name.
        class_name: the class's name (the `SegmentEvent` constant, for a track spec).
        description: the docstring.
        category: the catalog category's value (track specs).
        owner: the owning team's value.
        status: `planned`, `active` or `deprecated` (as the plan says it; `plan_import` checks it).
        replaced_by: for a deprecated event, the event string to send instead.
        replaced_by_constant: that event's `SegmentEvent` constant, once found.
        scope: the scope class.
        properties: its own properties.
        notes: comments above the class.
        name_notes: comments above its `SegmentEvent` member (the naming rules it breaks).
    """

    kind: str
    name: str
    class_name: str
    description: str
    category: str
    owner: str
    status: str = "active"
    replaced_by: str | None = None
    replaced_by_constant: str | None = None
    scope: type[UserScope] = UserScope
    properties: list[PropertyDraft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name_notes: list[str] = field(default_factory=list)


@dataclass
class PlanDraft:
    """A whole plan: its specs, and the enums and nested models they use, in definition order.

    Attributes:
        source: what the plan was read from, for the module's docstring.
        specs: track specs, then identify specs, in the plan's order.
        enums: the enum classes the module defines.
        reused: the catalog's own enums the module imports instead (same values).
        models: the nested models, each after the models it uses.
        new_members: the `Category` and `Team` members the plan needs that `analytics.spec` lacks,
            as `Category.BILLING = "Billing"`.
        warnings: one line each, for standard error.
    """

    source: str
    specs: list[SpecDraft] = field(default_factory=list)
    enums: list[EnumDraft] = field(default_factory=list)
    reused: list[EnumDraft] = field(default_factory=list)
    models: list[ModelDraft] = field(default_factory=list)
    new_members: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def pascal(text: str) -> str:
    """`order_completed`, `Order Completed` → `OrderCompleted`; acronyms kept (`AWS Login` → `AWSLogin`)."""
    return "".join(word if word.isupper() else word[:1].upper() + word[1:] for word in _WORDS.findall(text))


def singular(name: str) -> str:
    """A plural property name's singular, for the model of a list's items (`line_items` → `line_item`)."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith(("ss", "us")) and len(name) > 2:
        return name[:-1]
    return f"{name}_item"


def member_name(value: Any) -> str:
    """An enum member's name for a value: `pro-seat` → `PRO_SEAT`, `1` → `V1`."""
    name = re.sub(r"\W+", "_", str(value), flags=re.ASCII).strip("_").upper() or "EMPTY"
    return f"V{name}" if name[0].isdigit() else name


_RESERVED_FIELDS = {
    "track": {"scope", *TrackSpec.__class_vars__},
    "identify": {"scope", *IdentifySpec.__class_vars__},
    "model": set(),
}


def unusable_name(name: str, where: str) -> str | None:
    """Why a payload key cannot be a field of a spec (`where` = track, identify) or nested model, or
    None: fields are Python names, and pydantic keeps `_x` private and refuses names of its own."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return "is not a Python name"
    if name.startswith("_"):
        return "starts with _, which pydantic keeps private"
    if name in _RESERVED_FIELDS[where] or hasattr(BaseModel, name):
        return "is a name the spec classes use themselves"
    return None


class DraftBuilder:
    """What both readers share: unique class names, one enum or model per shape, and warnings.

    Args:
        source: what the plan was read from.
        taken: class names the generated module imports, which no draft may take.
        existing: the classes the catalog's modules already define, by name (`Region`, `LineItem`):
            pasted next to them, an enum or model of the same name would rebind it for every spec
            and application below. An enum with the same values is used instead; any other class of
            that name is renamed, with a warning.
    """

    def __init__(self, source: str, taken: Iterable[str], existing: Mapping[str, type] | None = None) -> None:
        self.plan = PlanDraft(source)
        self._taken = set(taken)
        self._existing = dict(existing or {})
        self._enums: dict[tuple[str, tuple[Any, ...]], EnumDraft] = {}
        self._models: dict[str, ModelDraft] = {}
        self._said: list[list[str | tuple[str, str]]] = []
        """For each class whose fields are being read, outermost first: what is said of them."""

    def warn(self, message: str) -> None:
        """Add a warning line (the command prints each on standard error)."""
        self.plan.warnings.append(message)

    def open_fields(self) -> None:
        """Start reading a class's fields (a spec's, or a nested model's): what `say` says of them
        waits for the class's name, which a nested model gets only once its fields are read."""
        self._said.append([])

    def say(self, field: str, message: str) -> None:
        """A warning on `field` of the class whose fields are being read (on the class itself when
        `field` is empty), named `Class.field` as the import's lint lines and EC017 warning name it."""
        self._said[-1].append((field, message))

    def close_fields(self, class_name: str | None) -> None:
        """The class's fields are read: its warnings go out under `class_name`, or not at all when
        it is None (a nested model of the same fields, whose class was said once already)."""
        said = self._said.pop()
        lines = [] if class_name is None else [_said_line(class_name, entry) for entry in said]
        if self._said:
            self._said[-1].extend(lines)
        else:
            self.plan.warnings.extend(lines)

    def spec_class(self, name: str, kind: str, given: str) -> str:
        """A spec's class name: the plan's constant (`given`: the CSV's `constant` column, the Segment
        rule's `constant` label) when it is a Python name, else one made from the spec's name; said
        in a warning when it is not a Python name, or names another class too."""
        wanted = given if given.isidentifier() else pascal(name) + ("Identify" if kind == "identify" else "")
        if given and not given.isidentifier():
            self.warn(f"{name}: the constant {given!r} is not a Python name: {wanted} is written")
        class_name = self.claim(wanted or "Event", "Event")
        if class_name != wanted:
            self.warn(f"{name}: {wanted} names another class too: {class_name} is written")
        return class_name

    def claim(self, wanted: str, prefix: str = "", avoid: Collection[str] = ()) -> str:
        """A class name not yet used (nor in `avoid`): `wanted`, else `prefix + wanted`, else numbered."""
        for candidate in (wanted, prefix + wanted):
            free = candidate not in self._taken and candidate not in avoid
            if candidate.isidentifier() and not keyword.iskeyword(candidate) and free:
                self._taken.add(candidate)
                return candidate
        number = 2
        while f"{prefix}{wanted}{number}" in self._taken or f"{prefix}{wanted}{number}" in avoid:
            number += 1
        self._taken.add(f"{prefix}{wanted}{number}")
        return f"{prefix}{wanted}{number}"

    def enum(
        self, prop: str, values: list[Any], owner: str, notes: list[str], docstring: str = ""
    ) -> TypeDraft:
        """The enum class of a closed set of values, one class for each property name and set of
        values: a `Literal` for text and whole numbers mixed (or booleans), and an open type (with a
        note) for values a `Literal` cannot hold (fractions, lists, objects).

        Args:
            prop: the property's name, which names the class.
            values: the values.
            owner: the spec's class name, to tell apart two classes of one name.
            notes: where to say what cannot be said.
            docstring: the class's docstring, when the plan has one (an enum's own description).
        """
        if all(isinstance(value, str) for value in values):
            base = "StrEnum"
        elif all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            base = "IntEnum"
        elif all(isinstance(value, str | int) for value in values):
            return TypeDraft("literal", values=tuple(values))
        else:
            shown = ", ".join(json.dumps(value) for value in values)
            notes.append(f"not imported: the allowed values {shown} (the type is left open: Any)")
            return scalar("Any")
        key = (prop, tuple(values))
        if key not in self._enums:
            wanted = pascal(prop) or "Value"
            reused = self._reusable(wanted, base, values)
            if reused is not None:
                self._enums[key] = reused
                self.plan.reused.append(reused)
                return TypeDraft("enum", enum=reused)
            members: list[tuple[str, Any]] = []
            for value in values:
                name = member_name(value)
                while name in {member for member, _ in members}:
                    name += "_"
                members.append((name, value))
            class_name = self.claim(wanted, owner, self._existing)
            if wanted in self._existing:
                notes.append(self._clash(wanted, class_name, "an enum"))
            draft = EnumDraft(class_name, base, members, docstring or enum_docstring(prop))
            self._enums[key] = draft
            self.plan.enums.append(draft)
        elif docstring and self._enums[key].docstring == enum_docstring(prop):
            self._enums[key].docstring = docstring
        return TypeDraft("enum", enum=self._enums[key])

    def _reusable(self, name: str, base: str, values: list[Any]) -> EnumDraft | None:
        """The catalog's own enum called `name`, when it has the same base and values."""
        known = self._existing.get(name)
        if known is None or not issubclass(known, Enum) or known.__mro__[1].__name__ != base:
            return None
        members = [(member.name, member.value) for member in known]
        if len(members) != len(values) or {value for _, value in members} != set(values):
            return None
        return EnumDraft(name, base, members, known.__doc__ or "", module=known.__module__)

    def _clash(self, wanted: str, used: str, what: str) -> str:
        """The note (the readers warn with a property's notes) that the catalog already has a class
        called `wanted`, so this draft (`what`) is called `used`."""
        module = self._existing[wanted].__module__
        return (
            f"{module} already has a class {wanted}: this one ({what}) is named {used}; "
            f"use the catalog's {wanted} instead if it fits"
        )

    def model(self, hint: str, draft: ModelDraft, owner: str) -> TypeDraft:
        """A nested model's type; one class for each set of fields, named after `hint`. Called
        before `close_fields` of its fields: a clash with the catalog's classes is said of it."""
        wanted = draft.class_name or pascal(hint) or "Item"
        shape = repr((draft.docstring, draft.extra, draft.notes, [_shape(p) for p in draft.properties]))
        if shape not in self._models:
            draft.class_name = self.claim(wanted, owner, self._existing)
            if wanted in self._existing:
                note = self._clash(wanted, draft.class_name, "a nested model")
                draft.notes.insert(0, note)
                self.say("", note)
            self._models[shape] = draft
            self.plan.models.append(draft)
        return TypeDraft("model", model=self._models[shape])


def _said_line(class_name: str, entry: str | tuple[str, str]) -> str:
    """A warning line said of a class's field (a line already made, of a model inside, as it is)."""
    if isinstance(entry, str):
        return entry
    field, message = entry
    return f"{class_name}{'.' if field else ''}{field}: {message}"


def _shape(prop: PropertyDraft) -> Any:
    return (
        prop.name,
        _type_shape(prop.type),
        prop.required,
        prop.description,
        repr(prop.example),
        prop.notes,
    )


def _type_shape(draft: TypeDraft | None) -> Any:
    if draft is None:
        return None
    named = draft.enum.class_name if draft.enum else draft.model.class_name if draft.model else ""
    constraints = sorted(draft.constraints.items())
    return (
        draft.kind,
        draft.python,
        named,
        draft.values,
        constraints,
        draft.nullable,
        _type_shape(draft.item),
    )


def scope_by_label(label: str) -> type[UserScope] | None:
    """The scope the catalog shows as `label`, case aside."""
    return next((scope for scope in SCOPES if scope.label.casefold() == label.strip().casefold()), None)


def widest_scope_within(ids: Iterable[str]) -> type[UserScope]:
    """The narrowest scope all of whose id properties are among `ids` (the user scope, at least)."""
    present = set(ids)
    fitting = [scope for scope in SCOPES if set(scope.property_fields().values()) <= present]
    return max(fitting, key=lambda scope: len(scope.property_fields()))


def settle_scope(
    spec: SpecDraft, label: str, ids: list[str], names: list[str], builder: DraftBuilder
) -> set[str]:
    """Give a track spec its scope, and return the id properties the scope adds (which the spec
    must not declare again).

    Args:
        spec: the spec.
        label: the scope's label in the plan ("Project"), or empty when the plan does not say.
        ids: the properties the plan says the scope adds, or empty when it does not say.
        names: every property the plan lists for the event.
        builder: for the warnings.
    """
    scope = scope_by_label(label) if label else None
    if scope is None:
        scope = widest_scope_within(ids or names)
        if label:
            message = f'the scope "{label}" is not one of analytics.scopes.SCOPES: {scope.__name__} is used'
            spec.notes.append(f"{message}; define the scope first to import its ids as one")
            builder.warn(f"{spec.name}: {message}")
    spec.scope = scope
    added = set(scope.property_fields().values())
    missing = sorted(added - set(names))
    if missing:
        message = f"{scope.__name__} adds {', '.join(missing)}, which the plan does not list"
        spec.notes.append(message)
        builder.warn(f"{spec.name}: {message}")
    return added


def is_free_form_draft(draft: TypeDraft) -> bool:
    """Whether a drafted type holds keys no spec declares, as `analytics.nested.is_free_form` says of
    an annotation: an object the plan does not describe, `Any`, or a list of them."""
    if draft.kind == "list":
        return draft.item is not None and is_free_form_draft(draft.item)
    return draft.kind == "dict" or (draft.kind == "scalar" and draft.python == "Any")


def personal_by_name(prop: PropertyDraft, builder: DraftBuilder) -> None:
    """Mark a property the plan says nothing about as personal data when its name says so, as
    `event-catalog lint` (EC013) would ask; say so (of the class whose fields are being read),
    since the plan did not."""
    if looks_personal(prop.name) and not prop.personal_data:
        prop.personal_data = True
        prop.notes.append("personal data by its name: the plan does not say; check it")
        builder.say(prop.name, "marked personal data by its name (the plan does not say)")


def made_up_example(draft: TypeDraft) -> Any:
    """A value of `draft` within its constraints, for a property the plan gives no example of.

    A string's pattern cannot be satisfied in general: a few simple strings are tried, and when
    none matches the value is a placeholder that `example_problem` reports.
    """
    if draft.kind == "enum" and draft.enum is not None:
        return draft.enum.members[0][1]
    if draft.kind == "literal":
        return draft.values[0]
    if draft.kind == "model" and draft.model is not None:
        return {p.name: p.example for p in draft.model.properties if p.required}
    if draft.kind == "dict":
        return {}
    if draft.kind == "list" and draft.item is not None:
        return [made_up_example(draft.item)] * max(1, int(draft.constraints.get("min_length", 1)))
    if draft.python in ("int", "float"):
        return _number_example(draft.constraints, integer=draft.python == "int")
    if draft.python == "bool":
        return False
    if draft.python == "str":
        return _text_example(draft.constraints)
    return "example"


def _number_example(bounds: dict[str, Any], *, integer: bool) -> float:
    ge, gt, le, lt = (bounds.get(key) for key in ("ge", "gt", "le", "lt"))
    step = bounds.get("multiple_of")
    candidates = [1, 0, ge, le]
    candidates += [gt + 1] if gt is not None else []
    candidates += [lt - 1] if lt is not None else []
    low, high = (ge if ge is not None else gt), (le if le is not None else lt)
    candidates += [(low + high) / 2] if low is not None and high is not None else []
    for candidate in candidates:
        if candidate is None:
            continue
        value = round(candidate / step) * step if step else candidate
        value = int(value) if integer else float(value)
        if (
            (ge is None or value >= ge)
            and (gt is None or value > gt)
            and (le is None or value <= le)
            and (lt is None or value < lt)
        ):
            return value
    return 1 if integer else 1.0


def _text_example(bounds: dict[str, Any]) -> str:
    shortest, longest = int(bounds.get("min_length", 0)), int(bounds.get("max_length", 1_000))
    pattern = bounds.get("pattern")
    candidates = ["example"] + [char * size for size in range(1, 17) for char in "0aA"]
    for candidate in candidates:
        text = candidate.ljust(shortest, "x")[:longest]
        if pattern is None or _matches(pattern, text) is not False:
            return text
    return "example"


def _matches(pattern: str, text: str) -> bool | None:
    """Whether `text` matches `pattern` as pydantic checks it (a search), or None when Python's
    `re` cannot read the pattern (JSON Schema's are ECMA 262)."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return None


def example_problem(draft: TypeDraft, value: Any) -> str | None:
    """Why `value` breaks a string pattern of `draft` (at any depth), or None."""
    if draft.kind == "list" and draft.item is not None and isinstance(value, list):
        return next(filter(None, (example_problem(draft.item, item) for item in value)), None)
    pattern = draft.constraints.get("pattern")
    if isinstance(value, str) and pattern is not None and _matches(pattern, value) is False:
        return f"the example {value!r} does not match the pattern: write one that does"
    return None
