"""Check the audit log's hash chains: `event-catalog audit verify` and the entry page's badge.

Each writer's entries must form an unbroken chain (`analytics.chain`): sequence numbers 1, 2, 3…,
each entry naming its predecessor's hash, each hash matching the entry's content under the chain key,
and times never going back. What breaks that is reported with the entries concerned:

- *edited*: an entry's content no longer matches its hash (changed, or moved in the chain);
- *unmatched chain*: no entry of a writer's chain (two or more) matches its hash: most likely written
  with another `AUDIT_CHAIN_KEY` (a writer keeps one key), reported once rather than per entry;
- *broken link*: an entry names a predecessor hash its predecessor does not have;
- *gap*: sequence numbers are missing (entries deleted) and no purge checkpoint covers the hole;
- *out of order*: an entry is recorded earlier than its predecessor (re-dated);
- *duplicate*: two entries claim one place in a chain.

A chain's last entries can be removed without a trace inside the database, as with any hash chain;
the summary prints each writer's head so that a copy kept elsewhere can show that too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, exists, select

from analytics.audit import PURGE_TYPE, AuditCheckpoint, AuditEntry, AuditStore
from analytics.chain import GENESIS, IMMUTABLE_FIELDS, canonical_instant, checkpoint_hash, entry_hash
from analytics.wording import counted

# Rows fetched at a time while streaming the whole log: bounded memory on millions of entries.
STREAM_BATCH = 2000

_COLUMNS = [
    AuditEntry.id,
    AuditEntry.writer_id,
    AuditEntry.seq,
    AuditEntry.prev_hash,
    AuditEntry.entry_hash,
    *(getattr(AuditEntry, name) for name in IMMUTABLE_FIELDS),
]


@dataclass(frozen=True)
class Finding:
    """One break in a chain.

    Attributes:
        kind: `edited`, `unmatched-chain`, `broken-link`, `gap`, `out-of-order` or `duplicate`.
        writer_id: the chain.
        message_ids: the entries concerned (for a gap: the entries either side of it; for an unmatched
            chain: its first and last).
        detail: what is wrong, in one line.
    """

    kind: str
    writer_id: str
    message_ids: tuple[str, ...]
    detail: str


@dataclass
class VerifyReport:
    """The result of checking every chain.

    Attributes:
        entries: entries checked.
        heads: each writer's last entry: (sequence number, hash).
        checkpoints: gaps explained by a purge checkpoint.
        findings: every break found, by writer then sequence number.
        unmatched_entries: entries of chains where no entry matches its hash.
        unmatched_chains: such chains.
    """

    entries: int = 0
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    unmatched_entries: int = 0
    unmatched_chains: int = 0

    @property
    def ok(self) -> bool:
        """Whether every chain is intact."""
        return not self.findings

    @property
    def no_entry_matches(self) -> bool:
        """Whether every entry checked (two or more) fails its own hash: far more likely a different
        `AUDIT_CHAIN_KEY` than every entry rewritten, and worth one line rather than one per entry."""
        return self.entries > 1 and self.unmatched_entries == self.entries

    def summary(self) -> str:
        """One line for people."""
        if self.no_entry_matches:
            return (
                f"no entry matches its hash ({counted(self.entries, 'entry')} in "
                f"{counted(len(self.heads), 'writer chain')}): AUDIT_CHAIN_KEY is most likely not the key "
                "they were written with (or every entry was changed)"
            )
        verdict = "verified" if self.ok else f"{counted(len(self.findings), 'problem')} in"
        text = f"{verdict} {counted(self.entries, 'entry')} in {counted(len(self.heads), 'writer chain')}"
        if self.checkpoints == 1:
            text = f"{text}; 1 gap left by a purge, vouched for by its checkpoint"
        elif self.checkpoints:
            text = f"{text}; {self.checkpoints} gaps left by purges, each vouched for by its checkpoint"
        # One entry failing alone is as likely an edit as a key; two or more whole chains failing
        # while others verify is what a key change (a deployment that once ran on another key) leaves.
        if self.unmatched_entries > 1:
            text = (
                f"{text}; {counted(self.unmatched_entries, 'entry')} in "
                f"{counted(self.unmatched_chains, 'writer chain')} match none of their chain's hashes: "
                "AUDIT_CHAIN_KEY is most likely not the key those were written with (or each was changed)"
            )
        return text


@dataclass(frozen=True)
class _Gap:
    writer_id: str
    first_missing: int
    last_missing: int
    before: str | None
    after: str
    prev_hash: str


def _content_matches(key: bytes, row: Mapping[Any, Any]) -> bool:
    """Whether the row's hash is what its chain place and immutable fields hash to."""
    place = {"writer_id": row["writer_id"], "seq": row["seq"], "prev_hash": row["prev_hash"]}
    return bool(entry_hash(key, **place, fields=row) == row["entry_hash"])


def _as_row(entry: AuditEntry) -> dict[str, Any]:
    names = ("writer_id", "seq", "prev_hash", "entry_hash", *IMMUTABLE_FIELDS)
    return {name: getattr(entry, name) for name in names}


def checkpoint_covers(connection: Connection, key: bytes, writer_id: str, seq: int, hash_: str) -> bool:
    """Whether a genuine purge checkpoint says entry `seq` of the writer had hash `hash_`.

    Genuine: its own keyed hash matches, and the purge entry it names exists.
    """
    purge = exists().where(
        AuditEntry.message_id == AuditCheckpoint.purge_message_id, AuditEntry.type == PURGE_TYPE
    )
    query = select(AuditCheckpoint).where(
        AuditCheckpoint.writer_id == writer_id,
        AuditCheckpoint.seq == seq,
        AuditCheckpoint.entry_hash == hash_,
        purge,
    )
    for checkpoint in connection.execute(query).mappings():
        expected = checkpoint_hash(
            key,
            writer_id=checkpoint["writer_id"],
            seq=checkpoint["seq"],
            entry_hash=checkpoint["entry_hash"],
            purge_message_id=checkpoint["purge_message_id"],
        )
        if expected == checkpoint["checkpoint_hash"]:
            return True
    return False


def _gap_finding(gap: _Gap) -> Finding:
    missing = (
        f"seq {gap.first_missing}"
        if gap.first_missing == gap.last_missing
        else f"seq {gap.first_missing}-{gap.last_missing}"
    )
    where = f"between {gap.before} and {gap.after}" if gap.before else f"before {gap.after}"
    ids = (gap.before, gap.after) if gap.before else (gap.after,)
    return Finding(
        "gap", gap.writer_id, ids, f"entries {missing} are missing {where}, with no purge checkpoint"
    )


def _unmatched_chain_finding(first: RowMapping, last: RowMapping, entries: int) -> Finding:
    recorded = f"{canonical_instant(first['recorded_at'])} to {canonical_instant(last['recorded_at'])}"
    span = f"seq {first['seq']}-{last['seq']}, recorded {recorded}"
    return Finding(
        "unmatched-chain",
        first["writer_id"],
        (first["message_id"], last["message_id"]),
        f"none of its {entries} entries ({span}) matches its hash: written with another "
        "AUDIT_CHAIN_KEY, or every one of them changed after it was written",
    )


@dataclass
class _Chain:
    """What the walker knows of the writer chain it is in."""

    start: int
    first: RowMapping
    last: RowMapping
    entries: int = 0
    edited: int = 0


class _ChainWalker:
    """Walks entries in (writer, seq) order, keeping one writer's state at a time."""

    def __init__(self, key: bytes, report: VerifyReport) -> None:
        self.key = key
        self.report = report
        self.gaps: list[_Gap] = []
        self.previous: RowMapping | None = None
        self.chain: _Chain | None = None

    def end_chain(self) -> None:
        """Once a chain is walked, put a chain no entry of which matches in words of its own.

        A writer hashes with one key, so a whole chain failing is most likely another key: one line
        for the chain rather than one per entry, and its only entry's line says so when alone.
        """
        chain, findings = self.chain, self.report.findings
        self.chain = None
        if chain is None or chain.edited < chain.entries:
            return
        self.report.unmatched_entries += chain.entries
        self.report.unmatched_chains += 1
        if chain.entries > 1:
            others = [finding for finding in findings[chain.start :] if finding.kind != "edited"]
            findings[chain.start :] = [_unmatched_chain_finding(chain.first, chain.last, chain.entries)]
            findings.extend(others)
            return
        at = next(i for i in range(chain.start, len(findings)) if findings[i].kind == "edited")
        lone = findings[at]
        findings[at] = Finding(
            lone.kind,
            lone.writer_id,
            lone.message_ids,
            f"{lone.detail}, or written with another AUDIT_CHAIN_KEY (it is its chain's only entry)",
        )

    def add(self, row: RowMapping) -> None:
        report, previous = self.report, self.previous
        if previous is not None and previous["writer_id"] != row["writer_id"]:
            previous = None
        writer, mid = row["writer_id"], row["message_id"]
        if self.chain is not None and self.chain.first["writer_id"] != writer:
            self.end_chain()
        if self.chain is None:
            self.chain = _Chain(len(report.findings), row, row)
        self.chain.entries += 1
        self.chain.last = row
        report.entries += 1
        if not _content_matches(self.key, row):
            self.chain.edited += 1
            report.findings.append(
                Finding(
                    "edited",
                    writer,
                    (mid,),
                    f"{mid} (seq {row['seq']}) no longer matches its hash: changed after it was written",
                )
            )
        last_seq = previous["seq"] if previous is not None else 0
        head = previous["entry_hash"] if previous is not None else GENESIS
        before = previous["message_id"] if previous is not None else None
        if row["seq"] <= last_seq:
            report.findings.append(
                Finding(
                    "duplicate", writer, (before or mid, mid), f"{mid} repeats seq {row['seq']} of {before}"
                )
            )
            return
        if row["seq"] == last_seq + 1:
            if row["prev_hash"] != head:
                ids = (before, mid) if before else (mid,)
                what = f"its predecessor {before}" if before else "the start of a chain"
                report.findings.append(
                    Finding("broken-link", writer, ids, f"{mid} does not follow {what}: one was altered")
                )
        else:
            self.gaps.append(_Gap(writer, last_seq + 1, row["seq"] - 1, before, mid, row["prev_hash"]))
        if previous is not None and row["recorded_at"] < previous["recorded_at"]:
            report.findings.append(
                Finding(
                    "out-of-order",
                    writer,
                    (before or mid, mid),
                    f"{mid} is recorded earlier than its predecessor {before}: re-dated",
                )
            )
        report.heads[writer] = (row["seq"], row["entry_hash"])
        self.previous = row


def verify(engine: Engine, key: bytes, *, batch: int = STREAM_BATCH) -> VerifyReport:
    """Check every entry of every chain, streaming the log in (writer, seq) order.

    Args:
        engine: the audit database.
        key: the chain key (`AUDIT_CHAIN_KEY`) the entries were written with.
        batch: rows fetched at a time.

    Returns:
        The report; its findings are sorted by writer and position.
    """
    report = VerifyReport()
    walker = _ChainWalker(key, report)
    query = select(*_COLUMNS).order_by(AuditEntry.writer_id, AuditEntry.seq)
    with engine.connect() as connection:
        for row in connection.execution_options(yield_per=batch).execute(query).mappings():
            walker.add(row)
    walker.end_chain()
    # Checkpoints are looked up after the walk: a purge commits its checkpoints before it deletes,
    # so whatever deletion the walk saw has its checkpoint visible by now.
    with engine.connect() as connection:
        for gap in walker.gaps:
            if checkpoint_covers(connection, key, gap.writer_id, gap.last_missing, gap.prev_hash):
                report.checkpoints += 1
            else:
                report.findings.append(_gap_finding(gap))
    report.findings.sort(key=lambda finding: finding.writer_id)
    return report


@dataclass(frozen=True)
class EntryIntegrity:
    """Whether one entry verifies, for its page.

    Attributes:
        verifies: its content matches its hash and it links to its neighbours.
        problems: what does not hold, one sentence each.
        notes: what holds but deserves a word (a purged predecessor).
    """

    verifies: bool
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _neighbour(connection: Connection, entry: AuditEntry, *, after: bool) -> Any:
    seq = AuditEntry.seq
    query = (
        select(AuditEntry.seq, AuditEntry.entry_hash, AuditEntry.prev_hash, AuditEntry.message_id)
        .where(AuditEntry.writer_id == entry.writer_id, seq > entry.seq if after else seq < entry.seq)
        .order_by(seq.asc() if after else seq.desc())
        .limit(1)
    )
    return connection.execute(query).first()


def entry_integrity(store: AuditStore, entry: AuditEntry) -> EntryIntegrity:
    """Check one entry: its own hash, the link to its predecessor, and its successor's link to it.

    Args:
        store: the audit store (its engine and chain key).
        entry: the entry, as loaded by any session.
    """
    problems: list[str] = []
    notes: list[str] = []
    key = store.chain_key
    if not _content_matches(key, _as_row(entry)):
        problems.append("Its content no longer matches its hash: it was changed after it was written.")
    with store.engine.connect() as connection:
        before = _neighbour(connection, entry, after=False)
        if before is not None and before.seq == entry.seq - 1:
            if before.entry_hash != entry.prev_hash:
                problems.append(
                    f"It does not follow its predecessor {before.message_id}: one of them was altered."
                )
        elif entry.seq == 1:
            if entry.prev_hash != GENESIS:
                problems.append("It claims to start its writer's chain but does not.")
        elif checkpoint_covers(connection, key, entry.writer_id, entry.seq - 1, entry.prev_hash):
            notes.append("The entries before it were purged; a retention checkpoint vouches for the link.")
        else:
            problems.append("The entry before it in its writer's chain is missing (deleted).")
        after = _neighbour(connection, entry, after=True)
        if after is not None:
            if after.seq == entry.seq + 1 and after.prev_hash != entry.entry_hash:
                problems.append(
                    f"Its successor {after.message_id} does not follow it: one of them was altered."
                )
            elif after.seq > entry.seq + 1 and not checkpoint_covers(
                connection, key, entry.writer_id, after.seq - 1, after.prev_hash
            ):
                problems.append("The entry after it in its writer's chain is missing (deleted).")
    return EntryIntegrity(not problems, tuple(problems), tuple(notes))
