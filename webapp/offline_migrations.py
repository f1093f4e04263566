"""Why no migration runs offline, said in one sentence by the `db` commands and by the Alembic
environment: a leaf module, so that every Alembic run (`migrations/env.py`) does not import the
command line with it."""

OFFLINE_REFUSED = (
    "offline mode (--sql) is not supported: migrations 0006 and 0007 read the rows they convert (they "
    "chain and partition the audit log); review webapp/migrations/versions/, or upgrade a copy of the "
    "database"
)
"""Why no migration runs without a database: said by the `db` commands, and by `env.py` to a caller of
Flask-Migrate's Python API, where the offline run ended in a traceback inside migration 0006."""
