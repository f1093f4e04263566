"""Operational endpoints: `/healthz` (can the database and Segment client do their jobs) and `/metrics`."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import SCHEMA_REVISION, schema_revision
from analytics.catalog import CATALOG
from webapp.auth.policy import public
from webapp.extensions import analytics_client, db
from webapp.metrics import exposition

bp = Blueprint("health", __name__)


def database_state() -> dict[str, Any]:
    """Reachability and schema revision of the audit database."""
    try:
        db.session.execute(text("SELECT 1"))
        revision = schema_revision(db.engine)
    except SQLAlchemyError as exc:
        return {"ok": False, "error": str(exc.__cause__ or exc).splitlines()[0]}
    state: dict[str, Any] = {
        "ok": revision == SCHEMA_REVISION,
        "dialect": db.engine.dialect.name,
        "revision": revision,
        "expected_revision": SCHEMA_REVISION,
    }
    if revision != SCHEMA_REVISION:
        state["error"] = "schema not current: run `event-catalog db upgrade`"
    return state


@bp.get("/metrics")
@public
def metrics() -> ResponseReturnValue:
    """Prometheus exposition of delivery and request metrics; with `METRICS_TOKEN`, only for its bearer."""
    token = current_app.config["METRICS_TOKEN"]
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        abort(401, description="/metrics needs the bearer token set in METRICS_TOKEN.")
    return exposition()


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """200 when the database is reachable and migrated, 503 otherwise."""
    database = database_state()
    body = {
        "status": "ok" if database["ok"] else "error",
        "database": database,
        "segment": analytics_client.state(),
        "catalog_version": CATALOG.version,
    }
    response = jsonify(body)
    response.status_code = 200 if database["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response
