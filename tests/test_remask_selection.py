"""Which entries a viewer's export re-masks in Python, chosen by the database.

A viewer's export ran every catalog message through `remask` in Python, which cost its NDJSON export
PostgreSQL's COPY (and SQLite's line-per-row path): ~2.4x slower. The database now selects the entries
`remask` may change (`needs_remask`, a superset: never a clear value leaves), and only their lines
are decoded; the others stream as the database wrote them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from auditlog import record
from cryptography.fernet import Fernet
from nested_specs import REGISTRY, joined_to_catalog
from sqlalchemy import Engine, event, select

from analytics.audit import AuditEntry, AuditStatus, AuditStore
from analytics.catalog import CATALOG
from analytics.erasure import erase
from analytics.export import Export, ExportFormat
from analytics.messages import CONTEXT_KEY, build_message
from analytics.personal_data import mask_value
from analytics.queries import AuditFilter
from analytics.remask import needs_remask, remask

EMAIL = "bob@example.com"
OLD_VERSION = "0123456789ab"


@pytest.fixture
def sealing_store(engine: Engine) -> Iterator[AuditStore]:
    """A store that seals originals, so an erasure request has something to erase."""
    with joined_to_catalog(REGISTRY):
        yield AuditStore(engine, encryption_key=Fernet.generate_key().decode())


def _message(spec: str, user_id: int, **values: Any) -> dict[str, Any]:
    """A message as today's catalog builds it, for a test to change before recording it."""
    try:
        info = CATALOG.event(spec)
    except KeyError:
        info = CATALOG.identifier(spec)
    ids = (
        {"user_id": user_id, "project_id": 3}
        if "project_id" in info.scope.model_fields
        else {"user_id": user_id}
    )
    return build_message(info.spec(scope=info.scope(**ids), **values))


def _stored(store: AuditStore, message: dict[str, Any], *, masked: bool = False) -> str:
    """Record the message as is (`masked`: what the spec marks personal data masked and sealed)."""
    spec = CATALOG.events.get(message.get("event", ""))
    keys = spec.spec.personal_data_keys() if masked and spec is not None else ()
    store.record(message, status=AuditStatus.DELIVERED, source="application", personal_data_keys=keys)
    return str(message["messageId"])


def _every_kind(store: AuditStore) -> dict[str, str]:
    """One entry of each kind the read-time mask must judge, by what it is; returns their message ids."""
    ids: dict[str, str] = {}
    new_user = CATALOG.event("UserCreate").spec
    ids["older version, email in clear"] = record(
        store,
        "UserCreate",
        scope={"user_id": 1},
        properties={"email": EMAIL},
        version=OLD_VERSION,
        masked=False,
    )
    ids["today's, masked"] = record(store, "UserCreate", scope={"user_id": 2}, properties={"email": EMAIL})
    store.record(
        message := _message("UserCreate", 4711, email=EMAIL),
        status=AuditStatus.DELIVERED,
        source="application",
        personal_data_keys=new_user.personal_data_keys(),
    )
    ids["masked, to be erased"] = message["messageId"]
    unversioned = _message("UserCreate", 3, email=EMAIL)
    unversioned["context"][CONTEXT_KEY].pop("version")
    ids["no version, in clear"] = _stored(store, unversioned)
    unversioned = _message("UserCreate", 3, email=EMAIL)
    unversioned["context"][CONTEXT_KEY].pop("version")
    ids["no version, masked"] = _stored(store, unversioned, masked=True)
    already = _message("UserCreate", 4, email=EMAIL)
    already["properties"]["email"] = mask_value(EMAIL, store.mask_key)
    ids["already a mask"] = _stored(store, already)
    foreign_mask = _message("UserCreate", 4, email=EMAIL)
    foreign_mask["properties"]["email"] = "masked:0123456789ABCDEF"
    ids["a mask's look-alike"] = _stored(store, foreign_mask)
    nothing = _message("UserCreate", 4, email=EMAIL)
    nothing["properties"]["email"] = None
    ids["null where personal"] = _stored(store, nothing)
    boxed = _message("UserCreate", 4, email=EMAIL)
    boxed["properties"]["email"] = {"work": EMAIL}
    ids["object where personal"] = _stored(store, boxed)
    gone = _message("UserCreate", 5, email=EMAIL)
    gone.update(event="Boardly Signup")
    gone["context"][CONTEXT_KEY]["spec"] = "BoardlySignup"
    gone["properties"] = {"plan": "pro", "contact_email": EMAIL, "meta": {"phone": "+49 30 1234"}}
    ids["event no longer in the catalog"] = _stored(store, gone)
    gone_plain = {**gone, "messageId": gone["messageId"] + "-plain", "properties": {"plan": "pro"}}
    ids["event no longer in the catalog, nothing personal"] = _stored(store, gone_plain)
    renamed = _message("UserCreate", 6, email=EMAIL)
    renamed.update(event="User Created (old name)")
    ids["renamed event, found by its marker"] = _stored(store, renamed)
    by_constant = _message("UserCreate", 6, email=EMAIL)
    by_constant.update(event="User Created (old name)")
    by_constant["context"][CONTEXT_KEY]["spec"] = "UserCreate"
    ids["renamed event, masked, found by its marker"] = _stored(store, by_constant)
    store.record(
        by_constant := {**by_constant, "messageId": by_constant["messageId"] + "-masked"},
        status=AuditStatus.DELIVERED,
        source="application",
        personal_data_keys=new_user.personal_data_keys(),
    )
    ids["renamed event, masked"] = by_constant["messageId"]
    ids["identify, in clear"] = record(
        store, "Register", scope={"user_id": 7}, properties={"email": EMAIL, "github": True}, masked=False
    )
    ids["identify, masked"] = record(
        store, "Register", scope={"user_id": 8}, properties={"email": EMAIL, "github": True}
    )
    off_schema = _message("UserCreate", 9, email=EMAIL)
    off_schema["properties"]["contact_email"] = EMAIL
    ids["undeclared key named like personal data"] = _stored(store, off_schema, masked=True)
    campaign = _message("UserCreate", 9, email=EMAIL)
    campaign["properties"]["campaign"] = "spring"
    ids["undeclared key, nothing personal"] = _stored(store, campaign, masked=True)
    order = _message(
        "OrderPlace",
        10,
        line_items=[{"sku": "pro-seat", "quantity": 3}],
        payment_method={"kind": "card"},
        discounts={"SPRING": 500},
    )
    order["properties"]["payment_method"]["holder_email"] = EMAIL
    order["properties"]["discounts"]["email"] = EMAIL
    ids["nested and free-form keys named like personal data"] = _stored(store, order)
    erase(store, "4711", actor="cli:dpo")
    return ids


PLAIN = (
    "today's, masked",
    "masked, to be erased",
    "no version, masked",
    "already a mask",
    "renamed event, masked",
    "identify, masked",
)
"""The kinds `remask` leaves as stored whose entries the database can tell so: they keep the fast path."""


def _viewer_export(store: AuditStore, export_format: ExportFormat, attempts: bool = False) -> str:
    return "".join(
        Export(store.engine, AuditFilter(), export_format, attempts=attempts, remask_key=store.mask_key)
    )


def _by_message(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["message_id"]: line for line in lines}


def _remasked_by_message(store: AuditStore) -> dict[str, dict[str, Any]]:
    """What the entry page shows a viewer of each stored entry (`webapp.audit.personal.remasked`)."""
    with store.engine.connect() as connection:
        entries = connection.execute(select(AuditEntry.message_id, AuditEntry.payload)).all()
    return {message_id: remask(payload, store.mask_key).payload for message_id, payload in entries}


def test_a_viewer_s_export_masks_each_entry_as_the_entry_page_does(sealing_store: AuditStore) -> None:
    store = sealing_store
    ids = _every_kind(store)
    shown = _remasked_by_message(store)
    assert len(shown) == len(ids) + 1  # the erasure request's own record among them
    stored = _by_message(
        [
            json.loads(line)
            for line in "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON)).splitlines()
        ]
    )
    for export_format, attempts in (
        (ExportFormat.NDJSON, False),
        (ExportFormat.NDJSON, True),
        (ExportFormat.CSV, False),
    ):
        text = _viewer_export(store, export_format, attempts)
        if export_format is ExportFormat.CSV:
            rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
            exported = {row["message_id"]: json.loads(row["payload"]) for row in rows}
        else:
            lines = _by_message([json.loads(line) for line in text.splitlines()])
            exported = {message_id: line["payload"] for message_id, line in lines.items()}
            for message_id, line in lines.items():
                rest = {key: value for key, value in line.items() if key not in ("payload", "attempts")}
                assert rest == {key: value for key, value in stored[message_id].items() if key != "payload"}
        assert exported == shown, (export_format, attempts)
        assert EMAIL not in text
    assert EMAIL in "".join(Export(store.engine, AuditFilter(), ExportFormat.NDJSON))


def test_the_database_selects_every_entry_remask_changes_and_none_it_can_tell_apart(
    sealing_store: AuditStore,
) -> None:
    store = sealing_store
    ids = _every_kind(store)
    kinds = {message_id: kind for kind, message_id in ids.items()}
    with store.engine.connect() as connection:
        rows = connection.execute(select(AuditEntry.message_id, AuditEntry.payload, needs_remask())).all()
    selected = {kinds.get(message_id, "erasure record"): flag for message_id, _, flag in rows}
    changed = {
        kinds.get(message_id, "erasure record")
        for message_id, payload, _ in rows
        if remask(payload, store.mask_key).in_clear
    }
    assert changed and all(selected[kind] for kind in changed)
    assert {kind for kind, flag in selected.items() if not flag} == {*PLAIN, "erasure record"}


def test_a_viewer_s_ndjson_export_keeps_the_database_s_lines(sealing_store: AuditStore) -> None:
    """PostgreSQL streams it with COPY (no statement through a cursor reads the entries); SQLite reads
    each entry as its one finished line, not cut around a payload for Python to join."""
    store = sealing_store
    _every_kind(store)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        text = _viewer_export(store, ExportFormat.NDJSON)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert EMAIL not in text and len(text.splitlines()) == len(_remasked_by_message(store))
    reads = [statement for statement in statements if "FROM audit_entries" in statement]
    if store.engine.dialect.name == "postgresql":
        assert reads == []
    else:
        [read] = reads
        assert " AS line" in read and " AS payload" not in read
