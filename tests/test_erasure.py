"""Erasure requests: `audit erase --user-id` clears a person's sealed personal data, `verify` stays true."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from pg_activity import someone_waits_for_a_lock
from sqlalchemy import Connection, Engine, delete, event, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics import integrity
from analytics.actions import ACTION_TYPE, ERASURE_ACTION, build_action
from analytics.audit import AuditEntry, AuditErasure, AuditStatus, AuditStore, Source
from analytics.chain import entry_hash, erasure_hash
from analytics.erasure import ErasureReport, erase
from analytics.errors import SchemaError
from analytics.integrity import KEY_SAMPLE, entry_integrity, verify
from analytics.queries import AuditFilter, filtered
from analytics.replay import Candidate, ReplaySelection, blocked_reasons, replay
from analytics.retention import purge
from tests.auditlog import record
from webapp.auth.roles import Role

CHAIN_KEY = b"event-catalog"
ERASED = "its personal data was erased on request ("
_KEY = Fernet.generate_key().decode()


def _sealed_store(
    engine: Engine, chain_key: bytes = CHAIN_KEY, retired: tuple[bytes, ...] = ()
) -> AuditStore:
    return AuditStore(
        engine,
        encryption_key=_KEY,
        chain_key=chain_key,
        retired_chain_keys=retired,
    )


def _new_user(store: AuditStore, user_id: int, email: str = "ada@example.com") -> str:
    return record(store, "New User", scope={"user_id": user_id}, properties={"email": email})


def _entry(store: AuditStore, message_id: str) -> AuditEntry:
    entry = store.entry(message_id)
    assert entry is not None
    return entry


def _actions(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.type == ACTION_TYPE, AuditEntry.event == ERASURE_ACTION)
        return list(session.scalars(query))


def test_erasure_clears_that_user_s_sealed_data_records_itself_and_verify_passes(engine: Engine) -> None:
    store = _sealed_store(engine)
    erased = [_new_user(store, 4711) for _ in range(3)]
    kept = _new_user(store, 42, "bo@example.com")
    masks = {mid: _entry(store, mid).payload for mid in erased}
    report = erase(store, "4711", actor="cli:dpo", batch=2)
    assert (report.held, report.entries, report.unverified) == (3, 3, 0)
    recorded = f"; recorded as {report.message_id}"
    assert report.summary() == f"user 4711: erased the sealed personal data of 3 entries (of 3){recorded}"
    for mid in erased:
        entry = _entry(store, mid)
        # The masks, the user id and the event stay; only what could be read back goes.
        assert entry.encrypted_personal_data is None
        assert (entry.payload, entry.user_id, entry.event) == (masks[mid], "4711", "New User")
    assert _entry(store, kept).encrypted_personal_data is not None
    [action] = _actions(engine)
    assert action.message_id == report.message_id
    assert (action.status, action.actor) == (AuditStatus.RECORDED, "cli:dpo")
    assert action.payload["properties"] == {"user_id": "4711", "entries": 3}
    assert "ada@" not in str(action.payload)
    checked = verify(engine, CHAIN_KEY)
    assert checked.ok, checked.findings
    assert checked.entries == 5


def test_an_erased_entry_no_longer_matches_its_own_hash_without_its_erasure_record(engine: Engine) -> None:
    """What the erasure record is for: the chain hash covers the ciphertext that is gone."""
    store = _sealed_store(engine)
    mid = _new_user(store, 4711)
    erase(store, "4711", actor="cli:dpo")
    with engine.begin() as connection:
        connection.execute(delete(AuditErasure))
    [finding] = verify(engine, CHAIN_KEY).findings
    assert (finding.kind, finding.message_ids) == ("edited", (mid,))


@pytest.mark.parametrize(
    "tamper",
    [
        {
            "payload": {
                "type": "track",
                "event": "New User",
                "properties": {"email": "masked:0000000000000000"},
            }
        },
        {"event": "Project Create"},
        {"encrypted_personal_data": "gAAAAA-put-back"},
    ],
    ids=["payload", "event", "ciphertext-put-back"],
)
def test_verify_still_catches_an_edit_to_an_erased_entry(engine: Engine, tamper: dict[str, Any]) -> None:
    store = _sealed_store(engine)
    first, edited = _new_user(store, 4711), _new_user(store, 4711)
    erase(store, "4711", actor="cli:dpo")
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.message_id == edited).values(**tamper))
    [finding] = verify(engine, CHAIN_KEY).findings
    assert (finding.kind, finding.message_ids) == ("edited", (edited,))
    assert first not in finding.detail


def test_an_erasure_does_not_vouch_for_an_entry_edited_before_it(engine: Engine) -> None:
    store = _sealed_store(engine)
    mid = _new_user(store, 4711)
    _new_user(store, 4711)
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.message_id == mid).values(event="Forged"))
    report = erase(store, "4711", actor="cli:dpo")
    assert (report.entries, report.unverified) == (2, 1)
    assert "1 of them already failed `audit verify` and still will" in report.summary()
    assert _entry(store, mid).encrypted_personal_data is None
    [finding] = verify(engine, CHAIN_KEY).findings
    assert finding.message_ids == (mid,)
    assert finding.detail.endswith("it was already changed when its personal data was erased")


def test_an_erasure_verifies_across_a_rotated_chain_key(engine: Engine) -> None:
    """Entries written with the old key, erased by a process holding the new one (the old one retired)."""
    old, new = b"old-chain-key-0123456789", b"new-chain-key-9876543210"
    for _ in range(3):
        _new_user(_sealed_store(engine, old), 4711)
    erase(_sealed_store(engine, new, (old,)), "4711", actor="cli:dpo")
    checked = verify(engine, new, retired_keys=[old])
    assert checked.ok, checked.findings


OLD_KEY, NEW_KEY = b"old-chain-key-0123456789", b"new-chain-key-9876543210"


def _forge_erasure(engine: Engine, key: bytes, message_id: str, erasure_message_id: str) -> None:
    """Edit an entry and vouch for the edit with a made-up erasure record hashed with `key`."""
    with engine.begin() as connection:
        connection.execute(
            update(AuditEntry)
            .where(AuditEntry.message_id == message_id)
            .values(event="Forged", encrypted_personal_data=None)
        )
        row = connection.execute(select(AuditEntry.__table__).where(AuditEntry.message_id == message_id))
        entry = row.mappings().one()
        erasure = {
            "message_id": message_id,
            "erasure_message_id": erasure_message_id,
            "erased_at": datetime.now(UTC),
            "removed_digest": "0" * 64,
        }
        connection.execute(
            insert(AuditErasure).values(**erasure, erasure_hash=erasure_hash(key, {**entry, **erasure}))
        )


def test_an_erasure_hashed_with_a_key_older_than_its_chain_s_vouches_for_nothing(engine: Engine) -> None:
    """An erasure is made after its entry: a leaked retired key hid any edit of a newer chain's entry
    behind a made-up erasure record, and `verify` said the log was intact."""
    store = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    mids = [_new_user(store, 4711) for _ in range(4)]
    erased = erase(store, "4711", actor="cli:dpo", batch=1)
    target = _new_user(store, 4711)
    _forge_erasure(engine, OLD_KEY, target, str(erased.message_id))
    [finding] = verify(engine, NEW_KEY, retired_keys=[OLD_KEY]).findings
    assert (finding.kind, finding.message_ids) == ("edited", (target,))
    assert not entry_integrity(store, _entry(store, target)).verifies
    assert entry_integrity(store, _entry(store, mids[0])).verifies


def _forge_action(engine: Engine, key: bytes, user_id: str) -> str:
    """A made-up *Personal Data Erased* action of `user_id`: a one-entry chain hashed with `key`,
    backdated to before the rotation (its time is the forger's to choose)."""
    action = build_action(
        ERASURE_ACTION, actor="cli:dpo", properties={"user_id": user_id, "entries": 1}, user_id=user_id
    )
    forger = AuditStore(engine, chain_key=key)
    forger.record(action, status=AuditStatus.RECORDED, source=Source.DASHBOARD, actor="cli:dpo")
    with engine.begin() as connection:
        where = AuditEntry.message_id == action["messageId"]
        backdated = datetime.now(UTC) - timedelta(days=400)
        connection.execute(update(AuditEntry).where(where).values(recorded_at=backdated))
        row = connection.execute(select(AuditEntry.__table__).where(where)).mappings().one()
        place = {"writer_id": row["writer_id"], "seq": row["seq"], "prev_hash": row["prev_hash"]}
        connection.execute(
            update(AuditEntry).where(where).values(entry_hash=entry_hash(key, **place, fields=row))
        )
    return str(action["messageId"])


@pytest.mark.parametrize("waiting_most", [integrity.WAITING_MOST, 1])
def test_a_retired_key_cannot_vouch_for_an_edit_of_a_newer_chain_with_a_forged_action(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, waiting_most: int
) -> None:
    """An erasure vouched with whatever key its action matched: holding a leaked retired key, one could
    forge a backdated action with it, edit an entry of a chain on the current key, add an erasure
    naming that action, and `verify` and the entry page said it was intact. An erasure is made after
    its entry, so its key must be its chain's or a newer one; the entry may also open its chain, its
    key then chosen further on (`WAITING_MOST` 1)."""
    monkeypatch.setattr(integrity, "WAITING_MOST", waiting_most)
    store = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    target = _new_user(store, 4711)
    _new_user(store, 4711)
    _forge_erasure(engine, OLD_KEY, target, _forge_action(engine, OLD_KEY, "4711"))
    checked = verify(engine, NEW_KEY, retired_keys=[OLD_KEY])
    [finding] = checked.findings
    assert (finding.kind, finding.message_ids) == ("edited", (target,))
    assert finding.detail.endswith(
        "its erasure's key (key 1 of AUDIT_CHAIN_KEYS_RETIRED, its action's) is older than its chain's "
        "(AUDIT_CHAIN_KEY): an erasure is made after its entry"
    )
    assert entry_integrity(store, _entry(store, target)).problems == (
        "Its erasure is hashed with key 1 of AUDIT_CHAIN_KEYS_RETIRED (its action's), older than its chain's "
        "key (AUDIT_CHAIN_KEY): an erasure is made after its entry, so it does not vouch for it.",
    )


@pytest.mark.parametrize("action", ["none", "another user's"])
def test_an_erasure_naming_no_erasure_of_its_user_id_vouches_for_nothing(engine: Engine, action: str) -> None:
    store = _sealed_store(engine)
    _new_user(store, 4711)
    other = erase(store, "42", actor="cli:dpo")
    target = _new_user(store, 4711)
    named = str(other.message_id) if action == "another user's" else "made-up"
    _forge_erasure(engine, CHAIN_KEY, target, named)
    [finding] = verify(engine, CHAIN_KEY).findings
    assert (finding.kind, finding.message_ids) == ("edited", (target,))
    assert finding.detail.endswith("its erasure names no Personal Data Erased action of its user id")
    assert (
        entry_integrity(store, _entry(store, target))
        .problems[0]
        .startswith("Its erasure names no Personal Data Erased action of its user id")
    )


def test_an_edited_erasure_action_is_reported_as_such_for_the_entries_it_erased(engine: Engine) -> None:
    """Editing the action an erasure names made its entries read 'its erasure names no Personal Data
    Erased action of its user id' (it names one), and a chain of those and the action read as written
    with another AUDIT_CHAIN_KEY: only the action was edited."""
    store = _sealed_store(engine)
    mid = _new_user(store, 4711)
    action = str(erase(store, "4711", actor="cli:dpo").message_id)
    with engine.begin() as connection:
        where = AuditEntry.message_id == action
        payload = connection.scalar(select(AuditEntry.payload).where(where))
        payload["properties"]["entries"] = 2
        connection.execute(update(AuditEntry).where(where).values(payload=payload))
    checked = verify(engine, CHAIN_KEY)
    assert [(finding.kind, finding.message_ids, finding.detail) for finding in checked.findings] == [
        (
            "edited",
            (mid,),
            f"{mid} (seq 1) no longer matches its hash: its erasure's action (message id {action}) no "
            "longer matches its hash",
        ),
        ("edited", (action,), f"{action} (seq 2) no longer matches its hash: changed after it was written"),
    ]
    assert entry_integrity(store, _entry(store, mid)).problems == (
        f"Its erasure's action (message id {action}) no longer matches its hash: it was changed, so the "
        "erasure does not vouch for this entry.",
    )
    # Under a key none of them was written with, the erased entry still counts as not matching.
    assert verify(engine, b"another-chain-key-0123").no_entry_matches


@pytest.mark.parametrize("waiting_most", [integrity.WAITING_MOST, 2])
def test_a_chain_all_erased_before_its_key_was_retired_still_verifies(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, waiting_most: int
) -> None:
    """The messages' chain has no entry left to choose its key: each erasure is held to its action's
    key, and made before the rotation they match only the retired key, which the chain still needs.
    The action is recorded through another store (another writer, as the CLI host is), so the
    messages' chain really is all erased; longer than `WAITING_MOST`, it is checked a run at a time."""
    monkeypatch.setattr(integrity, "WAITING_MOST", waiting_most)
    writer = _sealed_store(engine, OLD_KEY)
    mids = [_new_user(writer, 4711) for _ in range(3)]
    erase(_sealed_store(engine, OLD_KEY), "4711", actor="cli:dpo")
    rotated = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    checked = verify(engine, NEW_KEY, retired_keys=[OLD_KEY])
    assert checked.ok, checked.findings
    assert len(checked.heads) == 2 and checked.retired_keys[0].chains == 2
    assert all(entry_integrity(rotated, _entry(rotated, mid)).verifies for mid in mids)


def test_an_erasure_after_a_rotation_of_a_chain_s_first_entries_leaves_its_other_entries_verifying(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain whose first `WAITING_MOST` entries (4,096) were all erased took the key their erasures'
    actions match, the erasing process's, as the chain's: after a rotation that is not the key the
    chain was written with, so every later entry was reported edited while its page said it verifies."""
    monkeypatch.setattr(integrity, "WAITING_MOST", 8)
    writer = _sealed_store(engine, OLD_KEY)
    erased = [_new_user(writer, 4711) for _ in range(integrity.WAITING_MOST + 1)]
    later = [_new_user(writer, 42) for _ in range(3)]
    rotated = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    assert erase(rotated, "4711", actor="cli:dpo").entries == len(erased)
    checked = verify(engine, NEW_KEY, retired_keys=[OLD_KEY])
    assert checked.ok, checked.findings
    assert checked.retired_keys[0].chains == 1
    assert all(entry_integrity(rotated, _entry(rotated, mid)).verifies for mid in [*erased, *later])


def test_a_retired_key_cannot_vouch_for_an_edit_in_a_chain_all_erased(engine: Engine) -> None:
    """An erasure vouches only with the key its action's own entry matches: a chain whose entries were
    all erased (the action recorded by another writer) took the oldest key any of its erasures matched,
    so a leaked retired key re-hashed an edited entry's genuine erasure and `verify` said it was intact."""
    writer = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    mids = [_new_user(writer, 4711) for _ in range(3)]
    erased = erase(_sealed_store(engine, NEW_KEY, (OLD_KEY,)), "4711", actor="cli:dpo")
    target = mids[1]
    with engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.message_id == target).values(event="Forged"))
        entry = connection.execute(select(AuditEntry.__table__).where(AuditEntry.message_id == target))
        erasure = connection.execute(select(AuditErasure.__table__).where(AuditErasure.message_id == target))
        row = {**entry.mappings().one(), **erasure.mappings().one()}
        assert row["erasure_message_id"] == str(erased.message_id)
        connection.execute(
            update(AuditErasure)
            .where(AuditErasure.message_id == target)
            .values(erasure_hash=erasure_hash(OLD_KEY, row))
        )
    checked = verify(engine, NEW_KEY, retired_keys=[OLD_KEY])
    assert [(finding.kind, finding.message_ids) for finding in checked.findings] == [("edited", (target,))]
    assert not entry_integrity(writer, _entry(writer, target)).verifies
    assert entry_integrity(writer, _entry(writer, mids[0])).verifies


def test_a_dry_run_counts_and_changes_nothing(engine: Engine) -> None:
    store = _sealed_store(engine)
    mid = _new_user(store, 4711)
    report = erase(store, "4711", actor="cli:dpo", dry_run=True)
    assert report.summary() == "user 4711: would erase the sealed personal data of 1 entry (of 1)"
    assert _entry(store, mid).encrypted_personal_data is not None
    assert _actions(engine) == []


def test_a_dry_run_with_nothing_to_erase_says_what_it_would_do(engine: Engine) -> None:
    """A dry run after the erasure said `0 entries erased`, as if it had done something."""
    store = _sealed_store(engine)
    _new_user(store, 4711)
    erase(store, "4711", actor="cli:dpo")
    after = erase(store, "4711", actor="cli:dpo", dry_run=True)
    assert after.summary() == (
        "user 4711: 0 entries would be erased: none of the 1 entry for this user id holds sealed "
        "personal data, 1 erased before"
    )
    unknown = erase(store, "999", actor="cli:dpo", dry_run=True)
    assert unknown.summary() == (
        "user 999: 0 entries would be erased: the audit log holds no entry for this user id"
    )
    assert len(_actions(engine)) == 1


def test_nothing_to_erase_says_0_entries_and_is_recorded(engine: Engine) -> None:
    """A request that found nothing to clear left no trace: whoever asked whether it was handled got
    no answer from the log. It is recorded, with its count of 0, and changes no entry."""
    store = _sealed_store(engine)
    unknown = erase(store, "999", actor="cli:dpo")
    assert unknown.summary() == (
        f"user 999: 0 entries erased: the audit log holds no entry for this user id; "
        f"recorded as {unknown.message_id}"
    )
    _new_user(AuditStore(engine), 4711)  # recorded without AUDIT_ENCRYPTION_KEY: masks only
    _new_user(store, 4711)
    erase(store, "4711", actor="cli:dpo")
    again = erase(store, "4711", actor="cli:dpo")
    assert again.summary() == (
        "user 4711: 0 entries erased: none of the 2 entries for this user id holds sealed personal data, "
        f"1 erased before; recorded as {again.message_id}"
    )
    recorded = {action.message_id: action for action in _actions(engine)}
    assert len(recorded) == 3
    for report, entries in ((unknown, 0), (again, 0)):
        action = recorded[str(report.message_id)]
        assert action.payload["properties"] == {"user_id": report.user_id, "entries": entries}
        assert (action.status, action.actor) == (AuditStatus.RECORDED, "cli:dpo")
    assert verify(engine, CHAIN_KEY).ok


def test_the_user_id_search_lists_the_erasure_record_with_that_user_s_messages(engine: Engine) -> None:
    """Whoever asks what happened to user 4711 filters by its user id: the record of the erasure was
    found only by a property search (`prop=user_id = 4711`), its `userId` being empty. It is also not
    one of the entries a later request counts."""
    store = _sealed_store(engine)
    sent = _new_user(store, 4711)
    _new_user(store, 42)
    first = erase(store, "4711", actor="cli:dpo")
    again = erase(store, "4711", actor="cli:dpo")
    assert (again.held, again.entries, again.erased_before) == (1, 0, 1)
    with Session(engine) as session:
        query = filtered(select(AuditEntry.message_id), AuditFilter(user_id="4711"))
        found = set(session.scalars(query))
    assert found == {sent, first.message_id, again.message_id}
    assert verify(engine, CHAIN_KEY).ok


def test_two_erasures_of_one_user_at_once_erase_each_entry_once_and_both_are_recorded(engine: Engine) -> None:
    """Both planned before either wrote (two admins, a retried job): the second's erasure rows collided
    with the first's (a unique-constraint error) and its action stayed `pending`. On SQLite both read
    the same batch; on PostgreSQL both ask for it at once, and the batch's row locks make one wait."""
    store = _sealed_store(engine)
    mids = [_new_user(store, 4711) for _ in range(3)]
    both_read = threading.Barrier(2, timeout=30)
    held = threading.local()
    # Held after reading on SQLite, whose read takes no lock; before on PostgreSQL, where the second
    # read waits for the first batch's commit and would not reach a barrier after it.
    moment = "after_cursor_execute" if engine.dialect.name == "sqlite" else "before_cursor_execute"

    def at_the_batch(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "encrypted_personal_data IS NOT NULL" in statement and not getattr(held, "done", False):
            held.done = True
            both_read.wait()

    reports = {}
    failures: list[BaseException] = []

    def run(actor: str) -> None:
        try:
            reports[actor] = erase(store, "4711", actor=actor)
        except BaseException as exc:
            failures.append(exc)

    event.listen(engine, moment, at_the_batch)
    try:
        threads = [threading.Thread(target=run, args=(actor,)) for actor in ("cli:a", "cli:b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(engine, moment, at_the_batch)
    assert failures == []
    assert sorted(report.entries for report in reports.values()) in ([0, 3], [1, 2])
    assert sum(report.gone_meanwhile for report in reports.values()) == 3
    assert all(_entry(store, mid).encrypted_personal_data is None for mid in mids)
    assert [action.status for action in _actions(engine)] == [AuditStatus.RECORDED] * 2
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditErasure)) == 3
    checked = verify(engine, CHAIN_KEY)
    assert checked.ok, checked.findings


def test_entries_recorded_while_it_runs_are_erased_too_and_nothing_is_said_wrong(engine: Engine) -> None:
    """Its action's error read 'erased 2 of the 1 entries planned: the log changed meanwhile' on an
    erasure that erased everything, and its line '2 entries (of 1)'."""
    store = _sealed_store(engine)
    _new_user(store, 4711)
    arrived: list[str] = []

    def after_counting(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(audit_entries.encrypted_personal_data)" in statement and not arrived:
            arrived.append(_new_user(store, 4711))

    event.listen(engine, "after_cursor_execute", after_counting)
    try:
        report = erase(store, "4711", actor="cli:dpo")
    finally:
        event.remove(engine, "after_cursor_execute", after_counting)
    assert report.summary() == (
        f"user 4711: erased the sealed personal data of 2 entries (of 2); recorded as {report.message_id}"
    )
    assert _entry(store, arrived[0]).encrypted_personal_data is None
    [action] = _actions(engine)
    assert (action.status, action.error) == (AuditStatus.RECORDED, None)
    with engine.connect() as connection:
        named = select(func.count()).where(AuditErasure.erasure_message_id == report.message_id)
        assert connection.scalar(named) == 2


def test_an_erasure_that_another_took_every_entry_from_says_so_in_one_sentence(engine: Engine) -> None:
    """Its line read 'erased the sealed personal data of 0 entries (of 3); 3 other entries had lost it
    meanwhile, …': no entry was erased, and the 3 were not other ones."""
    store = _sealed_store(engine)
    for _ in range(3):
        _new_user(store, 4711)
    started = threading.Event()
    others: list[ErasureReport] = []

    def after_counting(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(audit_entries.encrypted_personal_data)" in statement and not started.is_set():
            started.set()  # before it runs: the other erasure counts too, and must not start a third
            others.append(erase(store, "4711", actor="cli:other"))

    event.listen(engine, "after_cursor_execute", after_counting)
    try:
        report = erase(store, "4711", actor="cli:dpo")
    finally:
        event.remove(engine, "after_cursor_execute", after_counting)
    assert (others[0].entries, report.entries, report.gone_meanwhile) == (3, 0, 3)
    assert report.summary() == (
        "user 4711: 0 entries erased: the 3 entries holding sealed personal data had lost it meanwhile, "
        "to another erasure of this user id running at the same time (or a purge); "
        f"recorded as {report.message_id}"
    )


def _refuse_erasure_of(engine: Engine, message_id: str) -> Callable[[], None]:
    """Make the database refuse the erasure row of one entry, as a full disk would; returns the undo."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER disk_full BEFORE INSERT ON audit_erasures "
                    f"WHEN NEW.message_id = '{message_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
            )
        else:
            _refuse_on_postgres(connection, "disk_full", message_id, "could not extend file")

    def undo() -> None:
        table = "" if engine.dialect.name == "sqlite" else " ON audit_erasures"
        with engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER disk_full{table}"))

    return undo


def _refuse_on_postgres(
    connection: Connection, name: str, message_id: str, error: str, *, at_commit: bool = False
) -> None:
    """Make PostgreSQL fail the erasure row of one entry with `error`, through a trigger called `name`:
    as the row is written, or with `at_commit` when its transaction commits, as a deferred constraint."""
    connection.execute(
        text(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.message_id = '{message_id}' THEN RAISE EXCEPTION '{error}'; END IF; RETURN NEW; END $$"
        )
    )
    trigger = (
        f"CONSTRAINT TRIGGER {name} AFTER INSERT ON audit_erasures DEFERRABLE INITIALLY DEFERRED"
        if at_commit
        else f"TRIGGER {name} BEFORE INSERT ON audit_erasures"
    )
    connection.execute(text(f"CREATE {trigger} FOR EACH ROW EXECUTE FUNCTION {name}()"))


def test_an_interrupted_erasure_is_recorded_as_such_and_running_it_again_finishes(engine: Engine) -> None:
    """Its action stayed `pending` for ever, with no word of what stopped it."""
    store = _sealed_store(engine)
    first, second = _new_user(store, 4711), _new_user(store, 4711)
    undo = _refuse_erasure_of(engine, second)
    with pytest.raises(SQLAlchemyError):
        erase(store, "4711", actor="cli:dpo", batch=1)
    [action] = _actions(engine)
    assert action.status == AuditStatus.RECORDED
    assert action.error is not None
    assert action.error.startswith("interrupted after erasing 1 of the 2 entries planned (")
    assert action.error.endswith("): run `event-catalog audit erase --user-id 4711` again to erase the rest")
    # Each batch is one transaction: the one that failed left its entry untouched.
    assert _entry(store, first).encrypted_personal_data is None
    assert _entry(store, second).encrypted_personal_data is not None
    undo()
    assert erase(store, "4711", actor="cli:dpo").entries == 1
    checked = verify(engine, CHAIN_KEY)
    assert checked.ok, checked.findings


def test_an_interrupted_erasure_that_erased_entries_recorded_while_it_ran_says_so(engine: Engine) -> None:
    """Its action's error read 'interrupted after erasing 2 of the 1 entry planned' when its batches
    had also erased an entry recorded for the user id after it counted them."""
    store = _sealed_store(engine)
    _new_user(store, 4711)
    arrived: list[str] = []

    def after_counting(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "count(audit_entries.encrypted_personal_data)" in statement and not arrived:
            arrived.extend(_new_user(store, 4711) for _ in range(2))
            _refuse_erasure_of(engine, arrived[-1])

    event.listen(engine, "after_cursor_execute", after_counting)
    try:
        with pytest.raises(SQLAlchemyError):
            erase(store, "4711", actor="cli:dpo", batch=1)
    finally:
        event.remove(engine, "after_cursor_execute", after_counting)
    assert _entry(store, arrived[0]).encrypted_personal_data is None
    [action] = _actions(engine)
    assert action.error is not None
    assert action.error.startswith("interrupted after erasing 2 entries (")
    assert action.error.endswith(
        "), more than the 1 entry planned: entries recorded for this user id while it ran were erased too; "
        "run `event-catalog audit erase --user-id 4711` again to erase the rest"
    )


def _statements(engine: Engine) -> Callable[[], list[str]]:
    """Start listing the statements the engine runs; the returned call stops and gives them."""
    seen: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)

    def stop() -> list[str]:
        event.remove(engine, "before_cursor_execute", note)
        return seen

    return stop


def test_an_erasure_reads_each_chain_s_first_entries_once(engine: Engine) -> None:
    """Choosing a chain's key reads its first entries: an erasure did that for every entry it erased
    (a 500-entry batch took half a second), now once per chain and run."""
    store = _sealed_store(engine, NEW_KEY, (OLD_KEY,))
    for _ in range(5):
        _new_user(store, 4711)
    stop = _statements(engine)
    assert erase(store, "4711", actor="cli:dpo", batch=2).entries == 5
    chain_starts = [statement for statement in stop() if "ORDER BY audit_entries.seq" in statement]
    assert len(chain_starts) == 1
    assert verify(engine, NEW_KEY, retired_keys=[OLD_KEY]).ok


def _failed(store: AuditStore, message_id: str) -> None:
    store.record_outcome([message_id], AuditStatus.FAILED, http_status=500, error="HTTP 500")


def test_replay_skips_an_erased_entry_with_the_reason(engine: Engine) -> None:
    store = _sealed_store(engine)
    erased, other = _new_user(store, 4711), _new_user(store, 42)
    for mid in (erased, other):
        _failed(store, mid)
    erase(store, "4711", actor="cli:dpo")
    seen: list[Candidate] = []
    report = replay(store, None, ReplaySelection(), dry_run=True, on_candidate=seen.append)
    assert report.skipped == 1
    reasons = {candidate.message_id: candidate.skip_reason for candidate in seen}
    assert reasons[other] is None
    # To the second, as the product's other times read (it showed the microseconds).
    with engine.connect() as connection:
        moment = connection.scalar(select(AuditErasure.erased_at))
    assert moment is not None
    when = moment.replace(tzinfo=None).isoformat(" ", "seconds")
    assert reasons[erased] == f"{ERASED}{when} UTC): the real values cannot be re-sent"

    # The re-send widget counts the entries of every erasure under one reason: it said the same clause
    # again, with its own time, for each erasure request.
    third = _new_user(store, 555)
    _failed(store, third)
    erase(store, "555", actor="cli:dpo")
    with Session(engine) as session:
        counted = blocked_reasons(session, ReplaySelection(), datetime.now(UTC), cap=10, cipher=store.cipher)
    assert dict(counted) == {"its personal data was erased on request: the real values cannot be re-sent": 2}


def test_a_purge_takes_the_erasure_records_of_what_it_deletes(engine: Engine) -> None:
    store = _sealed_store(engine)
    _new_user(store, 4711)
    erase(store, "4711", actor="cli:dpo")
    later = _new_user(store, 42)
    purge(store, _entry(store, later).recorded_at, actor="cli:ops")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditErasure)) == 0
    assert verify(engine, CHAIN_KEY).ok


# --- the command and the pages (the dashboard's SQLite database) ------------------------------------


@pytest.fixture
def sealed_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(AUDIT_ENCRYPTION_KEY=_KEY)


def _seed(app: Flask, user_id: int, count: int = 1) -> list[str]:
    from webapp.extensions import analytics_client

    with app.app_context():
        return [_new_user(analytics_client.store(), user_id) for _ in range(count)]


def test_erase_command_erases_each_user_id_and_says_how_many(sealed_app: Flask) -> None:
    _seed(sealed_app, 4711, 2)
    _seed(sealed_app, 42)
    runner = sealed_app.test_cli_runner()
    dry = runner.invoke(args=["audit", "erase", "--user-id", "4711", "--dry-run"])
    assert (dry.exit_code, dry.output) == (
        0,
        "user 4711: would erase the sealed personal data of 2 entries (of 2)\n",
    )
    result = runner.invoke(
        args=["audit", "erase", "--user-id", "4711", "--user-id", "42", "--user-id", "999"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("user 4711: erased the sealed personal data of 2 entries (of 2); recorded as ")
    assert lines[1].startswith("user 42: erased the sealed personal data of 1 entry (of 1); recorded as ")
    assert lines[2].startswith(
        "user 999: 0 entries erased: the audit log holds no entry for this user id; recorded as "
    )
    actions = _actions(_engine(sealed_app))
    assert sorted(action.payload["properties"]["user_id"] for action in actions) == ["42", "4711", "999"]
    assert all(action.actor is not None and action.actor.startswith("cli:") for action in actions)
    checked = sealed_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert checked.exit_code == 0, checked.output


def test_an_erasure_waits_for_a_row_a_delivery_outcome_holds_and_erases_it(
    postgres_engine: Engine, patient_engine: Engine
) -> None:
    """Batches skipped rows locked by any transaction (`SKIP LOCKED`): one a delivery outcome or a
    replay's claim held at that moment kept its personal data, and the erasure ended as done."""
    engine = postgres_engine
    store = _sealed_store(engine)
    held, other = _new_user(store, 4711), _new_user(store, 4711)
    patient_store = _sealed_store(patient_engine)
    outcome = engine.connect()
    transaction = outcome.begin()
    outcome.execute(select(AuditEntry.id).where(AuditEntry.message_id == held).with_for_update())
    finished = threading.Event()
    reports = []

    def run() -> None:
        reports.append(erase(patient_store, "4711", actor="cli:dpo"))
        finished.set()

    eraser = threading.Thread(target=run)
    eraser.start()
    for _ in range(600):
        if finished.is_set() or someone_waits_for_a_lock(engine):
            break
        finished.wait(0.05)
    transaction.commit()
    outcome.close()
    eraser.join(timeout=60)
    [report] = reports
    assert report.entries == 2
    assert _entry(store, held).encrypted_personal_data is None
    assert _entry(store, other).encrypted_personal_data is None


def test_an_erasure_whose_commit_is_refused_counts_only_what_was_committed(postgres_engine: Engine) -> None:
    """A batch was counted before its transaction committed: one the commit refused (a deferred
    constraint, a lost connection) was reported as erased in the interrupted action's error."""
    engine = postgres_engine
    store = _sealed_store(engine)
    first, second = _new_user(store, 4711), _new_user(store, 4711)
    with engine.begin() as connection:
        _refuse_on_postgres(connection, "refuse_at_commit", second, "refused at commit", at_commit=True)
    with pytest.raises(SQLAlchemyError, match="refused at commit"):
        erase(store, "4711", actor="cli:dpo", batch=1)
    [action] = _actions(engine)
    assert action.error is not None
    assert action.error.startswith("interrupted after erasing 1 of the 2 entries planned (refused at commit")
    assert _entry(store, first).encrypted_personal_data is None
    assert _entry(store, second).encrypted_personal_data is not None


def test_erase_command_stopped_by_the_database_says_so_in_one_line_and_records_it(sealed_app: Flask) -> None:
    [mid] = _seed(sealed_app, 4711)
    _refuse_erasure_of(_engine(sealed_app), mid)
    result = sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"])
    assert (result.exit_code, result.output) == (
        2,
        "error: user 4711: interrupted after erasing 0 of the 1 entry planned (database or disk is full): "
        "run `event-catalog audit erase --user-id 4711` again to erase the rest\n",
    )
    [action] = _actions(_engine(sealed_app))
    assert action.status == AuditStatus.RECORDED
    assert action.error is not None and action.error.startswith("interrupted after erasing 0 of the 1 entry")


def test_erase_command_stopped_at_one_user_id_names_it_what_it_erased_and_the_ids_not_attempted(
    sealed_app: Flask,
) -> None:
    """Its line named neither the user id stopped nor what it erased, and the later ids were silently
    neither erased nor recorded."""
    _seed(sealed_app, 7)
    [mid] = _seed(sealed_app, 4711)
    [other] = _seed(sealed_app, 42)
    _refuse_erasure_of(_engine(sealed_app), mid)
    handler = signal.getsignal(signal.SIGTERM)
    result = sealed_app.test_cli_runner().invoke(
        args=["audit", "erase", "--user-id", "7", "--user-id", "4711", "--user-id", "42", "--user-id", "999"]
    )
    assert result.exit_code == 2
    assert result.stdout.startswith("user 7: erased the sealed personal data of 1 entry (of 1); recorded as ")
    assert result.stderr == (
        "error: user 4711: interrupted after erasing 0 of the 1 entry planned (database or disk is full): "
        "run `event-catalog audit erase --user-id 4711` again to erase the rest; not attempted: 42, 999\n"
    )
    actions = _actions(_engine(sealed_app))
    assert sorted((action.user_id, action.error is None) for action in actions) == [
        ("4711", False),
        ("7", True),
    ]
    assert AuditStore(_engine(sealed_app)).entry(other).encrypted_personal_data is not None
    assert signal.getsignal(signal.SIGTERM) is handler


def test_erase_command_stopped_by_ctrl_c_names_what_it_erased_and_the_ids_not_attempted(
    sealed_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C ended it with Click's `Aborted!`: nothing said which user id stopped, nor what was left."""
    import analytics.erasure as erasure

    batches = erasure._batches

    def one_then_ctrl_c(
        store: AuditStore, user_id: str, message_id: str, batch: int
    ) -> Iterator[tuple[int, int]]:
        yield next(batches(store, user_id, message_id, 1))
        raise KeyboardInterrupt

    monkeypatch.setattr(erasure, "_batches", one_then_ctrl_c)
    _seed(sealed_app, 4711, 2)
    _seed(sealed_app, 42)
    result = sealed_app.test_cli_runner().invoke(
        args=["audit", "erase", "--user-id", "4711", "--user-id", "42"]
    )
    assert (result.exit_code, result.output) == (
        130,
        "error: user 4711: interrupted after erasing 1 of the 2 entries planned (KeyboardInterrupt): "
        "run `event-catalog audit erase --user-id 4711` again to erase the rest; not attempted: 42\n",
    )
    [action] = _actions(_engine(sealed_app))
    assert (action.user_id, action.status) == ("4711", AuditStatus.RECORDED)


_ERASE_ONE_BATCH_THEN_WAIT = """
import signal, sys
import analytics.erasure as erasure
from webapp.command import main

batches = erasure._batches

def one_then_wait(store, user_id, erasure_message_id, batch):
    # A long erasure, made short: batches of one entry, and after the first a wait for a signal.
    for done in batches(store, user_id, erasure_message_id, 1):
        yield done
        print("erased a batch", flush=True)
        signal.pause()

erasure._batches = one_then_wait
sys.argv[0] = "event-catalog"
main()
"""
"""`event-catalog` erasing a batch at a time, which says `erased a batch` and waits after the first."""


def test_erase_command_stopped_by_sigterm_closes_the_action_and_names_what_it_erased(
    database_url: str, engine: Engine
) -> None:
    """SIGTERM (`timeout`, systemd, `docker stop`, a Kubernetes Job's deadline) ended Python on the
    spot: the erasure's action stayed `pending` for ever, and the command said nothing."""
    store = _sealed_store(engine)
    for _ in range(3):
        _new_user(store, 4711)
    [other] = [_new_user(store, 42)]
    command = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _ERASE_ONE_BATCH_THEN_WAIT,
            "audit",
            "erase",
            "--user-id",
            "4711",
            "--user-id",
            "42",
        ],
        env={**os.environ, "DATABASE_URL": database_url, "AUDIT_ENCRYPTION_KEY": _KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stdout is not None
        assert command.stdout.readline() == "erased a batch\n"
        command.send_signal(signal.SIGTERM)
        _, errors = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert (command.returncode, errors) == (
        143,
        "error: user 4711: interrupted after erasing 1 of the 3 entries planned (stopped by SIGTERM): "
        "run `event-catalog audit erase --user-id 4711` again to erase the rest; not attempted: 42\n",
    )
    [action] = _actions(engine)
    assert (action.user_id, action.status) == ("4711", AuditStatus.RECORDED)
    assert action.error is not None
    assert action.error.startswith(
        "interrupted after erasing 1 of the 3 entries planned (stopped by SIGTERM)"
    )
    with engine.connect() as connection:
        sealed = func.count(AuditEntry.encrypted_personal_data)
        assert connection.scalar(select(sealed).where(AuditEntry.user_id == "4711")) == 2
    assert _entry(store, other).encrypted_personal_data is not None
    assert erase(store, "4711", actor="cli:dpo").entries == 2


def test_erase_command_runs_outside_the_main_thread_with_sigterm_left_alone(sealed_app: Flask) -> None:
    """Only the main thread may set a signal handler: elsewhere (a scheduler's thread) it is not set."""
    _seed(sealed_app, 4711)
    results: list[Result] = []
    worker = threading.Thread(
        target=lambda: results.append(
            sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"])
        )
    )
    worker.start()
    worker.join()
    [result] = results
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output.startswith("user 4711: erased the sealed personal data of 1 entry (of 1)")


def _engine(app: Flask) -> Engine:
    from webapp.extensions import analytics_client

    with app.app_context():
        return analytics_client.store().engine


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("abc", "error: --user-id: 'abc' is not a whole number\n"),
        ("+4711", "error: --user-id: '+4711' is not an id: ids are written with the digits 0-9 only\n"),
        ("", "error: --user-id: empty: give the user id whose personal data to erase\n"),
    ],
)
def test_erase_command_refuses_a_malformed_user_id_in_one_line(
    sealed_app: Flask, user_id: str, message: str
) -> None:
    [mid] = _seed(sealed_app, 4711)
    result = sealed_app.test_cli_runner().invoke(
        args=["audit", "erase", "--user-id", "4711", "--user-id", user_id]
    )
    assert (result.exit_code, result.output) == (2, message)
    # Every id is checked first: the good one before the typo is not erased either.
    from webapp.extensions import analytics_client

    with sealed_app.app_context():
        assert _entry(analytics_client.store(), mid).encrypted_personal_data is not None


def test_replay_and_the_re_send_widget_give_one_reason_for_an_erased_tester_entry(
    sealed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    """An erased entry the tester sent to another destination is left alone as the tester's, by
    `replay --dry-run` and by the widget alike (neither counts it as erased); one it sent to the
    dashboard's own destination is skipped as erased by both."""
    from webapp.extensions import analytics_client
    from webapp.tester.sending import own_destination

    with sealed_app.app_context():
        store = analytics_client.store()
        sent = {
            where: record(
                store,
                "New User",
                scope={"user_id": 4711},
                properties={"email": "ada@example.com"},
                source="tester",
                destination=destination,
            )
            for where, destination in (("elsewhere", "broken:0123456789ab"), ("own", own_destination().label))
        }
        for mid in sent.values():
            _failed(store, mid)
    runner = sealed_app.test_cli_runner()
    assert runner.invoke(args=["audit", "erase", "--user-id", "4711"]).exit_code == 0
    listed = runner.invoke(args=["replay", "--dry-run"]).output.splitlines()
    assert [line.split()[0] for line in listed[:-2]] == [sent["own"]]
    assert f" skipped: {ERASED}" in listed[0]
    assert listed[-2:] == [
        "dry run: 0 entries would be re-sent, 1 skipped",
        "left alone: 1 sent by the tester to other destinations, with keys a replay does not have "
        "(use Edit and send on their entries)",
    ]
    engineer = login_as(Role.ENGINEER, on=sealed_app)
    response = engineer.get("/audit/replay/?status=failed", headers={"HX-Request": "true"})
    assert response.status_code == 200
    widget = response.get_data(as_text=True)
    assert (
        "1 entry cannot be re-sent: its personal data was erased on request: the real values cannot be "
        "re-sent.</p>"
    ) in widget
    assert "1 entry of this view went to another tester destination and is left out:" in widget


def test_the_entry_page_says_the_personal_data_was_erased(
    sealed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    [mid] = _seed(sealed_app, 4711)
    engineer = login_as(Role.ENGINEER, on=sealed_app)
    before = engineer.get(f"/audit/entries/{mid}").get_data(as_text=True)
    assert "As sent, with the personal data unmasked for your role" in before and "ada@example.com" in before
    assert "ada@example.com" in engineer.get("/audit/export.ndjson?user_id=4711").get_data(as_text=True)
    assert sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"]).exit_code == 0
    page = engineer.get(f"/audit/entries/{mid}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ada@example.com" not in text and "unmasked for your role" not in text
    assert "The personal data of this entry was erased on request on " in text
    assert "UTC: only the masks remain, and no role can see the real values again." in text
    assert "recorded without AUDIT_ENCRYPTION_KEY" not in text
    assert "the erasure&#39;s keyed hash vouches for the rest of it" in text
    assert "does not verify" not in text
    for extension in ("csv", "ndjson"):
        export = engineer.get(f"/audit/export.{extension}?user_id=4711")
        assert export.status_code == 200 and mid in export.get_data(as_text=True)
        assert "ada@example.com" not in export.get_data(as_text=True), extension
    api = engineer.get(f"/api/audit/entries/{mid}").get_json()
    assert api["payload_note"].startswith("The personal data of this entry was erased on request on ")
    assert api["integrity"]["verifies"] is True


def test_the_entry_page_and_api_ask_for_the_erasure_table_once(
    sealed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    """Whether the database has the table of erasures was asked of its catalog on every entry page
    and API entry request, two or three times each."""
    [mid] = _seed(sealed_app, 4711)
    assert sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"]).exit_code == 0
    engineer = login_as(Role.ENGINEER, on=sealed_app)
    assert engineer.get(f"/audit/entries/{mid}").status_code == 200
    stop = _statements(_engine(sealed_app))
    page = engineer.get(f"/audit/entries/{mid}")
    api = engineer.get(f"/api/audit/entries/{mid}")
    statements = stop()
    assert page.status_code == 200 and "The personal data of this entry was erased" in page.get_data(
        as_text=True
    )
    assert api.status_code == 200 and api.get_json()["integrity"]["verifies"] is True
    assert [statement for statement in statements if "table_info" in statement] == []


def test_the_erasure_record_is_for_admins(sealed_app: Flask, login_as: Callable[..., FlaskClient]) -> None:
    _seed(sealed_app, 4711)
    sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"])
    [action] = _actions(_engine(sealed_app))
    url = f"/audit/entries/{action.message_id}"
    assert login_as(Role.ENGINEER, on=sealed_app).get(url).status_code == 403
    admin = login_as(Role.ADMIN, on=sealed_app).get(url)
    assert admin.status_code == 200 and "Personal Data Erased" in admin.get_data(as_text=True)


def test_the_dashboard_s_user_id_filter_shows_the_erasure_record_to_admins(
    sealed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    _seed(sealed_app, 4711)
    sealed_app.test_cli_runner().invoke(args=["audit", "erase", "--user-id", "4711"])
    [action] = _actions(_engine(sealed_app))
    admin = login_as(Role.ADMIN, on=sealed_app)
    page = admin.get("/audit/?user_id=4711")
    assert page.status_code == 200 and action.message_id in page.get_data(as_text=True)
    listed = admin.get("/api/audit/entries?user_id=4711").get_json()["entries"]
    assert action.message_id in [entry["message_id"] for entry in listed]
    engineer = login_as(Role.ENGINEER, on=sealed_app).get("/audit/?user_id=4711")
    assert engineer.status_code == 200 and action.message_id not in engineer.get_data(as_text=True)


def test_a_database_still_at_0020_is_verified_purged_and_replayed_and_erase_asks_for_an_upgrade(
    engine: Engine,
) -> None:
    """This library writes a database at 0020 (hosts upgrade first), which has no table of erasures."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_erasures"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0020_scope_preset_name_key'"))
    store = _sealed_store(engine)
    store.check_schema()
    first = _new_user(store, 4711)
    _failed(store, first)
    later = _new_user(store, 4711)
    assert verify(engine, CHAIN_KEY).ok
    assert replay(store, None, ReplaySelection(), dry_run=True).selected == 1
    assert purge(store, _entry(store, later).recorded_at, actor="cli:ops").entries == 1
    with pytest.raises(SchemaError, match=r"no table of erasures yet: run `event-catalog db upgrade` first"):
        erase(store, "4711", actor="cli:dpo")


def test_a_chain_whose_first_entries_are_erased_is_still_checked_with_its_retired_key(engine: Engine) -> None:
    """The entries that choose a chain's key are its first ones: erased, they cannot vote (their own
    hashes no longer match), and the chain's other entries, written with a retired key, read as edited."""
    old, new = b"old-chain-key-0123456789", b"new-chain-key-9876543210"
    writer = _sealed_store(engine, old)
    for _ in range(KEY_SAMPLE + 2):
        _new_user(writer, 4711)
    for _ in range(3):
        _new_user(writer, 42)
    erase(_sealed_store(engine, new, (old,)), "4711", actor="cli:dpo", batch=5)
    erase(_sealed_store(engine, new, (old,)), "42", actor="cli:dpo")
    checked = verify(engine, new, retired_keys=[old])
    assert checked.ok, checked.findings


@pytest.mark.parametrize("erased", [False, True])
def test_sealed_data_rewritten_as_bytes_is_reported_edited(sqlite_store: AuditStore, erased: bool) -> None:
    """SQLite stores whatever is written: sealed data cast to a BLOB stopped `verify` with a TypeError
    (bytes are not JSON), so one cell silenced the tamper check for every chain."""
    engine = sqlite_store.engine
    store = _sealed_store(engine)
    mid = _new_user(store, 4711)
    if erased:
        erase(store, "4711", actor="cli:dpo")
    rewritten = "X'00'" if erased else "CAST(encrypted_personal_data AS BLOB)"
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE audit_entries SET encrypted_personal_data = {rewritten} WHERE message_id = :mid"),
            {"mid": mid},
        )
    [finding] = verify(engine, CHAIN_KEY).findings
    assert (finding.kind, finding.message_ids) == ("edited", (mid,))


def test_an_entry_with_sealed_data_as_bytes_is_shown_as_not_verifying(
    sealed_app: Flask, login_as: Callable[..., FlaskClient]
) -> None:
    """Its page and API answer were a 500 (the same TypeError as `verify`'s)."""
    from webapp.extensions import analytics_client

    [mid] = _seed(sealed_app, 4711)
    with sealed_app.app_context():
        with analytics_client.store().engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE audit_entries SET encrypted_personal_data = "
                    "CAST(encrypted_personal_data AS BLOB) WHERE message_id = :mid"
                ),
                {"mid": mid},
            )
    admin = login_as(Role.ADMIN, on=sealed_app)
    api = admin.get(f"/api/audit/entries/{mid}")
    assert api.status_code == 200 and api.get_json()["integrity"]["verifies"] is False
    page = admin.get(f"/audit/entries/{mid}")
    assert page.status_code == 200 and "does not verify" in page.get_data(as_text=True)


def test_sealed_data_stored_as_bytes_is_erased_and_not_vouched_for(sqlite_store: AuditStore) -> None:
    """The erasure stopped on such a cell with an AttributeError (its digest encoded a str), leaving the
    ciphertext, still the real token, in place and the request `pending`."""
    engine = sqlite_store.engine
    store = _sealed_store(engine)
    mid, other = _new_user(store, 4711), _new_user(store, 4711)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE audit_entries SET encrypted_personal_data = CAST(encrypted_personal_data AS BLOB) "
                "WHERE message_id = :mid"
            ),
            {"mid": mid},
        )
    report = erase(store, "4711", actor="cli:dpo")
    assert (report.entries, report.unverified) == (2, 1)
    assert _entry(store, mid).encrypted_personal_data is None
    [action] = _actions(engine)
    assert action.status == AuditStatus.RECORDED
    [finding] = verify(engine, CHAIN_KEY).findings
    assert (finding.kind, finding.message_ids) == ("edited", (mid,))
    assert finding.detail.endswith("it was already changed when its personal data was erased")
    assert other not in finding.detail
