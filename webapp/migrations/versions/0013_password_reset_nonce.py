"""A password reset nonce per account, so a new reset link (or disabling the account) voids the old ones.

Reset links are signed, not stored; each carries the account's nonce at the time, and one that no
longer matches is refused. The library never reads or writes `users`, so libraries at 0009 to 0012
still write a database at this revision: `oldest_writer` stays where 0011 put it.

Revision ID: 0013_password_reset_nonce
Revises: 0012_api_tokens
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_password_reset_nonce"
down_revision = "0012_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("reset_nonce", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("reset_nonce")
