"""The tester's recent scope ids, read by the database out of the payloads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.actions import record_action
from analytics.audit import AuditStatus, AuditStore, Source
from analytics.catalog import CATALOG
from analytics.messages import build_message
from webapp.tester.queries import latest_scope_ids, recent_ids


def test_recent_ids_are_text_newest_first_with_the_event_that_carried_them(
    engine: Engine,
    store: AuditStore,
    record_sent,  # type: ignore[no-untyped-def]
) -> None:
    now = datetime.now(UTC)
    record_sent("ProjectCreate", now - timedelta(minutes=2))
    record_sent("ClusterProvisioningSuccess", now - timedelta(minutes=1))
    identify = build_message(CATALOG.identifiers["Register"].example_spec())
    store.record(identify, status=AuditStatus.DELIVERED, source=Source.APPLICATION)
    # An action names ids no event carried: it is no suggestion.
    saved = {"name": "staging", "user_id": 44, "project_id": 45, "proj_id": 45, "cluster_id": 46}
    record_action(store, "Scope Preset Saved", actor="ada@example.com", properties=saved)
    with Session(engine) as session:
        recent = recent_ids(session.execute(latest_scope_ids()))
    assert [(seen.value, seen.event) for seen in recent["project_id"]] == [
        ("12", "Cluster Provisioning Success"),
    ]
    assert [seen.event for seen in recent["user_id"]] == ["Identify: Register"]
    assert recent["cluster_id"][0].value == "4" and recent["registry_id"] == []
