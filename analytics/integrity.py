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

After `AUDIT_CHAIN_KEY` is rotated, the former keys (`AUDIT_CHAIN_KEYS_RETIRED`) verify the chains
written with them. No chain spans a key change: a writer lives in one store, whose key is read once
at start, and a restart begins new chains (`analytics.chain.new_writer_id`). So each chain is checked
with one key, the one most of its first entries match (`KEY_SAMPLE`): an entry matching only another
key is *edited*, as one forged with a leaked retired key would be. A purge checkpoint is hashed with
the key of the purge that wrote it, which may be newer than the chain's: any of the keys vouches for it.

An entry whose sealed personal data an erasure request removed (`analytics.erasure`) no longer matches
its own hash, which covers the ciphertext: its erasure's hash (`AuditErasure`) is checked instead,
which covers everything left of it. Unlike a checkpoint's, that hash vouches for an entry's content,
so it is held to one key as strictly (`erasure_fault`): it must name a *Personal Data Erased* action of
the entry's user id (a purge keeps that action while entries it vouches for remain,
`analytics.retention`), and match the one key that action's own entry matches (`erase()` hashes both
with its store's key), never another (or a leaked retired key would rewrite an erased entry and vouch
for it); and that key must be its chain's or a newer one, since an erasure is made after its entry (or a
leaked retired key would forge the action too, backdated, and vouch for an edit of a newer chain).
Erased entries never choose their chain's key: the erasing process's key (their actions') need not be
the one the chain was written with, after a rotation. The chain's first entries that are not erased
choose it, as the entry page's `_key_of_chain` does; a chain every entry of which is erased has no key
of its own, and its erasures are held to their actions' keys alone.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, exists, inspect, select

from analytics.actions import ACTION_TYPE, ERASURE_ACTION
from analytics.audit import PURGE_TYPE, AuditCheckpoint, AuditEntry, AuditErasure, AuditStore
from analytics.chain import (
    GENESIS,
    IMMUTABLE_FIELDS,
    canonical_instant,
    checkpoint_hash,
    entry_hash,
    erasure_hash,
)
from analytics.message_claims import unclaimed_entries
from analytics.settings import RETIRED_CHAIN_KEYS
from analytics.wording import counted

UNCLAIMED = (
    "{entries} without the claim on their message id that keeps message ids unique (written by an "
    "application host of a release before 0007 left running through the upgrade): restart such hosts "
    "on this release, then run `event-catalog audit claim-ids`"
)
"""What `audit verify` says of entries `analytics.message_claims` counts as unclaimed."""

# Rows fetched at a time while streaming the whole log: bounded memory on millions of entries.
STREAM_BATCH = 2000

KEY_SAMPLE = 16
"""The first entries of a chain whose hashes choose the key it is checked with: most of them match the
key its writer had, so entries forged with another key (a leaked retired one) among them cannot
choose it, and no more than these are held in memory before the chain is walked. Erased entries
(`analytics.erasure`) do not vote: their own hashes cover what the erasure removed, and their erasures'
key is the erasing process's, not necessarily the chain's."""

WAITING_MOST = 4096
"""The most entries of a chain's start held while its key is chosen: erased entries wait with the
voters without voting. A chain whose first this many hold fewer than `KEY_SAMPLE` voters has its key
read further on, as the entry page reads it (`_key_of_chain`): one query, for such chains only."""

# The way out of the usual cause of unmatched chains: a key rotated without its predecessor retired.
_KEY_HINT = f"after a rotation, list the former key in {RETIRED_CHAIN_KEYS}"

_COLUMNS = [
    AuditEntry.id,
    AuditEntry.writer_id,
    AuditEntry.seq,
    AuditEntry.prev_hash,
    AuditEntry.entry_hash,
    *(getattr(AuditEntry, name) for name in IMMUTABLE_FIELDS),
]

_ERASURE_COLUMNS = [
    AuditErasure.erasure_message_id,
    AuditErasure.erased_at,
    AuditErasure.removed_digest,
    AuditErasure.erasure_hash,
]


_ERASURE_TABLE_SEEN: weakref.WeakSet[Engine] = weakref.WeakSet()


def has_erasure_table(connection: Connection) -> bool:
    """Whether the database has the table of erasures (revision 0021; a database still at 0020, which
    libraries of this release write and `verify`, has none).

    Asked of the database until it says yes, then remembered for the engine: the entry page and the
    API ask on every request, and the table is not dropped under a running process (a downgrade past
    0021 is a migration, run with the dashboard and the applications stopped).
    """
    if connection.engine in _ERASURE_TABLE_SEEN:
        return True
    if not inspect(connection).has_table(AuditErasure.__tablename__):
        return False
    _ERASURE_TABLE_SEEN.add(connection.engine)
    return True


def has_erasures(connection: Connection) -> bool:
    """Whether any entry was erased: only then do the chain's reads join the erasures."""
    if not has_erasure_table(connection):
        return False
    return bool(connection.scalar(select(exists(select(AuditErasure.id)))))


def _chain_rows(erasures: bool) -> Select[Any]:
    """The columns a chain check reads, with each entry's erasure (if any) when there are erasures."""
    if not erasures:
        return select(*_COLUMNS)
    return select(*_COLUMNS, *_ERASURE_COLUMNS).outerjoin(
        AuditErasure, AuditErasure.message_id == AuditEntry.message_id
    )


def _erased(row: Mapping[Any, Any]) -> bool:
    return row.get("erasure_message_id") is not None


@dataclass(frozen=True)
class ErasureAction:
    """A *Personal Data Erased* action, as an erasure naming it is checked against.

    Attributes:
        user_id: the user id it erased.
        key: the index of the key its own entry's hash matches (0: the current key), or None when it
            matches none (it was changed): `erase()` hashes its erasures with that same key.
    """

    user_id: Any
    key: int | None


def erasure_actions(
    connection: Connection, keys: Sequence[bytes], message_ids: Sequence[str] | None = None
) -> dict[str, ErasureAction]:
    """Each *Personal Data Erased* action, by its message id: all of them in one query (`verify`), or
    those of `message_ids`."""
    query = select(*_COLUMNS).where(AuditEntry.type == ACTION_TYPE, AuditEntry.event == ERASURE_ACTION)
    if message_ids is not None:
        query = query.where(AuditEntry.message_id.in_(message_ids))
    actions = {}
    for row in connection.execute(query).mappings():
        payload = row["payload"]
        user_id = (payload.get("properties") or {}).get("user_id") if isinstance(payload, dict) else None
        actions[row["message_id"]] = ErasureAction(user_id, _matching_key(keys, row))
    return actions


class ErasureFault(Enum):
    """Why an erasure does not vouch for the entry it erased."""

    UNHASHED = "unhashed"
    """The entry no longer matched its hash when it was erased: the erasure recorded no hash."""
    NO_ACTION = "no action"
    """It names no *Personal Data Erased* action of the entry's user id."""
    ACTION_CHANGED = "action changed"
    """It names one, but that action's own entry matches no key: the action was changed."""
    OLDER_KEY = "older key"
    """Its action's key, which it must match, is older than the key of the entry's chain."""
    CHANGED = "changed"
    """Its hash is not what the entry as it now is hashes to: changed after it was erased."""


def erasure_fault(
    keys: Sequence[bytes], action: ErasureAction | None, row: Mapping[Any, Any], chain_key: int | None
) -> ErasureFault | None:
    """Why an erasure does not vouch for its entry, or None when it does: the one rule of `verify` and
    the entry page.

    It vouches with the key of the action it names (`erase()` hashes both with its store's key), and
    only when that key is the entry's chain's or a newer one: an erasure is made after its entry, so
    an older, retired key vouching is someone holding a leaked one who forged the action as well.

    Args:
        keys: the chain keys, the current one first, then the retired ones, newest first.
        action: the action the erasure names, or None when there is none.
        row: the erased entry joined with its erasure (`erasure_hash` among its columns).
        chain_key: the index of the entry's chain's key; None when every entry of that chain is
            erased, which leaves nothing but the action to say which key the erasure must match.
    """
    if row["erasure_hash"] is None:
        return ErasureFault.UNHASHED
    if action is None or action.user_id is None or action.user_id != row["user_id"]:
        return ErasureFault.NO_ACTION
    if action.key is None:
        return ErasureFault.ACTION_CHANGED
    if chain_key is not None and action.key > chain_key:
        return ErasureFault.OLDER_KEY
    if erasure_hash(keys[action.key], row) != row["erasure_hash"]:
        return ErasureFault.CHANGED
    return None


def _erasure_intact(keys: Sequence[bytes], row: Mapping[Any, Any]) -> bool:
    """Whether an erased entry's erasure hash matches it as it now is under one of the keys."""
    return any(erasure_hash(key, row) == row["erasure_hash"] for key in keys)


def _key_name(at: int) -> str:
    """A key as the settings name it: `AUDIT_CHAIN_KEY`, or `key 2 of AUDIT_CHAIN_KEYS_RETIRED`."""
    return "AUDIT_CHAIN_KEY" if at == 0 else f"key {at} of {RETIRED_CHAIN_KEYS}"


class _ErasureActions:
    """The erasure actions `verify` checks erasures against, read once before the walk.

    An id not among them is looked up once more, alone: an erasure that committed during the walk
    recorded its action before it began, but after these were read.
    """

    def __init__(self, engine: Engine, keys: Sequence[bytes]) -> None:
        self.engine = engine
        self.keys = keys
        with engine.connect() as connection:
            self.actions: dict[str, ErasureAction | None] = dict(erasure_actions(connection, keys))

    def named(self, row: Mapping[Any, Any]) -> ErasureAction | None:
        """The erasure action the row's erasure names, or None when there is no such action."""
        message_id = row["erasure_message_id"]
        if message_id not in self.actions:
            with self.engine.connect() as connection:
                self.actions[message_id] = erasure_actions(connection, self.keys, [message_id]).get(
                    message_id
                )
        return self.actions[message_id]


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
class RetiredKeyUse:
    """What one retired chain key still verifies: while anything, it cannot be dropped.

    Attributes:
        chains: writer chains written with it.
        checkpoints: gaps vouched for by a checkpoint hashed with it (a purge that ran before the rotation).
        last_recorded: the latest entry of those chains. Later than the rotation, a process holding the
            retired key still writes (a host not restarted), or someone who obtained the key does.
    """

    chains: int = 0
    checkpoints: int = 0
    last_recorded: datetime | None = None

    def as_json(self, position: int) -> dict[str, Any]:
        """Its part of `audit verify --format json`, `key` being its position in the setting."""
        last = canonical_instant(self.last_recorded) if self.last_recorded is not None else None
        return {
            "key": position,
            "chains": self.chains,
            "checkpoints": self.checkpoints,
            "last_recorded": last,
        }

    def describe(self, position: int) -> str:
        """Its part of the summary: `key 1 of AUDIT_CHAIN_KEYS_RETIRED: 2 writer chains, …`."""
        uses = [counted(self.chains, "writer chain")] if self.chains else []
        if self.checkpoints:
            uses.append(counted(self.checkpoints, "purge checkpoint"))
        what = " and ".join(uses) or "nothing left to verify, it can be dropped"
        if self.last_recorded is not None:
            what = f"{what}, the last entry recorded {canonical_instant(self.last_recorded)}"
        return f"key {position} of {RETIRED_CHAIN_KEYS}: {what}"


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
        retired_keys: what each retired key verifies, in the order of `AUDIT_CHAIN_KEYS_RETIRED`.
        unclaimed: entries whose message id has no `audit_message_ids` row (`analytics.message_claims`):
            their chains may verify, but a later entry with the same message id is not refused.
    """

    entries: int = 0
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    unmatched_entries: int = 0
    unmatched_chains: int = 0
    retired_keys: list[RetiredKeyUse] = field(default_factory=list)
    unclaimed: int = 0

    @property
    def retired_key_chains(self) -> int:
        """Writer chains written with a retired key."""
        return sum(use.chains for use in self.retired_keys)

    @property
    def ok(self) -> bool:
        """Whether every chain is intact and every entry's message id claimed."""
        return not self.findings and not self.unclaimed

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
                f"they were written with (or every entry was changed); {_KEY_HINT}"
            )
        verdict = "verified" if not self.findings else f"{counted(len(self.findings), 'problem')} in"
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
                "AUDIT_CHAIN_KEY is most likely not the key those were written with (or each was changed); "
                f"{_KEY_HINT}"
            )
        if self.retired_keys:
            uses = "; ".join(use.describe(at) for at, use in enumerate(self.retired_keys, 1))
            chains = counted(self.retired_key_chains, "writer chain")
            text = f"{text}; {chains} verified with a retired key ({uses})"
        if self.unclaimed:
            # Short: the report's own line for them (`UNCLAIMED`) says why and what to run.
            claims = f"{counted(self.unclaimed, 'entry')} without a message-id claim"
            text = f"{text}; {claims} (`audit claim-ids`)"
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


def _matching_key(keys: Sequence[bytes], row: Mapping[Any, Any]) -> int | None:
    """The index in `keys` of the key the row's hash matches (the current key tried first), or None."""
    return next((at for at, key in enumerate(keys) if _content_matches(key, row)), None)


def _chain_key(matches: Sequence[int | None]) -> int:
    """The key a chain is checked with, from what its first entries match: the one most match, the
    current key (0) on a tie or when none matches (then the chain is reported as unmatched)."""
    return _most_voted(Counter(at for at in matches if at is not None))


def _most_voted(votes: Counter[int]) -> int:
    """The key most votes name, the newest (lowest index) on a tie, the current key (0) with none."""
    return min(votes, key=lambda at: (-votes[at], at), default=0)


def checkpoint_key(
    connection: Connection, keys: Sequence[bytes], writer_id: str, seq: int, hash_: str
) -> int | None:
    """Which key vouches for a genuine purge checkpoint saying entry `seq` of the writer had hash `hash_`.

    Genuine: its own keyed hash matches one of `keys`, and the purge entry it names exists.

    Returns:
        The index in `keys` of the key its hash matches (0: the current key), or None: no such checkpoint.
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
        for at, key in enumerate(keys):
            expected = checkpoint_hash(
                key,
                writer_id=checkpoint["writer_id"],
                seq=checkpoint["seq"],
                entry_hash=checkpoint["entry_hash"],
                purge_message_id=checkpoint["purge_message_id"],
            )
            if expected == checkpoint["checkpoint_hash"]:
                return at
    return None


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


_CHANGED = "changed after it was written"

# Why an erased entry is reported edited (`verify`'s words), but those naming a key or the action.
_ERASURE_FAILURES = {
    ErasureFault.UNHASHED: "it was already changed when its personal data was erased",
    ErasureFault.NO_ACTION: "its erasure names no Personal Data Erased action of its user id",
    ErasureFault.CHANGED: _CHANGED,
}


@dataclass
class _Chain:
    """What the walker knows of the writer chain it is in.

    Attributes:
        key: the index of the key it is checked with, once its first entries that are not erased have
            chosen it (None until then, and for good when every entry of it is erased).
        looked_ahead: whether its key was looked for further on (`_ChainWalker.key_ahead`), at most once.
        erasure_keys: the keys of the erasures that vouched for its entries while it had no key: they
            say which retired key a chain whose every entry is erased still needs.
    """

    start: int
    first: RowMapping
    last: RowMapping
    entries: int = 0
    edited: int = 0
    key: int | None = None
    looked_ahead: bool = False
    erasure_keys: Counter[int] = field(default_factory=Counter)


class _ChainWalker:
    """Walks entries in (writer, seq) order, keeping one writer's state at a time.

    A chain's first entries wait until `KEY_SAMPLE` of them that are not erased have chosen its key,
    then are checked in order with the rest.
    """

    def __init__(
        self, engine: Engine, keys: Sequence[bytes], report: VerifyReport, actions: _ErasureActions | None
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.report = report
        self.actions = actions
        self.gaps: list[_Gap] = []
        self.previous: RowMapping | None = None
        self.chain: _Chain | None = None
        self.waiting: list[tuple[RowMapping, int | None]] = []
        self.voters = 0

    def voted_key(self) -> int | None:
        """The key most of the waiting entries that are not erased match; None when all are erased."""
        return _chain_key([at for row, at in self.waiting if not _erased(row)]) if self.voters else None

    def key_ahead(self) -> int | None:
        """The key of a chain whose first `WAITING_MOST` entries hold fewer than `KEY_SAMPLE` voters:
        chosen by its first entries that are not erased, read further on as the entry page reads them
        (`_key_of_chain`), so that the two agree and the walk holds no more. None when no entry of it
        is left that is not erased; asked once per chain (a chain of millions all erased is read once)."""
        assert self.chain is not None
        self.chain.looked_ahead = True
        with self.engine.connect() as connection:
            key = _key_of_chain(connection, self.keys, self.chain.first["writer_id"])
        # Its voters erased since the walk read them: those still choose.
        return self.voted_key() if key is None else key

    def choose_key(self, key: int | None) -> None:
        """Check the chain's waiting entries in order, with its key `key`. None (no entry of the chain
        left to choose one: the waiting ones are all erased) checks each against its erasure's action
        alone and drops them, the key still unchosen: an erasure's key is the erasing process's, which
        after a rotation is not the chain's, and must not decide how its other entries are checked."""
        assert self.chain is not None
        waiting, self.waiting, self.voters = self.waiting, [], 0
        self.chain.key = key
        for row, at in waiting:
            if not _erased(row):
                self.check(row, None if at == key else _CHANGED)
                continue
            self.check_erased(row)

    def check_erased(self, row: RowMapping) -> None:
        """Check an erased entry against its erasure (`erasure_fault`), held to its chain's key when the
        chain has one.

        An erasure failing only because its action was changed still matches a key: its entry is no sign
        of another `AUDIT_CHAIN_KEY`, and does not count towards a chain none of whose entries match.
        """
        assert self.chain is not None
        action = self.actions.named(row) if self.actions is not None else None
        fault = erasure_fault(self.keys, action, row, self.chain.key)
        if fault is None:
            assert action is not None and action.key is not None
            if self.chain.key is None:
                self.chain.erasure_keys[action.key] += 1
            self.check(row, None)
            return
        action_only = fault is ErasureFault.ACTION_CHANGED and _erasure_intact(self.keys, row)
        self.check(row, self.erasure_failure(fault, action, row), keyed=not action_only)

    def erasure_failure(self, fault: ErasureFault, action: ErasureAction | None, row: RowMapping) -> str:
        """Why an erased entry fails, in its finding's words."""
        assert self.chain is not None
        if fault is ErasureFault.OLDER_KEY:
            assert action is not None and action.key is not None and self.chain.key is not None
            return (
                f"its erasure's key ({_key_name(action.key)}, its action's) is older than its chain's "
                f"({_key_name(self.chain.key)}): an erasure is made after its entry"
            )
        if fault is ErasureFault.ACTION_CHANGED:
            return f"its erasure's action (message id {row['erasure_message_id']}) no longer matches its hash"
        return _ERASURE_FAILURES[fault]

    def end_chain(self) -> None:
        """Once a chain is walked, count it against its retired key, or put a chain no entry of which
        matches in words of its own.

        A writer hashes with one key, so a whole chain failing is most likely another key: one line
        for the chain rather than one per entry, and its only entry's line says so when alone.
        """
        if self.chain is not None and self.chain.key is None:
            self.choose_key(self.voted_key())
        chain, findings = self.chain, self.report.findings
        self.chain = None
        if chain is None:
            return
        # A chain every entry of which is erased needs the key its erasures were hashed with.
        key = chain.key if chain.key is not None else _most_voted(chain.erasure_keys)
        if key:
            use = self.report.retired_keys[key - 1]
            use.chains += 1
            if use.last_recorded is None or use.last_recorded < chain.last["recorded_at"]:
                use.last_recorded = chain.last["recorded_at"]
        if chain.edited < chain.entries:
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
        if self.chain is not None and self.chain.first["writer_id"] != row["writer_id"]:
            self.end_chain()
        if self.chain is None:
            self.chain = _Chain(len(self.report.findings), row, row)
        if self.chain.key is not None:
            if _erased(row):
                self.check_erased(row)
            else:
                self.check(row, None if _content_matches(self.keys[self.chain.key], row) else _CHANGED)
            return
        if _erased(row):
            # Its own hash covers what the erasure removed: it cannot vote, and waits with the voters.
            self.waiting.append((row, None))
        else:
            self.waiting.append((row, _matching_key(self.keys, row)))
            self.voters += 1
        if self.voters == KEY_SAMPLE:
            self.choose_key(self.voted_key())
        elif len(self.waiting) == WAITING_MOST:
            self.choose_key(self.voted_key() if self.chain.looked_ahead else self.key_ahead())

    def check(self, row: RowMapping, failure: str | None, *, keyed: bool = True) -> None:
        """Check one entry, `failure` saying why its hash does not match (None: it matches); `keyed`
        False when that failure is no sign of another key (see `check_erased`)."""
        assert self.chain is not None
        report, previous = self.report, self.previous
        if previous is not None and previous["writer_id"] != row["writer_id"]:
            previous = None
        writer, mid = row["writer_id"], row["message_id"]
        self.chain.entries += 1
        self.chain.last = row
        report.entries += 1
        if failure is not None:
            self.chain.edited += keyed
            report.findings.append(
                Finding(
                    "edited",
                    writer,
                    (mid,),
                    f"{mid} (seq {row['seq']}) no longer matches its hash: {failure}",
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


def verify(
    engine: Engine, key: bytes, *, retired_keys: Sequence[bytes] = (), batch: int = STREAM_BATCH
) -> VerifyReport:
    """Check every entry of every chain, streaming the log in (writer, seq) order.

    Args:
        engine: the audit database.
        key: the chain key (`AUDIT_CHAIN_KEY`) the entries are written with.
        retired_keys: former chain keys (`AUDIT_CHAIN_KEYS_RETIRED`), for the chains written with them.
        batch: rows fetched at a time.

    Returns:
        The report; its findings are sorted by writer and position.
    """
    keys = (key, *retired_keys)
    report = VerifyReport(retired_keys=[RetiredKeyUse() for _ in retired_keys])
    with engine.connect() as connection:
        erasures = has_erasures(connection)
    walker = _ChainWalker(engine, keys, report, _ErasureActions(engine, keys) if erasures else None)
    with engine.connect() as connection:
        query = _chain_rows(erasures).order_by(AuditEntry.writer_id, AuditEntry.seq)
        for row in connection.execution_options(yield_per=batch).execute(query).mappings():
            walker.add(row)
    walker.end_chain()
    # Checkpoints are looked up after the walk: a purge commits its checkpoints before it deletes,
    # so whatever deletion the walk saw has its checkpoint visible by now.
    with engine.connect() as connection:
        for gap in walker.gaps:
            at = checkpoint_key(connection, keys, gap.writer_id, gap.last_missing, gap.prev_hash)
            if at is None:
                report.findings.append(_gap_finding(gap))
                continue
            report.checkpoints += 1
            if at:
                report.retired_keys[at - 1].checkpoints += 1
        report.unclaimed = unclaimed_entries(connection)
    report.findings.sort(key=lambda finding: finding.writer_id)
    return report


@dataclass(frozen=True)
class EntryIntegrity:
    """Whether one entry verifies, for its page.

    Attributes:
        verifies: its content matches its hash and it links to its neighbours.
        problems: what does not hold, one sentence each.
        notes: what holds but deserves a word (a purged predecessor, a retired key).
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


def _erasure_of(connection: Connection, message_id: str) -> RowMapping | None:
    """The erasure of an entry's personal data, or None when it was not erased."""
    if not has_erasure_table(connection):
        return None
    query = select(*_ERASURE_COLUMNS).where(AuditErasure.message_id == message_id)
    return connection.execute(query).mappings().first()


def matches_own_hash(
    connection: Connection, keys: Sequence[bytes], row: Mapping[Any, Any], chosen: dict[str, int | None]
) -> bool:
    """Whether an entry (its chain columns and immutable fields) matches its hash under its chain's key,
    chosen as `verify` chooses it: what an erasure checks before it vouches for the entry.

    `chosen` keeps each chain's key, once chosen, for the caller's run: choosing reads the chain's first
    entries, which an erasure of hundreds of a chain's entries did again for each.
    """
    writer_id = row["writer_id"]
    if writer_id not in chosen:
        chosen[writer_id] = _key_of_chain(connection, keys, writer_id)
    return _content_matches(keys[chosen[writer_id] or 0], row)


def _key_of_chain(connection: Connection, keys: Sequence[bytes], writer_id: str) -> int | None:
    """The key a writer's chain is checked with: the one most of its first `KEY_SAMPLE` entries that are
    not erased match, as `verify` chooses it; None when every entry of it is erased (its erasures are
    then held to their actions' keys alone)."""
    if len(keys) == 1:
        return 0
    query = select(*_COLUMNS).where(AuditEntry.writer_id == writer_id).order_by(AuditEntry.seq)
    if has_erasure_table(connection):
        erased = select(AuditErasure.id).where(AuditErasure.message_id == AuditEntry.message_id)
        query = query.where(~exists(erased))
    rows = connection.execute(query.limit(KEY_SAMPLE)).mappings().all()
    return _chain_key([_matching_key(keys, row) for row in rows]) if rows else None


# Why an erased entry does not verify (the entry page's words), but those naming a key or the action.
_ERASURE_PROBLEMS = {
    ErasureFault.UNHASHED: (
        "It no longer matched its hash when its personal data was erased: it had been changed."
    ),
    ErasureFault.NO_ACTION: (
        "Its erasure names no Personal Data Erased action of its user id: the erasure does not vouch for it."
    ),
    ErasureFault.CHANGED: (
        "Its content no longer matches the hash its erasure recorded: it was changed after it was erased."
    ),
}


def entry_integrity(store: AuditStore, entry: AuditEntry) -> EntryIntegrity:
    """Check one entry: its own hash, the link to its predecessor, and its successor's link to it.

    Args:
        store: the audit store (its engine, chain key and retired chain keys).
        entry: the entry, as loaded by any session.
    """
    problems: list[str] = []
    notes: list[str] = []
    keys = (store.chain_key, *store.retired_chain_keys)
    with store.engine.connect() as connection:
        at = _key_of_chain(connection, keys, entry.writer_id)
        erasure = _erasure_of(connection, entry.message_id)
        if erasure is not None:
            named = erasure["erasure_message_id"]
            action = erasure_actions(connection, keys, [named]).get(named)
            fault = erasure_fault(keys, action, {**_as_row(entry), **erasure}, at)
            if fault is None:
                notes.append(
                    "Its sealed personal data was erased on request; the erasure's keyed hash vouches for "
                    "the rest of it."
                )
            elif fault is ErasureFault.OLDER_KEY:
                assert action is not None and action.key is not None and at is not None
                problems.append(
                    f"Its erasure is hashed with {_key_name(action.key)} (its action's), older than its "
                    f"chain's key ({_key_name(at)}): an erasure is made after its entry, so it does not "
                    "vouch for it."
                )
            elif fault is ErasureFault.ACTION_CHANGED:
                problems.append(
                    f"Its erasure's action (message id {named}) no longer matches its hash: it was changed, "
                    "so the erasure does not vouch for this entry."
                )
            else:
                problems.append(_ERASURE_PROBLEMS[fault])
        elif not _content_matches(keys[at or 0], _as_row(entry)):
            problems.append("Its content no longer matches its hash: it was changed after it was written.")
        elif at:
            notes.append(
                f"It verifies with a retired key, key {at} of {RETIRED_CHAIN_KEYS}: its writer ran before "
                "AUDIT_CHAIN_KEY was rotated."
            )
        before = _neighbour(connection, entry, after=False)
        if before is not None and before.seq == entry.seq - 1:
            if before.entry_hash != entry.prev_hash:
                problems.append(
                    f"It does not follow its predecessor {before.message_id}: one of them was altered."
                )
        elif entry.seq == 1:
            if entry.prev_hash != GENESIS:
                problems.append("It claims to start its writer's chain but does not.")
        elif checkpoint_key(connection, keys, entry.writer_id, entry.seq - 1, entry.prev_hash) is not None:
            notes.append("The entries before it were purged; a retention checkpoint vouches for the link.")
        else:
            problems.append("The entry before it in its writer's chain is missing (deleted).")
        after = _neighbour(connection, entry, after=True)
        if after is not None:
            if after.seq == entry.seq + 1 and after.prev_hash != entry.entry_hash:
                problems.append(
                    f"Its successor {after.message_id} does not follow it: one of them was altered."
                )
            elif (
                after.seq > entry.seq + 1
                and checkpoint_key(connection, keys, entry.writer_id, after.seq - 1, after.prev_hash) is None
            ):
                problems.append("The entry after it in its writer's chain is missing (deleted).")
    return EntryIntegrity(not problems, tuple(problems), tuple(notes))
