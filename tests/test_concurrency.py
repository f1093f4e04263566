"""Four application processes of eight threads each write one audit database while it is read.

Each process is a real child (`tests/app_hosts.py`) that sends through its own `AnalyticsClient`
from eight threads into one SQLite file (WAL) or one PostgreSQL database, in either mode (strict:
every call commits its entry; batched: the audit writer commits for all threads), while the
dashboard, served in this process on the same database, keeps answering catalog and audit-search
requests.
Contention must cost time only: no "database is locked" (or any other error) in a receipt or a log,
no message lost or doubled in the log or at the collector, and every writer's chain intact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from app_hosts import Hosts
from flask import Flask
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStatus, Source, create_audit_engine
from analytics.collector import Collector
from analytics.integrity import verify
from webapp import create_app
from webapp.auth.proxies import parse_networks
from webapp.auth.roles import Role

PROCESSES = 4
THREADS = 8
PER_THREAD = 150
"""4 processes × 8 threads × 150 = 4,800 messages: a minute of contention on two cores, not more."""

CHAIN_KEY = "concurrency-chain-key"
READER = "ops@example.com"

# Pages the dashboard serves while the writers run: the catalog (which joins the registry with
# audit counts) and an audit search (indexed filters, newest page first).
READS = ("/", "/audit/?project=102&event=Cluster+Provisioning+Success")


def _dashboard(database_url: str, collector: Collector) -> Flask:
    """The dashboard on the writers' database, signing its reader in through a trusted proxy header."""
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SEGMENT_WRITE_KEY": "concurrency-key",
            "SEGMENT_HOST": collector.url,
            "AUDIT_CHAIN_KEY": CHAIN_KEY,
            "AUTH_MODE": "proxy",
            "TRUSTED_PROXIES": parse_networks("127.0.0.1"),
            "PROXY_DEFAULT_ROLE": Role.ADMIN,
        }
    )


def _write_while_reading(
    database_url: str, collector: Collector, base: str, mode: str
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Run the writers at once while reading the dashboard; their reports and the reads answered."""
    reader = requests.Session()
    reader.headers["X-Forwarded-Email"] = READER
    answered: Counter[str] = Counter()

    def read() -> None:
        for path in READS:
            # "Responsive" is an answer, not a speed: the timeout only bounds a hung server.
            response = reader.get(f"{base}{path}", timeout=60)
            assert response.status_code == 200, f"{path}: {response.status_code}"
            answered[path] += 1

    environment = {
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "SEGMENT_WRITE_KEY": "concurrency-key",
        "AUDIT_CHAIN_KEY": CHAIN_KEY,
    }
    return Hosts(PROCESSES, THREADS, PER_THREAD, mode, environment).run(read), answered


@pytest.mark.parametrize("mode", ["strict", "batched"])
def test_four_processes_of_eight_threads_lose_nothing_while_the_dashboard_answers(
    mode: str,
    database_url: str,
    collector: Collector,
    serve: Callable[[Flask], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _dashboard(database_url, collector)
    reports, answered = _write_while_reading(database_url, collector, serve(app), mode)

    assert set(answered) == set(READS), "the dashboard was read while the writers ran"
    logged = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert logged == [], "the dashboard logged no warning or error while serving"
    assert [report["problems"] for report in reports] == [[]] * PROCESSES
    sent = [message_id for report in reports for message_id in report["sent"]]
    assert len(sent) == len(set(sent)) == PROCESSES * THREADS * PER_THREAD

    engine = create_audit_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(AuditEntry.message_id, AuditEntry.status, AuditEntry.writer_id).where(
                    AuditEntry.source == Source.APPLICATION
                )
            ).all()
        # One entry per call, none doubled, each delivered after the writers' flush.
        assert Counter(row.message_id for row in rows) == Counter(sent)
        assert Counter(row.status for row in rows) == {AuditStatus.DELIVERED: len(sent)}
        # Each process wrote through its own writers, never through another's chain.
        by_message = {row.message_id: row.writer_id for row in rows}
        chains = [{by_message[message_id] for message_id in report["sent"]} for report in reports]
        for report, writers in zip(reports, chains, strict=True):
            assert all(f":{report['pid']}:" in writer for writer in writers)

        # The collector, standing in for Segment, received every message exactly once.
        assert Counter(message["messageId"] for message in collector.received()) == Counter(sent)
        assert collector.stats.duplicates == 0

        # Every chain verifies: the writers' and the dashboard's own (its reader's account).
        integrity = verify(engine, CHAIN_KEY.encode())
        assert integrity.findings == []
        assert set(integrity.heads) > set.union(*chains)
    finally:
        engine.dispose()
        from webapp.extensions import db

        with app.app_context():
            db.engine.dispose()
