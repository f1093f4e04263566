"""`kill -9` in the middle of a burst: what the audit log holds, and what a replay makes of it.

A child process sends 20,000 events through `analytics.track` and writes down each call that
returned; the parent kills it with SIGKILL at a random moment (or stops it with SIGTERM, which
the child turns into a normal exit as the README shows). Then `event-catalog replay` runs
as an operator would run it after the crash, and:

- every message the audit log holds reaches the collector exactly once by `messageId`;
- in strict mode, every `track` that returned is in the log;
- in the default (batched) mode, what the log lacks is what was still queued for the audit writer:
  the test prints how many messages and how many milliseconds of calls that was (README
  "Performance" records the figures), and checks it stays within the writer's queue bound;
  stopped by SIGTERM turned into an exit, it lacks nothing that returned.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from analytics.audit import AuditEntry, create_audit_engine
from analytics.collector import Collector

BURST = 20_000
QUEUE_BOUND = 10_000
"""The child's `max_queue_size` (the Segment client's default): it bounds the writer's queue too."""

WRITE_KEY = "crash-key"
ENCRYPTION_KEY = Fernet.generate_key().decode()
"""Sealed personal data, so that replay can re-send the messages that carry some."""
NOTE_BYTES = 57
"""The length of one note line: a UUID, a time with microseconds, a flag."""

# One application: build the burst's specs, say so, then send and note each call that returned,
# with an unbuffered write, so that what the parent reads after the kill is what had returned.
CHILD_PROGRAM = """
import os, sys, time
import analytics
from analytics.catalog import CATALOG

mode, count, notes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if os.environ.get("EXIT_ON_SIGTERM"):  # the README's lines for a host that stops on SIGTERM
    import signal
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
analytics.init(WRITE_KEY, host=os.environ["SEGMENT_HOST"], database_url=os.environ["DATABASE_URL"],
               strict=mode == "strict", max_queue_size=QUEUE_BOUND)
events = list(CATALOG.events.values())
specs = [events[n % len(events)].example_spec() for n in range(count)]
out = os.open(notes, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
print("ready", flush=True)
for spec in specs:
    receipt = analytics.track(spec)
    os.write(out, f"{receipt.message_id} {time.time():.6f} {int(receipt.ok)}\\n".encode())
analytics.shutdown()
""".replace("QUEUE_BOUND", str(QUEUE_BOUND)).replace("WRITE_KEY", repr(WRITE_KEY))


@dataclass(frozen=True)
class Call:
    """One `track` call that returned before the kill."""

    message_id: str
    returned_at: float
    ok: bool


@pytest.fixture
def big_collector() -> Iterator[Collector]:
    """A collector that keeps every message of the burst (the default keeps 10,000)."""
    with Collector(max_messages=4 * BURST) as running:
        yield running


def _calls(notes: Path) -> list[Call]:
    lines = notes.read_text().split("\n")[:-1]  # the last line may be cut mid-write
    return [Call(i, float(t), ok == "1") for i, t, ok in (line.split() for line in lines)]


def _crash(
    mode: str,
    database_url: str,
    collector: Collector,
    notes: Path,
    kill_after: int,
    stop: signal.Signals = signal.SIGKILL,
) -> tuple[float, str]:
    """Run the child until `kill_after` calls returned and the log holds some, then send it `stop`
    (SIGTERM: which the child turns into an exit).

    Returns:
        The time of the kill, and what the child wrote to its standard error (its log).
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_HOST": collector.url,
        "AUDIT_ENCRYPTION_KEY": ENCRYPTION_KEY,
    }
    if stop is signal.SIGTERM:
        env["EXIT_ON_SIGTERM"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_PROGRAM, mode, str(BURST), str(notes)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        while not notes.exists() or notes.stat().st_size < kill_after * NOTE_BYTES:
            assert child.poll() is None, "the child finished before it could be killed"
            time.sleep(0.002)
        while not _logged_ids(database_url):
            assert child.poll() is None, "the child finished before it could be killed"
        os.kill(child.pid, stop)
        killed_at = time.time()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        _, errors = child.communicate()
    assert child.returncode == (0 if stop is signal.SIGTERM else -signal.SIGKILL), errors
    return killed_at, errors


def _logged_ids(database_url: str) -> set[str]:
    engine = create_audit_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(AuditEntry.message_id).where(AuditEntry.type == "track")))
    finally:
        engine.dispose()


def _replay(database_url: str, collector: Collector) -> None:
    """`event-catalog replay` as an operator runs it after a crash: everything pending is stuck."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SEGMENT_WRITE_KEY": WRITE_KEY,
        "SEGMENT_HOST": collector.url,
        "AUDIT_ENCRYPTION_KEY": ENCRYPTION_KEY,
    }
    time.sleep(1.1)  # the shortest threshold there is: one second
    command = [str(Path(sys.executable).parent / "event-catalog"), "replay", "--stuck-after", "1s"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout + finished.stderr


def _assert_log_reached_the_collector_once(database_url: str, collector: Collector) -> set[str]:
    logged = _logged_ids(database_url)
    received = [entry.message["messageId"] for entry in collector.entries()]
    assert len(received) == len(set(received)), "the collector stored a messageId twice"
    assert set(received) == logged
    return logged


def test_strict_mode_every_returned_call_is_in_the_log_and_replay_delivers_it_once(
    database_url: str, big_collector: Collector, tmp_path: Path
) -> None:
    notes = tmp_path / "returned.txt"
    # Strict mode commits once per call: the kill comes within its first few seconds.
    _, log = _crash("strict", database_url, big_collector, notes, kill_after=random.randint(200, 1500))
    calls = _calls(notes)
    _replay(database_url, big_collector)
    logged = _assert_log_reached_the_collector_once(database_url, big_collector)
    returned = {call.message_id for call in calls if call.ok}
    assert len(returned) == len(calls) > 0
    assert returned <= logged, log
    # At most the one call that was inside its commit when the process died is in the log only.
    assert len(logged - returned) <= 1


def test_batched_mode_loses_only_what_was_queued_and_replay_delivers_the_log_once(
    database_url: str, big_collector: Collector, tmp_path: Path
) -> None:
    notes = tmp_path / "returned.txt"
    killed_at, _ = _crash(
        "batched", database_url, big_collector, notes, kill_after=random.randint(1000, 15_000)
    )
    calls = _calls(notes)
    _replay(database_url, big_collector)
    logged = _assert_log_reached_the_collector_once(database_url, big_collector)
    lost = [call for call in calls if call.message_id not in logged]
    assert calls and logged
    assert len(lost) <= QUEUE_BOUND + 500  # the writer's queue and the batch it was committing
    window_ms = (killed_at - min(call.returned_at for call in lost)) * 1000 if lost else 0.0
    print(
        f"\n[{database_url.split(':')[0]}] kill -9 after {len(calls):,} returned calls: "
        f"{len(logged):,} in the log, {len(lost):,} lost ({window_ms:.0f} ms of calls)"
    )


def test_batched_mode_stopped_by_sigterm_turned_into_an_exit_loses_nothing_that_returned(
    database_url: str, big_collector: Collector, tmp_path: Path
) -> None:
    """Docker, Kubernetes and systemd stop with SIGTERM, which by default ends Python as `kill -9`
    does; exiting on it instead lets the audit writer drain its queue at exit (README)."""
    notes = tmp_path / "returned.txt"
    _, log = _crash(
        "batched",
        database_url,
        big_collector,
        notes,
        kill_after=random.randint(1000, 15_000),
        stop=signal.SIGTERM,
    )
    calls = _calls(notes)
    _replay(database_url, big_collector)
    logged = _assert_log_reached_the_collector_once(database_url, big_collector)
    returned = {call.message_id for call in calls}
    assert returned, log
    assert returned <= logged, (
        f"{len(returned - logged)} returned calls not in the log; the child's log:\n{log}"
    )
