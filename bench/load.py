"""The dashboard under gunicorn serving a short bounded load from locust on loopback: no errors allowed.

The database is migrated and holds `SEEDED` audit entries; the load is `bench/locustfile.py` (signed-in
people reading the catalog and the audit log, and sending through the tester to the local collector)
run headless for a fixed number of seconds. The row's figures are requests (baseline) and failed
requests, non-2xx answers and exceptions alike (ours), so it passes only when nothing failed;
requests/s and p95 per kind of request are printed beside it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics.audit import create_audit_engine
from analytics.collector import Collector
from bench import storage
from bench.dashboard import EMAIL, PASSWORD, ROOT, served
from bench.harness import Row

SEEDED = storage.SMALL
USERS = 8
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class Kind:
    """Locust's figures for one kind of request (or `Aggregated`, all of them)."""

    name: str
    requests: int
    failures: int
    rate: float
    p95_ms: float


@dataclass(frozen=True)
class LoadRun:
    """What one locust run measured: figures per kind, and the exceptions its tasks raised."""

    kinds: list[Kind]
    exceptions: int

    @property
    def total(self) -> Kind:
        """The figures over every request."""
        return next(kind for kind in self.kinds if kind.name == AGGREGATED)

    @property
    def errors(self) -> int:
        """Failed requests plus exceptions."""
        return self.total.failures + self.exceptions


def _read(prefix: Path) -> LoadRun:
    with open(f"{prefix}_stats.csv", newline="") as stats:
        kinds = [
            Kind(
                row["Name"],
                int(row["Request Count"]),
                int(row["Failure Count"]),
                float(row["Requests/s"]),
                float(row["95%"]) if row["95%"] != "N/A" else 0.0,
            )
            for row in csv.DictReader(stats)
        ]
    with open(f"{prefix}_exceptions.csv", newline="") as exceptions:
        raised = sum(int(row["Count"]) for row in csv.DictReader(exceptions))
    return LoadRun(kinds, raised)


def run_locust(url: str, seconds: int, folder: Path) -> LoadRun:
    """Locust headless against `url` for `seconds`; its failures are read back, not its exit status."""
    prefix = folder / "locust"
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"),
        *("--host", url, "--users", str(USERS), "--spawn-rate", str(USERS)),
        *("--run-time", f"{seconds}s", "--stop-timeout", "10", "--csv", str(prefix)),
        *("--loglevel", "WARNING"),
    ]
    environment = {**os.environ, "BENCH_EMAIL": EMAIL, "BENCH_PASSWORD": PASSWORD}
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust wrote no statistics (status {done.returncode}):\n{done.stderr[-2000:]}")
    return _read(prefix)


def rows(database: str, database_url: str, seconds: int) -> list[Row]:
    """The load row on one database: every request must succeed."""
    engine = create_audit_engine(database_url)
    storage.seed(engine, SEEDED, datetime.now(UTC))
    engine.dispose()
    with (
        Collector(max_messages=1000) as collector,
        served(database_url, collector.url) as url,
        tempfile.TemporaryDirectory(prefix="ec-bench-load-") as folder,
    ):
        run = run_locust(url, seconds, Path(folder))
    for kind in run.kinds:
        name = "all requests" if kind.name == AGGREGATED else kind.name
        print(
            f"  [{database}] {name}: {kind.requests:,} requests, {kind.failures} failed, "
            f"{kind.rate:,.1f} req/s, p95 {kind.p95_ms:,.0f} ms"
        )
    if run.exceptions:
        print(f"  [{database}] {run.exceptions} exceptions in locust's tasks")
    total = run.total
    return [
        Row(
            f"dashboard under gunicorn, {USERS} users for {seconds} s over {SEEDED:,} audit rows: "
            f"failed / all requests ({total.rate:,.1f} req/s, p95 {total.p95_ms:,.0f} ms) [{database}]",
            float(total.requests),
            float(run.errors),
            "requests",
            0.0,
        )
    ]
