"""Four application processes of eight threads each write one audit database while it is read.

Each process is a real child (`sys.executable -c …`) that sends through its own `AnalyticsClient`
from eight threads into one SQLite file (WAL) or one PostgreSQL database, in either mode (strict:
every call commits its entry; batched: the audit writer commits for all threads), while the
dashboard, served in this process on the same database, keeps answering catalog and audit-search
requests.
Contention must cost time only: no "database is locked" (or any other error) in a receipt or a log,
no message lost or doubled in the log or at the collector, and every writer's chain intact.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
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

# One application process: a client on the shared database, the parent's go (so that the
# processes really overlap), THREADS threads sending, a flush, and a report of every receipt.
WRITER_PROGRAM = """
import json, os, sys, threading
import analytics
from analytics.scopes import ClusterScope
from analytics.tracks import ClusterProvisioningSuccess

number, threads, per_thread = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
client = analytics.init(os.environ["SEGMENT_WRITE_KEY"], host=os.environ["SEGMENT_HOST"],
                        database_url=os.environ["DATABASE_URL"], strict=sys.argv[4] == "strict")
sent, problems, lock = [], [], threading.Lock()

def send(thread):
    for n in range(per_thread):
        scope = ClusterScope(user_id=number, project_id=100 + number, cluster_id=thread * 1000 + n + 1)
        receipt = client.track(ClusterProvisioningSuccess(scope=scope, cluster_type="eks", infra_id=9))
        with lock:
            sent.append(receipt.message_id)
            if not receipt.ok or receipt.status != "pending":
                problems.append(f"{receipt.message_id}: {receipt.status} {receipt.error}")

sys.stdin.readline()
workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
analytics.shutdown()
print(json.dumps({"pid": os.getpid(), "sent": sent, "problems": problems}))
"""


def _start_writer(number: int, database_url: str, collector: Collector, mode: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "SEGMENT_WRITE_KEY": "concurrency-key",
        "AUDIT_CHAIN_KEY": CHAIN_KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_PROGRAM, str(number), str(THREADS), str(PER_THREAD), mode],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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
    writers = [_start_writer(number, database_url, collector, mode) for number in range(1, PROCESSES + 1)]
    answered: Counter[str] = Counter()
    try:
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        while any(writer.poll() is None for writer in writers):
            for path in READS:
                # "Responsive" is an answer, not a speed: the timeout only bounds a hung server.
                response = reader.get(f"{base}{path}", timeout=60)
                assert response.status_code == 200, f"{path}: {response.status_code}"
                answered[path] += 1
        outputs = [writer.communicate(timeout=240) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    for writer, (_, stderr) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, stderr
    # Any warning or error a writer logged (a locked database included) lands on its stderr.
    assert [stderr for _, stderr in outputs] == [""] * PROCESSES
    return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs], answered


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
