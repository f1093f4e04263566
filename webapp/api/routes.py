"""`/api/catalog`: the registry as JSON, cheap to poll.

Each document's ETag is a hash of the document as served: a client that sends it back in `If-None-Match` gets
an empty 304. It is not the catalog version, which hashes the JSON Schemas only: a scope no event
uses yet, or a scope's new label or description, changes the document but not the version, and a
tag that followed the version kept clients on their stale list of scopes. `Cache-Control: no-cache`
lets caches keep a copy but makes them ask each time, so a deploy is seen at the next poll. Errors
are JSON (the `errors` blueprint answers for `/api/`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from analytics.catalog import CATALOG
from analytics.exports import catalog_document, spec_document
from webapp.auth.policy import declare, requires
from webapp.auth.roles import Role

bp = Blueprint("api", __name__)

CACHE_CONTROL = "no-cache"


def _cached_json(document: dict[str, Any]) -> ResponseReturnValue:
    response = jsonify(document)
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:20])
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response.make_conditional(request)


@bp.get("/catalog")
@requires(Role.VIEWER)
def catalog() -> ResponseReturnValue:
    """Every event, identify call and scope, with properties and JSON Schemas."""
    return _cached_json(catalog_document(CATALOG))


@bp.get("/catalog/events/<name>")
@requires(Role.VIEWER)
def catalog_event(name: str) -> ResponseReturnValue:
    """One event, by its string or its constant."""
    try:
        info = CATALOG.event(name)
    except KeyError:
        abort(404, description=f"The catalog has no event “{name}”.")
    return _cached_json({"version": CATALOG.version, **spec_document(info)})


def open_to_anyone(app: Flask) -> None:
    """With `CATALOG_API_PUBLIC`, let CI jobs read the catalog API without signing in.

    The tracking plan holds no personal data, and `event-catalog diff <dashboard URL>` reads it.
    """
    if app.config["CATALOG_API_PUBLIC"]:
        for endpoint in ("api.catalog", "api.catalog_event"):
            declare(app, endpoint, None)
