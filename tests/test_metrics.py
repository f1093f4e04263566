"""`/metrics` is scraped like Prometheus does and its counters match what was sent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from analytics import AnalyticsClient, AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.scopes import ApplicationScope
from analytics.tracks import ApplicationDeploymentWebhook


def _scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST  # the exposition format's version, once
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_message_counters_match_what_was_sent(
    client: FlaskClient, sqlite_store: AuditStore, collector: Collector
) -> None:
    before = _scrape(client)
    sender = AnalyticsClient("key", store=sqlite_store, host=collector.url, upload_interval=0.05)
    for _ in range(3):
        sender.track(CATALOG.event("Stack Build Success").example_spec())  # type: ignore[arg-type]
    scope = ApplicationScope(
        user_id=1, project_id=2, cluster_id=3, app_name="a", app_namespace="b", chart_name="c"
    )
    sender.track(ApplicationDeploymentWebhook(scope=scope, image_uri="x" * 40_000))
    sender.flush()
    sender.shutdown()
    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("event_catalog_messages_total", event="Stack Build Success", status="pending") == 3
    assert delta("event_catalog_messages_total", event="Stack Build Success", status="delivered") == 3
    assert (
        delta("event_catalog_messages_total", event="Triggered Re-deploy via Webhook", status="dropped") == 1
    )
    assert delta("event_catalog_enqueue_failures_total", reason="too_large") == 1
    # The oversized message is refused on the caller's thread (a strict write); the rest are batched.
    assert delta("event_catalog_audit_write_seconds_count", mode="strict") == 1
    assert delta("event_catalog_audit_batch_size_sum") == 3
    assert delta("event_catalog_batch_size_sum") == 3
    assert delta("event_catalog_delivery_seconds_count", outcome="delivered") >= 1
    assert len(collector.received()) == 3


def test_synchronous_posts_count_in_the_delivery_metrics(
    client: FlaskClient, sqlite_store: AuditStore, collector: Collector
) -> None:
    """The dashboard's tester posts synchronously: its sends left the delivery metrics empty."""
    before = _scrape(client)
    sender = AnalyticsClient("key", store=sqlite_store, host=collector.url, sync_mode=True)
    assert sender.track(CATALOG.event("Stack Build Success").example_spec()).ok  # type: ignore[arg-type]
    collector.inject(400, times=1)
    assert not sender.track(CATALOG.event("Stack Build Success").example_spec()).ok  # type: ignore[arg-type]
    sender.shutdown()
    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("event_catalog_delivery_seconds_count", outcome="delivered") == 1
    assert delta("event_catalog_delivery_seconds_count", outcome="error") == 1
    assert delta("event_catalog_batch_size_count") == 2


def test_request_latency_is_labelled_by_route_template(client: FlaskClient) -> None:
    client.get("/healthz")
    samples = _scrape(client)
    count = _value(
        samples, "event_catalog_http_request_seconds_count", method="GET", route="/healthz", status="200"
    )
    assert count >= 1


def test_metrics_behind_a_token_answers_401_naming_the_bearer_scheme(make_app: Callable[..., Flask]) -> None:
    """The 401 carried no `WWW-Authenticate`, unlike the API's, so a scraper was not told the scheme."""
    scraper = make_app(METRICS_TOKEN="a-scrape-token").test_client()
    missing = scraper.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer realm=event-catalog"
    assert "/metrics needs the bearer token set in METRICS_TOKEN." in missing.get_data(as_text=True)
    wrong = scraper.get("/metrics", headers={"Authorization": "Bearer guessed"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer realm=event-catalog, error=invalid_token"
    assert scraper.get("/metrics", headers={"Authorization": "Bearer a-scrape-token"}).status_code == 200


def test_a_missing_metrics_folder_is_named_when_the_library_is_imported(tmp_path: Path) -> None:
    """An application host (not the dashboard, which checks it first) got prometheus_client's
    FileNotFoundError from deep inside an import."""
    missing = tmp_path / "metrics"
    done = subprocess.run(
        [sys.executable, "-c", "import analytics"],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"analytics.settings.ConfigurationError: PROMETHEUS_MULTIPROC_DIR: '{missing}' is not a directory: "
        "create it, empty, before the process starts, or unset it for a single process"
    )
