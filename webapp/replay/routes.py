"""Replay from the dashboard: the audit view's filters select, `analytics.replay` re-sends.

The same URL serves a confirmation page (with a preview of what would be sent) and, for htmx, the
small widget the audit search loads under its results. Posting re-sends at most `CLICK_LIMIT`
entries, unchanged, through a client with short budgets, as the person who clicked; the entries
are claimed first, so two people clicking at once never send one twice. A click re-sends only what
its button said (`Offer`): its form carries what was offered, and a view that offers otherwise now
(new failed entries arrived meanwhile, under a live tail) is offered again rather than re-sent.
Each view is a plain function, so a role check can be added per route when accounts arrive.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    current_app,
    flash,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from analytics.audit import AuditEntry
from analytics.personal_data import is_mask, mask_value
from analytics.queries import conditions
from analytics.replay import (
    DEFAULT_STATUSES,
    REPLAYABLE_STATUSES,
    Candidate,
    NotStuckYet,
    ReplayReport,
    ReplaySelection,
    click_outlook,
    count_replayable,
    not_stuck_yet,
    open_replay_client,
    record_replay,
    replay,
    select_replayable,
)
from analytics.wording import noun, sentence
from webapp.actor import current_actor
from webapp.audit.forms import SearchForm, unknown_params
from webapp.audit.results import PAGE_SIZE, Overview, overview, page_of
from webapp.audit.routes import audit_vocabulary
from webapp.audit.visibility import search_form
from webapp.auth.policy import require, requires
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db
from webapp.htmx import shown_status, vary_on_htmx, wants_fragment
from webapp.replay.listing import Listing, listing_of, view_digest
from webapp.replay.sooner import sooner_command
from webapp.tester.sending import own_destination
from webapp.text_input import query_checked_by_its_form

bp = Blueprint("replay", __name__)


bp.add_app_template_filter(sentence, "sentence")


# The widget renders the audit list's rows it re-sent, with the audit pages' vocabulary.
bp.context_processor(audit_vocabulary)

CLICK_LIMIT = 500
"""Most entries one click re-sends: the person waits for the answer. `event-catalog replay` has no bound."""

FAILURE_REASONS_SHOWN = 3
"""Distinct answers a re-send's result names (the commonest); the rest are counted. One endpoint
mostly answers a click's entries alike, but an error body may name each entry."""


def not_delivered_lines(failed: Counter[str]) -> list[str]:
    """Why re-sent entries were not delivered, as the widget and the page's flashes both say it: the
    `FAILURE_REASONS_SHOWN` commonest answers with their counts, then how many had other answers."""
    answers = failed.most_common(FAILURE_REASONS_SHOWN)
    lines = [f"not delivered {times}: {answer}" for answer, times in answers]
    if rest := failed.total() - sum(times for _, times in answers):
        lines.append(f"not delivered {rest} more, with other answers")
    return lines


REDRAW_SOONEST = 2
"""Fewest seconds before the offer reads itself again when a pending entry turns stuck: as often as
the live tail polls. Entries a crashed process left went pending over its last minutes, so they turn
stuck one after another, and each would otherwise ask for a redraw of its own."""


def redraw_in(waiting: NotStuckYet | None, now: datetime) -> int | None:
    """Seconds until the offer must be read again because the view's next pending entry turns stuck
    (`NotStuckYet.first_stuck_at`, and a second past it: stuck is strictly longer than the threshold),
    or None when none is waiting. Nothing the live tail watches changes then: the entry is still
    `pending`, and the offer said "not stuck yet" of it long after it was."""
    if waiting is None:
        return None
    return max(REDRAW_SOONEST, math.ceil((waiting.first_stuck_at - now).total_seconds()) + 1)


# The person waits: one retry, and an answer within about half a minute even if Segment is down.
WEB_SEGMENT_OPTIONS = {"max_retries": 1, "timeout": 10, "max_total_backoff_duration": 20}


def _selection(form: SearchForm) -> ReplaySelection:
    """The view's filters; its ticked statuses narrow what is re-sent (and may add `disabled`)."""
    assert form.filters is not None
    statuses = tuple(status for status in REPLAYABLE_STATUSES if status in form.statuses) or DEFAULT_STATUSES
    return ReplaySelection(
        statuses=statuses,
        stuck_after=current_app.config["AUDIT_STUCK_AFTER"],
        filters=tuple(conditions(form.filters)),
        destination=own_destination().label,
    )


@dataclass(frozen=True)
class Offer:
    """What the widget and the confirmation page offer one click to re-send, as the person reads it.

    Attributes:
        ids: the entries the click re-sends: the first `CLICK_LIMIT` the view selects, oldest first.
        more: the view selects more than that.
        blocked: of them, those a re-send would skip, by reason.
        risk_lines: of the others, those the click really sends, how many Segment may count twice,
            as said under the button (the command's lines: "4 of the 4 to re-send").
    """

    ids: tuple[int, ...] = ()
    more: bool = False
    blocked: Counter[str] = field(default_factory=Counter)
    risk_lines: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many entries the view selects, up to `CLICK_LIMIT + 1` (enough to say "more than")."""
        return len(self.ids) + self.more

    @property
    def sendable(self) -> int:
        """Of the click's entries, those a re-send would really send."""
        return len(self.ids) - self.blocked.total()

    @property
    def token(self) -> str:
        """A digest of the entries and of all the offer says about them. The form carries it, so
        that a click re-sends what its button said, not what the view holds when the click lands."""
        said = repr((self.ids, self.more, sorted(self.blocked.items()), self.risk_lines))
        return hashlib.sha256(said.encode()).hexdigest()[:32]

    def now_said(self) -> str:
        """What the offer says now, for a refused click."""
        if self.sendable <= 0:
            return "nothing to re-send now"
        number = f"{self.sendable}+" if self.more else f"{self.sendable}"
        return f"{number} {noun(self.sendable, 'entry')} to re-send now: confirm again"


def _offered(selection: ReplaySelection, now: datetime) -> tuple[tuple[int, ...], bool]:
    """The entries one click of this selection takes now (`Offer.ids`), and whether it selects more:
    a read of ids alone, up to `CLICK_LIMIT + 1`."""
    first = select_replayable(selection, now).with_only_columns(AuditEntry.id).limit(CLICK_LIMIT + 1)
    ids = tuple(db.session.scalars(first))
    return ids[:CLICK_LIMIT], len(ids) > CLICK_LIMIT


def _offer(selection: ReplaySelection, now: datetime) -> Offer:
    """What one click of this selection would re-send now."""
    ids, more = _offered(selection, now)
    if not ids:
        return Offer()
    cipher = analytics_client.store().cipher
    outlook = click_outlook(db.session, selection, now, cap=CLICK_LIMIT, cipher=cipher)
    offer = Offer(ids=ids, more=more, blocked=outlook.blocked)
    # Counted of what the click sends, in the command's words: its skips can never be a second copy.
    return replace(offer, risk_lines=tuple(outlook.risk.lines(offer.sendable, "to re-send")))


def _unconfirmed(form: SearchForm, offer: Offer) -> str | None:
    """Why a click may not re-send the view's entries as they are now, if it may not.

    A live tail adds failed entries under the widget while its button still says the count it was
    drawn with: "Re-send 60" re-sent 100, under risk lines that were stale too. So the form carries
    the offer's token, and one that differs from the offer now is refused with the new count (the
    widget drawn again). An entry's own page re-sends that entry only, and an offer that sends
    nothing sends nothing unconfirmed: neither needs a token.
    """
    assert form.filters is not None
    if form.filters.message_id is not None or offer.sendable <= 0:
        return None
    confirmed = request.form.get("offer")
    if confirmed == offer.token:
        return None
    if not confirmed:
        return f"not re-sent: the click did not say which entries it confirmed; {offer.now_said()}"
    return f"not re-sent: the view changed since it was shown; {offer.now_said()}"


def _masked_prop(form: SearchForm, mask_key: bytes) -> dict[str, str]:
    """The property search as the re-send's action records it: a personal-data value by its mask.

    The action is a product action every role reads, and the entries it re-sent store that value
    masked too; the mask still finds them, as a search for the masked text matches it exactly.
    """
    asked = form.filters.prop if form.filters is not None else None
    if asked is None or not asked.personal:
        return {}
    typed = asked.candidates[0]  # the text searched for, unquoted
    return {"prop": f"{asked.key} = {typed if is_mask(typed) else mask_value(typed, mask_key)}"}


def _as_typed_value(value: str) -> str:
    """A value as typed, but for the characters that would make the record ambiguous or unreadable,
    percent-encoded: `&` (it ends a pair), `%` (it starts an escape) and control characters.

    `=` stays: a name never holds one, so a pair's first `=` ends its name, as every query-string
    reader takes it, and a property search (`prop=email = a@example.com`) stays as typed.
    """
    return "".join(
        quote(char, safe="") if char in "&%" or unicodedata.category(char) == "Cc" else char for char in value
    )


def as_typed(params: dict[str, Any]) -> str:
    """The view's filters as the re-send's action records them: `name=value` pairs joined by `&`, each
    value as typed (`since=2026-12-07T09:05:40&event=New User`), not URL-encoded (`09%3A05%3A40`,
    `New+User`): the action is read by people, as the command line's `--status failed --since 24h` is.
    Only what would let two selections read alike is encoded (`_as_typed_value`): this is the
    hash-chained record of who re-sent what."""
    pairs = [
        (name, value)
        for name, given in params.items()
        for value in (given if isinstance(given, list) else [given])
    ]
    return "&".join(f"{name}={_as_typed_value(str(value))}" for name, value in pairs)


def _reloaded(message_ids: list[str]) -> list[AuditEntry]:
    """These entries as the database holds them now (the session may hold their older state)."""
    if not message_ids:
        return []
    query = (
        select(AuditEntry)
        .where(AuditEntry.message_id.in_(message_ids))
        .execution_options(populate_existing=True)
    )
    return list(db.session.scalars(query))


def _unmatched(form: SearchForm, refreshed: list[AuditEntry]) -> int:
    """How many re-sent rows the page keeps showing that its filters no longer match (a `failed`
    entry now delivered), so that the count read again does not seem to contradict the rows."""
    if not refreshed:
        return 0
    assert form.filters is not None
    ids = [entry.message_id for entry in refreshed]
    query = select(func.count()).where(AuditEntry.message_id.in_(ids), *conditions(form.filters))
    return len(ids) - (db.session.scalar(query) or 0)


def _said_apart(skipped: Counter[str], blocked: Counter[str]) -> Counter[str]:
    """What a re-send skipped, but for the reasons the offer drawn under its result gives again: the
    entries it skipped stay in the view, so the offer says "7 entries cannot be re-sent: …" of them,
    and the result repeating each reason read twice in a row. A reason the offer does not give (an
    entry a concurrent replay took, or one erased meanwhile, which the result dates) stays."""
    return Counter({reason: times for reason, times in skipped.items() if reason not in blocked})


def _render(
    form: SearchForm,
    report: ReplayReport | None = None,
    status: int = 200,
    refreshed: list[AuditEntry] | None = None,
    head: Overview | None = None,
    skipped: Counter[str] | None = None,
    failed: Counter[str] | None = None,
    unmatched: int = 0,
    changed: str | None = None,
    after: int | None = None,
) -> ResponseReturnValue:
    """The widget for htmx, the confirmation page otherwise; both count what is left to re-send,
    and what of it cannot be re-sent (`blocked`, by reason: offered as such, not as a re-send).
    After a re-send, `skipped` and `failed` say why entries were not sent or not delivered. Both
    also count what Segment may count twice (`click_outlook`: already there, since before its window),
    and the pending entries not stuck yet (`waiting`), which "nothing to re-send" would hide, with the
    command that re-sends them sooner (`sooner`).

    After a re-send the widget also carries, swapped in out of band, the search's head read again
    (`head`: the count and histogram) and the re-sent rows of the page above it (`refreshed`), so
    that the view says what the re-send did without another search. A refused click says why in
    `changed`, above the offer as it is now.

    The page lists the click's entries from the first, or (`after`, a "Show the next" link followed
    without JavaScript) the page of them after that entry.
    """
    htmx = wants_fragment()
    count = elsewhere = listing = waiting = sooner = redraw = None
    offer = Offer()
    if form.valid:
        selection, now = _selection(form), datetime.now(UTC)
        offer = _offer(selection, now)
        count = offer.count
        elsewhere = db.session.scalar(count_replayable(selection, now, cap=CLICK_LIMIT, elsewhere=True)) or 0
        waiting = not_stuck_yet(db.session, selection, now)
        sooner = sooner_command(form, selection, waiting) if waiting else None
        redraw = redraw_in(waiting, now)
        listing = None if htmx else _listing(form, selection, offer, now, after)
    html = render_template(
        "replay/_widget.html" if htmx else "replay/index.html",
        form=form,
        count=count,
        sendable=offer.sendable,
        offer=offer.token,
        blocked=offer.blocked,
        risk_lines=list(offer.risk_lines),
        skipped=_said_apart(skipped or Counter(), offer.blocked),
        not_delivered=not_delivered_lines(failed or Counter()),
        elsewhere=elsewhere,
        waiting=waiting,
        sooner=sooner,
        redraw_in=redraw,
        listing=listing,
        view=view_digest(offer.ids, offer.more, offer.sendable),
        report=report,
        refreshed=refreshed or [],
        head=head,
        unmatched=unmatched,
        limit=CLICK_LIMIT,
        enabled=bool(current_app.config["SEGMENT_WRITE_KEY"]),
        own_destination=own_destination(),
        changed=changed,
        results=[*get_flashed_messages(), *([changed] if changed else [])],
    )
    return vary_on_htmx(make_response(html, shown_status(status)))


def _view(*own: str) -> SearchForm:
    """The view to re-send; a parameter it does not know (but the route's `own`) is refused, as a
    click re-sends what the view holds (`?stauts=failed` offered the whole log)."""
    form = search_form(request.args)
    unknown = unknown_params(request.args)
    form.errors.update({name: error for name, error in unknown.items() if name not in own})
    return form


LISTING_PARAMS = ("listed_after", "offer", "sendable", "view")
"""The list's own parameters: the entry a page goes on after, the offer it lists (`Offer.token`), how
many of its entries the click re-sends, and the digest of its entries with that count (`view_digest`)."""


def _listed_after(form: SearchForm) -> int | None:
    """The entry the list goes on after, as the "Show the next" link gives it; a value that is no
    entry id is refused next to its name."""
    given = request.args.get("listed_after", "").strip()
    if not given:
        return None
    if given.isascii() and given.isdigit():
        return int(given)
    form.errors["listed_after"] = "not an entry of this list: open the list again from its first entries"
    return None


def _listing(
    form: SearchForm, selection: ReplaySelection, offer: Offer, now: datetime, after: int | None
) -> Listing | None:
    """The page of the offer's entries after `after` (the first page without it); from the first
    page, with the view's change said, when the offer is not the one that page was listed under."""
    store = analytics_client.store()
    listing = listing_of(store, selection, offer.ids, now, after=after) if after is not None else None
    if listing is not None and request.args.get("offer") == offer.token:
        return listing
    first = listing_of(store, selection, offer.ids, now)
    return first if after is None or first is None else replace(first, restarted=True)


@bp.get("/")
@query_checked_by_its_form
@requires(Role.ENGINEER)
def preview() -> ResponseReturnValue:
    """What re-sending this view would send (the widget for htmx, a confirmation page otherwise)."""
    form = _view()
    return _render(form, status=200 if form.valid else 400)


@bp.get("/entries")
@query_checked_by_its_form
@requires(Role.ENGINEER)
def listing() -> ResponseReturnValue:
    """The next page of the entries a click takes: rows added to the confirmation page's list for htmx,
    the page listing them otherwise."""
    form = _view(*LISTING_PARAMS)
    after = _listed_after(form)
    if after is None and "listed_after" not in form.errors:
        form.errors["listed_after"] = "missing: the entry the list goes on after, as its link gives it"
    if not wants_fragment():
        return _render(form, status=200 if form.valid else 400, after=after)
    shown, sendable = None, request.args.get("sendable", 0, type=int)
    if form.valid and after is not None:
        selection, now = _selection(form), datetime.now(UTC)
        ids, more = _offered(selection, now)
        if request.args.get("view") == view_digest(ids, more, sendable):
            shown = listing_of(analytics_client.store(), selection, ids, now, after=after)
    html = render_template(
        "replay/_more.html",
        form=form,
        listing=shown,
        more=True,
        offer=request.args.get("offer", ""),
        sendable=sendable,
        view=request.args.get("view", ""),
    )
    return vary_on_htmx(make_response(html))


@bp.post("/")
@query_checked_by_its_form
@requires(Role.ENGINEER)
def run() -> ResponseReturnValue:
    """Re-send up to `CLICK_LIMIT` undelivered entries of the view, recorded against the clicker."""
    form = _view()
    if not form.valid:
        return _render(form, status=400)
    config = current_app.config
    if not config["SEGMENT_WRITE_KEY"]:
        return _render(form, status=409)
    # Engineers replay to non-production destinations; production is for admins.
    if own_destination().production:
        require(Role.ADMIN)
    selection = _selection(form)
    offer = _offer(selection, datetime.now(UTC))
    if refusal := _unconfirmed(form, offer):
        return _render(form, status=409, changed=refusal)
    htmx = wants_fragment()
    # The rows the reviewer is looking at, read before the re-send changes what the filters match.
    shown = (
        {entry.message_id for entry in page_of(db.session, form, page_size=PAGE_SIZE).entries}
        if htmx
        else set()
    )
    resent: list[str] = []
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()

    def note_resent(candidate: Candidate) -> None:
        if candidate.skip_reason is not None:
            skipped[candidate.skip_reason] += 1
        if candidate.outcome_error is not None:
            failed[candidate.outcome_error] += 1
        if candidate.outcome is not None and candidate.message_id in shown:
            resent.append(candidate.message_id)

    store = analytics_client.store()
    client = open_replay_client(
        store,
        config["SEGMENT_WRITE_KEY"],
        config["SEGMENT_HOST"],
        actor=current_actor(),
        **WEB_SEGMENT_OPTIONS,
    )
    try:
        # The offered entries only: one that became re-sendable since is offered by the next click.
        offered = replace(selection, filters=(*selection.filters, AuditEntry.id.in_(offer.ids)))
        report = replay(store, client, offered, limit=CLICK_LIMIT, on_candidate=note_resent)
    finally:
        client.shutdown()
    asked = as_typed(form.params(live=None, **_masked_prop(form, store.mask_key)))
    record_replay(store, report, actor=current_actor(), selection=asked, destination=own_destination().label)
    if htmx:
        assert form.filters is not None
        head = overview(db.session, form.filters, datetime.now(UTC))
        refreshed = _reloaded(resent)
        return _render(
            form,
            report,
            refreshed=refreshed,
            head=head,
            skipped=skipped,
            failed=failed,
            unmatched=_unmatched(form, refreshed),
        )
    # In the widget's order: the summary, why some were not sent or not delivered, then the risk.
    flash(report.summary())
    # The page the click lands on offers the view again, which gives the reasons of what stays blocked.
    for reason, times in _said_apart(skipped, _offer(selection, datetime.now(UTC)).blocked).items():
        flash(f"skipped {times}: {reason}")
    for line in not_delivered_lines(failed):
        flash(line)
    for line in report.risk_lines():
        flash(line)
    return redirect(form.url("replay.preview", live=None), 303)
