"""Tamper evidence: every entry chained per writer, and `verify` naming what was edited or deleted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from at_once import at_once
from auditlog import record_pending
from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError

from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditRecord, AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.chain import GENESIS, canonical_instant
from analytics.integrity import entry_integrity, verify
from analytics.messages import build_message

KEY = b"event-catalog"


def _entry(store: AuditStore, message_id: str) -> AuditEntry:
    entry = store.entry(message_id)
    assert entry is not None
    return entry


def _kinds(engine: Engine) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.kind, f.message_ids) for f in verify(engine, KEY).findings]


def test_entries_of_one_writer_form_a_chain(store: AuditStore) -> None:
    ids = record_pending(store, 3)
    first, second, third = (_entry(store, mid) for mid in ids)
    assert first.writer_id == second.writer_id == third.writer_id
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.entry_hash and third.prev_hash == second.entry_hash
    report = verify(store.engine, KEY)
    assert report.ok and report.entries == 3
    assert report.heads == {first.writer_id: (3, third.entry_hash)}
    assert report.summary() == "verified 3 entries in 1 writer chain"


@pytest.mark.parametrize("given", [12345, uuid.UUID("6a2f41a3-c54c-4bb4-a4f3-5b7a1e4f9d10")])
def test_a_message_id_that_is_not_text_is_sent_audited_and_verified_as_its_text(
    store: AuditStore, given: object
) -> None:
    """The entry was hashed over the int and stored as text: `audit verify` called it edited."""
    client = AnalyticsClient(None, store=store, strict=True)
    receipt = client.track(CATALOG.event("ProjectCreate").example_spec(), message_id=given)
    assert receipt.ok
    assert verify(store.engine, KEY).ok
    assert receipt.message_id == receipt.message["messageId"] == str(given)
    assert _entry(store, str(given)).payload["messageId"] == str(given)


def test_status_changes_do_not_break_the_chain(store: AuditStore) -> None:
    [message_id] = record_pending(store)
    store.record_outcome([message_id], AuditStatus.FAILED, http_status=500, error="boom")
    store.record_outcome([message_id], AuditStatus.DELIVERED, http_status=200)
    assert verify(store.engine, KEY).ok
    assert entry_integrity(store, _entry(store, message_id)).verifies


def test_verify_catches_an_edited_row(store: AuditStore) -> None:
    ids = record_pending(store, 3)
    with store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.message_id == ids[1]).values(event="Project Create")
        )
    assert _kinds(store.engine) == [("edited", (ids[1],))]
    integrity = entry_integrity(store, _entry(store, ids[1]))
    assert not integrity.verifies
    assert integrity.problems == (
        "Its content no longer matches its hash: it was changed after it was written.",
    )
    assert entry_integrity(store, _entry(store, ids[0])).verifies


def test_verify_catches_an_edited_payload(store: AuditStore) -> None:
    ids = record_pending(store, 2)
    entry = _entry(store, ids[0])
    payload = {**entry.payload, "properties": {**entry.payload["properties"], "cluster_type": "gke"}}
    with store.engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(payload=payload))
    assert _kinds(store.engine) == [("edited", (ids[0],))]


def test_verify_catches_a_deleted_row_and_names_its_neighbours(store: AuditStore) -> None:
    ids = record_pending(store, 4)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE message_id = :m"), {"m": ids[1]})
    [finding] = verify(store.engine, KEY).findings
    assert (finding.kind, finding.message_ids) == ("gap", (ids[0], ids[2]))
    assert (
        finding.detail == f"entries seq 2 are missing between {ids[0]} and {ids[2]}, with no purge checkpoint"
    )
    assert entry_integrity(store, _entry(store, ids[2])).problems == (
        "The entry before it in its writer's chain is missing (deleted).",
    )
    assert entry_integrity(store, _entry(store, ids[0])).problems == (
        "The entry after it in its writer's chain is missing (deleted).",
    )


def test_verify_catches_the_first_rows_of_a_chain_deleted(store: AuditStore) -> None:
    ids = record_pending(store, 3)
    with store.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM audit_entries WHERE message_id IN (:a, :b)"), {"a": ids[0], "b": ids[1]}
        )
    [finding] = verify(store.engine, KEY).findings
    assert (finding.kind, finding.message_ids) == ("gap", (ids[2],))
    assert "entries seq 1-2 are missing before" in finding.detail


def test_verify_catches_rows_swapped_in_time(store: AuditStore) -> None:
    ids = record_pending(store, 3)
    first, third = _entry(store, ids[0]), _entry(store, ids[2])
    with store.engine.begin() as connection:
        for entry, other in ((first, third), (third, first)):
            connection.execute(
                update(AuditEntry).where(AuditEntry.id == entry.id).values(recorded_at=other.recorded_at)
            )
    findings = verify(store.engine, KEY).findings
    assert {(f.kind, f.message_ids[-1]) for f in findings} >= {("edited", ids[0]), ("edited", ids[2])}
    assert ("out-of-order", (ids[0], ids[1])) in [(f.kind, f.message_ids) for f in findings]


def test_verify_catches_rows_swapped_in_the_chain(store: AuditStore) -> None:
    ids = record_pending(store, 3)
    first, second = _entry(store, ids[0]), _entry(store, ids[1])
    with store.engine.begin() as connection:
        for entry, seq in ((first, -1), (second, 1), (first, 2)):
            connection.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(seq=seq))
    findings = {(f.kind, f.message_ids[-1]) for f in verify(store.engine, KEY).findings}
    assert ("edited", ids[0]) in findings and ("edited", ids[1]) in findings


def test_an_entry_forged_without_the_key_does_not_verify(engine: Engine) -> None:
    record_pending(AuditStore(engine), 2)
    [forged] = record_pending(AuditStore(engine, chain_key=b"a guess"), 1)
    assert _kinds(engine) == [("edited", (forged,))]


def test_verify_detects_a_wrong_key_for_the_whole_log(store: AuditStore) -> None:
    record_pending(store, 2)
    report = verify(store.engine, b"other")
    assert [f.kind for f in report.findings] == ["unmatched-chain"]
    assert report.no_entry_matches


def test_verify_says_which_chains_another_key_wrote_when_some_entries_match(engine: Engine) -> None:
    """A deployment that ran on the default key for a minute, then verified without its own key,
    printed one "changed after it was written" line per entry and never the word key."""
    [early] = record_pending(AuditStore(engine), 1)
    later = record_pending(AuditStore(engine, chain_key=b"the-deployment-key"), 4)
    edited = record_pending(AuditStore(engine), 3)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET user_id = '2' WHERE message_id = :m"), {"m": edited[1]}
        )
    report = verify(engine, KEY)
    kinds = {f.kind: f for f in report.findings}
    assert set(kinds) == {"unmatched-chain", "edited"} and len(report.findings) == 2
    assert kinds["unmatched-chain"].message_ids == (later[0], later[-1])
    assert kinds["unmatched-chain"].detail.startswith("none of its 4 entries (seq 1-4, recorded ")
    assert kinds["unmatched-chain"].detail.endswith(
        "matches its hash: written with another AUDIT_CHAIN_KEY, or every one of them changed after it "
        "was written"
    )
    assert (
        kinds["edited"].detail
        == f"{edited[1]} (seq 2) no longer matches its hash: changed after it was written"
    )
    assert report.summary() == (
        "2 problems in 8 entries in 3 writer chains; 4 entries in 1 writer chain match none of their chain's "
        "hashes: AUDIT_CHAIN_KEY is most likely not the key those were written with (or each was changed); "
        "after a rotation, list the former key in AUDIT_CHAIN_KEYS_RETIRED"
    )
    by_ids = {f.message_ids: f for f in verify(engine, b"the-deployment-key").findings}
    lone = by_ids[(early,)]
    assert lone.kind == "edited"
    assert lone.detail == (
        f"{early} (seq 1) no longer matches its hash: changed after it was written, or written with another "
        "AUDIT_CHAIN_KEY (it is its chain's only entry)"
    )


def test_verify_command_caps_its_lines_with_a_count_of_the_rest(runner: FlaskCliRunner, app: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = record_pending(store, 56)
        with store.engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_entries SET user_id = '2' WHERE message_id != :m"), {"m": ids[0]}
            )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 52 and all(" edited " in line for line in lines[:50])
    assert lines[50] == "…: and 5 more problems: --format json lists every one"
    assert lines[51] == "55 problems in 56 entries in 1 writer chain"


def test_concurrent_writers_interleaved_still_verify(engine: Engine) -> None:
    host_a, host_b = AuditStore(engine), AuditStore(engine)
    ids = []
    for _ in range(5):
        ids += record_pending(host_a) + record_pending(host_b)
    writers = {_entry(host_a, mid).writer_id for mid in ids}
    assert len(writers) == 2
    report = verify(engine, KEY)
    assert report.ok and report.entries == 10 and len(report.heads) == 2
    assert sorted(seq for seq, _ in report.heads.values()) == [5, 5]


def test_threads_recording_at_once_use_their_own_chains(engine: Engine) -> None:
    store = AuditStore(engine, max_writers=4)
    at_once(lambda: record_pending(store, 10), threads=6)
    report = verify(engine, KEY)
    assert report.ok and report.entries == 60
    assert 1 <= len(report.heads) <= 4


def test_a_forked_process_starts_its_own_chain(store: AuditStore) -> None:
    import os

    [parent_first] = record_pending(store)
    pid = os.fork()
    if pid == 0:  # the child, as a pre-forking server's worker would be
        code = 1
        try:
            record_pending(store)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    record_pending(store)
    report = verify(store.engine, KEY)
    assert report.ok and report.entries == 3 and len(report.heads) == 2
    assert sorted(seq for seq, _ in report.heads.values()) == [1, 2]
    assert report.heads[_entry(store, parent_first).writer_id][0] == 2


def test_a_failed_insert_leaves_no_gap(store: AuditStore) -> None:
    message = build_message(CATALOG.event("ProjectCreate").example_spec())
    store.record(message, status=AuditStatus.PENDING, source="application")
    with pytest.raises(IntegrityError):
        store.record(message, status=AuditStatus.PENDING, source="replay")
    record_pending(store, 2)
    report = verify(store.engine, KEY)
    assert report.ok and report.entries == 3


def test_json_numbers_hash_the_same_after_the_database_stored_them(store: AuditStore) -> None:
    message = build_message(CATALOG.event("ProjectCreate").example_spec())
    message["properties"].update(
        ratio=0.1, big=1e16, whole=2.0, tiny=1.5e-7, nested={"b": [1.0, "x"], "a": None}
    )
    store.record(message, status=AuditStatus.PENDING, source="application")
    assert verify(store.engine, KEY).ok


def test_timestamps_with_an_offset_are_stored_and_hashed_in_utc(store: AuditStore) -> None:
    message = build_message(CATALOG.event("ProjectCreate").example_spec())
    message["timestamp"] = "2026-03-01T14:00:00.123+02:00"
    store.record(message, status=AuditStatus.PENDING, source="application")
    entry = _entry(store, message["messageId"])
    assert entry.timestamp.replace(tzinfo=None).isoformat() == "2026-03-01T12:00:00.123000"
    assert verify(store.engine, KEY).ok


def test_migration_chains_entries_written_before_it(empty_database_url: str) -> None:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0001_audit_log")
        with db.engine.begin() as connection:
            for index, recorded in enumerate(
                ["2026-01-02 10:00:00", "2026-01-01 09:00:00", "2026-01-03 08:00:00"]
            ):
                connection.execute(
                    text(
                        "INSERT INTO audit_entries (message_id, recorded_at, timestamp, type, event, status, "
                        "status_changed_at, source, payload) VALUES (:m, :r, :r, 'track', 'Project Create', "
                        "'delivered', :r, 'application', :p)"
                    ),
                    {"m": f"old-{index}", "r": recorded, "p": '{"type": "track", "n": 1.0}'},
                )
        upgrade()
        db.engine.dispose()
    engine = create_audit_engine(empty_database_url)
    try:
        report = verify(engine, KEY)
        assert report.ok and report.entries == 3
        store = AuditStore(engine)
        assert [_entry(store, f"old-{i}").seq for i in range(3)] == [2, 1, 3]
    finally:
        engine.dispose()


def test_verify_command_exits_0_with_a_summary(runner: FlaskCliRunner, app: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        record_pending(analytics_client.store(), 2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output == "verified 2 entries in 1 writer chain\n"


def test_verify_command_exits_1_naming_the_entries(runner: FlaskCliRunner, app: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = record_pending(store, 3)
        with store.engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_entries WHERE message_id = :m"), {"m": ids[1]})
            connection.execute(
                text("UPDATE audit_entries SET actor = 'mallory' WHERE message_id = :m"), {"m": ids[2]}
            )
        writer = _entry(store, ids[0]).writer_id
    result = runner.invoke(args=["audit", "verify", "--heads"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert (
        f"{writer}: edited {ids[2]} (seq 3) no longer matches its hash: changed after it was written" in lines
    )
    assert any(
        line.startswith(f"{writer}: gap entries seq 2 are missing between {ids[0]} and {ids[2]}")
        for line in lines
    )
    assert "2 problems in 2 entries in 1 writer chain" in lines
    assert lines[-1].startswith(f"head {writer} 3 ")


def test_verify_command_speaks_json(runner: FlaskCliRunner, app: Any) -> None:
    import json

    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        [message_id] = record_pending(store)
        with store.engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_entries SET user_id = '2' WHERE message_id = :m"), {"m": message_id}
            )
    result = runner.invoke(args=["audit", "verify", "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["ok"] is False and [f["code"] for f in body["findings"]] == ["edited"]
    assert message_id in body["findings"][0]["message"]


def test_verify_with_another_key_says_so_in_one_line(app: Any, make_app: Any) -> None:
    """A cron job without the writers' AUDIT_CHAIN_KEY saw every entry reported as edited."""
    import json

    from webapp.extensions import analytics_client

    with app.app_context():
        record_pending(analytics_client.store(), 3)
    runner = make_app(AUDIT_CHAIN_KEY="not-the-writers-key").test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert result.output == (
        "no entry matches its hash (3 entries in 1 writer chain): AUDIT_CHAIN_KEY is most likely not "
        "the key they were written with (or every entry was changed); after a rotation, list the former "
        "key in AUDIT_CHAIN_KEYS_RETIRED\n"
    )
    body = json.loads(runner.invoke(args=["audit", "verify", "--format", "json"]).output)
    assert body["ok"] is False and [f["code"] for f in body["findings"]] == ["no-entry-matches"]


def test_verify_heads_stay_inside_the_json_document_and_are_a_markdown_table(
    runner: FlaskCliRunner, app: Any
) -> None:
    import json

    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        [message_id] = record_pending(store)
        entry = _entry(store, message_id)
    body = json.loads(runner.invoke(args=["audit", "verify", "--format", "json", "--heads"]).output)
    assert body["ok"] is True
    # The text's summary line, counts included, is in the document too.
    assert (body["entries"], body["chains"], body["checkpoints"]) == (1, 1, 0)
    assert body["summary"] == "verified 1 entry in 1 writer chain"
    assert body["heads"] == [{"writer_id": entry.writer_id, "seq": 1, "hash": entry.entry_hash}]
    markdown = runner.invoke(args=["audit", "verify", "--format", "markdown", "--heads"]).output
    table = "| Writer | Last seq | Head hash |\n| --- | --- | --- |\n"
    assert markdown.endswith(f"{table}| `{entry.writer_id}` | 1 | `{entry.entry_hash}` |\n")


def test_the_entry_page_says_whether_the_entry_verifies(app: Any, client: Any) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        first, second = record_pending(store, 2)
    page = client.get(f"/audit/entries/{first}").get_data(as_text=True)
    assert '<span class="badge integrity-ok">verifies</span>' in page and "does not verify" not in page
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET user_id = '99' WHERE message_id = :m"), {"m": first}
        )
    edited = client.get(f"/audit/entries/{first}").get_data(as_text=True)
    assert '<span class="badge integrity-bad">does not verify</span>' in edited
    assert "<li>Its content no longer matches its hash: it was changed after it was written.</li>" in edited
    assert '<span class="badge integrity-ok">verifies</span>' in client.get(
        f"/audit/entries/{second}"
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 11, 23, 18, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 11, 23, 18, 4, 5),  # naive, as SQLite hands times back: UTC
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(999, 1, 1, tzinfo=UTC),
    ],
)
def test_the_hashed_form_of_a_time_is_the_chain_formats(instant: datetime) -> None:
    """The form is part of the hash (version 1): a faster way to write it must write the same text."""
    utc = (instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant).astimezone(UTC)
    assert canonical_instant(instant) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_batch_is_one_chain_in_call_order(store: AuditStore) -> None:
    records = [
        AuditRecord(
            build_message(CATALOG.event("ProjectCreate").example_spec()),
            status=AuditStatus.PENDING,
            source="application",
        )
        for _ in range(5)
    ]
    store.record_many(records)
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(AuditEntry.message_id, AuditEntry.writer_id, AuditEntry.seq).order_by(AuditEntry.seq)
        ).all()
    assert [row.message_id for row in rows] == [r.message["messageId"] for r in records]
    assert len({row.writer_id for row in rows}) == 1 and [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert verify(store.engine, KEY).ok
