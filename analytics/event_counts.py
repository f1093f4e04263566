"""Recounting the catalog's hourly and daily entry counts where partition maintenance moved rows.

Triggers keep `audit_event_hours` and `audit_event_days` exact for every INSERT, DELETE and moving
UPDATE of `audit_entries` (migration `0008_event_counts`). PostgreSQL's partition maintenance
(`analytics.partitions`) moves rows the triggers do not see: its statements run on partitions
directly, which fire none of the parent's statement triggers, and a dropped partition's rows leave
without a DELETE at all. Both happen on day
boundaries, inside the maintenance's transaction, so the counts of that range are simply counted
again from the entries it holds afterwards.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from analytics.audit import EventDay, EventHour

_STARTS = {
    EventHour.__tablename__: "date_trunc('hour', recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    EventDay.__tablename__: "date_trunc('day', recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


def recount(connection: Connection, start: datetime, end: datetime) -> None:
    """Count `[start, end)` again from the entries (PostgreSQL; `start` and `end` on UTC days)."""
    bounds = {"start": start, "end": end}
    for table, truncated in _STARTS.items():
        connection.execute(text(f"DELETE FROM {table} WHERE start >= :start AND start < :end"), bounds)
        connection.execute(
            text(
                f"INSERT INTO {table} (start, event, source, writer_id, messages) "
                f"SELECT {truncated}, event, source, writer_id, count(*) FROM audit_entries "
                "WHERE recorded_at >= :start AND recorded_at < :end AND event IS NOT NULL "
                "GROUP BY 1, 2, 3, 4"
            ),
            bounds,
        )
