"""Index application traffic per event: the catalog's last-seen and counts skip tester sends.

Revision ID: 0004_traffic_index
Revises: 0003_tester
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004_traffic_index"
down_revision = "0003_tester"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_entries_event_source_recorded_at", ["event", "source", "recorded_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_event_source_recorded_at")
