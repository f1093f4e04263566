"""The event list reads its hourly and daily counts from an index alone.

The list adds up every event's count rows since a moment: one range of `start` in each count table.
The primary key leads with `start` too, but on SQLite it holds no `messages`, so each of the ~2,500
rows a week's window reads was a lookup into the table: a covering index (`start`, `source`,
`event`, `messages`) made the list's counts ~3x faster at a million entries. PostgreSQL gets the
same index (one schema for both); it serves the same range there.

Writers only gain an index to keep: libraries at 0009 to 0013 still write a database at this
revision, so `oldest_writer` stays where 0011 put it.

Revision ID: 0014_event_count_reads
Revises: 0013_password_reset_nonce
Create Date: 2026-12-05
"""

from alembic import op

revision = "0014_event_count_reads"
down_revision = "0013_password_reset_nonce"
branch_labels = None
depends_on = None

TABLES = ("audit_event_hours", "audit_event_days")
COLUMNS = ["start", "source", "event", "messages"]


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_start_source_event_messages", table, COLUMNS, unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_start_source_event_messages", table_name=table)
