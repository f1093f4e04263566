"""The confirmation page's list of what one click re-sends, a page at a time.

The page listed the first 20 of the entries its button re-sends, and a reviewer about to re-send 350
could not see the other 330. The list goes on by keyset pages of the click's own entries (the ids its
`Offer` holds, at most `CLICK_LIMIT`), so each page reads only its rows, whatever the log's size, and
the pages together list exactly what the click takes: the entries it re-sends and those it skips with
their reason. A page asked for under an offer that is not the one shown any more (the view changed)
is not listed: the rows would not be those the page's button confirms.

A next page does not work the offer out again: that read every one of its entries' payloads and
attempts for the risk lines and the token, for each "Show the next". Its link carries a digest of the
click's entries and of how many it re-sends (`view_digest`), which the page checks against the ids
the view selects now (one read of ids alone), then reads its own rows. The click itself is still
checked against the whole offer (`Offer.token`): a change only the risk lines or the skips show is
refused there, with the offer as it is now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from analytics.audit import AuditEntry, AuditStore
from analytics.replay import Candidate, ReplaySelection, replay

FIRST_PAGE = 20
"""Entries the confirmation page lists when it opens: a screen's worth on a laptop."""

NEXT_PAGE = 100
"""Entries each "Show the next" adds: what one read of whole entries and their attempts costs little."""


@dataclass(frozen=True)
class Listing:
    """One page of the entries a click takes, in the order it takes them (oldest first).

    Attributes:
        rows: the page's entries, each with the reason a re-send would skip it, if any.
        start: how many of the click's entries come before this page.
        end: how many come before the next one (`start` and this page's, one a re-send of
            another view may have delivered meanwhile among them).
        total: how many entries the click takes: those it re-sends and those it skips.
        after: the id of the page's last entry, from which the next page goes on; None at the end.
        restarted: a later page was asked for under an offer that is not the one shown now (the view
            changed), and this first page is listed instead.
    """

    rows: list[Candidate]
    start: int
    end: int
    total: int
    after: int | None
    restarted: bool = False

    @property
    def next_size(self) -> int:
        """How many entries the next page lists."""
        return min(NEXT_PAGE, self.total - self.end)


def listing_of(
    store: AuditStore,
    selection: ReplaySelection,
    ids: Sequence[int],
    now: datetime,
    *,
    after: int | None = None,
) -> Listing | None:
    """The page of the click's entries (`ids`, oldest first) that follows the entry `after` (the
    first page without it), or None when `after` is not one of them.

    The rows are a replay's dry run over the page's ids only, so each says what the re-send would do
    with it, as the first page always did.
    """
    if after is None:
        start, size = 0, FIRST_PAGE
    elif after in ids:
        start, size = ids.index(after) + 1, NEXT_PAGE
    else:
        return None
    chosen = list(ids[start : start + size])
    rows: list[Candidate] = []
    if chosen:
        page = replace(selection, filters=(*selection.filters, AuditEntry.id.in_(chosen)))
        replay(store, None, page, dry_run=True, now=now, limit=len(chosen), on_candidate=rows.append)
    end = start + len(chosen)
    return Listing(rows, start, end, len(ids), chosen[-1] if end < len(ids) else None)


def view_digest(ids: Sequence[int], more: bool, sendable: int) -> str:
    """A digest of the click's entries (`Offer.ids`, `Offer.more`) and of how many it re-sends: what a
    next page's link carries, so that the page lists its rows only while the view offers the same."""
    return hashlib.sha256(repr((tuple(ids), more, sendable)).encode()).hexdigest()[:32]
