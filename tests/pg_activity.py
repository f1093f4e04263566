"""What the sessions of a test's PostgreSQL database are doing, for tests that stage lock waits."""

from __future__ import annotations

from sqlalchemy import Engine, text

_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


def someone_waits_for_a_lock(engine: Engine) -> bool:
    """Whether a session of the engine's database waits for a lock now.

    Each call reads in a transaction of its own: PostgreSQL answers `pg_stat_activity` from a snapshot
    taken at its first read in a transaction, so polling in one transaction never saw a wait that
    began after the first poll (the replay's claim test then timed out now and then).
    """
    with engine.connect() as connection:
        return bool(connection.scalar(text(_WAITING)))
