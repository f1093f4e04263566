"""The tester's JSON API: the same compose-and-send path as the form, for scripts and other tools.

`POST /api/tester/send` with a JSON object::

    {"event": "ClusterProvisioningSuccess", "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
     "properties": {"cluster_type": "eks", "infra_id": 9}, "destination": "default"}

Bad input answers 422 with the errors by field, an unknown key included (a mistyped `dry_run` must
not send for real); a send answers with what happened (200 delivered or disabled, 502 when the
endpoint failed, 422 when the client refused the message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, make_response, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from analytics.catalog import PropertyInfo
from analytics.scopes import SCOPES
from analytics.storable_text import unstorable_in
from analytics.strict_json import DuplicateKey, TooDeep, load_json
from analytics.wording import sentence
from webapp.actor import current_actor
from webapp.api.parameters import refuse_query_parameters
from webapp.audit.personal import shown_payload
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.errors.handlers import json_error
from webapp.limits import send_limit
from webapp.tester.compose import compose, refuse_unknown_scope_ids
from webapp.tester.destinations import DEFAULT_NAME
from webapp.tester.forms import FIELDS, MAX_TOKEN_LENGTH, PROP, RAW, SCOPE, TesterInput
from webapp.tester.sending import SendResult, checked_destination, destinations, send
from webapp.text_input import holds_nul

bp = Blueprint("tester_api", __name__)
bp.before_request(refuse_query_parameters)

CONFIRM_IN_JSON = {
    "confirm_production": 'set "confirm_production": true',
    "confirm_deprecated": 'set "confirm_deprecated": true',
}

_OUTCOME_STATUS = {"delivered": 200, "disabled": 200, "pending": 202, "failed": 502, "dropped": 422}


@dataclass(frozen=True)
class JsonInput(TesterInput):
    """A request's input: its `props` and `scope` are JSON values, validated as they are, not field
    text to trim, split into lines or leave out when blank."""

    def property_value(self, prop: PropertyInfo) -> Any:
        """The property's JSON value as the request gave it."""
        return self.props.get(prop.name)

    def scope_value(self, name: str) -> Any:
        """The scope field's JSON value as the request gave it (None: absent or null): `" 1"` is
        refused as the library refuses it, not trimmed into an id."""
        return self.scope.get(name)


class SendRequest(BaseModel):
    """The body of `POST /api/tester/send`.

    Flags are strict booleans: `"dry_run": "yes"` is an error, not a send.

    Attributes:
        event: the event's constant or string (or `identify`: the identify spec's name).
        identify: the identify spec, instead of `event`.
        scope: the scope's ids by field name (`user_id`, `project_id`, …).
        properties: the properties (traits), validated by the spec unless `off_schema`.
        destination: a configured destination's name.
        dry_run: compose and validate only; nothing is audited or sent.
        off_schema: send `properties` as they are, marked off-schema.
        confirm_production: required to send to a production destination.
        confirm_deprecated: required to send a deprecated event.
        token: idempotency key: the same token sends once.
    """

    model_config = ConfigDict(extra="forbid")

    event: StrictStr | None = None
    identify: StrictStr | None = None
    scope: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    destination: StrictStr | None = None
    dry_run: StrictBool = False
    off_schema: StrictBool = False
    confirm_production: StrictBool = False
    confirm_deprecated: StrictBool = False
    token: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_TOKEN_LENGTH)

    @field_validator("identify")
    @classmethod
    def _one_call(cls, identify: str | None, info: ValidationInfo) -> str | None:
        if identify and info.data.get("event"):
            # A custom error: a ValueError's message would read "Value error, give …".
            raise PydanticCustomError("one_call", "Give `event` or `identify`, not both")
        return identify

    def tester_input(self) -> JsonInput:
        """The request as a tester input; `off_schema` sends `properties` unvalidated."""
        properties = self.properties or {}
        return JsonInput(
            spec=self.event or self.identify or "",
            scope=dict(self.scope or {}),
            props={} if self.off_schema else dict(properties),
            mode=RAW if self.off_schema else FIELDS,
            raw=json.dumps(properties) if self.off_schema else "",
            destination=self.destination or DEFAULT_NAME,
            confirm_production=self.confirm_production,
            confirm_deprecated=self.confirm_deprecated,
            token=self.token,
        )


def field_errors(error: ValidationError) -> dict[str, str]:
    """A request's validation errors by key (`scope`, `dry_run`, …), as the 422 body lists them."""
    return {".".join(str(part) for part in item["loc"]) or "body": item["msg"] for item in error.errors()}


def _message_sent(result: SendResult) -> tuple[dict[str, Any] | None, str | None]:
    """The message as sent, and why personal data in it is still masked (None when it is not).

    Known right after the send. A repeated token gets the first send's copy from the audit log,
    which masks personal data: it is opened as the audit pages open it for engineers (who alone may
    send), which takes the sealed originals of `AUDIT_ENCRYPTION_KEY`.
    """
    if result.sent is not None or result.entry is None:
        return result.sent, None
    shown = shown_payload(result.entry)
    return shown.payload, shown.note


def result_json(result: SendResult) -> dict[str, Any]:
    """A send's outcome as the API reports it."""
    entry = result.entry
    message, masked_note = _message_sent(result)
    return {
        "message_id": result.message_id,
        "status": entry.status if entry is not None else None,
        "http_status": entry.http_status if entry is not None else None,
        "error": result.why_not_delivered,
        "destination": entry.destination if entry is not None else None,
        "round_trip_ms": result.round_trip_ms,
        "duplicate": result.duplicate,
        # None when the audit log has no entry for it (it refused the send): the page would be a 404.
        "audit_url": url_for("audit.entry", message_id=result.message_id) if entry is not None else None,
        "result_url": url_for("tester.send_result", message_id=result.message_id),
        "message": message,
        "message_note": masked_note,
    }


@bp.get("/destinations")
@requires(Role.ENGINEER)
def list_destinations() -> ResponseReturnValue:
    """Where the tester can send: names, hosts, key fingerprints (never keys), production flags."""
    return jsonify(
        {
            "destinations": [
                {
                    "name": d.name,
                    "host": d.shown_host,
                    "fingerprint": d.fingerprint,
                    "production": d.production,
                }
                for d in destinations()
            ]
        }
    )


def _request_key(key: str, asked: SendRequest) -> str:
    """A form field's name as the request says it: `prop.x` is `properties.x`, the raw editor
    is the request's `properties` itself, and the form's event picker is `event` or `identify`."""
    if key == RAW:
        return "properties"
    if key == "spec":
        return "identify" if asked.identify else "event"
    if key.startswith(PROP):
        return "properties." + key.removeprefix(PROP)
    return key


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def _text_scope_fields() -> frozenset[str]:
    """Scope fields that are names (`app_name`, `app_namespace`), not ids, over every scope."""
    return frozenset(
        name for scope in SCOPES for name, field in scope.model_fields.items() if field.annotation is str
    )


def _scope_type_errors(scope: dict[str, Any]) -> dict[str, str]:
    """Scope values that are neither a whole number nor text, by request key.

    Said in JSON's words, over the spec's own message: the request sent a number, a boolean or an
    array, and the answer says which, and what the field takes (a name is text, an id a number).
    """
    errors = {}
    for name, value in scope.items():
        if isinstance(value, bool) or not isinstance(value, int | str | None):
            got = json.dumps(value) if isinstance(value, bool | float) else _json_kind(value)
            needed = "Text" if name in _text_scope_fields() else "A whole number"
            errors[f"{SCOPE}{name}"] = f"{needed} is needed, got {got}."
    return errors


@bp.post("/send")
@requires(Role.ENGINEER)
@send_limit
def send_json() -> ResponseReturnValue:
    """Compose and send one message (`dry_run: true` only composes it)."""
    if not request.is_json:
        return json_error(415, "Send a JSON object with Content-Type: application/json.")
    try:
        # Strictly: `as_text` would turn bytes that are not UTF-8 into U+FFFD and carry on.
        text = request.get_data().decode("utf-8")
    except UnicodeDecodeError as exc:
        return json_error(
            400, f"The body is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})."
        )
    try:
        body = load_json(text)
    except TooDeep as exc:
        return json_error(400, f"The body is {exc}.")
    except DuplicateKey as exc:
        return json_error(
            400, f"The body is refused: {exc}. Give each key once: readers differ on which counts."
        )
    except ValueError as exc:
        return json_error(400, f"The body is not valid JSON: {exc}.")
    if not isinstance(body, dict):
        return json_error(400, f"Send a JSON object, not {_json_kind(body)}.")
    if holds_nul(body):
        return json_error(400, "The body holds a NUL character (\\u0000), which no field can store.")
    if unstorable := unstorable_in(body):
        # A `\ud800` escape: off-schema properties skip the spec's check, and the audit log refused
        # the message after a dry run had passed it (503, which a script retries for ever).
        path, problem = unstorable
        field = ".".join(map(str, path)) or "body"
        return json_error(
            422, "The request was not understood: fix the fields below.", {field: sentence(problem)}
        )
    try:
        asked = SendRequest.model_validate(body)
    except ValidationError as invalid:
        return json_error(422, "The request was not understood: fix the fields below.", field_errors(invalid))
    typed = asked.tester_input()
    actor = current_actor()
    draft = compose(typed, actor=actor)
    draft.errors.update(_scope_type_errors(typed.scope))
    if draft.info is not None and (draft.info.kind == "identify") != bool(asked.identify):
        # The key says what the script meant: a name under the wrong one is a mix-up, not a send.
        draft.errors["spec"] = (
            f"{draft.info.name!r} is an identify call: give it as `identify`"
            if draft.info.kind == "identify"
            else f"{draft.info.name!r} is an event: give it as `event`"
        )
    if asked.off_schema and asked.properties is None:
        # As the form's empty Raw JSON and `send --json ''`: no properties is `{}`, said so, not a
        # forgotten (or null) `properties` sent off-schema without the event's required ones.
        draft.errors[RAW] = "Missing: give the off-schema properties as an object, {} to send none."
    # After the type errors: an id the event does not take is better said so.
    refuse_unknown_scope_ids(draft)
    destination = checked_destination(draft, CONFIRM_IN_JSON)
    if not draft.ok or destination is None or draft.message is None:
        errors = draft.errors or {RAW: "; ".join(draft.off_schema)}
        if "spec" in draft.missing:
            # The form's words ("Choose an event to send.") name a picker a script does not have.
            errors = {**errors, "spec": "Missing: give `event` (or `identify`), by name or by constant."}
        fields = {_request_key(key, asked): text for key, text in errors.items()}
        return json_error(422, "The message was not sent: fix the fields below.", fields)
    if asked.dry_run and draft.oversized:
        return json_error(422, f"The message would not go through: {draft.oversize_warning()}.")
    if asked.dry_run:
        return jsonify({"message": draft.message, "off_schema": draft.off_schema, "size": draft.size})
    result = send(draft, destination, actor=actor)
    if result.conflict:
        return json_error(
            409,
            f"The token {typed.token!r} was already used {result.token_used}: nothing was sent. "
            "Use a new token for a new message.",
        )
    if result.in_flight:
        # The IETF idempotency-key draft's answer to a repeat while the first is processed.
        busy = make_response(
            json_error(
                409,
                f"The token {typed.token!r} is being sent by an earlier request: ask again in a moment "
                "for its result (it is not sent twice).",
            )
        )
        busy.headers["Retry-After"] = "1"
        return busy
    if result.entry is None and result.duplicate:
        return json_error(
            409,
            f"The token {typed.token!r} cannot send again: {result.why_not_delivered}. Use a new token.",
        )
    status = _OUTCOME_STATUS.get(result.entry.status, 200) if result.entry is not None else 503
    return jsonify(result_json(result)), status
