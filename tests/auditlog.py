"""Seeding the audit log for the audit review tests: real specs, real `AuditStore.record`.

Entries are recorded exactly as the client records them; only `recorded_at` is then moved to the
time a test needs, since the store stamps entries with the current time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update

from analytics.audit import AuditEntry, AuditStatus, AuditStore, DeliveryAttempt
from analytics.catalog import CATALOG
from analytics.messages import CONTEXT_KEY, build_message


def record(
    store: AuditStore,
    spec_name: str,
    *,
    scope: dict[str, Any],
    properties: dict[str, Any] | None = None,
    status: AuditStatus | str = AuditStatus.PENDING,
    source: str = "application",
    actor: str | None = None,
    version: str | None = None,
    recorded_at: datetime | None = None,
    destination: str | None = None,
) -> str:
    """Record one message built from a catalog spec (event constant or identify name); its messageId.

    Args:
        store: where to record it.
        spec_name: `ClusterProvisioningSuccess`, `Register`, …
        scope: the scope's ids (`user_id`, `project_id`, …).
        properties: the spec's own values.
        status: the entry's status.
        source: the sending path.
        actor: who sent it.
        version: a catalog version other than today's, as an older build would have written.
        recorded_at: when the entry should appear to have been written (UTC).
        destination: where a tester send went (`name:fingerprint`).
    """
    try:
        info = CATALOG.event(spec_name)
    except KeyError:
        info = CATALOG.identifier(spec_name)
    spec = info.spec(scope=info.scope(**scope), **(properties or {}))
    message = build_message(spec, source=source, actor=actor)
    if version is not None:
        message["context"][CONTEXT_KEY]["version"] = version
    store.record(
        message,
        status=AuditStatus(status),
        source=source,
        actor=actor,
        destination=destination,
        personal_data_keys=info.spec.personal_data_keys(),
    )
    if recorded_at is not None:
        move(store, message["messageId"], recorded_at)
    return str(message["messageId"])


def record_pending(
    store: AuditStore, count: int = 1, constant: str = "ClusterProvisioningSuccess"
) -> list[str]:
    """`count` pending entries of the event's example, as an application records them: their message ids."""
    ids = []
    for _ in range(count):
        message = build_message(CATALOG.event(constant).example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        ids.append(message["messageId"])
    return ids


def move(store: AuditStore, message_id: str, recorded_at: datetime) -> None:
    """Set when an entry appears to have been recorded."""
    with store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.message_id == message_id).values(recorded_at=recorded_at)
        )


def record_delivery(
    store: AuditStore,
    status: AuditStatus,
    *,
    destination: str | None = None,
    recorded: datetime | None = None,
    http_status: int | None = None,
    error: str | None = None,
) -> str:
    """Audit one message as pending, then its outcome as the client records it; its messageId.

    Args:
        store: where to record it.
        status: the outcome (`pending` records none).
        destination: a tester destination (`name:fingerprint`); None for the application's client.
        recorded: when the entry, its status change and its attempt should appear to have happened.
        http_status: the endpoint's answer.
        error: the endpoint's error text.
    """
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message_id = str(message["messageId"])
    source = "application" if destination is None else "tester"
    store.record(message, status=AuditStatus.PENDING, source=source, destination=destination)
    if status != AuditStatus.PENDING:
        store.record_outcome([message_id], status, http_status=http_status, error=error)
    if recorded is not None:
        with store.engine.begin() as connection:
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.message_id == message_id)
                .values(recorded_at=recorded, status_changed_at=recorded)
            )
            connection.execute(
                update(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message_id)
                .values(attempted_at=recorded)
            )
    return message_id
