"""Personal data in a host's own Segment context (`track(spec, context=...)`) is masked and sealed in
the audit log as a free-form property's is: `context.ip` and keys named like personal data (at any
depth) were stored in clear, and `audit erase` could not reach them. Segment still receives them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

import analytics
from analytics.audit import AuditEntry, AuditStore, create_audit_engine
from analytics.catalog import CATALOG, personal_context_paths
from analytics.client import AnalyticsClient
from analytics.collector import Collector
from analytics.erasure import erase
from analytics.integrity import verify
from analytics.personal_data import PersonalDataCipher, masked_in_message, unmask
from analytics.replay import ReplaySelection, blocked_reason, open_replay_client, replay
from webapp.audit.personal import VIEWER_NOTE
from webapp.auth.roles import Role
from webapp.extensions import analytics_client

CHAIN_KEY = b"event-catalog"  # the public default `init` takes under APP_ENV=development
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
    database_url: str, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `analytics.init` and `track`, as a host sends: Segment gets the real context, the audit
    log its masks and a seal, `verify` stays green, replay re-sends the real values, erase clears them."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AUDIT_ENCRYPTION_KEY", key)
    collector.inject(500, times=10_000)  # the entry ends `failed`, for replay to send again
    analytics.init("test-key", host=collector.url, database_url=database_url, max_retries=0, timeout=5)
    try:
        receipt = analytics.track(_spec(), context=CONTEXT)
    finally:
        analytics.shutdown()
    collector.reset()
    engine = create_audit_engine(database_url)
    try:
        store = AuditStore(engine, encryption_key=key)
        entry = _entry(store, receipt.message_id)
        assert entry.status == "failed"
        assert not [value for value in CLEAR if value in json.dumps(entry.payload)]
        assert masked_in_message(entry.payload) == ["context.ip", "context.traits.email"]
        stored = entry.payload["context"]
        assert (stored["userAgent"], stored["locale"], stored["traits"]["plan"]) == (
            USER_AGENT,
            "de-DE",
            "team",
        )
        assert entry.encrypted_personal_data is not None
        opened = unmask(entry.payload, entry.encrypted_personal_data, PersonalDataCipher(key))
        assert opened == receipt.message
        assert verify(engine, CHAIN_KEY).ok
        _replay(store, collector)
        [sent] = collector.received()
        assert sent["context"]["ip"] == IP and sent["context"]["traits"] == CONTEXT["traits"]
        assert erase(store, receipt.message["userId"], actor="cli:dpo").entries == 1
        erased = _entry(store, receipt.message_id)
        assert erased.encrypted_personal_data is None and erased.payload == entry.payload
        assert blocked_reason(erased, store.cipher) is not None
        checked = verify(engine, CHAIN_KEY)
        assert checked.ok, checked.findings
    finally:
        engine.dispose()


def test_segment_gets_the_real_context_and_without_the_key_replay_does_not_send_its_masks(
    database_url: str, collector: Collector
) -> None:
    """Replay would have sent `masked:…` as the person's IP address."""
    engine = create_audit_engine(database_url)
    try:
        store = AuditStore(engine)
        message_id = _send(store, collector, CONTEXT)
        [sent] = collector.received()
        assert (sent["context"]["ip"], sent["context"]["traits"]["email"]) == (IP, EMAIL)
        assert _entry(store, message_id).payload["context"]["ip"].startswith("masked:")
        reason = blocked_reason(_entry(store, message_id), store.cipher)
        assert (
            reason is not None
            and "personal data (context.ip, context.traits.email) was stored masked only" in reason
        )
    finally:
        engine.dispose()


def test_a_call_without_personal_context_stores_it_as_given(database_url: str, collector: Collector) -> None:
    engine = create_audit_engine(database_url)
    try:
        store = AuditStore(engine, encryption_key=Fernet.generate_key().decode())
        message_id = _send(store, collector, {"locale": "de-DE", "userAgent": USER_AGENT})
        entry = _entry(store, message_id)
        assert entry.payload["context"]["locale"] == "de-DE" and entry.encrypted_personal_data is None
    finally:
        engine.dispose()


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


def _replay(store: AuditStore, collector: Collector) -> None:
    client = open_replay_client(store, "test-key", collector.url, actor="ops", upload_interval=0.05)
    try:
        assert replay(store, client, ReplaySelection()).delivered == 1
    finally:
        client.shutdown()


def _entry(store: AuditStore, message_id: str) -> AuditEntry:
    entry = store.entry(message_id)
    assert entry is not None
    return entry
