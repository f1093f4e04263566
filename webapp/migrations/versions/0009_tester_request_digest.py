"""The fingerprint of what a tester send asked for, so a reused token with other values is refused.

A form or API token sends once; before this column a second request with the same token but other
values got the first send's result as if it were its own, and its message was never sent.
Existing sends keep no fingerprint (NULL): a reuse of their tokens is treated as a plain repeat.

Revision ID: 0009_tester_request_digest
Revises: 0008_event_counts
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_tester_request_digest"
down_revision = "0008_event_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tester_sends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tester_sends", schema=None) as batch_op:
        batch_op.drop_column("request_digest")
