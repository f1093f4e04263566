"""Erasure requests: make what the audit log holds about one person unrecoverable, keeping `verify` true.

What an entry holds of a person that can be read back is its sealed personal data
(`encrypted_personal_data`: the real values, which replay and the engineers' pages open with
`AUDIT_ENCRYPTION_KEY`). Erasing a user's entries clears it, so that no key, present or future,
opens those values again. What stays, and why:

- the masks (`masked:<hex>`): keyed fingerprints that cannot be turned back into the values; with
  `AUDIT_MASK_KEY` they only confirm a value someone already holds, which is what the log is for
  ("did we send this email, to whom?") and what the person may ask to be shown;
- the user id, the event, the times and the delivery history: the record that a message was sent for
  that pseudonymous id, which the log exists to keep until retention deletes it
  (`analytics.retention`), and by which the erasure itself is found: its record carries the id as
  its `userId`. Retention keeps that record while entries it vouches for remain.

Each entry's chain hash covers the ciphertext that goes, so each erased entry gets an `AuditErasure`
row whose own keyed hash covers the entry as it is after the erasure (`analytics.chain.erasure_hash`):
`verify` checks that instead, and still reports any other change. The erasure is recorded before
anything is cleared, as a *Personal Data Erased* action (who, the user id, how many entries; never a
value), `pending` until done, as a purge records itself; each batch clears its entries and writes
their rows in one transaction, so an interrupted erasure leaves no entry half-erased, closes its
action with what stopped it, and running it again finishes the job. Two erasures of one user id may
run at once: each entry is erased by one of them (`_batches`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from analytics.actions import ERASURE_ACTION, build_action
from analytics.audit import MESSAGE_TYPES, AuditEntry, AuditErasure, AuditStatus, AuditStore, Source
from analytics.audit_failures import reason
from analytics.chain import IMMUTABLE_FIELDS, erasure_hash, removed_digest
from analytics.durations import shown_instant
from analytics.errors import SchemaError
from analytics.integrity import has_erasure_table, matches_own_hash
from analytics.wording import counted

log = logging.getLogger(__name__)

ERASE_BATCH = 500
"""Entries erased per transaction: a user of years of traffic does not hold the log's write lock long."""

_READ = [
    AuditEntry.id,
    AuditEntry.writer_id,
    AuditEntry.seq,
    AuditEntry.prev_hash,
    AuditEntry.entry_hash,
    *(getattr(AuditEntry, name) for name in IMMUTABLE_FIELDS),
]


_TAKEN_BY = "another erasure of this user id running at the same time (or a purge)"
"""What clears a planned entry's sealed data before the erasure comes to it (its `gone_meanwhile`)."""


@dataclass
class ErasureReport:
    """What an erasure request changed (or, dry, would change) for one user id.

    Attributes:
        user_id: the `userId` whose entries were asked for.
        held: the entries the log holds for it.
        entries: those whose sealed personal data was (would be) cleared.
        erased_before: those an earlier erasure had already cleared.
        unverified: erased entries that no longer matched their hash beforehand: `verify` keeps
            reporting them as edited, since the erasure does not vouch for an edit.
        gone_meanwhile: entries it planned to erase whose sealed data was gone when it came to them:
            another erasure of the user id running at the same time took them (or a purge did).
        message_id: the erasure's action entry (None for a dry run).
        dry_run: nothing was written.
    """

    user_id: str
    held: int = 0
    entries: int = 0
    erased_before: int = 0
    unverified: int = 0
    gone_meanwhile: int = 0
    message_id: str | None = None
    dry_run: bool = False

    def summary(self) -> str:
        """One line for people, starting with the user id and the number of entries changed."""
        who = f"user {self.user_id}"
        recorded = f"; recorded as {self.message_id}" if self.message_id else ""
        none = "0 entries would be erased" if self.dry_run else "0 entries erased"
        if not self.held:
            return f"{who}: {none}: the audit log holds no entry for this user id{recorded}"
        if not self.entries and self.gone_meanwhile:
            # Not "erased … of 0 entries (of 3); 3 other entries had lost it": there were no others.
            holding = counted(self.gone_meanwhile, "entry")
            return (
                f"{who}: {none}: the {holding} holding sealed personal data had lost it meanwhile, "
                f"to {_TAKEN_BY}{recorded}"
            )
        if not self.entries:
            before = f", {self.erased_before} erased before" if self.erased_before else ""
            return (
                f"{who}: {none}: none of the {counted(self.held, 'entry')} for this user id holds "
                f"sealed personal data{before}{recorded}"
            )
        verb = "would erase" if self.dry_run else "erased"
        text = f"{who}: {verb} the sealed personal data of {counted(self.entries, 'entry')} (of {self.held})"
        if self.unverified:
            text += f"; {self.unverified} of them already failed `audit verify` and still will"
        if self.gone_meanwhile:
            text += f"; {counted(self.gone_meanwhile, 'other entry')} had lost it meanwhile, to {_TAKEN_BY}"
        return text + recorded


def _selected(user_id: str) -> ColumnElement[bool]:
    """The messages of a user id: the `userId` every message names, whatever path sent it.

    Messages only: the erasure records name the user id too (so that its search finds them), and are
    not what a request erases or counts.
    """
    return and_(AuditEntry.user_id == user_id, AuditEntry.type.in_(MESSAGE_TYPES))


def plan(store: AuditStore, user_id: str) -> ErasureReport:
    """Count a user id's entries, those holding sealed personal data and those erased before.

    Raises:
        SchemaError: the database is not yet at the revision that records erasures.
    """
    with store.engine.connect() as connection:
        if not has_erasure_table(connection):
            raise SchemaError(
                "the audit database has no table of erasures yet: run `event-catalog db upgrade` first"
            )
        sealed = func.count(AuditEntry.encrypted_personal_data)
        held, entries = connection.execute(select(func.count(), sealed).where(_selected(user_id))).one()
        before = (
            select(func.count())
            .select_from(AuditErasure)
            .join(AuditEntry, AuditEntry.message_id == AuditErasure.message_id)
        )
        erased_before = connection.scalar(before.where(_selected(user_id))) or 0
    return ErasureReport(user_id, held, entries, erased_before)


def erase(
    store: AuditStore, user_id: str, *, actor: str, dry_run: bool = False, batch: int = ERASE_BATCH
) -> ErasureReport:
    """Clear the sealed personal data of a user id's entries, vouch for each, and record the request.

    Args:
        store: the audit log (its writer records the erasure; its chain keys check and vouch).
        user_id: the `userId` the request names, as stored (digits).
        actor: who runs it.
        dry_run: only count.
        batch: entries erased per transaction.

    Returns:
        What was erased, and the action entry that records it.

    Raises:
        SchemaError: the database is not yet at the revision that records erasures.
        SQLAlchemyError: a batch failed (and whatever else stopped one, Ctrl-C included): raised again
            after the request's action is closed with what was erased and why it stopped, that error
            added to the exception as its last note (`__notes__`).
    """
    report = plan(store, user_id)
    report.dry_run = dry_run
    if dry_run:
        return report
    action = build_action(
        ERASURE_ACTION,
        actor=actor,
        properties={"user_id": user_id, "entries": report.entries},
        user_id=user_id,
    )
    report.message_id = str(action["messageId"])
    if not report.entries:
        # Nothing to clear, but the request was handled: the record is what answers "did you?".
        store.record(action, status=AuditStatus.RECORDED, source=Source.DASHBOARD, actor=actor)
        return report
    store.record(action, status=AuditStatus.PENDING, source=Source.DASHBOARD, actor=actor)
    erased = unverified = 0
    try:
        for cleared, found_edited in _batches(store, user_id, report.message_id, batch):
            erased += cleared
            unverified += found_edited
    except BaseException as exc:
        # BaseException: Ctrl-C is the likeliest interruption of a long erasure, and it too must not
        # leave the request `pending` for ever.
        error = _interrupted(report, erased, exc)
        _close(store, report.message_id, error)
        exc.add_note(error)  # for the caller to say, as `audit erase` does in its one line
        raise
    # Entries recorded while it ran are erased too, and each erased entry's row names the action: the
    # action's planned count is what it was asked, not an error when the log moved on meanwhile.
    _close(store, report.message_id, None)
    report.held += max(erased - report.entries, 0)
    report.gone_meanwhile = max(report.entries - erased, 0)
    report.entries, report.unverified = erased, unverified
    log.info("erasure %s: %s", report.message_id, report.summary())
    return report


def _batches(
    store: AuditStore, user_id: str, erasure_message_id: str, batch: int
) -> Iterator[tuple[int, int]]:
    """Erase a user id's sealed data a batch per transaction, yielding what each cleared and how many
    of those it found already edited.

    Another erasure of the same user id may run at once (two admins, a retried job): on PostgreSQL
    each batch locks its rows, waiting for those another transaction holds, and PostgreSQL leaves out
    a row the other cleared meanwhile; on SQLite, where writes take turns, `_erase_rows` clears only
    what is still sealed when its turn comes. Either way each entry is erased, and vouched for, once.
    The batch waits rather than skipping locked rows: delivery outcomes and replay's claims lock the
    same rows for a moment, and a skipped row would keep its personal data under a finished erasure.
    """
    keys = (store.chain_key, *store.retired_chain_keys)
    pending = (
        select(*_READ)
        .where(_selected(user_id), AuditEntry.encrypted_personal_data.is_not(None))
        .order_by(AuditEntry.id)
        .limit(batch)
        .with_for_update()
    )
    chosen: dict[str, int | None] = {}
    while True:
        with store.engine.begin() as connection:
            rows = connection.execute(pending).mappings().all()
            if not rows:
                return
            done = _erase_rows(connection, keys, store.chain_key, rows, erasure_message_id, chosen)
        # Only once committed: a batch the commit refuses erased nothing.
        yield done


def _interrupted(report: ErasureReport, erased: int, exc: BaseException) -> str:
    """The error an interrupted erasure closes its action with: what it did, why it stopped, what next.

    Its batches also erase entries recorded for the user id after it counted them, so it may have
    erased more than it planned: "5 of the 3 planned" would read as a miscount.
    """
    planned = counted(report.entries, "entry")
    again = f"run `event-catalog audit erase --user-id {report.user_id}` again to erase the rest"
    if erased <= report.entries:
        return f"interrupted after erasing {erased} of the {planned} planned ({reason(exc)}): {again}"
    return (
        f"interrupted after erasing {counted(erased, 'entry')} ({reason(exc)}), more than the {planned} "
        f"planned: entries recorded for this user id while it ran were erased too; {again}"
    )


def _close(store: AuditStore, message_id: str, error: str | None) -> None:
    """Mark an erasure's action `recorded`, with the error that stopped it if one did.

    Closing an interrupted erasure is best effort: the database that stopped it may refuse this too,
    and the caller's own error is the one to raise.
    """
    try:
        with store.engine.begin() as connection:
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.message_id == message_id)
                .values(status=AuditStatus.RECORDED, status_changed_at=datetime.now(UTC), error=error)
            )
    except SQLAlchemyError as exc:
        if error is None:
            raise
        log.warning("erasure %s stays pending: %s (it was %s)", message_id, reason(exc), error)


def _erase_rows(
    connection: Connection,
    keys: tuple[bytes, ...],
    key: bytes,
    rows: Sequence[RowMapping],
    erasure_message_id: str,
    chosen: dict[str, int | None],
) -> tuple[int, int]:
    """Clear one batch's sealed data and write its erasures, in the caller's transaction.

    `chosen` keeps the key of each chain met so far in the run (`matches_own_hash`). Only the rows still
    sealed when it writes are erased: a concurrent erasure of the same user id on
    SQLite read them too, and may have cleared them first.

    Returns:
        How many rows it erased, and how many of those did not match their hash before (and get no
        erasure hash).
    """
    now = datetime.now(UTC)
    erasures = []
    vouches = []
    for row in rows:
        vouched = matches_own_hash(connection, keys, row, chosen)
        vouches.append(vouched)
        erasure = {
            "message_id": row["message_id"],
            "erasure_message_id": erasure_message_id,
            "erased_at": now,
            "removed_digest": removed_digest(row["encrypted_personal_data"]),
        }
        as_erased = {**row, "encrypted_personal_data": None, **erasure}
        erasures.append({**erasure, "erasure_hash": erasure_hash(key, as_erased) if vouched else None})
    # Cleared after every row is checked: a row cleared without its erasure yet would read as edited
    # to `matches_own_hash`, which chooses the chain's key from its entries as they are now.
    cleared = set(
        connection.scalars(
            update(AuditEntry)
            .where(
                AuditEntry.id.in_([row["id"] for row in rows]),
                AuditEntry.encrypted_personal_data.is_not(None),
            )
            .values(encrypted_personal_data=None)
            .returning(AuditEntry.id)
        )
    )
    done = [
        (erasure, vouched)
        for row, erasure, vouched in zip(rows, erasures, vouches, strict=True)
        if row["id"] in cleared
    ]
    if done:
        connection.execute(insert(AuditErasure), [erasure for erasure, _ in done])
    return len(done), sum(not vouched for _, vouched in done)


def erased_at(connection: Connection, message_ids: list[str]) -> dict[str, datetime]:
    """When the entries of these message ids had their personal data erased (those that did).

    Empty on a database without the table of erasures (revision 0020, which this library writes).
    """
    if not message_ids or not has_erasure_table(connection):
        return {}
    query = select(AuditErasure.message_id, AuditErasure.erased_at).where(
        AuditErasure.message_id.in_(message_ids)
    )
    return {message_id: moment for message_id, moment in connection.execute(query)}


def erased_reason(moment: datetime | None) -> str:
    """Why an erased entry cannot be re-sent: with the erasure's time for replay's list of entries,
    without (`moment` None) where entries are counted by reason, so that the entries of every
    erasure make one count rather than one clause per request."""
    when = f" ({shown_instant(moment)})" if moment is not None else ""
    return f"its personal data was erased on request{when}: the real values cannot be re-sent"
