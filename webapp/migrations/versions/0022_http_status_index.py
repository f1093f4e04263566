"""Index entries by the HTTP status of their latest outcome, and attempts by outcome and time.

"Which messages did the endpoint answer 500?" walked the time index and read every entry's row
without it, a page's cost growing with the entries between two matches. Partial (`http_status IS NOT
NULL`), so an entry costs nothing more to write until its outcome is recorded.

`attempts=failed` (entries that had a failed or dropped attempt in the range) reads the failed
attempts of the range from `ix_delivery_attempts_outcome_attempted_at`, rather than every attempt,
nearly all of them deliveries.

Writers only gain an index to keep: libraries at 0011 to 0021 still write a database at this
revision, so `oldest_writer` stays where 0011 put it.

Revision ID: 0022_http_status_index
Revises: 0021_audit_erasures
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_http_status_index"
down_revision = "0021_audit_erasures"
branch_labels = None
depends_on = None

NAME = "ix_audit_entries_http_status_recorded_at"
ATTEMPTS = "ix_delivery_attempts_outcome_attempted_at"


def upgrade() -> None:
    op.create_index(
        NAME,
        "audit_entries",
        ["http_status", "recorded_at"],
        unique=False,
        sqlite_where=sa.text("http_status IS NOT NULL"),
        postgresql_where=sa.text("http_status IS NOT NULL"),
    )
    op.create_index(ATTEMPTS, "delivery_attempts", ["outcome", "attempted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(ATTEMPTS, table_name="delivery_attempts")
    op.drop_index(NAME, table_name="audit_entries")
