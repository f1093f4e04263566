"""Rotating AUDIT_CHAIN_KEY: the former key, listed in AUDIT_CHAIN_KEYS_RETIRED, still verifies the
chains written with it, and only those; before, every older entry read as an unmatched chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from auditlog import record_pending
from flask import Flask
from flask.testing import FlaskClient
from production_settings import AUDIT_KEYS, SECRET_KEY
from sqlalchemy import Engine, text, update

import analytics
from analytics.audit import AuditEntry, AuditStore
from analytics.chain import IMMUTABLE_FIELDS, canonical_instant, entry_hash
from analytics.integrity import KEY_SAMPLE, entry_integrity, verify
from analytics.retention import purge
from webapp import create_app
from webapp.auth.roles import Role
from webapp.config import ConfigurationError, from_environment

OLD = b"the-key-before-the-leak"
NEW = b"the-key-after-the-leak"
UNUSED = b"a-key-nothing-was-written-with"
RETIRED_NOTE = (
    "It verifies with a retired key, key 1 of AUDIT_CHAIN_KEYS_RETIRED: its writer ran before "
    "AUDIT_CHAIN_KEY was rotated."
)


def _recorded(store: AuditStore, message_id: str) -> str:
    entry = store.entry(message_id)
    assert entry is not None
    return canonical_instant(entry.recorded_at)


def test_a_retired_key_verifies_the_chains_written_with_it(engine: Engine) -> None:
    old_ids = record_pending(AuditStore(engine, chain_key=OLD), 3)
    record_pending(AuditStore(engine, chain_key=NEW, retired_chain_keys=[OLD]), 2)
    report = verify(engine, NEW, retired_keys=[OLD])
    assert report.ok, report.findings
    assert (report.entries, len(report.heads), report.retired_key_chains) == (5, 2, 1)
    last = _recorded(AuditStore(engine), old_ids[-1])
    assert report.summary() == (
        "verified 5 entries in 2 writer chains; 1 writer chain verified with a retired key "
        f"(key 1 of AUDIT_CHAIN_KEYS_RETIRED: 1 writer chain, the last entry recorded {last})"
    )
    # A retired key that verifies nothing is named as one to drop; the others keep their position.
    both = verify(engine, NEW, retired_keys=[UNUSED, OLD])
    assert both.ok and [use.chains for use in both.retired_keys] == [0, 1]
    assert both.summary().endswith(
        "(key 1 of AUDIT_CHAIN_KEYS_RETIRED: nothing left to verify, it can be dropped; "
        f"key 2 of AUDIT_CHAIN_KEYS_RETIRED: 1 writer chain, the last entry recorded {last})"
    )


def test_without_the_retired_key_the_older_chain_is_unmatched_as_before(engine: Engine) -> None:
    old_ids = record_pending(AuditStore(engine, chain_key=OLD), 3)
    record_pending(AuditStore(engine, chain_key=NEW), 2)
    report = verify(engine, NEW)
    assert [(f.kind, f.message_ids) for f in report.findings] == [
        ("unmatched-chain", (old_ids[0], old_ids[-1]))
    ]
    assert report.retired_key_chains == 0 and "retired key (" not in report.summary()


def test_an_entry_edited_in_a_retired_key_chain_is_still_edited(engine: Engine) -> None:
    # Past the entries that choose the chain's key too.
    old_ids = record_pending(AuditStore(engine, chain_key=OLD), KEY_SAMPLE + 2)
    record_pending(AuditStore(engine, chain_key=NEW), 1)
    with engine.begin() as connection:
        for message_id in (old_ids[1], old_ids[-1]):
            connection.execute(
                text("UPDATE audit_entries SET user_id = '2' WHERE message_id = :m"), {"m": message_id}
            )
    report = verify(engine, NEW, retired_keys=[OLD])
    assert [(f.kind, f.message_ids) for f in report.findings] == [
        ("edited", (old_ids[1],)),
        ("edited", (old_ids[-1],)),
    ]
    assert report.retired_key_chains == 1
    rotated = AuditStore(engine, chain_key=NEW, retired_chain_keys=[OLD])
    edited = rotated.entry(old_ids[1])
    assert edited is not None and entry_integrity(rotated, edited).problems == (
        "Its content no longer matches its hash: it was changed after it was written.",
    )


def test_an_entry_rehashed_with_a_retired_key_in_a_current_chain_is_edited(engine: Engine) -> None:
    """Whoever obtained the leaked key could rewrite an entry of a newer chain with it: a chain is
    checked with the one key most of its first entries match, so the forgery is not taken for it."""
    store = AuditStore(engine, chain_key=NEW, retired_chain_keys=[OLD])
    ids = record_pending(store, 3, "ProjectCreate")
    entry = store.entry(ids[0])
    assert entry is not None
    fields = {**{name: getattr(entry, name) for name in IMMUTABLE_FIELDS}, "user_id": "2"}
    forged = entry_hash(OLD, writer_id=entry.writer_id, seq=1, prev_hash=entry.prev_hash, fields=fields)
    with engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.id == entry.id).values(user_id="2", entry_hash=forged)
        )
    report = verify(engine, NEW, retired_keys=[OLD])
    assert [(f.kind, f.message_ids) for f in report.findings] == [
        ("edited", (ids[0],)),
        ("broken-link", (ids[0], ids[1])),
    ]
    assert report.retired_key_chains == 0
    rewritten = store.entry(ids[0])
    assert rewritten is not None and not entry_integrity(store, rewritten).verifies


@pytest.mark.parametrize("purged_with", ["old", "new"])
def test_purge_checkpoints_verify_with_the_key_that_wrote_them(engine: Engine, purged_with: str) -> None:
    """A purge before the rotation hashed its checkpoint with the key of that time."""
    old = AuditStore(engine, chain_key=OLD)
    record_pending(old, 4, "ProjectCreate")
    boundary = datetime.now(UTC)
    record_pending(old, 2, "ProjectCreate")
    new = AuditStore(engine, chain_key=NEW, retired_chain_keys=[OLD])
    record_pending(new, 1, "ProjectCreate")
    purge(
        old if purged_with == "old" else new,
        boundary,
        period=timedelta(days=90),
        actor="ops",
        now=boundary + timedelta(days=90),
    )
    report = verify(engine, NEW, retired_keys=[OLD])
    assert report.ok, report.findings
    assert report.checkpoints == 1
    [use] = report.retired_keys
    assert (use.chains, use.checkpoints) == (1, 1 if purged_with == "old" else 0)
    without = verify(engine, NEW)
    assert {f.kind for f in without.findings} == (
        {"unmatched-chain", "gap"} if purged_with == "old" else {"unmatched-chain"}
    )


def test_the_entry_page_says_the_entry_verifies_with_a_retired_key(
    app: Flask, make_app: Callable[..., Flask], login_as: Callable[..., FlaskClient]
) -> None:
    """A deployment that ran on the default key, then set its own and retired the default."""
    from webapp.extensions import analytics_client

    with app.app_context():
        older, edited = record_pending(analytics_client.store(), 2)
    rotated = make_app(AUDIT_CHAIN_KEY=NEW.decode(), AUDIT_CHAIN_KEYS_RETIRED=("event-catalog",))
    with rotated.app_context():
        [newer] = record_pending(analytics_client.store(), 1)
        store = analytics_client.store()
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET user_id = '99' WHERE message_id = :m"), {"m": edited}
        )
    client = login_as(Role.ADMIN, on=rotated)
    page = client.get(f"/audit/entries/{older}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<span class="badge integrity-ok">verifies</span>' in body
    assert f'<li class="muted">{RETIRED_NOTE}</li>' in body
    body = client.get(f"/audit/entries/{edited}").get_data(as_text=True)
    assert '<span class="badge integrity-bad">does not verify</span>' in body and RETIRED_NOTE not in body
    body = client.get(f"/audit/entries/{newer}").get_data(as_text=True)
    assert '<span class="badge integrity-ok">verifies</span>' in body and RETIRED_NOTE not in body
    unretired = login_as(Role.ADMIN, on=make_app(AUDIT_CHAIN_KEY=NEW.decode()))
    body = unretired.get(f"/audit/entries/{older}").get_data(as_text=True)
    assert '<span class="badge integrity-bad">does not verify</span>' in body


def test_verify_command_counts_the_chains_on_a_retired_key(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    from webapp.extensions import analytics_client

    with app.app_context():
        older = record_pending(analytics_client.store(), 2)
        last = _recorded(analytics_client.store(), older[-1])
    rotated = make_app(AUDIT_CHAIN_KEY=NEW.decode(), AUDIT_CHAIN_KEYS_RETIRED=("event-catalog",))
    with rotated.app_context():
        record_pending(analytics_client.store(), 1)
    runner = rotated.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "verified 3 entries in 2 writer chains; 1 writer chain verified with a retired key "
        f"(key 1 of AUDIT_CHAIN_KEYS_RETIRED: 1 writer chain, the last entry recorded {last})\n"
    )
    body = json.loads(runner.invoke(args=["audit", "verify", "--format", "json"]).output)
    assert body["ok"] is True and body["retired_key_chains"] == 1
    assert body["retired_keys"] == [{"key": 1, "chains": 1, "checkpoints": 0, "last_recorded": last}]


def test_the_dashboard_and_the_library_read_the_retired_keys_alike(
    sqlite_store: AuditStore, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIT_CHAIN_KEYS_RETIRED", " first-retired-key , second-retired-key,")
    assert from_environment({"AUDIT_CHAIN_KEYS_RETIRED": " first-retired-key , second-retired-key,"}) == {
        "AUDIT_CHAIN_KEYS_RETIRED": ("first-retired-key", "second-retired-key")
    }
    client = analytics.init(database_url=sqlite_url)
    analytics.shutdown()
    assert client.store.retired_chain_keys == (b"first-retired-key", b"second-retired-key")
    assert client.store.chain_key == b"event-catalog"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("first-retired-key second-retired-key", "key 1 holds a space: separate the keys with commas"),
        ("first-retired-key,second,first-retired-key", "key 3 repeats key 1"),
    ],
)
def test_a_list_of_retired_keys_that_cannot_be_read_is_refused_by_both(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, raw: str, problem: str
) -> None:
    line = f"AUDIT_CHAIN_KEYS_RETIRED: {problem}"
    with pytest.raises(ConfigurationError) as caught:
        from_environment({"AUDIT_CHAIN_KEYS_RETIRED": raw})
    assert caught.value.problems == [line]
    monkeypatch.setenv("AUDIT_CHAIN_KEYS_RETIRED", raw)
    with pytest.raises(ConfigurationError) as caught:
        analytics.init(database_url=sqlite_url)
    assert caught.value.problems == [line]


WEAK_RETIRED_LINE = (
    "AUDIT_CHAIN_KEYS_RETIRED: APP_ENV=production refuses a retired key it would refuse as AUDIT_CHAIN_KEY "
    "(key 1, 2: public, shorter than 16 characters, a placeholder or a few characters repeated): anyone "
    "could have written what it verifies; leave it out"
)


def test_production_refuses_retired_keys_that_are_weak_or_still_in_use(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "APP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
        "SECRET_KEY": SECRET_KEY,
        **AUDIT_KEYS,
    }
    retired = (
        "event-catalog",
        "change-me-before-deploying",
        AUDIT_KEYS["AUDIT_CHAIN_KEY"],
        AUDIT_KEYS["AUDIT_MASK_KEY"],
        SECRET_KEY,
    )
    with pytest.raises(ConfigurationError) as caught:
        create_app({**settings, "AUDIT_CHAIN_KEYS_RETIRED": retired})
    assert caught.value.problems == [
        WEAK_RETIRED_LINE,
        "AUDIT_CHAIN_KEYS_RETIRED: must differ from AUDIT_CHAIN_KEY (give each secret its own value)",
        "AUDIT_CHAIN_KEYS_RETIRED: must differ from AUDIT_MASK_KEY (give each secret its own value)",
        "AUDIT_CHAIN_KEYS_RETIRED: must differ from SECRET_KEY (give each secret its own value)",
    ]
    good = ("5e1d0c3b2a4f6e8d9c7b1a2f3e4d5c6b",)
    assert (
        create_app({**settings, "AUDIT_CHAIN_KEYS_RETIRED": good}).config["AUDIT_CHAIN_KEYS_RETIRED"] == good
    )


def test_init_refuses_retired_keys_in_production_as_the_dashboard_does(
    sqlite_store: AuditStore, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    for name, value in AUDIT_KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AUDIT_CHAIN_KEYS_RETIRED",
        f"event-catalog, change-me-before-deploying, {AUDIT_KEYS['AUDIT_CHAIN_KEY']}",
    )
    with pytest.raises(ConfigurationError) as caught:
        analytics.init(database_url=sqlite_url)
    assert caught.value.problems == [
        WEAK_RETIRED_LINE,
        "AUDIT_CHAIN_KEYS_RETIRED: must differ from AUDIT_CHAIN_KEY (give each secret its own value)",
    ]
    monkeypatch.setenv("AUDIT_CHAIN_KEYS_RETIRED", "5e1d0c3b2a4f6e8d9c7b1a2f3e4d5c6b")
    client = analytics.init(database_url=sqlite_url)
    analytics.shutdown()
    assert client.store.retired_chain_keys == (b"5e1d0c3b2a4f6e8d9c7b1a2f3e4d5c6b",)
