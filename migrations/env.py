"""Alembic environment for the shared audit/dashboard models, run through Flask-Migrate."""

import contextlib
import fcntl
import logging
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from flask import current_app
from sqlalchemy import text

# Any fixed 64-bit number, the same in every process: "event-catalog migrations".
MIGRATION_LOCK_KEY = 0x6576_6361_7467_6D67

config = context.config
# Keep loggers configured before migrations ran (the library's, the app's): Alembic's default
# would silence every existing logger in a long-running process.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline() -> None:
    """Emit SQL for the migrations without a database connection (`db upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_db.metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


@contextlib.contextmanager
def sqlite_file_lock(database: str | None):
    """Serialise `db upgrade` runs on one SQLite file, as the advisory lock does on PostgreSQL.

    SQLite's DDL is not transactional under Alembic, so two processes upgrading at once (`make
    run` and a test, two workers) could both create the same table.
    """
    if not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_name(Path(database).name + ".migrate-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_migrations_online() -> None:
    """Apply the migrations over a connection; an autogenerate with no change writes no file."""

    def process_revision_directives(context, revision, directives):  # noqa: ARG001
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    url = target_db.engine.url
    sqlite_lock = (
        sqlite_file_lock(url.database) if url.get_backend_name() == "sqlite" else contextlib.nullcontext()
    )
    with sqlite_lock, target_db.engine.connect() as connection:
        # Several replicas run `db upgrade` at start: on PostgreSQL the first takes this lock and
        # migrates, the others wait for it and then find nothing left to do.
        locking = connection.dialect.name == "postgresql"
        if locking:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if locking:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
