"""`python -m bench [--full] [--only caller|storage] [--database sqlite|postgresql]`.

Prints one row per target and exits 1 if any row fails. The default sizes take a few minutes on
two cores; `--full` uses the issue's sizes (100k calls, 1M audit rows) and takes much longer.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime

from bench import caller, storage
from bench.harness import DATABASES, Row, markdown_table

SIZES = {False: (5_000, 200_000), True: (100_000, 1_000_000)}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes: 100k calls, 1M rows")
    parser.add_argument("--only", choices=("caller", "storage"), help="run one group of rows")
    parser.add_argument("--database", choices=tuple(DATABASES), action="append", help="repeatable")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, return the exit status."""
    arguments = _arguments(argv)
    calls, audit_rows = SIZES[arguments.full]
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.platform()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · {calls:,} calls, {audit_rows:,} audit rows"
    )
    results: list[Row] = []
    groups = [(caller.rows, calls), (storage.rows, audit_rows)]
    if arguments.only is not None:
        groups = groups[:1] if arguments.only == "caller" else groups[1:]
    for name in arguments.database or DATABASES:
        for measure, size in groups:
            # A fresh database per group: the storage rows must not count the caller rows' entries.
            with DATABASES[name]() as url:
                results += measure(name, url, size)
    print(markdown_table(results))
    failed = sum(not row.passed for row in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
