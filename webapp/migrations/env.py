"""Alembic environment for the shared audit/dashboard models, run through Flask-Migrate."""

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import context
from alembic.util import CommandError
from flask import current_app
from sqlalchemy import Connection, text

from analytics.audit import sqlite_file
from analytics.partitions import include_name
from webapp.offline_migrations import OFFLINE_REFUSED

# Any fixed 64-bit number, the same in every process: "event-catalog migrations".
MIGRATION_LOCK_KEY = 0x6576_6361_7467_6D67
MIGRATION_LOCK_POLL = 0.2
"""Seconds between two tries for the migration lock on PostgreSQL."""

config = context.config
# Alembic's lines go through the app's root handler (webapp/logs.py), as JSON lines under
# LOG_FORMAT=json like every other line of the process: Alembic's usual fileConfig would replace
# that handler with its own plain text one.
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """Let one process migrate at a time: replicas run `db upgrade` at start, often together.

    PostgreSQL gets a session advisory lock; a SQLite file gets an exclusive lock on a file beside
    it. The others wait, then find nothing left to do.
    """
    database = connection.engine.url.database
    if connection.dialect.name == "postgresql":
        _take_advisory_lock(connection)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
    elif connection.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        with open(f"{database}.migrate-lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
    else:
        yield


def _take_advisory_lock(connection: Connection) -> None:
    """Take the migration lock, waiting for it between transactions rather than inside one.

    A waiting `pg_advisory_lock` call is a running statement, whose snapshot `CREATE INDEX
    CONCURRENTLY` (migration 0022) waits to see end, while the replica that builds the index holds
    the lock it waits for: PostgreSQL broke that deadlock by failing one of the two starts.
    """
    while not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}):
        connection.commit()
        time.sleep(MIGRATION_LOCK_POLL)
    connection.commit()


def run_migrations_offline() -> None:
    """Refuse to emit SQL without a database (`--sql`): the migrations read the rows they convert."""
    raise CommandError(OFFLINE_REFUSED)


def create_sqlite_file(path: Path) -> None:
    """Create the SQLite database `db upgrade` is about to migrate, and say so in a warning: the start
    script runs `db upgrade` first, so a mistyped DATABASE_URL became a new, empty audit log with no
    word in the log; on a first start the line is expected."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    logger.warning(
        "created a new SQLite database at %s: if an audit log should already be there, check DATABASE_URL",
        path,
    )


def run_migrations_online() -> None:
    """Apply the migrations over a connection; an autogenerate with no change writes no file."""

    def process_revision_directives(context, revision, directives):  # noqa: ARG001
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    # The audit log's partitions are made by `event-catalog audit partitions`, not by migrations.
    conf_args.setdefault("include_name", include_name)
    # Migrations are what create a SQLite database: any other connection refuses a missing file.
    database_file = sqlite_file(target_db.engine)
    if database_file is not None and not database_file.exists():
        create_sqlite_file(database_file)
    with target_db.engine.connect() as connection, migration_lock(connection):
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
