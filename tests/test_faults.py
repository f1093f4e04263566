"""Collector faults through the real Segment client: every message fired is accounted for.

The collector answers 500s, throttles with `Retry-After`, stalls past the client's timeout and goes
down, then comes back; a replay follows. Each message must end delivered (and have reached the
collector, by `messageId`) or carry the reason it was not, in its entry and its delivery attempts.
Budgets are small so the whole story takes seconds, not the client's default hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from analytics import AnalyticsClient
from analytics.audit import AuditEntry, AuditStatus, AuditStore, DeliveryAttempt
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.replay import Candidate, ReplaySelection, open_replay_client, replay

BUDGETS: dict[str, Any] = {
    "upload_interval": 0.05,
    "upload_size": 10,
    "max_retries": 1,
    "timeout": 0.5,
    "max_total_backoff_duration": 2,
    "max_rate_limit_duration": 3,
}
PER_PHASE = 25


def _fire(client: AnalyticsClient, count: int) -> list[str]:
    events = list(CATALOG.events.values())
    return [client.track(events[n % len(events)].example_spec()).message_id for n in range(count)]


def _statuses(store: AuditStore, message_ids: list[str]) -> dict[str, AuditEntry]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(AuditEntry).where(AuditEntry.message_id.in_(message_ids)))
        return {row.message_id: row for row in rows}


def _attempt_errors(store: AuditStore, message_ids: list[str]) -> dict[str, list[str]]:
    query = select(DeliveryAttempt.message_id, DeliveryAttempt.error).where(
        DeliveryAttempt.message_id.in_(message_ids), DeliveryAttempt.error.is_not(None)
    )
    errors: dict[str, list[str]] = {}
    with store.engine.connect() as connection:
        for message_id, error in connection.execute(query):
            errors.setdefault(message_id, []).append(error)
    return errors


def _phase(client: AnalyticsClient, fault: Callable[[], None], undo: Callable[[], None]) -> list[str]:
    fault()
    try:
        fired = _fire(client, PER_PHASE)
        client.flush()
    finally:
        undo()
    return fired


def test_faults_then_recovery_and_replay_account_for_every_message(
    store: AuditStore, collector: Collector
) -> None:
    port = int(collector.url.rsplit(":", 1)[1])
    client = AnalyticsClient("test-key", store=store, host=collector.url, **BUDGETS)

    def restart() -> None:
        collector.port = port
        collector.start()

    try:
        fired = _fire(client, PER_PHASE)
        client.flush()
        fired += _phase(client, lambda: collector.inject(500, times=1000), collector.clear_faults)
        fired += _phase(
            client, lambda: collector.inject(429, retry_after=5, times=1000), collector.clear_faults
        )
        # A throttle that lifts within the budget costs a wait, not a message.
        fired += _phase(client, lambda: collector.inject(429, retry_after=1), collector.clear_faults)
        # The collector keeps what it answers late: the client gave up, yet those did arrive.
        stalled = _phase(client, lambda: collector.inject(latency=1.5, times=1000), collector.clear_faults)
        fired += stalled
        fired += _phase(client, collector.stop, restart)
        fired += _fire(client, PER_PHASE)
        client.flush()
    finally:
        client.shutdown()

    before = _statuses(store, fired)
    assert len(before) == len(fired) == len(set(fired)), "every message fired was audited once"
    by_status = Counter(entry.status for entry in before.values())
    assert by_status[AuditStatus.PENDING] == 0
    assert sum(by_status.values()) == len(fired)
    not_delivered = [mid for mid, entry in before.items() if entry.status != AuditStatus.DELIVERED]
    explained = _attempt_errors(store, not_delivered)
    for message_id in not_delivered:
        assert before[message_id].error, f"{message_id} is {before[message_id].status} without a reason"
        assert explained.get(message_id), f"{message_id} has no attempt saying why"
    reasons = " | ".join(entry.error or "" for entry in before.values())
    assert "500" in reasons, "the 500s were recorded as such"
    assert "Rate limit duration exceeded" in reasons, "the long throttle dropped batches, with its reason"
    assert "Timeout" in reasons, "the stalled collector timed requests out"
    assert "ConnectionError" in reasons, "the collector being down was recorded"
    assert by_status[AuditStatus.DROPPED] and by_status[AuditStatus.FAILED]

    # No AUDIT_ENCRYPTION_KEY: entries holding personal data were stored masked only, so the
    # replay must skip them (never send a mask as an email) and say so; the rest it re-sends.
    skipped: dict[str, str] = {}

    def note(candidate: Candidate) -> None:
        if candidate.skip_reason is not None:
            skipped[candidate.message_id] = candidate.skip_reason

    replayer = open_replay_client(store, "test-key", collector.url, actor="ops@example.com")
    try:
        report = replay(
            store,
            replayer,
            ReplaySelection(statuses=(AuditStatus.FAILED, AuditStatus.DROPPED)),
            on_candidate=note,
        )
    finally:
        replayer.shutdown()
    assert report.selected == len(not_delivered)
    assert skipped and all("personal data" in reason for reason in skipped.values())

    after = _statuses(store, fired)
    delivered = {mid for mid, entry in after.items() if entry.status == AuditStatus.DELIVERED}
    left = {mid: entry for mid, entry in after.items() if entry.status != AuditStatus.DELIVERED}
    assert len(delivered) + len(left) == len(fired)
    assert set(left) == set(skipped), "what is still not delivered is exactly what replay explained"
    assert all(entry.error for entry in left.values()), "and keeps the reason it was not delivered"
    received = Counter(message["messageId"] for message in collector.received())
    assert delivered <= set(received), "every delivered message reached the collector"
    assert collector.stats.duplicates > 0, "stalled messages that did arrive were re-sent and de-duplicated"
    assert not set(left) & set(received) - set(stalled), "nothing undelivered arrived, bar stalled ones"
