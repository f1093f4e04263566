"""Entries a pre-0007 application host wrote without their message id's claim: counted, then claimed.

In an upgrade walk 258 of 356 entries on PostgreSQL had no `audit_message_ids` row, so a second
entry with one of their message ids would not be refused; `audit verify` said "verified", exit 0,
and nothing could find them or repair them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from auditlog import copy_unclaimed, move, record_pending, unclaim
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from analytics.audit import AuditEntry, AuditMessageId, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.message_claims import claim_missing, unclaimed_entries
from analytics.messages import build_message
from webapp import create_app

UNCLAIMED = "without the claim on their message id that keeps message ids unique"


@pytest.fixture
def cli_app(database_url: str) -> Iterator[Flask]:
    """The command line's app on each kind of migrated database."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    yield app
    from webapp.extensions import db

    with app.app_context():
        db.engine.dispose()


def _store(app: Flask) -> AuditStore:
    from webapp.extensions import analytics_client

    with app.app_context():
        return analytics_client.store()


def _count(store: AuditStore, model: type[AuditEntry] | type[AuditMessageId]) -> int:
    with store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_verify_counts_entries_an_old_host_left_unclaimed_and_claim_ids_repairs_them(cli_app: Flask) -> None:
    store = _store(cli_app)
    record_pending(store, 3)
    old = record_pending(store, 2)
    unclaim(store, old)
    runner = cli_app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"2 entries {UNCLAIMED}" in result.output
    assert result.output.count(UNCLAIMED) == 1  # the summary names them without saying it all again
    assert "then run `event-catalog audit claim-ids`" in result.output

    repaired = runner.invoke(args=["audit", "claim-ids"])
    assert repaired.exit_code == 0, repaired.output
    assert repaired.output == (
        "claimed 2 message ids that entries held without their claim; "
        "no message id is shared by two entries\n"
    )
    assert _count(store, AuditMessageId) == _count(store, AuditEntry) == 5
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and verified.output == "verified 5 entries in 1 writer chain\n"
    again = runner.invoke(args=["audit", "claim-ids"])
    assert again.exit_code == 0
    assert again.output.startswith("every entry's message id was already claimed;")
    # The guarantee holds again: the old entry's message id cannot be written a second time.
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message["messageId"] = old[1]
    with pytest.raises(IntegrityError):
        store.record(message, status=AuditStatus.PENDING, source="application")


def test_a_message_id_two_entries_share_is_named_not_merged(cli_app: Flask) -> None:
    store = _store(cli_app)
    claimed, unclaimed = record_pending(store, 2)
    unclaim(store, [unclaimed])
    copy_unclaimed(store, claimed, "old-host-1")
    copy_unclaimed(store, unclaimed, "old-host-2")
    with store.engine.connect() as connection:
        # The copy of a claimed id is covered by that claim: only the other id's two entries count.
        assert unclaimed_entries(connection) == 2
    runner = cli_app.test_cli_runner()
    for claims in (1, 0):  # a second run names the same ids
        result = runner.invoke(args=["audit", "claim-ids"])
        assert result.exit_code == 1, result.output
        *shared, summary = result.output.splitlines()
        assert sorted(line.split(":")[0] for line in shared) == sorted(
            f"message id {message_id}" for message_id in (claimed, unclaimed)
        )
        assert all(": 2 entries (writer " in line for line in shared)
        assert any("writer old-host-2 seq 1 recorded " in line for line in shared)
        assert "2 message ids shared by two or more entries" in summary
        assert summary.startswith(
            "claimed 1 message id that entries held" if claims else "every entry's message id was already"
        )
    assert _count(store, AuditEntry) == 4 and _count(store, AuditMessageId) == 2


def test_claiming_reads_every_partition(database_url: str) -> None:
    """The library's own functions, on entries in partitions months apart (PostgreSQL)."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    store = _store(app)
    ids = record_pending(store, 3)
    unclaim(store, ids)
    for months, message_id in enumerate(ids):
        move(store, message_id, datetime.now(UTC) - timedelta(days=31 * months))
    with store.engine.connect() as connection:
        assert unclaimed_entries(connection) == 3
    report = claim_missing(store.engine)
    assert (report.claimed, report.shared_count) == (3, 0)
    with store.engine.connect() as connection:
        assert unclaimed_entries(connection) == 0
    store.engine.dispose()
