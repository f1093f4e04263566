"""What every benchmark shares: rows of results, percentiles, and throwaway databases."""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The PostgreSQL server the audit rows also run on; a database is created and dropped per run."""


@dataclass(frozen=True)
class Row:
    """One target: what was measured, the baseline, ours, and whether the ratio meets the target.

    Attributes:
        what: the measurement, with the database it ran on.
        baseline: the baseline figure (same unit as `ours`).
        ours: our figure.
        unit: the figures' unit.
        target: the bound on `ours / baseline`; None for a row printed for comparison only.
        higher_is_better: whether the ratio must be at least (True) or at most (False) `target`.
    """

    what: str
    baseline: float
    ours: float
    unit: str
    target: float | None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float:
        """`ours / baseline`."""
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def passed(self) -> bool:
        """Whether the ratio meets the target (a row without one always does)."""
        if self.target is None:
            return True
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def cells(self) -> list[str]:
        """The row as table cells."""
        bound = "≥" if self.higher_is_better else "≤"
        return [
            self.what,
            f"{self.baseline:,.3f} {self.unit}",
            f"{self.ours:,.3f} {self.unit}",
            f"{self.ratio:.2f}×",
            "—" if self.target is None else f"{bound} {self.target}×",
            "shown" if self.target is None else "PASS" if self.passed else "FAIL",
        ]


HEADER = ["what", "baseline", "ours", "ratio", "target", "result"]


def markdown_table(rows: list[Row]) -> str:
    """The rows as a Markdown table, the form RESULTS.md keeps."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 for the median, 0.99 for p99)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(samples: list[float]) -> float:
    """The median of the samples."""
    return statistics.median(samples)


def timed(action: Callable[[], Any]) -> float:
    """Seconds one call of `action` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def migrate(database_url: str) -> None:
    """Apply every migration, as `event-catalog db upgrade` does."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    logging.disable(logging.INFO)  # Alembic's per-revision lines would bury the table.
    try:
        with app.app_context():
            upgrade()
            db.engine.dispose()
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    """A migrated SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as folder:
        path = Path(folder) / "audit.db"
        path.touch()  # a new file on purpose: `db upgrade` warns of one it makes, for a mistyped path
        url = f"sqlite:///{path}"
        migrate(url)
        yield url


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A migrated database on the PostgreSQL server, uniquely named, dropped afterwards."""
    name = f"ec_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        migrate(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


DATABASES: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "sqlite": sqlite_database,
    "postgresql": postgres_database,
}
"""Every audit row runs on each of these."""
