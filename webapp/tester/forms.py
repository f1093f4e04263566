"""The tester's inputs: what was typed (kept as typed) and the form fields generated from a spec's schema.

The form is not a fixed WTForms class: its fields come from the chosen spec's JSON Schema (through
the catalog), so an event added in code gets its tester form with no other step. What is typed is
kept as text and handed to the pydantic spec unchanged, so validation and its messages are the
spec's own (but a scope field's, which the form words itself: `scope_error_words`); only a nested
object or a list of them, which no line of text can spell, is typed as JSON and read as JSON first.
CSRF is Flask-WTF's `CSRFProtect`, applied to every POST.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic_core import ErrorDetails
from werkzeug.datastructures import MultiDict

from analytics.catalog import CATALOG, PropertyInfo, SpecInfo
from analytics.scopes import MAX_ID, UserScope
from analytics.storable_text import SURROGATE, unstorable_in
from analytics.strict_json import DuplicateKey, TooDeep, load_json
from analytics.wording import sentence
from webapp.tester.destinations import DEFAULT_NAME

SCOPE = "scope."
PROP = "prop."
FIELDS, RAW = "fields", "raw"
_TRUE = frozenset({"on", "true", "1", "yes"})
_FALSE = frozenset({"off", "false", "0", "no"})
_PLAIN = frozenset({"string", "integer", "number", "boolean", "any", "null"})
"""Types a field holds as text (a list of them one item per line); anything else is typed as JSON."""


MAX_TOKEN_LENGTH = 64
"""The longest idempotency token a send takes (the size of `tester_sends.form_token`)."""


def token_problem(token: str | None) -> str | None:
    """Why a send cannot take this idempotency token (None: it can, or there is none), as the API,
    `send --token` and the form say it: it must have 1 to `MAX_TOKEN_LENGTH` characters."""
    if token is not None and not 1 <= len(token) <= MAX_TOKEN_LENGTH:
        return f"must have 1 to {MAX_TOKEN_LENGTH} characters, not {len(token)}"
    return None


def new_token() -> str:
    """A fresh per-form token: a double submit of one form carries the same one."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class TesterInput:
    """What an engineer asked the tester for, as typed; the form, the API and the CLI all produce one
    (the API a `JsonInput`, whose properties are JSON values rather than field text).

    Attributes:
        spec: an event constant or string, or an identify spec's class name or name.
        scope: scope field name → typed text.
        props: property name → typed text (a bool for checkboxes, a list for arrays).
        mode: `fields`, or `raw` when the properties are edited as JSON.
        raw: the properties as JSON text, in raw mode.
        destination: the destination's name.
        confirm_production: the engineer confirmed a send to a production destination.
        confirm_deprecated: the engineer confirmed sending a deprecated event.
        token: the form's idempotency token.
        repeated: form field name → its values, for a field the form gave more than once (only a
            form edited in the browser or a scripted POST does; `compose` refuses the spec's own).
    """

    spec: str = ""
    scope: dict[str, Any] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)
    mode: str = FIELDS
    raw: str = ""
    destination: str = DEFAULT_NAME
    confirm_production: bool = False
    confirm_deprecated: bool = False
    token: str | None = None
    repeated: dict[str, list[str]] = field(default_factory=dict)

    def property_value(self, prop: PropertyInfo) -> Any:
        """A property's value as the spec should see it: its field's text, typed (None: left empty).

        Raises:
            FieldTextError: a JSON field's text is not JSON the tester can send.
        """
        return typed_value(prop, self.props.get(prop.name))

    def scope_value(self, name: str) -> Any:
        """A scope field's value as the spec should see it: its text, trimmed (None: left empty).

        A field or a `--scope "user=1, project=2"` carries spaces no one meant as part of an id.
        """
        value = self.scope.get(name)
        text = "" if value is None else str(value).strip()  # 0 is a value, not absent
        return text or None

    def with_examples(self, info: SpecInfo) -> TesterInput:
        """Every empty field filled with its example; what was typed stays."""
        scope = {name: self.scope.get(name) or example for name, example in scope_examples(info).items()}
        examples = {p.name: p.example for p in info.properties if not p.from_scope and p.example is not None}
        if self.mode == RAW:
            current = parse_raw_object(self.raw) or {}
            return replace(self, scope=scope, raw=dump_raw({**examples, **current}))
        props = {
            p.name: self.props.get(p.name) or field_text(p, p.example)
            for p in own_properties(info)
            if p.example is not None
        }
        return replace(self, scope=scope, props={**self.props, **props})

    def as_shown(self) -> TesterInput:
        """The input as the form's fields show it: each property as its field's text (a list one item
        per line, as the field reads it back).

        The form's preview is composed from this, so that it is the message the form posts next: a
        list held as a list previewed right while its field showed Python's repr of it.
        """
        if self.mode == RAW:
            return self
        return replace(self, props={name: display_value(value) for name, value in self.props.items()})

    def switch_problem(self, mode: str, info: SpecInfo | None) -> str | None:
        """Why the raw editor's text cannot move to the fields without losing some of it, if it cannot.

        The fields hold the spec's own properties, a select only its allowed values, a checkbox only
        true or false and a text or lines field no object: anything else stays in the raw editor,
        which says what is in the way. A JSON field (an object, a list of objects) holds any value.
        """
        if self.mode != RAW or mode != FIELDS or info is None:
            return None
        parsed = parse_raw_object(self.raw)
        if parsed is None:
            return (
                "This is not a JSON object: fix it before switching to fields, which could keep none of it."
            )
        if problem := unstorable_text(parsed):
            # A field would show the surrogate itself, which no page can carry (UTF-8 cannot encode it).
            return problem
        props = {p.name: p for p in own_properties(info)}
        unknown, unshowable = "not a property of this event", "a value its field cannot hold"
        kept_out = [
            f"{key} ({unknown if key not in props else unshowable})"
            for key, value in parsed.items()
            if key not in props or not _field_holds(props[key], value)
        ]
        if not kept_out:
            return None
        return f"Fields cannot show {', '.join(kept_out)}: change or remove it here to switch."

    def switched_to(self, mode: str, info: SpecInfo | None) -> TesterInput:
        """The same values in the other properties editor (see `switch_problem` for what cannot move)."""
        if mode == self.mode or info is None:
            return replace(self, mode=mode)
        if mode == RAW:
            values = {p.name: json_value(p, self.props.get(p.name)) for p in own_properties(info)}
            return replace(self, mode=RAW, raw=dump_raw({k: v for k, v in values.items() if v is not None}))
        parsed = parse_raw_object(self.raw) or {}
        props = {p.name: p for p in own_properties(info)}
        return replace(self, mode=FIELDS, props={k: field_text(props[k], v) for k, v in parsed.items()})


def takes_json(prop: PropertyInfo) -> bool:
    """Whether the property's field is typed as JSON: an object, or a list of anything but plain
    values (a list of objects), which neither a line of text nor one line per item can spell."""
    return prop.type.removeprefix("array of ") not in _PLAIN


def _field_holds(prop: PropertyInfo, value: Any) -> bool:
    """Whether the property's form field can show this JSON value (a select, a checkbox or a number
    field cannot show all: a browser empties a number field given text, and the value is gone; a
    text or lines field would send an object as the text of it)."""
    if takes_json(prop):
        return True
    if isinstance(value, dict) or (isinstance(value, list) and not prop.type.startswith("array")):
        return False
    if isinstance(value, list):
        return not any(isinstance(item, dict | list) for item in value)
    if prop.type == "boolean":
        return isinstance(value, bool) or value is None
    if prop.allowed_values is not None and not prop.type.startswith("array"):
        return value is None or value in prop.allowed_values
    if _widget(prop) == "number":
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    return True


def scope_examples(info: SpecInfo) -> dict[str, Any]:
    """Each scope field of the spec's scope and its example."""
    return {name: f.examples[0] for name, f in info.scope.model_fields.items() if f.examples}


def own_properties(info: SpecInfo) -> list[PropertyInfo]:
    """The spec's own properties (not the scope's ids)."""
    return [p for p in info.properties if not p.from_scope]


def display_value(value: Any) -> Any:
    """A value as a form field shows it: booleans and text stay, lists become lines, the rest text
    (`field_text` is the one that knows the field, for JSON values: it quotes text a JSON field holds)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def field_text(prop: PropertyInfo, value: Any) -> Any:
    """A JSON value (an example, the raw editor's, a stored message's) as the property's field shows
    it: a JSON field's as JSON text, which it reads back as the same value."""
    if takes_json(prop) and value is not None:
        return _json_text(value)
    return display_value(value)


class FieldTextError(ValueError):
    """A field's text that cannot become a value: a JSON field's that is not JSON the tester can send.
    Its message is said next to the field, as the spec's own messages are."""


def read_json(text: str) -> Any:
    """JSON typed into the tester (the raw editor, a JSON field), read as strictly as every JSON that
    comes in (`analytics.strict_json`).

    Raises:
        FieldTextError: it is not JSON, and why, in the words shown next to the field.
    """
    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        raise FieldTextError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except TooDeep as exc:
        raise FieldTextError(f"The JSON is {exc}") from exc
    except DuplicateKey as exc:
        raise FieldTextError(f"{sentence(str(exc))}: give each key once") from exc
    except ValueError as exc:
        raise FieldTextError(f"Not valid JSON: {exc}") from exc


def _json_field_value(text: str) -> Any:
    """A JSON field's text as the value it spells.

    Raises:
        FieldTextError: it is not JSON, or holds text no message can carry.
    """
    value = read_json(text)
    if problem := unstorable_text(value):
        # The spec checks the text of its own values, not of the objects nested in them.
        raise FieldTextError(problem)
    return value


def typed_value(prop: PropertyInfo, raw: Any) -> Any:
    """What a field's text becomes before validation; None when it was left empty.

    Numbers and strings stay text and pydantic's lax mode converts them, so its messages are
    the ones shown; arrays are one item per line; objects and lists of them are JSON.

    Raises:
        FieldTextError: a JSON field's text is not JSON the tester can send.
    """
    if prop.type == "boolean":
        return _boolean(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if takes_json(prop):
        return _json_field_value(raw) if isinstance(raw, str) else raw
    if prop.type.startswith("array"):
        lines = raw if isinstance(raw, list) else str(raw).splitlines()
        return [str(line).strip() for line in lines if str(line).strip()]
    return raw.strip() if isinstance(raw, str) else raw


def _boolean(raw: Any) -> Any:
    """A checkbox's `on`, or a yes/no word from `--prop`, as a bool; None when empty.

    Anything else is passed on for the spec's validation to refuse: `maybe` is not false.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return raw


def json_value(prop: PropertyInfo, raw: Any) -> Any:
    """A field's text as the JSON value the raw editor should start from (numbers as numbers; a JSON
    field's text that is not JSON as the text, which the raw editor then shows to fix)."""
    try:
        value = typed_value(prop, raw)
    except FieldTextError:
        return raw.strip()
    converters = {"integer": int, "number": float}
    if isinstance(value, str) and prop.type in converters:
        try:
            return converters[prop.type](value)
        except ValueError:
            return value
    return value


def dump_raw(values: Mapping[str, Any]) -> str:
    """Properties as the raw editor shows them: as typed but for a surrogate, which stays the JSON
    escape it was typed as (`\\ud800`), since no page can carry it (UTF-8 cannot encode it)."""
    return _json_text(dict(values), indent=2)


def _json_text(value: Any, indent: int | None = None) -> str:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def unstorable_text(value: Any) -> str | None:
    """Why JSON typed as properties can be neither stored nor sent, naming where (None: it can).

    Off-schema properties skip the spec's own check of its text, which refuses a surrogate
    (`analytics.storable_text`): the raw editor's JSON, the API's `off_schema` and `send --json`.
    """
    found = unstorable_in(value)
    if found is None:
        return None
    path, problem = found
    return f"{'.'.join(map(str, path))}: {problem}" if path else sentence(problem)


def parse_raw_object(text: str) -> dict[str, Any] | None:
    """The raw editor's JSON object, or None when it is not one."""
    try:
        parsed = load_json(text) if text.strip() else {}
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _flag(values: MultiDict[str, str], name: str) -> bool:
    return values.get(name, "").lower() in _TRUE


def input_from_form(values: MultiDict[str, str]) -> TesterInput:
    """Read the tester form (a POST body or a GET query string), keeping every value as typed.

    Checkboxes absent from a submitted form are false; a query without the `mode` field is a link
    (`?event=…`), not a submitted form, and leaves boolean properties unset.
    """
    # `pick` is the event picker, which wins over the form's current `spec` when it changes.
    spec = values.get("pick") or values.get("spec") or values.get("event") or values.get("identify") or ""
    submitted = "mode" in values
    scope = {k.removeprefix(SCOPE): v for k, v in values.items() if k.startswith(SCOPE)}
    props: dict[str, Any] = {k.removeprefix(PROP): v for k, v in values.items() if k.startswith(PROP)}
    info = resolve_spec(spec)
    if info is not None:
        # The form holds the chosen spec's fields; after picking another event it still carries the
        # previous one's, whose values carry over only where the new spec has the same property.
        # (Scope ids the spec does not take are kept: the form carries them, hidden, for later events.)
        known = own_properties(info)
        names = {p.name for p in known}
        props = {name: value for name, value in props.items() if name in names}
        for prop in known if submitted else ():
            if prop.type == "boolean" and prop.required:
                props[prop.name] = _flag(values, PROP + prop.name)
    return TesterInput(
        spec=spec,
        scope=scope,
        props=props,
        mode=RAW if values.get("mode") == RAW else FIELDS,
        raw=values.get("raw", ""),
        destination=values.get("destination") or DEFAULT_NAME,
        confirm_production=_flag(values, "confirm_production"),
        confirm_deprecated=_flag(values, "confirm_deprecated"),
        token=values.get("token") or None,
        repeated={key: values.getlist(key) for key in values if len(values.getlist(key)) > 1},
    )


def holds_one_value(values: list[str]) -> str:
    """The error of a field given more than once (a form edited in the browser, a scripted POST):
    taking the first value, as a form does, would keep one the person did not see."""
    return f"Given {len(values)} times ({', '.join(values)}): this field holds one value."


def resolve_spec(ref: str) -> SpecInfo | None:
    """An event (constant or string) or identify spec (class name or name), or None."""
    if not ref:
        return None
    for lookup in (CATALOG.event, CATALOG.identifier):
        try:
            return lookup(ref)
        except KeyError:
            continue
    return None


def spec_query(info: SpecInfo) -> dict[str, str]:
    """The query string that pre-selects a spec, as the cross-links spell it."""
    return {"event": info.constant} if info.kind == "track" else {"identify": info.constant}


@dataclass(frozen=True)
class FieldView:
    """One input of the generated form.

    Attributes:
        key: the form name (`scope.project_id`, `prop.cluster_type`).
        label: what the engineer reads.
        widget: `number`, `text`, `select`, `checkbox`, `tristate`, `lines` or `json`.
        required: whether it must be filled.
        help: the schema's description.
        placeholder: the example, as text.
        choices: allowed values, for selects.
        value: what was typed.
        error: the spec's message for this field, if any.
        personal_data: whether the value identifies a person.
        recent_list: the id of a datalist of recently seen values, for scope ids.
    """

    key: str
    label: str
    widget: str
    required: bool
    help: str
    placeholder: str
    choices: tuple[Any, ...] = ()
    value: Any = None
    error: str | None = None
    personal_data: bool = False
    recent_list: str | None = None

    @property
    def dom_id(self) -> str:
        """The input's element id; its error slot is `error-<dom_id>`."""
        return "f-" + self.key.replace(".", "-")


def _widget(prop: PropertyInfo) -> str:
    if prop.type == "boolean":
        return "checkbox" if prop.required else "tristate"
    if takes_json(prop):
        return "json"
    if prop.allowed_values and not prop.type.startswith("array"):
        return "select"
    if prop.type in ("integer", "number"):
        return "number"
    if prop.type.startswith("array"):
        return "lines"
    return "text"


def _placeholder(example: Any) -> str:
    if example is None or isinstance(example, bool):
        return ""
    if isinstance(example, list):
        return "\n".join(str(item) for item in example)
    return str(example)


def scope_label(name: str) -> str:
    """What a scope id's input is labelled, here and on the presets page: `user_id` → `User id`."""
    return name.replace("_", " ").capitalize()


ID_WORDS = "a whole number of 1 or more"
"""What a scope id is, as the form's messages say it (`analytics.scopes.ScopeId`)."""


def scope_error_words(scope: type[UserScope], name: str, error: ErrorDetails) -> str:
    """What the form says of a scope field the spec refused, in the words of the tester's other
    messages ("Choose an event to send."): pydantic's "Field required" or "Input should be greater
    than 0" named no field and did not say what an id is. The presets page says its ids' so too.

    The API and the command line keep pydantic's words: they name the field themselves
    (`scope.project_id`, `--scope project`), and scripts may read them.
    """
    words = name.replace("_", " ")
    is_id = scope.model_fields[name].annotation is int
    kind = error["type"]
    if kind == "missing":
        return f"Enter the {words}: {ID_WORDS}." if is_id else f"Enter the {words}."
    if kind == "scope_id":
        return f"Enter the {words} in the digits 0-9 only, with no sign or point: {ID_WORDS}."
    if kind == "greater_than":
        return f"Enter the {words} as {ID_WORDS}: ids start at 1."
    if kind in ("less_than_equal", "int_parsing_size"):
        return f"Enter a {words} of at most {MAX_ID}: ids are 64-bit integers."
    return str(error["msg"]).removeprefix("Value error, ")


def scope_fields(
    scope: type[UserScope], values: Mapping[str, Any], errors: Mapping[str, str]
) -> list[FieldView]:
    """The inputs for a scope's ids, widest first."""
    required = set(scope.model_json_schema().get("required", ()))
    views = []
    for name, info in scope.model_fields.items():
        key = SCOPE + name
        views.append(
            FieldView(
                key=key,
                label=scope_label(name),
                widget="number" if info.annotation is int else "text",
                required=name in required,
                help=info.description or "",
                placeholder=_placeholder(info.examples[0] if info.examples else None),
                value=values.get(name, ""),
                error=errors.get(key),
                recent_list=f"recent-{name}",
            )
        )
    return views


def property_fields(info: SpecInfo, values: Mapping[str, Any], errors: Mapping[str, str]) -> list[FieldView]:
    """The inputs for a spec's own properties, in declaration order."""
    views = []
    for prop in own_properties(info):
        key = PROP + prop.name
        views.append(
            FieldView(
                key=key,
                label=prop.name,
                widget=_widget(prop),
                required=prop.required,
                help=prop.description,
                placeholder=_placeholder(field_text(prop, prop.example)),
                choices=prop.allowed_values or (),
                value=values.get(prop.name),
                error=errors.get(key),
                personal_data=prop.personal_data,
            )
        )
    return views
