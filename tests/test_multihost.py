"""Several application "hosts" writing through `analytics` into one database at once.

The deployment the README describes: application processes on several hosts share one audit
database, each with its own writers (`analytics.chain`), while the collector plays Segment. Each
host here is a real child process (`sys.executable -c …`) sending from several threads, while the
dashboard (the image's start script, two gunicorn workers) reads the same log; nothing may be lost,
duplicated or break a chain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import requests
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

# One application host: init against the shared database, wait for the parent's go (so that the
# hosts really overlap), send from THREADS threads, flush, and print what it sent.
HOST_PROGRAM = """
import json, os, sys, threading
import analytics
from analytics.scopes import ClusterScope
from analytics.tracks import ClusterProvisioningSuccess

host, threads, per_thread = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
analytics.init(os.environ["SEGMENT_WRITE_KEY"], host=os.environ["SEGMENT_HOST"],
               database_url=os.environ["DATABASE_URL"])
sent, problems, lock = [], [], threading.Lock()

def send(thread):
    for number in range(per_thread):
        scope = ClusterScope(user_id=host, project_id=100 + host, cluster_id=thread * 1000 + number + 1)
        receipt = analytics.track(ClusterProvisioningSuccess(scope=scope, cluster_type="eks", infra_id=9))
        with lock:
            if receipt.ok:
                sent.append(receipt.message_id)
            else:
                problems.append(str(receipt.error))

sys.stdin.readline()
workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
analytics.shutdown()
print(json.dumps({"pid": os.getpid(), "sent": sent, "problems": problems}))
"""


def _start_host(number: int, database_url: str, collector: Collector) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "SEGMENT_WRITE_KEY": "multihost-key",
        "AUDIT_CHAIN_KEY": CHAIN_KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-c", HOST_PROGRAM, str(number), str(THREADS), str(PER_THREAD)],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_hosts(
    database_url: str, collector: Collector, reader: requests.Session, base: str
) -> list[tuple[str, str]]:
    """Run the hosts at once while the dashboard keeps reading the log; their stdout and stderr."""
    hosts = [_start_host(number, database_url, collector) for number in range(1, HOSTS + 1)]
    try:
        for host in hosts:
            assert host.stdin is not None
            host.stdin.write("go\n")
            host.stdin.flush()
        while any(host.poll() is None for host in hosts):
            for path in ("/audit/?project=101", "/health"):
                assert reader.get(f"{base}{path}", timeout=30).status_code == 200
        outputs = [host.communicate(timeout=240) for host in hosts]
        for host, (_, stderr) in zip(hosts, outputs, strict=True):
            assert host.returncode == 0, stderr
        return outputs
    finally:
        for host in hosts:
            if host.poll() is None:
                host.kill()
                host.communicate()


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
        outputs = _run_hosts(database_url, collector, reader, base)
        # Every request a worker answers sees the whole log: both workers agree once writing ends.
        for _ in range(6):
            for number in range(1, HOSTS + 1):
                page = reader.get(f"{base}/audit/?project={100 + number}&status=delivered", timeout=30)
                assert f"{THREADS * PER_THREAD:,} entries</strong>" in page.text
            health = reader.get(f"{base}/health", timeout=30).text
            assert (
                "100.0&nbsp;%" in health and f"{HOSTS * THREADS * PER_THREAD} delivered, 0 failed" in health
            )
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert [stderr for _, stderr in outputs] == ["", ""]
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
