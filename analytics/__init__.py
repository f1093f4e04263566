"""Declare analytics events as code, send them through Segment, and audit every one.

The module-level functions use one default client, set up by `init`::

    import analytics
    from analytics.scopes import ClusterScope
    from analytics.tracks import ClusterKind, ClusterProvisioningSuccess

    analytics.init()  # SEGMENT_WRITE_KEY, SEGMENT_HOST and DATABASE_URL from the environment
    receipt = analytics.track(
        ClusterProvisioningSuccess(
            scope=ClusterScope(user_id=1, project_id=2, cluster_id=3),
            cluster_type=ClusterKind.EKS,
            infra_id=9,
        )
    )
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import AuditStatus, AuditStore, Source, create_audit_engine, database_label
from analytics.audit_failures import reason
from analytics.audit_settings import audit_store, take_audit_variables
from analytics.catalog import CATALOG
from analytics.client import AnalyticsClient, Receipt, client_options, unreplayable_personal_data
from analytics.errors import (
    AnalyticsError,
    AuditDatabaseError,
    AuditWriteError,
    DeliveryError,
    EnqueueError,
    MessageBuildError,
    NotInitializedError,
    SchemaError,
)
from analytics.interrupting_calls import interrupting, one_call
from analytics.messages import build_message, check_spec
from analytics.options import check_options
from analytics.partitions import DEFAULT_AHEAD, Interval, ensure_safely
from analytics.patience import SHUTDOWN_TIMEOUT, check_timeout
from analytics.personal_data import use_personal_keys
from analytics.settings import (
    AUDIT_KEYS,
    ConfigurationError,
    EnvironmentReader,
    app_env,
    http_url,
    parse_flag,
    production_secrets,
    public_audit_keys,
)
from analytics.spec import IdentifySpec, TrackSpec
from analytics.versions import refuse_read_only

__all__ = [
    "AnalyticsClient",
    "AnalyticsError",
    "AuditDatabaseError",
    "AuditStatus",
    "AuditWriteError",
    "ConfigurationError",
    "DeliveryError",
    "EnqueueError",
    "MessageBuildError",
    "NotInitializedError",
    "Receipt",
    "SchemaError",
    "Source",
    "default_database_url",
    "flush",
    "identify",
    "init",
    "shutdown",
    "track",
]

log = logging.getLogger(__name__)

_default: AnalyticsClient | None = None

_warned_uninitialised_in: int | None = None
"""The process that has logged that `init()` was not called, since its last `init()`: once, not per
call, since a web app serving requests before `init()` flooded its log (every receipt still says it)."""

_shut_down = False
"""Whether `shutdown()` ended the default client: calls after it say so, not that `init()` was never
called, which sent someone reading the log looking for a missing `init()`."""

# Why there is no default client, as the one warning and every receipt say it.
_NOT_CALLED = "analytics.init() was not called"
_ENDED_BY_SHUTDOWN = "analytics.shutdown() ended the client"
_ENDED_BY_CLIENT = "client.shutdown() ended the default client"


def default_sqlite_url() -> str:
    """The database when `DATABASE_URL` is unset: `instance/event-catalog.db` under the directory the
    process runs in, for the library, the dashboard and every `event-catalog` command alike (in a
    checkout, where `make run` keeps its data)."""
    return f"sqlite:///{Path.cwd() / 'instance' / 'event-catalog.db'}"


def default_database_url() -> str:
    """`DATABASE_URL`, else `default_sqlite_url()`."""
    return os.environ.get("DATABASE_URL") or default_sqlite_url()


def _environment_settings() -> dict[str, Any]:
    """The library's settings from the environment, checked as the dashboard checks them.

    Raises:
        ConfigurationError: every variable whose value cannot be used, one line each.
    """
    read = EnvironmentReader(os.environ)
    read.take("APP_ENV", "APP_ENV", app_env)
    read.take("SEGMENT_HOST", "host", http_url)
    read.take("AUDIT_STRICT", "strict", parse_flag)
    take_audit_variables(read)
    _check_audit_keys(read)
    return read.check()


def _check_audit_keys(read: EnvironmentReader) -> None:
    """Refuse the public audit keys where the dashboard does, and say so where APP_ENV is unset.

    An application host may not set APP_ENV at all: there the keys are used, as in development, but
    not silently, since the host may well be in production.
    """
    if read.settings.get("APP_ENV") == "production":
        # A host writes the log the dashboard reads, verifies and searches: a key of its own would
        # key chains and masks nothing else matches, so it is told to copy the dashboard's.
        read.problems += production_secrets(read.settings, AUDIT_KEYS, shared="the dashboard")
    elif "APP_ENV" not in read.settings and not read.problems:
        for name in public_audit_keys(read.settings):
            log.warning(
                "%s is left at the public default key, which APP_ENV=production refuses (%s); "
                "set a secret of your own, or APP_ENV=development to accept it",
                name,
                AUDIT_KEYS[name],
            )


def _warn_unreplayable(client: AnalyticsClient, settings: dict[str, Any]) -> None:
    """Say at the start when replay could not re-send messages with personal data: every line about
    messages left behind (an exit without `shutdown()`, the endpoint down, a forked worker) says they
    are kept for `replay`, which refuses those stored masked only. Not under `APP_ENV=development`,
    as the public audit keys are not either: a laptop's messages are seldom replayed."""
    names = unreplayable_personal_data(client.store)
    if not names or not client.enabled or settings.get("APP_ENV") == "development":
        return
    log.warning(
        "AUDIT_ENCRYPTION_KEY is not set: personal data (%s) is stored masked only, so the messages "
        "holding it that are not delivered cannot be re-sent by `event-catalog replay`; set it (the same "
        "on every host and for replay) to keep them replayable",
        ", ".join(sorted(names)),
    )


_SET_BY_INIT = frozenset({"host", "store", "owns_engine"})
"""`AnalyticsClient` options that `init` fills itself: not options of its own."""

_DEFERRED = ("strict", "mask_personal_data")
"""Flags that may also be None: their environment variable decides (`AUDIT_STRICT`, …)."""


@functools.cache
def _init_options() -> frozenset[str]:
    """Every keyword `init` passes on: `AnalyticsClient`'s (with the Segment client's), and its own."""
    return (client_options() - _SET_BY_INIT) | {"mask_personal_data"}


def _record_version(store: AuditStore) -> None:
    """Record the catalog's version, refusing a database that refuses writes (`refuse_read_only`).

    Raises:
        AuditDatabaseError: the database refuses writes.
    """
    try:
        refuse_read_only(store.engine, CATALOG)
    except AuditDatabaseError:
        store.engine.dispose()  # no client is built on it: nothing else would close its connection
        raise


def init(
    write_key: str | None = None,
    *,
    host: str | None = None,
    database_url: str | None = None,
    **options: Any,
) -> AnalyticsClient:
    """Create the default client, checking the audit database first.

    Args:
        write_key: the Segment write key; falls back to `SEGMENT_WRITE_KEY`, then
            `SEGMENT_CLIENT_KEY` (the original package's name). Without one, messages are audited
            as `disabled` and not sent.
        host: the tracking API; falls back to `SEGMENT_HOST`, then Segment's own.
        database_url: the audit database; falls back to `default_database_url()`.
        **options: `AnalyticsClient` options (`source`, `raise_errors`, `strict`: default from
            `AUDIT_STRICT`, false) and Segment client settings; `mask_personal_data` (default
            from `AUDIT_MASK_PERSONAL_DATA`, true).
            The audit store also reads `AUDIT_MASK_KEY`, `AUDIT_CHAIN_KEY`,
            `AUDIT_CHAIN_KEYS_RETIRED` (former chain keys, only to verify) and
            `AUDIT_ENCRYPTION_KEY` from the environment. Left unset, the two keys are a public
            default: refused under `APP_ENV=production` as the dashboard refuses them, accepted
            under `APP_ENV=development`, and accepted with a warning each when `APP_ENV` is unset.

    Returns:
        The client, also installed as the module default (a previous default is shut down; one
        inherited from the process that forked this one is not flushed: its Segment queue is that
        process's, see `AnalyticsClient.forked`). The catalog's version is recorded in the database
        on the way (`analytics.versions`), and on PostgreSQL the audit log's partitions are created
        ahead (`analytics.partitions`, after `AUDIT_PARTITION_INTERVAL` and `AUDIT_PARTITIONS_AHEAD`);
        a failure there is a warning, unless the database refuses writes altogether. Without
        `AUDIT_ENCRYPTION_KEY`, a warning says that replay could not re-send messages with personal
        data (not under `APP_ENV=development`).

    Raises:
        AuditDatabaseError: the audit database cannot be reached (or refused the connection), or
            refuses writes (a read-only SQLite file, a PostgreSQL role granted only SELECT).
        SchemaError: the audit database is not migrated to this library's revision.
        ConfigurationError: a `ValueError` listing, one line each, every variable that cannot be
            used: `APP_ENV` neither development nor production, the audit keys left at the public
            default under `APP_ENV=production` (or a retired chain key guessable or still in use),
            `AUDIT_CHAIN_KEYS_RETIRED` not a list of keys, `SEGMENT_HOST` not an http(s) URL,
            `AUDIT_ENCRYPTION_KEY` not a valid key, `AUDIT_STRICT` or `AUDIT_MASK_PERSONAL_DATA`
            not a flag, `AUDIT_PARTITION_INTERVAL` / `AUDIT_PARTITIONS_AHEAD` not a valid value.
            They are checked even when an argument overrides them, as the dashboard checks every
            variable. Before them, and before anything is opened, the same for the options:
            `source` not one of `Source`, a flag (`strict`, `raise_errors`, `mask_personal_data`,
            `sync_mode`, …) not True or False, `thread` not a whole number of 1 or more, `on_error` not
            callable.
        TypeError: a keyword argument that is none of the options above, named with a close match.
        ValueError: the database URL is not SQLite or PostgreSQL, or `host` is not an http(s) URL.
    """
    global _default, _warned_uninitialised_in, _shut_down
    check_options(options, known=_init_options(), caller="init()", deferred=_DEFERRED)
    key = write_key or os.environ.get("SEGMENT_WRITE_KEY") or os.environ.get("SEGMENT_CLIENT_KEY") or None
    mask = options.pop("mask_personal_data", None)
    settings = _environment_settings()
    use_personal_keys(settings.get("AUDIT_PERSONAL_KEYS", ()))
    host = http_url(host) if host else settings.get("host")
    if options.get("strict") is None:
        options["strict"] = settings.get("strict", False)
    engine = create_audit_engine(database_url or default_database_url())
    store = audit_store(engine, settings, mask_personal_data=mask)
    try:
        store.check_schema()
    except SQLAlchemyError as exc:
        where = database_label(store.engine)
        raise AuditDatabaseError(f"the audit database {where} cannot be used: {reason(exc)}") from exc
    interval = settings.get("AUDIT_PARTITION_INTERVAL", Interval.MONTH)
    ensure_safely(
        store.engine, interval=interval, ahead=settings.get("AUDIT_PARTITIONS_AHEAD", DEFAULT_AHEAD)
    )
    _record_version(store)
    client = AnalyticsClient(key, store=store, host=host, owns_engine=True, **options)
    _warn_unreplayable(client, settings)
    previous, _default, _warned_uninitialised_in, _shut_down = _default, client, None, False
    if previous is not None:
        previous.shutdown()
    return client


def _not_initialised(
    call: Literal["track", "identify"], spec: TrackSpec | IdentifySpec, options: dict[str, Any]
) -> Receipt:
    """The receipt of a call without a default client; a call that is wrong in itself raises as it
    would after `init` (`check_spec`, `build_message`), so the mistake shows before `init` too."""
    global _warned_uninitialised_in
    check_spec(call, spec)
    if interrupting():  # a signal handler's call: the id pool's lock may be held (interrupting_calls)
        options["message_id"] = options["message_id"] or str(uuid.uuid4())
    with one_call():
        try:
            message = build_message(spec, **options)
        except MessageBuildError as unbuilt:  # not audited, not sent either way: the missing init() says more
            message = unbuilt.message
    why = _why_no_client()
    if _warned_uninitialised_in != os.getpid():
        _warned_uninitialised_in = os.getpid()
        log.warning(
            "%s: %s not audited, not sent, nor any later call until init() (logged once: each receipt "
            "carries a NotInitializedError)",
            why,
            message.get("event", "identify"),
        )
    error = NotInitializedError(
        "call analytics.init() first" if why == _NOT_CALLED else f"{why}: call analytics.init() first"
    )
    return Receipt(message["messageId"], None, message, error)


def _why_no_client() -> str:
    """Why there is no default client to send through, in the words of the call's log line."""
    if _shut_down:
        return _ENDED_BY_SHUTDOWN
    if _default is not None:
        return _ENDED_BY_CLIENT
    return _NOT_CALLED


def _live_default() -> AnalyticsClient | None:
    """The default client, unless it was shut down through its own `shutdown()` (`init()` returns it,
    so a host may keep it and call that at teardown): calls then go as after `analytics.shutdown()`,
    warned once, rather than each logging a WARNING that blamed `analytics.shutdown()`."""
    client = _default
    return client if client is not None and not client.shut_down else None


def track(
    spec: TrackSpec,
    *,
    timestamp: datetime | None = None,
    context: Mapping[str, Any] | None = None,
    message_id: str | None = None,
    test: bool = False,
    actor: str | None = None,
) -> Receipt:
    """Audit and send a track message through the default client; see `AnalyticsClient.track`."""
    client = _live_default()
    if client is not None:
        return client.track(
            spec, timestamp=timestamp, context=context, message_id=message_id, test=test, actor=actor
        )
    options = {"timestamp": timestamp, "context": context, "message_id": message_id, "test": test}
    return _not_initialised("track", spec, {**options, "actor": actor})


def identify(
    spec: IdentifySpec,
    *,
    timestamp: datetime | None = None,
    context: Mapping[str, Any] | None = None,
    message_id: str | None = None,
    test: bool = False,
    actor: str | None = None,
) -> Receipt:
    """Audit and send an identify message through the default client; see `AnalyticsClient.identify`."""
    client = _live_default()
    if client is not None:
        return client.identify(
            spec, timestamp=timestamp, context=context, message_id=message_id, test=test, actor=actor
        )
    options = {"timestamp": timestamp, "context": context, "message_id": message_id, "test": test}
    return _not_initialised("identify", spec, {**options, "actor": actor})


def flush(timeout: float | None = SHUTDOWN_TIMEOUT) -> None:
    """Wait for the default client's queues to drain.

    Gives up after `timeout` seconds without progress (None: never), saying what it left; see
    `AnalyticsClient.flush`. A `timeout` that cannot work is refused even without a client.
    """
    check_timeout(timeout, "flush()")
    if _default is not None:
        _default.flush(timeout)


def shutdown(timeout: float | None = SHUTDOWN_TIMEOUT) -> None:
    """Flush and stop the default client, close its audit database connections, and forget it.

    Gives up after `timeout` seconds without progress (None: never), saying what it left; see
    `AnalyticsClient.shutdown`. A `timeout` that cannot work is refused even without a client.
    """
    global _default, _shut_down
    check_timeout(timeout, "shutdown()")
    if _default is not None:
        _default.shutdown(timeout)
        _default, _shut_down = None, True
