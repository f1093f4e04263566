"""Entry counts per event and source, by UTC hour and day, kept by triggers: flat 7-day counts.

Counting a week of entries per event grows with the log (a million entries hold ~230k in a week);
adding up a week of daily rows, plus the hours of the first part-day, does not. The triggers run
inside the writer's transaction, so the counts are exactly what the log holds, whoever writes: the
library, the dashboard, a retention purge, a bulk load, an update that moves an entry (to another
time, event or source; on PostgreSQL a move to another partition is a delete and an insert). The
counts of the entries already in the log are filled in after the triggers exist, in the same
transaction (on PostgreSQL, creating a trigger waits for the writers in progress and holds new ones
back until the migration commits).

Each count is kept per writer (`writer_id`, the entry's hash chain): a writer records in one
transaction at a time, so two transactions never update the same count row, never wait on each
other's commit and can never deadlock, whatever the order of the events in their batches. The
event list adds up the writers' rows.

Revision ID: 0008_event_counts
Revises: 0007_audit_partitions
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_event_counts"
down_revision = "0007_audit_partitions"
branch_labels = None
depends_on = None

# The start of an entry's UTC hour and day, as each database keeps times: SQLAlchemy writes SQLite
# times as UTC text `YYYY-MM-DD HH:MM:SS.ffffff`; PostgreSQL's date_trunc alone would use the
# session's time zone.
SQLITE_START = {
    "hour": "substr({0}.recorded_at, 1, 13) || ':00:00.000000'",
    "day": "substr({0}.recorded_at, 1, 10) || ' 00:00:00.000000'",
}
POSTGRESQL_START = {
    "hour": "(date_trunc('hour', {0}.recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    "day": "(date_trunc('day', {0}.recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
}
TABLES = {"hour": "audit_event_hours", "day": "audit_event_days"}
TRIGGERS = ("audit_entries_count_added", "audit_entries_count_removed", "audit_entries_count_moved")


def _key(starts, span, row):
    return (
        f"start = {starts[span].format(row)} AND event = {row}.event AND source = {row}.source "
        f"AND writer_id = {row}.writer_id"
    )


def _postgresql_grouped(span, rows, where="TRUE"):
    """Counts per key of a transition table: one row per (start, event, source, writer)."""
    start = POSTGRESQL_START[span].format(rows)
    return (
        f"SELECT {start} AS start, {rows}.event, {rows}.source, {rows}.writer_id, count(*) AS messages "
        f"FROM {rows} WHERE {rows}.event IS NOT NULL AND {where} GROUP BY 1, 2, 3, 4"
    )


def _postgresql_add(span, rows, where="TRUE"):
    return f"""
    INSERT INTO {TABLES[span]} AS counts (start, event, source, writer_id, messages)
    {_postgresql_grouped(span, rows, where)}
    ON CONFLICT (start, event, source, writer_id) DO UPDATE SET messages = counts.messages + EXCLUDED.messages;
    """


def _postgresql_remove(span, rows, where="TRUE"):
    same_key = (
        "counts.start = gone.start AND counts.event = gone.event AND counts.source = gone.source "
        "AND counts.writer_id = gone.writer_id"
    )
    return f"""
    UPDATE {TABLES[span]} AS counts SET messages = counts.messages - gone.messages
    FROM ({_postgresql_grouped(span, rows, where)}) AS gone WHERE {same_key};
    DELETE FROM {TABLES[span]} AS counts USING ({_postgresql_grouped(span, rows, where)}) AS gone
    WHERE {same_key} AND counts.messages = 0;
    """


# Statement triggers over transition tables: a statement adds one to each count it touches once,
# however many rows it writes. Row triggers updated the same count row once per entry, and inside
# one transaction each update leaves a row version that the next one walks past: a bulk load of
# 100k entries of one event took minutes. An UPDATE that moves a row to another partition (a
# delete and an insert underneath) still shows it in the UPDATE's transition tables; a statement
# run directly on a partition fires none of these, which only partition maintenance does, and it
# recounts the range it changed (`analytics.event_counts`). Transition tables rule out a column
# list on the UPDATE trigger, so it compares each row's old and new key itself. SQLite has row
# triggers only, and there an update rewrites the count row in place: the thousandth costs as the first.
MOVED = (
    "moved_from.id = moved_to.id AND (moved_from.recorded_at, moved_from.event, moved_from.source, "
    "moved_from.writer_id) IS DISTINCT FROM (moved_to.recorded_at, moved_to.event, moved_to.source, "
    "moved_to.writer_id)"
)

POSTGRESQL_TRIGGERS = f"""
CREATE FUNCTION audit_event_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_postgresql_add("hour", "added")}
    {_postgresql_add("day", "added")}
    RETURN NULL;
END $$;

CREATE FUNCTION audit_event_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_postgresql_remove("hour", "removed")}
    {_postgresql_remove("day", "removed")}
    RETURN NULL;
END $$;

CREATE FUNCTION audit_event_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM moved_from, moved_to WHERE {MOVED}) THEN
        RETURN NULL;
    END IF;
    {_postgresql_remove("hour", "moved_from", f"EXISTS (SELECT FROM moved_to WHERE {MOVED})")}
    {_postgresql_remove("day", "moved_from", f"EXISTS (SELECT FROM moved_to WHERE {MOVED})")}
    {_postgresql_add("hour", "moved_to", f"EXISTS (SELECT FROM moved_from WHERE {MOVED})")}
    {_postgresql_add("day", "moved_to", f"EXISTS (SELECT FROM moved_from WHERE {MOVED})")}
    RETURN NULL;
END $$;

CREATE TRIGGER audit_entries_count_added AFTER INSERT ON audit_entries
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION audit_event_counts_add();

CREATE TRIGGER audit_entries_count_removed AFTER DELETE ON audit_entries
REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION audit_event_counts_remove();

CREATE TRIGGER audit_entries_count_moved AFTER UPDATE ON audit_entries
REFERENCING OLD TABLE AS moved_from NEW TABLE AS moved_to
FOR EACH STATEMENT EXECUTE FUNCTION audit_event_counts_move();
"""


def _sqlite_add(span):
    # INSERT … SELECT … WHERE rather than VALUES: an entry without an event adds nothing.
    return f"""
        INSERT INTO {TABLES[span]} (start, event, source, writer_id, messages)
        SELECT {SQLITE_START[span].format("NEW")}, NEW.event, NEW.source, NEW.writer_id, 1
        WHERE NEW.event IS NOT NULL
        ON CONFLICT (start, event, source, writer_id) DO UPDATE SET messages = messages + 1;
    """


def _sqlite_remove(span):
    key = _key(SQLITE_START, span, "OLD")
    return f"""
        UPDATE {TABLES[span]} SET messages = messages - 1 WHERE {key};
        DELETE FROM {TABLES[span]} WHERE {key} AND messages = 0;
    """


SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_entries_count_added AFTER INSERT ON audit_entries
    FOR EACH ROW WHEN NEW.event IS NOT NULL
    BEGIN {_sqlite_add("hour")} {_sqlite_add("day")} END
    """,
    f"""
    CREATE TRIGGER audit_entries_count_removed AFTER DELETE ON audit_entries
    FOR EACH ROW WHEN OLD.event IS NOT NULL
    BEGIN {_sqlite_remove("hour")} {_sqlite_remove("day")} END
    """,
    f"""
    CREATE TRIGGER audit_entries_count_moved
    AFTER UPDATE OF recorded_at, event, source, writer_id ON audit_entries FOR EACH ROW
    WHEN OLD.recorded_at IS NOT NEW.recorded_at OR OLD.event IS NOT NEW.event
        OR OLD.source IS NOT NEW.source OR OLD.writer_id IS NOT NEW.writer_id
    BEGIN {_sqlite_remove("hour")} {_sqlite_remove("day")} {_sqlite_add("hour")} {_sqlite_add("day")} END
    """,
]


def upgrade() -> None:
    for table in TABLES.values():
        op.create_table(
            table,
            sa.Column("start", sa.DateTime(timezone=True), nullable=False),
            sa.Column("event", sa.String(length=255), nullable=False),
            sa.Column("source", sa.String(length=16), nullable=False),
            sa.Column("writer_id", sa.String(length=64), nullable=False),
            sa.Column("messages", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("start", "event", "source", "writer_id", name=op.f(f"pk_{table}")),
        )
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(POSTGRESQL_TRIGGERS)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    for span, table in TABLES.items():
        start = (POSTGRESQL_START if postgresql else SQLITE_START)[span].format("audit_entries")
        op.execute(
            f"INSERT INTO {table} (start, event, source, writer_id, messages) "
            f"SELECT {start}, event, source, writer_id, count(*) FROM audit_entries "
            "WHERE event IS NOT NULL GROUP BY 1, 2, 3, 4"
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON audit_entries" if postgresql else f"DROP TRIGGER {trigger}")
    if postgresql:
        for function in ("audit_event_counts_add", "audit_event_counts_remove", "audit_event_counts_move"):
            op.execute(f"DROP FUNCTION {function}()")
    for table in TABLES.values():
        op.drop_table(table)
