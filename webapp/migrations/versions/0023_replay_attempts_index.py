"""Index the attempts a replay made, by time.

`attempts=replayed` (entries recorded in the range that a replay re-sent in it) reads the replays'
attempts of the range from `ix_delivery_attempts_replay_attempted_at`. Partial (`source = 'replay'`):
the application's own attempts, nearly all of the table, are not in it and cost nothing more to write.
`ix_delivery_attempts_outcome_attempted_at` could not serve: a replay's attempt has every outcome, so
it would read every attempt of the range.

Built as 0022's are (`webapp.index_builds`: concurrently on PostgreSQL, one partition at a time on the
partitioned log; a plain `CREATE INDEX` on SQLite). Writers only gain an index to keep, so
`oldest_writer` stays where 0011 put it.

Revision ID: 0023_replay_attempts_index
Revises: 0022_http_status_index
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from webapp.index_builds import build_index

revision = "0023_replay_attempts_index"
down_revision = "0022_http_status_index"
branch_labels = None
depends_on = None

NAME = "ix_delivery_attempts_replay_attempted_at"
WHERE = "source = 'replay'"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            build_index(op.get_bind(), NAME, "delivery_attempts", ["attempted_at"], where=WHERE)
        return
    op.create_index(NAME, "delivery_attempts", ["attempted_at"], unique=False, sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index(NAME, table_name="delivery_attempts")
