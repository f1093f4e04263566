"""Retention and erasures: a purge keeps an erasure's record while entries it vouches for remain.

An erasure's *Personal Data Erased* action is what `verify` checks its erased entries against. Some of
those entries can be recorded after the action: they arrived while the erasure ran, or a host's clock
is ahead. A purge whose cutoff falls between the action and them deleted the action and kept them, and
`verify` then reported them as edited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select, text

from analytics import partitions
from analytics.actions import ACTION_TYPE, ERASURE_ACTION
from analytics.audit import AuditEntry, AuditErasure, AuditStore
from analytics.erasure import erase
from analytics.integrity import entry_integrity, verify
from analytics.retention import Checkpoint, _record_purge, _write_checkpoints, plan, purge
from tests.auditlog import record

KEY = b"event-catalog"
_ENCRYPTION_KEY = Fernet.generate_key().decode()


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _host(engine: Engine) -> AuditStore:
    """One host's store: a writer chain of its own, personal data sealed."""
    return AuditStore(engine, encryption_key=_ENCRYPTION_KEY, chain_key=KEY)


def _at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Set the time the stores stamp entries with (a host's clock), so each hash covers that time."""
    monkeypatch.setattr("analytics.audit._now", lambda: when)


def _new_user(store: AuditStore, monkeypatch: pytest.MonkeyPatch, when: datetime, user_id: int = 4711) -> str:
    _at(monkeypatch, when)
    return record(store, "New User", scope={"user_id": user_id}, properties={"email": "ada@example.com"})


def _erase_at(store: AuditStore, monkeypatch: pytest.MonkeyPatch, when: datetime) -> str:
    """Erase user 4711's entries, the action recorded at `when`; the action's message id."""
    _at(monkeypatch, when)
    report = erase(store, "4711", actor="cli:dpo")
    assert report.message_id is not None
    return report.message_id


def _present(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(AuditEntry.message_id)))


def _erasures(engine: Engine) -> dict[str, str]:
    """Each erasure row's entry and the action it names."""
    with engine.connect() as connection:
        rows = connection.execute(select(AuditErasure.message_id, AuditErasure.erasure_message_id))
        return dict(rows.all())


def test_a_purge_keeps_an_erasure_action_while_an_entry_it_erased_remains(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host B's clock is ahead: its entry, erased with host A's, is recorded after the erasure's action.
    A purge between the two took the action, and `verify` reported host B's entry as edited."""
    host_a, host_b = _host(engine), _host(engine)
    early = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 11))
    ahead = _new_user(host_b, monkeypatch, _utc(2026, 1, 10, 12, 5))
    action = _erase_at(host_a, monkeypatch, _utc(2026, 1, 10, 12))
    later = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 12, 10), user_id=42)
    assert verify(engine, KEY).ok
    early_entry = host_a.entry(early)
    assert early_entry is not None
    cutoff = _utc(2026, 1, 10, 12, 2)
    _at(monkeypatch, _utc(2026, 4, 10))

    dry = purge(host_a, cutoff, actor="ops", dry_run=True)
    assert (dry.entries, dry.attempts) == (1, 0)
    assert dry.summary().startswith("would delete 1 entry and 0 delivery attempts recorded 2026-01-10T11:00")
    report = purge(host_a, cutoff, actor="ops")

    assert report.entries == 1
    assert _present(engine) == {ahead, action, later, report.message_id}
    assert _erasures(engine) == {ahead: action}
    # One checkpoint: the action's predecessor is also the last entry its chain loses.
    assert report.checkpoints == [Checkpoint(early_entry.writer_id, early_entry.seq, early_entry.entry_hash)]
    checked = verify(engine, KEY)
    assert checked.ok, checked.findings
    erased = host_b.entry(ahead)
    assert erased is not None and entry_integrity(host_b, erased).verifies

    # Once its last erased entry is purged, the action goes too.
    again = purge(host_a, _utc(2026, 1, 10, 12, 6), actor="ops")
    assert again.entries == 2
    assert _present(engine) == {later, report.message_id, again.message_id}
    assert _erasures(engine) == {}
    checked = verify(engine, KEY)
    assert checked.ok, checked.findings


def test_an_interrupted_purge_that_keeps_an_erasure_action_stays_verifiable(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept action sits inside the purged stretch of its chain: it needs the checkpoint of its
    predecessor, as a purge record kept there does, at every moment of the purge."""
    host_a, host_b = _host(engine), _host(engine)
    first = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 10), user_id=42)
    erased = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 11))
    ahead = _new_user(host_b, monkeypatch, _utc(2026, 1, 10, 12, 5))
    action = _erase_at(host_a, monkeypatch, _utc(2026, 1, 10, 12))
    after_action = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 12, 1), user_id=42)
    kept = _new_user(host_a, monkeypatch, _utc(2026, 1, 10, 12, 10), user_id=42)
    cutoff = _utc(2026, 1, 10, 12, 2)
    now = _utc(2026, 4, 10)
    _at(monkeypatch, now)
    # The purge's own steps, stopped after it deleted the two newest of its three entries.
    planned = plan(host_a, cutoff)
    assert planned.entries == 3
    assert sorted(point.seq for point in planned.checkpoints) == [2, 4]
    purge_id = _record_purge(host_a, planned, None, "ops", now)
    _write_checkpoints(host_a, planned.checkpoints, purge_id)
    for newest in (after_action, erased):
        with engine.begin() as connection:
            connection.execute(AuditEntry.__table__.delete().where(AuditEntry.message_id == newest))
        checked = verify(engine, KEY)
        assert checked.ok, checked.findings
    report = purge(host_a, cutoff, actor="ops", now=now)
    assert report.entries == 1
    assert _present(engine) == {ahead, action, kept, purge_id, report.message_id}
    assert first not in _present(engine)
    checked = verify(engine, KEY)
    assert checked.ok, checked.findings


def test_a_partition_holding_a_kept_erasure_action_is_not_dropped_whole(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """January lies wholly before the cutoff but holds the action of an erasure whose entry February
    holds: its rows are deleted one by one, the action kept; December, older, is still dropped whole."""
    engine = postgres_engine
    partitions.ensure(engine, now=_utc(2025, 12, 1), ahead=3)
    host_a, host_b = _host(engine), _host(engine)
    _new_user(host_a, monkeypatch, _utc(2025, 12, 10), user_id=42)
    _new_user(host_a, monkeypatch, _utc(2026, 1, 31, 23, 50))
    ahead = _new_user(host_b, monkeypatch, _utc(2026, 2, 1, 0, 5))
    action = _erase_at(host_a, monkeypatch, _utc(2026, 1, 31, 23, 59))
    kept = _new_user(host_a, monkeypatch, _utc(2026, 2, 10), user_id=42)
    cutoff = _utc(2026, 2, 1)
    now = _utc(2026, 2, 20)
    _at(monkeypatch, now)

    dry = purge(host_a, cutoff, actor="ops", dry_run=True)
    assert (dry.entries, [p.name for p in dry.partitions]) == (2, ["audit_entries_p20251201"])
    assert dry.summary().endswith("; dropping whole partitions audit_entries_p20251201)")
    report = purge(host_a, cutoff, actor="ops", now=now)
    assert (report.entries, report.partition_entries) == (2, 1)
    assert _present(engine) == {ahead, action, kept, report.message_id}
    with engine.connect() as connection:
        where = connection.execute(
            text("SELECT tableoid::regclass::text FROM audit_entries WHERE message_id = :m"), {"m": action}
        )
        assert where.scalar() == "audit_entries_p20260101"
    names = [p.name for p in _partitions(engine)]
    assert "audit_entries_p20251201" not in names and "audit_entries_p20260101" in names
    checked = verify(engine, KEY)
    assert checked.ok, checked.findings

    # Its erased entry purged, the action goes, and January with it, whole.
    _at(monkeypatch, now + timedelta(days=1))
    again = purge(host_a, _utc(2026, 2, 2), actor="ops", now=now + timedelta(days=1))
    assert [p.name for p in again.partitions] == ["audit_entries_p20260101"]
    assert again.entries == 2 and _erasures(engine) == {}
    assert _present(engine) == {kept, report.message_id, again.message_id}
    with engine.connect() as connection:
        actions = select(func.count()).where(
            AuditEntry.type == ACTION_TYPE, AuditEntry.event == ERASURE_ACTION
        )
        assert connection.scalar(actions) == 0
    checked = verify(engine, KEY)
    assert checked.ok, checked.findings


def _partitions(engine: Engine) -> list[partitions.Partition]:
    with engine.begin() as connection:
        return partitions.partitions(connection)
