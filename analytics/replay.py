"""Re-send what the audit log holds but Segment may not have: failed, dropped and stuck messages.

A replay hands each message to the real Segment client again *unchanged*: same `messageId`, same
timestamp, so Segment drops a copy of what did arrive the first time, but only within its
de-duplication window of about 24 hours (`DEDUPLICATION_WINDOW`). It never writes a new entry; each
attempt is recorded against the original one, with the replay's source and actor.

What a replay selects may already be in Segment: a failure whose request went out whole but got no
answer (`analytics.network_errors.may_have_arrived`), or a stuck `pending` entry (its batch may
have been in flight when its process died). A replay counts those, and those of them that may have
arrived longer ago than the window (measured from that request, or from when the entry went pending,
not from when it was recorded), so that whoever runs it knows how many copies Segment may count twice
(`DuplicateRisk`).

Safe to run twice, concurrently, or to interrupt:

- before an entry is handed over it is *claimed*: one UPDATE moves it to `pending` (now) on the
  condition that it still matches the selection, so a second replay running at the same time does
  not pick it, and a replay run after this one only finds what is still not delivered;
- an interrupted replay leaves its claimed entries `pending`; they become *stuck* once older than
  the threshold (`AUDIT_STUCK_AFTER`) and the next replay picks them up. `--stuck-after 1s` says
  "I know no other replay or process is still sending these" and picks them up at once.

The claim of a stuck `pending` entry also records what the claim overwrites: a delivery attempt
dated when the entry went `pending`, outcome `pending`, no HTTP status, `STUCK_PENDING_ERROR`
(`_stuck_pending_trace`). A process that died left no attempt, and once the claim has moved
`status_changed_at` and the re-send has failed (an HTTP 500), nothing else would say that its batch
may have gone out: every rule that reads the attempts (the `may_have_arrived` outcome, the health
page, the risk lines, the entry page) finds this one, and Segment's window runs from its date.

A message still in flight when a replay is killed may reach Segment and be sent again by the next
replay; that second copy carries the same `messageId` and Segment drops it (within its window).

Personal data: the payload holds masks, never sent as values. The originals are restored from their
encrypted copy (`analytics.personal_data`); without one, the entry is skipped with the reason. A
chunk is restored before it is claimed, so the claim of a restored entry also asks that its copy is
still there: one an erasure request (`analytics.erasure`) cleared in between is skipped as erased.

A message over Segment's 32 KB per message is skipped with the reason too: the Segment client
refuses it before sending, so re-sent unchanged it would only be dropped again, on every run.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from analytics.actions import record_action
from analytics.audit import (
    MESSAGE_TYPES,
    AuditEntry,
    AuditErasure,
    AuditStatus,
    AuditStore,
    DeliveryAttempt,
    Source,
)
from analytics.client import MAX_MESSAGE_SIZE, AnalyticsClient, message_size
from analytics.durations import as_utc, format_duration, shown_instant
from analytics.erasure import erased_at, erased_reason
from analytics.errors import AnalyticsError
from analytics.network_errors import MAY_HAVE_ARRIVED, may_have_arrived
from analytics.personal_data import PersonalDataCipher, SealError, masked_in_message, unmask
from analytics.queries import message_name, unanswered_attempt_may_have_arrived
from analytics.wording import counted

log = logging.getLogger(__name__)

DEFAULT_STUCK_AFTER = timedelta(hours=1)
"""How long an entry may stay `pending` before replay treats it as stuck. Longer than a batch
normally takes; shorter than the Segment client's full retry budget, which a re-send within it only
duplicates (harmlessly: Segment de-duplicates)."""

DEDUPLICATION_WINDOW = timedelta(hours=24)
"""How long Segment remembers a `messageId` to drop a second copy: "approximately 24 hours"
(twilio.com/docs/segment/guides/duplicate-data, 99 % of duplicates within it). A re-send of a
message that did arrive longer ago than this is stored again: counted twice downstream."""

STUCK_PENDING_ERROR = (
    "stuck pending: the process sending it stopped before recording an answer from the endpoint "
    f"(a replay took it over), {MAY_HAVE_ARRIVED}"
)
"""The error of the attempt a replay's claim records for a stuck `pending` entry, dated when it went
`pending`: its batch may have gone out before its process stopped. It ends as every line that may have
arrived does, so that `analytics.network_errors.may_have_arrived` counts it without a rule of its own."""

REPLAYABLE_STATUSES = (AuditStatus.FAILED, AuditStatus.PENDING, AuditStatus.DROPPED, AuditStatus.DISABLED)
DEFAULT_STATUSES = (AuditStatus.FAILED, AuditStatus.PENDING, AuditStatus.DROPPED)

# Entries claimed, handed over and flushed at a time: bounds what an interruption leaves claimed
# and keeps the Segment client's queue (10,000 by default) from ever refusing a replayed message.
DEFAULT_CHUNK_SIZE = 500

# The replay's own Segment client answers within minutes: a replay against a failing endpoint
# should report and stop, not retry for the client's default twelve hours.
REPLAY_SEGMENT_OPTIONS: dict[str, Any] = {
    "upload_interval": 0.1,
    "max_retries": 3,
    "timeout": 15,
    "max_total_backoff_duration": 120,
    "max_rate_limit_duration": 300,
}


class ReplayError(AnalyticsError):
    """A replay cannot start (for example: no write key)."""


class Unreplayable(Exception):
    """An entry that cannot be re-sent as it was, with the reason."""


def parse_statuses(text: str) -> tuple[AuditStatus, ...]:
    """Parse `failed,pending,dropped` (any of failed, pending, dropped, disabled).

    Raises:
        ValueError: an unknown or non-replayable status, in one line.
    """
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    allowed = {str(status): status for status in REPLAYABLE_STATUSES}
    choices = ", ".join(allowed)
    if not names:
        raise ValueError(f"no status in {text!r}: one of {choices}")
    for name in names:
        if name in set(AuditStatus) - set(REPLAYABLE_STATUSES):
            raise ValueError(f"{name!r} entries are not re-sent: one of {choices}")
        if name not in allowed:
            # Worded as the audit search's filters word it (`audit export --status`).
            raise ValueError(f"unknown status {name!r}: one of {choices}")
    return tuple(dict.fromkeys(allowed[name] for name in names))


def stuck_clause(now: datetime, stuck_after: timedelta) -> ColumnElement[bool]:
    """SQL condition: the entry is `pending` and has been since before `now - stuck_after`."""
    return and_(AuditEntry.status == AuditStatus.PENDING, AuditEntry.status_changed_at < now - stuck_after)


def is_stuck(entry: AuditEntry, now: datetime, stuck_after: timedelta) -> bool:
    """Whether an entry is stuck in `pending` (the process that held it probably died)."""
    changed = entry.status_changed_at
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=UTC)
    return entry.status == AuditStatus.PENDING and changed < now - stuck_after


@dataclass(frozen=True)
class ReplaySelection:
    """Which entries a replay re-sends.

    Attributes:
        statuses: failed, dropped and disabled entries match as they are; `pending` ones only once
            stuck.
        since: only entries recorded at or after this time.
        until: only entries recorded before this time.
        stuck_after: the stuck threshold for `pending`.
        filters: further conditions on `AuditEntry` (the dashboard's filtered view).
        destination: the tester destination the replay's client reaches too (`default:<key
            fingerprint>`: the dashboard's own key and host). Besides the application's own
            entries (no destination), only entries sent there are selected: an entry the tester
            sent elsewhere went with another key, which the replay's client does not have.
    """

    statuses: tuple[AuditStatus, ...] = DEFAULT_STATUSES
    since: datetime | None = None
    until: datetime | None = None
    stuck_after: timedelta = DEFAULT_STUCK_AFTER
    filters: tuple[ColumnElement[bool], ...] = ()
    destination: str | None = None

    def condition(self, now: datetime, *, elsewhere: bool = False) -> ColumnElement[bool]:
        """The SQL condition, evaluated against `now` for the stuck threshold.

        With `elsewhere`, the entries that would match but were sent by the tester to another
        destination: the ones a replay leaves alone, for a view to say so.
        """
        settled = [status for status in self.statuses if status is not AuditStatus.PENDING]
        status_match = or_(
            AuditEntry.status.in_([str(status) for status in settled]) if settled else false(),
            stuck_clause(now, self.stuck_after) if AuditStatus.PENDING in self.statuses else false(),
        )
        return self._narrowed(status_match, elsewhere=elsewhere)

    def not_stuck_yet_condition(self, now: datetime) -> ColumnElement[bool]:
        """The SQL condition for the `pending` entries this selection takes once stuck, but not yet."""
        if AuditStatus.PENDING not in self.statuses:
            return false()
        waiting = and_(
            AuditEntry.status == AuditStatus.PENDING, AuditEntry.status_changed_at >= now - self.stuck_after
        )
        return self._narrowed(waiting)

    def _narrowed(self, status_match: ColumnElement[bool], *, elsewhere: bool = False) -> ColumnElement[bool]:
        """`status_match` narrowed by all else the selection asks (type, destination, filters, time)."""
        own = AuditEntry.destination.is_(None)
        reachable = own if self.destination is None else or_(own, AuditEntry.destination == self.destination)
        conditions = [
            AuditEntry.type.in_(MESSAGE_TYPES),
            status_match,
            not_(reachable) if elsewhere else reachable,
            *self.filters,
        ]
        if self.since is not None:
            conditions.append(AuditEntry.recorded_at >= self.since)
        if self.until is not None:
            conditions.append(AuditEntry.recorded_at < self.until)
        return and_(*conditions)


def select_replayable(
    selection: ReplaySelection, now: datetime, *, after_id: int | None = None
) -> Select[AuditEntry]:
    """The entries a replay would re-send, oldest first (keyset on the id, for chunks)."""
    query = select(AuditEntry).where(selection.condition(now)).order_by(AuditEntry.id)
    if after_id is not None:
        query = query.where(AuditEntry.id > after_id)
    return query


def count_replayable(
    selection: ReplaySelection, now: datetime, *, cap: int, elsewhere: bool = False
) -> Select[int]:
    """How many entries a replay would select (with `elsewhere`: would leave alone, as sent to
    another destination), counted up to `cap + 1` (enough to say "more than")."""
    ids = select(AuditEntry.id).where(selection.condition(now, elsewhere=elsewhere)).limit(cap + 1).subquery()
    return select(func.count()).select_from(ids)


@dataclass(frozen=True)
class NotStuckYet:
    """The `pending` entries of a selection that a replay leaves alone because they are not stuck yet:
    what a crashed process left is exactly that for `stuck_after`, while someone reviews the crash.

    Attributes:
        count: how many.
        first_changed: when the one pending longest became `pending`.
        last_changed: when the one pending shortest did.
        stuck_after: the threshold they are waiting for.
        now: the time they were counted at.
    """

    count: int
    first_changed: datetime
    last_changed: datetime
    stuck_after: timedelta
    now: datetime

    @property
    def first_stuck_at(self) -> datetime:
        """When the first of them becomes stuck, so that a replay re-sends it."""
        return as_utc(self.first_changed) + self.stuck_after

    @property
    def stuck_after_now(self) -> str:
        """A `--stuck-after` under which all of them are stuck now: the shortest pending time, in
        whole minutes (whole seconds under a minute), as a duration option reads it."""
        waited = int((self.now - as_utc(self.last_changed)).total_seconds())
        return f"{waited // 60}m" if waited >= 60 else f"{max(waited, 1)}s"

    def line(self, threshold: str, sooner: str) -> str:
        """One line: how many, when a replay picks them up and since when they are pending, and
        `sooner` (a command's words with `stuck_after_now`) to re-send them now; `threshold` names where
        `stuck_after` comes from.

        The time a replay picks one up is an hour (say) after it went pending: said alone ("the first of
        them from 17:14"), it read as the time they went pending, so the line says both."""
        which, are = ("the first of them", "are") if self.count > 1 else ("it", "is")
        return (
            f"not stuck yet: {counted(self.count, 'pending entry')}, which {are} re-sent only once pending "
            f"for longer than {format_duration(self.stuck_after)} ({threshold}): a replay picks {which} "
            f"up from {shown_instant(self.first_stuck_at)} (pending since {self._pending_since}), "
            f"or now with {sooner} if no process is still sending them"
        )

    @property
    def _pending_since(self) -> str:
        """When the first of them went pending: its time of day, or the whole instant on another day
        than the one it becomes stuck on."""
        since = shown_instant(self.first_changed)
        same_day = as_utc(self.first_changed).date() == self.first_stuck_at.date()
        return since.split(" ")[1] if same_day else since


def not_stuck_yet(
    connection: Connection | Session, selection: ReplaySelection, now: datetime
) -> NotStuckYet | None:
    """The `pending` entries the selection takes once stuck but not yet (`NotStuckYet`), or None.

    One count by the status index: only `pending` entries are read, which are few but after a crash.
    """
    query = select(
        func.count(), func.min(AuditEntry.status_changed_at), func.max(AuditEntry.status_changed_at)
    ).where(selection.not_stuck_yet_condition(now))
    count, first, last = connection.execute(query).one()
    if not count:
        return None
    return NotStuckYet(count, first, last, selection.stuck_after, now)


def _masked_only(message: dict[str, Any]) -> str | None:
    """Why a message cannot be sent as it is: personal data that only its masks stand for."""
    still_masked = masked_in_message(message)
    if not still_masked:
        return None
    return (
        f"personal data ({', '.join(still_masked)}) was stored masked only, without "
        "AUDIT_ENCRYPTION_KEY: the real values cannot be re-sent"
    )


def _oversized(message: dict[str, Any]) -> str | None:
    """Why a message cannot be sent as it is: the Segment client refuses it, as it did the first time.

    The reason names no size, so that the dashboard lists such entries under one reason.
    """
    if message_size(message) <= MAX_MESSAGE_SIZE:
        return None
    return "the message is over Segment's 32 KB per message, which the Segment client refuses"


def blocked_reason(
    entry: AuditEntry, cipher: PersonalDataCipher | None, *, erased: datetime | None = None
) -> str | None:
    """Why an entry cannot be re-sent, judged from what it stores, decrypting only when it must.

    What the dashboard counts before offering a re-send; `restore_message` says the same, and also
    refuses what only a decryption shows where this needs none: a sealed copy that does not open
    (rare: a key removed from `AUDIT_ENCRYPTION_KEY`) or that covers fewer keys than are masked.
    `erased` is when an erasure request cleared its personal data (`analytics.erasure`), if it did.
    """
    return _blocked(entry.payload, entry.encrypted_personal_data, cipher, erased)


def _blocked(
    payload: dict[str, Any],
    sealed: str | None,
    cipher: PersonalDataCipher | None,
    erased: datetime | None,
    *,
    dated: bool = True,
) -> str | None:
    """`blocked_reason` from an entry's payload, its sealed personal data and its erasure, if any;
    `dated` False leaves the erasure's time out of the reason, for counts by reason."""
    if erased is not None and masked_in_message(payload):
        return erased_reason(erased if dated else None)
    if sealed is None:
        return _masked_only(payload) or _oversized(payload)
    if cipher is None:
        return "its personal data is encrypted and AUDIT_ENCRYPTION_KEY is not set"
    # The values' JSON, as the message carries it, is part of what was sealed (`seal` writes JSON in
    # the same form) and the sealed copy is longer than that: under the limit with both, the message
    # is under it whatever the values are. Over it, only the values' own size can tell.
    if message_size(payload) + len(sealed) <= MAX_MESSAGE_SIZE:
        return None
    try:
        message = unmask(payload, sealed, cipher)
    except SealError as exc:
        return f"its personal data cannot be decrypted: {exc}"
    return _masked_only(message) or _oversized(message)


def blocked_reasons(
    session: Session,
    selection: ReplaySelection,
    now: datetime,
    *,
    cap: int,
    cipher: PersonalDataCipher | None,
) -> Counter[str]:
    """Among the first `cap` entries a replay would select, those it would skip, by reason
    (`click_outlook`)."""
    return click_outlook(session, selection, now, cap=cap, cipher=cipher).blocked


def restore_message(
    entry: AuditEntry, cipher: PersonalDataCipher | None, *, erased: datetime | None = None
) -> dict[str, Any]:
    """The message exactly as first sent: the payload with its personal data unmasked.

    Args:
        entry: the entry.
        cipher: opens its sealed personal data.
        erased: when an erasure request cleared its personal data, if it did.

    Raises:
        Unreplayable: the real values cannot be restored (masked only, or erased), so sending would
            send masks; or the message is over Segment's 32 KB per message, so sending would only
            drop it again.
    """
    reason = blocked_reason(entry, cipher, erased=erased)
    if reason is not None:
        raise Unreplayable(reason)
    message = copy.deepcopy(entry.payload)
    if entry.encrypted_personal_data is not None and cipher is not None:
        try:
            message = unmask(message, entry.encrypted_personal_data, cipher)
        except SealError as exc:
            raise Unreplayable(f"its personal data cannot be decrypted: {exc}") from None
        # A seal that covers fewer keys than the payload masks; the real values' size.
        reason = _masked_only(message) or _oversized(message)
        if reason is not None:
            raise Unreplayable(reason)
    return message


def first_possible_arrival(
    status: str,
    http_status: int | None,
    error: str | None,
    status_changed_at: datetime,
    first_attempt: datetime | None,
) -> datetime | None:
    """When a selected entry may first have reached Segment, so that its re-send is a second copy; None
    when it cannot have.

    A stuck `pending` entry (the only `pending` ones a replay selects) may have been in flight when
    its process died, or delivered while the database could not record it: since it went `pending`.
    Once a replay claims it, the attempt its claim records (`STUCK_PENDING_ERROR`) keeps that time.
    A failure may have arrived when its request went out whole and only the answer is missing, as its
    recorded error says (`analytics.network_errors.may_have_arrived`, which decides for every page
    alike) and it got no HTTP status: an answered failure's error is the endpoint's own text, which
    may read like a timeout. So may one whose *earlier* attempt went out so (`first_attempt`, from
    `first_attempt_that_may_have_arrived`): a read timeout followed by a re-send that got a 500 left
    the first copy with Segment all the same.

    The *first* such time, not the latest: Segment's window runs from the copy it stored, and when
    only the first request arrived (a later one went unanswered without reaching it), that is the
    first one's. Not the time the entry was recorded either: an entry refused during a long outage
    and re-sent lately without an answer may be in Segment since that re-send only.
    """
    times = [as_utc(first_attempt)] if first_attempt is not None else []
    unanswered = status == AuditStatus.FAILED and http_status is None and may_have_arrived(error)
    if status == AuditStatus.PENDING or unanswered:
        times.append(as_utc(status_changed_at))
    return min(times, default=None)


def entry_first_possible_arrival(entry: AuditEntry, attempts: Sequence[DeliveryAttempt]) -> datetime | None:
    """`first_possible_arrival` of an entry whose attempts are at hand (its page lists them all)."""
    first_attempt = min(
        (
            attempt.attempted_at
            for attempt in attempts
            if attempt.http_status is None and may_have_arrived(attempt.error)
        ),
        default=None,
    )
    return first_possible_arrival(
        entry.status, entry.http_status, entry.error, entry.status_changed_at, first_attempt
    )


def first_attempt_that_may_have_arrived(message_id: SQLColumnExpression[str]) -> ScalarSelect[datetime]:
    """When the message's first delivery attempt that may have reached the endpoint was made, or NULL
    (a correlated MIN by the attempts' message id index)."""
    return (
        select(func.min(DeliveryAttempt.attempted_at))
        .where(DeliveryAttempt.message_id == message_id, unanswered_attempt_may_have_arrived())
        .scalar_subquery()
    )


def first_attempts_that_may_have_arrived(session: Session, message_ids: Sequence[str]) -> dict[str, datetime]:
    """Of these messages, those with a delivery attempt that may have reached the endpoint: when the
    first one was made."""
    if not message_ids:
        return {}
    query = (
        select(DeliveryAttempt.message_id, func.min(DeliveryAttempt.attempted_at))
        .where(DeliveryAttempt.message_id.in_(message_ids), unanswered_attempt_may_have_arrived())
        .group_by(DeliveryAttempt.message_id)
    )
    return {message_id: attempted_at for message_id, attempted_at in session.execute(query)}


def past_window(arrived_at: datetime | None, now: datetime) -> bool:
    """Whether a copy that may have reached Segment at `arrived_at` (`first_possible_arrival`) did so
    longer ago than its de-duplication window, so that a re-sent one would be counted twice. Never for
    an entry that cannot be there (None), however old: its re-send is the first copy."""
    return arrived_at is not None and as_utc(arrived_at) < now - DEDUPLICATION_WINDOW


@dataclass
class DuplicateRisk:
    """Of the entries a replay re-sends (or would), those Segment may count twice.

    Attributes:
        maybe_arrived: entries that may already be in Segment (`first_possible_arrival`).
        past_window: those of them that may have arrived longer ago than `DEDUPLICATION_WINDOW`
            (`past_window`): a copy of these that did arrive is not dropped.
    """

    maybe_arrived: int = 0
    past_window: int = 0

    def note(self, maybe_arrived: bool, old: bool) -> None:
        """Count one re-sent entry."""
        self.maybe_arrived += maybe_arrived
        self.past_window += maybe_arrived and old

    def as_properties(self) -> dict[str, int]:
        """The counts as a *Messages Re-sent* action records them, zeros included: the reviewer of an
        incident reads there how many copies Segment may hold twice, which no entry's status says."""
        return {"may_be_in_segment": self.maybe_arrived, "may_be_in_segment_over_24h": self.past_window}

    def lines(self, total: int, verb: str) -> list[str]:
        """One line for each risk that concerns any of `total` entries `verb` ("to re-send", "re-sent"):
        none when no entry may already be in Segment, so that a cron job's log stays quiet and a count
        of zero never reads as a warning (the confirmation page says plainly that none may be counted
        twice). When none of them may have arrived over 24 h ago, the first line says that Segment
        drops their copies: what an entry recorded long ago but sent again lately risks."""
        if not self.maybe_arrived:
            return []
        of = f"of the {total} {verb}"
        within = (
            ""
            if self.past_window
            else ", all less than 24 h ago: within Segment's de-duplication window, a copy of one that "
            "did arrive is dropped"
        )
        lines = [
            f"may already be in Segment: {self.maybe_arrived} {of} (the request went out and no answer "
            f"came, or the entry was stuck pending){within}"
        ]
        if self.past_window:
            lines.append(
                f"may have arrived over 24 h ago: {self.past_window} {of} (the request went out that long "
                "ago and no answer came, or the entry has been pending since): past Segment's "
                "de-duplication window of about 24 hours, a copy of one that did arrive then is not dropped "
                "but counted twice"
            )
        return lines


@dataclass
class ClickOutlook:
    """The first `cap` entries a replay would select (what one click re-sends), as its offer says them.

    Attributes:
        blocked: those it would skip, by reason (`blocked_reason`, undated, so alike ones count together).
        risk: of the others, those Segment may count twice: only an entry really re-sent can be a
            second copy, so the skipped ones are left out, as the command's dry run leaves them out.
    """

    blocked: Counter[str] = field(default_factory=Counter)
    risk: DuplicateRisk = field(default_factory=DuplicateRisk)


def click_outlook(
    session: Session,
    selection: ReplaySelection,
    now: datetime,
    *,
    cap: int,
    cipher: PersonalDataCipher | None,
) -> ClickOutlook:
    """`ClickOutlook` of the first `cap` entries a replay would select.

    The re-send widget asks on every audit search that shows undelivered entries, so this is one
    query of a few columns rather than whole entries, and it decrypts a sealed entry's personal data
    only when its payload and sealed copy together pass 32 KB (rare), the one case where the values'
    size decides.
    """
    erased = (
        select(AuditErasure.erased_at)
        .where(AuditErasure.message_id == AuditEntry.message_id)
        .scalar_subquery()
    )
    query = (
        select_replayable(selection, now)
        .limit(cap)
        .with_only_columns(
            AuditEntry.payload,
            AuditEntry.encrypted_personal_data,
            erased,
            AuditEntry.status,
            AuditEntry.http_status,
            AuditEntry.error,
            AuditEntry.status_changed_at,
            first_attempt_that_may_have_arrived(AuditEntry.message_id),
        )
    )
    outlook = ClickOutlook()
    for (
        payload,
        sealed,
        erasure,
        status,
        http_status,
        error,
        status_changed_at,
        first_attempt,
    ) in session.execute(query):
        if (reason := _blocked(payload, sealed, cipher, erasure, dated=False)) is not None:
            outlook.blocked[reason] += 1
            continue
        arrival = first_possible_arrival(status, http_status, error, status_changed_at, first_attempt)
        outlook.risk.note(arrival is not None, past_window(arrival, now))
    return outlook


BRIEF_ERROR = 100
"""Characters of an entry's last error that replay's lists show (the entry page has all of it)."""


@dataclass(frozen=True)
class Candidate:
    """One entry a replay selected, and what became of it.

    Attributes:
        message_id: the entry's message.
        recorded_at: when it was first recorded.
        label: what the lists call it: the event, `Identify: Register`, an action (`message_name`).
        status: its status when selected.
        stuck: whether it was selected as stuck `pending`.
        skip_reason: why it was not re-sent, or None.
        outcome: its status after the re-send (None when skipped or in a dry run).
        outcome_error: why that re-send was not delivered, as the entry records it (HTTP status, error).
        maybe_arrived: whether it may already be in Segment (`first_possible_arrival`).
        past_window: whether it may have arrived longer ago than Segment's de-duplication window.
        user_id: the message's userId, for "who was affected".
        last_error: why it was not delivered when selected (HTTP status, error), for "why".
    """

    message_id: str
    recorded_at: datetime
    label: str
    status: str
    stuck: bool
    skip_reason: str | None = None
    outcome: str | None = None
    outcome_error: str | None = None
    maybe_arrived: bool = False
    past_window: bool = False
    user_id: str | None = None
    last_error: str | None = None

    @property
    def brief_error(self) -> str | None:
        """`last_error` on one line of at most `BRIEF_ERROR` characters: an error body can run to
        pages, and a list of entries needs only enough of it to tell one cause from another."""
        if self.last_error is None:
            return None
        flat = " ".join(self.last_error.split())
        return flat if len(flat) <= BRIEF_ERROR else f"{flat[: BRIEF_ERROR - 1]}…"

    def line(self) -> str:
        """One line for a terminal: id, time, event, user, status with its last error (before a
        re-send: after one, what became of it says the rest), and what became of it."""
        state = ", ".join(
            [
                self.status,
                *(["stuck"] if self.stuck else []),
                *(["may be in Segment"] if self.maybe_arrived else []),
            ]
        )
        if self.brief_error and not self.outcome:
            state = f"{state}: {self.brief_error}"
        user = f" user {self.user_id}" if self.user_id is not None else ""
        text = f"{self.message_id} {self.recorded_at:%Y-%m-%d %H:%M:%S} {self.label}{user} [{state}]"
        if self.skip_reason:
            return f"{text} skipped: {self.skip_reason}"
        if not self.outcome:
            return text
        return f"{text} now {self.outcome}" + (f": {self.outcome_error}" if self.outcome_error else "")


@dataclass
class ReplayReport:
    """What a replay did (or, dry, would do), in counts: entries are reported one by one as they go.

    Attributes:
        dry_run: nothing was claimed or sent.
        selected: entries that matched.
        skipped: entries not re-sent (personal data, erased included, over 32 KB, or taken by a
            concurrent replay).
        outcomes: re-sent entries by their status once the replay's client had flushed.
        risk: of the entries re-sent (dry: to re-send), those Segment may count twice.
    """

    dry_run: bool
    selected: int = 0
    skipped: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    risk: DuplicateRisk = field(default_factory=DuplicateRisk)

    @property
    def delivered(self) -> int:
        """Re-sent entries now `delivered`."""
        return self.outcomes[AuditStatus.DELIVERED]

    @property
    def ok(self) -> bool:
        """Whether everything selected was re-sent and delivered (trivially so when nothing was)."""
        return not self.dry_run and self.skipped == 0 and self.delivered == sum(self.outcomes.values())

    def summary(self) -> str:
        """One line for people; a re-send's skips only when there are any, as "; 0 skipped" after
        "re-sent 16 entries: 16 delivered" only made the good news longer."""
        if self.dry_run:
            would = counted(self.selected - self.skipped, "entry")
            return f"dry run: {would} would be re-sent, {self.skipped} skipped"
        if not self.selected:
            return "nothing to replay"
        skipped = f"; {self.skipped} skipped" if self.skipped else ""
        sent = sum(self.outcomes.values())
        if not sent:
            return f"re-sent nothing{skipped}"
        others = [f"{n} {status}" for status, n in sorted(self.outcomes.items()) if status != "delivered"]
        done = ", ".join([f"re-sent {counted(sent, 'entry')}: {self.delivered} delivered", *others])
        return f"{done}{skipped}"

    def risk_lines(self) -> list[str]:
        """How many of the entries re-sent (dry: to re-send) may already be in Segment, and how many
        are past its de-duplication window (`DuplicateRisk.lines`), each only when there are any: a
        replay from cron says nothing more when nothing is at risk."""
        total = self.selected - self.skipped if self.dry_run else sum(self.outcomes.values())
        if not total:
            return []
        return self.risk.lines(total, "to re-send" if self.dry_run else "re-sent")


REPLAY_ACTION = "Messages Re-sent"
"""The action a replay is recorded as: one entry per run, beside the attempts it wrote."""


def record_replay(
    store: AuditStore, report: ReplayReport, *, actor: str, selection: str, destination: str | None
) -> str | None:
    """Write a finished replay to the audit log as an action, so that "who re-sent what, when" is one
    search (type `action`, this event, the actor) rather than a walk through every entry's attempts.

    A dry run, a replay that selected nothing, or one that skipped all it selected (a nightly run
    meeting the same unsendable entries) re-sent nothing and is not recorded.

    Args:
        selection: what was asked for, as typed (the dashboard's query string, the command's options).
        destination: where the replay's client sent (`name:fingerprint`).

    The action's properties are these two, the counts (`selected`, `skipped`, one per outcome) and
    the duplicate risk of what was re-sent (`DuplicateRisk.as_properties`), the lines the command
    printed and the widget showed.

    Returns:
        The action's message id, or None when nothing was recorded.
    """
    if report.dry_run or report.selected == report.skipped:
        return None
    properties = {
        "selection": selection,
        "destination": destination,
        "selected": report.selected,
        "skipped": report.skipped,
        **{status: count for status, count in sorted(report.outcomes.items())},
        **report.risk.as_properties(),
    }
    return record_action(store, REPLAY_ACTION, actor=actor, properties=properties, source=Source.REPLAY)


def open_replay_client(
    store: AuditStore, write_key: str | None, host: str | None, *, actor: str | None, **options: Any
) -> AnalyticsClient:
    """The Segment client a replay sends through: source `replay`, the actor, bounded budgets.

    Raises:
        ReplayError: no write key, so nothing could be sent.
    """
    if not write_key:
        raise ReplayError("no Segment write key configured (SEGMENT_WRITE_KEY): nothing can be re-sent")
    return AnalyticsClient(
        write_key,
        store=store,
        host=host,
        source=Source.REPLAY,
        actor=actor,
        strict=True,  # a replay writes no new entries: no audit writer to start
        **{**REPLAY_SEGMENT_OPTIONS, **options},
    )


def _claim(
    store: AuditStore,
    ids: Sequence[int],
    selection: ReplaySelection,
    now: datetime,
    *,
    sealed: Sequence[int] = (),
) -> set[str]:
    """Move entries to `pending` if they still match; the ones this call moved are ours to send.

    `sealed` are those whose message was restored from their sealed personal data: they are claimed
    only while still sealed, so that an erasure committed since the chunk was read keeps the values
    it erased from being sent. The check is in the UPDATE itself: on PostgreSQL it is judged again
    once the row's lock is had (which an erasure's batch holds until it commits), and on SQLite
    writes take turns, so no erasure commits between the check and the claim.
    """
    if not ids:
        return set()
    still_sealed = (
        [or_(AuditEntry.id.not_in(sealed), AuditEntry.encrypted_personal_data.is_not(None))] if sealed else []
    )
    claimable = [AuditEntry.id.in_(ids), selection.condition(now), *still_sealed]
    claim = (
        update(AuditEntry)
        .where(*claimable)
        .values(status=AuditStatus.PENDING, status_changed_at=datetime.now(UTC), http_status=None, error=None)
        .returning(AuditEntry.message_id)
    )
    with store.engine.begin() as connection:
        connection.execute(_stuck_pending_trace(claimable))
        return set(connection.scalars(claim))


def _stuck_pending_trace(claimable: Sequence[ColumnElement[bool]]) -> Insert:
    """An attempt for each stuck `pending` entry the claim takes, dated when it went `pending`
    (`STUCK_PENDING_ERROR`, see the module docstring), by whoever held it: its own source when it has
    been `pending` since it was recorded, otherwise a replay whose claim it was (only a claim moves an
    entry back to `pending`).

    Run in the claim's transaction, before it, on the rows it will update: locked (`FOR UPDATE`) on
    PostgreSQL, so that a concurrent replay waits, finds the entry claimed (no longer stuck) and
    records nothing; SQLite's writes take turns. Each `pending` period is claimed once, since the claim
    moves `status_changed_at`: a replay run again records no second attempt for it.
    """
    held_by = case(
        (AuditEntry.status_changed_at == AuditEntry.recorded_at, AuditEntry.source),
        else_=literal(Source.REPLAY.value),
    )
    traces = (
        select(
            AuditEntry.message_id,
            AuditEntry.status_changed_at,
            literal(AuditStatus.PENDING.value),
            literal(STUCK_PENDING_ERROR),
            held_by,
        )
        .where(*claimable, AuditEntry.status == AuditStatus.PENDING)
        .with_for_update()
    )
    columns = ["message_id", "attempted_at", "outcome", "error", "source"]
    return insert(DeliveryAttempt).from_select(columns, traces)


def _lost_reasons(store: AuditStore, lost: Sequence[AuditEntry]) -> dict[int, str]:
    """Why entries a replay restored were not its to claim: erased meanwhile (said as a replay run
    after the erasure says it), or taken by another replay."""
    if not lost:
        return {}
    with store.engine.connect() as connection:
        erased = erased_at(connection, [entry.message_id for entry in lost])
    return {
        entry.id: erased_reason(erased[entry.message_id])
        if entry.message_id in erased
        else "taken by another replay meanwhile"
        for entry in lost
    }


def _statuses(store: AuditStore, message_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Each entry's status after a re-send, and what went wrong when it was not delivered."""
    query = select(AuditEntry.message_id, AuditEntry.status, AuditEntry.http_status, AuditEntry.error).where(
        AuditEntry.message_id.in_(message_ids)
    )
    with store.engine.connect() as connection:
        return {
            message_id: (status, _failure(status, http_status, error))
            for message_id, status, http_status, error in connection.execute(query)
        }


def _failure(status: str, http_status: int | None, error: str | None) -> str | None:
    if status == AuditStatus.DELIVERED:
        return None
    answer = f"HTTP {http_status}" if http_status is not None else None
    return " ".join(part for part in (answer, error) if part) or None


def replay(
    store: AuditStore,
    client: AnalyticsClient | None,
    selection: ReplaySelection,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    limit: int | None = None,
    on_candidate: Callable[[Candidate], None] | None = None,
) -> ReplayReport:
    """Re-send the selected entries through `client`, chunk by chunk, and report the outcomes.

    Args:
        store: the audit log (its cipher opens sealed personal data).
        client: a client from `open_replay_client`; may be None for a dry run.
        selection: which entries.
        dry_run: list what would be re-sent; claim and send nothing.
        now: the reference time for the stuck threshold; the current time by default.
        chunk_size: entries claimed, handed over and flushed at a time.
        limit: select at most this many entries (the dashboard's bound per click); all by default.
        on_candidate: called with each selected entry once its chunk is done (progress output).

    Returns:
        The counts; outcomes are read back after each chunk's flush.

    Raises:
        ReplayError: not a dry run, and no client that can send.
    """
    if not dry_run and (client is None or not client.enabled):
        raise ReplayError("no Segment write key configured (SEGMENT_WRITE_KEY): nothing can be re-sent")
    now = now or datetime.now(UTC)
    report = ReplayReport(dry_run=dry_run)
    after_id: int | None = None
    while limit is None or report.selected < limit:
        size = chunk_size if limit is None else min(chunk_size, limit - report.selected)
        query = select_replayable(selection, now, after_id=after_id).limit(size)
        with Session(store.engine) as session:
            entries = list(session.scalars(query))
            ids = [entry.message_id for entry in entries]
            erased = erased_at(session.connection(), ids)
            arrived = first_attempts_that_may_have_arrived(session, ids)
        if not entries:
            return report
        after_id = entries[-1].id
        chunk = _handle_chunk(store, None if dry_run else client, selection, now, entries, erased, arrived)
        for candidate in chunk:
            report.selected += 1
            if candidate.skip_reason is not None:
                report.skipped += 1
            if candidate.outcome is not None:
                report.outcomes[candidate.outcome] += 1
            if candidate.skip_reason is None and (dry_run or candidate.outcome is not None):
                report.risk.note(candidate.maybe_arrived, candidate.past_window)
            if on_candidate is not None:
                on_candidate(candidate)
    return report


def _handle_chunk(
    store: AuditStore,
    client: AnalyticsClient | None,
    selection: ReplaySelection,
    now: datetime,
    entries: list[AuditEntry],
    erased: dict[str, datetime],
    arrived: dict[str, datetime],
) -> list[Candidate]:
    """Restore, claim, hand over and flush one chunk (only restore without a client: a dry run).

    `arrived`: when the entries' first attempt that may have reached Segment was made, read before
    the re-send.
    """
    messages: dict[int, dict[str, Any]] = {}
    reasons: dict[int, str] = {}
    for entry in entries:
        try:
            messages[entry.id] = restore_message(entry, store.cipher, erased=erased.get(entry.message_id))
        except Unreplayable as exc:
            reasons[entry.id] = str(exc)
    outcomes: dict[str, tuple[str, str | None]] = {}
    if client is not None:
        sealed = [
            entry.id
            for entry in entries
            if entry.id in messages and entry.encrypted_personal_data is not None
        ]
        claimed = _claim(store, list(messages), selection, now, sealed=sealed)
        lost = [entry for entry in entries if entry.id in messages and entry.message_id not in claimed]
        reasons.update(_lost_reasons(store, lost))
        for entry in entries:
            if entry.message_id in claimed:
                client.resend(messages[entry.id])
        # Without a stall limit: the outcomes read next are the report, and the replay client's
        # own budgets (REPLAY_SEGMENT_OPTIONS) already bound how long sending can take.
        client.flush(timeout=None)
        outcomes = _statuses(store, sorted(claimed)) if claimed else {}
        log.info("replay: %s of %s entries in this chunk re-sent", len(claimed), len(entries))
    return [
        _candidate(
            entry,
            now,
            selection,
            reasons.get(entry.id),
            outcomes.get(entry.message_id, (None, None)),
            first_attempt=arrived.get(entry.message_id),
        )
        for entry in entries
    ]


def _candidate(
    entry: AuditEntry,
    now: datetime,
    selection: ReplaySelection,
    skip_reason: str | None,
    outcome: tuple[str | None, str | None],
    *,
    first_attempt: datetime | None,
) -> Candidate:
    """What a replay reports of an entry, judged as it was selected (before its claim)."""
    arrival = first_possible_arrival(
        entry.status, entry.http_status, entry.error, entry.status_changed_at, first_attempt
    )
    return Candidate(
        entry.message_id,
        as_utc(entry.recorded_at),
        message_name(entry),
        entry.status,
        is_stuck(entry, now, selection.stuck_after),
        skip_reason,
        *outcome,
        maybe_arrived=arrival is not None,
        past_window=past_window(arrival, now),
        user_id=entry.user_id,
        last_error=_failure(entry.status, entry.http_status, entry.error),
    )
