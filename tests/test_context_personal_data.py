"""Personal data in a host's own Segment context (`track(spec, context=...)`) is masked and sealed in
the audit log as a free-form property's is: `context.ip` and keys named like personal data (at any
depth) were stored in clear, and `audit erase` could not reach them. Segment still receives them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from personal_data_helpers import (
    entry_of,
    host_encryption_key,
    refused_host_send,
    replayed_then_erased,
    sealed_entry,
)
from sqlalchemy import Engine

import analytics
from analytics.audit import AuditStore
from analytics.catalog import CATALOG, personal_context_paths
from analytics.client import AnalyticsClient
from analytics.collector import Collector
from analytics.personal_data import masked_in_message
from analytics.replay import blocked_reason
from webapp.audit.personal import VIEWER_NOTE
from webapp.auth.roles import Role
from webapp.extensions import analytics_client

IP = "203.0.113.77"
EMAIL = "context.person@example.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
CONTEXT = {
    "ip": IP,
    "userAgent": USER_AGENT,
    "locale": "de-DE",
    "traits": {"email": EMAIL, "plan": "team"},
    "page": {"path": "/billing", "url": "https://app.example.com/billing"},
}
CLEAR = (IP, EMAIL)

Login = Callable[..., FlaskClient]


def test_segment_s_ip_and_keys_named_like_personal_data_are_the_context_s_personal_paths() -> None:
    """`ip` only as Segment's own field (not a page's `ip`); `userAgent` is left in clear."""
    context = {**CONTEXT, "page": {"ip": "not Segment's field", "user_name": "ada"}}
    assert personal_context_paths(context) == {"ip", "traits.email", "page.user_name"}


def test_a_host_s_context_is_masked_sealed_sent_replayed_and_erased(
    database_url: str, engine: Engine, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `analytics.init` and `track`, as a host sends: Segment gets the real context, the audit
    log its masks and a seal, `verify` stays green, replay re-sends the real values, erase clears them."""
    key = host_encryption_key(monkeypatch)
    receipt = refused_host_send(database_url, collector, lambda: analytics.track(_spec(), context=CONTEXT))
    store = AuditStore(engine, encryption_key=key)
    entry = sealed_entry(store, receipt, key, CLEAR)
    assert masked_in_message(entry.payload) == ["context.ip", "context.traits.email"]
    stored = entry.payload["context"]
    assert (stored["userAgent"], stored["locale"], stored["traits"]["plan"]) == (USER_AGENT, "de-DE", "team")
    sent = replayed_then_erased(store, collector, entry, receipt.message["userId"])
    assert sent["context"]["ip"] == IP and sent["context"]["traits"] == CONTEXT["traits"]


def test_segment_gets_the_real_context_and_without_the_key_replay_does_not_send_its_masks(
    engine: Engine, collector: Collector
) -> None:
    """Replay would have sent `masked:…` as the person's IP address."""
    store = AuditStore(engine)
    message_id = _send(store, collector, CONTEXT)
    [sent] = collector.received()
    assert (sent["context"]["ip"], sent["context"]["traits"]["email"]) == (IP, EMAIL)
    entry = entry_of(store, message_id)
    assert entry.payload["context"]["ip"].startswith("masked:")
    reason = blocked_reason(entry, store.cipher)
    assert (
        reason is not None
        and "personal data (context.ip, context.traits.email) was stored masked only" in reason
    )


def test_a_call_without_personal_context_stores_it_as_given(engine: Engine, collector: Collector) -> None:
    store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
    message_id = _send(store, collector, {"locale": "de-DE", "userAgent": USER_AGENT})
    entry = entry_of(store, message_id)
    assert entry.payload["context"]["locale"] == "de-DE" and entry.encrypted_personal_data is None


def test_the_audit_pages_show_a_viewer_the_context_s_masks_and_an_engineer_the_values(
    make_app: Callable[..., Flask], collector: Collector, login_as: Login
) -> None:
    app = make_app(AUDIT_ENCRYPTION_KEY=Fernet.generate_key().decode())
    with app.app_context():
        store = analytics_client.store()
    message_id = _send(store, collector, CONTEXT)
    viewer = login_as(Role.VIEWER, on=app)
    for url in (f"/audit/entries/{message_id}", "/audit/", "/audit/export.ndjson"):
        response = viewer.get(url)
        assert response.status_code == 200, url
        assert not [value for value in CLEAR if value in response.get_data(as_text=True)], url
    assert VIEWER_NOTE in viewer.get(f"/audit/entries/{message_id}").get_data(as_text=True)
    engineer = login_as(Role.ENGINEER, on=app)
    assert IP in engineer.get(f"/audit/entries/{message_id}").get_data(as_text=True)


def _spec() -> Any:
    return CATALOG.event("ClusterProvisioningSuccess").example_spec()


def _send(store: AuditStore, collector: Collector, context: dict[str, Any]) -> str:
    """Track the catalog's example with `context` through a real client; its message id."""
    client = AnalyticsClient("test-key", store=store, host=collector.url, strict=True, upload_interval=0.05)
    try:
        receipt = client.track(_spec(), context=context)
    finally:
        client.shutdown()
    assert receipt.ok, receipt.error
    return receipt.message_id
