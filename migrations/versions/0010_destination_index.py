"""Index tester sends by destination, so the audit search can narrow to one destination.

The health page's links to a destination's messages and failures need it to stay one index range
at any size of the log. Partial: the application's own entries have no destination, so writing
them costs nothing more.

Revision ID: 0010_destination_index
Revises: 0009_tester_request_digest
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_destination_index"
down_revision = "0009_tester_request_digest"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_audit_entries_destination_recorded_at",
        "audit_entries",
        ["destination", "recorded_at"],
        unique=False,
        sqlite_where=sa.text("destination IS NOT NULL"),
        postgresql_where=sa.text("destination IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_audit_entries_destination_recorded_at", table_name="audit_entries")
