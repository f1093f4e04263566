"""Message ids: random UUIDs (version 4) whose bytes are read from the OS a few kilobytes at a time.

`uuid.uuid4()` reads 16 bytes from `os.urandom` on every call, and CPython releases the
interpreter lock around that system call. On `track`'s path that release is an open door: a
background thread waiting for the lock (the audit writer hashing a batch, the Segment consumer
encoding one) takes it there, and the caller then waits until that thread lets go. `make bench`
measured the caller's p99 at 1.5–1.9× the bare client's with `uuid4` (the baseline passes its
ids in) and below 1× with this pool. The ids are as random as `uuid4`'s, from the same source;
the lock is released once per `POOL_IDS` ids instead of once per id.

A forked child (a pre-forking server's worker) must not hand out its parent's unused bytes, or
both would send the same ids: the pool starts empty in the child.
"""

from __future__ import annotations

import os
import threading

POOL_IDS = 256
"""Ids' worth of random bytes read at once: 4 KB."""

_ID_BYTES = 16


class _RandomPool:
    """Random bytes read ahead from `os.urandom`, handed out 16 at a time under a lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the bytes read so far (and any lock a thread of the parent held at fork)."""
        self._lock = threading.Lock()
        self._bytes = b""
        self._offset = 0

    def take(self) -> bytes:
        """The next 16 unused random bytes."""
        with self._lock:
            if self._offset == len(self._bytes):
                self._bytes = os.urandom(_ID_BYTES * POOL_IDS)
                self._offset = 0
            start = self._offset
            self._offset += _ID_BYTES
            return self._bytes[start : start + _ID_BYTES]


_POOL = _RandomPool()
os.register_at_fork(after_in_child=_POOL.reset)


def new_message_id() -> str:
    """A new random messageId, in the form `uuid.uuid4()` gives (e.g. `0f8c…-4…-…`).

    The version and variant bits are set as `uuid.UUID(bytes=…, version=4)` sets them, on the bytes
    themselves: making a `UUID` object and its text cost more than the rest of the id, on every
    `track`."""
    raw = bytearray(_POOL.take())
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
