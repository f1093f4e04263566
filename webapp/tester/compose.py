"""From what was typed to the exact message: the one path the preview, the form, the API and the CLI share.

The preview shows the message `compose` builds; a send hands that very message to the Segment
client. So what the engineer saw is what was sent, down to the byte (only `messageId` and
`timestamp` are new for each build).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from segment.analytics.consumer import MAX_MSG_SIZE

from analytics.catalog import CATALOG, SpecInfo
from analytics.client import message_size, size_in_words
from analytics.messages import build_message, build_off_schema_message
from analytics.scopes import UserScope
from analytics.spec import IdentifySpec, Status, TrackSpec
from webapp.lookups import echoed
from webapp.tester.destinations import Destination
from webapp.tester.forms import (
    PROP,
    RAW,
    SCOPE,
    FieldTextError,
    TesterInput,
    holds_one_value,
    own_properties,
    read_json,
    resolve_spec,
    scope_error_words,
    unstorable_text,
)
from webapp.text_input import holds_nul

SOURCE = "tester"

EMPTY_RAW = "Raw JSON is empty: write {} to send no properties."
"""What the raw editor says of a blank box, which is not read as `{}`: no properties is written so."""


@dataclass
class Draft:
    """A composed message, or why there is none yet.

    Attributes:
        input: what was typed.
        info: the chosen spec, when it exists.
        spec: the validated spec; None when invalid or off-schema.
        message: the message to send; None while something blocks it.
        errors: form key (`spec`, `scope.user_id`, `prop.cluster_type`, `raw`, `destination`,
            `confirm_production`, `confirm_deprecated`) → message.
        off_schema: in raw mode, what the spec says about the properties it did not validate; a
            message built anyway is marked off-schema.
        missing: keys of required fields still empty (shown as a list, not as errors, while typing).
        form_words: scope field key → its error as the form says it (`scope_error_words`); `errors`
            keeps pydantic's words, which the API and the command line answer with.
    """

    input: TesterInput
    info: SpecInfo | None = None
    spec: TrackSpec | IdentifySpec | None = None
    message: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    off_schema: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    form_words: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the message can be sent."""
        return self.message is not None and not self.errors

    @property
    def size(self) -> int:
        """The message's size as the Segment client measures it."""
        return message_size(self.message) if self.message is not None else 0

    @property
    def size_in_words(self) -> str:
        """The size as the preview and a refused dry run say it (`analytics.client.size_in_words`)."""
        return size_in_words(self.message) if self.message is not None else "0 bytes"

    @property
    def oversized(self) -> bool:
        """Over Segment's 32 KB per message: the client will refuse it (audited `dropped`)."""
        return self.size > MAX_MSG_SIZE

    def oversize_warning(self) -> str:
        """What a dry run says of an oversized message (a send would not go through)."""
        return (
            f"the message is {self.size_in_words}, over Segment's 32 KB per message: "
            "a send would be audited as dropped"
        )

    def form_errors(self) -> dict[str, str]:
        """The errors as the form shows them: a scope field's in the form's words."""
        return {key: self.form_words.get(key, text) for key, text in self.errors.items()}

    def typing_errors(self) -> dict[str, str]:
        """The errors worth showing while a form is being filled: not yet "required"."""
        return {key: text for key, text in self.form_errors().items() if key not in self.missing}


def _field_key(loc: tuple[int | str, ...], raw_mode: bool) -> str:
    if loc and loc[0] == "scope":
        return SCOPE + str(loc[1]) if len(loc) > 1 else "scope"
    name = str(loc[0]) if loc else ""
    return "raw" if raw_mode else PROP + name


def _describe(error: Any, raw_mode: bool) -> str:
    """Pydantic's message, prefixed with the path inside the field (or the property, in raw mode)."""
    loc = error["loc"]
    inner = loc[2:] if loc and loc[0] == "scope" else loc[0 if raw_mode else 1 :]
    path = ".".join(str(part) for part in inner)
    return f"{path}: {error['msg']}" if path else str(error["msg"])


def _values(draft: Draft, info: SpecInfo) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Scope values and own property values as pydantic should see them (None: bad raw JSON)."""
    typed = draft.input
    # Trimmed text from the form and the command line, JSON values as given from the API.
    given = {name: typed.scope_value(name) for name in info.scope.model_fields}
    scope = {name: value for name, value in given.items() if value is not None}
    _refuse_repeated(draft, info)
    if typed.mode != RAW:
        known = own_properties(info)
        _refuse_unknown(draft, info, typed.props.keys() - {p.name for p in known})
        props = {}
        for prop in known:
            try:
                props[prop.name] = typed.property_value(prop)
            except FieldTextError as exc:
                draft.errors[PROP + prop.name] = str(exc)
        return scope, {name: value for name, value in props.items() if value is not None}
    if not typed.raw.strip():
        # Not read as `{}`: an emptied box, or `--json "$PROPS"` with the variable unset, was sent
        # as an off-schema message without the event's required properties.
        draft.errors["raw"] = EMPTY_RAW
        return scope, None
    try:
        parsed = read_json(typed.raw)
    except FieldTextError as exc:
        draft.errors["raw"] = str(exc)
        return scope, None
    if not isinstance(parsed, dict):
        draft.errors["raw"] = 'The properties must be a JSON object, e.g. {"cluster_type": "eks"}'
        return scope, None
    if holds_nul(parsed):
        # Off-schema values skip the spec's own check; the audit log could not store this one.
        draft.errors["raw"] = "Text cannot contain a NUL character (\\u0000)"
        return scope, None
    if problem := unstorable_text(parsed):
        draft.errors["raw"] = problem
        return scope, None
    if clashes := [(field, name) for field, name in info.scope.property_fields().items() if name in parsed]:
        # The scope adds these itself; one typed here silently won over the Scope fields, and the
        # audit entry then named another project than the one the form showed.
        said = "; ".join(f"{name} is added from the scope's {field}: set it there" for field, name in clashes)
        draft.errors["raw"] = f"{said}, not here."
        return scope, None
    return scope, parsed


def _refuse_unknown(draft: Draft, info: SpecInfo, unknown: set[str]) -> None:
    """A property the spec does not have (a typo from the command line or the API) is an error, not
    a value quietly left out of the message; sending it anyway is what off-schema sends are for."""
    names = ", ".join(p.name for p in own_properties(info)) or "none"
    for key in sorted(unknown):
        draft.errors[PROP + key] = f"{info.name} has no property {key!r} (its properties: {names})"


def _refuse_repeated(draft: Draft, info: SpecInfo) -> None:
    """A field of the spec given more than once (a form edited in the browser, a scripted POST) is
    an error, as a key twice in the API's JSON or an id twice on the command line: the form took the
    first value without a word. The raw editor's mode has no property fields to repeat."""
    fields = {SCOPE + name for name in info.scope.model_fields}
    if draft.input.mode != RAW:
        fields |= {PROP + prop.name for prop in own_properties(info)}
    for key, values in draft.input.repeated.items():
        if key in fields:
            draft.errors[key] = holds_one_value(values)


def refuse_unknown_scope_ids(draft: Draft) -> None:
    """Scope ids the draft's spec does not take are errors, for the command line and the API.

    Not in `compose`: the form carries ids the current event does not take, hidden, so that they
    are still there after picking another event; from a command or a request they are a mistake.
    """
    if draft.info is None:
        return
    scope = draft.info.scope
    ids = ", ".join(scope.model_fields)
    for key in sorted(draft.input.scope.keys() - scope.model_fields.keys()):
        draft.errors[SCOPE + key] = (
            f"{draft.info.name} is scoped to {scope.label}: no {key!r} (its ids: {ids})"
        )


def compose(typed: TesterInput, *, actor: str | None) -> Draft:
    """Validate what was typed through the spec and build the message a send would carry.

    Args:
        typed: the input.
        actor: who is composing it (recorded in the message's context).

    Returns:
        The draft: its message, or the field errors that keep it from having one.
    """
    draft = Draft(typed, resolve_spec(typed.spec))
    info = draft.info
    if info is None:
        if typed.spec:
            close = CATALOG.closest(typed.spec)
            hint = f" Did you mean {close!r}?" if close else ""
            draft.errors["spec"] = f"Unknown event or identify call {echoed(typed.spec)!r}.{hint}"
        else:
            # Like an empty required field: said on Send, not on a first visit.
            draft.errors["spec"] = "Choose an event to send."
            draft.missing.append("spec")
        return draft
    scope_values, props = _values(draft, info)
    if props is None:
        _validate_scope_alone(draft, info.scope, scope_values)
        return draft
    # Errors already found are the fields' text's (not JSON, an unknown property): pydantic's "Field
    # required" for a field whose JSON could not be read would hide its reason while typing.
    unreadable = dict(draft.errors)
    try:
        draft.spec = info.spec.model_validate({"scope": scope_values, **props})
    except ValidationError as exc:
        _collect(draft, exc, typed.mode == RAW)
    draft.errors.update(unreadable)
    for key in unreadable:
        # The form says these as found, not in the words of the spec's check of a value they hide.
        draft.form_words.pop(key, None)
    draft.missing = [key for key in draft.missing if key not in unreadable]
    if draft.spec is not None:
        draft.message = build_message(draft.spec, source=SOURCE, actor=actor, test=True)
    elif typed.mode == RAW and not any(key.startswith(SCOPE) for key in draft.errors):
        draft.errors.clear()
        scope = info.scope.model_validate(scope_values)
        draft.message = build_off_schema_message(info.spec, scope, props, source=SOURCE, actor=actor)
    elif typed.mode == RAW:
        # Raw JSON may be off-schema: only the scope's ids stand in the way, and saying otherwise
        # while an id is missing made the same JSON look refused until the id was filled in.
        draft.errors.pop("raw", None)
    return draft


def _collect(draft: Draft, exc: ValidationError, raw_mode: bool) -> None:
    for error in exc.errors():
        key = _field_key(error["loc"], raw_mode)
        text = _describe(error, raw_mode)
        if key == "raw":
            draft.off_schema.append(text)
        elif key.startswith(SCOPE) and draft.info is not None:
            draft.form_words[key] = scope_error_words(draft.info.scope, key.removeprefix(SCOPE), error)
        draft.errors[key] = f"{draft.errors[key]}; {text}" if key in draft.errors else text
        if error["type"] == "missing" and key != "raw":
            draft.missing.append(key)


def _validate_scope_alone(draft: Draft, scope: type[UserScope], values: dict[str, Any]) -> None:
    try:
        scope.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0])
            key = SCOPE + name
            if key not in draft.errors:  # an error already found (a repeated field) says more
                draft.errors[key] = str(error["msg"])
                draft.form_words.setdefault(key, scope_error_words(scope, name, error))
            if error["type"] == "missing":
                draft.missing.append(key)


def unknown_destination(name: str, choices: list[str]) -> str:
    """What a send to a destination that is not configured is told (`choices`: the names that are)."""
    return f"Unknown destination {name!r}: choose one of {', '.join(choices)}."


CONFIRM_IN_FORM = {"confirm_production": "tick the box", "confirm_deprecated": "tick the box"}
"""How the form confirms a production send or a deprecated event; the API and the command line
name their own field and flag (`check_sendable`'s `confirm`)."""


def check_sendable(
    draft: Draft,
    destination: Destination | None,
    choices: list[str],
    confirm: Mapping[str, str] = CONFIRM_IN_FORM,
) -> None:
    """Add the errors that depend on where the message goes and what it is, not on its values.

    Args:
        draft: the composed message; errors are added to it.
        destination: where it goes (None: unknown).
        choices: the destinations' names, for the unknown-destination error.
        confirm: per confirmation (`confirm_production`, `confirm_deprecated`), how this way of
            sending gives it, e.g. `pass --yes-deprecated`.
    """
    typed, info = draft.input, draft.info
    if destination is None:
        draft.errors["destination"] = unknown_destination(typed.destination, choices)
    elif destination.production:
        if draft.off_schema:
            draft.errors["raw"] = (
                f"Off-schema properties are refused for the production destination {destination.name!r}: "
                "make them match the spec or choose another destination."
            )
        if not typed.confirm_production:
            draft.errors["confirm_production"] = (
                f"{destination.name!r} is a production destination: "
                f"{confirm['confirm_production']} to confirm this send."
            )
    if info is not None and info.spec.status == Status.DEPRECATED and not typed.confirm_deprecated:
        replacement = getattr(info.spec, "replaced_by", None)
        instead = f" (send {replacement!s} instead)" if replacement else ""
        draft.errors["confirm_deprecated"] = (
            f"{info.name} is deprecated{instead}: {confirm['confirm_deprecated']} to send it anyway."
        )
