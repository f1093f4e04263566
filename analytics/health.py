"""Delivery health per destination, read off the audit log: success rate, backlog, latest errors.

An operator's first questions when analytics look wrong are "is the endpoint taking our messages?",
"is anything piling up?" and "what did it answer?". Each is one grouped statement here, by
`AuditEntry.destination` (None for the application's own client, `name:key-fingerprint` for a tester
destination), never one query per destination:

- `outcome_counts`: messages recorded in the window, per destination and status (served by
  `ix_audit_entries_recorded_at_id`);
- `may_have_arrived_counts`: the window's failed or dropped messages of which an attempt (the latest
  or an earlier one) got no HTTP answer in a way that leaves open that the endpoint has them, per
  destination (`analytics.queries.may_have_arrived_entries`,
  the audit search's `outcome=may_have_arrived`; served by `ix_audit_entries_status_recorded_at`): a
  read timeout, or a connection closed after the request went out, is failed, but the endpoint may
  have the message, so "failed" is split into "no answer, may have arrived" and "refused or never
  arrived";
- `backlog_counts`: every `pending` entry, however old, and how many of them are stuck (served by
  `ix_audit_entries_status_recorded_at`);
- `latest_errors`: the newest failed or dropped delivery attempts of each destination, with the
  endpoint's HTTP status and error text and what became of their entries since (a window
  function, so the busiest destination cannot crowd the others out).

The rate is delivered / (delivered + failed + dropped): `pending` is not an outcome yet and
`disabled` was never meant to be sent. It counts what the endpoint confirmed; the failures that may
have arrived all the same give its upper bound (`arrived_at_most`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from analytics.audit import FAILED_OUTCOMES, MESSAGE_TYPES, AuditEntry, AuditStatus, DeliveryAttempt
from analytics.queries import may_have_arrived_entries
from analytics.replay import stuck_clause

ERRORS_PER_DESTINATION = 5
"""How many of a destination's latest errors the health page lists."""


def outcome_counts(since: datetime) -> Select[str | None, str, int]:
    """Messages recorded since `since`, counted per destination and status."""
    return (
        select(AuditEntry.destination, AuditEntry.status, func.count().label("count"))
        .where(AuditEntry.recorded_at >= since, AuditEntry.type.in_(MESSAGE_TYPES))
        .group_by(AuditEntry.destination, AuditEntry.status)
    )


def may_have_arrived_counts(since: datetime) -> Select[str | None, int]:
    """Failed messages recorded since `since` that may have arrived all the same, per destination:
    the entries the audit search's `outcome=may_have_arrived` lists for the window."""
    return (
        select(AuditEntry.destination, func.count().label("count"))
        .where(
            AuditEntry.recorded_at >= since,
            AuditEntry.type.in_(MESSAGE_TYPES),
            may_have_arrived_entries(),
        )
        .group_by(AuditEntry.destination)
    )


def backlog_counts(now: datetime, stuck_after: timedelta) -> Select[str | None, int, int | None]:
    """Every `pending` message per destination, and how many have been pending past `stuck_after`."""
    return (
        select(
            AuditEntry.destination,
            func.count().label("pending"),
            func.sum(case((stuck_clause(now, stuck_after), 1), else_=0)).label("stuck"),
        )
        .where(AuditEntry.status == AuditStatus.PENDING, AuditEntry.type.in_(MESSAGE_TYPES))
        .group_by(AuditEntry.destination)
    )


def latest_errors(since: datetime, per_destination: int = ERRORS_PER_DESTINATION) -> Select[Any]:
    """The newest failed or dropped attempts since `since`, at most `per_destination` per destination.

    Attempts carry the endpoint's answer and error body as the client recorded them; the write
    key is never part of an attempt (destinations are named by fingerprint).
    """
    ranked = (
        select(
            AuditEntry.destination,
            DeliveryAttempt.message_id,
            DeliveryAttempt.attempted_at,
            DeliveryAttempt.outcome,
            DeliveryAttempt.http_status,
            DeliveryAttempt.error,
            AuditEntry.status,
            func.row_number()
            .over(
                partition_by=AuditEntry.destination,
                order_by=(DeliveryAttempt.attempted_at.desc(), DeliveryAttempt.id.desc()),
            )
            .label("rank"),
        )
        .join(AuditEntry, AuditEntry.message_id == DeliveryAttempt.message_id)
        .where(DeliveryAttempt.attempted_at >= since, DeliveryAttempt.outcome.in_(FAILED_OUTCOMES))
        .subquery()
    )
    return (
        select(
            ranked.c.destination,
            ranked.c.message_id,
            ranked.c.attempted_at,
            ranked.c.outcome,
            ranked.c.http_status,
            ranked.c.error,
            ranked.c.status,
        )
        .where(ranked.c.rank <= per_destination)
        .order_by(ranked.c.attempted_at.desc())
    )


@dataclass(frozen=True)
class DeliveryError:
    """One failed or dropped attempt, as the health page lists it, with its entry's status now
    (`delivered` once a retry or a re-send got through: the error is history, not a backlog)."""

    message_id: str
    attempted_at: datetime
    outcome: str
    http_status: int | None
    error: str | None
    status_now: str


@dataclass
class DestinationHealth:
    """What the audit log says about one destination.

    Attributes:
        destination: `AuditEntry.destination`: None for the application's own client.
        counts: messages recorded in the window, by status.
        may_have_arrived: the window's failed messages that got no answer in a way that leaves
            open that the endpoint has them: a read timeout, or a connection closed after the
            request went out (`may_have_arrived_counts`).
        pending: every message still `pending`, whenever recorded.
        stuck: those pending for longer than the stuck threshold.
        errors: the latest failed or dropped attempts in the window, newest first.
    """

    destination: str | None
    counts: dict[str, int] = field(default_factory=dict)
    may_have_arrived: int = 0
    pending: int = 0
    stuck: int = 0
    errors: list[DeliveryError] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.counts.get(AuditStatus.DELIVERED, 0)

    @property
    def not_delivered(self) -> int:
        """Failed and dropped messages of the window."""
        return sum(self.counts.get(status, 0) for status in FAILED_OUTCOMES)

    @property
    def never_arrived(self) -> int:
        """Failed and dropped messages of the window that the endpoint refused (an HTTP error) or
        never got (no connection, dropped before sending)."""
        return self.not_delivered - self.may_have_arrived

    @property
    def disabled(self) -> int:
        """Messages of the window audited but never sent: the client had no write key."""
        return self.counts.get(AuditStatus.DISABLED, 0)

    @property
    def success_rate(self) -> float | None:
        """delivered / (delivered + failed + dropped), or None when nothing reached an outcome."""
        finished = self.delivered + self.not_delivered
        return self.delivered / finished if finished else None

    @property
    def arrived_at_most(self) -> float | None:
        """The rate if every failure that may have arrived did: what arrived lies between the two."""
        finished = self.delivered + self.not_delivered
        return (self.delivered + self.may_have_arrived) / finished if finished else None

    @property
    def name(self) -> str:
        """The destination's name, without the key fingerprint."""
        return "application client" if self.destination is None else self.destination.split(":", 1)[0]

    @property
    def fingerprint(self) -> str | None:
        """The write key's fingerprint, when the destination was recorded with one."""
        if self.destination is None or ":" not in self.destination:
            return None
        return self.destination.split(":", 1)[1]


def destination_health(
    session: Session, *, since: datetime, now: datetime, stuck_after: timedelta
) -> list[DestinationHealth]:
    """Each destination seen in the window or holding a backlog, the application's client first.

    Args:
        session: a session on the audit database.
        since: start of the window for rates and errors.
        now: the reference time for the stuck threshold.
        stuck_after: how long an entry may stay `pending` before it counts as stuck.
    """
    found: dict[str | None, DestinationHealth] = {}

    def of(destination: str | None) -> DestinationHealth:
        return found.setdefault(destination, DestinationHealth(destination))

    for destination, status, count in session.execute(outcome_counts(since)):
        of(destination).counts[status] = count
    for destination, count in session.execute(may_have_arrived_counts(since)):
        of(destination).may_have_arrived = count
    for destination, pending, stuck in session.execute(backlog_counts(now, stuck_after)):
        health = of(destination)
        health.pending, health.stuck = pending, int(stuck or 0)
    for row in session.execute(latest_errors(since)):
        of(row.destination).errors.append(
            DeliveryError(
                row.message_id, row.attempted_at, row.outcome, row.http_status, row.error, row.status
            )
        )
    return _ordered(found.values())


def _ordered(healths: Iterable[DestinationHealth]) -> list[DestinationHealth]:
    return sorted(healths, key=lambda health: (health.destination is not None, health.destination or ""))
