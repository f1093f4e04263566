"""Seeding the audit log for the audit review tests: real specs, real `AuditStore.record`.

Entries are recorded exactly as the client records them; only `recorded_at` is then moved to the
time a test needs, since the store stamps entries with the current time.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.client import RemoteDisconnected
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, Select, delete, insert, select, update
from urllib3.exceptions import ProtocolError

from analytics.audit import (
    AuditEntry,
    AuditMessageId,
    AuditStatus,
    AuditStore,
    CatalogVersion,
    DeliveryAttempt,
)
from analytics.catalog import CATALOG
from analytics.messages import CONTEXT_KEY, build_message
from analytics.network_errors import describe_network_error
from analytics.spec import PERSONAL_DATA_KEY

ROOT = Path(__file__).resolve().parent.parent

LATE_WRITER = """
import sys
from sqlalchemy import event
from analytics.audit import AuditStatus, AuditStore, create_audit_engine
from analytics.catalog import CATALOG
from analytics.messages import build_message

engine = create_audit_engine(sys.argv[1])

@event.listens_for(engine, "before_cursor_execute")
def hold(connection, cursor, statement, parameters, context, executemany):
    # The entry is stamped and chained; its transaction has taken no lock yet.
    if statement.lstrip().upper().startswith("INSERT INTO AUDIT_MESSAGE_IDS"):
        print("stamped", flush=True)
        sys.stdin.readline()

message = build_message(CATALOG.event("ProjectCreate").example_spec())
AuditStore(engine).record(message, status=AuditStatus.PENDING, source="application")
print(message["messageId"], flush=True)
"""
"""A process that records one entry as an application host does, but stops once the entry is stamped
and chained, before its INSERT, until a line arrives on its stdin: its commit then lands after
newer entries', every time. It prints `stamped` when it stops and the entry's messageId at the end."""


@contextmanager
def late_writer(database_url: str) -> Iterator[Callable[[], str]]:
    """Run `LATE_WRITER` on the database until its entry is stamped; the function that lets it
    commit and gives the entry's messageId. The process is killed if the block ends before that."""
    late = subprocess.Popen(
        [sys.executable, "-c", LATE_WRITER, database_url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def commit() -> str:
        assert late.stdin is not None
        late.stdin.write("commit\n")
        late.stdin.flush()
        message_id, errors = late.communicate(timeout=60)
        assert late.returncode == 0, errors
        return message_id.strip()

    try:
        assert late.stdout is not None
        assert late.stdout.readline() == "stamped\n"
        yield commit
    finally:
        if late.poll() is None:
            late.kill()
            late.communicate()


def record(
    store: AuditStore,
    spec_name: str,
    *,
    scope: dict[str, Any],
    properties: dict[str, Any] | None = None,
    status: AuditStatus | str = AuditStatus.PENDING,
    source: str = "application",
    actor: str | None = None,
    version: str | None = None,
    recorded_at: datetime | None = None,
    destination: str | None = None,
    masked: bool = True,
) -> str:
    """Record one message built from a catalog spec (event constant or identify name); its messageId.

    Args:
        store: where to record it.
        spec_name: `ClusterProvisioningSuccess`, `Register`, …
        scope: the scope's ids (`user_id`, `project_id`, …).
        properties: the spec's own values.
        status: the entry's status.
        source: the sending path.
        actor: who sent it.
        version: a catalog version other than today's, as an older build would have written.
        recorded_at: when the entry should appear to have been written (UTC).
        destination: where a tester send went (`name:fingerprint`).
        masked: mask what the spec marks personal data; without, stored in clear, as a host running
            a catalog version that did not mark it yet stored it.
    """
    try:
        info = CATALOG.event(spec_name)
    except KeyError:
        info = CATALOG.identifier(spec_name)
    spec = info.spec(scope=info.scope(**scope), **(properties or {}))
    message = build_message(spec, source=source, actor=actor)
    if version is not None:
        message["context"][CONTEXT_KEY]["version"] = version
    store.record(
        message,
        status=AuditStatus(status),
        source=source,
        actor=actor,
        destination=destination,
        personal_data_keys=info.spec.personal_data_keys() if masked else (),
    )
    if recorded_at is not None:
        move(store, message["messageId"], recorded_at)
    return str(message["messageId"])


def record_catalog_version(store: AuditStore, version: str, bundle: dict[str, Any]) -> None:
    """Record a catalog version's bundle, as a host running that version records it at start."""
    with store.engine.begin() as connection:
        connection.execute(
            insert(CatalogVersion).values(version=version, first_seen=datetime.now(UTC), bundle=bundle)
        )


def without_personal_data(event: str, prop: str, section: str = "events") -> dict[str, Any]:
    """Today's schema bundle as a previous version had it, before `prop` of `event` (an identify name
    in section `identifiers`) was personal data."""
    bundle = copy.deepcopy(dict(CATALOG.shared_bundle))
    del bundle[section][event]["properties"][prop][PERSONAL_DATA_KEY]
    return bundle


def record_pending(
    store: AuditStore, count: int = 1, constant: str = "ClusterProvisioningSuccess"
) -> list[str]:
    """`count` pending entries of the event's example, as an application records them: their message ids."""
    ids = []
    for _ in range(count):
        message = build_message(CATALOG.event(constant).example_spec())
        store.record(message, status=AuditStatus.PENDING, source="application")
        ids.append(message["messageId"])
    return ids


def move(store: AuditStore, message_id: str, recorded_at: datetime) -> None:
    """Set when an entry appears to have been recorded."""
    with store.engine.begin() as connection:
        connection.execute(
            update(AuditEntry).where(AuditEntry.message_id == message_id).values(recorded_at=recorded_at)
        )


def unclaim(store: AuditStore, message_ids: list[str]) -> None:
    """Leave the entries as an application host of a release before 0007 writes them after that
    migration: in `audit_entries`, without their `audit_message_ids` row."""
    with store.engine.begin() as connection:
        connection.execute(delete(AuditMessageId).where(AuditMessageId.message_id.in_(message_ids)))


def copy_unclaimed(store: AuditStore, message_id: str, writer_id: str) -> None:
    """A second entry with an entry's message id, written as a pre-0007 host writes (no claim, so
    nothing refuses it): the entry's columns, as the first of `writer_id`'s chain."""
    table = AuditEntry.__table__
    with store.engine.begin() as connection:
        query = select(*table.columns).where(table.c.message_id == message_id)
        row = dict(connection.execute(query).mappings().one())
        row.pop("id")
        connection.execute(insert(table), {**row, "writer_id": writer_id, "seq": 1})


def record_delivery(
    store: AuditStore,
    status: AuditStatus,
    *,
    destination: str | None = None,
    recorded: datetime | None = None,
    http_status: int | None = None,
    error: str | None = None,
) -> str:
    """Audit one message as pending, then its outcome as the client records it; its messageId.

    Args:
        store: where to record it.
        status: the outcome (`pending` records none).
        destination: a tester destination (`name:fingerprint`); None for the application's client.
        recorded: when the entry, its status change and its attempt should appear to have happened.
        http_status: the endpoint's answer.
        error: the endpoint's error text.
    """
    message = build_message(CATALOG.event("ClusterProvisioningSuccess").example_spec())
    message_id = str(message["messageId"])
    source = "application" if destination is None else "tester"
    store.record(message, status=AuditStatus.PENDING, source=source, destination=destination)
    if status != AuditStatus.PENDING:
        store.record_outcome([message_id], status, http_status=http_status, error=error)
    if recorded is not None:
        with store.engine.begin() as connection:
            connection.execute(
                update(AuditEntry)
                .where(AuditEntry.message_id == message_id)
                .values(recorded_at=recorded, status_changed_at=recorded)
            )
            connection.execute(
                update(DeliveryAttempt)
                .where(DeliveryAttempt.message_id == message_id)
                .values(attempted_at=recorded)
            )
    return message_id


def network_error(kind: type[requests.RequestException]) -> str:
    """The error text the client records for a request to the collector that got no HTTP answer."""
    request = requests.Request("POST", "http://127.0.0.1:9/v1/batch").prepare()
    return describe_network_error(kind("no answer", request=request))


def closed_before_answer(kind: type[requests.ConnectionError] = requests.ConnectionError) -> str:
    """The error text the client records when the collector closed the connection after the request
    went out, as `requests` reports it: urllib3's `ProtocolError` ("Connection aborted.") inside `kind`
    (a `ProxyError` or an `SSLError` takes the same branch)."""
    request = requests.Request("POST", "http://127.0.0.1:9/v1/batch").prepare()
    closed = ProtocolError(
        "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")
    )
    return describe_network_error(kind(closed, request=request))


def record_outage(store: AuditStore) -> dict[str, list[str]]:
    """An outage's outcomes, their message ids by class: 2 `delivered`; 3 `refused` (an HTTP 500, a
    refused connection, a message dropped before sending); 2 `may_have_arrived` (read timeouts, whose
    requests went out whole)."""
    ids: dict[str, list[str]] = {"delivered": [], "refused": [], "may_have_arrived": []}
    for _ in range(2):
        ids["delivered"].append(record_delivery(store, AuditStatus.DELIVERED, http_status=200))
    ids["refused"] += [
        record_delivery(store, AuditStatus.FAILED, http_status=500, error="internal error"),
        record_delivery(store, AuditStatus.FAILED, error=network_error(requests.ConnectionError)),
        record_delivery(store, AuditStatus.DROPPED, error="queue full"),
    ]
    for _ in range(2):
        ids["may_have_arrived"].append(
            record_delivery(store, AuditStatus.FAILED, error=network_error(requests.ReadTimeout))
        )
    return ids


def query_plan(engine: Engine, query: Select[Any]) -> list[str]:
    """The database's plan of `query`, one line per row, with PostgreSQL told to use an index where it
    can: an empty or small table is cheapest read whole, and what matters is that the index can serve."""
    literal = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
        return [str(row) for row in connection.exec_driver_sql(f"{explain} {literal}")]
