"""`/metrics` for Prometheus: the library's delivery metrics plus the dashboard's request latency."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import NoReturn

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUEST_SECONDS = Histogram(
    "event_catalog_http_request_seconds",
    "Dashboard request latency, by route template (not raw path, so ids do not explode the labels).",
    ["method", "route", "status"],
)


def multiprocess_problems(environ: Mapping[str, str]) -> list[str]:
    """`PROMETHEUS_MULTIPROC_DIR`, checked before the library defines its metrics.

    prometheus_client writes a file there for each metric as it is defined, on import: a folder that
    is missing or not writable was a traceback in every gunicorn worker rather than one line. The
    check cannot wait for the other settings, which are read after that import.
    """
    folder = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return []
    if not os.path.isdir(folder):
        return [
            f"PROMETHEUS_MULTIPROC_DIR: {folder!r} is not a directory: create it, empty, before starting "
            "gunicorn (scripts/start.sh does), or unset it for a single process"
        ]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"PROMETHEUS_MULTIPROC_DIR: {folder!r} is not writable by this user"]
    return []


def refuse(problems: list[str]) -> NoReturn:
    """Stop a server process with one line per bad setting; 4 is gunicorn's "App failed to load"."""
    print(
        "error: invalid configuration:", *(f"  {problem}" for problem in problems), sep="\n", file=sys.stderr
    )
    sys.exit(4)


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
