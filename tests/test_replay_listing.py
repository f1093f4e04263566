"""The re-send confirmation page lists every entry its click takes, a page at a time (SQLite, PostgreSQL).

It listed the first 20: a reviewer about to re-send 350 entries could not see which the other 330 were.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from auditlog import record_delivery, record_outage
from auth_helpers import signed_in_client
from flask import Flask
from flask.testing import FlaskClient

from analytics.audit import AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.collector import Collector
from analytics.messages import build_message
from webapp.auth.roles import Role
from webapp.replay import listing as listing_module
from webapp.replay import routes as replay_routes

HTMX = {"HX-Request": "true"}
ROW = re.compile(
    r'<tr>\s*<td data-label="Message id"><a href="[^"]*" title="([^"]+)">'
    r'.*?<td data-label="Will be">(\S+)</td>',
    re.S,
)
NEXT = re.compile(
    r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#replay-more" hx-swap="outerHTML">Show the next (\d+)</a>'
)


def _masked_only(store: AuditStore) -> str:
    """A failed identify whose personal data was stored masked only (no encryption key): a re-send
    skips it."""
    info = CATALOG.identifier("Register")
    message = build_message(info.example_spec())
    store.record(
        message,
        status=AuditStatus.PENDING,
        source="application",
        personal_data_keys=info.spec.personal_data_keys(),
    )
    store.record_outcome([message["messageId"]], AuditStatus.FAILED, http_status=500, error="boom")
    return str(message["messageId"])


def _log(app: Flask) -> dict[str, list[str]]:
    """5 refused, 2 that may have arrived, 2 delivered, 3 stuck pending, 1 pending not stuck yet and
    1 that a re-send would skip: their message ids by class."""
    from webapp.extensions import analytics_client

    with app.app_context():
        store = analytics_client.store()
        ids = record_outage(store)
        ids["refused"] += [record_delivery(store, AuditStatus.FAILED, http_status=503) for _ in range(2)]
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        ids["stuck"] = [record_delivery(store, AuditStatus.PENDING, recorded=long_ago) for _ in range(3)]
        ids["waiting"] = [record_delivery(store, AuditStatus.PENDING)]
        ids["skipped"] = [_masked_only(store)]
    return ids


def _rows(html: str) -> list[tuple[str, str]]:
    return [(message_id, will_be) for message_id, will_be in ROW.findall(html)]


def _listed(client: FlaskClient, view: str) -> tuple[list[tuple[str, str]], str]:
    """Every row the page lists, following "Show the next" as htmx does, and the last count line."""
    page = client.get(f"/audit/replay/?{view}").get_data(as_text=True)
    rows = _rows(page)
    said = re.search(r'<p id="replay-more"[^>]*>(.*?)</p>', page, re.S)
    more = NEXT.search(page)
    while more is not None:
        added = client.get(unescape(more.group(1)), headers=HTMX).get_data(as_text=True)
        new = _rows(added)
        assert len(new) == int(more.group(2)), added
        rows += new
        said = re.search(r'<p id="replay-more"[^>]*>(.*?)</p>', added, re.S)
        more = NEXT.search(added)
    return rows, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", said.group(1))).strip() if said else ""


@pytest.mark.parametrize(
    ("view", "classes", "statement"),
    [
        (
            "",
            ("refused", "may_have_arrived", "stuck", "skipped"),
            "All 11 entries the button takes are listed: it re-sends 10 and skips 1.",
        ),
        ("status=pending", ("stuck",), "All 3 entries the button re-sends are listed."),
        (
            "outcome=refused",
            ("refused", "skipped"),
            "All 6 entries the button takes are listed: it re-sends 5 and skips 1.",
        ),
    ],
)
def test_the_confirmation_page_lists_every_entry_its_click_takes(
    make_app: Callable[..., Flask],
    database_url: str,
    collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    view: str,
    classes: tuple[str, ...],
    statement: str,
) -> None:
    monkeypatch.setattr(listing_module, "FIRST_PAGE", 2)
    monkeypatch.setattr(listing_module, "NEXT_PAGE", 3)
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    ids = _log(app)
    rows, said = _listed(client, view)
    assert said == statement
    assert len(rows) == len({message_id for message_id, _ in rows})  # no entry listed twice
    expected = {message_id for name in classes for message_id in ids[name]}
    assert {message_id for message_id, _ in rows} == expected
    # The rows said "re-sent" are exactly what the click re-sends.
    page = client.get(f"/audit/replay/?{view}").get_data(as_text=True)
    offer = re.search(r'name="offer" value="([0-9a-f]+)"', page)
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert offer is not None and csrf is not None
    posted = client.post(
        f"/audit/replay/?{view}", data={"csrf_token": csrf.group(1), "offer": offer.group(1)}
    )
    assert posted.status_code == 303
    resent = {message["messageId"] for message in collector.received()}
    assert resent == {message_id for message_id, will_be in rows if will_be == "re-sent"}
    assert {message_id for message_id, will_be in rows if will_be == "skipped"} == set(
        ids["skipped"]
    ) & expected


def test_the_list_goes_on_without_javascript_and_says_when_the_view_changed(
    make_app: Callable[..., Flask],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing_module, "FIRST_PAGE", 2)
    monkeypatch.setattr(listing_module, "NEXT_PAGE", 2)
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    ids = _log(app)
    page = client.get("/audit/replay/?outcome=refused").get_data(as_text=True)
    assert "The first 2 of the 6 entries the button takes are listed: it re-sends 5 and skips 1." in page
    more = NEXT.search(page)
    assert more is not None
    following = client.get(unescape(more.group(1)))
    assert following.status_code == 200 and "HX-Request" in following.headers["Vary"]
    html = following.get_data(as_text=True)
    assert '<th scope="rowgroup" colspan="7" tabindex="-1">Entries 3 to 4 of 6</th>' in html
    assert len(_rows(html)) == 2 and not set(_rows(html)) & set(_rows(page))
    assert "Entries 3 to 4 of the 6 entries the button takes" in html and ">List from the first</a>" in html
    # An entry that became re-sendable meanwhile changes the offer: its next page lists nothing.
    from webapp.extensions import analytics_client

    with app.app_context():
        record_delivery(analytics_client.store(), AuditStatus.FAILED, http_status=500)
    changed = client.get(unescape(more.group(1)), headers=HTMX).get_data(as_text=True)
    assert "The view changed since this page was drawn" in changed and not _rows(changed)
    restarted = client.get(unescape(more.group(1))).get_data(as_text=True)
    assert "the list starts again from the first entries" in restarted
    assert [message_id for message_id, _ in _rows(restarted)] == [m for m, _ in _rows(page)]
    assert "of the 7 entries the button takes" in restarted and ids["refused"]
    bad = client.get("/audit/replay/entries?outcome=refused&listed_after=x")
    assert bad.status_code == 400
    assert "<code>listed_after</code>: not an entry of this list" in bad.get_data(as_text=True)


def test_a_next_page_reads_its_own_rows_not_the_whole_offer_again(
    make_app: Callable[..., Flask],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each "Show the next" worked the whole offer out again: every entry's payload and attempts for
    the risk lines and the token. The page checks the click's entries by their ids, then lists its own."""
    monkeypatch.setattr(listing_module, "FIRST_PAGE", 2)
    monkeypatch.setattr(listing_module, "NEXT_PAGE", 3)
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    _log(app)
    page = client.get("/audit/replay/").get_data(as_text=True)
    more = NEXT.search(page)
    assert more is not None

    def worked_out_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("a next page worked the click's whole offer out again")

    monkeypatch.setattr(replay_routes, "click_outlook", worked_out_again)
    following = client.get(unescape(more.group(1)), headers=HTMX)
    assert following.status_code == 200
    html = following.get_data(as_text=True)
    assert len(_rows(html)) == 3 and not {m for m, _ in _rows(html)} & {m for m, _ in _rows(page)}
    assert "The first 5 of the 11 entries the button takes are listed: it re-sends 10 and skips 1." in re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", "", html)
    )


def test_a_next_page_whose_count_is_not_the_offer_s_lists_nothing(
    make_app: Callable[..., Flask],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The link carries how many the click re-sends, with a digest of it and of the click's entries."""
    monkeypatch.setattr(listing_module, "FIRST_PAGE", 2)
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    client = signed_in_client(app, Role.ENGINEER)
    _log(app)
    more = NEXT.search(client.get("/audit/replay/").get_data(as_text=True))
    assert more is not None
    link = unescape(more.group(1))
    assert "sendable=10&" in link
    changed = client.get(link.replace("sendable=10&", "sendable=11&"), headers=HTMX).get_data(as_text=True)
    assert "The view changed since this page was drawn" in changed and not _rows(changed)
