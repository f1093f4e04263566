"""Index entries by the HTTP status of their latest outcome, and attempts by outcome and time.

"Which messages did the endpoint answer 500?" walked the time index and read every entry's row
without it, a page's cost growing with the entries between two matches. Partial (`http_status IS NOT
NULL`), so an entry costs nothing more to write until its outcome is recorded.

`attempts=failed` (entries recorded in the range that had a failed or dropped attempt in it) reads the failed
attempts of the range from `ix_delivery_attempts_outcome_attempted_at`, rather than every attempt,
nearly all of them deliveries.

On PostgreSQL both are built without blocking writes (`webapp.index_builds`): concurrently, and on
the partitioned log one partition at a time, each in its own transaction. A plain `CREATE INDEX`
held every write of both tables (application hosts' audit writes and delivery outcomes) until the
upgrade committed, about 1.4 s per million rows, where the library gives a lock up after 3 s. An
upgrade interrupted part-way left invalid or unattached indexes: run again, it drops an invalid one
and builds it again. SQLite keeps plain `CREATE INDEX`: a SQLite file takes one writer at a time whatever
the migration does, and the library's writers wait for it up to 30 s (`busy_timeout`).

Writers only gain an index to keep: libraries at 0011 to 0021 still write a database at this
revision, so `oldest_writer` stays where 0011 put it.

Revision ID: 0022_http_status_index
Revises: 0021_audit_erasures
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from webapp.index_builds import build_index

revision = "0022_http_status_index"
down_revision = "0021_audit_erasures"
branch_labels = None
depends_on = None

NAME = "ix_audit_entries_http_status_recorded_at"
ATTEMPTS = "ix_delivery_attempts_outcome_attempted_at"
WHERE = "http_status IS NOT NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            connection = op.get_bind()
            build_index(connection, NAME, "audit_entries", ["http_status", "recorded_at"], where=WHERE)
            build_index(connection, ATTEMPTS, "delivery_attempts", ["outcome", "attempted_at"])
        return
    op.create_index(
        NAME, "audit_entries", ["http_status", "recorded_at"], unique=False, sqlite_where=sa.text(WHERE)
    )
    op.create_index(ATTEMPTS, "delivery_attempts", ["outcome", "attempted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(ATTEMPTS, table_name="delivery_attempts")
    op.drop_index(NAME, table_name="audit_entries")
