"""The end-to-end path the personal-data tests share: a host sends through `analytics.init` and `track`,
its audit entry is read back with the encryption key, replayed with the real values and erased.

A plain module, not conftest, so that tests can import it: see tests/spies.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet

import analytics
from analytics.audit import AuditEntry, AuditStore
from analytics.client import Receipt
from analytics.collector import Collector
from analytics.erasure import erase
from analytics.integrity import verify
from analytics.personal_data import PersonalDataCipher, unmask
from analytics.replay import ReplaySelection, blocked_reason, open_replay_client, replay

CHAIN_KEY = b"event-catalog"  # the public default `init` takes under APP_ENV=development


def host_encryption_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A new `AUDIT_ENCRYPTION_KEY`, set for the host's `analytics.init`; the test opens entries with it."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AUDIT_ENCRYPTION_KEY", key)
    return key


@contextmanager
def host_library(database_url: str, collector: Collector) -> Iterator[None]:
    """`analytics.init` as a host starts it, shut down after the block. No retries, so that a message
    the collector refuses is `failed` at once rather than after minutes of backoff."""
    analytics.init("test-key", host=collector.url, database_url=database_url, max_retries=0, timeout=5)
    try:
        yield
    finally:
        analytics.shutdown()


def refused_host_send(database_url: str, collector: Collector, send: Callable[[], Receipt]) -> Receipt:
    """What `send` tracks through `host_library` while the collector refuses everything, so that its
    entry ends `failed` for replay to send again; the collector is then cleared and accepts again."""
    collector.inject(500, times=10_000)
    with host_library(database_url, collector):
        receipt = send()
    collector.reset()
    return receipt


def entry_of(store: AuditStore, message_id: str) -> AuditEntry:
    """The stored entry of a message that must have one."""
    entry = store.entry(message_id)
    assert entry is not None
    return entry


def sealed_entry(store: AuditStore, receipt: Receipt, key: str, clear: Iterable[str]) -> AuditEntry:
    """The refused send's entry, checked: `failed`, none of the `clear` values anywhere in its payload,
    sealed so that the key opens it to the very message sent, and the chain verifying."""
    entry = entry_of(store, receipt.message_id)
    assert entry.status == "failed"
    assert not [value for value in clear if value in json.dumps(entry.payload)]
    assert entry.encrypted_personal_data is not None
    opened = unmask(entry.payload, entry.encrypted_personal_data, PersonalDataCipher(key))
    assert opened == receipt.message
    assert verify(store.engine, CHAIN_KEY).ok
    return entry


def replay_one(store: AuditStore, collector: Collector) -> None:
    """Replay the one failed entry to the collector, as an operator does."""
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    try:
        assert replay(store, client, ReplaySelection()).delivered == 1
    finally:
        client.shutdown()


def replayed_then_erased(
    store: AuditStore, collector: Collector, entry: AuditEntry, user_id: str
) -> dict[str, Any]:
    """What replaying `entry` sent; the person is then erased: the entry keeps its masks but loses its
    seal, replay refuses it, and the chain still verifies."""
    replay_one(store, collector)
    [sent] = collector.received()
    assert erase(store, user_id, actor="cli:dpo").entries == 1
    erased = entry_of(store, entry.message_id)
    assert erased.encrypted_personal_data is None and erased.payload == entry.payload
    assert blocked_reason(erased, store.cipher) is not None
    checked = verify(store.engine, CHAIN_KEY)
    assert checked.ok, checked.findings
    return sent
