"""Retention: delete entries older than a cutoff without breaking what `verify` can prove.

A purge is itself audited: before deleting anything it writes an entry of its own (type `purge`,
source `retention`) saying what it is about to delete (count, time range, cutoff, who), and, for
every chain it cuts, a *checkpoint*: the hash of the last entry it deletes before a kept one. The
first kept entry still names that hash as its predecessor, so the chain verifies across the hole.

Deletion then runs in batches, newest first. Within a writer entries are in time order, so an
interrupted purge leaves each chain's old part as a prefix that still starts at the beginning:
`verify` stays green at every moment, and running the purge again finishes the job. The purge
entry is `pending` while it runs and `recorded` once done; purge entries themselves are never
purged (one per run: they are the log's history of its own retention).

An erasure's *Personal Data Erased* action (`analytics.erasure`) stays while an entry it vouches for
remains: `verify` accepts an erased entry only while the action its erasure names exists, and an
erased entry can be recorded after that action (it arrived while the erasure ran, or its host's clock
is ahead). Once the purge cutoff passes its last erased entry, the action goes too. Like a purge
record, an entry kept inside a purged stretch gets the checkpoint of its predecessor.

On PostgreSQL, where the log is partitioned by time (`analytics.partitions`), a partition that
lies wholly before the cutoff is dropped instead of deleted row by row: the wide rows and their
indexes go in one statement, and only the narrow rows that name them (`audit_message_ids`,
`delivery_attempts`) are deleted. The order keeps the prefix property: first the rows of the
partly covered partition (and of the default partition) are deleted newest first, then whole
partitions are dropped newest first, each in its own transaction. (Rows still waiting in the default
partition, which `ensure` moves out, are the one exception: if they are older than a partition
still to be dropped, a purge interrupted in between leaves a gap that `verify` reports until the
purge is run again.) The checkpoints
are the same either way, computed before anything goes. Purge records inside a dropped partition
are kept in a fresh partition of the same range. A partition holding a kept erasure action is not
dropped whole, nor are the later ones: their rows are deleted one by one (rarely more than one
partition, and only while the cutoff lies between the action and the entries it vouches for).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    column,
    delete,
    exists,
    func,
    insert,
    inspect,
    not_,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.orm import aliased

from analytics import partitions
from analytics.actions import ACTION_TYPE, ERASURE_ACTION
from analytics.audit import (
    PURGE_TYPE,
    AuditCheckpoint,
    AuditEntry,
    AuditErasure,
    AuditMessageId,
    AuditStatus,
    AuditStore,
    DeliveryAttempt,
    Source,
)
from analytics.chain import checkpoint_hash
from analytics.durations import as_utc, format_instant
from analytics.integrity import has_erasure_table
from analytics.message_ids import new_message_id
from analytics.partitions import Partition
from analytics.wording import counted

log = logging.getLogger(__name__)

# Entries (and their attempts) deleted per transaction: short transactions keep the log writable
# for the applications while a large backlog is purged.
PURGE_BATCH = 1000


def _vouching_actions(cutoff: datetime) -> Select[str]:
    """The erasure actions named by the erasure of an entry recorded from `cutoff` on.

    `verify` accepts an erased entry only while the action its erasure names exists, and an entry can
    be recorded after the erasure that erased it (it arrived while the erasure ran, or its host's clock
    is ahead): a purge between the two must keep the action for it.
    """
    erased = aliased(AuditEntry)
    return (
        select(AuditErasure.erasure_message_id)
        .join(erased, erased.message_id == AuditErasure.message_id)
        .where(erased.recorded_at >= cutoff)
    )


def purgeable(
    cutoff: datetime, *, erasures: bool, entry: type[AuditEntry] = AuditEntry
) -> ColumnElement[bool]:
    """Entries a purge at `cutoff` deletes: recorded before it, except purge records and the erasure
    actions that vouch for an entry it keeps (`_vouching_actions`).

    Args:
        cutoff: the purge's cutoff.
        erasures: whether the database has the table of erasures (not at revision 0020, which this
            library writes).
        entry: `AuditEntry`, or an alias of it to test other rows by.
    """
    kept = entry.type == PURGE_TYPE
    if erasures:
        vouching = and_(
            entry.type == ACTION_TYPE,
            entry.event == ERASURE_ACTION,
            entry.message_id.in_(_vouching_actions(cutoff)),
        )
        kept = or_(kept, vouching)
    return and_(entry.recorded_at < cutoff, not_(kept))


@dataclass(frozen=True)
class PurgeRecord:
    """A purge as its own audit entry states it, read in one place for every page that explains
    a missing entry by it (the audit entry page, the tester's sends).

    Attributes:
        ran_at: when the purge ran (its entry's time).
        cutoff: it deleted the entries recorded before this time.
        actor: who ran it.
        older_than: the retention period the cutoff was counted back from (`90d`), or None when
            the cutoff was given as a time.
    """

    ran_at: datetime
    cutoff: datetime
    actor: str | None
    older_than: str | None

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> PurgeRecord | None:
        """The purge an entry of type `purge` records, or None when its payload states no readable cutoff."""
        try:
            cutoff = datetime.fromisoformat(entry.payload["cutoff"])
        except (KeyError, TypeError, ValueError):
            return None
        older_than = entry.payload.get("olderThan")
        period = older_than if isinstance(older_than, str) else None
        return cls(as_utc(entry.recorded_at), as_utc(cutoff), entry.actor, period)


def purges(*, after: datetime | None = None, newest_first: bool = False) -> Select[AuditEntry]:
    """The purge records (oldest first, or newest first); with `after`, those of purges run after it."""
    query = select(AuditEntry).where(AuditEntry.type == PURGE_TYPE)
    if after is not None:
        query = query.where(AuditEntry.recorded_at > after)
    order = AuditEntry.recorded_at.desc() if newest_first else AuditEntry.recorded_at
    return query.order_by(order)


@dataclass(frozen=True)
class Checkpoint:
    """A writer's chain, cut after `seq`, whose entry had hash `entry_hash`."""

    writer_id: str
    seq: int
    entry_hash: str


@dataclass
class PurgeReport:
    """What a purge deleted (or, dry, would delete).

    Attributes:
        cutoff: entries recorded before this time.
        entries: entries deleted (planned, for a dry run).
        attempts: their delivery attempts deleted.
        recorded_from: the oldest deleted entry's time.
        recorded_to: the newest deleted entry's time.
        checkpoints: chain checkpoints written.
        partitions: partitions dropped whole (PostgreSQL), oldest first.
        partition_entries: how many of the entries went with them.
        message_id: the purge's own audit entry (None for a dry run or when nothing was old enough).
        dry_run: nothing was written or deleted.
    """

    cutoff: datetime
    entries: int = 0
    attempts: int = 0
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    partitions: list[Partition] = field(default_factory=list)
    partition_entries: int = 0
    message_id: str | None = None
    dry_run: bool = False

    def summary(self) -> str:
        """One line for people."""
        cutoff = format_instant(self.cutoff, "microseconds")
        if not self.entries:
            return f"nothing recorded before {cutoff}"
        verb = "would delete" if self.dry_run else "deleted"
        oldest, newest = (format_instant(t, "microseconds") for t in (self.recorded_from, self.recorded_to))
        deleted = f"{counted(self.entries, 'entry')} and {counted(self.attempts, 'delivery attempt')}"
        text = f"{verb} {deleted} recorded {oldest} to {newest} (cutoff {cutoff}"
        if self.partitions:
            names = ", ".join(p.name for p in self.partitions)
            text += f"; {'dropping' if self.dry_run else 'dropped'} whole partitions {names}"
        return f"{text})" if self.dry_run else f"{text}); recorded as {self.message_id}"


def _duration_text(duration: timedelta) -> str:
    """A retention period the way it was most likely typed (`90d`), in the largest exact unit."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plan(store: AuditStore, cutoff: datetime) -> PurgeReport:
    """Count what a purge at `cutoff` would delete, and the checkpoints it needs."""
    with store.engine.connect() as connection:
        erasures = has_erasure_table(connection)
        condition = purgeable(cutoff, erasures=erasures)
        totals = select(func.count(), func.min(AuditEntry.recorded_at), func.max(AuditEntry.recorded_at))
        attempts = select(func.count()).where(
            DeliveryAttempt.message_id.in_(select(AuditEntry.message_id).where(condition))
        )
        count, oldest, newest = connection.execute(totals.where(condition)).one()
        report = PurgeReport(cutoff, count, connection.scalar(attempts) or 0, oldest, newest)
        if count:
            found = [
                Checkpoint(*row) for query in _cuts(cutoff, erasures) for row in connection.execute(query)
            ]
            # An entry kept right after a chain's last purged one names the same link as the chain's end.
            report.checkpoints = list(dict.fromkeys(found))
            report.partitions = _droppable(connection, cutoff, condition)
    return report


def _cuts(cutoff: datetime, erasures: bool) -> tuple[Select[str, int, str], Select[str, int, str]]:
    """The links a purge at `cutoff` cuts, each as the writer, seq and hash of the entry before it.

    Each chain's last purged entry (a later entry names it, or will: its writer may still be running),
    and the predecessor of every entry kept inside a purged stretch: a purge record, an erasure action
    still vouching for a later entry.
    """
    condition = purgeable(cutoff, erasures=erasures)
    last_purged = (
        select(AuditEntry.writer_id, func.max(AuditEntry.seq).label("seq"))
        .where(condition)
        .group_by(AuditEntry.writer_id)
        .subquery()
    )
    chain_ends = select(AuditEntry.writer_id, AuditEntry.seq, AuditEntry.entry_hash).join(
        last_purged,
        and_(AuditEntry.writer_id == last_purged.c.writer_id, AuditEntry.seq == last_purged.c.seq),
    )
    predecessor = aliased(AuditEntry)
    kept_inside = select(AuditEntry.writer_id, AuditEntry.seq - 1, AuditEntry.prev_hash).where(
        AuditEntry.recorded_at < cutoff,
        not_(condition),
        exists().where(
            predecessor.writer_id == AuditEntry.writer_id,
            predecessor.seq == AuditEntry.seq - 1,
            purgeable(cutoff, erasures=erasures, entry=predecessor),
        ),
    )
    return chain_ends, kept_inside


def _droppable(connection: Connection, cutoff: datetime, condition: ColumnElement[bool]) -> list[Partition]:
    """The partitions a purge drops whole (PostgreSQL): those wholly before the cutoff worth dropping,
    and before any entry it keeps there other than purge records (an erasure action still vouching).

    Dropping keeps only a partition's purge records, so such an entry's partition is purged row by row,
    and so are the later ones: rows go before partitions, and a purge interrupted between them must
    leave each chain's purged part a prefix.
    """
    whole = [p for p in partitions.partitions(connection) if p.before(cutoff)]
    if not whole:
        return []
    kept = select(func.min(AuditEntry.recorded_at)).where(
        AuditEntry.recorded_at < cutoff, not_(condition), AuditEntry.type != PURGE_TYPE
    )
    oldest_kept = connection.scalar(kept)
    until = cutoff if oldest_kept is None else as_utc(oldest_kept)
    return [p for p in whole if p.before(until) and _worth_dropping(connection, p)]


def _partition_rows(partition: Partition) -> ColumnElement[bool]:
    """The entries that a range partition holds."""
    assert partition.start is not None and partition.end is not None
    return and_(AuditEntry.recorded_at >= partition.start, AuditEntry.recorded_at < partition.end)


def _doomed(partition: Partition) -> Select[Any]:
    """The message ids of a partition's entries that a purge removes (all but purge records)."""
    rows = table(partition.name, column("message_id"), column("type"))
    return select(rows.c.message_id).where(rows.c.type != PURGE_TYPE)


def _worth_dropping(connection: Connection, partition: Partition) -> bool:
    """Whether dropping a partition wholly before the cutoff removes anything: entries to purge, or
    the partition itself when it is empty (a month without entries, made by migration 0007 or by
    `ensure`). One that holds only purge records stays: dropping it would make it again, with them,
    at every purge."""
    rows = table(partition.name, column("type"))
    return bool(connection.scalar(select(exists(_doomed(partition)) | ~exists(select(rows.c.type)))))


def purge(
    store: AuditStore,
    cutoff: datetime,
    *,
    period: timedelta | None = None,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = PURGE_BATCH,
) -> PurgeReport:
    """Delete entries recorded before a cutoff, with their attempts, and record it.

    The caller computes the cutoff (once: a command also checks it before purging), so a dry run's
    cutoff given again deletes what it counted, however long after it runs.

    Args:
        store: the audit log (its writer records the purge; its chain key signs the checkpoints).
        cutoff: entries recorded before this time are deleted.
        period: the retention period the cutoff was counted back from `now` (e.g. 90 days), recorded
            as such; None when the cutoff was given as a time.
        actor: who runs the purge.
        now: the time the purge is recorded at; the current time by default.
        dry_run: only count.
        batch: entries deleted per transaction.

    Returns:
        What was deleted, and the purge entry that records it.
    """
    now = now or datetime.now(UTC)
    report = plan(store, cutoff)
    report.dry_run = dry_run
    if dry_run or not report.entries:
        return report
    report.message_id = _record_purge(store, report, period, actor, now)
    _write_checkpoints(store, report.checkpoints, report.message_id)
    entries, attempts = _delete(store, report.cutoff, batch, report.partitions)
    report.partition_entries, dropped_attempts = _drop(store, report.partitions)
    entries, attempts = entries + report.partition_entries, attempts + dropped_attempts
    done = update(AuditEntry).where(AuditEntry.message_id == report.message_id)
    error = None
    if entries != report.entries:
        # Only another purge running at the same time deletes the same entries.
        error = f"deleted {entries} of the {report.entries} entries planned: another purge ran meanwhile"
    with store.engine.begin() as connection:
        connection.execute(
            done.values(status=AuditStatus.RECORDED, status_changed_at=datetime.now(UTC), error=error)
        )
    report.entries, report.attempts = entries, attempts
    log.info("purge %s: %s", report.message_id, report.summary())
    return report


def _record_purge(
    store: AuditStore, report: PurgeReport, period: timedelta | None, actor: str, now: datetime
) -> str:
    """Write the purge's own entry, `pending` until the deletion is done."""
    message: dict[str, Any] = {
        "type": PURGE_TYPE,
        "messageId": new_message_id(),
        "timestamp": now.isoformat(timespec="milliseconds"),
        "actor": actor,
        **({} if period is None else {"olderThan": _duration_text(period)}),
        "cutoff": format_instant(report.cutoff, "microseconds"),
        "deleted": {
            "entries": report.entries,
            "attempts": report.attempts,
            "recordedFrom": format_instant(report.recorded_from, "microseconds"),
            "recordedTo": format_instant(report.recorded_to, "microseconds"),
        },
        "checkpoints": len(report.checkpoints),
        "partitions": [p.name for p in report.partitions],
    }
    store.record(message, status=AuditStatus.PENDING, source=Source.RETENTION, actor=actor)
    return str(message["messageId"])


def _write_checkpoints(store: AuditStore, checkpoints: list[Checkpoint], purge_message_id: str) -> None:
    """Commit the checkpoints before anything is deleted, so no moment shows an unexplained hole."""
    created = datetime.now(UTC)
    rows = [
        {
            "writer_id": point.writer_id,
            "seq": point.seq,
            "entry_hash": point.entry_hash,
            "purge_message_id": purge_message_id,
            "created_at": created,
            "checkpoint_hash": checkpoint_hash(
                store.chain_key,
                writer_id=point.writer_id,
                seq=point.seq,
                entry_hash=point.entry_hash,
                purge_message_id=purge_message_id,
            ),
        }
        for point in checkpoints
    ]
    if rows:
        with store.engine.begin() as connection:
            connection.execute(insert(AuditCheckpoint), rows)


def _delete(store: AuditStore, cutoff: datetime, batch: int, dropping: list[Partition]) -> tuple[int, int]:
    """Delete in batches, newest first, so each chain keeps an intact prefix if interrupted.

    Rows of the partitions in `dropping` are left for `_drop`.
    """
    entries = attempts = 0
    with store.engine.connect() as connection:
        condition = purgeable(cutoff, erasures=has_erasure_table(connection))
    if dropping:
        condition = and_(condition, not_(or_(*(_partition_rows(p) for p in dropping))))
    newest_first = (
        select(AuditEntry.id, AuditEntry.message_id)
        .where(condition)
        .order_by(AuditEntry.recorded_at.desc(), AuditEntry.id.desc())
        .limit(batch)
    )
    while True:
        with store.engine.begin() as connection:
            rows = connection.execute(newest_first).all()
            if not rows:
                return entries, attempts
            message_ids = [row.message_id for row in rows]
            attempts += connection.execute(
                delete(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(message_ids))
            ).rowcount
            entries += connection.execute(
                delete(AuditEntry).where(AuditEntry.id.in_([r.id for r in rows]))
            ).rowcount
            connection.execute(delete(AuditMessageId).where(AuditMessageId.message_id.in_(message_ids)))
            _forget_erasures(connection, message_ids)


def _forget_erasures(connection: Connection, message_ids: list[str] | Select[tuple[Any]]) -> None:
    """Delete the erasure records of purged entries: nothing is left for them to vouch for.

    A database still at revision 0020 (which this library writes) has no table of erasures.
    """
    if inspect(connection).has_table(AuditErasure.__tablename__):
        connection.execute(delete(AuditErasure).where(AuditErasure.message_id.in_(message_ids)))


def _drop(store: AuditStore, dropping: list[Partition]) -> tuple[int, int]:
    """Drop whole partitions, newest first, with their entries' attempts and message ids.

    Returns:
        The entries and the attempts removed.
    """
    entries = attempts = 0
    for partition in reversed(dropping):
        with store.engine.begin() as connection:
            partitions.lock(connection)
            if partition not in partitions.partitions(connection):
                continue  # another purge dropped it while this one waited for the lock
            doomed = _doomed(partition)
            attempts += connection.execute(
                delete(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(doomed))
            ).rowcount
            connection.execute(delete(AuditMessageId).where(AuditMessageId.message_id.in_(doomed)))
            _forget_erasures(connection, doomed)
            entries += partitions.drop(connection, partition, keep_types=(PURGE_TYPE,))
    return entries, attempts
