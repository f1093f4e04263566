"""The catalog page's Python snippets run as shown and send what the example message says."""

from __future__ import annotations

import analytics
from analytics.audit import AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import payload_of
from analytics.snippet import python_snippet

ALL_SPECS = [*CATALOG.events.values(), *CATALOG.identifiers.values()]


def test_every_snippet_runs_and_reaches_the_collector(
    sqlite_store: AuditStore, sqlite_url: str, collector: Collector
) -> None:
    analytics.init("key", host=collector.url, database_url=sqlite_url, upload_interval=0.05)
    sent = {}
    try:
        for info in ALL_SPECS:
            namespace: dict[str, object] = {}
            exec(compile(python_snippet(info), f"<snippet {info.constant}>", "exec"), namespace)  # noqa: S102
            receipt = namespace["receipt"]
            assert receipt.ok, (info.constant, receipt.error)  # type: ignore[attr-defined]
            sent[receipt.message_id] = info  # type: ignore[attr-defined]
        analytics.flush()
    finally:
        analytics.shutdown()
    received = {message["messageId"]: message for message in collector.received()}
    assert set(received) == set(sent)
    for message_id, info in sent.items():
        assert payload_of(received[message_id]) == info.example_payload()


def test_enum_examples_are_written_as_members_and_imported() -> None:
    snippet = python_snippet(CATALOG.event("ClusterProvisioningSuccess"))
    assert "from analytics.tracks import ClusterKind, ClusterProvisioningSuccess" in snippet
    assert "cluster_type=ClusterKind.EKS," in snippet
