"""The live tail's reads: which entries a poll adds, and where the next poll goes on from.

Entries are listed in `(recorded_at, id)` order, but they are not committed in that order. A writer
stamps its batch before its transaction, which may then wait (for the SQLite file's lock, a pool
connection, a lock another session holds) while another process's batch, stamped later, commits
first; and on PostgreSQL several hosts commit at once, each stamping with its own clock. A cursor
that moved past the newest entry shown never saw a batch committed behind it: the walk with six
writer processes found 1,147 of 9,600 entries missing from one tail, without a word.

So the tail keeps two things in its URL, as its `TailState`:

- `after`, a position at or below which every entry has been shown (or was older than the page the
  tail started on). It moves no closer to the time of the read than `TAIL_LAG`: an entry stamped
  earlier than that is taken to be committed.
- `seen`, the ids of the entries shown above `after`, so that reading them again adds nothing.

It also keeps the newest listed rows whose status may still move on (`moving`: a delivery, a retry,
someone's re-send), with the status each shows (or that it shows stuck), so that a poll brings back
those that moved or turned stuck. They travel in the same compact form as `seen`. Every listed row
used to send its own hidden field with each poll, and a busy log's pending rows took the poll's
request line past the 4 KB servers accept (gunicorn answered 414 to every later poll, and the tail
froze).

Each poll reads again from `after`, skips what `seen` names, and adds the rest. Reading costs the
poll's batch plus the `seen` entries, whatever the rate: `seen` is bounded by the length of its
URL form (`SEEN_LIMIT`), and the entries of the last `TAIL_LAG` that it has no room for wait until
they are older than that, when they are added without being remembered.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.audit import AuditEntry, AuditStatus
from analytics.durations import as_utc
from analytics.queries import AuditFilter, Cursor, Page, positions_after, without_actions
from analytics.replay import is_stuck
from analytics.scopes import MAX_ID

TAIL_BATCH = 100
"""Most entries one live-tail poll adds; a burst larger than this arrives over several polls."""

TAIL_CATCH_UP = 500
"""Most entries a poll adds while the tail is behind: 250 a second at one poll every 2 s. Beyond that
rate no one reads each row, and the tail says how many it has not listed, with a link to the newest."""

BEHIND_COUNT_MOST = 10_000
"""Most unlisted entries a poll counts: counting costs a pass over them, so more reads "more than"."""

TAIL_LAG = timedelta(seconds=30)
"""How long after its stamp an entry may still be committed: the SQLite busy timeout and the pool's
wait for a connection are 30 s each, and the walk saw batches commit 3 s after later ones."""

SEEN_LIMIT = 1000
"""Most characters of the `seen` parameter. The tail's URL also carries the moving rows (up to
`MOVING_LIMIT`) and the filters, and servers refuse a request line beyond 4 KB (gunicorn's default).
Runs of consecutive ids take one token and ids close together six to a character (`encode_seen`),
so an unfiltered tail remembers thousands of entries, a narrow one a few hundred. Removing ids can
split a run, so a URL is read up to twice as long."""

SEEN_MOST = 10_000
"""Most ids `seen` holds, whatever the length of its URL form: what a poll reads again is bounded."""

MOVING_STATUSES = frozenset({str(AuditStatus.PENDING), str(AuditStatus.FAILED), str(AuditStatus.DROPPED)})
"""Statuses a listed row may leave (a delivery, a retry, someone's re-send); the others are final."""

STUCK = "stuck"
"""How a `pending` row older than the stuck threshold shows (its badge): it turns so with no change of
status, and the tail compared statuses alone, so its rows never got the badge the page drawn afresh had."""

SHOWN_STATES = MOVING_STATUSES | {STUCK}
"""What a followed row may show: a moving status, or `STUCK`."""

MOVING_MOST = TAIL_BATCH
"""Most listed rows whose status the tail follows: the newest. A row further down shows the status
it was drawn with until the search is loaded again."""

MOVING_LIMIT = 600
"""Most characters of the `moving` parameter: with `seen` and the tail's own few parameters, about
1.7 KB of the request line, the rest is the search's. A pending burst is one run; 100 ids far apart
take up to seven characters each, and then the oldest are left out until the rest fit."""

_RUN = "-"
_NEXT = "."
_BITMAP = "~"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_BASE = 36


def encode_seen(ids: Iterable[int]) -> str:
    """The URL form of a set of ids, the shorter of two.

    Runs, for ids far apart or in long runs: `2s.1-4.b`, each run of consecutive ids as its gap
    from the previous run's last id and how many follow it, in base 36. A bitmap, for ids close
    together but not consecutive (the writers' batches interleave their ids): `~2s~Bw`, the first
    id in base 36, then one bit per id from it on, base64url: six ids a character.
    """
    ordered = sorted(set(ids))
    if not ordered:
        return ""
    runs = _runs(ordered)
    if ordered[-1] - ordered[0] >= 6 * len(runs):
        return runs
    return min(runs, _bitmap(ordered), key=len)


def _runs(ordered: list[int]) -> str:
    tokens: list[str] = []
    previous = 0
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        gap = _base36(ordered[start] - previous)
        tokens.append(gap if end == start else f"{gap}{_RUN}{_base36(end - start)}")
        previous = ordered[end]
        start = end + 1
    return _NEXT.join(tokens)


def _bitmap(ordered: list[int]) -> str:
    first = ordered[0]
    bits = bytearray((ordered[-1] - first) // 8 + 1)
    for number in ordered:
        offset = number - first
        bits[offset >> 3] |= 1 << (offset & 7)
    packed = base64.urlsafe_b64encode(bytes(bits)).decode().rstrip("=")
    return f"{_BITMAP}{_base36(first)}{_BITMAP}{packed}"


def decode_seen(text: str) -> frozenset[int]:
    """The ids of a `seen` parameter.

    Raises:
        ValueError: it is not one (or longer than any the tail writes).
    """
    if len(text) > 2 * SEEN_LIMIT:
        raise ValueError("the tail's seen list is too long")
    if text.startswith(_BITMAP):
        return _decode_bitmap(text)
    ids: set[int] = set()
    previous = 0
    for token in text.split(_NEXT) if text else ():
        gap, runs, run = token.partition(_RUN)
        first = previous + _whole(gap)
        last = first + (_whole(run) if runs else 0)
        if first <= previous or last > MAX_ID or len(ids) + last - first >= SEEN_MOST:
            raise ValueError(f"{token!r} is not a run of ids the tail remembers")
        ids.update(range(first, last + 1))
        previous = last
    return frozenset(ids)


def _decode_bitmap(text: str) -> frozenset[int]:
    _, start, packed = text.split(_BITMAP, 2) if text.count(_BITMAP) == 2 else ("", "", "")
    first = _whole(start)
    if not packed or not _BASE64URL.fullmatch(packed):
        raise ValueError("the tail's seen bitmap is not base64url")
    try:
        bits = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
    except binascii.Error as exc:
        raise ValueError("the tail's seen bitmap is not base64url") from exc
    ids = [first + index * 8 + bit for index, byte in enumerate(bits) for bit in range(8) if byte >> bit & 1]
    if first < 1 or not ids or ids[-1] > MAX_ID or len(ids) > SEEN_MOST:
        raise ValueError("the tail's seen bitmap names ids the tail does not remember")
    return frozenset(ids)


def shown_state(entry: AuditEntry, now: datetime, stuck_after: timedelta) -> str:
    """What a row shows of its status: `STUCK` for a pending entry past the threshold, else its status."""
    return STUCK if is_stuck(entry, now, stuck_after) else str(entry.status)


def encode_moving(moving: Mapping[int, str]) -> str:
    """The URL form of the moving rows: `pending:2s-4,stuck:1y`, each state's ids as `encode_seen`."""
    by_status: dict[str, list[int]] = {}
    for entry_id, status in moving.items():
        by_status.setdefault(status, []).append(entry_id)
    return ",".join(f"{status}:{encode_seen(ids)}" for status, ids in sorted(by_status.items()))


def decode_moving(text: str) -> dict[int, str]:
    """The moving rows of a `moving` parameter, each id with the state its row shows (`SHOWN_STATES`).

    Raises:
        ValueError: it is not one (or holds more rows than the tail follows).
    """
    if len(text) > 2 * MOVING_LIMIT:
        raise ValueError("the tail's moving rows are too long")
    moving: dict[int, str] = {}
    for part in text.split(",") if text else ():
        status, _, ids = part.partition(":")
        if status not in SHOWN_STATES or not ids:
            raise ValueError(f"{part!r} is not a status the tail follows with its rows")
        moving.update(dict.fromkeys(decode_seen(ids), status))
    if len(moving) > MOVING_MOST:
        raise ValueError("the tail's moving rows are more than it follows")
    return moving


def following(entries: Iterable[AuditEntry], now: datetime, stuck_after: timedelta) -> dict[int, str]:
    """The rows among `entries` whose status the tail follows, with the state each shows (`shown_state`):
    the newest that may still move on, up to `MOVING_MOST` and as many as `MOVING_LIMIT` has room for."""
    newest = sorted((e for e in entries if e.status in MOVING_STATUSES), key=Cursor.of, reverse=True)
    moving = {entry.id: shown_state(entry, now, stuck_after) for entry in newest[:MOVING_MOST]}
    while len(encode_moving(moving)) > MOVING_LIMIT:
        moving.popitem()
    return moving


def listed_moving(session: Session, state: TailState, hidden: Sequence[str]) -> list[AuditEntry]:
    """The rows the tail follows (`state.moving`), as they are now."""
    if not state.moving:
        return []
    # Ids come from the query string: an action the role may not read is not listed, whatever it asks.
    query = select(AuditEntry).where(AuditEntry.id.in_(state.moving))
    return list(session.scalars(query.where(without_actions(hidden)) if hidden else query))


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, _BASE)
        text = digits[digit] + text
        if number == 0:
            return text


def _whole(token: str) -> int:
    if not token or not token.isascii() or not token.isalnum() or len(token) > 13:
        raise ValueError(f"{token!r} is not a number")
    return int(token, _BASE)


@dataclass(frozen=True)
class TailState:
    """Where a live tail goes on from.

    Attributes:
        after: every entry at or below this position has been shown; None: from the log's start.
        seen: the ids of the entries shown above `after`.
        moving: the listed rows whose status the tail follows (`following`), with the state each shows.
    """

    after: Cursor | None = None
    seen: frozenset[int] = frozenset()
    moving: Mapping[int, str] = field(default_factory=dict)

    def params(self) -> dict[str, str | None]:
        """The state as the tail's URL parameters (None: left out)."""
        return {
            "after": self.after.encode() if self.after is not None else None,
            "seen": encode_seen(self.seen) or None,
            "moving": encode_moving(self.moving) or None,
        }


def start_of_tail(page: Page, now: datetime, stuck_after: timedelta) -> TailState:
    """The state of a tail that starts on the newest page of a search.

    Entries older than the page's last row belong to its older pages, not to the tail.
    """
    if not page.entries:
        return TailState()
    newest, oldest = Cursor.of(page.entries[0]), Cursor.of(page.entries[-1])
    after = min(newest, Cursor(now - TAIL_LAG, 0))
    if page.older is not None:
        after = max(after, _just_before(oldest))
    seen = frozenset(entry.id for entry in page.entries if Cursor.of(entry) > after)
    return TailState(after, seen, following(page.entries, now, stuck_after))


@dataclass(frozen=True)
class TailRead:
    """What one poll adds, and the state the next poll goes on from.

    Attributes:
        entries: the entries to add, newest first.
        state: where the next poll goes on from.
        more: matching entries may be left for later polls (a full read, or entries that wait).
    """

    entries: list[AuditEntry]
    state: TailState
    more: bool = False


def read_tail(
    session: Session, filters: AuditFilter, state: TailState, now: datetime, *, batch: int = TAIL_BATCH
) -> TailRead:
    """The entries not shown yet, oldest first up to `batch`, and the state after them.

    The window read again (`batch` plus the `seen` entries, up to `SEEN_MOST`) is read as positions
    alone; only the entries it adds are read whole.
    """
    horizon = Cursor(now - TAIL_LAG, 0)
    limit = batch + len(state.seen) + 1
    rows = [
        Cursor(as_utc(at), entry_id)
        for entry_id, at in session.execute(positions_after(filters, state.after, limit=limit))
    ]
    unseen = [row for row in rows if row.id not in state.seen]
    # A full read may have left entries out, the `seen` ones beyond it among them.
    last_read = None if len(rows) < limit else rows[-1]
    beyond = state.seen - {row.id for row in rows} if last_read is not None else set()

    def keeping(count: int) -> tuple[list[Cursor], TailState, bool]:
        fresh = unseen[:count]
        stop = unseen[count] if count < len(unseen) else None
        after = _settled(state.after, horizon, stop, last_read)
        shown = state.seen | {row.id for row in fresh}
        seen = {row.id for row in rows if row.id in shown and row > after} | beyond
        more = count < len(unseen) or last_read is not None
        return fresh, TailState(after, frozenset(seen)), more

    # The entries older than the horizon are added whatever `seen` holds; of the newer ones, as many
    # as it has room to remember (the count that fits, found by halving); the others wait.
    settled = sum(1 for row in unseen[:batch] if row <= horizon)
    low, high = settled, min(batch, len(unseen))
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(keeping(middle)[1].seen):
            low = middle
        else:
            high = middle - 1
    fresh, after, more = keeping(low)
    return TailRead(_entries(session, fresh), after, more)


def _entries(session: Session, positions: list[Cursor]) -> list[AuditEntry]:
    """The entries at these positions, whole, newest first."""
    if not positions:
        return []
    entries = session.scalars(select(AuditEntry).where(AuditEntry.id.in_([row.id for row in positions])))
    return sorted(entries, key=Cursor.of, reverse=True)


def _fits(seen: frozenset[int]) -> bool:
    return len(seen) <= SEEN_MOST and len(encode_seen(seen)) <= SEEN_LIMIT


def _settled(after: Cursor | None, horizon: Cursor, stop: Cursor | None, last_read: Cursor | None) -> Cursor:
    """The new `after`: up to the first entry left for later (or the end of a partial read), never
    past the horizon, never back."""
    bound = horizon
    if stop is not None:
        bound = min(bound, _just_before(stop))
    elif last_read is not None:
        bound = min(bound, last_read)
    return bound if after is None else max(after, bound)


def _just_before(position: Cursor) -> Cursor:
    """The position right before an entry's: the entry itself is newer than it."""
    return Cursor(position.recorded_at, position.id - 1)


def unlisted(session: Session, filters: AuditFilter, state: TailState) -> int:
    """How many matching entries the tail has not listed yet, counted up to `BEHIND_COUNT_MOST` (the
    listed ones above `after` are the `seen` ones)."""
    newer = positions_after(filters, state.after, limit=BEHIND_COUNT_MOST + len(state.seen)).subquery()
    return max(0, int(session.scalar(select(func.count()).select_from(newer)) or 0) - len(state.seen))
