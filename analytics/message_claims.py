"""Entries whose message id has no `audit_message_ids` row, and the repair that claims them.

Since migration `0007_audit_partitions` an entry's message id is claimed in `audit_message_ids` in
the entry's own transaction (`claim_message_ids`): that table is what keeps message ids unique
across partitions. A host of a release before `0007` left running through that migration keeps
inserting entries without the claim, silently: a later entry with the same message id is not
refused. `audit verify` counts such entries (`unclaimed_entries`), and `audit claim-ids` claims
them (`claim_missing`), naming rather than merging the ids two entries already share.

Both read the whole log: one anti-join of `audit_entries` (every partition on PostgreSQL, the
default one included) against `audit_message_ids`' primary key; the repair also groups the log by
message id (its index) to find ids shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, Insert, Select, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from analytics.audit import AuditEntry, AuditMessageId
from analytics.wording import counted

SHARED_SHOWN = 50
"""Shared message ids whose entries the repair lists: past that, a count of the rest."""


def _unclaimed() -> Select[str]:
    """The message ids of entries without their claim."""
    claimed = exists().where(AuditMessageId.message_id == AuditEntry.message_id)
    return select(AuditEntry.message_id).where(~claimed)


def unclaimed_entries(connection: Connection) -> int:
    """How many entries have no `audit_message_ids` row (written by a host of a release before 0007)."""
    return int(connection.scalar(select(func.count()).select_from(_unclaimed().subquery())) or 0)


@dataclass(frozen=True)
class SharedId:
    """A message id two or more entries hold: which entries (writer, seq, when recorded)."""

    message_id: str
    entries: tuple[tuple[str, int, datetime], ...]

    def describe(self) -> str:
        """`message id …: 2 entries (writer w seq 5 recorded …; …)`."""
        each = "; ".join(f"writer {w} seq {seq} recorded {at.isoformat()}" for w, seq, at in self.entries)
        return f"message id {self.message_id}: {counted(len(self.entries), 'entry')} ({each})"


@dataclass
class ClaimReport:
    """What `claim_missing` did.

    Attributes:
        claimed: message ids claimed now.
        shared: the ids that two or more entries hold (first `SHARED_SHOWN`), left as they are.
        shared_count: how many ids are shared in all.
    """

    claimed: int = 0
    shared: list[SharedId] = field(default_factory=list)
    shared_count: int = 0

    def summary(self) -> str:
        """One line for people."""
        claimed = (
            f"claimed {counted(self.claimed, 'message id')} that entries held without their claim"
            if self.claimed
            else "every entry's message id was already claimed"
        )
        if not self.shared_count:
            return f"{claimed}; no message id is shared by two entries"
        return (
            f"{claimed}; {counted(self.shared_count, 'message id')} shared by two or more entries "
            "(written while the claims were missing), left as they are: each entry is its own record, "
            "look them up with `event-catalog audit export --message-id …`"
        )


def _claim_insert(connection: Connection) -> Insert:
    """Insert the missing claims, skipping an id claimed meanwhile (by a writer, or a repair run at once)."""
    missing = _unclaimed().distinct()
    if connection.dialect.name == "postgresql":
        return postgresql.insert(AuditMessageId).from_select(["message_id"], missing).on_conflict_do_nothing()
    return sqlite.insert(AuditMessageId).from_select(["message_id"], missing).on_conflict_do_nothing()


def claim_missing(engine: Engine) -> ClaimReport:
    """Claim the message id of every entry that lacks its claim, and name the ids entries share.

    Idempotent: a second run claims nothing and names the same shared ids. A shared id keeps both
    entries (their chains vouch for each); it is claimed once, so nothing new can take it.
    """
    report = ClaimReport()
    with engine.begin() as connection:
        # Counted from what it returns: the drivers' rowcount of an INSERT … SELECT is -1.
        inserted = connection.execute(_claim_insert(connection).returning(AuditMessageId.message_id))
        report.claimed = sum(1 for _ in inserted)
        shared = (
            select(AuditEntry.message_id)
            .group_by(AuditEntry.message_id)
            .having(func.count() > 1)
            .order_by(AuditEntry.message_id)
        )
        ids = list(connection.scalars(shared))
        report.shared_count = len(ids)
        shown = ids[:SHARED_SHOWN]
        rows = connection.execute(
            select(AuditEntry.message_id, AuditEntry.writer_id, AuditEntry.seq, AuditEntry.recorded_at)
            .where(AuditEntry.message_id.in_(shown))
            .order_by(AuditEntry.message_id, AuditEntry.recorded_at, AuditEntry.writer_id, AuditEntry.seq)
        ).all()
    entries: dict[str, list[tuple[str, int, datetime]]] = {message_id: [] for message_id in shown}
    for row in rows:
        entries[row.message_id].append((row.writer_id, row.seq, row.recorded_at))
    report.shared = [SharedId(message_id, tuple(each)) for message_id, each in entries.items()]
    return report
