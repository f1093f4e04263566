"""An optional expiry per API token, so a token forgotten in a CI job stops working by itself.

Tokens made before this revision get none (`expires_at` NULL) and work until revoked, as they did.
The library never reads or writes `api_tokens`, so libraries at 0009 to 0016 still write a database
at this revision: `oldest_writer` stays where 0011 put it.

Revision ID: 0017_api_token_expiry
Revises: 0016_ended_sessions
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_api_token_expiry"
down_revision = "0016_ended_sessions"
branch_labels = None
depends_on = None
# What downgrade() deletes for good: `event-catalog db downgrade` asks for --yes first.
downgrade_drops = "the expiry of every API token (api_tokens.expires_at: each then works until revoked)"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
