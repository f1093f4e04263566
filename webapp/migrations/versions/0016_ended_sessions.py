"""Sessions signed out before they expired, so that a copy of a signed-out session cookie is refused.

The library never reads or writes this table, so libraries at 0009 to 0015 still write a database
at this revision: `oldest_writer` stays where 0011 put it. Sessions signed in before this revision
carry no id, and end at their next request: everyone signs in once more after the upgrade.

Revision ID: 0016_ended_sessions
Revises: 0015_identify_spec_index
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_ended_sessions"
down_revision = "0015_identify_spec_index"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the record of signed-out sessions (ended_sessions)"


def upgrade() -> None:
    op.create_table(
        "ended_sessions",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_ended_sessions")),
    )
    op.create_index(op.f("ix_ended_sessions_expires_at"), "ended_sessions", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("ended_sessions")
