"""The re-send offer reads itself again when the view's next pending entry turns stuck (SQLite, PostgreSQL).

Under the live tail the offer was drawn again only when the tail listed new or changed rows; a pending entry
that turns stuck changes no row, so the offer kept saying "not stuck yet" of it long after it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from auditlog import record_delivery
from auth_helpers import signed_in_client
from flask import Flask

from analytics.audit import AuditStatus
from analytics.collector import Collector
from webapp.auth.roles import Role

HTMX = {"HX-Request": "true"}
TRIGGER = re.compile(r'<div id="audit-replay-offer" [^>]*hx-trigger="([^"]+)"')


def _trigger(html: str) -> str:
    found = TRIGGER.search(html)
    assert found is not None, html
    return found.group(1)


def test_the_offer_reads_itself_again_when_its_next_pending_entry_turns_stuck(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    from webapp.extensions import analytics_client

    now = datetime.now(UTC)
    with app.app_context():
        store = analytics_client.store()
        record_delivery(store, AuditStatus.FAILED, http_status=500)
        # Stuck in 90 s, then one in 20 minutes: the first one decides.
        record_delivery(store, AuditStatus.PENDING, recorded=now - timedelta(hours=1) + timedelta(seconds=90))
        record_delivery(store, AuditStatus.PENDING, recorded=now - timedelta(minutes=40))
    trigger = _trigger(client.get("/audit/replay/", headers=HTMX).get_data(as_text=True))
    delay = re.fullmatch(r"audit-entries-changed from:body, load delay:(\d+)s", trigger)
    assert delay is not None, trigger
    assert 88 <= int(delay.group(1)) <= 92
    # A view without pending entries has nothing to wait for: it is read again with the tail only.
    failed = client.get("/audit/replay/?status=failed", headers=HTMX).get_data(as_text=True)
    assert _trigger(failed) == "audit-entries-changed from:body"


def test_a_click_drawn_before_its_pending_entry_turned_stuck_is_confirmed_again(
    make_app: Callable[..., Flask], database_url: str, collector: Collector
) -> None:
    """The redraw's new offer is the one a click must confirm: the one drawn before is refused (409)."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url, AUDIT_STUCK_AFTER=timedelta(seconds=3))
    client = signed_in_client(app, Role.ENGINEER)
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        record_delivery(store, AuditStatus.FAILED, http_status=500)
        record_delivery(store, AuditStatus.PENDING)
    before = client.get("/audit/replay/", headers=HTMX).get_data(as_text=True)
    assert "Re-send 1 entry not delivered" in before and "load delay:" in _trigger(before)
    token = re.search(r'name="offer" value="([0-9a-f]+)"', before)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', before)
    assert token is not None and csrf is not None
    time.sleep(int(_trigger(before).rsplit(":", 1)[1].rstrip("s")))
    after = client.get("/audit/replay/", headers=HTMX).get_data(as_text=True)
    assert "Re-send 2 entries not delivered" in after and "load delay:" not in _trigger(after)
    refused = client.post("/audit/replay/", data={"csrf_token": csrf.group(1), "offer": token.group(1)})
    assert refused.status_code == 409
    assert "Not re-sent: the view changed since it was shown; 2 entries to re-send now: confirm again." in (
        refused.get_data(as_text=True)
    )
    assert not collector.received()
