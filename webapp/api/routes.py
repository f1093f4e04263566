"""`/api/catalog`: the registry as JSON, cheap to poll.

Each document is built once per process and its ETag is a hash of the document as served, computed
with it (`webapp.catalog_documents`), so a poll costs a comparison: a client that sends the tag back
in `If-None-Match` gets an empty 304. It is not the catalog version, which hashes the JSON Schemas
only: a scope no event uses yet, or a scope's new label or description, changes the document but not
the version, and a tag that followed the version kept clients on their stale list of scopes.
`Cache-Control: no-cache` lets caches keep a copy but makes them ask each time, so a deploy is seen
at the next poll. Errors are JSON (the `errors` blueprint answers for `/api/`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request
from flask.typing import ResponseReturnValue

from analytics.catalog import CATALOG
from analytics.exports import catalog_document, spec_document
from webapp.api.parameters import refuse_query_parameters
from webapp.auth.policy import declare, requires
from webapp.auth.roles import Role
from webapp.catalog_documents import tagged_json
from webapp.lookups import echoed

bp = Blueprint("api", __name__)
bp.before_request(refuse_query_parameters)

CACHE_CONTROL = "no-cache"


def _cached_json(key: str, build: Callable[[], dict[str, Any]]) -> ResponseReturnValue:
    document = tagged_json(CATALOG, key, build)
    response = current_app.response_class(document.body, mimetype=document.mimetype)
    response.set_etag(document.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response.make_conditional(request)


@bp.get("/catalog")
@requires(Role.VIEWER)
def catalog() -> ResponseReturnValue:
    """Every event, identify call and scope, with properties and JSON Schemas."""
    return _cached_json("api", lambda: catalog_document(CATALOG))


@bp.get("/catalog/events/<name>")
@requires(Role.VIEWER)
def catalog_event(name: str) -> ResponseReturnValue:
    """One event, by its string or its constant."""
    try:
        info = CATALOG.event(name)
    except KeyError:
        abort(404, description=f"The catalog has no event “{echoed(name)}”.")
    return _cached_json(f"api event {info.name}", lambda: {"version": CATALOG.version, **spec_document(info)})


def open_to_anyone(app: Flask) -> None:
    """With `CATALOG_API_PUBLIC`, let CI jobs read the catalog API without signing in.

    The tracking plan holds no personal data, and `event-catalog diff <dashboard URL>` reads it.
    """
    if app.config["CATALOG_API_PUBLIC"]:
        for endpoint in ("api.catalog", "api.catalog_event"):
            declare(app, endpoint, None)
