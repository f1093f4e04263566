"""One NDJSON export of the whole log to /dev/null; prints rows, seconds and peak RSS as JSON.

Run as a child process by `bench.storage`, so that the peak RSS measured is the export's alone.
"""

from __future__ import annotations

import json
import os
import sys
import time

from analytics.audit import create_audit_engine
from analytics.export import Export, ExportFormat
from analytics.queries import AuditFilter


def main(database_url: str) -> None:
    """Export, then report on stdout."""
    engine = create_audit_engine(database_url)
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as out:
        rows = Export(engine, AuditFilter(), ExportFormat.NDJSON).write_to(out)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "max_rss_kib": _peak_rss_kib()}))


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM).

    Not getrusage's ru_maxrss: Linux carries that over from the parent through fork and exec, so a
    child of a bench process that had grown to 400 MiB reported 400 MiB whatever the export used.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


if __name__ == "__main__":
    main(sys.argv[1])
