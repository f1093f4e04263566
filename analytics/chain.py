"""How audit entries are chained when they are written, so that edits and deletions show.

Every entry carries the writer that wrote it, its sequence number within that writer, the hash of
the writer's previous entry and its own hash: an HMAC-SHA256 over its immutable fields (never the
status, which moves on as deliveries happen). A chain per *writer* rather than one global chain lets
many processes on many hosts write at once without coordinating: each keeps its chain's head in
memory, so recording stays one INSERT with no read before it.

Keying the hash (`AUDIT_CHAIN_KEY`) is what makes the chain evidence rather than a checksum: someone
who can write to the database but does not hold the key cannot recompute the hashes after an edit.
A chain is hashed with one key from first entry to last, its store's: a process reads the key once,
and its writers die with it, so a rotated key starts new chains and never changes one midway
(`AUDIT_CHAIN_KEYS_RETIRED` keeps the older chains verifiable).

`analytics.integrity` checks the chains; this module only builds them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
"""The `prev_hash` of a writer's first entry."""

HASH_VERSION = b"event-catalog-audit-chain/1\n"
"""Prefixed to what is hashed, so that a future change of the canonical form cannot be confused
with this one: changing the form means a new version, never a silent change of this one."""

IMMUTABLE_FIELDS = (
    "message_id",
    "recorded_at",
    "timestamp",
    "type",
    "event",
    "user_id",
    "project_id",
    "cluster_id",
    "source",
    "actor",
    "catalog_version",
    "payload",
    "encrypted_personal_data",
)
"""The entry columns a hash covers: everything except the id (assigned by the database), the chain
columns (covered separately) and the delivery state (`status`, `http_status`, `error`, …)."""

# Enough writers for a threaded server's request threads to record in parallel; beyond this,
# threads wait for a writer rather than starting ever more chains.
DEFAULT_MAX_WRITERS = 8


_LEAVES = frozenset({str, int, bool, type(None)})
"""Types `_canonical` passes through as they are; checked first because they are most values."""


def _canonical(value: Any) -> Any:
    """JSON values as both databases give them back: PostgreSQL's JSONB turns 1e16 into an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): item if type(item) in _LEAVES else _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [item if type(item) in _LEAVES else _canonical(item) for item in value]
    return value


def canonical_instant(value: datetime) -> str:
    """A datetime as hashed: UTC, microseconds. SQLite hands times back naive; they were stored UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.year < 1000:
        # strftime's %Y does not pad years below 1000 on glibc, and the hash keeps its form.
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as the strftime above, at a third of its cost: every entry hashes two times.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_hash(key: bytes, *, writer_id: str, seq: int, prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The hash of one entry: its place in its writer's chain and its immutable fields.

    Args:
        key: the chain key (`AUDIT_CHAIN_KEY`).
        writer_id: the writer that wrote the entry.
        seq: its sequence number within that writer, from 1.
        prev_hash: the hash of the writer's previous entry (`GENESIS` for the first).
        fields: at least `IMMUTABLE_FIELDS`, as written or as read back.

    Returns:
        64 hex digits.
    """
    place = {"writer_id": writer_id, "seq": seq, "prev_hash": prev_hash}
    return hmac.digest(key, HASH_VERSION + _content(place, fields), "sha256").hex()


def _content(extra: Mapping[str, Any], fields: Mapping[str, Any]) -> bytes:
    """`extra` and the immutable fields of `fields`, as the canonical JSON a hash covers."""
    content = dict(extra)
    for name in IMMUTABLE_FIELDS:
        value = fields[name]
        if isinstance(value, datetime):
            value = canonical_instant(value)
        elif isinstance(value, bytes):
            # Only a hand-edited SQLite cell holds bytes (its columns take any type): hashed as an
            # object no written value can be, so the entry reads as edited rather than stop a check.
            value = {"bytes": value.hex()}
        content[name] = value
    # allow_nan=False: NaN is not JSON; a message holding one is refused here, before any row is
    # written (SQLite would store it as text that its own JSON functions then cannot read).
    data = json.dumps(
        _canonical(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return data.encode()


# OpenSSL sets HMAC-SHA256 up on its first use, under a lock. A process forked while another of its
# threads held that lock (the audit writer hashing its first batch) would inherit it held, and every
# hash in the child would wait for it forever: the first use is made here, as the library is
# imported, before it has started any thread.
hmac.digest(b"", b"", "sha256")


def new_writer_id() -> str:
    """A writer id that no other process, host or restart will pick: host, process id, random part."""
    suffix = f":{os.getpid()}:{secrets.token_hex(4)}"
    return socket.gethostname()[: 64 - len(suffix)] + suffix


@dataclass(eq=False)
class Writer:
    """One chain's head, kept in memory by the process that extends it.

    Attributes:
        writer_id: the chain's id.
        seq: the sequence number of the last entry written (0 before the first).
        head: that entry's hash (`GENESIS` before the first).
        last_recorded_at: its `recorded_at`, so the next one is never earlier even if the clock
            steps back (verify can then rely on time order within a chain).
    """

    writer_id: str = field(default_factory=new_writer_id)
    seq: int = 0
    head: str = GENESIS
    last_recorded_at: datetime | None = None
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stamp(self, now: datetime) -> datetime:
        """`now`, or the previous entry's time when the clock went back."""
        if self.last_recorded_at is not None and now < self.last_recorded_at:
            return self.last_recorded_at
        return now

    def link(self, key: bytes, rows: Sequence[dict[str, Any]]) -> None:
        """Fill in the chain columns of the next entries, in order, without advancing the head.

        A batch is linked as a whole before its one INSERT; the head moves only once the batch
        is committed (`advance`), because the insert may still fail.
        """
        seq, head = self.seq, self.head
        for row in rows:
            seq += 1
            digest = entry_hash(key, writer_id=self.writer_id, seq=seq, prev_hash=head, fields=row)
            row.update(writer_id=self.writer_id, seq=seq, prev_hash=head, entry_hash=digest)
            head = digest

    def advance(self, row: Mapping[str, Any]) -> None:
        """Move the head to an entry that is now committed (a batch's last)."""
        self.seq = row["seq"]
        self.head = row["entry_hash"]
        self.last_recorded_at = row["recorded_at"]


class WriterPool:
    """The writers of one audit store: one per concurrently recording thread, up to a bound.

    A writer is held for the whole insert, because the next entry's hash depends on this one being
    committed. When an insert fails the writer is retired and a fresh one (a new chain) takes its
    place: retrying under the same sequence number could collide with a row whose commit did
    happen, and skipping one would look like a deletion.

    Args:
        max_writers: the most chains this pool runs at once.
    """

    def __init__(self, max_writers: int = DEFAULT_MAX_WRITERS) -> None:
        if max_writers < 1:
            raise ValueError("max_writers must be at least 1")
        self.max_writers = max_writers
        self._reset()

    def _reset(self) -> None:
        # A forked child must not extend its parent's chains (both would write the same sequence
        # numbers), and must not inherit locks held by threads that do not exist in it.
        self._pid = os.getpid()
        self._guard = threading.Lock()
        self._writers: list[Writer] = []
        self._turn = 0

    @property
    def writers(self) -> list[Writer]:
        """The live writers (a snapshot)."""
        with self._guard:
            return list(self._writers)

    def _claim(self) -> Writer:
        if os.getpid() != self._pid:
            self._reset()
        while True:
            with self._guard:
                for writer in self._writers:
                    if writer.lock.acquire(blocking=False):
                        return writer
                if len(self._writers) < self.max_writers:
                    writer = Writer()
                    writer.lock.acquire()
                    self._writers.append(writer)
                    return writer
                writer = self._writers[self._turn % len(self._writers)]
                self._turn += 1
            writer.lock.acquire()
            if not writer.retired:
                return writer
            writer.lock.release()

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """Hold a writer for one insert; it is retired if the block raises."""
        writer = self._claim()
        try:
            yield writer
        except BaseException:
            with self._guard:
                writer.retired = True
                if writer in self._writers:
                    self._writers.remove(writer)
            raise
        finally:
            writer.lock.release()


def checkpoint_hash(key: bytes, *, writer_id: str, seq: int, entry_hash: str, purge_message_id: str) -> str:
    """The keyed hash of a purge checkpoint, so that one cannot be forged to hide a deletion."""
    data = json.dumps([writer_id, seq, entry_hash, purge_message_id], separators=(",", ":"))
    return hmac.new(key, b"checkpoint\n" + data.encode(), hashlib.sha256).hexdigest()


ERASURE_VERSION = b"event-catalog-audit-erasure/1\n"
"""Prefixed to what an erasure hash covers, so that it can never be taken for an entry's hash."""


def erasure_hash(key: bytes, erased: Mapping[str, Any]) -> str:
    """The keyed hash that vouches for an entry whose sealed personal data an erasure removed.

    It stands in for the entry's own hash, which covers the ciphertext that is gone: it covers the
    entry's place and original hash (so the chain's links are unchanged), its immutable fields as
    they are after the erasure (`encrypted_personal_data` null), and the erasure itself. The erasure
    writes it and `verify` recomputes it from the same kind of row, so that the two cannot drift.

    Args:
        key: the chain key of the process that erases (`AUDIT_CHAIN_KEY`), or one `verify` tries.
        erased: the entry as erased, joined with its erasure: its chain columns (`writer_id`, `seq`,
            `prev_hash`, `entry_hash`, unchanged by the erasure), at least `IMMUTABLE_FIELDS`, and the
            erasure's `removed_digest` (SHA-256, hex, of the ciphertext removed), `erasure_message_id`
            (the action entry that records it) and `erased_at`.

    Returns:
        64 hex digits.
    """
    extra = {
        "writer_id": erased["writer_id"],
        "seq": erased["seq"],
        "prev_hash": erased["prev_hash"],
        "entry_hash": erased["entry_hash"],
        "removed_digest": erased["removed_digest"],
        "erasure_message_id": erased["erasure_message_id"],
        "erased_at": canonical_instant(erased["erased_at"]),
    }
    return hmac.digest(key, ERASURE_VERSION + _content(extra, erased), "sha256").hex()


def removed_digest(ciphertext: str | bytes) -> str:
    """SHA-256 (hex) of sealed personal data an erasure removes: it tells nothing of the values.

    Bytes (a hand-edited SQLite cell, see `_content`) are hashed as they are: such an entry is erased
    like any other, only not vouched for.
    """
    return hashlib.sha256(ciphertext if isinstance(ciphertext, bytes) else ciphertext.encode()).hexdigest()
