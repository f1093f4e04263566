"""PostgreSQL sessions in UTC, whatever the server, the database or the environment says.

Every time column is `timestamp with time zone`: psycopg hands such a value back in the session's
time zone. A database created on a host in Tokyo (`initdb` writes the host's zone), one set by
`ALTER DATABASE … SET timezone`, a managed server configured for the office, or `PGTZ` in the
environment would make every page and command that formats a value print that zone's wall clock
under a "UTC" label, and the SQL that groups by day or hour cut days at that zone's midnight. The
display helpers convert to UTC too (`analytics.durations.as_utc`); this keeps the values right at
the source, for code that forgets.
"""

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

UTC_ZONE_NAMES = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT"}
)
"""Names the server reports (`TimeZone` parameter) for a session already in UTC; any other name
costs one `SET` per new connection, so an alias missing here is slower, never wrong."""


def pin_utc_sessions(engine: Engine) -> None:
    """Put every new connection `engine` opens to PostgreSQL in UTC; other databases are left alone.

    A `connect` event, not `options=-c timezone=UTC` in the startup packet: libpq sends `PGTZ` as its
    own startup parameter, which the server applies after `options`, so `PGTZ` would win.
    """
    if engine.dialect.name == "postgresql" and not event.contains(engine, "connect", _set_utc):
        event.listen(engine, "connect", _set_utc)


def _set_utc(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The server reports its TimeZone when the session starts: no round trip when it is UTC already.
    if dbapi_connection.info.parameter_status("TimeZone") in UTC_ZONE_NAMES:
        return
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    # Committed, so the setting is the session's and no transaction is left open on a fresh connection.
    dbapi_connection.commit()
