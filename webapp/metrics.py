"""`/metrics` for Prometheus: the library's delivery metrics plus the dashboard's request latency."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUEST_SECONDS = Histogram(
    "event_catalog_http_request_seconds",
    "Dashboard request latency, by route template (not raw path, so ids do not explode the labels).",
    ["method", "route", "status"],
)


def exposition() -> Response:
    """Every metric of this process, or of all gunicorn workers in multiprocess mode."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every request by its route template."""

    @app.before_request
    def start_timer() -> None:
        """Remember when the request started."""
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        """Record the request's latency under its route."""
        started = g.get("metrics_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            HTTP_REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response
