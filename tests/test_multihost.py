"""Several application "hosts" writing through `analytics` into one database at once.

The deployment the README describes: application processes on several hosts share one audit
database, each with its own writers (`analytics.chain`), while the collector plays Segment. Each
host here is a real child process (`tests/app_hosts.py`) sending from several threads, while the
dashboard (the image's start script, two gunicorn workers) reads the same log; nothing may be lost,
duplicated or break a chain.
"""

from __future__ import annotations

from collections import Counter

import requests
from app_hosts import Hosts
from dashboard_server import running_dashboard
from sqlalchemy import select

from analytics.audit import AuditEntry, AuditStatus, create_audit_engine
from analytics.collector import Collector
from analytics.integrity import verify

HOSTS = 2
THREADS = 4
PER_THREAD = 75
"""2 hosts × 4 threads × 75 = 300 events per host, 600 in all."""

CHAIN_KEY = "multihost-chain-key"


def _hosts(database_url: str, collector: Collector) -> Hosts:
    environment = {
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "SEGMENT_WRITE_KEY": "multihost-key",
        "AUDIT_CHAIN_KEY": CHAIN_KEY,
    }
    return Hosts(HOSTS, THREADS, PER_THREAD, "batched", environment)


def _keep_reading(reader: requests.Session, base: str) -> None:
    for path in ("/audit/?project=101", "/health"):
        assert reader.get(f"{base}{path}", timeout=30).status_code == 200


def test_two_hosts_and_two_dashboard_workers_share_one_database(
    database_url: str, collector: Collector
) -> None:
    reader = requests.Session()
    # Through a sign-in proxy the dashboard trusts, an admin (the proxy's first user) reads the log.
    reader.headers["X-Forwarded-Email"] = "ops@example.com"
    with running_dashboard(
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="2",
        AUTH_MODE="proxy",
        TRUSTED_PROXIES="127.0.0.1",
        PROXY_DEFAULT_ROLE="admin",
        AUDIT_CHAIN_KEY=CHAIN_KEY,
    ) as base:
        reports = _hosts(database_url, collector).run(lambda: _keep_reading(reader, base))
        # Every request a worker answers sees the whole log: both workers agree once writing ends.
        for _ in range(6):
            for number in range(1, HOSTS + 1):
                page = reader.get(f"{base}/audit/?project={100 + number}&status=delivered", timeout=30)
                assert f"{THREADS * PER_THREAD:,} entries</strong>" in page.text
            health = reader.get(f"{base}/health", timeout=30).text
            assert (
                "100.0&nbsp;%" in health and f"{HOSTS * THREADS * PER_THREAD} delivered, 0 failed" in health
            )
    assert [report["problems"] for report in reports] == [[], []]
    assert [len(report["sent"]) for report in reports] == [THREADS * PER_THREAD] * HOSTS
    sent = [message_id for report in reports for message_id in report["sent"]]
    assert len(set(sent)) == len(sent) == HOSTS * THREADS * PER_THREAD

    engine = create_audit_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    AuditEntry.message_id, AuditEntry.status, AuditEntry.writer_id, AuditEntry.project_id
                ).where(AuditEntry.type == "track")
            ).all()
        # Every message audited exactly once, delivered, by a writer of the process that sent it.
        assert sorted(row.message_id for row in rows) == sorted(sent)
        assert Counter(row.status for row in rows) == {AuditStatus.DELIVERED: len(sent)}
        by_message = {row.message_id: row for row in rows}
        writers_of = []
        for number, report in enumerate(reports, start=1):
            writers = {by_message[message_id].writer_id for message_id in report["sent"]}
            assert all(f":{report['pid']}:" in writer for writer in writers)
            assert {by_message[message_id].project_id for message_id in report["sent"]} == {100 + number}
            writers_of.append(writers)
        assert not writers_of[0] & writers_of[1]

        # Segment (the collector) received each message exactly once.
        received = Counter(message["messageId"] for message in collector.received())
        assert received == Counter(sent)
        assert collector.stats.duplicates == 0

        # Every writer's chain is intact, across both hosts.
        report = verify(engine, CHAIN_KEY.encode())
        assert report.findings == []
        # The dashboard's own records (the proxy user's account) are chained by its writers too.
        assert report.entries > len(sent)
        assert set(report.heads) > writers_of[0] | writers_of[1]
    finally:
        engine.dispose()
