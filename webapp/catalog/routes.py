"""The catalog pages product managers read."""

from __future__ import annotations

from flask import Blueprint, render_template

from analytics.catalog import CATALOG
from webapp.auth.policy import requires
from webapp.auth.roles import Role

bp = Blueprint("catalog", __name__)


@bp.get("/")
@requires(Role.VIEWER)
def index() -> str:
    """Every event, grouped by category."""
    return render_template("catalog/index.html", catalog=CATALOG, events=list(CATALOG.events.values()))
