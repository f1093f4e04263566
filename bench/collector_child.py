"""The local collector in a process of its own; prints its URL, serves until stdin closes.

`bench.caller` posts to it from outside, as an application posts to Segment: the endpoint's own
work (parsing, de-duplicating) then runs beside the client's, not inside its interpreter, so the
throughput rows compare what the clients cost rather than what the collector costs.
"""

from __future__ import annotations

import sys

from analytics.collector import Collector


def main() -> None:
    """Serve until the parent closes our stdin."""
    # The counters are what is checked; keeping few messages keeps the collector's memory flat.
    with Collector(max_messages=1000) as collector:
        print(collector.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
