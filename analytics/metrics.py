"""Prometheus metrics of the library: what was sent, what became of it, and what it cost.

Defined once per process on the default registry, so an application that already exposes
Prometheus metrics gets these alongside its own; the dashboard serves them at `/metrics`. Under a
multi-process server (gunicorn) set `PROMETHEUS_MULTIPROC_DIR` and the values are summed across
workers (`prometheus_client` multiprocess mode).
"""

from __future__ import annotations

import os
from collections import Counter

import prometheus_client
from prometheus_client import Gauge, Histogram

from analytics.settings import ConfigurationError

# prometheus_client writes a file there for each metric as it is defined, here, on import: a missing
# folder was a FileNotFoundError from deep inside it, before `init()` could say anything.
_FOLDER = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _FOLDER and not os.path.isdir(_FOLDER):
    raise ConfigurationError(
        [
            f"PROMETHEUS_MULTIPROC_DIR: {_FOLDER!r} is not a directory: create it, empty, before the "
            "process starts, or unset it for a single process"
        ]
    )

MESSAGES = prometheus_client.Counter(
    "event_catalog_messages",
    "Messages that reached a status, by event (identify calls are labelled 'identify').",
    ["event", "status"],
)
ENQUEUE_FAILURES = prometheus_client.Counter(
    "event_catalog_enqueue_failures",
    "Messages the Segment client refused before sending, by reason.",
    ["reason"],
)
AUDIT_WRITE_SECONDS = Histogram(
    "event_catalog_audit_write_seconds",
    "Time to commit one audit write: a message on the caller's thread (strict), or a batch on the "
    "audit writer's thread (batched).",
    ["mode"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
AUDIT_BATCH_SIZE = Histogram(
    "event_catalog_audit_batch_size",
    "Messages per audit transaction of the batched audit writer.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500),
)
AUDIT_QUEUE_DEPTH = Gauge(
    "event_catalog_audit_queue_depth",
    "Messages waiting for the batched audit writer, as last observed.",
    multiprocess_mode="livesum",
)
AUDIT_LOST = prometheus_client.Counter(
    "event_catalog_audit_lost",
    "Messages the audit database refused for good in batched mode: neither audited nor sent.",
)
DELIVERY_SECONDS = Histogram(
    "event_catalog_delivery_seconds",
    "Time from a batch's first HTTP attempt to its final outcome, retries included.",
    ["outcome"],
)
BATCH_SIZE = Histogram(
    "event_catalog_batch_size",
    "Messages per batch posted to the endpoint.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500),
)
QUEUE_DEPTH = Gauge(
    "event_catalog_queue_depth",
    "Messages waiting in the Segment client's queue, as last observed.",
    multiprocess_mode="livesum",
)


def event_label(message: dict[str, object]) -> str:
    """The `event` label of a message: its event string, or `identify`."""
    return str(message.get("event") or message.get("type") or "unknown")


def count_messages(batch: list[dict[str, object]], status: str) -> None:
    """Count a batch's messages under one status: one increment per event, not per message."""
    for event, count in Counter(event_label(message) for message in batch).items():
        MESSAGES.labels(event=event, status=status).inc(count)
