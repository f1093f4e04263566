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


def upgrade() -> None:
    # Bytewise on PostgreSQL whatever the database's collation (a name's keys are the range
    # `name` to `name;`); no rewrite, and no index on the column yet to rebuild.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_entries",
            "destination",
            type_=sa.String(length=64, collation="C"),
            existing_type=sa.String(length=64),
            existing_nullable=True,
        )
    op.create_index(
        "ix_audit_entries_destination_recorded_at",
        "audit_entries",
        ["destination", "recorded_at"],
        unique=False,
        sqlite_where=sa.text("destination IS NOT NULL"),
        postgresql_where=sa.text("destination IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_entries_destination_recorded_at", table_name="audit_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_entries",
            "destination",
            type_=sa.String(length=64),
            existing_type=sa.String(length=64, collation="C"),
            existing_nullable=True,
        )
