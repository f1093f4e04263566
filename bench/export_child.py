"""One NDJSON export of the whole log to /dev/null; prints rows, seconds and peak RSS as JSON.

Run as a child process by `bench.storage`, so that the peak RSS measured is the export's alone.
"""

from __future__ import annotations

import json
import os
import resource
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": seconds, "max_rss_kib": peak}))


if __name__ == "__main__":
    main(sys.argv[1])
