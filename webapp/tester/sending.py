"""Sending a composed message: one `AnalyticsClient` per destination, idempotent per form token.

Each destination gets its own client with `source=tester` and `sync_mode=True`: the tester must show
the endpoint's real answer within seconds, and a synchronous client posts the message at once and
reports the outcome (recorded in the audit log as `delivered` or `failed`) before `deliver` returns,
instead of a success on enqueue. The clients live as long as the app; sync clients start no threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from analytics import AnalyticsClient, Source
from analytics.audit import AuditEntry, DeliveryAttempt
from analytics.catalog import personal_paths
from analytics.durations import as_utc, shown_instant
from analytics.messages import payload_of
from analytics.network_errors import may_have_arrived
from analytics.retention import PurgeRecord, purges
from webapp.auth.policy import require
from webapp.auth.roles import Role
from webapp.extensions import analytics_client, db
from webapp.limits import count_as_sent
from webapp.tester.compose import CONFIRM_IN_FORM, Draft, check_sendable
from webapp.tester.destinations import DEFAULT_NAME, Destination, default_destination
from webapp.tester.models import TesterSend
from webapp.tester.request_digests import asks_the_same, request_digest

_lock = threading.Lock()


NO_WRITE_KEY = "the destination has no write key, so it was audited and not sent"
"""Why a `disabled` entry was not sent: it records no error of its own."""

NO_ENTRY = "the audit log has no entry for it"
"""Why a send the audit log did not record was not sent, when nothing more is known."""


def purge_covering(claimed_at: datetime) -> PurgeRecord | None:
    """The first retention purge after a send that removed entries recorded when it was made, or None.

    A send is claimed before its entry is written, so a cutoff past the claim covers the entry; the
    purge's own record (`analytics.retention`) outlives every purge.
    """
    claimed_at = as_utc(claimed_at)
    for entry in db.session.scalars(purges(after=claimed_at)):
        purge = PurgeRecord.from_entry(entry)
        if purge is not None and purge.cutoff > claimed_at:
            return purge
    return None


def own_destination(app: Flask | None = None) -> Destination:
    """The dashboard's own `SEGMENT_HOST` and write key: the tester's default, and where replays go."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return default_destination(app.config["SEGMENT_WRITE_KEY"], app.config["SEGMENT_HOST"])


def destinations(app: Flask | None = None) -> list[Destination]:
    """Every destination the tester offers: the dashboard's own first, then `TESTER_DESTINATIONS`."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return [own_destination(app), *app.config["TESTER_DESTINATIONS"]]


def find_destination(name: str) -> Destination | None:
    """A destination by name, or None."""
    return next((d for d in destinations() if d.name == name), None)


ADMINS_ONLY = "Only admins may send to a production destination: pick another one."
"""Why the form refuses an engineer's production send (the API and the command line answer 403)."""


def checked_destination(draft: Draft, confirm: Mapping[str, str] = CONFIRM_IN_FORM) -> Destination | None:
    """The destination a send asks for, with the checks every way of sending shares.

    Production destinations are for admins (a 403 for anyone else); an unknown destination, or a
    message a destination refuses (off-schema to production, unconfirmed), adds errors to the draft
    (`confirm`: how this way of sending confirms, as `check_sendable` takes it).
    """
    destination = find_destination(draft.input.destination)
    if destination is not None and destination.production:
        require(Role.ADMIN)
    check_sendable(draft, destination, [d.name for d in destinations()], confirm)
    return destination


def destination_named_by(label: str | None) -> Destination | None:
    """The configured destination of an audit entry's `destination` name, whatever its key is now."""
    return find_destination((label or "").split(":", 1)[0] or DEFAULT_NAME)


def destination_of_label(label: str | None) -> Destination | None:
    """The configured destination an audit entry's `destination` names, if it is still configured
    with the same key."""
    found = destination_named_by(label)
    return found if found is not None and found.label == (label or found.label) else None


def client_for(destination: Destination) -> AnalyticsClient:
    """The app's synchronous tester client for a destination, created on first use."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    clients: dict[str, AnalyticsClient] = app.extensions.setdefault("tester_clients", {})
    with _lock:
        if destination.label not in clients:
            store = analytics_client.store(app)
            store.check_schema()
            clients[destination.label] = AnalyticsClient(
                destination.write_key,
                store=store,
                host=destination.host,
                source=Source.TESTER,
                destination=destination.label,
                strict=True,
                sync_mode=True,
                timeout=app.config["TESTER_TIMEOUT"],
            )
        return clients[destination.label]


@dataclass(frozen=True)
class SendResult:
    """What the result panel shows about one send, read back from the audit log.

    Attributes:
        message_id: the message's id.
        entry: its audit entry (None when the audit log could not record it: then nothing was sent).
        attempts: its delivery attempts, oldest first.
        round_trip_ms: from handing the message over to knowing its outcome.
        sent: the message exactly as handed to the client (only known right after the send; the
            audit copy has personal data masked).
        duplicate: this form had already been sent; this is the first send's result.
        conflict: the form's token had been sent with other values (a duplicate that asked for
            something else): nothing was sent for this request.
        error: what went wrong before the audit log (e.g. it was unavailable).
        in_flight: the request that claimed this send has not finished it yet (a repeat of its
            token arrived meanwhile): its status may still move, or its entry be still to come.
        purged: the retention purge that removed its entry since (then its outcome is not known,
            and it was not "never recorded").
    """

    message_id: str
    entry: AuditEntry | None
    attempts: list[DeliveryAttempt]
    round_trip_ms: float | None = None
    sent: dict[str, Any] | None = None
    duplicate: bool = False
    conflict: bool = False
    error: str | None = None
    in_flight: bool = False
    purged: PurgeRecord | None = None

    @property
    def final(self) -> bool:
        """Whether the status will not move any more (a pending send is still in flight)."""
        return not self.in_flight and (self.entry is None or self.entry.status != "pending")

    @property
    def failed(self) -> bool:
        """Whether the message did not reach the endpoint (or was not recorded)."""
        if self.entry is None:
            return not self.in_flight and self.purged is None
        return self.entry.status in ("failed", "dropped")

    @property
    def why_not_delivered(self) -> str | None:
        """What went wrong, as the API's `error`, the command line's error line and the result panel
        say it: the entry's error, or why there is none; None when nothing did (or not yet)."""
        if self.entry is None and self.purge_reason is not None:
            return f"{self.purge_reason}, so its outcome is no longer known"
        if self.entry is None:
            return None if self.in_flight else self.error or NO_ENTRY
        if self.entry.status == "disabled":
            return self.entry.error or NO_WRITE_KEY
        return self.entry.error or self.error

    @property
    def purge_reason(self) -> str | None:
        """What became of the send's entry, as every way of sending says it, when a purge removed it."""
        if self.purged is None:
            return None
        ran, cutoff = shown_instant(self.purged.ran_at), shown_instant(self.purged.cutoff)
        return f"its audit entry was purged by retention on {ran} (entries recorded before {cutoff})"

    @property
    def token_used(self) -> str:
        """For a refused reuse of a form token (`conflict`), who used it before, as the API's 409 and
        the command line's error say it."""
        return "by another person" if self.error else f"for a different message ({self.message_id})"

    @property
    def may_have_arrived(self) -> bool:
        """Whether a failed send may have reached the endpoint anyway: it got no answer in time
        (`TESTER_TIMEOUT`), or the endpoint closed the connection before answering, but the request
        went out. The audit log keeps it failed."""
        entry = self.entry
        return (
            entry is not None
            and entry.status == "failed"
            and entry.http_status is None
            and may_have_arrived(entry.error)
        )


def load_result(message_id: str, **details: Any) -> SendResult | None:
    """The result of a tester send, or None when no tester send has this id."""
    send = db.session.scalar(select(TesterSend).where(TesterSend.message_id == message_id))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.message_id == message_id))
    if send is None and (entry is None or entry.source != Source.TESTER):
        return None
    attempts = db.session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.message_id == message_id).order_by(DeliveryAttempt.id)
    ).all()
    round_trip = send.round_trip_ms if send is not None else None
    in_flight = send is not None and round_trip is None and _may_still_finish(send)
    purged = purge_covering(send.created_at) if send is not None and entry is None and not in_flight else None
    return SendResult(
        message_id, entry, list(attempts), round_trip, in_flight=in_flight, purged=purged, **details
    )


def _may_still_finish(send: TesterSend) -> bool:
    """Whether a send with no round trip yet may still be in its request's hands.

    A synchronous send ends within its connect and read timeouts; one claimed longer ago than both
    and a margin will never finish (its process stopped mid-send), so it is not waited for.
    """
    longest = timedelta(seconds=2 * current_app.config["TESTER_TIMEOUT"] + 30)
    return as_utc(send.created_at) > datetime.now(UTC) - longest


def send(draft: Draft, destination: Destination, *, actor: str) -> SendResult:
    """Send a composed, checked draft once per form token, and return what happened.

    The send is claimed (its token stored, unique) before the message is audited and handed to the
    client, so a second submit of the same form finds the claim and gets the first send's result
    instead of sending again, even while the first is still in flight.
    """
    assert draft.ok and draft.message is not None and draft.info is not None
    message = draft.message
    client = client_for(destination)
    digest = request_digest(message, destination)
    claim = TesterSend(
        message_id=message["messageId"],
        form_token=draft.input.token,
        request_digest=digest,
        actor=actor,
        created_at=datetime.now(UTC),
    )
    db.session.add(claim)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        first = db.session.scalar(select(TesterSend).where(TesterSend.form_token == draft.input.token))
        if first is None:
            raise
        if first.actor != actor:
            # Someone else's token (a copied request): not this person's send to report.
            return SendResult(
                first.message_id, None, [], conflict=True, error="the token belongs to another person's send"
            )
        conflict = first.request_digest is not None and not asks_the_same(
            first.request_digest, message, destination
        )
        return _result_of_duplicate(first.message_id, conflict=conflict)
    # Claimed: this request hands a message over, so it counts towards the send limits.
    count_as_sent()
    started = time.perf_counter()
    personal = personal_paths(draft.info.spec, payload_of(message))
    receipt = client.deliver(message, personal_data_keys=personal, actor=actor)
    round_trip_ms = (time.perf_counter() - started) * 1000
    # An UPDATE by id: setting the attribute of the committed (expired) claim would SELECT it first.
    timed = update(TesterSend).where(TesterSend.message_id == claim.message_id)
    db.session.execute(timed.values(round_trip_ms=round_trip_ms))
    db.session.commit()
    error = str(receipt.error) if receipt.status is None and receipt.error is not None else None
    result = load_result(message["messageId"], sent=message, error=error)
    assert result is not None
    return result


NOT_RECORDED = "the first send with this token was not recorded in the audit log, so nothing was sent"
"""Why a repeat of a send that claimed its token, then failed before the audit log, sends nothing."""


def _result_of_duplicate(message_id: str, *, conflict: bool) -> SendResult:
    result = load_result(message_id, duplicate=True, conflict=conflict)
    if result is None:
        return SendResult(message_id, None, [], duplicate=True, conflict=conflict, error=NOT_RECORDED)
    if result.entry is None and not result.in_flight and result.purged is None:
        return replace(result, error=NOT_RECORDED)
    return result


def local_destination(result: SendResult) -> Destination | None:
    """The local destination a send went to: the one whose collector can show its copy.

    Only local destinations are asked (Segment has no such endpoint), and only for a send that
    reached it: a delivered one, or one that timed out or whose connection closed before the answer,
    which the collector may have taken in.
    """
    if result.entry is None or (result.entry.status != "delivered" and not result.may_have_arrived):
        return None
    destination = destination_of_label(result.entry.destination)
    return destination if destination is not None and destination.is_local else None


def collector_copy(result: SendResult) -> dict[str, Any] | None:
    """What the local collector received for this message, when the destination is local.

    Any problem reading it just means there is no copy to show, never an error in the panel.
    """
    destination = local_destination(result)
    if destination is None:
        return None
    try:
        response = requests.get(
            f"{destination.host}/messages", params={"messageId": result.message_id, "limit": 1}, timeout=2
        )
        messages = response.json().get("messages") if response.ok else None
    except (requests.RequestException, ValueError):
        return None
    return messages[0] if isinstance(messages, list) and messages else None
