"""Record the oldest library revision that writes this database, so hosts and database upgrade in any order.

Until now a library refused a database at any revision but its own: the dashboard's upgrade (which
migrates at start) made every application host refuse to start until it was upgraded too, even for
a migration that only added an index. From this revision on, a library accepts a later database
whose `oldest_writer` is its own revision or older (`analytics.audit.WriterCompatibility`).
Libraries at 0009 and 0010 write these tables exactly as 0011 does.

Revision ID: 0011_writer_compatibility
Revises: 0010_destination_index
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_writer_compatibility"
down_revision = "0010_destination_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "audit_writer_compatibility",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("oldest_writer", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_writer_compatibility")),
    )
    op.bulk_insert(table, [{"id": 1, "oldest_writer": "0009_tester_request_digest"}])


def downgrade() -> None:
    op.drop_table("audit_writer_compatibility")
