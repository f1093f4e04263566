"""A naive `timestamp=` means what it means to the Segment client: no silent shift for code moving over.

The wrapper took every naive time as UTC, so `timestamp=datetime.now()` on a host in Tokyo was
audited and sent 9 hours in the future, while the bare client reads it as local time
(`segment.analytics.utils.guess_timezone`). The calls run in a real process under `TZ=Asia/Tokyo`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from analytics.audit import AuditEntry, create_audit_engine
from analytics.collector import Collector
from analytics.durations import as_utc

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import json, sys
from datetime import datetime

from segment.analytics import Client

import analytics
from analytics.catalog import CATALOG

analytics.init("test-key", host=sys.argv[1], database_url=sys.argv[2])
now = datetime.now()
long_ago = datetime(2026, 1, 2, 3, 4, 5, 678000)
track = analytics.track(CATALOG.event("ProjectCreate").example_spec(), timestamp=now)
identify = analytics.identify(CATALOG.identifier("Login").example_spec(), timestamp=long_ago)
analytics.shutdown()
# The bare client, given the same values in the same process.
bare = Client("key", send=False, thread=0)
print(json.dumps({
    "now": now.isoformat(),
    "track": track.message_id,
    "identify": identify.message_id,
    "bare_track": bare.track(user_id="1", event="e", timestamp=now)[1]["timestamp"],
    "bare_identify": bare.identify(user_id="1", timestamp=long_ago)[1]["timestamp"],
}))
"""


def _ms(moment: datetime) -> datetime:
    """The instant in UTC, to the millisecond the Segment client keeps."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def test_naive_timestamps_are_read_as_the_segment_client_reads_them(
    database_url: str, collector: Collector
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", PROGRAM, collector.url, database_url],
        env={**os.environ, "TZ": "Asia/Tokyo", "APP_ENV": "development"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    run = json.loads(child.stdout.strip().splitlines()[-1])
    # `datetime.now()` in Tokyo: local time, 9 hours ahead of UTC; an old naive time: UTC.
    expected = {
        run["track"]: _ms(datetime.fromisoformat(run["now"]).replace(tzinfo=ZoneInfo("Asia/Tokyo"))),
        run["identify"]: datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    }
    assert abs(expected[run["track"]] - datetime.now(UTC)) < timedelta(minutes=1)
    bare = {
        run["track"]: _ms(datetime.fromisoformat(run["bare_track"])),
        run["identify"]: _ms(datetime.fromisoformat(run["bare_identify"])),
    }
    assert bare == expected

    sent = {message["messageId"]: message["timestamp"] for message in collector.received()}
    assert set(sent) == set(expected)
    assert {key: _ms(datetime.fromisoformat(value)) for key, value in sent.items()} == expected
    assert sent[run["track"]].endswith("+09:00")

    engine = create_audit_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(AuditEntry.message_id, AuditEntry.timestamp)).all()
    finally:
        engine.dispose()
    assert {message_id: _ms(timestamp) for message_id, timestamp in rows} == expected
