"""Build an index on a busy PostgreSQL table in a migration without holding its writers up.

A plain `CREATE INDEX` takes a SHARE lock, which every INSERT and UPDATE of the table waits behind
until the migration's transaction commits: about 1.4 s per million rows of the audit log and its
attempts, while the library's writers give a lock up after 3 s (`lock_timeout`) and a batch up after
its retries, unaudited and unsent. So, in its own transactions:
- a plain table gets `CREATE INDEX CONCURRENTLY` (SHARE UPDATE EXCLUSIVE: writes go on);
- a partitioned table, which PostgreSQL cannot index concurrently, gets an empty, invalid index
  `ON ONLY` the parent, then one built concurrently on each partition and attached to it; the
  parent's is valid once every partition's is attached. A partition created meanwhile
  (`analytics.partitions.create`) gets its own from its `ATTACH PARTITION`.
The two catalog-only statements (`ON ONLY`, `ALTER INDEX … ATTACH PARTITION`) still take, for a
moment, a lock writes conflict with; but first they wait for the writes in progress, and writes
that arrive meanwhile queue behind them. Each waits at most `BRIEF_WAIT` per try and tries again
after a pause, so a writer waits at most that long.

A step already done is skipped, and an invalid index (what an interrupted concurrent build leaves)
is dropped and built again: `db upgrade` run again after a failure finishes the work. Concurrent
builds cannot run in a transaction: migrations call `build_index` inside
`op.get_context().autocommit_block()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

BRIEF_WAIT = "100ms"
"""The longest a catalog-only statement of a build holds up writes (its `lock_timeout` per try)."""

PAUSE = 0.5
"""Seconds between two tries of a catalog-only statement, in which the writers it held up get through."""

_LOCK_NOT_AVAILABLE = "55P03"
_MAX_NAME = 63
"""PostgreSQL's longest identifier: a longer partition index name would be cut, then not found."""


def build_index(
    connection: Connection, name: str, table: str, columns: Sequence[str], where: str | None = None
) -> None:
    """Build the index `name` on `table` (PostgreSQL, autocommit) without blocking its writes.

    Args:
        connection: a PostgreSQL connection in autocommit mode.
        name: the index's name (the parent's, on a partitioned table).
        table: the table.
        columns: the indexed columns, in order.
        where: a partial index's condition, as SQL.
    """
    definition = f"({', '.join(columns)})" + (f" WHERE {where}" if where else "")
    if not _is_partitioned(connection, table):
        _build_concurrently(connection, name, table, definition)
        return
    _briefly(connection, f'CREATE INDEX IF NOT EXISTS "{name}" ON ONLY "{table}" {definition}')
    for partition in _unindexed_partitions(connection, name, table):
        child = partition_index_name(partition, columns)
        _build_concurrently(connection, child, partition, definition)
        _briefly(connection, f'ALTER INDEX "{name}" ATTACH PARTITION "{child}"')


def partition_index_name(partition: str, columns: Sequence[str]) -> str:
    """The name PostgreSQL gives a partition's copy of a parent's index: `<partition>_<columns>_idx`."""
    name = f"{partition}_{'_'.join(columns)}_idx"
    if len(name) > _MAX_NAME:
        raise ValueError(f"{name!r} is longer than PostgreSQL's {_MAX_NAME} characters")
    return name


def _is_partitioned(connection: Connection, table: str) -> bool:
    kind = connection.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table})
    return bool(kind == "p")


def _unindexed_partitions(connection: Connection, name: str, table: str) -> list[str]:
    """The partitions of `table` with no index attached to `name` yet, by name."""
    rows = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:table) AND NOT EXISTS ("
            "SELECT 1 FROM pg_inherits attached JOIN pg_index x ON x.indexrelid = attached.inhrelid "
            "WHERE attached.inhparent = to_regclass(:index) AND x.indrelid = c.oid) ORDER BY c.relname"
        ),
        {"table": table, "index": name},
    )
    return list(rows)


def _build_concurrently(connection: Connection, name: str, table: str, definition: str) -> None:
    """Build `name` concurrently unless a valid one exists; an invalid one is dropped first."""
    valid = connection.scalar(
        text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}
    )
    if valid is False:
        log.info("dropping the invalid index %s, left by an interrupted build, to build it again", name)
        connection.execute(text(f'DROP INDEX CONCURRENTLY "{name}"'))
    if valid is not True:
        log.info("building index %s on %s concurrently", name, table)
        connection.execute(text(f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" {definition}'))


def _briefly(connection: Connection, statement: str) -> None:
    """Run a catalog-only statement whose lock writes conflict with, holding writers up at most
    `BRIEF_WAIT` at a time: while it waits for a write in progress, new writes queue behind it."""
    connection.execute(text(f"SET lock_timeout = '{BRIEF_WAIT}'"))
    try:
        while not _tried(connection, statement):
            time.sleep(PAUSE)
    finally:
        connection.execute(text("RESET lock_timeout"))


def _tried(connection: Connection, statement: str) -> bool:
    """Whether the statement ran; False when it gave up waiting for its lock."""
    try:
        connection.execute(text(statement))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        log.info("waiting for writes in progress to finish: %s", statement)
        return False
    return True
