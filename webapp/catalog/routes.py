"""The catalog pages product managers read."""

from __future__ import annotations

from flask import Blueprint, render_template

from analytics.catalog import CATALOG

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index() -> str:
    """Every event, grouped by category."""
    return render_template("catalog/index.html", catalog=CATALOG, events=list(CATALOG.events.values()))
