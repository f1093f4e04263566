"""`python -m bench [--full] [--only caller|storage|tester|load] [--database sqlite|postgresql]`.

Prints one row per target and exits 1 if any row fails. The default sizes take a few minutes on
two cores; `--full` uses the issue's sizes (100k calls, 1M audit rows) and takes much longer.
The tester and load groups run the dashboard under gunicorn; the load group needs locust
(`pip install -e '.[bench]'`, which `make bench` does).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime

from bench import caller, load, storage, tester
from bench.harness import DATABASES, Row, markdown_table

SIZES = {False: (5_000, 200_000), True: (100_000, 1_000_000)}
# Tester sends per round-trip figure, and seconds of load.
ROUND_TRIPS = {False: 50, True: 200}
LOAD_SECONDS = {False: 20, True: 30}
GROUPS = ("caller", "storage", "tester", "load")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes: 100k calls, 1M rows")
    parser.add_argument("--only", choices=GROUPS, help="run one group of rows")
    parser.add_argument("--database", choices=tuple(DATABASES), action="append", help="repeatable")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, return the exit status."""
    arguments = _arguments(argv)
    calls, audit_rows = SIZES[arguments.full]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.platform()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · {calls:,} calls, {audit_rows:,} audit rows, "
        f"{ROUND_TRIPS[arguments.full]} tester sends, {LOAD_SECONDS[arguments.full]} s of load"
    )
    results: list[Row] = []
    groups = {
        "caller": (caller.rows, calls),
        "storage": (storage.rows, audit_rows),
        "tester": (tester.rows, ROUND_TRIPS[arguments.full]),
        "load": (load.rows, LOAD_SECONDS[arguments.full]),
    }
    chosen = [groups[arguments.only]] if arguments.only is not None else list(groups.values())
    for name in arguments.database or DATABASES:
        for measure, size in chosen:
            # A fresh database per group: the storage rows must not count the caller rows' entries.
            with DATABASES[name]() as url:
                results += measure(name, url, size)
    print(markdown_table(results))
    checked = [row for row in results if row.target is not None]
    failed = sum(not row.passed for row in checked)
    print(
        f"{len(checked) - failed} passed, {failed} failed "
        f"({len(results) - len(checked)} rows shown for comparison)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
