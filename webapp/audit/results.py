"""Running a search: one page of entries, the count, and the histogram above them.

Three queries per search, each on an index: the count with the first and last time (which also
bound the histogram when the reviewer gave no range), the histogram's grouped counts, and the page.

A property search without a start time is the exception: no index narrows it, so each of those
queries read every payload of the log (2-7 s each at 200k entries on SQLite), and the field searches
as one types. It is answered the way log search tools answer an unbounded query: the page is read
newest first through the time index and the scan stops once the page is full. When that page holds
every match the count and the chart are drawn from its rows, exact; otherwise the head says "more
than 50" (`complete` is False) rather than scan the whole log twice more as one types, and links to
the same search from the first entry the other filters match (`count_from`, an index read): a start
time no match is older than, so that search counts and charts them all, once, when asked. The live
tail, which adds matches as they arrive, adds to such a floor and counts again, up to `COUNT_MOST`,
only a count that was complete. Nor does the
page read the whole log for a value that few entries hold, or none: it reads at most `SCAN_MOST`
entries of its range and other filters, matching the property or not, and when they hold less than
a page it says how far back it read; its pager (the API's `next`) reads on from there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from analytics.audit import AuditStatus
from analytics.durations import as_utc
from analytics.queries import (
    AuditFilter,
    Cursor,
    Page,
    bucket_width,
    histogram,
    newest_first,
    newest_times,
    oldest_first_after,
    page_from,
    positions_after,
    scan_end,
    scan_stop,
    summary,
)
from analytics.wording import counted
from webapp.audit.forms import SearchForm

PAGE_SIZE = 50
"""Entries per page of a search (and the rows a re-send under it refreshes)."""

SCAN_MOST = 20_000
"""Entries a page of a property search without a start time reads before it stops, matching or not:
a value no entry holds read the whole log (29.5 s on SQLite, 4.9 s on PostgreSQL at a million entries,
on a loaded machine); 20,000 take 0.6 s and 0.8 s. The page then says how far back it read, and its pager
reads on from there."""

COUNT_MOST = 1000
"""Matches the live tail counts, for a property search without a start time, before it says "more
than": twenty pages, few enough rows to read at once, and read in time order so that it stops early
when matches are common."""

# Stacking order of a bar, bottom up: settled entries first, trouble on top where the eye lands.
STACK_ORDER = tuple(
    str(status)
    for status in (
        AuditStatus.DELIVERED,
        AuditStatus.RECORDED,
        AuditStatus.DISABLED,
        AuditStatus.PENDING,
        AuditStatus.DROPPED,
        AuditStatus.FAILED,
    )
)


@dataclass(frozen=True)
class Bucket:
    """One bar of the histogram.

    Attributes:
        start: the bucket's first instant (UTC).
        end: the instant after its last.
        counts: entries per status, in `STACK_ORDER`, only statuses present.
        since: the start of the range a click narrows to (the bucket within the search's range).
        until: the end of that range.
    """

    start: datetime
    end: datetime
    counts: dict[str, int]
    since: datetime
    until: datetime

    @property
    def total(self) -> int:
        """Entries in the bucket."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """The bar in words, for its tooltip and screen readers."""
        return f"{self.when()}: {self.tally()}"

    def when(self) -> str:
        """The bar's time range in words."""
        # isoformat, not strftime: glibc's %Y writes year 738 as "738".
        start, end = (edge.replace(tzinfo=None).isoformat(" ", "seconds") for edge in (self.start, self.end))
        same_day = self.start.date() == (self.end - timedelta(microseconds=1)).date()
        return f"{start}–{end[11:] if same_day else end} UTC"

    def tally(self) -> str:
        """The bar's counts in words: alone where the chart is too narrow for its time range too."""
        split = ", ".join(f"{count:,} {status}" for status, count in self.counts.items())
        return counted(self.total, "entry", grouped=True) + (f" ({split})" if split else "")


@dataclass(frozen=True)
class Histogram:
    """Volume over the searched range, split by status.

    Attributes:
        start: where the chart starts (the search's start, or the first matching entry).
        end: where it ends (the search's end, or now).
        width: bucket width in seconds.
        buckets: every bucket from start to end, empty ones included.
        totals: entries per status over the whole range.
    """

    start: datetime
    end: datetime
    width: int
    buckets: list[Bucket]
    totals: dict[str, int]

    @property
    def width_label(self) -> str:
        """The bucket width in words: `5 minutes`, `1 hour`."""
        for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if self.width % seconds == 0:
                return counted(self.width // seconds, unit)
        return counted(self.width, "second")

    @property
    def peak(self) -> int:
        """The fullest bucket's count (at least 1, to scale bars)."""
        return max((bucket.total for bucket in self.buckets), default=0) or 1

    def stacks(self, height: float = 100.0) -> list[tuple[Bucket, list[tuple[str, float, float]]]]:
        """Each bucket with its stacked segments as `(status, y, height)` in a chart `height` tall."""
        stacks = []
        for bucket in self.buckets:
            top = height
            segments = []
            for status, count in bucket.counts.items():
                size = count / self.peak * height
                top -= size
                segments.append((status, round(top, 3), round(size, 3)))
            stacks.append((bucket, segments))
        return stacks


@dataclass(frozen=True)
class Overview:
    """A search's head: how many entries match, on all pages, and their chart.

    Attributes:
        total: the matching entries; when not `complete`, a floor: more than this many match.
        chart: the histogram; None when nothing matches or the count is not complete.
        complete: whether every match was counted (see the module's docstring).
        count_from: when not `complete`, a start time that leaves no match out (the first entry the
            other filters match, to the second): the search from there counts them all.
        at_least: when not `complete`, `total` is a page's own matches, which others may join, rather
            than a floor the search went past ("at least", not "more than").
        none_past: a later page that read from this time to the end of the log in its direction and
            found no match: what the head says instead of a count, which that page does not know.
    """

    total: int
    chart: Histogram | None
    complete: bool = True
    count_from: datetime | None = None
    at_least: bool = False
    none_past: datetime | None = None


@dataclass(frozen=True)
class Results:
    """What a search found.

    Attributes:
        page: the entries shown.
        head: the count and chart of every match.
    """

    page: Page
    head: Overview

    @property
    def carried_total(self) -> int | None:
        """The count the links to the neighbouring pages carry (`total=`), and the address of a later
        page keeps: a floor from a full page, which those pages could not count again; None when the
        count is complete, or is a stopped or "at least" page's own matches, which others may join, or
        when the page found none."""
        head = self.head
        own = head.complete or self.page.stopped_at or head.at_least or head.none_past
        return None if own else head.total


def _stacked(counts: dict[str, int]) -> dict[str, int]:
    """Counts by status in stacking order; a status the order does not know goes on top."""
    rank = {status: index for index, status in enumerate(STACK_ORDER)}
    return {status: counts[status] for status in sorted(counts, key=lambda s: rank.get(s, len(rank)))}


def build_histogram(
    session: Session, filters: AuditFilter, first: datetime, last: datetime, now: datetime
) -> Histogram:
    """Count matching entries per bucket and status between the search's bounds."""
    return _histogram(
        filters, first, last, now, lambda width: session.execute(histogram(filters, width)).all()
    )


def _histogram(
    filters: AuditFilter,
    first: datetime,
    last: datetime,
    now: datetime,
    grouped: Callable[[int], Iterable[tuple[int, str, int]]],
) -> Histogram:
    """The chart from `grouped`: the matching entries counted per bucket number and status for a width."""
    start = filters.since or first
    end = filters.until or max(now, last + timedelta(microseconds=1))
    width = bucket_width(start, end)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for bucket, status, count in grouped(width):
        counts[int(bucket)][status] = count
        totals[status] += count
    first_bucket = int(start.timestamp()) // width
    last_bucket = int((end - timedelta(microseconds=1)).timestamp()) // width

    def edge(seconds: int) -> datetime:
        # Buckets align to the epoch, so the outer edges of a search reaching back to year 1 (or on
        # to 9999) would fall outside what a datetime holds: they stop at the search's own bounds.
        return datetime.fromtimestamp(min(max(seconds, start.timestamp()), end.timestamp()), UTC)

    buckets = []
    for number in range(first_bucket, last_bucket + 1):
        bucket_start, bucket_end = edge(number * width), edge((number + 1) * width)
        buckets.append(
            Bucket(
                start=bucket_start,
                end=bucket_end,
                counts=_stacked(counts[number]),
                since=max(bucket_start, filters.since) if filters.since else bucket_start,
                until=min(bucket_end, filters.until) if filters.until else bucket_end,
            )
        )
    ordered = _stacked(totals)
    return Histogram(start, end, width, buckets, ordered)


def page_of(session: Session, form: SearchForm, *, page_size: int) -> Page:
    """The page of a valid search that its cursor points at (newest first without one); a property
    search without a start time reads at most `SCAN_MOST` entries (see the module)."""
    filters = form.filters
    assert filters is not None
    stop = None
    if _unbounded_payload_search(filters):
        bound = scan_stop(filters, before=form.before, after=form.after, most=SCAN_MOST)
        # The last entry read and one beyond it: a stop at the log's end would offer an empty page.
        last_read = session.execute(bound).all()
        stop = Cursor(as_utc(last_read[0].recorded_at), last_read[0].id) if len(last_read) == 2 else None
    if form.after is not None:
        query = oldest_first_after(filters, form.after, limit=page_size + 1, stop=stop)
    else:
        query = newest_first(filters, before=form.before, limit=page_size + 1, stop=stop)
    rows = session.scalars(query).all()
    return page_from(rows, size=page_size, before=form.before, after=form.after, stop=stop)


def read_end(session: Session, filters: AuditFilter, *, after: Cursor | None, end: datetime) -> datetime:
    """Where an oldest-first read after `after` of entries recorded before `end` ends: sooner for a
    property search without a start time, which reads at most `SCAN_MOST` entries (see the module)
    and then those that share the last one's time (`scan_end`)."""
    if not _unbounded_payload_search(filters):
        return end
    later = session.execute(scan_end(replace(filters, until=end), after=after, most=SCAN_MOST)).first()
    return end if later is None else as_utc(later.recorded_at)


def _unbounded_payload_search(filters: AuditFilter) -> bool:
    """Whether only reading every payload of the log could count the search (see the module)."""
    return filters.prop is not None and filters.since is None


def _from_rows(filters: AuditFilter, rows: Sequence[tuple[datetime, str]], now: datetime) -> Overview:
    """The head of a search whose every match is in `rows` (time and status): no query needed."""
    if not rows:
        return Overview(0, None)
    times = [as_utc(at) for at, _ in rows]

    def grouped(width: int) -> list[tuple[int, str, int]]:
        counts: dict[tuple[int, str], int] = defaultdict(int)
        for at, (_, status) in zip(times, rows, strict=True):
            # As `analytics.queries.epoch_seconds`: whole seconds, then the bucket.
            counts[int(at.timestamp()) // width, status] += 1
        return [(bucket, status, count) for (bucket, status), count in counts.items()]

    return Overview(len(rows), _histogram(filters, min(times), max(times), now, grouped))


def _floor(session: Session, filters: AuditFilter, total: int, *, at_least: bool = False) -> Overview:
    """The head of an unbounded property search that stopped counting at `total` matches."""
    first = session.execute(positions_after(replace(filters, prop=None), None, limit=1)).first()
    count_from = None if first is None else as_utc(first.recorded_at).replace(microsecond=0)
    return Overview(total, None, complete=False, count_from=count_from, at_least=at_least)


def overview(session: Session, filters: AuditFilter, now: datetime) -> Overview:
    """What a search's head shows: how many entries match, and their histogram (None for none).

    The live tail asks again whenever entries arrive, so the count, the range and the legend's
    totals keep up with the rows it adds. A property search without a start time counts up to
    `COUNT_MOST` (see the module).
    """
    if _unbounded_payload_search(filters):
        rows = [(at, status) for at, status in session.execute(newest_times(filters, limit=COUNT_MOST + 1))]
        if len(rows) > COUNT_MOST:
            return _floor(session, filters, COUNT_MOST)
        return _from_rows(filters, rows, now)
    total, first, last = session.execute(summary(filters)).one()
    chart = build_histogram(session, filters, as_utc(first), as_utc(last), now) if total else None
    return Overview(total, chart)


def after_tail(
    session: Session, filters: AuditFilter, now: datetime, *, listed: Overview, arrived: int
) -> Overview:
    """The head once the live tail has added `arrived` entries to a head that said `listed`."""
    if _unbounded_payload_search(filters) and not listed.complete:
        # A floor stays a floor: counting would read every payload at every poll that adds a row.
        return _floor(session, filters, listed.total + arrived)
    return overview(session, filters, now)


def search(
    session: Session, form: SearchForm, *, page_size: int, now: datetime | None = None, floor: int = 0
) -> Results:
    """Run a valid search: its count, histogram and the page its cursor points at.

    `floor` is the count a later page of an unbounded property search was reached with: its first
    page's head, which the pager's links carry (`total=`).
    """
    assert form.filters is not None
    now = now or datetime.now(UTC)
    page = page_of(session, form, page_size=page_size)
    if not _unbounded_payload_search(form.filters):
        head = overview(session, form.filters, now)
    elif form.before is None and form.after is None and page.older is None:
        head = _from_rows(form.filters, [(entry.recorded_at, entry.status) for entry in page.entries], now)
    elif page.stopped_at is not None:
        # A page that read `SCAN_MOST` entries says how many of them match, exactly (see the module).
        head = _floor(session, form.filters, len(page.entries))
    elif not page.entries and (form.before or form.after):
        # Read to the end of the log with no match: how many the search holds, this page cannot say.
        head = Overview(0, None, complete=False, none_past=(form.before or form.after).recorded_at)
    elif (form.before is None and form.after is None) or floor:
        # A later page says the count its first page stopped at: its own entries alone read fewer the
        # further one pages ("More than 1 entry" on the last).
        head = _floor(session, form.filters, max(floor, len(page.entries)))
    else:
        # A later page of a search whose first page stopped short of a page carries no floor.
        head = _floor(session, form.filters, len(page.entries), at_least=True)
    return Results(page, head)
