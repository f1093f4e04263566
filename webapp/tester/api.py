"""The tester's JSON API: the same compose-and-send path as the form, for scripts and other tools.

`POST /api/tester/send` with a JSON object::

    {"event": "ClusterProvisioningSuccess", "scope": {"user_id": 1, "project_id": 12, "cluster_id": 4},
     "properties": {"cluster_type": "eks", "infra_id": 9}, "destination": "default"}

Bad input answers 422 with the errors by field; a send answers with what happened (200 delivered or
disabled, 502 when the endpoint failed, 422 when the client refused the message).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from webapp.actor import current_actor
from webapp.auth.policy import requires
from webapp.auth.roles import Role
from webapp.limits import send_limit
from webapp.tester.compose import compose
from webapp.tester.destinations import DEFAULT_NAME
from webapp.tester.forms import FIELDS, RAW, TesterInput
from webapp.tester.sending import SendResult, checked_destination, destinations, send

bp = Blueprint("tester_api", __name__)

_OUTCOME_STATUS = {"delivered": 200, "disabled": 200, "pending": 202, "failed": 502, "dropped": 422}


def error(status: int, message: str, fields: dict[str, str] | None = None) -> ResponseReturnValue:
    """The errors blueprint's JSON shape, with the field errors when there are some."""
    body: dict[str, Any] = {"status": status, "message": message}
    if fields:
        body["fields"] = fields
    return jsonify({"error": body}), status


def input_from_json(body: dict[str, Any]) -> TesterInput:
    """The API's body as a tester input; `off_schema: true` sends `properties` unvalidated."""
    off_schema = body.get("off_schema") is True
    properties = body.get("properties") or {}
    return TesterInput(
        spec=str(body.get("event") or body.get("identify") or ""),
        scope=dict(body.get("scope") or {}),
        props={} if off_schema else dict(properties),
        mode=RAW if off_schema else FIELDS,
        raw=json.dumps(properties) if off_schema else "",
        destination=str(body.get("destination") or DEFAULT_NAME),
        confirm_production=body.get("confirm_production") is True,
        confirm_deprecated=body.get("confirm_deprecated") is True,
        token=str(body["token"]) if body.get("token") else None,
    )


def result_json(result: SendResult) -> dict[str, Any]:
    """A send's outcome as the API reports it."""
    entry = result.entry
    return {
        "message_id": result.message_id,
        "status": entry.status if entry is not None else None,
        "http_status": entry.http_status if entry is not None else None,
        "error": (entry.error if entry is not None else None) or result.error,
        "destination": entry.destination if entry is not None else None,
        "round_trip_ms": result.round_trip_ms,
        "duplicate": result.duplicate,
        "audit_url": f"/audit/entries/{result.message_id}",
        "result_url": url_for("tester.send_result", message_id=result.message_id),
        "message": result.sent,
    }


@bp.get("/destinations")
@requires(Role.ENGINEER)
def list_destinations() -> ResponseReturnValue:
    """Where the tester can send: names, hosts, key fingerprints (never keys), production flags."""
    return jsonify(
        {
            "destinations": [
                {"name": d.name, "host": d.host, "fingerprint": d.fingerprint, "production": d.production}
                for d in destinations()
            ]
        }
    )


@bp.post("/send")
@requires(Role.ENGINEER)
@send_limit
def send_json() -> ResponseReturnValue:
    """Compose and send one message (`dry_run: true` only composes it)."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        return error(
            415 if not request.is_json else 400, "Send a JSON object with Content-Type: application/json."
        )
    typed = input_from_json(body)
    actor = current_actor()
    draft = compose(typed, actor=actor)
    destination = checked_destination(draft)
    if not draft.ok or destination is None or draft.message is None:
        fields = draft.errors or {"raw": "; ".join(draft.off_schema)}
        return error(422, "The message was not sent: fix the fields below.", fields)
    if body.get("dry_run") is True:
        return jsonify({"message": draft.message, "off_schema": draft.off_schema, "size": draft.size})
    result = send(draft, destination, actor=actor)
    status = _OUTCOME_STATUS.get(result.entry.status, 200) if result.entry is not None else 503
    return jsonify(result_json(result)), status
