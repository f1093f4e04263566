"""Index the daily counts by event, so that asking whether the log holds an event is one probe.

The audit search checks that an event outside today's catalog is one the log holds (`_logged_event`
in `webapp.audit.event_names`) by looking for one of its rows in `audit_event_days`. That table's
key leads with `start`, so the look-up read the table's rows until it met the event, or all of them
for an event that has none: the live tail of such a search did it at every poll (every 2 s of every
open tail). `ix_audit_event_days_event` answers it from the index, and the Event filter's list of the
log's events outside the catalog reads its names from it in order.

Built as 0022's are (`webapp.index_builds`: concurrently on PostgreSQL, where the entries' triggers
write the table at every batch; a plain `CREATE INDEX` on SQLite). Writers only gain an index to keep,
so `oldest_writer` stays where 0011 put it.

Revision ID: 0024_event_days_event_index
Revises: 0023_replay_attempts_index
Create Date: 2026-12-07
"""

from alembic import op

from webapp.index_builds import build_index

revision = "0024_event_days_event_index"
down_revision = "0023_replay_attempts_index"
branch_labels = None
depends_on = None

NAME = "ix_audit_event_days_event"
TABLE = "audit_event_days"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            build_index(op.get_bind(), NAME, TABLE, ["event"])
        return
    op.create_index(NAME, TABLE, ["event"], unique=False)


def downgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
