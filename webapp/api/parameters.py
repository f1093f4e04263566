"""The JSON API's answers that take no query parameter refuse one, as `/api/audit/entries` refuses an
unknown one: `/api/catalog?foo=1` answered 200 while the audit list answered 400, and a script's
`POST /api/tester/send?dry_run=true` would have sent for real, its flag ignored."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from webapp.errors.handlers import json_error

_TAKES_NONE = "unknown parameter: this answer takes no query parameter"
_IN_THE_BODY = (
    "unknown parameter: a send takes no query parameter; "
    "its options (`dry_run`, `token`, …) go in the JSON body"
)


def refuse_query_parameters() -> ResponseReturnValue | None:
    """`before_request` of a blueprint whose answers take no query parameter: a 400 naming each one.

    A CORS preflight (`OPTIONS`) carries the query string of the request it asks about: it is left alone.
    """
    if not request.args or request.method == "OPTIONS":
        return None
    problem = _IN_THE_BODY if request.method == "POST" else _TAKES_NONE
    return json_error(
        400, "The request cannot run: fix the parameters below.", dict.fromkeys(request.args, problem)
    )
